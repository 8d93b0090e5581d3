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

const K8S_POLICY: &str = "\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: api-access
  namespace: shop
spec:
  podSelector:
    matchLabels:
      role: api
  policyTypes: [Ingress, Egress]
  ingress:
  - from:
    - podSelector:
        matchLabels:
          role: frontend
    - namespaceSelector:
        matchLabels:
          env: prod
    - ipBlock:
        cidr: 172.17.0.0/16
        except: [172.17.1.0/24]
    ports:
    - protocol: TCP
      port: 8080
  - from:
    - ipBlock:
        cidr: not-a-cidr
  egress:
  - to:
    - ipBlock:
        cidr: 10.0.0.0/8
    ports:
    - protocol: UDP
      port: 53
";

#[test]
fn converts_k8s_network_policy_mixed_with_v1() {
    let ctl = Ctl::new();
    let file = ctl.file("mixed.yaml", &format!("{K8S_POLICY}---\n{V1}"));
    let out = ctl.run(&["convert", "-f", &file, "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(out.ok()).expect("json");
    assert_eq!(
        out.stderr,
        format!(
            "Warning: {file}: NetworkPolicy shop/api-access: dropped rule ingress[1]: invalid \
             CIDR \"not-a-cidr\" in ipBlock\n"
        )
    );
    let kinds: Vec<&str> = v["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["kind"].as_str())
        .collect();
    assert_eq!(kinds, ["NetworkPolicy", "IPPool", "BGPPeer"]);

    let np = &v["items"][0];
    assert_eq!(np["metadata"]["name"], "knp.default.api-access");
    assert_eq!(np["metadata"]["namespace"], "shop");
    assert_eq!(np["spec"]["order"], 1000.0);
    assert_eq!(np["spec"]["tier"], "default");
    assert_eq!(
        np["spec"]["selector"],
        "projectcalico.org/orchestrator == 'k8s' && role == 'api'"
    );
    assert_eq!(
        np["spec"]["types"],
        serde_json::json!(["Ingress", "Egress"])
    );
    let ingress = np["spec"]["ingress"].as_array().expect("ingress");
    assert_eq!(ingress.len(), 3, "one rule per peer; the bad rule dropped");
    assert_eq!(
        ingress[0]["source"]["selector"],
        "projectcalico.org/orchestrator == 'k8s' && role == 'frontend'"
    );
    assert_eq!(ingress[1]["source"]["namespaceSelector"], "env == 'prod'");
    assert_eq!(
        ingress[2]["source"],
        serde_json::json!({"nets": ["172.17.0.0/16"], "notNets": ["172.17.1.0/24"]})
    );
    for rule in ingress {
        assert_eq!(rule["action"], "Allow");
        assert_eq!(rule["protocol"], "TCP");
        assert_eq!(rule["destination"]["ports"], serde_json::json!([8080]));
    }
    let egress = &np["spec"]["egress"][0];
    assert_eq!(egress["protocol"], "UDP");
    assert_eq!(
        egress["destination"]["nets"],
        serde_json::json!(["10.0.0.0/8"])
    );
    assert_eq!(egress["destination"]["ports"], serde_json::json!([53]));
}

#[test]
fn converted_k8s_policy_applies_and_defaults_its_namespace() {
    let ctl = Ctl::new();
    let single = K8S_POLICY.replace("  namespace: shop\n", "");
    let out = ctl.run_stdin(&["convert", "-f", "-"], &single);
    let yaml = out.ok().to_string();
    assert!(
        yaml.contains("  name: knp.default.api-access\n  namespace: default\n"),
        "{yaml}"
    );
    let applied = ctl.run_stdin(&["apply", "-f", "-"], &yaml);
    assert_eq!(
        applied.ok(),
        "Successfully applied 1 'NetworkPolicy' resource(s)\n"
    );
    let got = ctl.run(&["get", "networkpolicy", "-n", "default"]);
    assert!(got.ok().contains("knp.default.api-access"), "{got:?}");

    // A v1 error after a k8s document keeps its place in the numbering.
    let bad = format!("{K8S_POLICY}---\napiVersion: v1\nkind: ipPool\nmetadata:\n  cidr: 10.0.0.0/8\nspec:\n  colour: blue\n");
    let err = ctl.run_stdin(&["convert", "-f", "-"], &bad);
    assert!(
        err.failed()
            .starts_with("Failed to execute command: stdin: document 2"),
        "{err:?}"
    );
}
