//! Kubernetes `networking.k8s.io/v1` NetworkPolicy documents in `calicoctl convert` input,
//! alone or mixed with Calico v1 documents: each becomes the Calico v3 NetworkPolicy Calico
//! generates for it (`knp.default.<name>`, order 1000). Rules that cannot be converted are
//! dropped, with a warning for each. Input without Kubernetes documents goes to
//! [`api::convert_v1`] untouched.

use anyhow::{anyhow, Result};
use api::Resource;
use policy::K8sNetworkPolicy;
use serde_json::Value;

/// Namespace of a NetworkPolicy that names none (as `kubectl apply` would place it).
const DEFAULT_NAMESPACE: &str = "default";

/// Converts one input's text, in input order; `source` names it in messages and each
/// dropped rule adds a warning.
pub fn convert(source: &str, text: &str, warnings: &mut Vec<String>) -> Result<Vec<Resource>> {
    let fail = |e: String| anyhow!("Failed to execute command: {source}: {e}");
    let trimmed = text.trim_start();
    let documents: Vec<(String, Option<Value>)> =
        if trimmed.starts_with('{') || trimmed.starts_with('[') {
            vec![(text.to_owned(), serde_json::from_str(text).ok())]
        } else {
            split_documents(text)
                .into_iter()
                .map(|doc| {
                    let value = serde_saphyr::from_str::<Value>(&doc).ok();
                    (doc, value)
                })
                .collect()
        };
    if !documents
        .iter()
        .any(|(_, v)| v.as_ref().is_some_and(is_k8s))
    {
        return api::convert_v1(text).map_err(|e| fail(e.to_string()));
    }
    let mut out = Vec::new();
    for (index, (doc, value)) in documents.into_iter().enumerate() {
        let number = index + 1;
        match value {
            Some(v) if is_k8s(&v) => out.push(
                k8s_policy(source, v, warnings)
                    .map_err(|e| fail(format!("document {number}: {e}")))?,
            ),
            _ => out.extend(api::convert_v1(&doc).map_err(|e| fail(renumber(e, number)))?),
        }
    }
    Ok(out)
}

/// Whether a document is a Kubernetes NetworkPolicy.
fn is_k8s(v: &Value) -> bool {
    v["apiVersion"] == "networking.k8s.io/v1" && v["kind"] == "NetworkPolicy"
}

/// One Kubernetes NetworkPolicy as a defaulted, validated Calico resource.
fn k8s_policy(source: &str, value: Value, warnings: &mut Vec<String>) -> Result<Resource> {
    let mut np: K8sNetworkPolicy = serde_json::from_value(value)
        .map_err(|e| anyhow!("invalid Kubernetes NetworkPolicy: {e}"))?;
    if np.metadata.namespace.as_deref().is_none_or(str::is_empty) {
        np.metadata.namespace = Some(DEFAULT_NAMESPACE.to_owned());
    }
    let converted = policy::convert_k8s_network_policy(&np)?;
    let ns = np
        .metadata
        .namespace
        .as_deref()
        .unwrap_or(DEFAULT_NAMESPACE);
    for dropped in &converted.dropped_rules {
        warnings.push(format!(
            "Warning: {source}: NetworkPolicy {ns}/{}: dropped rule {dropped}",
            np.metadata.name
        ));
    }
    let mut resource = Resource::NetworkPolicy(converted.policy);
    resource.apply_defaults();
    resource.validate()?;
    Ok(resource)
}

/// A v1 conversion error from a lone document, numbered as in the whole input.
fn renumber(e: api::Error, number: usize) -> String {
    match e {
        api::Error::Decode { path, message, .. } => api::Error::Decode {
            document: number,
            path,
            message,
        }
        .to_string(),
        other => other.to_string(),
    }
}

/// Splits YAML at `---` marker lines (text after a marker belongs to the next document);
/// a marker before any content opens no document.
fn split_documents(text: &str) -> Vec<String> {
    let mut docs = vec![String::new()];
    let mut seen_content = false;
    for line in text.lines() {
        let marker = line
            .strip_prefix("---")
            .filter(|rest| rest.is_empty() || rest.starts_with([' ', '\t']));
        match marker {
            Some(rest) => {
                if seen_content {
                    docs.push(String::new());
                }
                seen_content = true;
                push_line(&mut docs, rest.trim());
            }
            None => {
                let l = line.trim();
                seen_content |= !l.is_empty() && !l.starts_with('#');
                push_line(&mut docs, line);
            }
        }
    }
    docs
}

fn push_line(docs: &mut [String], line: &str) {
    if let Some(doc) = docs.last_mut() {
        doc.push_str(line);
        doc.push('\n');
    }
}
