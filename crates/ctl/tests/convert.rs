//! `calicoctl convert` through the real binary: v1 manifests to v3 YAML and JSON, the output
//! re-applied, and errors naming the bad document.

mod common;

use common::{trimmed, Ctl};

const V1: &str = "\
apiVersion: v1
kind: ipPool
metadata:
  cidr: 172.16.100.0/24
spec:
  nat-outgoing: true
---
apiVersion: v1
kind: bgpPeer
metadata:
  peerIP: 10.100.0.1
  scope: node
  node: test-node
spec:
  asNumber: 65000
";

#[test]
fn converts_v1_to_v3_yaml_that_applies() {
    let ctl = Ctl::new();
    let file = ctl.file("v1.yaml", V1);
    let out = ctl.run(&["convert", "-f", &file]);
    let yaml = out.ok().to_string();
    assert!(
        yaml.starts_with("apiVersion: projectcalico.org/v3\nitems:\n"),
        "{yaml}"
    );
    assert!(yaml.contains("kind: List"), "{yaml}");
    assert!(
        yaml.contains("name: 172-16-100-0-24") && yaml.contains("name: test-node.10-100-0-1"),
        "{yaml}"
    );

    let applied = ctl.run_stdin(&["apply", "-f", "-"], &yaml);
    assert_eq!(applied.ok(), "Successfully applied 2 resource(s)\n");
    assert_eq!(
        trimmed(ctl.run(&["get", "bgppeer"]).ok()),
        [
            "NAME                   PEERIP       NODE        ASN",
            "test-node.10-100-0-1   10.100.0.1   test-node   65000",
            ""
        ]
    );
    let pool = ctl.run(&["get", "ippool", "-o", "wide"]);
    assert!(pool.ok().contains("172.16.100.0/24   true"), "{pool:?}");
}

#[test]
fn converts_to_json_from_stdin() {
    let ctl = Ctl::new();
    let single = V1.split("---\n").next().unwrap();
    let out = ctl.run_stdin(&["convert", "-f", "-", "-o", "json"], single);
    let v: serde_json::Value = serde_json::from_str(out.ok()).expect("json");
    assert_eq!(v["kind"], "IPPool");
    assert_eq!(v["spec"]["natOutgoing"], true);

    let both = ctl.run_stdin(&["convert", "-f", "-", "-o", "json"], V1);
    let v: serde_json::Value = serde_json::from_str(both.ok()).expect("json");
    assert_eq!(v["kind"], "List");
    assert_eq!(v["items"].as_array().map(Vec::len), Some(2));
}

#[test]
fn convert_errors_name_the_document() {
    let ctl = Ctl::new();
    let bad = format!("{V1}---\napiVersion: v1\nkind: ipPool\nmetadata:\n  cidr: 10.0.0.0/8\nspec:\n  colour: blue\n");
    let out = ctl.run_stdin(&["convert", "-f", "-"], &bad);
    let err = out.failed();
    assert!(
        err.starts_with("Failed to execute command: stdin: document 3"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
    let format = ctl.run_stdin(&["convert", "-f", "-", "-o", "xml"], V1);
    assert_eq!(format.failed(), "unrecognized output format 'xml'\n");
}
