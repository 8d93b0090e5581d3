//! ADD / DEL / CHECK of the real `calico` binary in a test host namespace against pod
//! namespaces: interfaces, addresses, routes, sysctls, proxy ARP, pings, the datastore's
//! WorkloadEndpoint and IPAM records, idempotent ADD, DEL cleanup and result shapes.

mod common;

use common::*;
use serde_json::json;

#[test]
fn k8s_add_builds_the_dataplane_and_records_then_del_removes_all() {
    let node = Node::new();
    node.pool("pool1", "10.65.0.0/24", 26);
    let pod = Netns::new("pod");
    let conf = node.conf("1.0.0", json!({}));
    let add = Invocation::new("ADD", "c0ffee01", &pod.path()).k8s("ns1", "web-0");

    let result = node.calico(&add, &conf).expect_ok();
    assert_eq!(result["cniVersion"], "1.0.0");
    let host_if = result["interfaces"][0]["name"]
        .as_str()
        .unwrap()
        .to_string();
    // printf ns1.web-0 | sha1sum
    let digest = run("sh", &["-c", "printf ns1.web-0 | sha1sum"]);
    assert_eq!(host_if, format!("cali{}", &digest[..11]));
    assert_eq!(result["interfaces"][0]["mac"], "ee:ee:ee:ee:ee:ee");
    assert_eq!(result["interfaces"][1]["name"], "eth0");
    assert_eq!(result["interfaces"][1]["sandbox"], pod.path());
    let ip = result_ip(&result, 0);
    assert!(ip.starts_with("10.65.0."), "{ip}");
    assert_eq!(result["ips"][0]["address"], format!("{ip}/32"));
    assert_eq!(result["ips"][0]["interface"], 1);
    assert!(result["ips"][0].get("version").is_none());

    // Container side.
    let addrs = pod.ip(&["-4", "-o", "addr", "show", "dev", "eth0"]);
    assert!(addrs.contains(&format!("inet {ip}/32")), "{addrs}");
    assert!(pod.ip(&["link", "show", "eth0"]).contains("mtu 1400"));
    let routes = pod.ip(&["-4", "route", "show"]);
    assert!(
        routes.contains("default via 169.254.1.1 dev eth0"),
        "{routes}"
    );
    assert!(
        routes.contains("169.254.1.1 dev eth0 scope link"),
        "{routes}"
    );
    let pod_mac = result["interfaces"][1]["mac"].as_str().unwrap().to_string();
    assert!(pod.ip(&["link", "show", "eth0"]).contains(&pod_mac));

    // Host side.
    let link = node.host.ip(&["link", "show", &host_if]);
    assert!(link.contains("link/ether ee:ee:ee:ee:ee:ee"), "{link}");
    assert!(link.contains("mtu 1400") && link.contains("UP"), "{link}");
    let host_routes = node.host.ip(&["-d", "route", "show", &format!("{ip}/32")]);
    assert!(
        host_routes.contains(&format!("{ip} dev {host_if} proto boot scope link")),
        "{host_routes}"
    );
    for (path, want) in [
        (format!("net/ipv4/conf/{host_if}/proxy_arp"), "1"),
        (format!("net/ipv4/conf/{host_if}/forwarding"), "1"),
        (format!("net/ipv4/conf/{host_if}/route_localnet"), "1"),
        (format!("net/ipv4/neigh/{host_if}/proxy_delay"), "0"),
    ] {
        assert_eq!(node.host.sysctl(&path), want, "{path}");
    }

    // The workload reaches the host; its gateway is answered by proxy ARP with ee:ee:...
    assert!(
        pod.exec_ok(&["ping", "-c", "1", "-W", "2", HOST_V4]),
        "ping host"
    );
    let neigh = pod.ip(&["neigh", "show", "169.254.1.1"]);
    assert!(neigh.contains("lladdr ee:ee:ee:ee:ee:ee"), "{neigh}");

    // Datastore records.
    let wep = node
        .wep("ns1", "node--1-k8s-web--0-eth0")
        .expect("endpoint");
    assert_eq!(wep.spec.orchestrator, "k8s");
    assert_eq!(wep.spec.pod, "web-0");
    assert_eq!(wep.spec.container_id, "c0ffee01");
    assert_eq!(wep.spec.node, "node-1");
    assert_eq!(wep.spec.endpoint, "eth0");
    assert_eq!(wep.spec.interface_name, host_if);
    assert_eq!(wep.spec.mac, pod_mac);
    assert_eq!(wep.spec.ip_networks, vec![format!("{ip}/32")]);
    assert_eq!(wep.spec.profiles, vec!["kns.ns1"]);
    assert_eq!(wep.metadata.labels["projectcalico.org/namespace"], "ns1");
    assert_eq!(wep.metadata.labels["projectcalico.org/orchestrator"], "k8s");
    let alloc = node.allocation(&ip).expect("allocated");
    assert_eq!(alloc.handle.as_deref(), Some("k8s-pod-network.c0ffee01"));
    assert_eq!(alloc.attributes["pod"], "web-0");
    assert_eq!(alloc.attributes["namespace"], "ns1");
    assert_eq!(alloc.attributes["node"], "node-1");
    assert_eq!(alloc.block_affinity.as_deref(), Some("host:node-1"));

    // ADD again for the same container: same address, one veth, everything still works.
    let again = node.calico(&add, &conf).expect_ok();
    assert_eq!(result_ip(&again, 0), ip);
    assert_eq!(node.cali_links(), vec![host_if.clone()]);
    assert!(
        pod.exec_ok(&["ping", "-c", "1", "-W", "2", HOST_V4]),
        "ping after re-ADD"
    );
    assert_eq!(node.check_report().allocations, 1);

    // CHECK with the result as prevResult.
    let mut check_conf = conf.clone();
    check_conf["prevResult"] = again.clone();
    let mut check = add.clone();
    check.command = "CHECK";
    node.calico(&check, &check_conf).expect_ok();

    // DEL removes everything; a second DEL succeeds too.
    let mut del = add.clone();
    del.command = "DEL";
    assert_eq!(
        node.calico(&del, &conf).expect_ok(),
        serde_json::Value::Null
    );
    assert!(node.cali_links().is_empty());
    assert!(!pod.has_link("eth0"));
    assert!(node
        .host
        .ip(&["route", "show", &format!("{ip}/32")])
        .trim()
        .is_empty());
    assert!(node.wep("ns1", "node--1-k8s-web--0-eth0").is_none());
    assert!(node.allocation(&ip).is_none());
    node.calico(&del, &conf).expect_ok();
    let report = node.check_report();
    assert_eq!(report.problems(), 0, "{report:?}");
    assert_eq!(report.allocations, 0);

    // CHECK now fails: the host interface is gone.
    let msg = node.calico(&check, &check_conf).expect_err(999);
    assert!(msg.contains("does not exist"), "{msg}");
}

