//! Chaining as a runtime does with a conflist: Debian's `tuning`, `portmap` and `bandwidth`
//! run after `calico` with its result as `prevResult`, take effect, and DEL in reverse order
//! cleans up.

mod common;

use std::path::Path;

use common::*;
use serde_json::{json, Value};

/// A chained plugin's stdin: its own conf plus the list's name and version and `prevResult`.
fn chained(version: &str, plugin: Value, prev: &Value) -> Value {
    let mut conf = plugin;
    conf["cniVersion"] = json!(version);
    conf["name"] = json!("k8s-pod-network");
    conf["prevResult"] = prev.clone();
    conf
}

#[test]
fn tuning_portmap_and_bandwidth_chain_after_calico() {
    for version in ["1.0.0", "0.4.0"] {
        let node = Node::new();
        node.pool("pool1", "10.73.0.0/24", 26);
        let pod = Netns::new("chain");
        let conf = node.conf(version, json!({}));
        let add = Invocation::new("ADD", "chain1", &pod.path()).k8s("ns", "chain");
        let ours = node.calico(&add, &conf).expect_ok();
        let ip = result_ip(&ours, 0);
        let host_if = ours["interfaces"][0]["name"].as_str().unwrap().to_string();

        let plugins = [
            json!({"type": "tuning", "sysctl": {"net.ipv4.conf.eth0.rp_filter": "2"}}),
            json!({"type": "portmap", "capabilities": {"portMappings": true},
                   "runtimeConfig": {"portMappings": [
                       {"hostPort": 18080, "containerPort": 80, "protocol": "tcp"}]}}),
            json!({"type": "bandwidth", "capabilities": {"bandwidth": true},
                   "runtimeConfig": {"bandwidth": {
                       "ingressRate": 1000000, "ingressBurst": 100000,
                       "egressRate": 2000000, "egressBurst": 200000}}}),
        ];
        let mut prev = ours.clone();
        let mut confs = Vec::new();
        for plugin in plugins {
            let binary = format!("/usr/lib/cni/{}", plugin["type"].as_str().unwrap());
            let c = chained(version, plugin, &prev);
            let out = node.run_plugin(Path::new(&binary), &add, &c).expect_ok();
            // Each plugin passes our result on.
            assert_eq!(result_ip(&out, 0), ip, "{binary}: {out}");
            prev = out;
            confs.push((binary, c));
        }
        assert_eq!(pod.sysctl("net/ipv4/conf/eth0/rp_filter"), "2");
        let nat = node.host.exec(&["iptables", "-t", "nat", "-S"]);
        assert!(nat.contains(&format!("{ip}:80")), "{nat}");
        let qdisc = node.host.exec(&["tc", "qdisc", "show", "dev", &host_if]);
        assert!(qdisc.contains("tbf"), "{qdisc}");
        // The workload still reaches the host through the chain's changes.
        assert!(pod.exec_ok(&["ping", "-c", "1", "-W", "2", HOST_V4]));

        // DEL in reverse order, each with the final result as prevResult.
        let mut del = add.clone();
        del.command = "DEL";
        for (binary, mut c) in confs.into_iter().rev() {
            c["prevResult"] = prev.clone();
            node.run_plugin(Path::new(&binary), &del, &c).expect_ok();
        }
        let mut our_del = conf.clone();
        our_del["prevResult"] = prev.clone();
        node.calico(&del, &our_del).expect_ok();
        let nat = node.host.exec(&["iptables", "-t", "nat", "-S"]);
        assert!(!nat.contains(&format!("{ip}:80")), "{nat}");
        assert!(node.cali_links().is_empty());
        assert_eq!(node.check_report().allocations, 0);
    }
}
