//! What the model answers: per-endpoint ordered policies, labels, addresses,
//! IP sets, and the drained change queues.

use super::*;

impl Model {
    /// Local endpoints, sorted.
    pub fn local_endpoints(&self) -> Vec<EndpointKey> {
        let mut out: Vec<EndpointKey> = self
            .endpoint_policies
            .keys()
            .filter_map(|id| self.endpoint_key(*id).cloned())
            .collect();
        out.sort();
        out
    }

    /// Whether an endpoint is known and local.
    pub fn is_local(&self, key: &EndpointKey) -> bool {
        self.endpoint_id(key)
            .is_some_and(|id| self.endpoint_policies.contains_key(&id))
    }

    /// An endpoint's effective labels (own, derived and inherited).
    pub fn effective_labels(&self, key: &EndpointKey) -> Option<&LabelMap> {
        self.endpoint_id(key).and_then(|id| self.index.labels(id))
    }

    /// An endpoint's addresses.
    pub fn endpoint_addresses(&self, key: &EndpointKey) -> Vec<IpNet> {
        self.endpoint_id(key)
            .and_then(|id| self.items[id as usize].as_ref())
            .map(|item| item.nets.clone())
            .unwrap_or_default()
    }

    /// Every known endpoint (local or not), sorted.
    pub fn all_endpoints(&self) -> Vec<EndpointKey> {
        let mut out: Vec<EndpointKey> = self
            .item_ids
            .keys()
            .filter_map(|k| match k {
                ItemKey::Endpoint(ek) => Some(ek.clone()),
                _ => None,
            })
            .collect();
        out.sort();
        out
    }

    /// The endpoint owning an address (the first by key if several do).
    pub fn endpoint_for_ip(&self, ip: IpAddr) -> Option<&EndpointKey> {
        self.ip_owners
            .get(&ip)?
            .iter()
            .filter_map(|id| self.endpoint_key(*id))
            .min()
    }

    /// For a local endpoint: per direction the ordered tiers and policies
    /// that apply, then its profiles.
    pub fn endpoint_policies(&self, key: &EndpointKey) -> Option<EndpointPolicies> {
        let id = self.endpoint_id(key)?;
        let set = self.endpoint_policies.get(&id)?;
        let item = self.items[id as usize].as_ref()?;
        let for_direction = |direction: Direction| {
            let list = set
                .iter()
                .filter_map(|pid| {
                    let k = self.policy_keys.get(*pid as usize)?.as_ref()?;
                    let p = self.policies.get(k)?;
                    p.rules(direction)?;
                    let tier = self.tiers.get(&p.tier)?;
                    Some(Applicable {
                        tier: &p.tier,
                        tier_order: tier.order,
                        default_action: tier.default_action,
                        order: p.order,
                        key: k,
                    })
                })
                .collect();
            group(list)
        };
        Some(EndpointPolicies {
            ingress: for_direction(Direction::Ingress),
            egress: for_direction(Direction::Egress),
            profiles: item.profiles.clone(),
        })
    }

    /// Every IP set in use with its current members.
    pub fn ip_sets(&self) -> BTreeMap<IpSetId, BTreeSet<Member>> {
        self.ipsets.snapshot()
    }

    /// Drains the IP-set changes since the last call (coalesced).
    pub fn take_deltas(&mut self) -> Vec<IpSetDelta> {
        self.ipsets.take_deltas()
    }

    /// Drains the endpoints whose policy lists (tiers, policies, order,
    /// profiles) changed, appeared or went away since the last call.
    /// Each endpoint appears once, in no particular order.
    pub fn take_endpoint_changes(&mut self) -> Vec<EndpointKey> {
        let gone = std::mem::take(&mut self.gone);
        let mut out = Vec::with_capacity(gone.len() + self.changed.len());
        for id in std::mem::take(&mut self.changed) {
            if let Some(key) = self.endpoint_key(id) {
                if !gone.contains(key) {
                    out.push(key.clone());
                }
            }
        }
        out.extend(gone);
        out
    }

    pub(crate) fn policy(&self, key: &PolicyKey) -> Option<&PolicyState> {
        self.policies.get(key)
    }

    pub(crate) fn profile(&self, name: &str) -> Option<&ProfileState> {
        self.profiles.get(name)
    }

    pub(crate) fn sets(&self) -> &IpSets {
        &self.ipsets
    }

    fn endpoint_id(&self, key: &EndpointKey) -> Option<ItemId> {
        self.item_ids.get(&ItemKey::Endpoint(key.clone())).copied()
    }

    fn endpoint_key(&self, id: ItemId) -> Option<&EndpointKey> {
        match self.items.get(id as usize)? {
            Some(Item {
                key: ItemKey::Endpoint(ek),
                ..
            }) => Some(ek),
            _ => None,
        }
    }
}
