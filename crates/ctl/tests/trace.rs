//! `calicoctl policy trace` through the real binary: workloads, profiles, a default-deny and an
//! allow-by-label policy applied with `calicoctl apply`, then traces between endpoints given
//! by name, pod name, IP and labels, an unknown endpoint, and `-o json`.

mod common;

use common::Ctl;
use serde_json::Value;

fn wep(ns: &str, pod: &str, app: &str, ip: &str) -> String {
    format!(
        "apiVersion: projectcalico.org/v3\nkind: WorkloadEndpoint\nmetadata:\n  name: n1-k8s-{pod}-eth0\n  namespace: {ns}\n  labels:\n    app: {app}\nspec:\n  orchestrator: k8s\n  node: n1\n  pod: {pod}\n  endpoint: eth0\n  interfaceName: cali{pod}\n  ipNetworks: [{ip}/32]\n  profiles: [kns.{ns}]\n---\n"
    )
}

const POLICIES: &str = "\
apiVersion: projectcalico.org/v3
kind: Profile
metadata:
  name: kns.prod
spec:
  ingress: [{action: Allow}]
  egress: [{action: Allow}]
---
apiVersion: projectcalico.org/v3
kind: Profile
metadata:
  name: kns.dev
spec:
  ingress: [{action: Allow}]
  egress: [{action: Allow}]
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: default-deny
spec:
  order: 2000
  selector: all()
  types: [Ingress]
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata:
  name: allow-db
  namespace: prod
spec:
  order: 100
  selector: app == 'db'
  types: [Ingress]
  ingress:
  - action: Deny
    source:
      selector: app == 'client'
  - action: Allow
    protocol: TCP
    source:
      selector: app == 'web'
    destination:
      ports: [5432]
";

/// prod: web 10.65.0.1, db 10.65.0.2, client 10.65.0.3; dev: db 10.65.1.2.
fn cluster() -> Ctl {
    let ctl = Ctl::new();
    let mut yaml = String::new();
    yaml.push_str(&wep("prod", "web", "web", "10.65.0.1"));
    yaml.push_str(&wep("prod", "db", "db", "10.65.0.2"));
    yaml.push_str(&wep("prod", "client", "client", "10.65.0.3"));
    yaml.push_str(&wep("dev", "db", "db", "10.65.1.2"));
    yaml.push_str(POLICIES);
    ctl.apply(&yaml);
    ctl
}

#[test]
fn allowed_pair_names_the_allowing_policy_and_rule() {
    let ctl = cluster();
    let out = ctl.run(&[
        "policy",
        "trace",
        "--from",
        "prod/n1-k8s-web-eth0",
        "--to",
        "prod/db",
        "--port",
        "5432",
    ]);
    let text = out.ok();
    assert!(
        text.starts_with(
            "From: WorkloadEndpoint(prod/n1-k8s-web-eth0) 10.65.0.1\n\
             To:   WorkloadEndpoint(prod/n1-k8s-db-eth0) 10.65.0.2\n\
             TCP 10.65.0.1 -> 10.65.0.2:5432: ALLOW\n"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "egress of WorkloadEndpoint(prod/n1-k8s-web-eth0):\n  no policy applies\n  \
             profile kns.prod\n    rule 0 Allow: match\n"
        ),
        "{text}"
    );
    assert!(text.contains("    policy prod/allow-db\n"), "{text}");
    assert!(text.contains("      rule 0 Deny: no match\n"), "{text}");
    assert!(text.contains("      rule 1 Allow: match\n"), "{text}");
    assert!(
        text.ends_with(
            "decided by Allow rule 1 of policy prod/allow-db in tier default\nALLOWED\n"
        ),
        "{text}"
    );
}

#[test]
fn denied_pairs_name_the_deny_rule_or_end_of_tier() {
    let ctl = cluster();
    let by_rule = ctl.run(&[
        "policy", "trace", "--from", "client", "--to", "prod/db", "--port", "5432",
    ]);
    let text = by_rule.ok();
    assert!(
        text.ends_with("decided by Deny rule 0 of policy prod/allow-db in tier default\nDENIED\n"),
        "{text}"
    );

    let end_of_tier = ctl.run(&[
        "policy", "trace", "--from", "prod/web", "--to", "prod/db", "--port", "22",
    ]);
    let text = end_of_tier.ok();
    assert!(
        text.contains("    policy default-deny\n      (no rules)\n"),
        "{text}"
    );
    assert!(
        text.contains("    => no match, end-of-tier drop\n"),
        "{text}"
    );
    assert!(
        text.ends_with("decided by end of tier default (no rule matched)\nDENIED\n"),
        "{text}"
    );
}

#[test]
fn endpoints_given_by_ip() {
    let ctl = cluster();
    let out = ctl.run(&[
        "policy",
        "trace",
        "--from",
        "10.65.0.1",
        "--to",
        "10.65.0.2",
        "--port",
        "5432",
        "--source-port",
        "40000",
    ]);
    let text = out.ok();
    assert!(
        text.starts_with(
            "From: WorkloadEndpoint(prod/n1-k8s-web-eth0) 10.65.0.1\n\
             To:   WorkloadEndpoint(prod/n1-k8s-db-eth0) 10.65.0.2\n\
             TCP 10.65.0.1:40000 -> 10.65.0.2:5432: ALLOW\n"
        ),
        "{text}"
    );
    assert!(text.ends_with("ALLOWED\n"), "{text}");

    let outside = ctl.run(&[
        "policy",
        "trace",
        "--from",
        "192.0.2.9",
        "--to",
        "prod/web",
        "--port",
        "80",
    ]);
    let text = outside.ok();
    assert!(
        text.starts_with("From: 192.0.2.9 (not a Calico endpoint)\n"),
        "{text}"
    );
    assert!(text.ends_with("DENIED\n"), "{text}");
}

