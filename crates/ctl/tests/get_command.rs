//! `calicoctl get` through the real binary: ps/wide/custom-columns tables per kind with
//! calicoctl's cell rules, the NAMESPACE column, YAML/JSON output of one resource and of
//! lists, `--export`, and the YAML round trip back through `apply`.

mod common;

use common::{pool, trimmed, Ctl};

#[test]
fn ippool_tables() {
    let ctl = Ctl::new();
    ctl.apply(&format!(
        "{}---\napiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: default-ipv4-ippool\nspec:\n  cidr: 192.168.0.0/16\n  natOutgoing: true\n  vxlanMode: CrossSubnet\n",
        pool("a", "10.1.0.0/16")
    ));
    let ps = ctl.run(&["get", "ippool"]);
    assert_eq!(
        ps.ok(),
        "NAME                  CIDR             SELECTOR   \n\
         a                     10.1.0.0/16      all()      \n\
         default-ipv4-ippool   192.168.0.0/16   all()      \n\n"
    );
    let wide = ctl.run(&["get", "ippools", "-o", "wide"]);
    assert_eq!(
        trimmed(wide.ok()),
        [
            "NAME                  CIDR             NAT     IPIPMODE   VXLANMODE     DISABLED   DISABLEBGPEXPORT   SELECTOR   ASSIGNMENTMODE",
            "a                     10.1.0.0/16      false   Never      Never         false      false              all()      Automatic",
            "default-ipv4-ippool   192.168.0.0/16   true    Never      CrossSubnet   false      false              all()      Automatic",
            "",
        ]
    );
    let custom = ctl.run(&["get", "ippool", "-o", "custom-columns=NAME,NAT"]);
    assert_eq!(
        trimmed(custom.ok()),
        [
            "NAME                  NAT",
            "a                     false",
            "default-ipv4-ippool   true",
            ""
        ]
    );
    let unknown = ctl.run(&["get", "ippool", "-o", "custom-columns=NAME,COLOUR"]);
    assert!(
        unknown
            .failed()
            .starts_with("Unknown heading COLOUR, valid values are: NAME, CIDR,"),
        "{unknown:?}"
    );

    // Named lookups print one table per resource, and report missing names after.
    let named = ctl.run(&["get", "ippool", "a", "missing"]);
    assert_eq!(named.code, 1);
    assert_eq!(
        trimmed(&named.stdout),
        [
            "NAME   CIDR          SELECTOR",
            "a      10.1.0.0/16   all()",
            ""
        ]
    );
    assert_eq!(named.stderr, "resource does not exist: IPPool(missing)\n");
}

#[test]
fn bgppeer_node_column() {
    let ctl = Ctl::new();
    ctl.apply(
        "apiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata:\n  name: global-peer\nspec:\n  peerIP: 192.20.30.40\n  asNumber: 64567\n\
         ---\napiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata:\n  name: rack1-tor\nspec:\n  peerIP: 192.20.30.41\n  asNumber: 64568\n  nodeSelector: rack == 'rack-1'\n\
         ---\napiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata:\n  name: node1-peer\nspec:\n  peerIP: 10.0.0.1\n  asNumber: 65000\n  node: node1\n",
    );
    let out = ctl.run(&["get", "bgppeers"]);
    assert_eq!(
        trimmed(out.ok()),
        [
            "NAME          PEERIP         NODE               ASN",
            "global-peer   192.20.30.40   (global)           64567",
            "node1-peer    10.0.0.1       node1              65000",
            "rack1-tor     192.20.30.41   rack == 'rack-1'   64568",
            "",
        ]
    );
}

#[test]
fn node_wide_shows_default_as_in_parentheses() {
    let ctl = Ctl::new();
    ctl.apply(
        "apiVersion: projectcalico.org/v3\nkind: Node\nmetadata:\n  name: node1\nspec:\n  bgp:\n    ipv4Address: 10.0.0.5/24\n\
         ---\napiVersion: projectcalico.org/v3\nkind: Node\nmetadata:\n  name: node2\nspec:\n  bgp:\n    ipv4Address: 10.0.0.6/24\n    asNumber: 65001\n",
    );
    let wide = ctl.run(&["get", "nodes", "-o", "wide"]);
    assert_eq!(
        trimmed(wide.ok()),
        [
            "NAME    ASN       IPV4          IPV6",
            "node1   (64512)   10.0.0.5/24",
            "node2   65001     10.0.0.6/24",
            "",
        ]
    );
    ctl.apply("apiVersion: projectcalico.org/v3\nkind: BGPConfiguration\nmetadata:\n  name: default\nspec:\n  asNumber: 63400\n");
    let wide = ctl.run(&["get", "nodes", "-o", "wide"]);
    assert!(wide.ok().contains("node1   (63400)"), "{wide:?}");
    assert_eq!(
        trimmed(ctl.run(&["get", "node"]).ok()),
        ["NAME", "node1", "node2", ""]
    );
}

