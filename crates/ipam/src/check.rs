//! `calicoctl ipam check`, pure part: compares IPAM records (blocks, affinities, handles)
//! with what is really using addresses (WorkloadEndpoints' ipNetworks, Node tunnel
//! addresses) and lists leaks, missing allocations, orphaned handles and broken affinities.
//! The report is JSON (`-o report.json`) and is what `ipam release --from-report` reads back.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use api::{Node, WorkloadEndpoint};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::block::AllocationBlock;
use crate::pools::Pool;
use crate::records::{AffinityState, IpamHandle};

/// Report format version written into every report.
pub const REPORT_VERSION: u32 = 1;

/// How many nodes `top_nodes` lists.
const TOP_NODES: usize = 20;

/// One stored affinity key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AffinityRecord {
    pub host: String,
    pub block: IpNet,
    pub state: AffinityState,
    pub revision: i64,
}

/// Everything `check` looks at, as read from the datastore.
#[derive(Clone, Debug, Default)]
pub struct IpamSnapshot {
    pub blocks: Vec<AllocationBlock>,
    pub affinities: Vec<AffinityRecord>,
    pub handles: BTreeMap<String, IpamHandle>,
    pub pools: Vec<Pool>,
    pub nodes: Vec<Node>,
    pub workload_endpoints: Vec<WorkloadEndpoint>,
}

/// A block as listed by check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockSummary {
    pub cidr: IpNet,
    pub affinity: Option<String>,
    pub allocations: usize,
}

/// An allocation (leaked, or whose handle is missing).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllocatedIp {
    pub ip: IpAddr,
    pub block: IpNet,
    pub handle: Option<String>,
    pub sequence_number: Option<u64>,
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

/// An address used by a workload or node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InUseIp {
    pub ip: IpAddr,
    /// e.g. `WorkloadEndpoint(ns/name)` or `Node(n1) ipv4VXLANTunnelAddr`.
    pub owner: String,
}

/// What is wrong with an affinity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AffinityProblem {
    /// The affinity names a node that does not exist.
    NodeMissing,
    /// The affinity key exists but its block does not.
    BlockMissing,
    /// The block exists but is affine to someone else (or nobody).
    BlockOwnedByOther { owner: Option<String> },
    /// A block says `host:<node>` but there is no affinity key for it.
    AffinityKeyMissing,
}

/// One broken affinity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokenAffinity {
    pub host: String,
    pub block: IpNet,
    pub problem: AffinityProblem,
    /// Revision of the affinity key when checked (0 when there is no key).
    pub revision: i64,
}

/// Allocations per node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeAllocations {
    pub node: String,
    pub allocations: usize,
}

/// The result of `ipam check`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckReport {
    pub version: u32,
    pub blocks: Vec<BlockSummary>,
    pub allocations: usize,
    pub active_pools: Vec<IpNet>,
    pub node_tunnel_ips: usize,
    pub workload_ips: usize,
    pub ips_in_use: usize,
    pub top_nodes: Vec<NodeAllocations>,
    /// Allocated in IPAM but used by no workload or node.
    pub leaked_ips: Vec<AllocatedIp>,
    /// Used but outside every active pool.
    pub in_use_not_in_pools: Vec<InUseIp>,
    /// Used, inside an active pool, but not allocated.
    pub in_use_not_allocated: Vec<InUseIp>,
    /// Handles that no allocation refers to.
    pub leaked_handles: Vec<String>,
    pub handles_with_matches: usize,
    /// Allocations whose handle record does not exist.
    pub missing_handle_ips: Vec<AllocatedIp>,
    pub broken_affinities: Vec<BrokenAffinity>,
}

impl CheckReport {
    /// Number of problems found.
    pub fn problems(&self) -> usize {
        self.leaked_ips.len()
            + self.in_use_not_in_pools.len()
            + self.in_use_not_allocated.len()
            + self.leaked_handles.len()
            + self.missing_handle_ips.len()
            + self.broken_affinities.len()
    }

