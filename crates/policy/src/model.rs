//! The incremental model (Calico's "calculation graph"): fed datastore
//! updates, it keeps every item's effective labels, which policies select
//! each local endpoint, and the members of every rule IP set, and queues what
//! changed for the dataplane. Every update is compiled and checked before
//! anything is touched, so a rejected update leaves the model as it was.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

use api::{
    Action, GlobalNetworkPolicy, HostEndpoint, Kind, NetworkPolicy, PolicyType, Profile, Resource,
    Rule, Tier, WorkloadEndpoint, BUILTIN_TIERS, DEFAULT_TIER,
};
use ipnet::IpNet;
use selector::Selector;

use crate::compile::{compile_rules, parse_nets, CompiledEntity, CompiledRule};
use crate::error::Error;
use crate::id_hash::{IdMap, IdSet};
use crate::ipsets::{IpSetDelta, IpSetId, IpSets, Member, SetKey};
use crate::keys::{EndpointKey, ItemKey, PolicyKey};
use crate::labels::{effective_labels, network_set_labels, workload_labels};
use crate::ordering::{group, Applicable, Direction, EndpointPolicies};
use crate::rewrite::{policy_selector, Origin};
use crate::selector_index::{ItemId, LabelMap, SelId, SelectorIndex};
use crate::update::Update;

/// A named port an endpoint declares.
#[derive(Clone, Debug, PartialEq, Eq)]
struct PortDecl {
    name: String,
    protocol: u8,
    port: u16,
}

/// An endpoint or network set.
#[derive(Clone, Debug)]
struct Item {
    key: ItemKey,
    own: LabelMap,
    profiles: Vec<String>,
    nets: Vec<IpNet>,
    ports: Vec<PortDecl>,
    local: bool,
}

/// The IP sets one side of an installed rule uses.
#[derive(Clone, Debug, Default)]
pub(crate) struct EntitySets {
    pub(crate) selector: Option<SetKey>,
    pub(crate) not_selector: Option<SetKey>,
    pub(crate) named: Vec<SetKey>,
    pub(crate) not_named: Vec<SetKey>,
}

impl EntitySets {
    fn keys(&self) -> impl Iterator<Item = &SetKey> {
        self.selector
            .iter()
            .chain(self.not_selector.iter())
            .chain(self.named.iter())
            .chain(self.not_named.iter())
    }
}

/// A compiled rule with references to the IP sets it matches against.
#[derive(Clone, Debug)]
pub(crate) struct InstalledRule {
    pub(crate) rule: CompiledRule,
    pub(crate) src: EntitySets,
    pub(crate) dst: EntitySets,
}

/// A policy in the model.
pub(crate) struct PolicyState {
    pub(crate) tier: String,
    pub(crate) order: Option<f64>,
    sel: SelId,
    /// Rules per direction; `None` when `types` excludes the direction.
    pub(crate) ingress: Option<Vec<InstalledRule>>,
    pub(crate) egress: Option<Vec<InstalledRule>>,
    /// False for doNotTrack and preDNAT policies, which are not part of the
    /// normal per-endpoint chains.
    normal: bool,
}

impl PolicyState {
    /// The rules for a direction, if the policy applies to it.
    pub(crate) fn rules(&self, direction: Direction) -> Option<&[InstalledRule]> {
        match direction {
            Direction::Ingress => self.ingress.as_deref(),
            Direction::Egress => self.egress.as_deref(),
        }
    }
}

/// A profile in the model.
pub(crate) struct ProfileState {
    labels: LabelMap,
    pub(crate) ingress: Vec<InstalledRule>,
    pub(crate) egress: Vec<InstalledRule>,
}

/// A tier in the model.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct TierState {
    pub(crate) order: Option<f64>,
    pub(crate) default_action: Action,
}

