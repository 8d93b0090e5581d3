//! The command line: global flags and one subcommand per calicoctl command (clap derive).

use std::path::PathBuf;

use clap::{ArgAction, ArgGroup, Args, Parser, Subcommand};

/// calicoctl: manage Calico `projectcalico.org/v3` resources.
#[derive(Debug, Parser)]
#[command(name = "calicoctl", version, about)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command accepts.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Path to the CalicoAPIConfig file with connection configuration.
    #[arg(short = 'c', long = "config", global = true)]
    pub config: Option<PathBuf>,
    /// Log level (panic, fatal, error, warn, info, debug).
    #[arg(short = 'l', long = "log-level", global = true, default_value = "panic",
          value_parser = ["panic", "fatal", "error", "warn", "warning", "info", "debug", "trace"])]
    pub log_level: String,
    /// Allow client and cluster versions to differ.
    #[arg(long = "allow-version-mismatch", global = true)]
    pub allow_version_mismatch: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create resources by filename or stdin.
    Create(CreateArgs),
    /// Create resources, or replace them if they exist.
    Apply(WriteArgs),
    /// Replace existing resources.
    Replace(WriteArgs),
    /// Delete resources by filename, stdin, or kind and names.
    Delete(DeleteArgs),
    /// Display resources.
    Get(GetArgs),
    /// Update fields of a resource with a merge or JSON patch.
    Patch(PatchArgs),
    /// Set or remove a label on a resource.
    Label(LabelArgs),
    /// Convert Calico v1 manifests and Kubernetes NetworkPolicies to projectcalico.org/v3.
    Convert(ConvertArgs),
    /// Check resources in a file without touching the datastore.
    Validate(FileArgs),
    /// Display the client version and the cluster's Calico version.
    Version(VersionArgs),
    /// IP address management: usage, consistency check, release, configuration.
    Ipam(IpamArgs),
    /// Policy tools: trace whether traffic between two endpoints is allowed, and why.
    Policy(PolicyArgs),
    /// Commands run on a Calico node: `node status`.
    Node(crate::node_status::NodeArgs),
}

/// Where resources are read from.
#[derive(Debug, Args)]
pub struct FileArgs {
    /// File or directory with resources; `-` reads stdin.
    #[arg(short = 'f', long = "filename")]
    pub filename: String,
    /// Descend into subdirectories of a directory given with `-f`.
    #[arg(short = 'R', long = "recursive")]
    pub recursive: bool,
    /// Do not fail when a file holds no resources.
    #[arg(long = "skip-empty")]
    pub skip_empty: bool,
}

#[derive(Debug, Args)]
pub struct WriteArgs {
    #[command(flatten)]
    pub file: FileArgs,
    /// Namespace for namespaced resources that do not name one.
    #[arg(short = 'n', long = "namespace")]
    pub namespace: Option<String>,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    #[command(flatten)]
    pub write: WriteArgs,
    /// Do not fail on resources that already exist.
    #[arg(long = "skip-exists")]
    pub skip_exists: bool,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// Kind of the resources to delete (when not using `-f`).
    pub kind: Option<String>,
    /// Names of the resources to delete.
    pub names: Vec<String>,
    /// File or directory with the resources to delete; `-` reads stdin.
    #[arg(short = 'f', long = "filename", conflicts_with = "kind")]
    pub filename: Option<String>,
    #[arg(short = 'R', long = "recursive")]
    pub recursive: bool,
    #[arg(long = "skip-empty")]
    pub skip_empty: bool,
    /// Do not fail on resources that do not exist.
    #[arg(short = 's', long = "skip-not-exists")]
    pub skip_not_exists: bool,
    #[arg(short = 'n', long = "namespace")]
    pub namespace: Option<String>,
}

#[derive(Debug, Args)]
pub struct GetArgs {
    /// Kind of the resources to display (when not using `-f`).
    pub kind: Option<String>,
    /// Names of the resources to display; all of the kind when none.
    pub names: Vec<String>,
    /// ps (default), wide, yaml, json or custom-columns=COL1,COL2,...
    #[arg(short = 'o', long = "output", default_value = "ps")]
    pub output: String,
    #[arg(short = 'n', long = "namespace")]
    pub namespace: Option<String>,
    /// List namespaced resources across all namespaces.
    #[arg(short = 'A', long = "all-namespaces", visible_short_alias = 'a')]
    pub all_namespaces: bool,
    /// Leave out cluster-specific metadata (resourceVersion, uid, creationTimestamp).
    #[arg(long = "export")]
    pub export: bool,
    #[arg(short = 'f', long = "filename", conflicts_with = "kind")]
    pub filename: Option<String>,
    #[arg(short = 'R', long = "recursive")]
    pub recursive: bool,
    #[arg(long = "skip-empty")]
    pub skip_empty: bool,
}

#[derive(Debug, Args)]
pub struct PatchArgs {
    pub kind: String,
    pub name: String,
    /// The patch, as JSON or YAML.
    #[arg(short = 'p', long = "patch")]
    pub patch: String,
    /// strategic (default) or merge: a merge patch (RFC 7386); json: a JSON patch (RFC 6902).
    #[arg(short = 't', long = "type", default_value = "strategic",
          value_parser = ["strategic", "merge", "json"])]
    pub patch_type: String,
    #[arg(short = 'n', long = "namespace")]
    pub namespace: Option<String>,
}

