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

mod items;
mod policies;
mod queries;
mod rule_sets;

use items::item_members;

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
