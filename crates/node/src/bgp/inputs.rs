//! The slice of the datastore the BGP part reads, folded from syncer updates: Nodes, BGPPeers,
//! BGPFilters, BGPConfigurations, IPPools and IPAM blocks. Pure: no I/O, updated only by
//! [`BgpInputs::apply`].

use std::collections::BTreeMap;
use std::net::IpAddr;

use api::{BGPConfigurationSpec, BGPFilterSpec, BGPPeer, IPPoolSpec, Kind, Node, Resource};
use ipam::AllocationBlock;
use ipnet::IpNet;

use crate::syncer::{SyncKey, SyncUpdate, SyncValue};

/// Everything peer and export computation depends on.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BgpInputs {
    /// Node resources by name.
    pub nodes: BTreeMap<String, Node>,
    /// BGPPeer resources by name.
    pub peers: BTreeMap<String, BGPPeer>,
    /// BGPFilter specs by name.
    pub filters: BTreeMap<String, BGPFilterSpec>,
    /// BGPConfiguration specs by name (`default`, `node.<name>`).
    pub configs: BTreeMap<String, BGPConfigurationSpec>,
    /// IPPool specs by name.
    pub pools: BTreeMap<String, IPPoolSpec>,
    /// IPAM blocks by CIDR (soft-deleted blocks are left out).
    pub blocks: BTreeMap<IpNet, AllocationBlock>,
}

impl BgpInputs {
    /// Folds one syncer update in; returns whether anything BGP reads changed.
    pub fn apply(&mut self, update: &SyncUpdate) -> bool {
        match update {
            SyncUpdate::Put { key, value, .. } => match (key, value) {
                (SyncKey::Resource { name, .. }, SyncValue::Resource(r)) => self.put(name, r),
                (SyncKey::IpamBlock { cidr }, SyncValue::IpamBlock(b)) => {
                    if b.deleted {
                        return self.blocks.remove(cidr).is_some();
                    }
                    self.blocks.insert(*cidr, (**b).clone()).as_ref() != Some(b)
                }
                _ => false,
            },
            SyncUpdate::Delete { key, .. } => match key {
                SyncKey::Resource { kind, name, .. } => match kind {
                    Kind::Node => self.nodes.remove(name).is_some(),
                    Kind::BGPPeer => self.peers.remove(name).is_some(),
                    Kind::BGPFilter => self.filters.remove(name).is_some(),
                    Kind::BGPConfiguration => self.configs.remove(name).is_some(),
                    Kind::IPPool => self.pools.remove(name).is_some(),
                    _ => false,
                },
                SyncKey::IpamBlock { cidr } => self.blocks.remove(cidr).is_some(),
            },
            SyncUpdate::Status { .. } => false,
        }
    }

    fn put(&mut self, name: &str, resource: &Resource) -> bool {
        fn set<T: PartialEq>(map: &mut BTreeMap<String, T>, name: &str, value: T) -> bool {
            if map.get(name) == Some(&value) {
                return false;
            }
            map.insert(name.to_string(), value);
            true
        }
        match resource {
            Resource::Node(n) => {
                // Only what BGP reads: resourceVersion bumps alone are not changes.
                let mut n = n.clone();
                n.metadata.resource_version = None;
                set(&mut self.nodes, name, n)
            }
            Resource::BGPPeer(p) => {
                let mut p = p.clone();
                p.metadata.resource_version = None;
                set(&mut self.peers, name, p)
            }
            Resource::BGPFilter(f) => set(&mut self.filters, name, f.spec.clone()),
            Resource::BGPConfiguration(c) => set(&mut self.configs, name, c.spec.clone()),
            Resource::IPPool(p) => set(&mut self.pools, name, p.spec.clone()),
            _ => false,
        }
    }

    /// The cluster-wide BGPConfiguration `default`, if any.
    pub fn default_config(&self) -> Option<&BGPConfigurationSpec> {
        self.configs.get("default")
    }

