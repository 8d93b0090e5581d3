//! The two ends of `calicoctl policy trace`: `--from`/`--to` as a workload endpoint
//! (`namespace/name`, `namespace/pod`, or a bare name when only one endpoint has it), a host
//! endpoint (`hep:name`), an IP address, or a label set (`k=v,k2=v2`, every endpoint carrying
//! them; the first by name is traced and the others are named).

use std::net::IpAddr;

use anyhow::{anyhow, Result};
use api::WorkloadEndpoint;
use policy::{EndpointKey, Model, Peer};

/// One resolved end of the traced packet.
pub struct End {
    /// The endpoint traced, when the end is (or the address belongs to) one.
    pub endpoint: Option<EndpointKey>,
    /// Further endpoints a label set matched.
    pub others: Vec<EndpointKey>,
    /// Candidate addresses, in the endpoint's order.
    pub addresses: Vec<IpAddr>,
}

/// Resolves `text` against the model; `workloads` supplies pod and workload names.
pub fn resolve(text: &str, workloads: &[WorkloadEndpoint], model: &Model) -> Result<End> {
    let text = text.trim();
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok(End {
            endpoint: model.endpoint_for_ip(ip).cloned(),
            others: Vec::new(),
            addresses: vec![ip],
        });
    }
    if text.contains('=') {
        return by_labels(text, model);
    }
    if let Some(name) = text.strip_prefix("hep:") {
        return endpoint(model, EndpointKey::host(name));
    }
    let found = match text.split_once('/') {
        Some((ns, name)) => {
            let key = EndpointKey::workload(ns, name);
            if model.effective_labels(&key).is_some() {
                return endpoint(model, key);
            }
            named(workloads, name, Some(ns))
        }
        None => named(workloads, text, None),
    };
    match found.as_slice() {
        [one] => endpoint(model, one.clone()),
        [] => Err(anyhow!(
            "workload endpoint \"{text}\" not found (give namespace/name, hep:name, an IP or k=v labels)"
        )),
        many => Err(anyhow!(
            "\"{text}\" is ambiguous: it names {}; give namespace/name",
            list(many)
        )),
    }
}

/// Picks a source and destination address of the same IP family (IPv4 first when both
/// ends have both).
pub fn addresses(from: &End, to: &End) -> Result<(IpAddr, IpAddr)> {
    for want_v4 in [true, false] {
        let pick = |end: &End| {
            end.addresses
                .iter()
                .copied()
                .find(|a| a.is_ipv4() == want_v4)
        };
        if let (Some(src), Some(dst)) = (pick(from), pick(to)) {
            return Ok((src, dst));
        }
    }
    Err(anyhow!(
        "--from and --to have no address of the same IP family"
    ))
}

impl End {
    /// One line for the trace header: the endpoint and the address used.
    pub fn describe(&self, address: IpAddr) -> String {
        let mut out = match &self.endpoint {
            Some(key) => format!("{key} {address}"),
            None => format!("{address} (not a Calico endpoint)"),
        };
        if !self.others.is_empty() {
            out.push_str(&format!("; the labels also match {}", list(&self.others)));
        }
        out
    }
}

/// Workload endpoints whose name, pod or workload is `name` (in `namespace` if given).
fn named(workloads: &[WorkloadEndpoint], name: &str, namespace: Option<&str>) -> Vec<EndpointKey> {
    let mut keys: Vec<EndpointKey> = workloads
        .iter()
        .filter(|w| namespace.is_none_or(|ns| w.metadata.namespace.as_deref() == Some(ns)))
        .filter(|w| w.metadata.name == name || w.spec.pod == name || w.spec.workload == name)
        .map(|w| {
            let ns = w.metadata.namespace.clone().unwrap_or_default();
            EndpointKey::workload(ns, w.metadata.name.clone())
        })
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// Every endpoint carrying all the labels: the first is traced.
fn by_labels(text: &str, model: &Model) -> Result<End> {
    let Peer::Labels(want) = Peer::parse(text)? else {
        return Err(anyhow!("\"{text}\" is not a k=v,k2=v2 label set"));
    };
    let mut matched = model.all_endpoints().into_iter().filter(|key| {
        model
            .effective_labels(key)
            .is_some_and(|have| want.iter().all(|(k, v)| have.get(k) == Some(v)))
    });
    let first = matched
        .next()
        .ok_or_else(|| anyhow!("no endpoint has the labels {text}"))?;
    let mut end = endpoint(model, first)?;
    end.others = matched.collect();
    Ok(end)
}

/// A known endpoint and its addresses.
fn endpoint(model: &Model, key: EndpointKey) -> Result<End> {
    if model.effective_labels(&key).is_none() {
        return Err(anyhow!("{key} not found"));
    }
    let addresses: Vec<IpAddr> = model
        .endpoint_addresses(&key)
        .iter()
        .map(|net| net.addr())
        .collect();
    if addresses.is_empty() {
        return Err(anyhow!("{key} has no IP address to trace"));
    }
    Ok(End {
        endpoint: Some(key),
        others: Vec::new(),
        addresses,
    })
}

/// Endpoint keys, comma separated.
fn list(keys: &[EndpointKey]) -> String {
    keys.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
