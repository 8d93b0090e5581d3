//! The IPAM plugin boundary in both directions: Debian's `macvlan` delegating to our
//! `calico-ipam` binary, and our `calico` delegating to Debian's `host-local` (errors
//! included).

mod common;

use std::path::Path;

use common::*;
use serde_json::json;

#[test]
fn macvlan_delegates_to_the_calico_ipam_binary() {
    let node = Node::new();
    node.pool("pool1", "10.75.0.0/24", 26);
    let pod = Netns::new("mv");
    // (Debian's ptp cannot take /32 addresses from any IPAM: it deletes a subnet route
    // that a /32 never creates. macvlan takes them as they are.)
    let conf_extra =
        json!({"name": "mvnet", "type": "macvlan", "master": UPLINK, "mode": "bridge"});
    let mut conf = node.conf("1.0.0", conf_extra);
    conf["ipam"] = json!({"type": "calico-ipam"});
    let add = Invocation::new("ADD", "mv1", &pod.path()).k8s("ns", "mv");
    let result = node
        .run_plugin(Path::new("/usr/lib/cni/macvlan"), &add, &conf)
        .expect_ok();
    let ip = result_ip(&result, 0);
    assert!(ip.starts_with("10.75.0."), "{result}");
    let alloc = node.allocation(&ip).unwrap();
    assert_eq!(alloc.handle.as_deref(), Some("mvnet.mv1"));
    assert_eq!(alloc.attributes["pod"], "mv");
    assert!(pod.ip(&["addr", "show", "eth0"]).contains(&ip));

    // calico-ipam's DEL as macvlan runs it; a repeated DEL straight to calico-ipam succeeds.
    let mut del = add.clone();
    del.command = "DEL";
    node.run_plugin(Path::new("/usr/lib/cni/macvlan"), &del, &conf)
        .expect_ok();
    assert!(node.allocation(&ip).is_none());
    let direct = Path::new(env!("CARGO_BIN_EXE_calico-ipam"));
    node.run_plugin(direct, &del, &conf).expect_ok();
}

#[test]
fn calico_ipam_binary_directly_add_check_del() {
    let node = Node::new();
    node.pool("pool1", "10.76.0.0/24", 26);
    let pod = Netns::new("ipam");
    let conf = node.conf("1.0.0", json!({}));
    let ipam = Path::new(env!("CARGO_BIN_EXE_calico-ipam"));
    let add = Invocation::new("ADD", "ipam1", &pod.path());
    let result = node.run_plugin(ipam, &add, &conf).expect_ok();
    let ip = result_ip(&result, 0);
    assert_eq!(result["ips"][0]["address"], format!("{ip}/32"));
    // Idempotent: the handle's address comes back.
    let again = node.run_plugin(ipam, &add, &conf).expect_ok();
    assert_eq!(result_ip(&again, 0), ip);
    let mut check = add.clone();
    check.command = "CHECK";
    let mut with_prev = conf.clone();
    with_prev["prevResult"] = result.clone();
    node.run_plugin(ipam, &check, &with_prev).expect_ok();
    let mut del = add.clone();
    del.command = "DEL";
    node.run_plugin(ipam, &del, &conf).expect_ok();
    let msg = node.run_plugin(ipam, &check, &with_prev).expect_err(7);
    assert!(msg.contains("not assigned"), "{msg}");
}

#[test]
fn calico_delegates_to_host_local_and_passes_its_errors_on() {
    let node = Node::new();
    let data = node.dir.path().join("host-local");
    let mut conf = node.conf("1.0.0", json!({}));
    conf["ipam"] = json!({"type": "host-local", "dataDir": data.display().to_string(),
        "ranges": [[{"subnet": "10.77.0.0/24", "rangeStart": "10.77.0.10", "rangeEnd": "10.77.0.10"}]]});
    let (a, b) = (Netns::new("hla"), Netns::new("hlb"));
    let add = Invocation::new("ADD", "hl1", &a.path()).k8s("ns", "hl1");
    let result = node.calico(&add, &conf).expect_ok();
    assert_eq!(result["ips"][0]["address"], "10.77.0.10/32");
    assert!(a.exec_ok(&["ping", "-c", "1", "-W", "2", HOST_V4]));
    let wep = node.wep("ns", "node--1-k8s-hl1-eth0").unwrap();
    assert_eq!(wep.spec.ip_networks, vec!["10.77.0.10/32"]);

    // host-local's range is full: its error comes back through us, and nothing is left.
    let add_b = Invocation::new("ADD", "hl2", &b.path()).k8s("ns", "hl2");
    let out = node.calico(&add_b, &conf);
    assert!(!out.ok);
    let msg = out.stdout["msg"].as_str().unwrap().to_string();
    assert!(msg.starts_with("host-local:"), "{msg}");
    assert!(!b.has_link("eth0"));
    assert_eq!(node.cali_links().len(), 1);

    let mut del = add.clone();
    del.command = "DEL";
    node.calico(&del, &conf).expect_ok();
    assert!(!data.join("k8s-pod-network").join("10.77.0.10").exists());
    assert!(node.wep("ns", "node--1-k8s-hl1-eth0").is_none());
}
