//! Endpoints and network sets: effective labels, their place in the
//! selector index and IP sets, and the per-endpoint policy sets.

use super::*;

impl Model {
    pub(super) fn is_local_node(&self, node: &str) -> bool {
        self.local_node.as_deref().is_none_or(|n| n == node)
    }

    pub(super) fn put_workload(&mut self, w: WorkloadEndpoint) -> Result<(), Error> {
        let ns = require_namespace(Kind::WorkloadEndpoint, &w.metadata)?;
        let name = format!("{ns}/{}", w.metadata.name);
        let o = origin(Kind::WorkloadEndpoint, &name);
        let nets = parse_nets(o, "spec.ipNetworks", &w.spec.ip_networks)?;
        let ports = w
            .spec
            .ports
            .iter()
            .filter(|p| !p.name.is_empty())
            .map(|p| PortDecl {
                name: p.name.clone(),
                protocol: p.protocol.number(),
                port: p.port,
            })
            .collect();
        let item = Item {
            key: ItemKey::Endpoint(EndpointKey::workload(ns, w.metadata.name.clone())),
            own: workload_labels(&w),
            profiles: w.spec.profiles.clone(),
            nets,
            ports,
            local: self.is_local_node(&w.spec.node),
        };
        self.set_item(item);
        Ok(())
    }

    pub(super) fn put_host(&mut self, h: HostEndpoint) -> Result<(), Error> {
        let name = h.metadata.name.clone();
        let o = origin(Kind::HostEndpoint, &name);
        let nets = parse_nets(o, "spec.expectedIPs", &h.spec.expected_ips)?;
        let ports = h
            .spec
            .ports
            .iter()
            .map(|p| PortDecl {
                name: p.name.clone(),
                protocol: p.protocol.number(),
                port: p.port,
            })
            .collect();
        let item = Item {
            key: ItemKey::Endpoint(EndpointKey::host(name)),
            own: h.metadata.labels.clone(),
            profiles: h.spec.profiles.clone(),
            nets,
            ports,
            local: self.is_local_node(&h.spec.node),
        };
        self.set_item(item);
        Ok(())
    }

    pub(super) fn set_item(&mut self, item: Item) {
        let (id, old) = match self.item_ids.get(&item.key) {
            Some(&id) => (id, self.items[id as usize].take()),
            None => {
                let id = match self.free_items.pop() {
                    Some(id) => id,
                    None => {
                        self.items.push(None);
                        (self.items.len() - 1) as ItemId
                    }
                };
                self.item_ids.insert(item.key.clone(), id);
                (id, None)
            }
        };
        self.apply_item(id, old, item);
    }

    /// Re-derives an item's labels (after one of its profiles changed).
    pub(super) fn refresh_item(&mut self, id: ItemId) {
        if let Some(item) = self.items[id as usize].take() {
            let copy = item.clone();
            self.apply_item(id, Some(item), copy);
        }
    }

    pub(super) fn apply_item(&mut self, id: ItemId, old: Option<Item>, new: Item) {
        let labels = effective_labels(
            &new.own,
            new.profiles
                .iter()
                .map(|p| self.profiles.get(p).map(|s| &s.labels)),
        );
        let contributions_changed = old
            .as_ref()
            .is_none_or(|o| o.nets != new.nets || o.ports != new.ports);
        if contributions_changed {
            if let Some(o) = &old {
                self.retract_contributions(id, o);
            }
        }
        let changes = self.index.upsert_item(id, labels);
        if contributions_changed {
            for sel in self.index.selectors_of(id).collect::<Vec<_>>() {
                for key in self.ipsets.keys_for(sel) {
                    self.ipsets.add_members(&key, item_members(&new, &key));
                }
            }
        } else {
            for (sel, joined) in changes {
                for key in self.ipsets.keys_for(sel) {
                    let members = item_members(&new, &key);
                    if joined {
                        self.ipsets.add_members(&key, members);
                    } else {
                        self.ipsets.remove_members(&key, members);
                    }
                }
            }
        }
        if let Some(o) = &old {
            self.forget_links(id, o);
        }
        for p in &new.profiles {
            self.profile_users.entry(p.clone()).or_default().insert(id);
        }
        if matches!(new.key, ItemKey::Endpoint(_)) {
            for net in host_addresses(&new.nets) {
                self.ip_owners.entry(net).or_default().insert(id);
            }
        }
        if let ItemKey::Endpoint(ek) = &new.key {
            if new.local {
                let set = self.policy_set_for(id);
                let prev = self.endpoint_policies.insert(id, set);
                let same_profiles = old.as_ref().is_some_and(|o| o.profiles == new.profiles);
                if prev.as_ref() != self.endpoint_policies.get(&id) || !same_profiles {
                    self.changed.insert(id);
                }
            } else if self.endpoint_policies.remove(&id).is_some() {
                self.changed.remove(&id);
                self.gone.insert(ek.clone());
            }
        }
        self.items[id as usize] = Some(new);
    }

    pub(super) fn remove_item(&mut self, key: &ItemKey) {
        let Some(id) = self.item_ids.remove(key) else {
            return;
        };
        let Some(item) = self.items[id as usize].take() else {
            return;
        };
        self.retract_contributions(id, &item);
        self.index.remove_item(id);
        self.forget_links(id, &item);
        if self.endpoint_policies.remove(&id).is_some() {
            self.changed.remove(&id);
            if let ItemKey::Endpoint(ek) = &item.key {
                self.gone.insert(ek.clone());
            }
        }
        self.free_items.push(id);
    }

    /// Drops the profile-user and IP-owner links of an item's old state.
    pub(super) fn forget_links(&mut self, id: ItemId, item: &Item) {
        for p in &item.profiles {
            if let Some(users) = self.profile_users.get_mut(p) {
                users.remove(&id);
                if users.is_empty() {
                    self.profile_users.remove(p);
                }
            }
        }
        for ip in host_addresses(&item.nets) {
            if let Some(owners) = self.ip_owners.get_mut(&ip) {
                owners.remove(&id);
                if owners.is_empty() {
                    self.ip_owners.remove(&ip);
                }
            }
        }
    }

    pub(super) fn retract_contributions(&mut self, id: ItemId, item: &Item) {
        for sel in self.index.selectors_of(id).collect::<Vec<_>>() {
            for key in self.ipsets.keys_for(sel) {
                self.ipsets.remove_members(&key, item_members(item, &key));
            }
        }
    }

    pub(super) fn policy_set_for(&self, id: ItemId) -> BTreeSet<PolicyId> {
        self.index
            .selectors_of(id)
            .filter_map(|s| self.sel_policies.get(&s))
            .flatten()
            .cloned()
            .collect()
    }
}

/// The single addresses among `nets` (endpoint addresses are /32 or /128).
fn host_addresses(nets: &[IpNet]) -> impl Iterator<Item = IpAddr> + '_ {
    nets.iter()
        .filter(|n| n.prefix_len() == n.max_prefix_len())
        .map(IpNet::addr)
}

/// What an item contributes to a set: its CIDRs, or for a named-port set
/// its addresses paired with the port number it gives that name.
pub(super) fn item_members(item: &Item, key: &SetKey) -> Vec<Member> {
    match &key.named {
        None => item
            .nets
            .iter()
            .map(|n| Member {
                net: *n,
                port: None,
            })
            .collect(),
        Some((protocol, name)) => item
            .ports
            .iter()
            .filter(|p| p.protocol == *protocol && p.name == *name)
            .flat_map(|p| {
                item.nets.iter().map(move |n| Member {
                    net: *n,
                    port: Some(p.port),
                })
            })
            .collect(),
    }
}
