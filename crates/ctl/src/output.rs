//! YAML and JSON rendering of resources and `<Kind>List` objects, shaped like calicoctl's:
//! YAML with keys sorted at every level (by `api::encode_yaml`), JSON indented by two spaces
//! in field order.

use anyhow::{anyhow, Result};
use serde_json::{json, Map, Value};

/// Structured output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Json,
}

/// Wraps resources in a list object of kind `list_kind` (`<Kind>List`, or `List` for mixed
/// kinds), read at store revision `revision` when known.
pub fn list_object(list_kind: &str, items: Vec<Value>, revision: Option<i64>) -> Value {
    let mut list = Map::new();
    list.insert("apiVersion".into(), json!(api::API_VERSION));
    list.insert("kind".into(), json!(list_kind));
    let mut meta = Map::new();
    if let Some(rev) = revision {
        meta.insert("resourceVersion".into(), json!(rev.to_string()));
    }
    list.insert("metadata".into(), Value::Object(meta));
    list.insert("items".into(), Value::Array(items));
    Value::Object(list)
}

/// Drops the metadata a datastore assigns (resourceVersion, uid, creationTimestamp).
pub fn strip_cluster_metadata(resource: &mut Value) {
    if let Some(meta) = resource.get_mut("metadata").and_then(Value::as_object_mut) {
        for field in ["resourceVersion", "uid", "creationTimestamp"] {
            meta.remove(field);
        }
    }
}

/// Renders one object (a resource or a list) as calicoctl prints it, ending in a newline.
pub fn render(value: &Value, format: Format) -> Result<String> {
    match format {
        Format::Yaml => api::encode_yaml(std::slice::from_ref(value))
            .map_err(|e| anyhow!("Failed to print resources: {e}")),
        Format::Json => {
            let text = serde_json::to_string_pretty(&go_field_order(value))
                .map_err(|e| anyhow!("Failed to print resources: {e}"))?;
            Ok(format!("{}\n", go_json_escapes(&text)))
        }
    }
}

/// Field order of Kubernetes' ObjectMeta, which Go's JSON encoder follows.
const METADATA_ORDER: &[&str] = &[
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "labels",
    "annotations",
];

/// A copy of a resource or list with its fields in the order Go's structs declare them:
/// `kind`, `apiVersion`, `metadata` (in ObjectMeta order), then the rest (`items` of a list
/// likewise).
fn go_field_order(value: &Value) -> Value {
    let Value::Object(map) = value else {
        return value.clone();
    };
    let mut out = Map::new();
    for key in ["kind", "apiVersion"] {
        if let Some(v) = map.get(key) {
            out.insert(key.into(), v.clone());
        }
    }
    if let Some(Value::Object(meta)) = map.get("metadata") {
        let rank = |k: &str| {
            METADATA_ORDER
                .iter()
                .position(|m| *m == k)
                .unwrap_or(usize::MAX)
        };
        let mut keys: Vec<&String> = meta.keys().collect();
        keys.sort_by_key(|k| rank(k));
        let ordered = keys.into_iter().map(|k| (k.clone(), meta[k].clone()));
        out.insert("metadata".into(), Value::Object(ordered.collect()));
    }
    for (key, v) in map {
        if !out.contains_key(key) {
            let v = match (key.as_str(), v) {
                ("items", Value::Array(items)) => {
                    Value::Array(items.iter().map(go_field_order).collect())
                }
                _ => v.clone(),
            };
            out.insert(key.clone(), v);
        }
    }
    Value::Object(out)
}

/// Go's JSON encoder escapes `<`, `>` and `&` (they can only occur inside strings).
fn go_json_escapes(text: &str) -> String {
    text.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_shape() {
        let list = list_object("IPPoolList", vec![json!({"kind": "IPPool"})], Some(7));
        assert_eq!(
            list,
            json!({"apiVersion": "projectcalico.org/v3", "kind": "IPPoolList",
                   "metadata": {"resourceVersion": "7"}, "items": [{"kind": "IPPool"}]})
        );
        let keys: Vec<&String> = list.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["apiVersion", "kind", "metadata", "items"]);
    }

    #[test]
    fn yaml_keys_are_sorted_and_json_escapes_like_go() {
        let v =
            json!({"spec": {"selector": "a == 'x' && b == 'y'"}, "kind": "GlobalNetworkPolicy"});
        let yaml = render(&v, Format::Yaml).unwrap();
        assert!(
            yaml.find("kind:").unwrap() < yaml.find("spec:").unwrap(),
            "{yaml}"
        );
        let text = render(&v, Format::Json).unwrap();
        assert!(
            text.contains(r#""selector": "a == 'x' \u0026\u0026 b == 'y'""#),
            "{text}"
        );
    }

    #[test]
    fn json_follows_go_field_order() {
        let v = json!({"apiVersion": "v", "kind": "IPPoolList", "metadata": {}, "items": [
            {"apiVersion": "v", "kind": "IPPool",
             "metadata": {"labels": {"a": "b"}, "creationTimestamp": "t", "uid": "u", "name": "p"},
             "spec": {"cidr": "c"}}]});
        let text = render(&v, Format::Json).unwrap();
        let order = [
            "\"kind\": \"IPPoolList\"",
            "\"apiVersion\"",
            "\"items\"",
            "\"kind\": \"IPPool\"",
            "\"name\"",
            "\"uid\"",
            "\"creationTimestamp\"",
            "\"labels\"",
            "\"spec\"",
        ];
        let positions: Vec<usize> = order.iter().map(|s| text.find(s).unwrap()).collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
    }

    #[test]
    fn export_strips_cluster_metadata() {
        let mut v = json!({"metadata": {"name": "a", "resourceVersion": "3", "uid": "u",
                                         "creationTimestamp": "t"}});
        strip_cluster_metadata(&mut v);
        assert_eq!(v, json!({"metadata": {"name": "a"}}));
    }
}
