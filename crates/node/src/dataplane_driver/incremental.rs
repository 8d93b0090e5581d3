//! Pure: this node's desired nftables tables (both families), kept up to date from what
//! changed instead of being rebuilt on every apply.
//!
//! The cache holds, per local endpoint, the policy lists the renderer needs; per policy and
//! profile in use, its rules and how many endpoint sides use it; every selector set's and
//! named-port set's members; and the two rendered tables. An update takes the endpoints, policies and
//! profiles the driver saw change, the engine's changed endpoints and IP-set deltas,
//! recomputes only those, re-renders only the chains, set elements and map elements whose
//! inputs differ, and returns the [`Edits`] (the touched names with their previous content)
//! so the diff against what was programmed looks at nothing else. [`Cache::build`] runs the
//! same code with everything marked changed, so both paths produce the same tables as
//! `dataplane::render(desired::build(..))` (a test checks this after every step).

use std::collections::{BTreeMap, BTreeSet};

use dataplane::model::{
    HostEndpoint, IpVersion, NamedPortMember, NodeConfig, Policy, Profile, WorkloadEndpoint,
};
use dataplane::names;
use dataplane::render::{Direction as Side, EndpointChains, Pieces};
use dataplane::routes::Route;
use dataplane::{Edits, Table};
use ipnet::IpNet;
use policy::{EndpointKey, IpSetDelta, Model, PolicyKey};

use super::desired::{
    endpoint_sides, named_port_member, named_port_sets, node_config, policy, policy_id, profile,
    selector_sets, workload_routes, EndpointSides,
};
use super::inputs::NodeInputs;

/// The families we program, in table order.
const FAMILIES: [IpVersion; 2] = [IpVersion::V4, IpVersion::V6];

/// What the driver saw change since the last update (the engine reports the rest).
#[derive(Debug, Default)]
pub(super) struct Changes {
    /// Endpoints put or deleted.
    pub endpoints: BTreeSet<EndpointKey>,
    /// Policies put or deleted.
    pub policies: BTreeSet<PolicyKey>,
    /// Profiles put or deleted.
    pub profiles: BTreeSet<String>,
    /// Something only a rebuild covers (a tier changed).
    pub everything: bool,
}

/// One local endpoint as rendered.
#[derive(Debug, PartialEq)]
struct Entry {
    host: bool,
    interface: String,
    sides: EndpointSides,
    routes: Vec<Route>,
}

/// A policy some local endpoint uses.
struct PolicyEntry {
    key: PolicyKey,
    tier: String,
    /// Endpoint sides using it: [ingress, egress].
    users: [usize; 2],
    policy: Policy,
}

/// A profile some local endpoint uses.
struct ProfileEntry {
    users: usize,
    profile: Profile,
}

/// Ids of the sets whose members changed (or that came or went).
#[derive(Default)]
struct DirtySets {
    /// Selector sets.
    selector: Vec<String>,
    /// Named-port sets.
    named: Vec<String>,
}

/// What an update did besides editing the tables.
pub(super) struct Outcome {
    /// The edits of the v4 and v6 tables.
    pub edits: [Edits; 2],
    /// The workload routes changed.
    pub routes_changed: bool,
}

/// The desired tables and everything needed to update them. See the module comment.
pub(super) struct Cache {
    node: String,
    endpoints: BTreeMap<EndpointKey, Entry>,
    /// Interface -> endpoints naming it; the first (by key) gets the chains.
    owners: BTreeMap<String, BTreeSet<EndpointKey>>,
    /// Profile name -> endpoints naming it (whether it exists or not).
    profile_users: BTreeMap<String, BTreeSet<EndpointKey>>,
    policies: BTreeMap<String, PolicyEntry>,
    profiles: BTreeMap<String, ProfileEntry>,
    sets: BTreeMap<String, BTreeSet<IpNet>>,
    named_sets: BTreeMap<String, BTreeSet<NamedPortMember>>,
    config: Option<NodeConfig>,
    tables: [Table; 2],
}

impl Cache {
    /// The tables of node `node` from scratch.
    pub fn build(
        model: &Model,
        inputs: &NodeInputs,
        node: &str,
    ) -> Result<Cache, dataplane::Error> {
        let mut cache = Cache {
            node: node.to_owned(),
            endpoints: BTreeMap::new(),
            owners: BTreeMap::new(),
            profile_users: BTreeMap::new(),
            policies: BTreeMap::new(),
            profiles: BTreeMap::new(),
            sets: BTreeMap::new(),
            named_sets: BTreeMap::new(),
            config: None,
            tables: FAMILIES.map(Table::empty),
        };
        let changes = Changes {
            endpoints: inputs
                .workloads
                .keys()
                .chain(inputs.host_endpoints.keys())
                .cloned()
                .collect(),
            ..Changes::default()
        };
        let sets: Vec<IpSetDelta> = Vec::new();
        cache.sets = selector_sets(model)
            .into_iter()
            .map(|(id, nets)| (id, nets.into_iter().collect()))
            .collect();
        cache.named_sets = named_port_sets(model)
            .into_iter()
            .map(|(id, members)| (id, members.into_iter().collect()))
            .collect();
        let all_sets = DirtySets {
            selector: cache.sets.keys().cloned().collect(),
            named: cache.named_sets.keys().cloned().collect(),
        };
        cache.update_with(model, inputs, changes, &sets, all_sets)?;
        Ok(cache)
    }

