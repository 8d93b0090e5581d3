//! The resource kinds of `projectcalico.org/v3`, their datastore plurals and the names
//! calicoctl accepts for them on the command line.

use std::fmt;

/// One `projectcalico.org/v3` resource kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    IPPool,
    IPReservation,
    IPAMConfiguration,
    BGPConfiguration,
    BGPPeer,
    BGPFilter,
    Node,
    Profile,
    NetworkPolicy,
    GlobalNetworkPolicy,
    Tier,
    NetworkSet,
    GlobalNetworkSet,
    HostEndpoint,
    WorkloadEndpoint,
    FelixConfiguration,
    ClusterInformation,
}

const ALL: &[Kind] = &[
    Kind::IPPool,
    Kind::IPReservation,
    Kind::IPAMConfiguration,
    Kind::BGPConfiguration,
    Kind::BGPPeer,
    Kind::BGPFilter,
    Kind::Node,
    Kind::Profile,
    Kind::NetworkPolicy,
    Kind::GlobalNetworkPolicy,
    Kind::Tier,
    Kind::NetworkSet,
    Kind::GlobalNetworkSet,
    Kind::HostEndpoint,
    Kind::WorkloadEndpoint,
    Kind::FelixConfiguration,
    Kind::ClusterInformation,
];

impl Kind {
    /// Every kind, in a stable order.
    pub fn all() -> &'static [Kind] {
        ALL
    }

    /// The `kind:` value, e.g. `"IPPool"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::IPPool => "IPPool",
            Kind::IPReservation => "IPReservation",
            Kind::IPAMConfiguration => "IPAMConfiguration",
            Kind::BGPConfiguration => "BGPConfiguration",
            Kind::BGPPeer => "BGPPeer",
            Kind::BGPFilter => "BGPFilter",
            Kind::Node => "Node",
            Kind::Profile => "Profile",
            Kind::NetworkPolicy => "NetworkPolicy",
            Kind::GlobalNetworkPolicy => "GlobalNetworkPolicy",
            Kind::Tier => "Tier",
            Kind::NetworkSet => "NetworkSet",
            Kind::GlobalNetworkSet => "GlobalNetworkSet",
            Kind::HostEndpoint => "HostEndpoint",
            Kind::WorkloadEndpoint => "WorkloadEndpoint",
            Kind::FelixConfiguration => "FelixConfiguration",
            Kind::ClusterInformation => "ClusterInformation",
        }
    }

    /// Lower-case plural used in datastore keys, e.g. `"networkpolicies"`.
    pub fn plural(self) -> &'static str {
        match self {
            Kind::IPPool => "ippools",
            Kind::IPReservation => "ipreservations",
            Kind::IPAMConfiguration => "ipamconfigurations",
            Kind::BGPConfiguration => "bgpconfigurations",
            Kind::BGPPeer => "bgppeers",
            Kind::BGPFilter => "bgpfilters",
            Kind::Node => "nodes",
            Kind::Profile => "profiles",
            Kind::NetworkPolicy => "networkpolicies",
            Kind::GlobalNetworkPolicy => "globalnetworkpolicies",
            Kind::Tier => "tiers",
            Kind::NetworkSet => "networksets",
            Kind::GlobalNetworkSet => "globalnetworksets",
            Kind::HostEndpoint => "hostendpoints",
            Kind::WorkloadEndpoint => "workloadendpoints",
            Kind::FelixConfiguration => "felixconfigurations",
            Kind::ClusterInformation => "clusterinformations",
        }
    }

    /// Whether resources of this kind live in a namespace.
    pub fn namespaced(self) -> bool {
        matches!(
            self,
            Kind::NetworkPolicy | Kind::NetworkSet | Kind::WorkloadEndpoint
        )
    }

    /// Short names calicoctl accepts besides the kind name and its plural.
    fn aliases(self) -> &'static [&'static str] {
        match self {
            Kind::IPPool => &["ipp", "ipps", "pool", "pools"],
            Kind::IPReservation => &["reservation", "reservations"],
            Kind::IPAMConfiguration => &["ipamconfig", "ipamconfigs"],
            Kind::BGPConfiguration => &["bgpconfig", "bgpconfigs"],
            Kind::BGPPeer => &["bgpp", "bgpps", "bp", "bps"],
            Kind::BGPFilter => &["bgpfilter", "bgpfilters"],
            Kind::Node => &["no", "nos"],
            Kind::Profile => &["pro", "pros"],
            Kind::NetworkPolicy => &["policy", "policies", "np", "nps", "pol", "pols"],
            Kind::GlobalNetworkPolicy => &["gnp", "gnps"],
            Kind::Tier => &[],
            Kind::NetworkSet => &["netset", "netsets"],
            Kind::GlobalNetworkSet => &["gnetset", "gnetsets"],
            Kind::HostEndpoint => &["hep", "heps"],
            Kind::WorkloadEndpoint => &["wep", "weps"],
            Kind::FelixConfiguration => &["felixconfig", "felixconfigs"],
            Kind::ClusterInformation => &["clusterinfo", "clusterinfos"],
        }
    }

    /// Resolves a calicoctl kind name: the kind itself, its plural or a short alias,
    /// case-insensitively (`"ippool"`, `"IPPools"`, `"gnp"`, `"wep"`).
    pub fn from_alias(s: &str) -> Option<Kind> {
        let lower = s.to_ascii_lowercase();
        ALL.iter().copied().find(|k| {
            k.as_str().eq_ignore_ascii_case(&lower)
                || k.plural() == lower
                || k.aliases().contains(&lower.as_str())
        })
    }

    /// Exact match on the `kind:` value of a document (case-sensitive, as the API server is).
    pub fn from_kind_name(s: &str) -> Option<Kind> {
        ALL.iter().copied().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_resolve_case_insensitively() {
        assert_eq!(Kind::from_alias("ippool"), Some(Kind::IPPool));
        assert_eq!(Kind::from_alias("IPPools"), Some(Kind::IPPool));
        assert_eq!(Kind::from_alias("ipp"), Some(Kind::IPPool));
        assert_eq!(Kind::from_alias("pool"), Some(Kind::IPPool));
        assert_eq!(Kind::from_alias("GNP"), Some(Kind::GlobalNetworkPolicy));
        assert_eq!(Kind::from_alias("wep"), Some(Kind::WorkloadEndpoint));
        assert_eq!(Kind::from_alias("hep"), Some(Kind::HostEndpoint));
        assert_eq!(Kind::from_alias("policies"), Some(Kind::NetworkPolicy));
        assert_eq!(Kind::from_alias("bgpconfig"), Some(Kind::BGPConfiguration));
        assert_eq!(
            Kind::from_alias("networkpolicies"),
            Some(Kind::NetworkPolicy)
        );
        assert_eq!(Kind::from_alias("tiers"), Some(Kind::Tier));
        assert_eq!(Kind::from_alias("nope"), None);
    }

    #[test]
    fn every_kind_resolves_from_its_own_name_and_plural() {
        for k in Kind::all() {
            assert_eq!(Kind::from_alias(k.as_str()), Some(*k));
            assert_eq!(Kind::from_alias(k.plural()), Some(*k));
            assert_eq!(Kind::from_kind_name(k.as_str()), Some(*k));
        }
        assert_eq!(Kind::from_kind_name("ippool"), None);
    }

    #[test]
    fn namespaced_kinds() {
        let ns: Vec<Kind> = Kind::all()
            .iter()
            .copied()
            .filter(|k| k.namespaced())
            .collect();
        assert_eq!(
            ns,
            vec![
                Kind::NetworkPolicy,
                Kind::NetworkSet,
                Kind::WorkloadEndpoint
            ]
        );
    }
}
