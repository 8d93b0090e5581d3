//! Serialisation of policy and tier `order` values the way Go prints a float64 in JSON:
//! whole numbers without a fraction (`100`, not `100.0`), others as they are.

use serde::Serializer;

/// Largest integer a float64 holds exactly (2^53).
const EXACT_INT_LIMIT: f64 = 9_007_199_254_740_992.0;

/// `serialize_with` for `Option<f64>` order fields (used with `skip_serializing_if = "Option::is_none"`).
pub(crate) fn serialize<S: Serializer>(order: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match *order {
        Some(v) if v.fract() == 0.0 && v.abs() < EXACT_INT_LIMIT => s.serialize_i64(v as i64),
        Some(v) => s.serialize_f64(v),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    #[derive(serde::Serialize)]
    struct Holder {
        #[serde(serialize_with = "super::serialize")]
        order: Option<f64>,
    }

    fn json(order: Option<f64>) -> String {
        serde_json::to_string(&Holder { order }).unwrap()
    }

    #[test]
    fn whole_numbers_print_without_fraction() {
        assert_eq!(json(Some(100.0)), r#"{"order":100}"#);
        assert_eq!(json(Some(-3.0)), r#"{"order":-3}"#);
        assert_eq!(json(Some(1e6)), r#"{"order":1000000}"#);
    }

    #[test]
    fn fractions_and_huge_values_stay_floats() {
        assert_eq!(json(Some(10.5)), r#"{"order":10.5}"#);
        assert_eq!(json(Some(1e300)), r#"{"order":1e+300}"#);
        assert_eq!(json(None), r#"{"order":null}"#);
    }
}