/// The policy model. See the module comment and the crate's DESIGN.md.
pub struct Model {
    local_node: Option<String>,
    index: SelectorIndex,
    ipsets: IpSets,
    items: Vec<Option<Item>>,
    free_items: Vec<ItemId>,
    item_ids: HashMap<ItemKey, ItemId>,
    profile_users: HashMap<String, IdSet<ItemId>>,
    profiles: HashMap<String, ProfileState>,
    tiers: HashMap<String, TierState>,
    tier_members: HashMap<String, BTreeSet<PolicyKey>>,
    policies: HashMap<PolicyKey, PolicyState>,
    /// Dense ids of policies, so per-endpoint sets compare integers.
    policy_ids: HashMap<PolicyKey, PolicyId>,
    policy_keys: Vec<Option<PolicyKey>>,
    free_policy_ids: Vec<PolicyId>,
    sel_policies: IdMap<SelId, BTreeSet<PolicyId>>,
    endpoint_policies: IdMap<ItemId, BTreeSet<PolicyId>>,
    ip_owners: HashMap<IpAddr, BTreeSet<ItemId>>,
    /// Live endpoints whose lists changed (resolved to keys when taken).
    changed: IdSet<ItemId>,
    /// Endpoints removed (or no longer local) since the last take.
    gone: BTreeSet<EndpointKey>,
}

impl Model {
    /// A model for the agent on `node`: only endpoints on that node are
    /// local (get per-endpoint policy lists); all of them feed IP sets.
    pub fn for_node(node: impl Into<String>) -> Model {
        Model::with_local(Some(node.into()))
    }

    /// A model where every endpoint is local (for calicoctl-style traces).
    pub fn cluster_wide() -> Model {
        Model::with_local(None)
    }

    fn with_local(local_node: Option<String>) -> Model {
        let tiers = BUILTIN_TIERS
            .iter()
            .map(|(name, order, action)| {
                let state = TierState {
                    order: Some(*order),
                    default_action: *action,
                };
                (name.to_string(), state)
            })
            .collect();
        Model {
            local_node,
            index: SelectorIndex::default(),
            ipsets: IpSets::default(),
            items: Vec::new(),
            free_items: Vec::new(),
            item_ids: HashMap::new(),
            profile_users: HashMap::new(),
            profiles: HashMap::new(),
            tiers,
            tier_members: HashMap::new(),
            policies: HashMap::new(),
            policy_ids: HashMap::new(),
            policy_keys: Vec::new(),
            free_policy_ids: Vec::new(),
            sel_policies: IdMap::default(),
            endpoint_policies: IdMap::default(),
            ip_owners: HashMap::new(),
            changed: IdSet::default(),
            gone: BTreeSet::new(),
        }
    }

    /// Applies one datastore change. Kinds that do not affect policy are
    /// ignored. On error nothing changed.
    pub fn apply(&mut self, update: Update) -> Result<(), Error> {
        match update {
            Update::Put(mut resource) => {
                if !affects_policy(resource.kind()) {
                    return Ok(());
                }
                resource.apply_defaults();
                resource.validate()?;
                self.put(resource)
            }
            Update::Delete {
                kind,
                namespace,
                name,
            } => self.delete(kind, namespace, name),
        }
    }

    fn put(&mut self, resource: Resource) -> Result<(), Error> {
        match resource {
            Resource::WorkloadEndpoint(w) => self.put_workload(w),
            Resource::HostEndpoint(h) => self.put_host(h),
            Resource::NetworkSet(s) => {
                let ns = require_namespace(Kind::NetworkSet, &s.metadata)?;
                let name = format!("{ns}/{}", s.metadata.name);
                let nets = parse_nets(origin(Kind::NetworkSet, &name), "spec.nets", &s.spec.nets)?;
                let key = ItemKey::NetworkSet {
                    namespace: ns.clone(),
                    name: s.metadata.name.clone(),
                };
                let item = Item {
                    key,
                    own: network_set_labels(&s.metadata.labels, &ns),
                    profiles: vec![format!("kns.{ns}")],
                    nets,
                    ports: Vec::new(),
                    local: false,
                };
                self.set_item(item);
                Ok(())
            }
            Resource::GlobalNetworkSet(s) => {
                let name = &s.metadata.name;
                let nets = parse_nets(
                    origin(Kind::GlobalNetworkSet, name),
                    "spec.nets",
                    &s.spec.nets,
                )?;
                let item = Item {
                    key: ItemKey::GlobalNetworkSet { name: name.clone() },
                    own: s.metadata.labels.clone(),
                    profiles: Vec::new(),
                    nets,
                    ports: Vec::new(),
                    local: false,
                };
                self.set_item(item);
                Ok(())
            }
            Resource::Profile(p) => self.put_profile(p),
            Resource::Tier(t) => {
                self.put_tier(t);
                Ok(())
            }
            Resource::NetworkPolicy(p) => self.put_network_policy(p),
            Resource::GlobalNetworkPolicy(p) => self.put_global_policy(p),
            _ => Ok(()),
        }
    }

