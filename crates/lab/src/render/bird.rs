//! BIRD 2 configuration for the top-of-rack router: one eBGP session per node (single hop,
//! bound to the ToR address), BGP-learned routes exported to the kernel of the fabric
//! namespace and re-advertised to the other nodes.

use std::fmt::Write;

use crate::topology::{NodePlan, TorPlan};

/// The whole `bird.conf`.
pub fn config(tor: &TorPlan, nodes: &[NodePlan]) -> String {
    let mut out = format!(
        "# Rendered by calico-lab: the top-of-rack router.\n\
         router id {};\n\n\
         protocol device {{\n  scan time 2;\n}}\n\n\
         protocol kernel kernel4 {{\n  ipv4 {{ import none; export where source = RTS_BGP; }};\n}}\n",
        tor.ipv4
    );
    if tor.ipv6.is_some() {
        out.push_str(
            "\nprotocol kernel kernel6 {\n  ipv6 { import none; export where source = RTS_BGP; };\n}\n",
        );
    }
    for node in nodes {
        let _ = write!(
            out,
            "\nprotocol bgp {} {{\n  local {} as {};\n  neighbor {} as {};\n  strict bind yes;\n  \
             ipv4 {{ import all; export where source = RTS_BGP; }};\n}}\n",
            node.name, tor.ipv4, tor.as_number, node.ipv4, node.as_number
        );
        if let (Some(local), Some(peer)) = (tor.ipv6, node.ipv6) {
            let _ = write!(
                out,
                "\nprotocol bgp {}_v6 {{\n  local {} as {};\n  neighbor {} as {};\n  \
                 strict bind yes;\n  ipv6 {{ import all; export where source = RTS_BGP; }};\n}}\n",
                node.name, local, tor.as_number, peer, node.as_number
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{LabSpec, Peering, TorRouter};
    use crate::topology::Topology;

    #[test]
    fn one_session_per_node_and_family() {
        let t = Topology::plan(
            "t",
            &LabSpec::for_test(2, 0, Peering::Tor, TorRouter::Bird, true),
        );
        let text = config(t.tor.as_ref().unwrap(), &t.nodes);
        assert!(text.contains("router id 172.31.0.1;"));
        assert!(text.contains(
            "protocol bgp node2 {\n  local 172.31.0.1 as 65000;\n  neighbor 172.31.0.12 as 65002;"
        ));
        assert!(text.contains("protocol bgp node1_v6 {\n  local fd00:172:31::1 as 65000;\n  neighbor fd00:172:31::11 as 65001;"));
        assert!(text.contains("protocol kernel kernel6"));
        assert_eq!(text.matches("protocol bgp").count(), 4);
        assert_eq!(text.matches('{').count(), text.matches('}').count());
    }
}