    /// The per-node BGPConfiguration `node.<name>`, if any.
    pub fn node_config(&self, node: &str) -> Option<&BGPConfigurationSpec> {
        self.configs.get(&format!("node.{node}"))
    }

    /// The pools as parsed CIDRs with their spec (unparseable CIDRs skipped).
    pub fn pool_nets(&self) -> impl Iterator<Item = (IpNet, &IPPoolSpec)> {
        self.pools
            .values()
            .filter_map(|p| p.cidr.parse::<IpNet>().ok().map(|n| (n.trunc(), p)))
    }
}

/// A node's BGP address of one family (`spec.bgp.ipv4Address` without its prefix length).
pub fn node_ip(node: &Node, v6: bool) -> Option<IpAddr> {
    let bgp = node.spec.bgp.as_ref()?;
    let text = if v6 {
        &bgp.ipv6_address
    } else {
        &bgp.ipv4_address
    };
    let addr = text.split('/').next()?;
    addr.parse::<IpAddr>()
        .ok()
        .filter(|a| a.is_ipv6() == v6 && !a.is_unspecified())
}

#[cfg(test)]
mod tests {
    use api::{IPPool, NodeBgpSpec, ObjectMeta};

    use super::*;

    fn node(name: &str, v4: &str) -> Resource {
        Resource::Node(Node {
            metadata: ObjectMeta::named(name),
            spec: api::NodeSpec {
                bgp: Some(NodeBgpSpec {
                    ipv4_address: v4.into(),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        })
    }

    fn put(kind: Kind, name: &str, r: Resource, revision: i64) -> SyncUpdate {
        SyncUpdate::Put {
            key: SyncKey::Resource {
                kind,
                namespace: None,
                name: name.into(),
            },
            revision,
            value: SyncValue::Resource(Box::new(r)),
        }
    }

    #[test]
    fn folds_puts_and_deletes_and_ignores_revision_only_changes() {
        let mut i = BgpInputs::default();
        assert!(i.apply(&put(Kind::Node, "a", node("a", "10.0.0.1/24"), 1)));
        let mut same = node("a", "10.0.0.1/24");
        if let Resource::Node(n) = &mut same {
            n.metadata.resource_version = Some("7".into());
        }
        assert!(!i.apply(&put(Kind::Node, "a", same, 7)));
        assert!(i.apply(&put(Kind::Node, "a", node("a", "10.0.0.2/24"), 8)));
        assert_eq!(
            node_ip(&i.nodes["a"], false),
            Some("10.0.0.2".parse().unwrap())
        );
        assert_eq!(node_ip(&i.nodes["a"], true), None);
        let pool = Resource::IPPool(IPPool {
            metadata: ObjectMeta::named("p"),
            spec: IPPoolSpec {
                cidr: "10.65.0.0/16".into(),
                ..Default::default()
            },
            ..Default::default()
        });
        assert!(i.apply(&put(Kind::IPPool, "p", pool, 9)));
        assert_eq!(i.pool_nets().count(), 1);
        let cidr: IpNet = "10.65.0.0/26".parse().unwrap();
        let block = AllocationBlock::new(cidr, Some("a"));
        let block_put = SyncUpdate::Put {
            key: SyncKey::IpamBlock { cidr },
            revision: 10,
            value: SyncValue::IpamBlock(Box::new(block.clone())),
        };
        assert!(i.apply(&block_put));
        assert!(!i.apply(&block_put));
        let mut deleted = block;
        deleted.deleted = true;
        assert!(i.apply(&SyncUpdate::Put {
            key: SyncKey::IpamBlock { cidr },
            revision: 11,
            value: SyncValue::IpamBlock(Box::new(deleted)),
        }));
        assert!(i.blocks.is_empty());
        assert!(i.apply(&SyncUpdate::Delete {
            key: SyncKey::Resource {
                kind: Kind::Node,
                namespace: None,
                name: "a".into()
            },
            revision: 12
        }));
        assert!(!i.apply(&SyncUpdate::Delete {
            key: SyncKey::IpamBlock { cidr },
            revision: 13
        }));
        assert!(i.nodes.is_empty());
    }
}
