//! Dataplane figures (needs root; runs in its own network namespaces):
//! render + diff + `nft -f` load for 1,000 and 10,000 endpoints, a 10,000-member set and a
//! one-member change to it, and iperf3 throughput between two workloads with no rules,
//! 1,000 linear rules in the path, and one lookup in a 10,000-member set.

// The harness is shared with the integration tests; the bench uses part of it.
#[allow(dead_code)]
#[path = "../tests/common/mod.rs"]
mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Lab, Netns};
use dataplane::model::{
    DesiredState, EndpointMatch, EndpointPolicy, IpVersion, Policy, Profile, Rule, TierDefault,
    TierPolicies, WorkloadEndpoint,
};
use dataplane::{diff, nft, recreate, render, Table};
use ipnet::IpNet;

fn host(i: u32) -> IpNet {
    IpNet::new(std::net::Ipv4Addr::from(0x0a40_0000 + i).into(), 32).unwrap()
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

/// N workloads, each with one tier policy allowing from a shared selector set, plus a profile.
fn endpoints(n: u32, set_members: u32) -> DesiredState {
    let mut s = DesiredState::default();
    s.ip_sets
        .insert("clients".into(), (0..set_members).map(host).collect());
    s.policies.insert(
        "np/bench/allow-clients".into(),
        Policy {
            tier: "default".into(),
            ingress: vec![Rule {
                source: EndpointMatch {
                    selector_set: Some("clients".into()),
                    ..Default::default()
                },
                ..Default::default()
            }],
            egress: Vec::new(),
        },
    );
    s.profiles.insert(
        "kns.bench".into(),
        Profile {
            ingress: vec![Rule::default()],
            egress: vec![Rule::default()],
        },
    );
    for i in 0..n {
        s.workloads.push(WorkloadEndpoint {
            interface: format!("cali{i:011x}"),
            ingress: EndpointPolicy {
                tiers: vec![TierPolicies {
                    name: "default".into(),
                    policies: vec!["np/bench/allow-clients".into()],
                    default_action: TierDefault::Deny,
                }],
                profiles: vec!["kns.bench".into()],
            },
            egress: EndpointPolicy {
                tiers: Vec::new(),
                profiles: vec!["kns.bench".into()],
            },
        });
    }
    s
}

fn load_figures() {
    println!("== render + load (nft -f, one transaction) ==");
    println!(
        "{:<34} {:>8} {:>10} {:>10} {:>10}",
        "case", "rules", "render", "diff", "nft load"
    );
    for (label, n, members) in [
        ("1,000 endpoints", 1_000, 100),
        ("10,000 endpoints", 10_000, 100),
        ("10 endpoints + 10,000-member set", 10, 10_000),
    ] {
        let ns = Netns::new("bench-load");
        let state = endpoints(n, members);
        let t0 = Instant::now();
        let table = render(&state, IpVersion::V4).expect("render");
        let t_render = t0.elapsed();
        let t0 = Instant::now();
        let batch = diff(&Table::empty(IpVersion::V4), &table);
        let t_diff = t0.elapsed();
        let t0 = Instant::now();
        ns.run(|| nft::apply(&batch)).expect("load");
        let t_load = t0.elapsed();
        println!(
            "{label:<34} {:>8} {:>10} {:>10} {:>10}",
            table.rule_count(),
            ms(t_render),
            ms(t_diff),
            ms(t_load)
        );
        // One more member: element ops only.
        let mut more = state.clone();
        more.ip_sets
            .get_mut("clients")
            .unwrap()
            .push(host(members + 1));
        let t0 = Instant::now();
        let next = render(&more, IpVersion::V4).expect("render");
        let small = diff(&table, &next);
        let t_calc = t0.elapsed();
        let t0 = Instant::now();
        ns.run(|| nft::apply(&small)).expect("apply");
        let t_small = t0.elapsed();
        let t0 = Instant::now();
        let read = ns.run(|| nft::read_table(IpVersion::V4)).expect("read");
        let t_read = t0.elapsed();
        assert!(diff(&read, &next).is_empty(), "read-back differs");
        println!(
            "{:<34} {:>8} {:>10} {:>10} {:>10}   (read back + diff: {})",
            "  + one set member",
            small.rules_written,
            "",
            ms(t_calc),
            ms(t_small),
            ms(t_read)
        );
        let t0 = Instant::now();
        ns.run(|| nft::apply(&recreate(&table))).expect("recreate");
        println!(
            "{:<34} {:>8} {:>10} {:>10} {:>10}",
            "  full recreate",
            table.rule_count(),
            "",
            "",
            ms(t0.elapsed())
        );
    }
}

/// Median of three iperf3 runs (the machine may be busy).
fn iperf(lab: &Lab) -> Option<f64> {
    let mut runs: Vec<f64> = (0..3).filter_map(|_| iperf_once(lab)).collect();
    runs.sort_by(f64::total_cmp);
    runs.get(runs.len() / 2).copied()
}

fn iperf_once(lab: &Lab) -> Option<f64> {
    let (w1, w2) = (lab.w(0), lab.w(1));
    let mut server = Command::new("ip")
        .args([
            "netns",
            "exec",
            &w2.ns.name,
            "iperf3",
            "-s",
            "-1",
            "-B",
            &w2.ip,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    std::thread::sleep(Duration::from_millis(300));
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            &w1.ns.name,
            "iperf3",
            "-c",
            &w2.ip,
            "-t",
            "3",
            "-J",
        ])
        .output()
        .ok()?;
    let _ = server.kill();
    let _ = server.wait();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    json["end"]["sum_received"]["bits_per_second"].as_f64()
}

fn throughput_figures() {
    println!("\n== iperf3 workload -> workload through the node (median of 3 x 2 s, 1 stream) ==");
    if !Command::new("iperf3")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
    {
        println!("iperf3 not installed: skipped (apt-get install -y iperf3)");
        return;
    }
    let lab = Lab::new("bench-iperf");
    let w1_ip: IpNet = format!("{}/32", lab.w(0).ip).parse().unwrap();
    let open = |lab: &Lab| {
        let mut s = DesiredState::default();
        s.profiles.insert(
            "open".into(),
            Profile {
                ingress: vec![Rule::default()],
                egress: vec![Rule::default()],
            },
        );
        for w in &lab.workloads {
            s.workloads.push(WorkloadEndpoint {
                interface: w.iface.clone(),
                ingress: EndpointPolicy {
                    tiers: Vec::new(),
                    profiles: vec!["open".into()],
                },
                egress: EndpointPolicy {
                    tiers: Vec::new(),
                    profiles: vec!["open".into()],
                },
            });
        }
        s
    };
    // 1,000 non-matching source /32 rules in w2's ingress policy, then an allow.
    let mut linear = open(&lab);
    let mut rules: Vec<Rule> = (0..1_000)
        .map(|i| Rule {
            source: EndpointMatch {
                nets: vec![host(100_000 + i)],
                ..Default::default()
            },
            ..Default::default()
        })
        .collect();
    rules.push(Rule::default());
    linear.policies.insert(
        "gnp/linear".into(),
        Policy {
            tier: "default".into(),
            ingress: rules,
            egress: Vec::new(),
        },
    );
    linear.workloads[1].ingress.tiers = vec![TierPolicies {
        name: "default".into(),
        policies: vec!["gnp/linear".into()],
        default_action: TierDefault::Deny,
    }];
    // One rule matching a 10,000-member set that holds w1.
    let mut set = open(&lab);
    let mut members: Vec<IpNet> = (0..9_999).map(|i| host(200_000 + i)).collect();
    members.push(w1_ip);
    set.ip_sets.insert("big".into(), members);
    set.policies.insert(
        "gnp/set".into(),
        Policy {
            tier: "default".into(),
            ingress: vec![Rule {
                source: EndpointMatch {
                    selector_set: Some("big".into()),
                    ..Default::default()
                },
                ..Default::default()
            }],
            egress: Vec::new(),
        },
    );
    set.workloads[1].ingress.tiers = vec![TierPolicies {
        name: "default".into(),
        policies: vec!["gnp/set".into()],
        default_action: TierDefault::Deny,
    }];

    let mut results = Vec::new();
    results.push(("no ruleset", iperf(&lab)));
    // Same-run references: a plain table evaluated for every packet (no conntrack shortcut).
    let reference = |rules: String| {
        let text = format!(
            "add table ip cdpt_ref\nadd chain ip cdpt_ref ref_forward {{ type filter hook forward priority -10; policy accept; }}\n{rules}"
        );
        let batch = dataplane::Batch {
            text,
            commands: 1,
            ..Default::default()
        };
        lab.node
            .run(|| nft::apply(&batch))
            .expect("reference table");
    };
    let linear_ref: String = (0..1_000)
        .map(|i| {
            format!(
                "add rule ip cdpt_ref ref_forward ip saddr {} counter drop\n",
                host(100_000 + i).addr()
            )
        })
        .collect();
    reference(linear_ref);
    results.push(("ref: 1,000 rules/pkt", iperf(&lab)));
    let members: Vec<String> = (0..9_999)
        .map(|i| host(200_000 + i).addr().to_string())
        .collect();
    reference(format!(
        "add set ip cdpt_ref big {{ type ipv4_addr; }}\nadd element ip cdpt_ref big {{ {}, {} }}\nadd rule ip cdpt_ref ref_forward ip saddr @big counter accept\n",
        members.join(", "),
        lab.w(0).ip
    ));
    results.push(("ref: 10k set/pkt", iperf(&lab)));
    assert!(lab
        .node
        .exec_ok(&["nft", "delete", "table", "ip", "cdpt_ref"]));
    lab.node.converge(&linear);
    results.push(("ours: 1,000 rules", iperf(&lab)));
    lab.node.converge(&set);
    results.push(("ours: 10k-member set", iperf(&lab)));
    println!("{:<22} {:>12}", "case", "Gbit/s");
    for (label, bps) in results {
        match bps {
            Some(b) => println!("{label:<22} {:>12.2}", b / 1e9),
            None => println!("{label:<22} {:>12}", "failed"),
        }
    }
    println!(
        "RECIPES.md reference (quiet machine): none ~20, 1,000 rules/pkt ~9, 10k set ~17.6 Gbit/s"
    );
    println!("ours: policy rules run for a flow's first packet only (conntrack accepts the rest)");
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` would pass other flags: run only
    // when benchmarking.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    load_figures();
    throughput_figures();
}