    /// The report as pretty JSON (the `-o` file).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("report serialises")
    }

    /// Reads a report written by [`CheckReport::to_json`].
    pub fn from_json(text: &str) -> crate::Result<Self> {
        let report: CheckReport = serde_json::from_str(text)
            .map_err(|e| crate::Error::Invalid(format!("not an IPAM check report: {e}")))?;
        if report.version != REPORT_VERSION {
            return Err(crate::Error::Invalid(format!(
                "IPAM check report version {} is not supported (expected {REPORT_VERSION})",
                report.version
            )));
        }
        Ok(report)
    }
}

/// Addresses really in use, with who uses them.
fn addresses_in_use(snapshot: &IpamSnapshot) -> (Vec<InUseIp>, usize, usize) {
    let mut used = Vec::new();
    let mut tunnels = 0;
    for node in &snapshot.nodes {
        let name = &node.metadata.name;
        let spec = &node.spec;
        let mut fields: Vec<(&str, &str)> = vec![
            ("ipv4VXLANTunnelAddr", &spec.ipv4_vxlan_tunnel_addr),
            ("ipv6VXLANTunnelAddr", &spec.ipv6_vxlan_tunnel_addr),
        ];
        if let Some(bgp) = &spec.bgp {
            fields.push(("ipv4IPIPTunnelAddr", &bgp.ipv4_ipip_tunnel_addr));
        }
        if let Some(wg) = &spec.wireguard {
            fields.push(("interfaceIPv4Address", &wg.interface_ipv4_address));
            fields.push(("interfaceIPv6Address", &wg.interface_ipv6_address));
        }
        for (field, value) in fields {
            if let Some(ip) = parse_ip(value) {
                tunnels += 1;
                used.push(InUseIp {
                    ip,
                    owner: format!("Node({name}) {field}"),
                });
            }
        }
    }
    let mut workloads = 0;
    for wep in &snapshot.workload_endpoints {
        let ns = wep.metadata.namespace.as_deref().unwrap_or("default");
        for net in &wep.spec.ip_networks {
            if let Some(ip) = parse_ip(net) {
                workloads += 1;
                used.push(InUseIp {
                    ip,
                    owner: format!("WorkloadEndpoint({ns}/{})", wep.metadata.name),
                });
            }
        }
    }
    (used, tunnels, workloads)
}

fn parse_ip(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    s.parse::<IpAddr>()
        .ok()
        .or_else(|| s.parse::<IpNet>().ok().map(|n| n.addr()))
}

/// Runs every check over a snapshot.
pub fn check(snapshot: &IpamSnapshot) -> CheckReport {
    let mut report = CheckReport {
        version: REPORT_VERSION,
        ..CheckReport::default()
    };
    let mut blocks: Vec<&AllocationBlock> = snapshot.blocks.iter().collect();
    blocks.sort_by_key(|b| b.cidr);
    let mut per_node: BTreeMap<String, usize> = BTreeMap::new();
    let mut allocated: BTreeMap<IpAddr, AllocatedIp> = BTreeMap::new();
    for b in &blocks {
        report.blocks.push(BlockSummary {
            cidr: b.cidr,
            affinity: b.affinity.clone(),
            allocations: b.in_use(),
        });
        for (ip, attr) in b.allocated() {
            if let Some(node) = attr.secondary.get("node").map(String::as_str).or(b.host()) {
                *per_node.entry(node.to_string()).or_default() += 1;
            }
            allocated.insert(
                ip,
                AllocatedIp {
                    ip,
                    block: b.cidr,
                    handle: attr.handle_id.clone(),
                    sequence_number: b.sequence_of(ip),
                    attributes: attr.secondary.clone(),
                },
            );
        }
    }
    report.allocations = allocated.len();
    let active: Vec<&Pool> = snapshot.pools.iter().filter(|p| !p.disabled).collect();
    report.active_pools = active.iter().map(|p| p.cidr).collect();
    report.active_pools.sort();

    let (used, tunnels, workloads) = addresses_in_use(snapshot);
    report.node_tunnel_ips = tunnels;
    report.workload_ips = workloads;
    let used_set: BTreeSet<IpAddr> = used.iter().map(|u| u.ip).collect();
    report.ips_in_use = used_set.len();

    let mut top: Vec<NodeAllocations> = per_node
        .into_iter()
        .map(|(node, allocations)| NodeAllocations { node, allocations })
        .collect();
    top.sort_by(|a, b| b.allocations.cmp(&a.allocations).then(a.node.cmp(&b.node)));
    top.truncate(TOP_NODES);
    report.top_nodes = top;

    report.leaked_ips = allocated
        .values()
        .filter(|a| !used_set.contains(&a.ip))
        .cloned()
        .collect();
    for u in used {
        if !active.iter().any(|p| p.cidr.contains(&u.ip)) {
            report.in_use_not_in_pools.push(u);
        } else if !allocated.contains_key(&u.ip) {
            report.in_use_not_allocated.push(u);
        }
    }

    let handles_in_blocks: BTreeSet<&str> = allocated
        .values()
        .filter_map(|a| a.handle.as_deref())
        .collect();
    for handle in snapshot.handles.keys() {
        if handles_in_blocks.contains(handle.as_str()) {
            report.handles_with_matches += 1;
        } else {
            report.leaked_handles.push(handle.clone());
        }
    }
    report.missing_handle_ips = allocated
        .values()
        .filter(|a| {
            a.handle
                .as_ref()
                .is_some_and(|h| !snapshot.handles.contains_key(h))
        })
        .cloned()
        .collect();

    report.broken_affinities = broken_affinities(snapshot, &blocks);
    report
}