const WEPS: &str = "apiVersion: projectcalico.org/v3
kind: WorkloadEndpoint
metadata:
  name: node1-k8s-pod1-eth0
  namespace: ns1
spec:
  node: node1
  orchestrator: k8s
  pod: pod1
  endpoint: eth0
  interfaceName: cali0123456789a
  ipNetworks: [10.65.0.1/32]
  profiles: [kns.ns1]
---
apiVersion: projectcalico.org/v3
kind: WorkloadEndpoint
metadata:
  name: node2-cni-abc-eth0
  namespace: ns2
spec:
  node: node2
  orchestrator: cni
  workload: abc
  endpoint: eth0
  interfaceName: calib
  ipNetworks: [10.65.1.1/32, fd00::1/128]
";

#[test]
fn workload_endpoint_tables_with_namespaces() {
    let ctl = Ctl::new();
    ctl.apply(WEPS);
    let all = ctl.run(&["get", "wep", "-A"]);
    assert_eq!(
        trimmed(all.ok()),
        [
            "NAMESPACE   WORKLOAD   NODE    NETWORKS                   INTERFACE",
            "ns1         pod1       node1   10.65.0.1/32               cali0123456789a",
            "ns2         abc        node2   10.65.1.1/32,fd00::1/128   calib",
            "",
        ]
    );
    let ns1 = ctl.run(&["get", "workloadendpoints", "-n", "ns1", "-o", "wide"]);
    assert_eq!(
        trimmed(ns1.ok()),
        [
            "NAMESPACE   NAME                  WORKLOAD   NODE    NETWORKS       INTERFACE         PROFILES   NATS",
            "ns1         node1-k8s-pod1-eth0   pod1       node1   10.65.0.1/32   cali0123456789a   kns.ns1",
            "",
        ]
    );
    // Without -n only the default namespace is listed, and without a NAMESPACE column.
    assert_eq!(
        trimmed(ctl.run(&["get", "wep"]).ok()),
        ["WORKLOAD   NODE   NETWORKS   INTERFACE", ""]
    );
    let both = ctl.run(&["get", "wep", "-A", "-n", "ns1"]);
    assert!(both
        .failed()
        .contains("cannot use both --namespace and --all-namespaces"));
}

#[test]
fn network_policy_tables_with_tiers() {
    let ctl = Ctl::new();
    ctl.apply(
        "apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata:\n  name: security\nspec:\n  order: 100\n\
         ---\napiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata:\n  name: allow-tcp-6379\n  namespace: production\nspec:\n  order: 1000000\n  selector: role == 'database'\n\
         ---\napiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata:\n  name: security.deny\n  namespace: dev\nspec:\n  tier: security\n  order: 10.5\n  selector: all()\n",
    );
    let ps = ctl.run(&["get", "networkpolicy", "-A"]);
    assert_eq!(
        trimmed(ps.ok()),
        [
            "NAMESPACE    NAME             TIER",
            "dev          security.deny    security",
            "production   allow-tcp-6379   default",
            "",
        ]
    );
    let wide = ctl.run(&["get", "policy", "--all-namespaces", "-o", "wide"]);
    assert_eq!(
        trimmed(wide.ok()),
        [
            "NAMESPACE    NAME             TIER       ORDER   SELECTOR",
            "dev          security.deny    security   10.5    all()",
            "production   allow-tcp-6379   default    1e+06   role == 'database'",
            "",
        ]
    );
    let missing_tier = ctl.run_stdin(
        &["create", "-f", "-"],
        "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata:\n  name: g\nspec:\n  tier: nope\n",
    );
    assert!(
        missing_tier
            .failed()
            .contains("tier \"nope\" does not exist"),
        "{missing_tier:?}"
    );
    let tiers = ctl.run(&["get", "tier"]);
    assert_eq!(
        trimmed(tiers.ok()),
        ["NAME       ORDER", "security   100", ""]
    );
}

