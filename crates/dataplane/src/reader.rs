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
    BaseHook, ChainKind, Hook, NftRule, Set, SetKey, Table, Verdict, VerdictMap,
    TABLE_NAME,
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
                for elem in obj.get("elem").and_then(Value::as_array).into_iter().flatten() {
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
        BaseHook { kind, hook, priority }
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
    match (obj.get("type").and_then(Value::as_str), family, interval) {
        (Some("ipv4_addr"), IpVersion::V4, true) => SetKey::Ipv4Net,
        (Some("ipv6_addr"), IpVersion::V6, true) => SetKey::Ipv6Net,
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