    /// The desired v4 and v6 tables.
    pub fn tables(&self) -> &[Table; 2] {
        &self.tables
    }

    /// Our routes: one per local workload address, one blackhole per affine block.
    pub fn routes(&self, inputs: &NodeInputs) -> BTreeSet<Route> {
        let workloads = self
            .endpoints
            .values()
            .flat_map(|e| e.routes.iter().cloned());
        let blocks = inputs
            .affine_blocks
            .iter()
            .map(|cidr| Route::Blackhole { dst: *cidr });
        workloads.chain(blocks).collect()
    }

    /// Brings the tables up to date with `changes` and the engine's IP-set `deltas`.
    /// On error the cache is half updated and must be rebuilt.
    pub fn update(
        &mut self,
        model: &Model,
        inputs: &NodeInputs,
        changes: Changes,
        deltas: &[IpSetDelta],
    ) -> Result<Outcome, dataplane::Error> {
        self.update_with(model, inputs, changes, deltas, DirtySets::default())
    }

    fn update_with(
        &mut self,
        model: &Model,
        inputs: &NodeInputs,
        changes: Changes,
        deltas: &[IpSetDelta],
        mut dirty_sets: DirtySets,
    ) -> Result<Outcome, dataplane::Error> {
        let mut edits = [Edits::new(&self.tables[0]), Edits::new(&self.tables[1])];
        let config = node_config(inputs, &self.node);
        if self.config.as_ref() != Some(&config) {
            for (i, family) in FAMILIES.into_iter().enumerate() {
                let base = Pieces::new(&config, family)?.base();
                let table = &mut self.tables[i];
                for (name, map) in base.maps {
                    table.maps.entry(name).or_insert(map);
                }
                for (name, chain) in base.chains {
                    edits[i].put_chain(table, name, chain);
                }
                for (name, set) in base.sets {
                    edits[i].put_set(table, name, set);
                }
            }
            self.config = Some(config.clone());
        }

        self.apply_deltas(deltas, &mut dirty_sets);
        for id in &dirty_sets.selector {
            for (i, family) in FAMILIES.into_iter().enumerate() {
                let table = &mut self.tables[i];
                match self.sets.get(id) {
                    Some(members) => {
                        let (name, set) = Pieces::new(&config, family)?.selector_set(id, members);
                        edits[i].put_set(table, name, set);
                    }
                    None => edits[i].remove_set(table, &names::selector_set(id)),
                }
            }
        }
        for id in &dirty_sets.named {
            for (i, family) in FAMILIES.into_iter().enumerate() {
                let table = &mut self.tables[i];
                match self.named_sets.get(id) {
                    Some(members) => {
                        let pieces = Pieces::new(&config, family)?;
                        let (name, set) = pieces.named_port_set(id, members);
                        edits[i].put_set(table, name, set);
                    }
                    None => edits[i].remove_set(table, &names::named_port_set(id)),
                }
            }
        }

        let mut dirty = changes.endpoints;
        for name in &changes.profiles {
            dirty.extend(self.profile_users.get(name).into_iter().flatten().cloned());
        }
        let mut stale_policies: BTreeSet<String> = changes
            .policies
            .iter()
            .map(policy_id)
            .filter(|id| self.policies.contains_key(id))
            .collect();
        let mut redo_policies = stale_policies.clone();
        let mut redo_profiles: BTreeSet<String> = changes
            .profiles
            .iter()
            .filter(|n| self.profiles.contains_key(*n))
            .cloned()
            .collect();
        let mut redo_interfaces = BTreeSet::new();
        let mut routes_changed = false;
        for key in dirty {
            let new = entry(model, inputs, &key);
            if self.endpoints.get(&key) == new.as_ref() {
                continue;
            }
            if let Some(old) = self.endpoints.remove(&key) {
                routes_changed |= !old.routes.is_empty();
                self.unuse(&key, &old, &mut redo_policies, &mut redo_profiles);
                redo_interfaces.insert(old.interface);
            }
            if let Some(new) = new {
                routes_changed |= !new.routes.is_empty();
                self.use_entry(
                    &key,
                    &new,
                    &mut stale_policies,
                    &mut redo_policies,
                    &mut redo_profiles,
                );
                redo_interfaces.insert(new.interface.clone());
                self.endpoints.insert(key, new);
            }
        }

        for id in &stale_policies {
            if let Some(p) = self.policies.get_mut(id) {
                p.policy = policy(model, &p.key, &p.tier);
            }
        }
        for id in &redo_policies {
            for (i, family) in FAMILIES.into_iter().enumerate() {
                let pieces = Pieces::new(&config, family)?;
                let table = &mut self.tables[i];
                for (s, side) in Side::BOTH.into_iter().enumerate() {
                    match self.policies.get(id).filter(|p| p.users[s] > 0) {
                        Some(p) => {
                            let (name, chain) = pieces.policy_chain(id, &p.policy, side)?;
                            edits[i].put_chain(table, name, chain);
                        }
                        None => edits[i].remove_chain(table, &names::policy_chain(id, side)),
                    }
                }
            }
        }
        for name in &redo_profiles {
            if let Some(p) = self.profiles.get_mut(name) {
                p.profile = profile(model, name);
            }
            for (i, family) in FAMILIES.into_iter().enumerate() {
                let pieces = Pieces::new(&config, family)?;
                let table = &mut self.tables[i];
                for side in Side::BOTH {
                    match self.profiles.get(name) {
                        Some(p) => {
                            let (chain_name, chain) =
                                pieces.profile_chain(name, &p.profile, side)?;
                            edits[i].put_chain(table, chain_name, chain);
                        }
                        None => edits[i].remove_chain(table, &names::profile_chain(name, side)),
                    }
                }
            }
        }

        for iface in &redo_interfaces {
            let winner = self
                .owners
                .get(iface)
                .and_then(|keys| keys.first())
                .map(|key| &self.endpoints[key]);
            for (i, family) in FAMILIES.into_iter().enumerate() {
                let table = &mut self.tables[i];
                for chain in [
                    names::to_workload_chain(iface),
                    names::from_workload_chain(iface),
                    names::from_host_endpoint_chain(iface),
                    names::to_host_endpoint_chain(iface),
                ] {
                    edits[i].remove_chain(table, &chain);
                }
                for map in [
                    names::TO_WL_MAP,
                    names::FROM_WL_MAP,
                    names::FROM_HEP_MAP,
                    names::TO_HEP_MAP,
                ] {
                    edits[i].remove_map_element(table, map, iface);
                }
                let Some(e) = winner else {
                    continue;
                };
                let pieces = Pieces::new(&config, family)?;
                let EndpointChains {
                    chains,
                    map_elements,
                } = endpoint_chains(&pieces, e)?;
                for (name, chain) in chains {
                    edits[i].put_chain(table, name, chain);
                }
                for (map, key, verdict) in map_elements {
                    edits[i].put_map_element(table, map, &key, verdict);
                }
            }
        }
        Ok(Outcome {
            edits,
            routes_changed,
        })
    }

