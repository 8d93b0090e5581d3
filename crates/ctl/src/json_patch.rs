//! JSON Patch (RFC 6902) with JSON Pointers (RFC 6901), for `calicoctl patch --type json`.
//! A patch applies atomically: on any failing operation the document is left unchanged.

use serde_json::Value;

/// Applies the operations in `patch` (a JSON array) to `doc`.
pub fn apply(doc: &mut Value, patch: &Value) -> Result<(), String> {
    let ops = patch
        .as_array()
        .ok_or("a JSON patch must be an array of operations")?;
    let mut work = doc.clone();
    for (i, op) in ops.iter().enumerate() {
        apply_op(&mut work, op).map_err(|e| format!("operation {i}: {e}"))?;
    }
    *doc = work;
    Ok(())
}

fn apply_op(doc: &mut Value, op: &Value) -> Result<(), String> {
    let field = |name: &str| -> Result<&str, String> {
        op[name]
            .as_str()
            .ok_or_else(|| format!("missing string member \"{name}\""))
    };
    let value = || op.get("value").cloned().ok_or("missing member \"value\"");
    let path = parse_pointer(field("path")?)?;
    match field("op")? {
        "add" => add(doc, &path, value()?),
        "remove" => remove(doc, &path).map(drop),
        "replace" => {
            *get_mut(doc, &path)? = value()?;
            Ok(())
        }
        "move" => {
            let from = parse_pointer(field("from")?)?;
            if path.len() > from.len() && path.starts_with(&from) {
                return Err("cannot move a value into one of its children".to_string());
            }
            let moved = remove(doc, &from)?;
            add(doc, &path, moved)
        }
        "copy" => {
            let from = parse_pointer(field("from")?)?;
            let copied = get_mut(doc, &from)?.clone();
            add(doc, &path, copied)
        }
        "test" => match *get_mut(doc, &path)? == value()? {
            true => Ok(()),
            false => Err(format!("test failed at {}", field("path")?)),
        },
        other => Err(format!("unknown op \"{other}\"")),
    }
}

/// Splits a JSON Pointer into unescaped reference tokens.
fn parse_pointer(pointer: &str) -> Result<Vec<String>, String> {
    if pointer.is_empty() {
        return Ok(Vec::new());
    }
    let rest = pointer
        .strip_prefix('/')
        .ok_or_else(|| format!("\"{pointer}\" is not a JSON pointer"))?;
    Ok(rest
        .split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect())
}

fn index(token: &str, len: usize, allow_end: bool) -> Result<usize, String> {
    let bad = || format!("\"{token}\" is not a valid array index here");
    if token.len() > 1 && token.starts_with('0') {
        return Err(bad());
    }
    let i: usize = token.parse().map_err(|_| bad())?;
    match i < len || (allow_end && i == len) {
        true => Ok(i),
        false => Err(bad()),
    }
}

fn get_mut<'a>(doc: &'a mut Value, path: &[String]) -> Result<&'a mut Value, String> {
    let mut at = doc;
    for token in path {
        at = match at {
            Value::Object(map) => map
                .get_mut(token)
                .ok_or_else(|| format!("\"{token}\" does not exist"))?,
            Value::Array(items) => {
                let i = index(token, items.len(), false)?;
                &mut items[i]
            }
            _ => return Err(format!("\"{token}\" does not exist")),
        };
    }
    Ok(at)
}

fn add(doc: &mut Value, path: &[String], value: Value) -> Result<(), String> {
    let Some((last, parent)) = path.split_last() else {
        *doc = value;
        return Ok(());
    };
    match get_mut(doc, parent)? {
        Value::Object(map) => {
            map.insert(last.clone(), value);
            Ok(())
        }
        Value::Array(items) if last == "-" => {
            items.push(value);
            Ok(())
        }
        Value::Array(items) => {
            let i = index(last, items.len(), true)?;
            items.insert(i, value);
            Ok(())
        }
        _ => Err(format!(
            "cannot add \"{last}\" to a value that is not an object or array"
        )),
    }
}

fn remove(doc: &mut Value, path: &[String]) -> Result<Value, String> {
    let (last, parent) = path
        .split_last()
        .ok_or("cannot remove the whole document")?;
    match get_mut(doc, parent)? {
        Value::Object(map) => map
            .remove(last)
            .ok_or_else(|| format!("\"{last}\" does not exist")),
        Value::Array(items) => {
            let i = index(last, items.len(), false)?;
            Ok(items.remove(i))
        }
        _ => Err(format!("\"{last}\" does not exist")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn patched(doc: Value, patch: Value) -> Result<Value, String> {
        let mut doc = doc;
        apply(&mut doc, &patch).map(|()| doc)
    }

    #[test]
    fn rfc6902_operations() {
        let doc = json!({"foo": ["bar", "baz"], "a/b": 1, "m~n": 2});
        assert_eq!(
            patched(
                doc.clone(),
                json!([{"op": "add", "path": "/foo/1", "value": "qux"}])
            ),
            Ok(json!({"foo": ["bar", "qux", "baz"], "a/b": 1, "m~n": 2}))
        );
        assert_eq!(
            patched(
                doc.clone(),
                json!([{"op": "add", "path": "/foo/-", "value": "end"}])
            )
            .unwrap()["foo"],
            json!(["bar", "baz", "end"])
        );
        assert_eq!(
            patched(
                doc.clone(),
                json!([{"op": "remove", "path": "/a~1b"},
                                        {"op": "replace", "path": "/m~0n", "value": 3}])
            ),
            Ok(json!({"foo": ["bar", "baz"], "m~n": 3}))
        );
        assert_eq!(
            patched(
                doc.clone(),
                json!([{"op": "move", "from": "/foo/0", "path": "/first"}])
            )
            .unwrap(),
            json!({"foo": ["baz"], "a/b": 1, "m~n": 2, "first": "bar"})
        );
        assert_eq!(
            patched(
                doc.clone(),
                json!([{"op": "copy", "from": "/foo", "path": "/bar"},
                                        {"op": "test", "path": "/bar/1", "value": "baz"}])
            )
            .unwrap()["bar"],
            json!(["bar", "baz"])
        );
        assert_eq!(
            patched(doc.clone(), json!([{"op": "add", "path": "", "value": 1}])),
            Ok(json!(1))
        );
    }

    #[test]
    fn failures_leave_the_document_unchanged() {
        let doc = json!({"a": {"b": 1}});
        for bad in [
            json!([{"op": "replace", "path": "/a/c", "value": 1}]),
            json!([{"op": "remove", "path": "/a/b"}, {"op": "test", "path": "/a/b", "value": 1}]),
            json!([{"op": "add", "path": "/x/y", "value": 1}]),
            json!([{"op": "move", "from": "/a", "path": "/a/b"}]),
            json!([{"op": "frobnicate", "path": "/a"}]),
            json!([{"op": "add", "path": "a", "value": 1}]),
            json!({"op": "add"}),
        ] {
            let mut d = doc.clone();
            assert!(apply(&mut d, &bad).is_err(), "{bad}");
            assert_eq!(d, doc);
        }
        let mut list = json!([1, 2]);
        assert!(apply(&mut list, &json!([{"op": "add", "path": "/5", "value": 3}])).is_err());
        assert!(apply(&mut list, &json!([{"op": "remove", "path": "/01"}])).is_err());
    }
}