#[test]
fn endpoints_given_by_labels() {
    let ctl = cluster();
    let out = ctl.run(&[
        "policy",
        "trace",
        "--from",
        "app=web",
        "--to",
        "app=db,projectcalico.org/namespace=prod",
        "--port",
        "5432",
    ]);
    let text = out.ok();
    assert!(
        text.starts_with(
            "From: WorkloadEndpoint(prod/n1-k8s-web-eth0) 10.65.0.1\n\
             To:   WorkloadEndpoint(prod/n1-k8s-db-eth0) 10.65.0.2\n"
        ),
        "{text}"
    );
    assert!(text.ends_with("ALLOWED\n"), "{text}");

    // Two endpoints carry app=db: the first by name is traced and the other is named.
    let out = ctl.run(&[
        "policy", "trace", "--from", "app=web", "--to", "app=db", "--port", "5432",
    ]);
    let text = out.ok();
    assert!(
        text.contains(
            "To:   WorkloadEndpoint(dev/n1-k8s-db-eth0) 10.65.1.2; the labels also match \
             WorkloadEndpoint(prod/n1-k8s-db-eth0)\n"
        ),
        "{text}"
    );
    assert!(text.ends_with("DENIED\n"), "{text}");
}

#[test]
fn unknown_or_ambiguous_endpoints_fail() {
    let ctl = cluster();
    let unknown = ctl.run(&["policy", "trace", "--from", "prod/nope", "--to", "prod/db"]);
    assert_eq!(
        unknown.failed(),
        "--from: workload endpoint \"prod/nope\" not found (give namespace/name, hep:name, \
         an IP or k=v labels)\n"
    );
    let host = ctl.run(&["policy", "trace", "--from", "prod/web", "--to", "hep:eth0"]);
    assert_eq!(host.failed(), "--to: HostEndpoint(eth0) not found\n");
    let ambiguous = ctl.run(&["policy", "trace", "--from", "prod/web", "--to", "db"]);
    assert_eq!(
        ambiguous.failed(),
        "--to: \"db\" is ambiguous: it names WorkloadEndpoint(dev/n1-k8s-db-eth0), \
         WorkloadEndpoint(prod/n1-k8s-db-eth0); give namespace/name\n"
    );
    let labels = ctl.run(&["policy", "trace", "--from", "app=nope", "--to", "prod/db"]);
    assert_eq!(
        labels.failed(),
        "--from: no endpoint has the labels app=nope\n"
    );
    let icmp_port = ctl.run(&[
        "policy",
        "trace",
        "--from",
        "prod/web",
        "--to",
        "prod/db",
        "--protocol",
        "icmp",
        "--port",
        "80",
    ]);
    assert_eq!(
        icmp_port.failed(),
        "--port and --source-port need --protocol tcp, udp or sctp\n"
    );
}

#[test]
fn json_output_carries_the_decision() {
    let ctl = cluster();
    let out = ctl.run(&[
        "policy", "trace", "--from", "prod/web", "--to", "prod/db", "--port", "5432", "-o", "json",
    ]);
    let verdict: Value = serde_json::from_str(out.ok()).expect("JSON verdict");
    assert_eq!(verdict["disposition"], "Allow");
    assert_eq!(verdict["decidedBy"]["by"], "policy");
    assert_eq!(verdict["decidedBy"]["policy"]["name"], "allow-db");
    assert_eq!(verdict["decidedBy"]["policy"]["namespace"], "prod");
    assert_eq!(verdict["decidedBy"]["rule"], 1);
    assert_eq!(verdict["packet"]["dstPort"], 5432);
    assert_eq!(verdict["packet"]["protocol"], 6);

    let icmp = ctl.run(&[
        "policy",
        "trace",
        "--from",
        "prod/client",
        "--to",
        "prod/db",
        "--protocol",
        "icmp",
        "--icmp-type",
        "8",
        "-o",
        "json",
    ]);
    let verdict: Value = serde_json::from_str(icmp.ok()).expect("JSON verdict");
    assert_eq!(verdict["disposition"], "Deny");
    assert_eq!(verdict["packet"]["icmp"]["type"], 8);
    assert_eq!(verdict["decidedBy"]["rule"], 0);
}

#[test]
fn host_endpoint_without_profiles_denies_by_default() {
    let ctl = cluster();
    ctl.apply(
        "apiVersion: projectcalico.org/v3\nkind: HostEndpoint\nmetadata:\n  name: n1-eth0\n  \
         labels: {role: node}\nspec:\n  node: n1\n  interfaceName: eth0\n  expectedIPs: [192.168.0.10]\n",
    );
    let out = ctl.run(&[
        "policy",
        "trace",
        "--from",
        "hep:n1-eth0",
        "--to",
        "prod/web",
        "--protocol",
        "icmp",
        "--icmp-type",
        "8",
    ]);
    assert_eq!(
        out.ok(),
        "From: HostEndpoint(n1-eth0) 192.168.0.10\n\
         To:   WorkloadEndpoint(prod/n1-k8s-web-eth0) 10.65.0.1\n\
         ICMP 192.168.0.10 -> 10.65.0.1 type 8 code 0: DENY\n\
         egress of HostEndpoint(n1-eth0):\n  \
         no policy applies\n  \
         => DENY by no profile rule matched\n\
         decided by no profile rule matched\n\
         DENIED\n"
    );
}
