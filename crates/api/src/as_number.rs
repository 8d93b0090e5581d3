//! BGP AS numbers: accepted as an integer (`65000`) or in asdot notation (`"1.10"`, meaning
//! 1<<16 + 10) and always written back as an integer.

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A 32-bit AS number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct AsNumber(pub u32);

impl AsNumber {
    /// Parses a decimal number or asdot `high.low` (each part 0..65535).
    pub fn parse(s: &str) -> Result<AsNumber, String> {
        let bad = || {
            format!("AS number \"{s}\" is not an integer in 0..4294967295 or asdot \"high.low\"")
        };
        if let Some((hi, lo)) = s.split_once('.') {
            let hi: u16 = hi.parse().map_err(|_| bad())?;
            let lo: u16 = lo.parse().map_err(|_| bad())?;
            return Ok(AsNumber((u32::from(hi) << 16) | u32::from(lo)));
        }
        s.parse::<u32>().map(AsNumber).map_err(|_| bad())
    }
}

impl fmt::Display for AsNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Serialize for AsNumber {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(self.0)
    }
}

impl<'de> Deserialize<'de> for AsNumber {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<AsNumber, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = AsNumber;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an AS number (integer or asdot string)")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<AsNumber, E> {
                u32::try_from(v)
                    .map(AsNumber)
                    .map_err(|_| E::custom(format!("AS number {v} is larger than 4294967295")))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<AsNumber, E> {
                u32::try_from(v)
                    .map(AsNumber)
                    .map_err(|_| E::custom(format!("AS number {v} is not in 0..4294967295")))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<AsNumber, E> {
                // An unquoted `1.10` reads as the float 1.1, losing the low half; refuse it.
                Err(E::custom(format!(
                    "AS number {v} looks like an unquoted asdot value; quote it, e.g. \"1.10\""
                )))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<AsNumber, E> {
                AsNumber::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn integer_and_asdot() {
        let a: AsNumber = serde_json::from_value(json!(64512)).unwrap();
        assert_eq!(a, AsNumber(64512));
        let d: AsNumber = serde_json::from_value(json!("1.10")).unwrap();
        assert_eq!(d, AsNumber(65546));
        assert_eq!(serde_json::to_value(d).unwrap(), json!(65546));
        let s: AsNumber = serde_json::from_value(json!("4294967295")).unwrap();
        assert_eq!(s, AsNumber(u32::MAX));
        assert!(serde_json::from_value::<AsNumber>(json!(4294967296u64)).is_err());
        assert!(serde_json::from_value::<AsNumber>(json!("70000.1")).is_err());
        assert!(serde_json::from_value::<AsNumber>(json!("x")).is_err());
    }
}
