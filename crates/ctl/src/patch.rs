//! `calicoctl patch`: apply a merge patch (RFC 7386; also used for `strategic`, which for
//! Calico's types merges the same way) or a JSON patch (RFC 6902) to one stored resource and
//! write it back, compare-and-swap on the revision it was read at.

use anyhow::{anyhow, Result};
use api::Resource;
use datastore::ResourceClient;
use serde_json::Value;

use crate::batch::{place_namespace, refuse_readonly};
use crate::cli::PatchArgs;
use crate::get::parse_kind;
use crate::json_patch;

pub async fn run(client: &ResourceClient, args: PatchArgs) -> Result<()> {
    let kind = parse_kind(&args.kind)?;
    refuse_readonly(kind, "apply or replace").map_err(|e| anyhow!("Hit error: {e}"))?;
    let patch = parse_patch(&args.patch)?;
    let namespace =
        place_namespace(kind, None, args.namespace.as_deref()).map_err(|e| anyhow!(e))?;
    let hit = |e: String| anyhow!("Hit error: {e}");
    let current = client
        .get(kind, namespace.as_deref(), &args.name)
        .await
        .map_err(|e| hit(e.to_string()))?;
    let mut json = current.to_json();
    match args.patch_type.as_str() {
        "json" => json_patch::apply(&mut json, &patch)
            .map_err(|e| hit(format!("invalid JSON patch: {e}")))?,
        _ => merge(&mut json, &patch),
    }
    let patched = Resource::from_json(json)
        .map_err(|e| hit(format!("creating resource from patched data: {e}")))?;
    let (old, new) = (current.metadata(), patched.metadata());
    if patched.kind() != kind || new.name != old.name || new.namespace != old.namespace {
        return Err(hit(
            "a patch may not change the kind, name or namespace".to_string()
        ));
    }
    client
        .update(patched)
        .await
        .map_err(|e| hit(format!("updating existing resource: {e}")))?;
    println!("Successfully patched 1 '{kind}' resource");
    Ok(())
}

/// Parses the patch text as JSON, or else as YAML.
fn parse_patch(text: &str) -> Result<Value> {
    serde_json::from_str(text).or_else(|json_err| {
        serde_saphyr::from_str::<Value>(text)
            .map_err(|_| anyhow!("Hit error: invalid patch (neither JSON nor YAML): {json_err}"))
    })
}

/// RFC 7386 merge: objects merge key by key, `null` deletes, anything else replaces.
fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(serde_json::Map::new());
    }
    if let Value::Object(target) = target {
        for (key, value) in patch {
            if value.is_null() {
                target.remove(key);
            } else {
                merge(target.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rfc7386_examples() {
        let cases = [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (
                json!({"a": "b"}),
                json!({"b": "c"}),
                json!({"a": "b", "b": "c"}),
            ),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (
                json!({"a": "b", "b": "c"}),
                json!({"a": null}),
                json!({"b": "c"}),
            ),
            (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
            (
                json!({"a": {"b": "c"}}),
                json!({"a": {"b": "d", "c": null}}),
                json!({"a": {"b": "d"}}),
            ),
            (
                json!({"a": [{"b": "c"}]}),
                json!({"a": [1]}),
                json!({"a": [1]}),
            ),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a": "b"}), json!(["c"]), json!(["c"])),
            (
                json!({"e": null}),
                json!({"a": 1}),
                json!({"e": null, "a": 1}),
            ),
            (
                json!([1, 2]),
                json!({"a": "b", "c": null}),
                json!({"a": "b"}),
            ),
        ];
        for (mut target, patch, want) in cases {
            merge(&mut target, &patch);
            assert_eq!(target, want, "patch {patch}");
        }
    }

    #[test]
    fn patch_text_may_be_yaml() {
        assert_eq!(
            parse_patch("{\"spec\":{\"disabled\":true}}").unwrap(),
            json!({"spec": {"disabled": true}})
        );
        assert_eq!(
            parse_patch("spec:\n  disabled: true\n").unwrap(),
            json!({"spec": {"disabled": true}})
        );
    }
}
