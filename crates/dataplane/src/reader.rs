//! Pure reader: `nft -j list table <family> calico` output -> [`Table`] (no I/O).
//!
//! It recovers what the diff needs: chain names and hooks, each rule's comment (the rule's
//! identity), set types and members, and map elements. Rule bodies are left empty. Anything
//! it does not recognise is kept in a form that makes the diff repair it: a rule without a
//! comment gets an empty one (its chain is rewritten), a set of another type is marked
//! [`SetKey::Unsupported`] (the table is recreated), an unknown element is kept as text (it
//! is deleted).

use std::collections::BTreeSet;

use serde_json::Value;

use crate::error::Error;
use crate::model::IpVersion;
use crate::table::{
    BaseHook, ChainKind, Hook, NftRule, Set, SetKey, Table, Verdict, VerdictMap, TABLE_NAME,
};

/// Parse the JSON listing of our table.
pub fn parse_table(json: &str, family: IpVersion) -> Result<Table, Error> {
    let doc: Value = serde_json::from_str(json).map_err(|e| Error::NftJson(e.to_string()))?;
    let items = doc
        .get("nftables")
        .and_then(Value::as_array)
        .ok_or_else(|| Error::NftJson("no \"nftables\" array".to_owned()))?;
    let mut table = Table::empty(family);
    for item in items {
        let Some((kind, obj)) = item.as_object().and_then(|o| o.iter().next()) else {
            continue;
        };
        if obj.get("table").and_then(Value::as_str) != Some(TABLE_NAME) {
            continue;
        }
        let name = || str_field(obj, "name");
        match kind.as_str() {
            "chain" => {
                let hook = obj.get("hook").map(|_| parse_hook(obj));
                table.chains.entry(name()?).or_default().hook = hook;
            }
            "rule" => {
                let chain = str_field(obj, "chain")?;
                let comment = obj
                    .get("comment")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                table.chains.entry(chain).or_default().rules.push(NftRule {
                    body: String::new(),
                    comment,
                });
            }
            "set" => {
                let key = parse_set_key(obj, family);
                let elements = obj
                    .get("elem")
                    .and_then(Value::as_array)
                    .map(|elems| elems.iter().map(|e| element_text(e, family)).collect())
                    .unwrap_or_else(BTreeSet::new);
                table.sets.insert(name()?, Set { key, elements });
            }
            "map" => {
                let name = name()?;
                let typed = obj.get("type").and_then(Value::as_str) == Some("ifname")
                    && obj.get("map").and_then(Value::as_str) == Some("verdict");
                if !typed {
                    // Not one of ours: an unsupported set of that name forces a recreate.
                    table.sets.insert(
                        name,
                        Set {
                            key: SetKey::Unsupported,
                            elements: BTreeSet::new(),
                        },
                    );
                    continue;
                }
                let mut map = VerdictMap::default();
                for elem in obj
                    .get("elem")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if let Some((key, verdict)) = map_element(elem) {
                        map.elements.insert(key, verdict);
                    }
                }
                table.maps.insert(name, map);
            }
            _ => {}
        }
    }
    Ok(table)
}

fn str_field(obj: &Value, field: &str) -> Result<String, Error> {
    obj.get(field)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| Error::NftJson(format!("missing {field:?} in {obj}")))
}

fn parse_hook(obj: &Value) -> BaseHook {
    let kind = match obj.get("type").and_then(Value::as_str) {
        Some("filter") => ChainKind::Filter,
        Some("nat") => ChainKind::Nat,
        _ => ChainKind::Unsupported,
    };
    let hook = match obj.get("hook").and_then(Value::as_str) {
        Some("input") => Hook::Input,
        Some("forward") => Hook::Forward,
        Some("output") => Hook::Output,
        Some("postrouting") => Hook::Postrouting,
        _ => Hook::Unsupported,
    };
    let priority = obj
        .get("prio")
        .and_then(Value::as_i64)
        .and_then(|p| i32::try_from(p).ok())
        .unwrap_or(i32::MIN);
    // A base chain whose policy is not accept is drift: report it as an unsupported hook.
    let accept = obj.get("policy").and_then(Value::as_str) == Some("accept");
    if accept {
        BaseHook {
            kind,
            hook,
            priority,
        }
    } else {
        BaseHook {
            kind,
            hook: Hook::Unsupported,
            priority,
        }
    }
}

fn parse_set_key(obj: &Value, family: IpVersion) -> SetKey {
    let interval = obj
        .get("flags")
        .and_then(Value::as_array)
        .is_some_and(|f| f.iter().any(|x| x.as_str() == Some("interval")));
    match obj.get("type") {
        Some(Value::String(t)) => match (t.as_str(), family, interval) {
            ("ipv4_addr", IpVersion::V4, true) => SetKey::Ipv4Net,
            ("ipv6_addr", IpVersion::V6, true) => SetKey::Ipv6Net,
            _ => SetKey::Unsupported,
        },
        Some(Value::Array(parts)) if !interval => {
            let parts: Vec<&str> = parts.iter().filter_map(Value::as_str).collect();
            match (parts.as_slice(), family) {
                (["ipv4_addr", "inet_proto", "inet_service"], IpVersion::V4) => {
                    SetKey::Ipv4ProtoPort
                }
                (["ipv6_addr", "inet_proto", "inet_service"], IpVersion::V6) => {
                    SetKey::Ipv6ProtoPort
                }
                _ => SetKey::Unsupported,
            }
        }
        _ => SetKey::Unsupported,
    }
}

