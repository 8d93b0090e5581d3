//! `calicoctl convert`: reads Calico v1 (`apiVersion: v1`) resources and produces the
//! `projectcalico.org/v3` resources Calico's own converter produced, defaulted and
//! validated. Decoding is strict: fields and kinds v1 did not have are errors naming the
//! document (numbered from 1) and the field path.
//!
//! ```
//! let out = api::convert_v1("apiVersion: v1\nkind: ipPool\nmetadata: {cidr: 10.1.0.0/16}\n").unwrap();
//! assert_eq!(out[0].metadata().name, "10-1-0-0-16");
//! ```

mod convert;
mod names;
mod types;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::codec;
use crate::error::Error;
use crate::resource::{tidy_message, type_name, Resource};
use convert::Fault;

/// The v1 kinds calicoctl could convert, as spelled in `kind:`.
const KINDS: &[&str] = &[
    "bgpPeer",
    "hostEndpoint",
    "ipPool",
    "node",
    "policy",
    "profile",
    "workloadEndpoint",
];

const V1: &str = "v1";

/// Converts every v1 resource in `text` (YAML documents separated by `---`, or JSON; a
/// document may also be a sequence of resources, a `kind: list` or a typed list such as
/// `kind: ipPoolList`, each with `items`) into v3 resources, in input order.
///
/// Each result has Calico's defaults applied and has passed [`Resource::validate`]; a
/// result that fails validation is reported against the document it came from.
pub fn convert_v1(text: &str) -> Result<Vec<Resource>, Error> {
    let mut out = Vec::new();
    for (index, doc) in parse_documents(text)?.into_iter().enumerate() {
        collect(doc, index + 1, "", &mut out)?;
    }
    Ok(out)
}

fn parse_documents(text: &str) -> Result<Vec<Value>, Error> {
    if let Some(json) = codec::json_document(text) {
        return Ok(vec![json?]);
    }
    codec::split_yaml_documents(text)
        .iter()
        .enumerate()
        .map(|(index, chunk)| {
            let doc = &chunk.text;
            let blank = doc.lines().all(|l| {
                let l = l.trim();
                l.is_empty() || l.starts_with('#')
            });
            if blank {
                return Ok(Value::Null);
            }
            serde_saphyr::from_str(doc).map_err(|e| Error::Decode {
                document: index + 1,
                path: String::new(),
                message: format!("invalid YAML: {}", codec::one_line(&e.to_string())),
            })
        })
        .collect()
}

fn collect(v: Value, document: usize, prefix: &str, out: &mut Vec<Resource>) -> Result<(), Error> {
    let err = |path: &str, message: String| Error::Decode {
        document,
        path: format!("{prefix}{path}").trim_end_matches('.').to_string(),
        message,
    };
    let mut obj = match v {
        Value::Null => return Ok(()),
        Value::Array(items) => {
            for (i, item) in items.into_iter().enumerate() {
                collect(item, document, &format!("{prefix}[{i}]."), out)?;
            }
            return Ok(());
        }
        Value::Object(obj) => obj,
        other => {
            return Err(err(
                "",
                format!("expected a resource object, found {}", type_name(&other)),
            ))
        }
    };
    check_api_version(obj.remove("apiVersion")).map_err(|m| err("apiVersion", m))?;
    let kind = match obj.remove("kind") {
        Some(Value::String(k)) => k,
        Some(other) => {
            return Err(err(
                "kind",
                format!("expected a string, found {}", type_name(&other)),
            ))
        }
        None => return Err(err("kind", format!("missing; expected one of {}", kinds()))),
    };
    if kind == "list" || kind == "List" {
        return flatten_list(obj, None, document, prefix, out);
    }
    if let Some(item_kind) = kind.strip_suffix("List").filter(|k| KINDS.contains(k)) {
        return flatten_list(obj, Some(item_kind), document, prefix, out);
    }
    let mut body = Value::Object(obj);
    drop_nulls(&mut body);
    let converted = match kind.as_str() {
        "ipPool" => decode(body).and_then(convert::ip_pool),
        "bgpPeer" => decode(body).and_then(convert::bgp_peer),
        "policy" => decode(body).and_then(convert::policy),
        "profile" => decode(body).and_then(convert::profile),
        "hostEndpoint" => decode(body).and_then(convert::host_endpoint),
        "workloadEndpoint" => decode(body).and_then(convert::workload_endpoint),
        "node" => decode(body).and_then(convert::node),
        _ => {
            return Err(err(
                "kind",
                format!("unknown v1 kind \"{kind}\", expected one of {}", kinds()),
            ))
        }
    };
    let mut resource = converted.map_err(|(path, message)| err(&path, message))?;
    resource.apply_defaults();
    resource
        .validate()
        .map_err(|e| err("", format!("converted resource failed validation: {e}")))?;
    out.push(resource);
    Ok(())
}

