//! Reading and writing resource text: multi-document YAML or JSON in, `List` flattening,
//! and YAML out in calicoctl's style (keys sorted, several resources as a `<Kind>List`).

use serde_json::{Map, Value};

use crate::error::Error;
use crate::resource::{from_json_document, type_name, Resource};
use crate::API_VERSION;

/// Decodes every resource in `text`: YAML documents separated by `---`, or JSON.
/// `kind: List` and `kind: <Kind>List` objects are flattened into their `items`; empty
/// documents are skipped. Documents are numbered from 1 in error messages.
pub fn decode_documents(text: &str) -> Result<Vec<Resource>, Error> {
    let mut out = Vec::new();
    for (index, doc) in parse_documents(text)?.into_iter().enumerate() {
        collect(doc, index + 1, "", &mut out)?;
    }
    Ok(out)
}

/// Input that starts with `{` or `[` is one JSON document: its value, or the decode error
/// (as document 1). `None` for anything else (YAML).
pub(crate) fn json_document(text: &str) -> Option<Result<Value, Error>> {
    let trimmed = text.trim_start();
    if !(trimmed.starts_with('{') || trimmed.starts_with('[')) {
        return None;
    }
    Some(serde_json::from_str(text).map_err(|e| Error::Decode {
        document: 1,
        path: String::new(),
        message: format!("invalid JSON: {e}"),
    }))
}

fn parse_documents(text: &str) -> Result<Vec<Value>, Error> {
    if let Some(json) = json_document(text) {
        return Ok(vec![json?]);
    }
    let mut docs = Vec::new();
    for (index, chunk) in split_yaml_documents(text).into_iter().enumerate() {
        if chunk.text.lines().all(|l| {
            let l = l.trim();
            l.is_empty() || l.starts_with('#') || l == "---" || l == "..."
        }) {
            docs.push(Value::Null);
            continue;
        }
        let v = parse_yaml_at(&chunk.text, chunk.first_line).map_err(|message| Error::Decode {
            document: index + 1,
            path: String::new(),
            message,
        })?;
        docs.push(v);
    }
    Ok(docs)
}

/// Parses one YAML document starting at 0-based input line `first_line` into a JSON value,
/// with YAML 1.2 core scalars: only `true`/`false` are booleans, so names like `n`, `no` or
/// `on` stay strings (as they do when Kubernetes decodes them into string fields). The
/// error is one line, with line numbers counted from the start of the whole input.
pub(crate) fn parse_yaml_at(doc: &str, first_line: usize) -> Result<Value, String> {
    let options = serde_saphyr::options! { strict_booleans: true, with_snippet: false };
    serde_saphyr::from_str_with_options(doc, options).map_err(|e| {
        let mut text = one_line(&e.to_string());
        if let Some(loc) = e.location().filter(|_| first_line > 0) {
            let (line, column) = (loc.line(), loc.column());
            let global = line + first_line as u64;
            for sep in [", ", " "] {
                let local = format!("line {line}{sep}column {column}");
                if text.contains(&local) {
                    text = text.replacen(&local, &format!("line {global}{sep}column {column}"), 1);
                    break;
                }
            }
        }
        format!("invalid YAML: {text}")
    })
}

/// One YAML document and the 0-based line of the input it starts on.
pub(crate) struct Chunk {
    pub(crate) first_line: usize,
    pub(crate) text: String,
}

/// Splits YAML text at `---` document markers (a line that is `---`, possibly followed by
/// a space and content), remembering where each document starts.
pub(crate) fn split_yaml_documents(text: &str) -> Vec<Chunk> {
    let mut docs = vec![Chunk {
        first_line: 0,
        text: String::new(),
    }];
    let mut started = false;
    for (number, line) in text.lines().enumerate() {
        let is_marker = line == "---" || line.starts_with("--- ") || line.starts_with("---\t");
        let mut content = line;
        if is_marker {
            if started {
                docs.push(Chunk {
                    first_line: number,
                    text: String::new(),
                });
            }
            started = true;
            content = line[3..].trim();
        } else if !line.trim().is_empty() && !line.trim_start().starts_with('#') {
            started = true;
        }
        if let Some(d) = docs.last_mut() {
            d.text.push_str(content);
            d.text.push('\n');
        }
    }
    docs
}

pub(crate) fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn collect(v: Value, document: usize, prefix: &str, out: &mut Vec<Resource>) -> Result<(), Error> {
    match v {
        Value::Null => Ok(()),
        Value::Array(items) => {
            for (i, item) in items.into_iter().enumerate() {
                collect(item, document, &format!("{prefix}[{i}]."), out)?;
            }
            Ok(())
        }
        Value::Object(obj) if is_list(&obj) => flatten_list(obj, document, prefix, out),
        other => {
            out.push(from_json_document(other, document, prefix)?);
            Ok(())
        }
    }
}

fn is_list(obj: &Map<String, Value>) -> bool {
    matches!(obj.get("kind"), Some(Value::String(k)) if k.ends_with("List"))
}

fn flatten_list(
    mut obj: Map<String, Value>,
    document: usize,
    prefix: &str,
    out: &mut Vec<Resource>,
) -> Result<(), Error> {
    let list_kind = match obj.get("kind") {
        Some(Value::String(k)) => k.clone(),
        _ => String::new(),
    };
    let item_kind = list_kind.strip_suffix("List").unwrap_or("").to_string();
    let api_version = obj.get("apiVersion").cloned();
    let items = match obj.remove("items") {
        Some(Value::Array(items)) => items,
        Some(Value::Null) | None => Vec::new(),
        Some(other) => {
            return Err(Error::Decode {
                document,
                path: format!("{prefix}items"),
                message: format!("expected a list, found {}", type_name(&other)),
            })
        }
    };
    for (i, item) in items.into_iter().enumerate() {
        let item = match item {
            Value::Object(mut m) => {
                if !item_kind.is_empty() && !m.contains_key("kind") {
                    m.insert("kind".into(), Value::from(item_kind.clone()));
                }
                if let (Some(a), false) = (&api_version, m.contains_key("apiVersion")) {
                    m.insert("apiVersion".into(), a.clone());
                }
                Value::Object(m)
            }
            other => other,
        };
        collect(item, document, &format!("{prefix}items[{i}]."), out)?;
    }
    Ok(())
}

/// Renders resources (as produced by [`Resource::to_json`]) the way calicoctl prints
/// them: one object on its own, otherwise a `<Kind>List` (or `List` for mixed kinds) with
/// `items`. Object keys are sorted, as Go's YAML printer does.
pub fn encode_yaml(values: &[Value]) -> Result<String, Error> {
    let doc = match values {
        [one] => sorted(one),
        many => {
            let kinds: Vec<&str> = many
                .iter()
                .filter_map(|v| v.get("kind").and_then(Value::as_str))
                .collect();
            let list_kind = match kinds.first() {
                Some(k) if kinds.len() == many.len() && kinds.iter().all(|x| x == k) => {
                    format!("{k}List")
                }
                _ => "List".to_string(),
            };
            let mut m = Map::new();
            m.insert("apiVersion".into(), Value::from(API_VERSION));
            m.insert(
                "items".into(),
                Value::Array(many.iter().map(sorted).collect()),
            );
            m.insert("kind".into(), Value::from(list_kind));
            Value::Object(m)
        }
    };
    serde_saphyr::to_string(&doc).map_err(|e| Error::Encode(e.to_string()))
}

fn sorted(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), sorted(&m[k])))
                    .collect(),
            )
        }
        Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
        other => other.clone(),
    }
}