    /// Applies the engine's set deltas to the members; notes the sets that changed.
    fn apply_deltas(&mut self, deltas: &[IpSetDelta], dirty: &mut DirtySets) {
        for delta in deltas {
            let set = match delta {
                IpSetDelta::Created { set, .. }
                | IpSetDelta::Updated { set, .. }
                | IpSetDelta::Deleted { set } => set,
            };
            match &set.named_port {
                None => {
                    let nets = |members: &[policy::Member]| -> Vec<IpNet> {
                        members.iter().map(|m| m.net).collect()
                    };
                    apply_delta(&mut self.sets, delta, nets);
                    dirty.selector.push(set.id.clone());
                }
                Some(named) => {
                    let members = |members: &[policy::Member]| -> Vec<NamedPortMember> {
                        members
                            .iter()
                            .filter_map(|m| named_port_member(named, m))
                            .collect()
                    };
                    apply_delta(&mut self.named_sets, delta, members);
                    dirty.named.push(set.id.clone());
                }
            }
        }
        for ids in [&mut dirty.selector, &mut dirty.named] {
            ids.sort();
            ids.dedup();
        }
    }

    /// Counts a new entry's uses of interfaces, profiles and policies.
    fn use_entry(
        &mut self,
        key: &EndpointKey,
        e: &Entry,
        stale_policies: &mut BTreeSet<String>,
        redo_policies: &mut BTreeSet<String>,
        redo_profiles: &mut BTreeSet<String>,
    ) {
        self.owners
            .entry(e.interface.clone())
            .or_default()
            .insert(key.clone());
        for name in &e.sides.named_profiles {
            self.profile_users
                .entry(name.clone())
                .or_default()
                .insert(key.clone());
        }
        for name in &e.sides.ingress.profiles {
            let p = self.profiles.entry(name.clone()).or_insert_with(|| {
                redo_profiles.insert(name.clone());
                ProfileEntry {
                    users: 0,
                    profile: Profile::default(),
                }
            });
            p.users += 1;
        }
        for (id, pkey, tier) in &e.sides.policies {
            let p = self
                .policies
                .entry(id.clone())
                .or_insert_with(|| PolicyEntry {
                    key: pkey.clone(),
                    tier: String::new(),
                    users: [0, 0],
                    policy: Policy::default(),
                });
            let sides = [&e.sides.ingress, &e.sides.egress];
            for (s, side) in sides.into_iter().enumerate() {
                if uses(side, id) {
                    p.users[s] += 1;
                    if p.users[s] == 1 {
                        redo_policies.insert(id.clone());
                    }
                }
            }
            if p.tier != *tier {
                // New, or moved to another tier: its rules (and comments) are recomputed.
                p.tier = tier.clone();
                stale_policies.insert(id.clone());
                redo_policies.insert(id.clone());
            }
        }
    }