#[test]
fn yaml_and_json_output_shapes() {
    let ctl = Ctl::new();
    ctl.apply(&format!(
        "{}---\n{}",
        pool("a", "10.1.0.0/16"),
        pool("b", "10.2.0.0/16")
    ));

    let one = ctl.run(&["get", "ippool", "a", "-o", "yaml"]);
    let one = one.ok();
    assert!(
        one.starts_with("apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n"),
        "{one}"
    );
    for field in [
        "creationTimestamp:",
        "name: a",
        "resourceVersion:",
        "uid:",
        "cidr: 10.1.0.0/16",
    ] {
        assert!(one.contains(field), "{field} in {one}");
    }

    let list: serde_json::Value =
        serde_json::from_str(ctl.run(&["get", "ippool", "-o", "json"]).ok()).unwrap();
    assert_eq!(list["kind"], "IPPoolList");
    assert_eq!(list["apiVersion"], "projectcalico.org/v3");
    assert!(
        list["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .parse::<i64>()
            .unwrap()
            > 0
    );
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["kind"], "IPPool");
    assert_eq!(items[1]["metadata"]["name"], "b");

    let yaml_list = ctl.run(&["get", "ippool", "-o", "yaml"]);
    let yaml_list = yaml_list.ok();
    assert!(
        yaml_list.starts_with("apiVersion: projectcalico.org/v3\nitems:\n"),
        "{yaml_list}"
    );
    assert!(
        yaml_list.contains("kind: IPPoolList\nmetadata:\n  resourceVersion:"),
        "{yaml_list}"
    );

    let two: serde_json::Value =
        serde_json::from_str(ctl.run(&["get", "ippool", "a", "b", "-o", "json"]).ok()).unwrap();
    assert_eq!(two["kind"], "IPPoolList");
    assert_eq!(two["items"].as_array().unwrap().len(), 2);

    let exported = ctl.run(&["get", "ippool", "a", "-o", "yaml", "--export"]);
    let exported = exported.ok();
    assert!(
        !exported.contains("resourceVersion")
            && !exported.contains("uid")
            && !exported.contains("creationTimestamp"),
        "{exported}"
    );

    let bad = ctl.run(&["get", "ippool", "-o", "xml"]);
    assert!(bad.failed().contains("unrecognized output format 'xml'"));
}

#[test]
fn yaml_and_json_round_trip_through_apply() {
    let ctl = Ctl::new();
    ctl.apply(WEPS);
    ctl.apply(&pool("a", "10.1.0.0/16"));
    for args in [
        &["get", "ippool", "-o", "yaml"][..],
        &["get", "wep", "-A", "-o", "yaml"][..],
    ] {
        let before = ctl.run(args).ok().to_string();
        let applied = ctl.run_stdin(&["apply", "-f", "-"], &before);
        assert!(
            applied.ok().starts_with("Successfully applied"),
            "{applied:?}"
        );
        let after = ctl.run(args).ok().to_string();
        assert_ne!(before, after, "resourceVersions moved on");
        let strip = |t: &str| -> Vec<String> {
            t.lines()
                .filter(|l| !l.contains("resourceVersion"))
                .map(String::from)
                .collect()
        };
        assert_eq!(strip(&before), strip(&after));
    }
    let json = ctl
        .run(&["get", "ippool", "a", "-o", "json"])
        .ok()
        .to_string();
    let applied = ctl.run_stdin(&["apply", "-f", "-"], &json);
    assert_eq!(
        applied.ok(),
        "Successfully applied 1 'IPPool' resource(s)\n"
    );
    let after: serde_json::Value =
        serde_json::from_str(ctl.run(&["get", "ippool", "a", "-o", "json"]).ok()).unwrap();
    let before: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(after["spec"], before["spec"]);
    assert_eq!(after["metadata"]["uid"], before["metadata"]["uid"]);
    assert_ne!(
        after["metadata"]["resourceVersion"],
        before["metadata"]["resourceVersion"]
    );
}

#[test]
fn get_by_file_prints_everything_it_names() {
    let ctl = Ctl::new();
    let text = format!(
        "{}---\napiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata:\n  name: dns\nspec:\n  nets: [8.8.8.8/32, 1.1.1.0/24]\n",
        pool("a", "10.1.0.0/16")
    );
    ctl.apply(&text);
    let file = ctl.file("both.yaml", &text);

    let tables = ctl.run(&["get", "-f", &file, "-o", "wide"]);
    assert_eq!(
        trimmed(tables.ok())[..3],
        ["NAME   CIDR          NAT     IPIPMODE   VXLANMODE   DISABLED   DISABLEBGPEXPORT   SELECTOR   ASSIGNMENTMODE",
         "a      10.1.0.0/16   false   Never      Never       false      false              all()      Automatic",
         ""]
    );
    assert_eq!(
        trimmed(&tables.stdout)[3..],
        ["NAME   NETS", "dns    8.8.8.8/32,1.1.1.0/24", ""]
    );

    let yaml = ctl
        .run(&["get", "-f", &file, "-o", "yaml"])
        .ok()
        .to_string();
    assert!(yaml.contains("\nkind: List\n"), "{yaml}");
    let again = ctl.run_stdin(&["apply", "-f", "-"], &yaml);
    assert_eq!(again.ok(), "Successfully applied 2 resource(s)\n");

    ctl.run(&["delete", "gnetset", "dns"]).ok();
    let partial = ctl.run(&["get", "-f", &file, "-o", "json"]);
    assert_eq!(partial.code, 1);
    assert_eq!(
        partial.stderr,
        "resource does not exist: GlobalNetworkSet(dns)\n"
    );
    let v: serde_json::Value = serde_json::from_str(&partial.stdout).unwrap();
    assert_eq!(v["metadata"]["name"], "a");
}