fn broken_affinities(snapshot: &IpamSnapshot, blocks: &[&AllocationBlock]) -> Vec<BrokenAffinity> {
    let nodes: BTreeSet<&str> = snapshot
        .nodes
        .iter()
        .map(|n| n.metadata.name.as_str())
        .collect();
    let by_cidr: BTreeMap<IpNet, &AllocationBlock> = blocks.iter().map(|b| (b.cidr, *b)).collect();
    let mut broken = Vec::new();
    for a in &snapshot.affinities {
        let problem = match by_cidr.get(&a.block) {
            None => Some(AffinityProblem::BlockMissing),
            Some(b) if !b.is_affine_to(&a.host) => Some(AffinityProblem::BlockOwnedByOther {
                owner: b.affinity.clone(),
            }),
            Some(_) if !nodes.contains(a.host.as_str()) => Some(AffinityProblem::NodeMissing),
            Some(_) => None,
        };
        if let Some(problem) = problem {
            broken.push(BrokenAffinity {
                host: a.host.clone(),
                block: a.block,
                problem,
                revision: a.revision,
            });
        }
    }
    for b in blocks {
        if let Some(host) = b.host() {
            let keyed = snapshot
                .affinities
                .iter()
                .any(|a| a.block == b.cidr && a.host == host);
            if !keyed {
                broken.push(BrokenAffinity {
                    host: host.to_string(),
                    block: b.cidr,
                    problem: AffinityProblem::AffinityKeyMissing,
                    revision: 0,
                });
            }
        }
    }
    broken
}

