//! Spec 1.1 STATUS and GC through the real binaries.

mod common;

use common::*;
use serde_json::json;

#[test]
fn status_reports_whether_add_can_be_served() {
    let node = Node::new();
    let conf = node.conf("1.1.0", json!({}));
    let status = Invocation {
        command: "STATUS",
        ..Default::default()
    };
    let msg = node.calico(&status, &conf).expect_err(50);
    assert!(msg.contains("no enabled IPv4 IP pool"), "{msg}");
    node.pool("pool1", "10.79.0.0/24", 26);
    node.calico(&status, &conf).expect_ok();
    let ipam = std::path::Path::new(env!("CARGO_BIN_EXE_calico-ipam"));
    node.run_plugin(ipam, &status, &conf).expect_ok();
    // A requested pool that does not exist, or IPv6 without a v6 pool: not available.
    let v6 = node.conf(
        "1.1.0",
        json!({"ipam": {"type": "calico-ipam", "assign_ipv6": "true"}}),
    );
    node.calico(&status, &v6).expect_err(50);
    // STATUS needs spec 1.1.
    let old = node.conf("1.0.0", json!({}));
    node.calico(&status, &old).expect_err(1);
}

#[test]
fn gc_removes_what_the_runtime_no_longer_lists() {
    let node = Node::new();
    node.pool("pool1", "10.79.1.0/24", 26);
    let conf = node.conf("1.1.0", json!({}));
    let pods: Vec<Netns> = (0..3).map(|_| Netns::new("gc")).collect();
    let mut ips = Vec::new();
    for (i, pod) in pods.iter().enumerate() {
        let add =
            Invocation::new("ADD", &format!("gc{i}"), &pod.path()).k8s("ns", &format!("gc{i}"));
        ips.push(result_ip(&node.calico(&add, &conf).expect_ok(), 0));
    }
    // Someone else's handle on another network must survive.
    let other = node.conf("1.1.0", json!({"name": "othernet"}));
    let ipam = std::path::Path::new(env!("CARGO_BIN_EXE_calico-ipam"));
    let foreign = Invocation::new("ADD", "gc1", &pods[1].path());
    let foreign_ip = result_ip(&node.run_plugin(ipam, &foreign, &other).expect_ok(), 0);

    let mut gc_conf = conf.clone();
    gc_conf["cni.dev/valid-attachments"] = json!([{"containerID": "gc0", "ifname": "eth0"}]);
    let gc = Invocation {
        command: "GC",
        ..Default::default()
    };
    node.calico(&gc, &gc_conf).expect_ok();

    assert!(node.wep("ns", "node--1-k8s-gc0-eth0").is_some());
    assert!(node.allocation(&ips[0]).is_some());
    assert!(pods[0].exec_ok(&["ping", "-c", "1", "-W", "2", HOST_V4]));
    for i in 1..3 {
        assert!(node.wep("ns", &format!("node--1-k8s-gc{i}-eth0")).is_none());
        assert!(
            node.allocation(&ips[i]).is_none(),
            "{} still allocated",
            ips[i]
        );
        assert!(!pods[i].has_link("eth0"));
    }
    assert_eq!(node.cali_links().len(), 1);
    assert!(node.allocation(&foreign_ip).is_some());
    let report = node.check_report();
    assert_eq!(report.allocations, 2);
}
