//! CNI spec versions: which ones we speak, how they compare, and the VERSION answer.

use serde_json::{json, Value};

use crate::error::{Error, Result};

/// Versions whose results we can produce (Calico's list, plus 1.1.0 for STATUS and GC).
pub const SUPPORTED: [&str; 7] = [
    "0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0",
];

/// The newest version we speak; VERSION answers in it.
pub const CURRENT: &str = "1.1.0";

/// The shape a result takes on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResultShape {
    /// 0.1.0 / 0.2.0: `ip4` / `ip6` objects.
    Legacy,
    /// 0.3.0 / 0.3.1 / 0.4.0: `interfaces` and `ips` with a `version` field.
    V03,
    /// 1.0.0: like 0.4.0 without `version`.
    V1,
}

/// A parsed spec version.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct SpecVersion(u32, u32, u32);

impl SpecVersion {
    /// Parses `a.b.c`; an empty string means 0.2.0, as in Calico and libcni.
    pub fn parse(text: &str) -> Result<Self> {
        if text.is_empty() {
            return Ok(SpecVersion(0, 2, 0));
        }
        let parts: Vec<u32> = text
            .split('.')
            .map(str::parse)
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| Error::IncompatibleVersion(format!("invalid CNI version {text:?}")))?;
        match parts[..] {
            [a, b, c] => Ok(SpecVersion(a, b, c)),
            _ => Err(Error::IncompatibleVersion(format!(
                "invalid CNI version {text:?}"
            ))),
        }
    }

    /// Checks we can answer in this version.
    pub fn require_supported(text: &str) -> Result<Self> {
        let v = Self::parse(text)?;
        if SUPPORTED
            .iter()
            .any(|s| Self::parse(s).ok().as_ref() == Some(&v))
        {
            Ok(v)
        } else {
            Err(Error::IncompatibleVersion(format!(
                "unsupported CNI version {text}; this plugin supports {}",
                SUPPORTED.join(", ")
            )))
        }
    }

    /// How results are written in this version.
    pub fn result_shape(&self) -> ResultShape {
        match self {
            SpecVersion(0, 1 | 2, _) => ResultShape::Legacy,
            SpecVersion(0, _, _) => ResultShape::V03,
            _ => ResultShape::V1,
        }
    }

    /// Whether CHECK exists in this version (0.4.0 and later).
    pub fn has_check(&self) -> bool {
        *self >= SpecVersion(0, 4, 0)
    }

    /// Whether STATUS and GC exist in this version (1.1.0 and later).
    pub fn has_status_and_gc(&self) -> bool {
        *self >= SpecVersion(1, 1, 0)
    }
}

impl std::fmt::Display for SpecVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

/// The answer to VERSION.
pub fn version_info() -> Value {
    json!({ "cniVersion": CURRENT, "supportedVersions": SUPPORTED })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_orders() {
        assert_eq!(SpecVersion::parse("").unwrap(), SpecVersion(0, 2, 0));
        assert!(SpecVersion::parse("0.4.0").unwrap() > SpecVersion::parse("0.3.1").unwrap());
        assert!(SpecVersion::parse("1.0").is_err());
        assert!(SpecVersion::parse("x.y.z").is_err());
    }

    #[test]
    fn newer_than_supported_is_refused_with_code_1() {
        let e = SpecVersion::require_supported("1.2.0").unwrap_err();
        assert_eq!(e.code(), 1);
        assert!(e.to_string().contains("unsupported CNI version 1.2.0"));
        assert!(SpecVersion::require_supported("0.3.1").is_ok());
    }

    #[test]
    fn shapes_by_version() {
        let shape = |v: &str| SpecVersion::parse(v).unwrap().result_shape();
        assert_eq!(shape("0.2.0"), ResultShape::Legacy);
        assert_eq!(shape("0.3.1"), ResultShape::V03);
        assert_eq!(shape("0.4.0"), ResultShape::V03);
        assert_eq!(shape("1.0.0"), ResultShape::V1);
        assert!(!SpecVersion::parse("0.3.1").unwrap().has_check());
        assert!(!SpecVersion::parse("1.0.0").unwrap().has_status_and_gc());
        assert_eq!(shape("1.1.0"), ResultShape::V1);
    }
}