/// The text `calicoctl ipam check` prints for a report.
pub fn render_check(report: &CheckReport) -> String {
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };
    line("Checking IPAM for inconsistencies...".into());
    line(String::new());
    line("Loading all IPAM blocks...".into());
    line(format!("Found {} IPAM blocks.", report.blocks.len()));
    for b in &report.blocks {
        let affinity = b.affinity.as_deref().unwrap_or("<none>");
        line(format!(" IPAM block {} affinity={affinity}:", b.cidr));
    }
    line(format!(
        "IPAM blocks record {} allocations.",
        report.allocations
    ));
    line(String::new());
    line("Loading all IPAM pools...".into());
    for p in &report.active_pools {
        line(format!("  {p}"));
    }
    line(format!(
        "Found {} active IP pools.",
        report.active_pools.len()
    ));
    line(String::new());
    line("Loading all nodes.".into());
    line(format!("Found {} node tunnel IPs.", report.node_tunnel_ips));
    line(String::new());
    line("Loading all workload endpoints.".into());
    line(format!("Found {} workload IPs.", report.workload_ips));
    line(format!(
        "Workloads and nodes are using {} IPs.",
        report.ips_in_use
    ));
    line(String::new());
    line(format!(
        "Looking for top (up to {TOP_NODES}) nodes by allocations..."
    ));
    for n in &report.top_nodes {
        line(format!("  {} has {} allocations", n.node, n.allocations));
    }
    line(String::new());
    line("Scanning for IPs that are allocated but not actually in use...".into());
    for l in &report.leaked_ips {
        let handle = l.handle.as_deref().unwrap_or("<none>");
        line(format!("  {} leaked; handle={handle}", l.ip));
    }
    line(format!(
        "Found {} IPs that are allocated in IPAM but not actually in use.",
        report.leaked_ips.len()
    ));
    line(
        "Scanning for IPs that are in use by a workload or node but not allocated in IPAM..."
            .into(),
    );
    for u in report
        .in_use_not_in_pools
        .iter()
        .chain(&report.in_use_not_allocated)
    {
        line(format!(
            "  {} in use by {} but not allocated",
            u.ip, u.owner
        ));
    }
    line(format!(
        "Found {} in-use IPs that are not in active IP pools.",
        report.in_use_not_in_pools.len()
    ));
    line(format!(
        "Found {} in-use IPs that are in active IP pools but have no corresponding IPAM allocation.",
        report.in_use_not_allocated.len()
    ));
    line(String::new());
    line("Scanning for IPAM handles with no matching IPs...".into());
    line(format!(
        "Found {} handles with no matching IPs (and {} handles with matches).",
        report.leaked_handles.len(),
        report.handles_with_matches
    ));
    line("Scanning for IPs with missing handle...".into());
    line(format!(
        "Found {} IPs with missing handle.",
        report.missing_handle_ips.len()
    ));
    line("Scanning for broken block affinities...".into());
    for a in &report.broken_affinities {
        line(format!(
            "  affinity {} -> {}: {:?}",
            a.host, a.block, a.problem
        ));
    }
    line(format!(
        "Found {} broken block affinities.",
        report.broken_affinities.len()
    ));
    line(format!(
        "Check complete; found {} problems.",
        report.problems()
    ));
    out
}

#[cfg(test)]
mod tests {
    use api::{ObjectMeta, WorkloadEndpointSpec};

    use super::*;
    use crate::block::Reservations;

    fn wep(name: &str, ip: &str) -> WorkloadEndpoint {
        WorkloadEndpoint {
            metadata: ObjectMeta::namespaced("ns", name),
            spec: WorkloadEndpointSpec {
                ip_networks: vec![format!("{ip}/32")],
                ..WorkloadEndpointSpec::default()
            },
        }
    }

    fn node(name: &str, vxlan: &str) -> Node {
        let mut n = Node::default();
        n.metadata.name = name.to_string();
        n.spec.ipv4_vxlan_tunnel_addr = vxlan.to_string();
        n
    }