    /// Undoes [`Cache::use_entry`] for an entry going away.
    fn unuse(
        &mut self,
        key: &EndpointKey,
        e: &Entry,
        redo_policies: &mut BTreeSet<String>,
        redo_profiles: &mut BTreeSet<String>,
    ) {
        remove_user(&mut self.owners, &e.interface, key);
        for name in &e.sides.named_profiles {
            remove_user(&mut self.profile_users, name, key);
        }
        for name in &e.sides.ingress.profiles {
            if let Some(p) = self.profiles.get_mut(name) {
                p.users -= 1;
                if p.users == 0 {
                    self.profiles.remove(name);
                    redo_profiles.insert(name.clone());
                }
            }
        }
        for (id, _, _) in &e.sides.policies {
            let Some(p) = self.policies.get_mut(id) else {
                continue;
            };
            for (s, side) in [&e.sides.ingress, &e.sides.egress].into_iter().enumerate() {
                if uses(side, id) {
                    p.users[s] -= 1;
                    if p.users[s] == 0 {
                        redo_policies.insert(id.clone());
                    }
                }
            }
            if p.users == [0, 0] {
                self.policies.remove(id);
            }
        }
    }
}

/// Applies one set delta to the members of the sets of its kind, converting the engine's
/// members with `convert`.
fn apply_delta<T: Ord>(
    sets: &mut BTreeMap<String, BTreeSet<T>>,
    delta: &IpSetDelta,
    convert: impl Fn(&[policy::Member]) -> Vec<T>,
) {
    match delta {
        IpSetDelta::Created { set, members } => {
            sets.insert(set.id.clone(), convert(members).into_iter().collect());
        }
        IpSetDelta::Updated {
            set,
            added,
            removed,
        } => {
            let members = sets.entry(set.id.clone()).or_default();
            for m in convert(removed) {
                members.remove(&m);
            }
            members.extend(convert(added));
        }
        IpSetDelta::Deleted { set } => {
            sets.remove(&set.id);
        }
    }
}

/// Whether one side of an endpoint jumps to policy `id`.
fn uses(side: &dataplane::model::EndpointPolicy, id: &str) -> bool {
    side.tiers
        .iter()
        .any(|t| t.policies.iter().any(|p| p == id))
}

fn remove_user(map: &mut BTreeMap<String, BTreeSet<EndpointKey>>, name: &str, key: &EndpointKey) {
    if let Some(users) = map.get_mut(name) {
        users.remove(key);
        if users.is_empty() {
            map.remove(name);
        }
    }
}

/// The entry of endpoint `key`: local, with an interface, and known to the engine.
fn entry(model: &Model, inputs: &NodeInputs, key: &EndpointKey) -> Option<Entry> {
    let (host, local) = match key {
        EndpointKey::Workload { .. } => (false, inputs.workloads.get(key)?),
        EndpointKey::Host { .. } => (true, inputs.host_endpoints.get(key)?),
    };
    let sides = endpoint_sides(model, key)?;
    Some(Entry {
        host,
        interface: local.interface.clone(),
        sides,
        routes: if host {
            Vec::new()
        } else {
            workload_routes(local).collect()
        },
    })
}

fn endpoint_chains(pieces: &Pieces<'_>, e: &Entry) -> Result<EndpointChains, dataplane::Error> {
    let (ingress, egress) = (e.sides.ingress.clone(), e.sides.egress.clone());
    let interface = e.interface.clone();
    if e.host {
        pieces.host_endpoint(&HostEndpoint {
            interface,
            ingress,
            egress,
        })
    } else {
        pieces.workload(&WorkloadEndpoint {
            interface,
            ingress,
            egress,
        })
    }
}
