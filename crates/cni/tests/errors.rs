//! Spec errors from the real binaries: JSON error on stdout with the spec's code and a clear
//! message, non-zero exit, and nothing left behind; plus rollback of a half-done ADD.

mod common;

use common::*;
use serde_json::json;

#[test]
fn malformed_netconf_is_a_decode_error() {
    let node = Node::new();
    let pod = Netns::new("bad");
    let inv = Invocation::new("ADD", "bad1", &pod.path());
    let mut child = node
        .host
        .command(env!("CARGO_BIN_EXE_calico"))
        .env_clear()
        .envs(inv.env())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"{\"cniVersion\": \"1.0.0\", ")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    let err: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(err["code"], 6, "{err}");
    assert!(
        err["msg"].as_str().unwrap().contains("failed to decode"),
        "{err}"
    );

    let conf = json!({"cniVersion": "1.0.0", "name": "n", "type": "calico", "mtu": "big"});
    node.calico(&inv, &conf).expect_err(6);
    let conf = json!({"cniVersion": "1.0.0", "type": "calico"});
    let msg = node.calico(&inv, &conf).expect_err(7);
    assert!(msg.contains("name"), "{msg}");
}

#[test]
fn missing_environment_is_code_4() {
    let node = Node::new();
    let pod = Netns::new("env");
    let conf = node.conf("1.0.0", json!({}));
    let mut inv = Invocation::new("ADD", "", &pod.path());
    let msg = node.calico(&inv, &conf).expect_err(4);
    assert!(msg.contains("CNI_CONTAINERID"), "{msg}");
    inv.container_id = "env1".into();
    inv.netns = None;
    let msg = node.calico(&inv, &conf).expect_err(4);
    assert!(msg.contains("CNI_NETNS"), "{msg}");
    let inv = Invocation {
        command: "",
        ..Default::default()
    };
    let msg = node.calico(&inv, &conf).expect_err(4);
    assert!(msg.contains("CNI_COMMAND"), "{msg}");
}

#[test]
fn missing_netns_is_code_3_and_allocates_nothing() {
    let node = Node::new();
    node.pool("pool1", "10.70.0.0/24", 26);
    let conf = node.conf("1.0.0", json!({}));
    let inv = Invocation::new("ADD", "gone1", "/var/run/netns/ccnit-does-not-exist");
    let msg = node.calico(&inv, &conf).expect_err(3);
    assert!(msg.contains("/var/run/netns/ccnit-does-not-exist"), "{msg}");
    assert_eq!(node.check_report().allocations, 0);
    // DEL of something that never existed succeeds, with or without the netns.
    let mut del = inv.clone();
    del.command = "DEL";
    node.calico(&del, &conf).expect_ok();
    del.netns = None;
    node.calico(&del, &conf).expect_ok();
}

#[test]
fn unsupported_version_is_code_1() {
    let node = Node::new();
    let pod = Netns::new("ver");
    let conf = node.conf("1.2.0", json!({}));
    let msg = node
        .calico(&Invocation::new("ADD", "v1", &pod.path()), &conf)
        .expect_err(1);
    assert!(msg.contains("unsupported CNI version 1.2.0"), "{msg}");
}

#[test]
fn exhausted_pool_is_a_clear_error_and_leaves_nothing() {
    let node = Node::new();
    node.pool("tiny", "10.71.0.0/30", 30);
    let conf = node.conf("1.0.0", json!({}));
    let pods: Vec<Netns> = (0..5).map(|_| Netns::new("ex")).collect();
    for (i, pod) in pods.iter().enumerate().take(4) {
        node.calico(
            &Invocation::new("ADD", &format!("ex{i}"), &pod.path()),
            &conf,
        )
        .expect_ok();
    }
    let msg = node
        .calico(&Invocation::new("ADD", "ex4", &pods[4].path()), &conf)
        .expect_err(999);
    assert!(
        msg.contains("no addresses available in pools [10.71.0.0/30]"),
        "{msg}"
    );
    assert!(!pods[4].has_link("eth0"));
    assert_eq!(node.cali_links().len(), 4);
    assert!(node.wep("default", "node--1-cni-ex4-eth0").is_none());
    assert_eq!(node.check_report().allocations, 4);
}

#[test]
fn half_way_failure_undoes_address_veth_and_endpoint() {
    let node = Node::new();
    node.pool("pool1", "10.72.0.0/24", 26);
    let pod = Netns::new("rb");
    let conf = node.conf("1.0.0", json!({}));
    // Another interface already routes the address this ADD asks for: the host route step
    // fails after the address was assigned and the veth built.
    node.host
        .ip(&["route", "add", "10.72.0.9/32", "dev", UPLINK]);
    let mut add = Invocation::new("ADD", "rb1", &pod.path()).k8s("ns", "rb");
    add.args.push_str(";IP=10.72.0.9");
    let msg = node.calico(&add, &conf).expect_err(999);
    assert!(msg.contains("route conflict"), "{msg}");
    assert!(node.cali_links().is_empty(), "{:?}", node.cali_links());
    assert!(!pod.has_link("eth0"));
    assert!(node.allocation("10.72.0.9").is_none());
    assert!(node.wep("ns", "node--1-k8s-rb-eth0").is_none());
    let report = node.check_report();
    assert_eq!(report.allocations, 0);
    assert_eq!(report.problems(), 0, "{report:?}");
    // The route that was there before is untouched.
    assert!(node
        .host
        .ip(&["route", "show", "10.72.0.9/32"])
        .contains(UPLINK));

    // An endpoint that fails validation (a bad label) is undone the same way.
    let bad = node.conf(
        "1.0.0",
        json!({"args": {"cni": {"labels": [{"key": "bad key!", "value": "x"}]}}}),
    );
    let add = Invocation::new("ADD", "rb2", &pod.path()).k8s("ns", "rb2");
    let msg = node.calico(&add, &bad).expect_err(999);
    assert!(msg.contains("bad key!"), "{msg}");
    assert!(node.cali_links().is_empty());
    assert!(!pod.has_link("eth0"));
    assert_eq!(node.check_report().allocations, 0);
}