    fn snapshot() -> IpamSnapshot {
        let mut b = AllocationBlock::new("10.0.0.0/30".parse().unwrap(), Some("n1"));
        let none = BTreeMap::new();
        b.auto_assign(1, Some("used"), &none, &Reservations::default()); // .0 used by wep
        b.auto_assign(1, Some("leak"), &none, &Reservations::default()); // .1 leaked
        b.auto_assign(1, Some("tunnel"), &none, &Reservations::default()); // .2 node tunnel
        b.auto_assign(1, Some("nohandle"), &none, &Reservations::default()); // .3 used, no handle record
        let ghost = AllocationBlock::new("10.0.0.4/30".parse().unwrap(), Some("gone"));
        let handles = ["used", "leak", "tunnel", "orphan"]
            .iter()
            .map(|h| (h.to_string(), IpamHandle::default()))
            .collect();
        IpamSnapshot {
            blocks: vec![b, ghost],
            affinities: vec![
                AffinityRecord {
                    host: "n1".into(),
                    block: "10.0.0.0/30".parse().unwrap(),
                    state: AffinityState::Confirmed,
                    revision: 3,
                },
                AffinityRecord {
                    host: "gone".into(),
                    block: "10.0.0.4/30".parse().unwrap(),
                    state: AffinityState::Confirmed,
                    revision: 4,
                },
                AffinityRecord {
                    host: "n1".into(),
                    block: "10.0.0.8/30".parse().unwrap(),
                    state: AffinityState::Pending,
                    revision: 5,
                },
            ],
            handles,
            pools: vec![Pool {
                name: "p".into(),
                cidr: "10.0.0.0/24".parse().unwrap(),
                block_size: 30,
                disabled: false,
                node_selector: selector::parse("all()").unwrap(),
                namespace_selector: None,
                allowed_uses: vec![api::AllowedUse::Workload],
                manual: false,
            }],
            nodes: vec![node("n1", "10.0.0.2")],
            workload_endpoints: vec![
                wep("a", "10.0.0.0"),
                wep("b", "10.0.0.3"),
                wep("c", "10.0.0.9"),
                wep("d", "192.168.1.1"),
            ],
        }
    }

    #[test]
    fn finds_every_kind_of_problem() {
        let report = check(&snapshot());
        assert_eq!(report.allocations, 4);
        assert_eq!(report.node_tunnel_ips, 1);
        assert_eq!(report.workload_ips, 4);
        assert_eq!(
            report
                .leaked_ips
                .iter()
                .map(|l| l.ip.to_string())
                .collect::<Vec<_>>(),
            ["10.0.0.1"]
        );
        assert_eq!(report.leaked_ips[0].handle.as_deref(), Some("leak"));
        assert_eq!(report.in_use_not_allocated.len(), 1);
        assert_eq!(
            report.in_use_not_allocated[0].owner,
            "WorkloadEndpoint(ns/c)"
        );
        assert_eq!(report.in_use_not_in_pools[0].ip.to_string(), "192.168.1.1");
        assert_eq!(report.leaked_handles, ["orphan"]);
        assert_eq!(report.handles_with_matches, 3);
        assert_eq!(
            report.missing_handle_ips[0].handle.as_deref(),
            Some("nohandle")
        );
        let problems: Vec<(&str, &AffinityProblem)> = report
            .broken_affinities
            .iter()
            .map(|a| (a.host.as_str(), &a.problem))
            .collect();
        assert_eq!(
            problems,
            [
                ("gone", &AffinityProblem::NodeMissing),
                ("n1", &AffinityProblem::BlockMissing)
            ]
        );
        assert_eq!(report.problems(), 7);
        assert_eq!(
            report.top_nodes[0],
            NodeAllocations {
                node: "n1".into(),
                allocations: 4
            }
        );
    }

    #[test]
    fn report_round_trips_and_renders() {
        let report = check(&snapshot());
        let back = CheckReport::from_json(&report.to_json()).unwrap();
        assert_eq!(back, report);
        assert!(CheckReport::from_json("{\"version\": 9}").is_err());
        let text = render_check(&report);
        assert!(text.starts_with("Checking IPAM for inconsistencies...\n"));
        assert!(text.contains("Found 2 IPAM blocks.\n"));
        assert!(text.contains(" IPAM block 10.0.0.0/30 affinity=host:n1:\n"));
        assert!(text.contains("Found 1 IPs that are allocated in IPAM but not actually in use.\n"));
        assert!(
            text.contains("Found 1 handles with no matching IPs (and 3 handles with matches).\n")
        );
        assert!(text.ends_with("Check complete; found 7 problems.\n"));
    }

    #[test]
    fn block_without_affinity_key_is_reported() {
        let mut s = snapshot();
        s.affinities.clear();
        let report = check(&s);
        assert!(report
            .broken_affinities
            .iter()
            .all(|a| a.problem == AffinityProblem::AffinityKeyMissing));
        assert_eq!(report.broken_affinities.len(), 2);
    }
}