fn check_api_version(v: Option<Value>) -> Result<(), String> {
    match v {
        Some(Value::String(a)) if a == V1 => Ok(()),
        Some(Value::String(a)) => Err(format!(
            "unsupported apiVersion \"{a}\"; only \"{V1}\" resources can be converted"
        )),
        Some(other) => Err(format!("expected a string, found {}", type_name(&other))),
        None => Err(format!("missing; expected \"{V1}\"")),
    }
}

/// A list's `items`; in a typed list (`ipPoolList`) items may leave out `kind` and
/// `apiVersion`, and a `kind` they give must match.
fn flatten_list(
    mut obj: Map<String, Value>,
    item_kind: Option<&str>,
    document: usize,
    prefix: &str,
    out: &mut Vec<Resource>,
) -> Result<(), Error> {
    let err = |path: &str, message: String| Error::Decode {
        document,
        path: format!("{prefix}{path}").trim_end_matches('.').to_string(),
        message,
    };
    let items = match obj.remove("items") {
        Some(Value::Array(items)) => items,
        Some(Value::Null) | None => Vec::new(),
        Some(other) => {
            return Err(err(
                "items",
                format!("expected a list, found {}", type_name(&other)),
            ))
        }
    };
    match obj.remove("metadata") {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            if let Some(field) = m.keys().next() {
                return Err(err(
                    &format!("metadata.{field}"),
                    "unknown field; list metadata has no fields".to_string(),
                ));
            }
        }
        Some(other) => {
            return Err(err(
                "metadata",
                format!("expected an object, found {}", type_name(&other)),
            ))
        }
    }
    if let Some(field) = obj.keys().next() {
        return Err(err(
            field,
            "unknown field, expected one of apiVersion, kind, metadata, items".to_string(),
        ));
    }
    for (i, item) in items.into_iter().enumerate() {
        let at = format!("{prefix}items[{i}].");
        let item = match (item, item_kind) {
            (Value::Object(mut m), Some(k)) => {
                match m.get("kind") {
                    None => {
                        m.insert("kind".into(), Value::from(k));
                    }
                    Some(Value::String(given)) if given == k => {}
                    Some(given) => {
                        return Err(Error::Decode {
                            document,
                            path: format!("{at}kind"),
                            message: format!("{given} does not match the list kind \"{k}List\""),
                        })
                    }
                }
                m.entry("apiVersion").or_insert_with(|| Value::from(V1));
                Value::Object(m)
            }
            (other, _) => other,
        };
        collect(item, document, &at, out)?;
    }
    Ok(())
}

/// Strictly decodes a v1 body (`metadata`, `spec`); the path names the failing field,
/// including an unknown one.
fn decode<T: DeserializeOwned>(body: Value) -> Result<T, Fault> {
    serde_path_to_error::deserialize(body).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        (path, tidy_message(&e.inner().to_string()))
    })
}

/// Removes `key: null` entries at every level: v1 (Go) read an empty `spec:` or `ipip:`
/// as the field's zero value, the same as leaving it out.
fn drop_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, x| !x.is_null());
            m.values_mut().for_each(drop_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

fn kinds() -> String {
    KINDS.join(", ")
}
