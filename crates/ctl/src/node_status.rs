//! `calicoctl node status`: asks the local calico-node for its status over its unix socket and
//! prints what Calico prints: `Calico process is running.` and the IPv4 and IPv6 BGP status
//! tables, or `Calico process is not running.` (exit 1) when nothing answers on the socket.
//! `--details` (ours) adds what the agent reports about itself and, per BGP session, its
//! prefix counters, uptime, hold time, graceful-restart state and last error.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, Result};
use clap::{Args, Subcommand};
use node::status::NodeStatusReport;

/// How long calico-node may take to answer before we give up on it.
const QUERY_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Args)]
pub struct NodeArgs {
    #[command(subcommand)]
    pub command: NodeCommand,
}

#[derive(Debug, Subcommand)]
pub enum NodeCommand {
    /// Check the status of the local Calico node: whether it runs, and its BGP sessions.
    Status(NodeStatusArgs),
}

#[derive(Debug, Args)]
pub struct NodeStatusArgs {
    /// calico-node's status socket.
    #[arg(long = "status-socket", env = "CALICO_STATUS_SOCKET",
          default_value = node::agent::DEFAULT_STATUS_SOCKET)]
    pub status_socket: PathBuf,
    /// Also show the node's name, addresses, AS number and datastore sync state, and per BGP
    /// peer: prefixes received/accepted/advertised, uptime, hold time, graceful restart and
    /// last error.
    #[arg(long = "details")]
    pub details: bool,
}

pub async fn run(args: &NodeArgs) -> Result<()> {
    match &args.command {
        NodeCommand::Status(status) => print_status(status).await,
    }
}

async fn print_status(args: &NodeStatusArgs) -> Result<()> {
    let path = &args.status_socket;
    let report = match tokio::time::timeout(QUERY_TIMEOUT, node::status::query(path)).await {
        Err(_) => {
            return Err(anyhow!(
                "calico-node did not answer on {} within {}s",
                path.display(),
                QUERY_TIMEOUT.as_secs()
            ))
        }
        Ok(Err(e)) if not_running(&e) => return Err(anyhow!("Calico process is not running.")),
        Ok(Err(e)) => return Err(e.into()),
        Ok(Ok(report)) => report,
    };
    print!("{}", render(&report, args.details));
    Ok(())
}

/// Whether the error means nobody listens on the socket (no file, or a stale one).
fn not_running(e: &node::Error) -> bool {
    use std::io::ErrorKind;
    matches!(e, node::Error::Io { error, .. }
        if matches!(error.kind(), ErrorKind::NotFound | ErrorKind::ConnectionRefused))
}

/// The whole output for a node that answered.
fn render(report: &NodeStatusReport, details: bool) -> String {
    let mut out = String::from("Calico process is running.\n\n");
    out += &node::bgp::render_status(&report.bgp_peers);
    if details {
        out += &render_details(report);
        out += "BGP peer details\n";
        out += &node::bgp::render_details(&report.bgp_peers);
        out += "\n";
    }
    out
}

/// The `--details` section: the agent's view of itself.
fn render_details(report: &NodeStatusReport) -> String {
    let none = || "none".to_string();
    let resources = report
        .resources
        .iter()
        .map(|(kind, n)| format!("{kind} {n}"))
        .collect::<Vec<_>>()
        .join(", ");
    let rows = [
        ("Node name", report.node_name.clone()),
        (
            "IPv4 address",
            report.ipv4_address.clone().unwrap_or_else(none),
        ),
        (
            "IPv6 address",
            report.ipv6_address.clone().unwrap_or_else(none),
        ),
        (
            "AS number",
            report.as_number.map_or_else(none, |a| a.to_string()),
        ),
        (
            "Datastore",
            if report.in_sync { "in sync" } else { "syncing" }.to_string(),
        ),
        (
            "Resources",
            if resources.is_empty() {
                none()
            } else {
                resources
            },
        ),
    ];
    let mut out = String::from("Calico node details\n");
    for (key, value) in rows {
        out += &format!("{:<14}{value}\n", format!("{key}:"));
    }
    out + "\n"
}

#[cfg(test)]
mod tests {
    use node::status::BgpPeerStatus;

    use super::*;

    fn report() -> NodeStatusReport {
        NodeStatusReport {
            node_name: "n1".into(),
            ipv4_address: Some("10.0.0.5/24".into()),
            as_number: Some(64512),
            in_sync: true,
            resources: [("IPPool".to_string(), 1), ("Node".to_string(), 2)].into(),
            bgp_peers: vec![BgpPeerStatus {
                peer_address: "172.17.8.102".into(),
                peer_type: "node-to-node mesh".into(),
                state: "up".into(),
                since: "23:30:04".into(),
                info: "Established".into(),
                name: Some("Mesh_172_17_8_102".into()),
                received: Some(2),
                accepted: Some(2),
                advertised: Some(1),
                uptime_seconds: Some(75),
                hold_time: Some(240),
                graceful_restart: Some("negotiated, peer restart time 120s".into()),
                stale: Some(0),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn prints_like_calico() {
        assert_eq!(
            render(&report(), false),
            "\
Calico process is running.

IPv4 BGP status
+--------------+-------------------+-------+----------+-------------+
| PEER ADDRESS |     PEER TYPE     | STATE |  SINCE   |    INFO     |
+--------------+-------------------+-------+----------+-------------+
| 172.17.8.102 | node-to-node mesh | up    | 23:30:04 | Established |
+--------------+-------------------+-------+----------+-------------+

IPv6 BGP status
No IPv6 peers found.

"
        );
    }

    #[test]
    fn details_follow_the_tables() {
        let out = render(&report(), true);
        let details = out.split_once("No IPv6 peers found.\n\n").unwrap().1;
        assert_eq!(
            details,
            "\
Calico node details
Node name:    n1
IPv4 address: 10.0.0.5/24
IPv6 address: none
AS number:    64512
Datastore:    in sync
Resources:    IPPool 1, Node 2

BGP peer details
Peer 172.17.8.102 (Mesh_172_17_8_102, node-to-node mesh)
  State:            Established, up for 1m15s
  Prefixes:         2 received, 2 accepted, 1 advertised
  Hold time:        240s
  Graceful restart: negotiated, peer restart time 120s
  Last error:       none

"
        );
    }

    #[test]
    fn missing_or_refusing_socket_means_not_running() {
        let io = |kind| node::Error::Io {
            context: "cannot query".into(),
            path: "/x".into(),
            error: std::io::Error::from(kind),
        };
        assert!(not_running(&io(std::io::ErrorKind::NotFound)));
        assert!(not_running(&io(std::io::ErrorKind::ConnectionRefused)));
        assert!(!not_running(&io(std::io::ErrorKind::PermissionDenied)));
    }
}
