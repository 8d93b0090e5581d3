//! `patch`, `label` and `version` through the real binary: merge patches in JSON and YAML,
//! label set/update/remove and their refusals, and the cluster version lines.

mod common;

use common::{pool, Ctl};

fn spec_of(ctl: &Ctl, args: &[&str]) -> serde_json::Value {
    let out = ctl.run(args);
    let v: serde_json::Value = serde_json::from_str(out.ok()).expect("json output");
    v
}

#[test]
fn patch_merges_json_and_yaml() {
    let ctl = Ctl::new();
    ctl.apply(&pool("p1", "10.1.0.0/16"));
    let out = ctl.run(&[
        "patch",
        "ippool",
        "p1",
        "-p",
        r#"{"spec":{"natOutgoing":true,"vxlanMode":"Always"}}"#,
    ]);
    assert_eq!(out.ok(), "Successfully patched 1 'IPPool' resource\n");
    let v = spec_of(&ctl, &["get", "ippool", "p1", "-o", "json"]);
    assert_eq!(v["spec"]["natOutgoing"], true);
    assert_eq!(v["spec"]["vxlanMode"], "Always");
    assert_eq!(v["spec"]["cidr"], "10.1.0.0/16");

    let out = ctl.run(&[
        "patch",
        "ipp",
        "p1",
        "--patch",
        "spec:\n  natOutgoing: null\n",
    ]);
    assert_eq!(out.ok(), "Successfully patched 1 'IPPool' resource\n");
    let v = spec_of(&ctl, &["get", "ippool", "p1", "-o", "json"]);
    assert!(v["spec"].get("natOutgoing").is_none(), "{v}");

    let invalid = ctl.run(&[
        "patch",
        "ippool",
        "p1",
        "-p",
        r#"{"spec":{"vxlanMode":"Sometimes"}}"#,
    ]);
    assert!(invalid.failed().starts_with("Hit error:"), "{invalid:?}");
    let v = spec_of(&ctl, &["get", "ippool", "p1", "-o", "json"]);
    assert_eq!(
        v["spec"]["vxlanMode"], "Always",
        "a rejected patch changes nothing"
    );

    let missing = ctl.run(&["patch", "ippool", "nope", "-p", "{}"]);
    assert_eq!(
        missing.failed(),
        "Hit error: resource does not exist: IPPool(nope)\n"
    );
}

#[test]
fn patch_namespaced_resource() {
    let ctl = Ctl::new();
    ctl.apply("apiVersion: projectcalico.org/v3\nkind: NetworkSet\nmetadata:\n  name: ext\n  namespace: ns1\nspec:\n  nets: [10.0.0.0/8]\n");
    ctl.run(&[
        "patch",
        "networkset",
        "ext",
        "-n",
        "ns1",
        "-p",
        r#"{"spec":{"nets":["192.168.0.0/16"]}}"#,
    ])
    .ok();
    let v = spec_of(
        &ctl,
        &["get", "networkset", "ext", "-n", "ns1", "-o", "json"],
    );
    assert_eq!(v["spec"]["nets"], serde_json::json!(["192.168.0.0/16"]));
    let wrong_ns = ctl.run(&["patch", "networkset", "ext", "-p", "{}"]);
    assert!(
        wrong_ns.failed().contains("NetworkSet(default/ext)"),
        "{wrong_ns:?}"
    );
}

#[test]
fn label_set_update_remove() {
    let ctl = Ctl::new();
    ctl.apply(&pool("p1", "10.1.0.0/16"));
    assert_eq!(
        ctl.run(&["label", "ippool", "p1", "env=prod"]).ok(),
        "Successfully set label env on ippool p1\n"
    );
    let again = ctl.run(&["label", "ippool", "p1", "env=dev"]);
    assert_eq!(
        again.failed(),
        "failed to update label of ippool p1, key env is already present. please use '--overwrite' to set a new value.\n"
    );
    assert_eq!(
        ctl.run(&["label", "ippool", "p1", "env=dev", "--overwrite"])
            .ok(),
        "Successfully updated label env on ippool p1\n"
    );
    let v = spec_of(&ctl, &["get", "ippool", "p1", "-o", "json"]);
    assert_eq!(v["metadata"]["labels"]["env"], "dev");

    assert_eq!(
        ctl.run(&["label", "ippool", "p1", "env", "--remove"]).ok(),
        "Successfully removed label env from ippool p1\n"
    );
    let gone = ctl.run(&["label", "ippool", "p1", "env", "--remove"]);
    assert_eq!(
        gone.failed(),
        "cannot remove label of ippool p1, key env does not exist\n"
    );
    let v = spec_of(&ctl, &["get", "ippool", "p1", "-o", "json"]);
    assert!(v["metadata"].get("labels").is_none(), "{v}");

    let bad = ctl.run(&["label", "ippool", "p1", "a=b=c"]);
    assert_eq!(bad.failed(), "invalid label a=b=c\n");
    let missing = ctl.run(&["label", "ippool", "nope", "a=b"]);
    assert!(missing
        .failed()
        .starts_with("failed to get ippool nope, error resource does not exist: IPPool(nope)"));
}

