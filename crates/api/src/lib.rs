//! The `projectcalico.org/v3` resource model: one Rust type per kind with Calico's field
//! names, strict YAML/JSON decoding that names the failing document and field, Calico's
//! defaults, single-resource validation and the cross-pool overlap check.
//!
//! ```
//! let docs = api::decode_documents("apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: p}\nspec: {cidr: 10.0.0.0/16}\n").unwrap();
//! let mut pool = docs.into_iter().next().unwrap();
//! pool.apply_defaults();
//! pool.validate().unwrap();
//! ```

mod as_number;
mod bgp;
mod check;
mod cluster_info;
mod codec;
mod duration;
mod endpoint;
mod error;
mod felix;
mod ipam;
mod ippool;
mod kind;
mod meta;
mod netset;
mod node;
mod order;
mod policy;
mod port;
mod protocol;
mod resource;
mod rule;
mod skip;
mod v1;

pub use as_number::AsNumber;
pub use bgp::{
    parse_peer_ip, BGPConfiguration, BGPConfigurationSpec, BGPFilter, BGPFilterAction,
    BGPFilterMatchOperator, BGPFilterPrefixLength, BGPFilterRule, BGPFilterSource, BGPFilterSpec,
    BGPPeer, BGPPeerSpec, BgpPassword, BindMode, CidrBlock, Community, LoadBalancerAggregation,
    NextHopMode, PrefixAdvertisement, ProgramClusterRoutes, ReversePeering, SecretKeyRef,
    SourceAddress,
};
pub use cluster_info::{ClusterInformation, ClusterInformationSpec};
pub use codec::{decode_documents, encode_yaml};
pub use duration::Duration;
pub use endpoint::{
    split_workload_endpoint_name, workload_endpoint_name, Dscp, EndpointPort, HostEndpoint,
    HostEndpointSpec, IpNat, QosControls, WorkloadEndpoint, WorkloadEndpointPort,
    WorkloadEndpointSpec,
};
pub use error::Error;
pub use felix::{
    AllowAction, BpfConntrackTimeouts, ChainInsertMode, DenyAction, EnabledDisabled,
    EndpointToHostAction, FelixConfiguration, FelixConfigurationSpec, HealthTimeoutOverride,
    IptablesBackend, NatOutgoingExclusions, NftablesMode, ProtoPort, RouteTableRange,
    ServiceLoopPrevention,
};
pub use ipam::{
    IPAMConfiguration, IPAMConfigurationSpec, IPReservation, IPReservationSpec,
    VmAddressPersistence,
};
pub use ippool::{
    check_pool_overlap, AllowedUse, AssignmentMode, Condition, EncapMode, IPPool, IPPoolSpec,
    IPPoolStatus,
};
pub use kind::Kind;
pub use meta::ObjectMeta;
pub use netset::{GlobalNetworkSet, NetworkSet, NetworkSetSpec};
pub use node::{
    Node, NodeAddress, NodeAddressType, NodeBgpSpec, NodeInterface, NodeSpec, NodeStatus,
    NodeWireguardSpec, OrchRef,
};
pub use policy::{
    infer_policy_types, GlobalNetworkPolicy, GlobalNetworkPolicySpec, NetworkPolicy,
    NetworkPolicySpec, PerformanceHint, PolicyType, Profile, ProfileSpec, Tier, TierSpec,
    TierStatus, BUILTIN_TIERS, DEFAULT_TIER, TIER_LABEL,
};
pub use port::Port;
pub use protocol::Protocol;
pub use resource::Resource;
pub use rule::{
    Action, EntityRule, HttpMatch, HttpPath, IcmpFields, Rule, RuleMetadata, ServiceAccountMatch,
    ServiceMatch,
};
pub use v1::convert_v1;

/// The API group and version every resource carries.
pub const API_VERSION: &str = "projectcalico.org/v3";