/// Canonical text of a set element, matching what the renderer writes.
fn element_text(elem: &Value, family: IpVersion) -> String {
    let host_len = match family {
        IpVersion::V4 => 32,
        IpVersion::V6 => 128,
    };
    match elem {
        Value::String(addr) => format!("{addr}/{host_len}"),
        Value::Object(o) => {
            if let Some(p) = o.get("prefix") {
                let addr = p.get("addr").and_then(Value::as_str).unwrap_or_default();
                let len = p.get("len").and_then(Value::as_u64).unwrap_or_default();
                format!("{addr}/{len}")
            } else if let Some(Value::Array(r)) = o.get("range") {
                let end = |i: usize| r.get(i).and_then(Value::as_str).unwrap_or_default();
                format!("{}-{}", end(0), end(1))
            } else if let Some(Value::Array(parts)) = o.get("concat") {
                // A named-port element: address . protocol . port.
                let part = |v: &Value| match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                parts.iter().map(part).collect::<Vec<_>>().join(" . ")
            } else if let Some(inner) = o.get("elem").and_then(|e| e.get("val")) {
                // An element carrying a counter or comment wraps its value.
                element_text(inner, family)
            } else {
                elem.to_string()
            }
        }
        other => other.to_string(),
    }
}

fn map_element(elem: &Value) -> Option<(String, Verdict)> {
    let pair = elem.as_array()?;
    let key = pair.first()?.as_str()?.to_owned();
    let verdict = pair.get(1)?.as_object()?;
    if let Some(t) = verdict.get("goto") {
        Some((key, Verdict::Goto(t.get("target")?.as_str()?.to_owned())))
    } else {
        let t = verdict.get("jump")?;
        Some((key, Verdict::Jump(t.get("target")?.as_str()?.to_owned())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Captured from `nft -j list table ip calico` (nft 1.0.6), trimmed.
    const LISTING: &str = r#"{"nftables": [
      {"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}},
      {"table": {"family": "ip", "name": "calico", "handle": 1}},
      {"set": {"family": "ip", "name": "s_a", "table": "calico", "type": "ipv4_addr", "handle": 1,
               "flags": ["interval"], "elem": ["10.0.0.1", {"prefix": {"addr": "10.1.0.0", "len": 16}},
               {"range": ["10.2.0.1", "10.2.0.5"]}]}},
      {"set": {"family": "ip", "name": "ports", "table": "calico", "type": "inet_service", "handle": 9}},
      {"set": {"family": "ip", "name": "n_web", "table": "calico", "handle": 10,
               "type": ["ipv4_addr", "inet_proto", "inet_service"],
               "elem": [{"concat": ["10.0.0.3", "sctp", 9]}, {"concat": ["10.0.0.1", "tcp", 8080]}]}},
      {"map": {"family": "ip", "name": "m", "table": "calico", "type": "ifname", "handle": 2,
               "map": "verdict", "elem": [["cali1", {"goto": {"target": "cali-d"}}], ["cali2", {"jump": {"target": "cali-e"}}]]}},
      {"chain": {"family": "ip", "table": "calico", "name": "filter-FORWARD", "handle": 3,
                 "type": "filter", "hook": "forward", "prio": 0, "policy": "accept"}},
      {"chain": {"family": "ip", "table": "calico", "name": "nat-POSTROUTING", "handle": 4,
                 "type": "nat", "hook": "postrouting", "prio": 110, "policy": "drop"}},
      {"chain": {"family": "ip", "table": "calico", "name": "cali-d", "handle": 6}},
      {"rule": {"family": "ip", "table": "calico", "chain": "cali-d", "handle": 7, "comment": "abc; why",
                "expr": [{"vmap": {"key": {"meta": {"key": "iifname"}}, "data": "@m"}}]}},
      {"rule": {"family": "ip", "table": "calico", "chain": "cali-d", "handle": 8, "expr": [{"accept": null}]}}
    ]}"#;

    #[test]
    fn listing_parses_into_the_diffable_shape() {
        let t = parse_table(LISTING, IpVersion::V4).unwrap();
        let elems: Vec<&str> = t.sets["s_a"].elements.iter().map(String::as_str).collect();
        assert_eq!(elems, ["10.0.0.1/32", "10.1.0.0/16", "10.2.0.1-10.2.0.5"]);
        assert_eq!(t.sets["s_a"].key, SetKey::Ipv4Net);
        assert_eq!(t.sets["ports"].key, SetKey::Unsupported);
        assert_eq!(t.sets["n_web"].key, SetKey::Ipv4ProtoPort);
        let elems: Vec<&str> = t.sets["n_web"]
            .elements
            .iter()
            .map(String::as_str)
            .collect();
        assert_eq!(elems, ["10.0.0.1 . tcp . 8080", "10.0.0.3 . sctp . 9"]);
        assert_eq!(
            t.maps["m"].elements["cali1"],
            Verdict::Goto("cali-d".into())
        );
        assert_eq!(
            t.maps["m"].elements["cali2"],
            Verdict::Jump("cali-e".into())
        );
        let fwd = t.chains["filter-FORWARD"].hook.unwrap();
        assert_eq!(
            (fwd.kind, fwd.hook, fwd.priority),
            (ChainKind::Filter, Hook::Forward, 0)
        );
        assert_eq!(
            t.chains["nat-POSTROUTING"].hook.unwrap().hook,
            Hook::Unsupported
        );
        let comments: Vec<&str> = t.chains["cali-d"]
            .rules
            .iter()
            .map(|r| r.comment.as_str())
            .collect();
        assert_eq!(comments, ["abc; why", ""]);
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(parse_table("{}", IpVersion::V4).is_err());
        assert!(parse_table("not json", IpVersion::V4).is_err());
    }
}