    fn delete(&mut self, kind: Kind, namespace: Option<String>, name: String) -> Result<(), Error> {
        let ns = || -> Result<String, Error> {
            namespace.clone().ok_or_else(|| Error::MissingNamespace {
                kind,
                name: name.clone(),
            })
        };
        match kind {
            Kind::WorkloadEndpoint => {
                let key = ItemKey::Endpoint(EndpointKey::workload(ns()?, name));
                self.remove_item(&key);
            }
            Kind::HostEndpoint => {
                self.remove_item(&ItemKey::Endpoint(EndpointKey::host(name)));
            }
            Kind::NetworkSet => {
                let key = ItemKey::NetworkSet {
                    namespace: ns()?,
                    name,
                };
                self.remove_item(&key);
            }
            Kind::GlobalNetworkSet => {
                self.remove_item(&ItemKey::GlobalNetworkSet { name });
            }
            Kind::Profile => self.delete_profile(&name),
            Kind::Tier => self.delete_tier(&name)?,
            Kind::NetworkPolicy => self.delete_policy(&PolicyKey::namespaced(ns()?, name)),
            Kind::GlobalNetworkPolicy => self.delete_policy(&PolicyKey::global(name)),
            _ => {}
        }
        Ok(())
    }

    // ----- endpoints and network sets -----

    fn is_local_node(&self, node: &str) -> bool {
        self.local_node.as_deref().is_none_or(|n| n == node)
    }