#[derive(Debug, Args)]
pub struct LabelArgs {
    pub kind: String,
    pub name: String,
    /// `key=value`, or `key` with `--remove`.
    pub label: String,
    /// Replace the value of a label that is already set.
    #[arg(long = "overwrite", conflicts_with = "remove")]
    pub overwrite: bool,
    /// Remove the label instead of setting it.
    #[arg(long = "remove")]
    pub remove: bool,
    #[arg(short = 'n', long = "namespace")]
    pub namespace: Option<String>,
}

#[derive(Debug, Args)]
pub struct ConvertArgs {
    #[command(flatten)]
    pub file: FileArgs,
    /// yaml (default) or json.
    #[arg(short = 'o', long = "output", default_value = "yaml")]
    pub output: String,
}

#[derive(Debug, Args)]
pub struct VersionArgs {
    /// Print only the client version.
    #[arg(long = "client")]
    pub client: bool,
}

#[derive(Debug, Args)]
pub struct IpamArgs {
    #[command(subcommand)]
    pub command: IpamCommand,
}

#[derive(Debug, Subcommand)]
pub enum IpamCommand {
    /// Show pool and block utilisation, who holds an address, borrowed addresses or the
    /// IPAM configuration.
    Show(IpamShowArgs),
    /// Compare IPAM records with the workloads and nodes using addresses.
    Check(IpamCheckArgs),
    /// Release an address, or what an `ipam check` report found leaked.
    Release(IpamReleaseArgs),
    /// Update the IPAM configuration.
    Configure(IpamConfigureArgs),
}

#[derive(Debug, Args)]
pub struct IpamShowArgs {
    /// Report whether this address is in use, and by whom.
    #[arg(long = "ip", conflicts_with = "show_blocks")]
    pub ip: Option<String>,
    /// Show each block's utilisation under its pool.
    #[arg(long = "show-blocks")]
    pub show_blocks: bool,
    /// List addresses used by a node other than their block's owner.
    #[arg(long = "show-borrowed", conflicts_with_all = ["ip", "show_blocks"])]
    pub show_borrowed: bool,
    /// Show the IPAM configuration.
    #[arg(long = "show-configuration", conflicts_with_all = ["ip", "show_blocks", "show_borrowed"])]
    pub show_configuration: bool,
}

#[derive(Debug, Args)]
pub struct IpamCheckArgs {
    /// List every allocated address with its handle and owner attributes.
    #[arg(long = "show-all-ips")]
    pub show_all_ips: bool,
    /// List each problem address (leaked, or in use without an allocation).
    #[arg(long = "show-problem-ips")]
    pub show_problem_ips: bool,
    /// Write the report, as JSON, to this file (input of `release --from-report`).
    #[arg(short = 'o', long = "output")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("what").required(true).args(["ip", "from_report"])))]
pub struct IpamReleaseArgs {
    /// The address to release.
    #[arg(long = "ip")]
    pub ip: Option<String>,
    /// Release what these `ipam check -o` reports found leaked.
    #[arg(long = "from-report", num_args = 1.., action = ArgAction::Append)]
    pub from_report: Vec<PathBuf>,
    /// Release from a report even though the datastore is not locked.
    #[arg(long = "force", requires = "from_report")]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct IpamConfigureArgs {
    /// true: hosts use only blocks affine to them (no borrowing).
    #[arg(long = "strictaffinity", action = ArgAction::Set, required = true)]
    pub strict_affinity: bool,
    /// Most blocks one host may claim (0: no limit).
    #[arg(long = "max-blocks-per-host")]
    pub max_blocks_per_host: Option<u32>,
}

#[derive(Debug, Args)]
pub struct PolicyArgs {
    #[command(subcommand)]
    pub command: PolicyCommand,
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Would traffic from one endpoint to another be allowed, and which rule decides?
    Trace(TraceArgs),
}

#[derive(Debug, Args)]
pub struct TraceArgs {
    /// Source: namespace/name or the name of a workload endpoint, hep:name, an IP, or labels
    /// k=v,k2=v2.
    #[arg(long = "from")]
    pub from: String,
    /// Destination, in the same forms as --from.
    #[arg(long = "to")]
    pub to: String,
    /// tcp, udp, icmp, icmpv6, sctp, udplite or a protocol number.
    #[arg(long = "protocol", default_value = "tcp")]
    pub protocol: String,
    /// Destination port (tcp, udp, sctp).
    #[arg(long = "port")]
    pub port: Option<u16>,
    /// Source port (tcp, udp, sctp).
    #[arg(long = "source-port")]
    pub source_port: Option<u16>,
    /// ICMP type (icmp, icmpv6).
    #[arg(long = "icmp-type")]
    pub icmp_type: Option<u8>,
    /// ICMP code (needs --icmp-type).
    #[arg(long = "icmp-code", requires = "icmp_type")]
    pub icmp_code: Option<u8>,
    /// text (default) or json (the verdict with its full trace).
    #[arg(short = 'o', long = "output", default_value = "text", value_parser = ["text", "json"])]
    pub output: String,
}
