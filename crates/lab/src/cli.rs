//! The command line of `calico-lab`.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use ipnet::IpNet;

use crate::probe::Proto;
use crate::spec::{DatastoreKind, Peering, TorRouter, DEFAULT_POOL, DEFAULT_POOL6};

/// calico-lab: a Calico cluster on this machine, in network namespaces.
#[derive(Debug, Parser)]
#[command(name = "calico-lab", version)]
pub struct Cli {
    /// The lab's name: prefix of every namespace it makes (`<name>-fabric`, `<name>-node1`...)
    /// and of its state directory under $CALICO_LAB_DIR (default /run/calico-lab).
    #[arg(long, global = true, env = "CALICO_LAB_NAME", default_value = "clab")]
    pub name: String,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build the lab: fabric, nodes running calico-node, workloads through the CNI plugin.
    Up(UpArgs),
    /// Remove everything the lab made (also after a crash).
    Down,
    /// List what `up` with these options needs from this machine, and what is missing.
    Check(UpArgs),
    /// Show nodes, BGP sessions, the ToR router and workloads.
    Status(OutputArgs),
    /// Probe every pair of workloads and draw the connectivity matrix.
    Matrix(MatrixArgs),
    /// Add or remove a workload.
    #[command(subcommand)]
    Workload(WorkloadCommand),
    /// Act on a node's calico-node.
    #[command(subcommand)]
    Node(NodeCommand),
    /// Run a command in a node, a workload or `fabric`, with the lab's datastore settings.
    Exec(ExecArgs),
    /// The guided tour: up, status, matrix, policy, matrix again, down.
    Demo(DemoArgs),
    /// (internal) Serve TCP and UDP on a port inside a workload.
    #[command(hide = true)]
    Responder {
        #[arg(long)]
        port: u16,
    },
    /// (internal) Probe targets from inside a workload; prints a JSON list of booleans.
    #[command(hide = true)]
    Probe {
        #[arg(long, value_enum)]
        proto: Proto,
        #[arg(long)]
        port: u16,
        #[arg(long, default_value_t = 1000)]
        timeout_ms: u64,
        targets: Vec<IpAddr>,
    },
    /// (internal) Our BGP speaker as the top-of-rack router (`--tor calico`), run by `up`
    /// in the fabric namespace.
    #[command(hide = true)]
    TorRouter {
        #[arg(long = "as")]
        asn: u32,
        #[arg(long)]
        router_id: Ipv4Addr,
        /// The ToR's own address, one per family (the source of its connections).
        #[arg(long = "local")]
        local: Vec<IpAddr>,
        /// A node's session, `ADDR=AS`.
        #[arg(long = "peer", value_parser = crate::tor::parse_peer)]
        peers: Vec<(IpAddr, u32)>,
        /// Where to serve the sessions as JSON.
        #[arg(long)]
        status_socket: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Number of nodes.
    #[arg(long, default_value_t = 3)]
    pub nodes: u32,
    /// Workloads per node.
    #[arg(long, default_value_t = 2)]
    pub workloads: u32,
    #[arg(long, value_enum, default_value_t = DatastoreKind::Embedded)]
    pub datastore: DatastoreKind,
    #[arg(long, value_enum, default_value_t = Peering::Mesh)]
    pub peering: Peering,
    /// The router at the ToR address (with --peering tor).
    #[arg(long, value_enum, default_value_t = TorRouter::Bird)]
    pub tor: TorRouter,
    /// Dual stack: IPv6 on the fabric, an IPv6 pool, IPv6 for workloads.
    #[arg(long)]
    pub ipv6: bool,
    /// The IPv4 pool workloads get addresses from.
    #[arg(long, default_value = DEFAULT_POOL)]
    pub pool: IpNet,
    /// The IPv6 pool (with --ipv6).
    #[arg(long, default_value = DEFAULT_POOL6)]
    pub pool6: IpNet,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct OutputArgs {
    #[arg(short = 'o', long = "output", value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

#[derive(Debug, Args)]
pub struct MatrixArgs {
    #[arg(long, value_enum, default_value_t = Proto::Tcp)]
    pub proto: Proto,
    /// TCP/UDP port (responders are started on it if it is not the lab's 8080).
    #[arg(long, default_value_t = crate::lab::RESPONDER_PORT)]
    pub port: u16,
    /// Probe the workloads' IPv6 addresses instead of IPv4.
    #[arg(long)]
    pub ipv6: bool,
    /// Per-probe timeout.
    #[arg(long, default_value_t = 1000)]
    pub timeout_ms: u64,
    #[arg(short = 'o', long = "output", value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

#[derive(Debug, Subcommand)]
pub enum WorkloadCommand {
    /// Create a workload through the CNI plugin (ADD).
    Add {
        #[arg(value_name = "NAME")]
        workload: String,
        #[arg(long)]
        node: String,
        /// Ask IPAM for this address (CNI_ARGS IP=).
        #[arg(long)]
        ip: Option<IpAddr>,
        /// Labels, `k=v,k2=v2`.
        #[arg(long, default_value = "")]
        labels: String,
    },
    /// Remove a workload through the CNI plugin (DEL).
    Del {
        #[arg(value_name = "NAME")]
        workload: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum NodeCommand {
    /// Stop calico-node on a node (if it still runs) and start it again.
    Restart {
        #[arg(value_name = "NAME")]
        node: String,
    },
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// A node (`node1`), a workload (`node1-w1`) or `fabric`.
    pub member: String,
    /// The command, after `--`.
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    #[arg(long, default_value_t = 3)]
    pub nodes: u32,
    #[arg(long, default_value_t = 2)]
    pub workloads: u32,
}