    fn put_workload(&mut self, w: WorkloadEndpoint) -> Result<(), Error> {
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

    fn put_host(&mut self, h: HostEndpoint) -> Result<(), Error> {
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

    fn set_item(&mut self, item: Item) {
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
    fn refresh_item(&mut self, id: ItemId) {
        if let Some(item) = self.items[id as usize].take() {
            let copy = item.clone();
            self.apply_item(id, Some(item), copy);
        }
    }

    fn apply_item(&mut self, id: ItemId, old: Option<Item>, new: Item) {
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

    fn remove_item(&mut self, key: &ItemKey) {
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
    fn forget_links(&mut self, id: ItemId, item: &Item) {
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

    fn retract_contributions(&mut self, id: ItemId, item: &Item) {
        for sel in self.index.selectors_of(id).collect::<Vec<_>>() {
            for key in self.ipsets.keys_for(sel) {
                self.ipsets.remove_members(&key, item_members(item, &key));
            }
        }
    }

    fn policy_set_for(&self, id: ItemId) -> BTreeSet<PolicyId> {
        self.index
            .selectors_of(id)
            .filter_map(|s| self.sel_policies.get(&s))
            .flatten()
            .cloned()
            .collect()
    }

    // ----- IP sets -----

    fn acquire_set(&mut self, selector: &Selector, named: Option<(u8, String)>) -> SetKey {
        let sel = self.index.acquire(selector);
        let key = SetKey { sel, named };
        if !self.ipsets.acquire_existing(&key) {
            let members: Vec<Member> = self
                .index
                .members(sel)
                .iter()
                .filter_map(|i| self.items[*i as usize].as_ref())
                .flat_map(|item| item_members(item, &key))
                .collect();
            self.ipsets
                .create(&key, selector.as_str(), &selector.unique_id(), members);
        }
        key
    }

    fn release_set(&mut self, key: &SetKey) {
        self.ipsets.release(key);
        self.index.release(key.sel);
    }

    fn install_entity(&mut self, e: &CompiledEntity, protocol: u8) -> EntitySets {
        let selector = e.selector.as_ref().map(|s| self.acquire_set(s, None));
        let not_selector = e.not_selector.as_ref().map(|s| self.acquire_set(s, None));
        let base = e.selector.clone().unwrap_or_else(Selector::all);
        let named = e
            .named_ports
            .iter()
            .map(|n| self.acquire_set(&base, Some((protocol, n.clone()))))
            .collect();
        let not_named = e
            .not_named_ports
            .iter()
            .map(|n| self.acquire_set(&base, Some((protocol, n.clone()))))
            .collect();
        EntitySets {
            selector,
            not_selector,
            named,
            not_named,
        }
    }

    fn install_rules(&mut self, rules: Vec<CompiledRule>) -> Vec<InstalledRule> {
        rules
            .into_iter()
            .map(|rule| {
                let protocol = rule.named_port_protocol();
                let src = self.install_entity(&rule.src, protocol);
                let dst = self.install_entity(&rule.dst, protocol);
                InstalledRule { rule, src, dst }
            })
            .collect()
    }

    fn uninstall_rules<'a>(&mut self, rules: impl IntoIterator<Item = &'a InstalledRule>) {
        for r in rules {
            for key in r.src.keys().chain(r.dst.keys()) {
                self.release_set(key);
            }
        }
    }

    // ----- profiles and tiers -----

    fn put_profile(&mut self, p: Profile) -> Result<(), Error> {
        let name = p.metadata.name.clone();
        let ingress = compile_rules(Kind::Profile, &name, "spec.ingress", &p.spec.ingress, None)?;
        let egress = compile_rules(Kind::Profile, &name, "spec.egress", &p.spec.egress, None)?;
        let state = ProfileState {
            labels: p.spec.labels_to_apply.clone(),
            ingress: self.install_rules(ingress),
            egress: self.install_rules(egress),
        };
        let labels_changed = match self.profiles.insert(name.clone(), state) {
            Some(old) => {
                self.uninstall_rules(old.ingress.iter().chain(old.egress.iter()));
                old.labels != p.spec.labels_to_apply
            }
            None => !p.spec.labels_to_apply.is_empty(),
        };
        if labels_changed {
            self.refresh_users(&name);
        }
        Ok(())
    }

    fn delete_profile(&mut self, name: &str) {
        if let Some(old) = self.profiles.remove(name) {
            self.uninstall_rules(old.ingress.iter().chain(old.egress.iter()));
            if !old.labels.is_empty() {
                self.refresh_users(name);
            }
        }
    }

    fn refresh_users(&mut self, profile: &str) {
        let users: Vec<ItemId> = self
            .profile_users
            .get(profile)
            .map(|u| u.iter().copied().collect())
            .unwrap_or_default();
        for id in users {
            self.refresh_item(id);
        }
    }

    fn put_tier(&mut self, t: Tier) {
        let state = TierState {
            order: t.spec.order,
            default_action: t.spec.default_action.unwrap_or(Action::Deny),
        };
        let previous = self.tiers.insert(t.metadata.name.clone(), state);
        if previous.is_some_and(|p| p != state) {
            self.mark_tier_endpoints(&t.metadata.name);
        }
    }

    fn delete_tier(&mut self, name: &str) -> Result<(), Error> {
        if BUILTIN_TIERS.iter().any(|(n, _, _)| *n == name) {
            return Err(Error::BuiltinTier(name.to_owned()));
        }
        if let Some(members) = self.tier_members.get(name).filter(|m| !m.is_empty()) {
            return Err(Error::TierInUse {
                tier: name.to_owned(),
                count: members.len(),
                example: members
                    .iter()
                    .next()
                    .map(|k| k.to_string())
                    .unwrap_or_default(),
            });
        }
        self.tiers.remove(name);
        Ok(())
    }

    fn mark_tier_endpoints(&mut self, tier: &str) {
        let Some(members) = self.tier_members.get(tier) else {
            return;
        };
        for key in members {
            if let Some(p) = self.policies.get(key) {
                for id in self.index.members(p.sel) {
                    if self.endpoint_policies.contains_key(id) {
                        self.changed.insert(*id);
                    }
                }
            }
        }
    }

    // ----- policies -----

    fn put_network_policy(&mut self, p: NetworkPolicy) -> Result<(), Error> {
        let ns = require_namespace(Kind::NetworkPolicy, &p.metadata)?;
        let s = &p.spec;
        self.put_policy(PolicyInput {
            kind: Kind::NetworkPolicy,
            key: PolicyKey::namespaced(ns, p.metadata.name.clone()),
            tier: &s.tier,
            order: s.order,
            selector: &s.selector,
            namespace_selector: "",
            service_account_selector: &s.service_account_selector,
            ingress: &s.ingress,
            egress: &s.egress,
            types: &s.types,
            normal: true,
        })
    }

    fn put_global_policy(&mut self, p: GlobalNetworkPolicy) -> Result<(), Error> {
        let s = &p.spec;
        self.put_policy(PolicyInput {
            kind: Kind::GlobalNetworkPolicy,
            key: PolicyKey::global(p.metadata.name.clone()),
            tier: &s.tier,
            order: s.order,
            selector: &s.selector,
            namespace_selector: &s.namespace_selector,
            service_account_selector: &s.service_account_selector,
            ingress: &s.ingress,
            egress: &s.egress,
            types: &s.types,
            normal: !s.do_not_track && !s.pre_dnat,
        })
    }

    fn put_policy(&mut self, input: PolicyInput<'_>) -> Result<(), Error> {
        let name = input.key.to_string();
        let ns = input.key.namespace.as_deref();
        let o = origin(input.kind, &name);
        let selector = policy_selector(
            o,
            ns,
            input.selector,
            input.namespace_selector,
            input.service_account_selector,
        )?;
        let compile = |field: &str, rules: &[Rule], ty: PolicyType| {
            if input.types.contains(&ty) {
                compile_rules(input.kind, &name, field, rules, ns).map(Some)
            } else {
                Ok(None)
            }
        };
        let ingress = compile("spec.ingress", input.ingress, PolicyType::Ingress)?;
        let egress = compile("spec.egress", input.egress, PolicyType::Egress)?;
        let tier = if input.tier.is_empty() {
            DEFAULT_TIER
        } else {
            input.tier
        };
        if !self.tiers.contains_key(tier) {
            return Err(Error::UnknownTier {
                kind: input.kind,
                name,
                tier: tier.to_owned(),
            });
        }
        // Everything is checked: from here on nothing can fail.
        let pid = self.intern_policy(&input.key);
        let sel = self.index.acquire(&selector);
        let state = PolicyState {
            tier: tier.to_owned(),
            order: input.order,
            sel,
            ingress: ingress.map(|r| self.install_rules(r)),
            egress: egress.map(|r| self.install_rules(r)),
            normal: input.normal,
        };
        let key = input.key;
        let old = self.policies.remove(&key);
        let layout_changed = old.as_ref().is_none_or(|o| {
            o.tier != state.tier
                || o.order != state.order
                || o.ingress.is_some() != state.ingress.is_some()
                || o.egress.is_some() != state.egress.is_some()
                || o.normal != state.normal
        });
        let old_members: Vec<ItemId> = match &old {
            Some(o) if o.normal && !(state.normal && o.sel == sel) => self.local_members(o.sel),
            _ => Vec::new(),
        };
        if let Some(o) = &old {
            self.unlink_policy(&key, pid, o);
        }
        self.tier_members
            .entry(state.tier.clone())
            .or_default()
            .insert(key.clone());
        if state.normal {
            self.sel_policies.entry(sel).or_default().insert(pid);
        }
        let new_members: IdSet<ItemId> = if state.normal {
            self.local_members(sel).into_iter().collect()
        } else {
            IdSet::default()
        };
        for id in old_members {
            if !new_members.contains(&id) {
                self.drop_policy_from(id, pid);
            }
        }
        for id in new_members {
            let inserted = self
                .endpoint_policies
                .get_mut(&id)
                .is_some_and(|set| set.insert(pid));
            if inserted || layout_changed {
                self.changed.insert(id);
            }
        }
        self.policies.insert(key, state);
        if let Some(o) = old {
            self.uninstall_rules(o.ingress.iter().flatten().chain(o.egress.iter().flatten()));
            self.index.release(o.sel);
        }
        Ok(())
    }

    fn delete_policy(&mut self, key: &PolicyKey) {
        let Some(old) = self.policies.remove(key) else {
            return;
        };
        let Some(pid) = self.policy_ids.remove(key) else {
            return;
        };
        if old.normal {
            for id in self.local_members(old.sel) {
                self.drop_policy_from(id, pid);
            }
        }
        self.unlink_policy(key, pid, &old);
        self.policy_keys[pid as usize] = None;
        self.free_policy_ids.push(pid);
        self.uninstall_rules(
            old.ingress
                .iter()
                .flatten()
                .chain(old.egress.iter().flatten()),
        );
        self.index.release(old.sel);
    }

    /// The dense id of a policy key, allocated on first use.
    fn intern_policy(&mut self, key: &PolicyKey) -> PolicyId {
        if let Some(&pid) = self.policy_ids.get(key) {
            return pid;
        }
        let pid = match self.free_policy_ids.pop() {
            Some(pid) => pid,
            None => {
                self.policy_keys.push(None);
                (self.policy_keys.len() - 1) as PolicyId
            }
        };
        self.policy_keys[pid as usize] = Some(key.clone());
        self.policy_ids.insert(key.clone(), pid);
        pid
    }

    fn unlink_policy(&mut self, key: &PolicyKey, pid: PolicyId, old: &PolicyState) {
        if let Some(m) = self.tier_members.get_mut(&old.tier) {
            m.remove(key);
            if m.is_empty() {
                self.tier_members.remove(&old.tier);
            }
        }
        if let Some(m) = self.sel_policies.get_mut(&old.sel) {
            m.remove(&pid);
            if m.is_empty() {
                self.sel_policies.remove(&old.sel);
            }
        }
    }

    fn drop_policy_from(&mut self, id: ItemId, pid: PolicyId) {
        if self
            .endpoint_policies
            .get_mut(&id)
            .is_some_and(|set| set.remove(&pid))
        {
            self.changed.insert(id);
        }
    }

    fn local_members(&self, sel: SelId) -> Vec<ItemId> {
        self.index
            .members(sel)
            .iter()
            .copied()
            .filter(|id| self.endpoint_policies.contains_key(id))
            .collect()
    }

    // ----- queries -----

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

/// Dense id of a policy inside the model.
type PolicyId = u32;

/// The fields of NetworkPolicy and GlobalNetworkPolicy the model uses.
struct PolicyInput<'a> {
    kind: Kind,
    key: PolicyKey,
    tier: &'a str,
    order: Option<f64>,
    selector: &'a str,
    namespace_selector: &'a str,
    service_account_selector: &'a str,
    ingress: &'a [Rule],
    egress: &'a [Rule],
    types: &'a [PolicyType],
    normal: bool,
}

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

fn origin(kind: Kind, name: &str) -> Origin<'_> {
    Origin { kind, name }
}

fn require_namespace(kind: Kind, meta: &api::ObjectMeta) -> Result<String, Error> {
    match meta.namespace.as_deref() {
        Some(ns) if !ns.is_empty() => Ok(ns.to_owned()),
        _ => Err(Error::MissingNamespace {
            kind,
            name: meta.name.clone(),
        }),
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
fn item_members(item: &Item, key: &SetKey) -> Vec<Member> {
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