#[test]
fn version_reports_cluster_information() {
    let ctl = Ctl::new();
    let out = ctl.run(&["version"]);
    let text = out.ok();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        format!("Client Version:    v{}", env!("CARGO_PKG_VERSION"))
    );
    assert!(lines[1].starts_with("Git commit:        "), "{text}");
    assert_eq!(lines[2], "Unable to detect installed Calico version");

    ctl.seed(&format!(
        "apiVersion: projectcalico.org/v3\nkind: ClusterInformation\nmetadata:\n  name: default\nspec:\n  calicoVersion: v{}\n  clusterType: k8s,bgp\n",
        env!("CARGO_PKG_VERSION")
    ));
    let out = ctl.run(&["version"]);
    let lines: Vec<String> = out.ok().lines().map(String::from).collect();
    assert_eq!(
        lines[2],
        format!("Cluster Version:   v{}", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(lines[3], "Cluster Type:      k8s,bgp");
    assert_eq!(ctl.run(&["version", "--client"]).ok().lines().count(), 2);
}

#[test]
fn version_mismatch_blocks_other_commands_unless_allowed() {
    let ctl = Ctl::new();
    ctl.seed("apiVersion: projectcalico.org/v3\nkind: ClusterInformation\nmetadata:\n  name: default\nspec:\n  calicoVersion: v3.28.0-0.dev\n");
    let refused = ctl.run(&["get", "ippool"]);
    assert!(refused.failed().contains("Version mismatch"), "{refused:?}");
    assert!(
        refused.stderr.contains("v3.28.0") && refused.stderr.contains("--allow-version-mismatch")
    );
    ctl.run(&["get", "ippool", "--allow-version-mismatch"]).ok();
    ctl.run(&["version"]).ok();
}

#[test]
fn cluster_information_is_read_only() {
    let ctl = Ctl::new();
    let info = format!(
        "apiVersion: projectcalico.org/v3\nkind: ClusterInformation\nmetadata:\n  name: default\nspec:\n  calicoVersion: v{}\n",
        env!("CARGO_PKG_VERSION")
    );
    let create = ctl.run_stdin(&["create", "-f", "-"], &info);
    assert_eq!(
        create.failed(),
        "Failed to create 'ClusterInformation' resource: [operation create or apply is not supported on ClusterInformation]\n"
    );
    ctl.seed(&info);
    let apply = ctl.run_stdin(&["apply", "-f", "-"], &info);
    assert!(apply
        .failed()
        .contains("operation apply is not supported on ClusterInformation: resource is readonly"));
    let replace = ctl.run_stdin(&["replace", "-f", "-"], &info);
    assert_eq!(
        replace.failed(),
        "Failed to replace 'ClusterInformation' resource: operation apply or replace is not supported on ClusterInformation\n"
    );
    let delete = ctl.run(&["delete", "clusterinfo", "default"]);
    assert!(delete
        .failed()
        .contains("operation delete is not supported on ClusterInformation"));
    let label = ctl.run(&["label", "clusterinformation", "default", "a=b"]);
    assert!(label.failed().contains("label not changed"));
    let get = ctl.run(&[
        "get",
        "clusterinformation",
        "-o",
        "custom-columns=NAME,CALICOVERSION",
    ]);
    assert!(
        get.ok()
            .contains(&format!("default   v{}", env!("CARGO_PKG_VERSION"))),
        "{get:?}"
    );
}

#[test]
fn patch_types() {
    let ctl = Ctl::new();
    ctl.apply("apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata:\n  name: dns\nspec:\n  nets: [8.8.8.8/32]\n");
    let json = ctl.run(&[
        "patch",
        "gnetset",
        "dns",
        "-t",
        "json",
        "-p",
        r#"[{"op": "add", "path": "/spec/nets/-", "value": "1.1.1.1/32"}]"#,
    ]);
    assert_eq!(
        json.ok(),
        "Successfully patched 1 'GlobalNetworkSet' resource\n"
    );
    let v = spec_of(&ctl, &["get", "gnetset", "dns", "-o", "json"]);
    assert_eq!(
        v["spec"]["nets"],
        serde_json::json!(["8.8.8.8/32", "1.1.1.1/32"])
    );

    let merge = ctl.run(&[
        "patch",
        "gnetset",
        "dns",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"nets":["9.9.9.9/32"]}}"#,
    ]);
    merge.ok();
    let v = spec_of(&ctl, &["get", "gnetset", "dns", "-o", "json"]);
    assert_eq!(v["spec"]["nets"], serde_json::json!(["9.9.9.9/32"]));

    let failed_test = ctl.run(&[
        "patch",
        "gnetset",
        "dns",
        "-t",
        "json",
        "-p",
        r#"[{"op": "test", "path": "/spec/nets/0", "value": "1.2.3.4/32"}]"#,
    ]);
    assert!(
        failed_test
            .failed()
            .starts_with("Hit error: invalid JSON patch: operation 0: test failed"),
        "{failed_test:?}"
    );
    let renamed = ctl.run(&[
        "patch",
        "gnetset",
        "dns",
        "-p",
        r#"{"metadata":{"name":"other"}}"#,
    ]);
    assert!(renamed
        .failed()
        .contains("may not change the kind, name or namespace"));
}
