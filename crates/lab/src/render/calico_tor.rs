//! The command line of our own top-of-rack router (`calico-lab tor-router`): its AS, router
//! ID, own addresses, and one `--peer ADDR=AS` per node address of each family it serves.

use std::path::Path;

use crate::topology::{NodePlan, TorPlan};

/// The arguments after the program name.
pub fn args(tor: &TorPlan, nodes: &[NodePlan], status_socket: &Path) -> Vec<String> {
    let mut out = vec![
        "tor-router".to_string(),
        "--as".to_string(),
        tor.as_number.to_string(),
        "--router-id".to_string(),
        tor.ipv4.to_string(),
        "--local".to_string(),
        tor.ipv4.to_string(),
    ];
    if let Some(v6) = tor.ipv6 {
        out.extend(["--local".to_string(), v6.to_string()]);
    }
    for node in nodes {
        out.extend([
            "--peer".to_string(),
            format!("{}={}", node.ipv4, node.as_number),
        ]);
        if let (Some(_), Some(v6)) = (tor.ipv6, node.ipv6) {
            out.extend(["--peer".to_string(), format!("{v6}={}", node.as_number)]);
        }
    }
    out.extend([
        "--status-socket".to_string(),
        status_socket.display().to_string(),
    ]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{LabSpec, Peering, TorRouter};
    use crate::topology::Topology;

    #[test]
    fn one_peer_per_node_and_family() {
        let t = Topology::plan(
            "t",
            &LabSpec::for_test(2, 0, Peering::Tor, TorRouter::Calico, true),
        );
        let text = args(
            t.tor.as_ref().unwrap(),
            &t.nodes,
            Path::new("/run/t/tor.sock"),
        )
        .join(" ");
        assert_eq!(
            text,
            "tor-router --as 65000 --router-id 172.31.0.1 --local 172.31.0.1 --local \
             fd00:172:31::1 --peer 172.31.0.11=65001 --peer fd00:172:31::11=65001 --peer \
             172.31.0.12=65002 --peer fd00:172:31::12=65002 --status-socket /run/t/tor.sock"
        );
    }
}
