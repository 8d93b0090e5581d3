//! Durations in Go's `time.Duration` text form (`"120s"`, `"1m30s"`, `"500ms"`), kept as
//! written and checked on decode.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A duration string such as `"90s"`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Duration(String);

impl Duration {
    /// Parses Go duration syntax: a sequence of decimal numbers each with a unit
    /// (`ns`, `us`, `µs`, `ms`, `s`, `m`, `h`); `"0"` alone is allowed.
    pub fn parse(s: &str) -> Result<Duration, String> {
        to_std(s)?;
        Ok(Duration(s.to_string()))
    }

    /// The text as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The value as a standard duration.
    pub fn to_std(&self) -> std::time::Duration {
        to_std(&self.0).unwrap_or_default()
    }
}

fn to_std(s: &str) -> Result<std::time::Duration, String> {
    let bad = || format!("invalid duration \"{s}\" (expected e.g. \"90s\", \"1m30s\", \"500ms\")");
    let body = s.strip_prefix('+').unwrap_or(s);
    if body == "0" {
        return Ok(std::time::Duration::ZERO);
    }
    if body.is_empty() || body.starts_with('-') {
        return Err(bad());
    }
    let mut total = 0f64;
    let mut rest = body;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        if num_len == 0 {
            return Err(bad());
        }
        let value: f64 = rest[..num_len].parse().map_err(|_| bad())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += value * scale;
        rest = &rest[unit_len..];
    }
    Ok(std::time::Duration::from_secs_f64(total))
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        Duration::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_syntax() {
        assert_eq!(Duration::parse("120s").unwrap().to_std().as_secs(), 120);
        assert_eq!(Duration::parse("1m30s").unwrap().to_std().as_secs(), 90);
        assert_eq!(Duration::parse("1.5h").unwrap().to_std().as_secs(), 5400);
        assert_eq!(Duration::parse("500ms").unwrap().to_std().as_millis(), 500);
        assert_eq!(Duration::parse("0").unwrap().to_std().as_secs(), 0);
        for bad in ["", "10", "s", "10x", "-5s", "1m30"] {
            assert!(Duration::parse(bad).is_err(), "{bad} accepted");
        }
    }
}
