//! Pure policy calculation for the node agent (Calico's "calculation
//! graph"): a [`Model`] fed datastore [`Update`]s keeps every endpoint's
//! effective labels, the ordered tiers/policies/profiles that apply to each
//! local endpoint per direction, and the members of every rule IP set, with
//! [`IpSetDelta`]s for the dataplane. [`trace`] judges a packet and explains
//! the verdict; [`convert_k8s_network_policy`] maps Kubernetes
//! NetworkPolicy to Calico's. No I/O anywhere.
//!
//! ```
//! use api::{Resource, WorkloadEndpoint, ObjectMeta};
//! use policy::{Model, Update, EndpointKey};
//! let mut model = Model::cluster_wide();
//! let mut wep = WorkloadEndpoint::default();
//! wep.metadata = ObjectMeta::namespaced("prod", "web");
//! wep.spec.ip_networks = vec!["10.0.0.1/32".into()];
//! model.apply(Update::Put(Resource::WorkloadEndpoint(wep))).unwrap();
//! let key = EndpointKey::workload("prod", "web");
//! assert!(model.endpoint_policies(&key).unwrap().ingress.is_empty());
//! ```

mod compile;
mod error;
mod evaluate;
mod id_hash;
mod ipsets;
mod k8s;
mod keys;
mod labels;
mod model;
mod ordering;
mod packet;
mod resolve;
mod rewrite;
mod rule_view;
mod selector_index;
mod trace;
mod update;

pub use error::Error;
pub use evaluate::trace;
pub use ipsets::{IpSetDelta, IpSetId, Member, NamedPortRef};
pub use k8s::{
    convert_k8s_network_policy, Converted, IntOrString, IpBlock, K8sEgressRule, K8sIngressRule,
    K8sMeta, K8sNetworkPolicy, K8sNetworkPolicySpec, K8sPeer, K8sPort, LabelSelector,
    LabelSelectorRequirement, K8S_POLICY_ORDER, K8S_POLICY_PREFIX,
};
pub use keys::{EndpointKey, PolicyKey};
pub use model::Model;
pub use ordering::{Direction, EndpointPolicies, TierPolicies};
pub use packet::{ConntrackState, IcmpHeader, Packet};
pub use resolve::Peer;
pub use rewrite::{ORCHESTRATOR_LABEL, SERVICE_ACCOUNT_LABEL};
pub use rule_view::{EntityView, RuleView};
pub use trace::{
    Decision, DirectionTrace, Disposition, PolicyTrace, RuleTrace, TierOutcome, TierTrace, Verdict,
};
pub use update::Update;
