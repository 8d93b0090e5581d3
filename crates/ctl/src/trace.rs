//! `calicoctl policy trace` (ours; Calico has no such command): reads every resource that
//! affects policy from the datastore into a cluster-wide [`policy::Model`], resolves
//! `--from` and `--to`, and explains whether a packet between them is allowed: the egress
//! of the source endpoint, the ingress of the destination, each tier, policy and rule
//! visited, then `ALLOWED` or `DENIED`. Either answer exits 0.

use std::net::IpAddr;

use anyhow::{anyhow, Result};
use api::{Kind, Protocol, Resource};
use datastore::ResourceClient;
use policy::{ConntrackState, Disposition, IcmpHeader, Model, Packet, Update};

use crate::cli::TraceArgs;
use crate::trace_peer;

/// Kinds the model needs, tiers first so that policies find their tier.
const KINDS: [Kind; 8] = [
    Kind::Tier,
    Kind::Profile,
    Kind::GlobalNetworkSet,
    Kind::NetworkSet,
    Kind::HostEndpoint,
    Kind::WorkloadEndpoint,
    Kind::GlobalNetworkPolicy,
    Kind::NetworkPolicy,
];

pub async fn run(client: &ResourceClient, args: &TraceArgs) -> Result<()> {
    let protocol = Protocol::parse(&args.protocol).map_err(|e| anyhow!("--protocol: {e}"))?;
    check_flags(args, protocol)?;
    let mut resources = Vec::new();
    for kind in KINDS {
        resources.extend(client.list(kind, None, "").await?.items);
    }
    let model = build_model(&resources);
    let workloads: Vec<api::WorkloadEndpoint> = resources
        .into_iter()
        .filter_map(|r| match r {
            Resource::WorkloadEndpoint(w) => Some(w),
            _ => None,
        })
        .collect();
    let from =
        trace_peer::resolve(&args.from, &workloads, &model).map_err(|e| anyhow!("--from: {e}"))?;
    let to = trace_peer::resolve(&args.to, &workloads, &model).map_err(|e| anyhow!("--to: {e}"))?;
    let (src, dst) = trace_peer::addresses(&from, &to)?;
    let verdict = policy::trace(&model, &packet(args, protocol, src, dst));
    if args.output == "json" {
        let text = serde_json::to_string_pretty(&verdict)
            .map_err(|e| anyhow!("Failed to execute command: {e}"))?;
        println!("{text}");
        return Ok(());
    }
    println!("From: {}", from.describe(src));
    println!("To:   {}", to.describe(dst));
    println!("{verdict}");
    println!(
        "{}",
        match verdict.disposition {
            Disposition::Allow => "ALLOWED",
            Disposition::Deny => "DENIED",
        }
    );
    Ok(())
}

/// Ports only with port-carrying protocols, ICMP fields only with ICMP.
fn check_flags(args: &TraceArgs, protocol: Protocol) -> Result<()> {
    if !protocol.supports_ports() && (args.port.is_some() || args.source_port.is_some()) {
        return Err(anyhow!(
            "--port and --source-port need --protocol tcp, udp or sctp"
        ));
    }
    if args.icmp_type.is_some() && !is_icmp(protocol) {
        return Err(anyhow!("--icmp-type needs --protocol icmp or icmpv6"));
    }
    Ok(())
}

fn is_icmp(protocol: Protocol) -> bool {
    matches!(protocol, Protocol::Icmp | Protocol::IcmpV6)
}

/// The first packet of a new flow. ICMP follows the family of the addresses.
fn packet(args: &TraceArgs, protocol: Protocol, src: IpAddr, dst: IpAddr) -> Packet {
    let number = match protocol {
        Protocol::Icmp | Protocol::IcmpV6 if src.is_ipv6() => Protocol::IcmpV6.number(),
        Protocol::Icmp | Protocol::IcmpV6 => Protocol::Icmp.number(),
        other => other.number(),
    };
    Packet {
        src,
        dst,
        protocol: number,
        src_port: args.source_port,
        dst_port: args.port,
        icmp: args.icmp_type.map(|type_| IcmpHeader {
            type_,
            code: args.icmp_code.unwrap_or(0),
        }),
        conntrack: ConntrackState::New,
    }
}

/// Feeds the resources to a cluster-wide model. One the model rejects is left out with a
/// warning on stderr, so one bad object does not hide the rest.
fn build_model(resources: &[Resource]) -> Model {
    let mut model = Model::cluster_wide();
    for resource in resources {
        if let Err(e) = model.apply(Update::Put(resource.clone())) {
            eprintln!("Warning: left out of the trace: {e}");
        }
    }
    model
}
