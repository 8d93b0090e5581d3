//! Resolving the two ends of a trace given on a command line: an endpoint
//! (`namespace/name` for a workload, `hep:name` for a host endpoint), an IP
//! address, or a label set (`k=v,k2=v2`: the first endpoint, by name, whose
//! effective labels include them all).

use std::net::IpAddr;

use crate::error::Error;
use crate::keys::EndpointKey;
use crate::model::Model;
use crate::selector_index::LabelMap;

/// One end of a trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Peer {
    /// A known endpoint.
    Endpoint(EndpointKey),
    /// An address (it may belong to an endpoint, or to nothing Calico knows).
    Ip(IpAddr),
    /// The first endpoint carrying all these labels.
    Labels(LabelMap),
}

impl Peer {
    /// Parses `10.0.0.1`, `ns/name`, `hep:name` or `k=v,k2=v2`.
    pub fn parse(text: &str) -> Result<Peer, Error> {
        let text = text.trim();
        if let Ok(ip) = text.parse::<IpAddr>() {
            return Ok(Peer::Ip(ip));
        }
        if text.contains('=') {
            let mut labels = LabelMap::new();
            for pair in text.split(',') {
                let (k, v) = pair.split_once('=').ok_or_else(|| {
                    Error::Unresolved(format!("\"{text}\": \"{pair}\" is not key=value"))
                })?;
                labels.insert(k.trim().to_owned(), v.trim().to_owned());
            }
            return Ok(Peer::Labels(labels));
        }
        if let Some(name) = text.strip_prefix("hep:") {
            return Ok(Peer::Endpoint(EndpointKey::host(name)));
        }
        match text.split_once('/') {
            Some((ns, name)) if !ns.is_empty() && !name.is_empty() => {
                Ok(Peer::Endpoint(EndpointKey::workload(ns, name)))
            }
            _ => Err(Error::Unresolved(format!(
                "\"{text}\": expected an IP, namespace/name, hep:name or key=value labels"
            ))),
        }
    }

    /// The address to use for this end of the packet.
    pub fn resolve(&self, model: &Model) -> Result<IpAddr, Error> {
        let first_ip = |key: &EndpointKey| {
            model
                .endpoint_addresses(key)
                .first()
                .map(|n| n.addr())
                .ok_or_else(|| Error::Unresolved(format!("{key}: not found or has no address")))
        };
        match self {
            Peer::Ip(ip) => Ok(*ip),
            Peer::Endpoint(key) => first_ip(key),
            Peer::Labels(want) => {
                let found = model.all_endpoints().into_iter().find(|key| {
                    model
                        .effective_labels(key)
                        .is_some_and(|have| want.iter().all(|(k, v)| have.get(k) == Some(v)))
                });
                match found {
                    Some(key) => first_ip(&key),
                    None => Err(Error::Unresolved(format!(
                        "no endpoint has labels {want:?}"
                    ))),
                }
            }
        }
    }
}