#[test]
fn two_workloads_reach_each_other_and_the_host() {
    let node = Node::new();
    node.pool("pool1", "10.66.0.0/24", 26);
    let (a, b) = (Netns::new("a"), Netns::new("b"));
    let conf = node.conf("1.0.0", json!({}));
    let ra = node
        .calico(
            &Invocation::new("ADD", "aaaa", &a.path()).k8s("default", "a"),
            &conf,
        )
        .expect_ok();
    let rb = node
        .calico(
            &Invocation::new("ADD", "bbbb", &b.path()).k8s("default", "b"),
            &conf,
        )
        .expect_ok();
    let (ipa, ipb) = (result_ip(&ra, 0), result_ip(&rb, 0));
    assert_ne!(ipa, ipb);
    assert!(a.exec_ok(&["ping", "-c", "1", "-W", "2", &ipb]), "a -> b");
    assert!(b.exec_ok(&["ping", "-c", "1", "-W", "2", &ipa]), "b -> a");
    assert!(
        node.host.exec_ok(&["ping", "-c", "1", "-W", "2", &ipa]),
        "host -> a"
    );
}

#[test]
fn dual_stack_add_gives_ipv6_with_link_local_gateway() {
    let node = Node::new();
    node.pool("v4", "10.67.0.0/24", 26);
    node.pool("v6", "fd67::/120", 122);
    let pod = Netns::new("pod6");
    let conf = node.conf(
        "1.0.0",
        json!({"ipam": {"type": "calico-ipam", "assign_ipv4": "true", "assign_ipv6": "true"}}),
    );
    let add = Invocation::new("ADD", "d0d0", &pod.path()).k8s("ns6", "p6");
    let result = node.calico(&add, &conf).expect_ok();
    let ip4 = result_ip(&result, 0);
    let ip6 = result_ip(&result, 1);
    assert!(ip6.starts_with("fd67::"), "{ip6}");
    assert_eq!(result["ips"][1]["address"], format!("{ip6}/128"));
    let addrs = pod.ip(&["-6", "-o", "addr", "show", "dev", "eth0"]);
    assert!(addrs.contains(&format!("inet6 {ip6}/128")), "{addrs}");
    assert!(!addrs.contains("tentative"), "{addrs}");
    let routes = pod.ip(&["-6", "route", "show", "default"]);
    assert!(
        routes.contains("via fe80::ecee:eeff:feee:eeee dev eth0"),
        "{routes}"
    );
    let host_if = result["interfaces"][0]["name"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        node.host
            .sysctl(&format!("net/ipv6/conf/{host_if}/accept_ra")),
        "0"
    );
    assert_eq!(
        node.host
            .sysctl(&format!("net/ipv6/conf/{host_if}/forwarding")),
        "1"
    );
    let host_route = node
        .host
        .ip(&["-6", "route", "show", &format!("{ip6}/128")]);
    assert!(
        host_route.contains(&format!("dev {host_if}")),
        "{host_route}"
    );
    assert!(
        pod.exec_ok(&["ping", "-6", "-c", "1", "-W", "3", HOST_V6]),
        "ping6 host"
    );
    assert!(
        pod.exec_ok(&["ping", "-c", "1", "-W", "2", HOST_V4]),
        "ping host"
    );
    let wep = node.wep("ns6", "node--1-k8s-p6-eth0").unwrap();
    assert_eq!(
        wep.spec.ip_networks,
        vec![format!("{ip4}/32"), format!("{ip6}/128")]
    );

    let mut del = add.clone();
    del.command = "DEL";
    node.calico(&del, &conf).expect_ok();
    assert!(node.allocation(&ip6).is_none() && node.allocation(&ip4).is_none());
    assert!(node.cali_links().is_empty());
}

