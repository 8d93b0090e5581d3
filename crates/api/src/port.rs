//! A rule or config port: a number (`80`), an inclusive range (`"1000:2000"`) or a named
//! port (`"http"`). Written back as an integer when it is a single number.

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One port entry.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Port {
    /// Inclusive range; a single port has `min == max`.
    Range { min: u16, max: u16 },
    /// A named port resolved against the endpoint's `ports`.
    Named(String),
}

impl Port {
    /// A single numbered port.
    pub fn number(p: u16) -> Port {
        Port::Range { min: p, max: p }
    }

    /// Parses the string forms: `"80"`, `"1000:2000"` or a name.
    pub fn parse(s: &str) -> Result<Port, String> {
        if let Some((a, b)) = s.split_once(':') {
            let min = parse_num(a, s)?;
            let max = parse_num(b, s)?;
            if min > max {
                return Err(format!(
                    "port range \"{s}\" has minimum {min} greater than maximum {max}"
                ));
            }
            return Ok(Port::Range { min, max });
        }
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            return parse_num(s, s).map(Port::number);
        }
        if s.is_empty() {
            return Err("port must not be empty".to_string());
        }
        Ok(Port::Named(s.to_string()))
    }
}

fn parse_num(part: &str, whole: &str) -> Result<u16, String> {
    part.trim()
        .parse::<u16>()
        .map_err(|_| format!("port \"{whole}\" is not a number in 0..65535"))
}

impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Port::Range { min, max } if min == max => write!(f, "{min}"),
            Port::Range { min, max } => write!(f, "{min}:{max}"),
            Port::Named(n) => f.write_str(n),
        }
    }
}

impl Serialize for Port {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Port::Range { min, max } if min == max => s.serialize_u16(*min),
            other => s.serialize_str(&other.to_string()),
        }
    }
}

impl<'de> Deserialize<'de> for Port {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Port, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Port;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a port number, a \"min:max\" range or a port name")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Port, E> {
                u16::try_from(v)
                    .map(Port::number)
                    .map_err(|_| E::custom(format!("port {v} is not in 0..65535")))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Port, E> {
                u16::try_from(v)
                    .map(Port::number)
                    .map_err(|_| E::custom(format!("port {v} is not in 0..65535")))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Port, E> {
                Port::parse(v).map_err(E::custom)
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
    fn parses_all_forms() {
        assert_eq!(Port::parse("80"), Ok(Port::number(80)));
        assert_eq!(
            Port::parse("1000:2000"),
            Ok(Port::Range {
                min: 1000,
                max: 2000
            })
        );
        assert_eq!(Port::parse("http"), Ok(Port::Named("http".into())));
        assert!(Port::parse("2000:1000").unwrap_err().contains("greater"));
        assert!(Port::parse("70000").is_err());
        assert!(Port::parse("1:x").is_err());
    }

    #[test]
    fn serde_round_trip() {
        let p: Port = serde_json::from_value(json!(443)).unwrap();
        assert_eq!(serde_json::to_value(&p).unwrap(), json!(443));
        let r: Port = serde_json::from_value(json!("10:20")).unwrap();
        assert_eq!(serde_json::to_value(&r).unwrap(), json!("10:20"));
        let same: Port = serde_json::from_value(json!("7:7")).unwrap();
        assert_eq!(serde_json::to_value(&same).unwrap(), json!(7));
        assert!(serde_json::from_value::<Port>(json!(65536)).is_err());
        assert!(serde_json::from_value::<Port>(json!(-1)).is_err());
    }
}
