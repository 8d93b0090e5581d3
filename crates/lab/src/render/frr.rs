//! FRR configuration for the top-of-rack router: zebra (routes to the fabric namespace's
//! kernel) and bgpd with one eBGP neighbour per node, each family activated only for
//! neighbours of that family.

use std::fmt::Write;

use crate::topology::{NodePlan, TorPlan};

/// `zebra.conf`.
pub fn zebra_config() -> String {
    "! Rendered by calico-lab: the top-of-rack router.\nhostname tor\n".to_string()
}

/// `bgpd.conf`.
pub fn bgpd_config(tor: &TorPlan, nodes: &[NodePlan]) -> String {
    let mut out = format!(
        "! Rendered by calico-lab: the top-of-rack router.\nhostname tor\n\
         router bgp {}\n bgp router-id {}\n no bgp ebgp-requires-policy\n \
         no bgp network import-check\n",
        tor.as_number, tor.ipv4
    );
    for node in nodes {
        let _ = writeln!(out, " neighbor {} remote-as {}", node.ipv4, node.as_number);
        if tor.ipv6.is_some() {
            if let Some(v6) = node.ipv6 {
                let _ = writeln!(out, " neighbor {v6} remote-as {}", node.as_number);
            }
        }
    }
    out.push_str(" address-family ipv4 unicast\n");
    for node in nodes {
        let _ = writeln!(out, "  neighbor {} activate", node.ipv4);
        if let (Some(_), Some(v6)) = (tor.ipv6, node.ipv6) {
            let _ = writeln!(out, "  no neighbor {v6} activate");
        }
    }
    out.push_str(" exit-address-family\n");
    if tor.ipv6.is_some() {
        out.push_str(" address-family ipv6 unicast\n");
        for v6 in nodes.iter().filter_map(|n| n.ipv6) {
            let _ = writeln!(out, "  neighbor {v6} activate");
        }
        out.push_str(" exit-address-family\n");
    }
    out.push_str("!\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{LabSpec, Peering, TorRouter};
    use crate::topology::Topology;

    fn topology(ipv6: bool) -> Topology {
        Topology::plan(
            "t",
            &LabSpec::for_test(2, 0, Peering::Tor, TorRouter::Frr, ipv6),
        )
    }

    #[test]
    fn v4_only() {
        let t = topology(false);
        let text = bgpd_config(t.tor.as_ref().unwrap(), &t.nodes);
        assert!(text.contains("router bgp 65000\n bgp router-id 172.31.0.1\n"));
        assert!(text.contains(" neighbor 172.31.0.11 remote-as 65001\n"));
        assert!(text.contains(" neighbor 172.31.0.12 remote-as 65002\n"));
        assert!(text.contains("no bgp ebgp-requires-policy"));
        assert!(!text.contains("ipv6"));
    }

    #[test]
    fn dual_stack_activates_each_family_for_its_own_neighbours() {
        let t = topology(true);
        let text = bgpd_config(t.tor.as_ref().unwrap(), &t.nodes);
        assert!(text.contains(" neighbor fd00:172:31::12 remote-as 65002\n"));
        assert!(text.contains("  no neighbor fd00:172:31::11 activate\n"));
        assert!(text.contains(
            " address-family ipv6 unicast\n  neighbor fd00:172:31::11 activate\n  neighbor fd00:172:31::12 activate\n"
        ));
        assert!(zebra_config().contains("hostname tor"));
    }
}