#[test]
fn plain_cni_workload_with_labels_and_requested_ip() {
    let node = Node::new();
    node.pool("pool1", "10.68.0.0/24", 26);
    let pod = Netns::new("cni");
    let conf = node.conf(
        "1.0.0",
        json!({"name": "net1", "args": {"cni": {
            "labels": [{"key": "app", "value": "db"}], "ips": ["10.68.0.77"]}}}),
    );
    let add = Invocation::new("ADD", "0123456789abcdef", &pod.path());
    let result = node.calico(&add, &conf).expect_ok();
    assert_eq!(result_ip(&result, 0), "10.68.0.77");
    assert_eq!(result["interfaces"][0]["name"], "cali0123456789a");
    let wep = node
        .wep("default", "node--1-cni-0123456789abcdef-eth0")
        .unwrap();
    assert_eq!(wep.spec.orchestrator, "cni");
    assert_eq!(wep.spec.profiles, vec!["net1"]);
    assert_eq!(wep.metadata.labels["app"], "db");
    assert_eq!(
        node.allocation("10.68.0.77").unwrap().handle.as_deref(),
        Some("net1.0123456789abcdef")
    );
    let mut del = add.clone();
    del.command = "DEL";
    node.calico(&del, &conf).expect_ok();
    assert!(node.allocation("10.68.0.77").is_none());
    assert!(node
        .wep("default", "node--1-cni-0123456789abcdef-eth0")
        .is_none());
}

#[test]
fn older_spec_versions_get_their_result_shapes() {
    let node = Node::new();
    node.pool("pool1", "10.69.0.0/24", 26);
    for (i, version) in ["0.3.1", "0.4.0", "0.2.0"].into_iter().enumerate() {
        let pod = Netns::new("old");
        let conf = node.conf(version, json!({}));
        let add =
            Invocation::new("ADD", &format!("old{i}"), &pod.path()).k8s("ns", &format!("p{i}"));
        let result = node.calico(&add, &conf).expect_ok();
        assert_eq!(result["cniVersion"], version);
        if version == "0.2.0" {
            assert!(
                result["ip4"]["ip"].as_str().unwrap().ends_with("/32"),
                "{result}"
            );
            assert!(result.get("interfaces").is_none());
        } else {
            assert_eq!(result["ips"][0]["version"], "4", "{result}");
            assert_eq!(result["interfaces"][1]["sandbox"], pod.path());
        }
        if version == "0.4.0" {
            let mut check_conf = conf.clone();
            check_conf["prevResult"] = result.clone();
            let mut check = add.clone();
            check.command = "CHECK";
            node.calico(&check, &check_conf).expect_ok();
        }
        if version == "0.3.1" {
            let mut check = add.clone();
            check.command = "CHECK";
            let msg = node.calico(&check, &conf).expect_err(1);
            assert!(msg.contains("CHECK"), "{msg}");
        }
        let mut del = add.clone();
        del.command = "DEL";
        node.calico(&del, &conf).expect_ok();
    }
    assert_eq!(node.check_report().allocations, 0);
}

#[test]
fn version_command_lists_supported_versions() {
    let node = Node::new();
    let inv = Invocation {
        command: "VERSION",
        ..Default::default()
    };
    for bin in [
        env!("CARGO_BIN_EXE_calico"),
        env!("CARGO_BIN_EXE_calico-ipam"),
    ] {
        let out = node
            .run_plugin(
                std::path::Path::new(bin),
                &inv,
                &json!({"cniVersion": "1.0.0"}),
            )
            .expect_ok();
        assert_eq!(out["cniVersion"], "1.1.0");
        let list: Vec<&str> = out["supportedVersions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert!(list.contains(&"0.3.1") && list.contains(&"0.4.0") && list.contains(&"1.0.0"));
        assert!(list.contains(&"1.1.0"));
    }
}
