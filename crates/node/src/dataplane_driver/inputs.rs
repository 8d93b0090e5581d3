//! Pure bookkeeping of what the dataplane needs beyond the policy engine: IP pools, IPAM
//! blocks affine to this node, the interfaces and addresses of local endpoints, and the
//! FelixConfiguration settings the renderer uses. Also the mapping of a [`SyncUpdate`] to the
//! policy engine's [`policy::Update`].

use std::collections::{BTreeMap, BTreeSet};

use api::{EndpointToHostAction, Kind, Resource};
use ipnet::IpNet;
use policy::{EndpointKey, Update};

use crate::syncer::{SyncKey, SyncUpdate, SyncValue};

/// An IP pool as the dataplane sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pool {
    /// Pool CIDR.
    pub cidr: IpNet,
    /// Masquerade traffic leaving every pool.
    pub nat_outgoing: bool,
}

/// A local endpoint's host-side interface and addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalInterface {
    /// Host-side interface (`caliXXXX` for workloads, e.g. `eth0` for host endpoints).
    pub interface: String,
    /// Addresses (workloads: routed to the interface).
    pub nets: Vec<IpNet>,
}

/// Everything the dataplane needs that the policy engine does not keep.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeInputs {
    /// IP pools by name.
    pub pools: BTreeMap<String, Pool>,
    /// IPAM blocks affine to this node.
    pub affine_blocks: BTreeSet<IpNet>,
    /// Local workload endpoints.
    pub workloads: BTreeMap<EndpointKey, LocalInterface>,
    /// Local host endpoints.
    pub host_endpoints: BTreeMap<EndpointKey, LocalInterface>,
    /// `defaultEndpointToHostAction` from FelixConfiguration `node.<name>`, then `default`.
    pub endpoint_to_host: BTreeMap<String, EndpointToHostAction>,
}

impl NodeInputs {
    /// The effective `defaultEndpointToHostAction` for `node`.
    pub fn endpoint_to_host_action(&self, node: &str) -> Option<EndpointToHostAction> {
        self.endpoint_to_host
            .get(&format!("node.{node}"))
            .or_else(|| self.endpoint_to_host.get("default"))
            .copied()
    }

    /// Records what a put or delete means for the dataplane, once the policy engine has
    /// accepted it. Returns true when something the dataplane uses changed.
    pub fn apply(&mut self, node: &str, update: &SyncUpdate) -> bool {
        match update {
            SyncUpdate::Put {
                value: SyncValue::Resource(resource),
                ..
            } => self.put(node, resource),
            SyncUpdate::Put {
                key: SyncKey::IpamBlock { cidr },
                value: SyncValue::IpamBlock(block),
                ..
            } => {
                let affine = !block.deleted
                    && block.affinity.as_deref() == Some(format!("host:{node}").as_str());
                if affine {
                    self.affine_blocks.insert(*cidr)
                } else {
                    self.affine_blocks.remove(cidr)
                }
            }
            SyncUpdate::Put { .. } | SyncUpdate::Status { .. } => false,
            SyncUpdate::Delete {
                key: SyncKey::IpamBlock { cidr },
                ..
            } => self.affine_blocks.remove(cidr),
            SyncUpdate::Delete {
                key:
                    SyncKey::Resource {
                        kind,
                        namespace,
                        name,
                    },
                ..
            } => self.delete(*kind, namespace.as_deref(), name),
        }
    }

    fn put(&mut self, node: &str, resource: &Resource) -> bool {
        match resource {
            Resource::WorkloadEndpoint(w) => {
                let key = EndpointKey::workload(
                    w.metadata.namespace.clone().unwrap_or_default(),
                    &w.metadata.name,
                );
                let local = (w.spec.node == node && !w.spec.interface_name.is_empty()).then(|| {
                    LocalInterface {
                        interface: w.spec.interface_name.clone(),
                        nets: parse_nets(&w.spec.ip_networks),
                    }
                });
                replace(&mut self.workloads, key, local)
            }
            Resource::HostEndpoint(h) => {
                let key = EndpointKey::host(&h.metadata.name);
                let iface = &h.spec.interface_name;
                let local = (h.spec.node == node && !iface.is_empty() && iface != "*").then(|| {
                    LocalInterface {
                        interface: iface.clone(),
                        nets: parse_nets(&h.spec.expected_ips),
                    }
                });
                replace(&mut self.host_endpoints, key, local)
            }
            Resource::IPPool(p) => {
                let pool = p.spec.cidr.parse().ok().map(|cidr: IpNet| Pool {
                    cidr: cidr.trunc(),
                    nat_outgoing: p.spec.nat_outgoing,
                });
                replace(&mut self.pools, p.metadata.name.clone(), pool)
            }
            Resource::FelixConfiguration(f) => replace(
                &mut self.endpoint_to_host,
                f.metadata.name.clone(),
                f.spec.default_endpoint_to_host_action,
            ),
            _ => false,
        }
    }

    fn delete(&mut self, kind: Kind, namespace: Option<&str>, name: &str) -> bool {
        match kind {
            Kind::WorkloadEndpoint => {
                let key = EndpointKey::workload(namespace.unwrap_or_default(), name);
                self.workloads.remove(&key).is_some()
            }
            Kind::HostEndpoint => self
                .host_endpoints
                .remove(&EndpointKey::host(name))
                .is_some(),
            Kind::IPPool => self.pools.remove(name).is_some(),
            Kind::FelixConfiguration => self.endpoint_to_host.remove(name).is_some(),
            _ => false,
        }
    }
}

/// Sets or clears `map[key]`; true when that changed the map.
fn replace<K: Ord, V: PartialEq>(map: &mut BTreeMap<K, V>, key: K, value: Option<V>) -> bool {
    match value {
        Some(v) => {
            let changed = map.get(&key) != Some(&v);
            if changed {
                map.insert(key, v);
            }
            changed
        }
        None => map.remove(&key).is_some(),
    }
}

/// Addresses of an endpoint; entries that do not parse were already refused by the engine.
fn parse_nets(texts: &[String]) -> Vec<IpNet> {
    texts
        .iter()
        .filter_map(|t| {
            t.parse::<IpNet>()
                .ok()
                .or_else(|| t.parse::<std::net::IpAddr>().ok().map(IpNet::from))
        })
        .collect()
}

/// The policy engine's view of a syncer update, if the engine cares about its kind.
pub fn policy_update(update: &SyncUpdate) -> Option<Update> {
    match update {
        SyncUpdate::Put {
            value: SyncValue::Resource(resource),
            ..
        } if affects_policy(resource.kind()) => Some(Update::Put(resource.as_ref().clone())),
        SyncUpdate::Delete {
            key:
                SyncKey::Resource {
                    kind,
                    namespace,
                    name,
                },
            ..
        } if affects_policy(*kind) => Some(Update::Delete {
            kind: *kind,
            namespace: namespace.clone(),
            name: name.clone(),
        }),
        _ => None,
    }
}

/// Kinds the policy engine consumes.
fn affects_policy(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::WorkloadEndpoint
            | Kind::HostEndpoint
            | Kind::Profile
            | Kind::NetworkPolicy
            | Kind::GlobalNetworkPolicy
            | Kind::Tier
            | Kind::NetworkSet
            | Kind::GlobalNetworkSet
    )
}
