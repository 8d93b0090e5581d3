//! `convert_v1`: Calico v1 calicoctl resources in, the v3 resources Calico's converter
//! produced out (defaulted and validated), and strict errors naming document and field.

use std::collections::BTreeMap;

use api::{
    convert_v1, Action, AllowedUse, AsNumber, AssignmentMode, BGPPeer, BGPPeerSpec, EncapMode,
    EndpointPort, Error, HostEndpoint, HostEndpointSpec, IPPool, IPPoolSpec, IpNat, Node,
    NodeBgpSpec, ObjectMeta, OrchRef, PolicyType, Port, Protocol, Resource, WorkloadEndpoint,
    WorkloadEndpointPort,
};

fn one(text: &str) -> Resource {
    let mut out = convert_v1(text).unwrap_or_else(|e| panic!("conversion failed: {e}"));
    assert_eq!(out.len(), 1, "expected one resource from {text}");
    out.remove(0)
}

fn pool(text: &str) -> IPPool {
    match one(text) {
        Resource::IPPool(p) => p,
        other => panic!("expected an IPPool, got {other:?}"),
    }
}

fn peer(text: &str) -> BGPPeer {
    match one(text) {
        Resource::BGPPeer(p) => p,
        other => panic!("expected a BGPPeer, got {other:?}"),
    }
}

/// The document number and path of a decode error.
fn decode_error(text: &str) -> (usize, String, String) {
    match convert_v1(text) {
        Err(Error::Decode {
            document,
            path,
            message,
        }) => (document, path, message),
        other => panic!("expected a decode error, got {other:?}"),
    }
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

const ISSUE_EXAMPLE: &str = "\
apiVersion: v1
kind: ipPool
metadata:
  cidr: 172.16.100.0/24
spec:
  ipip:
    enabled: false
  nat-outgoing: false
  disabled: false
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
fn issue_example_converts_field_for_field() {
    let out = convert_v1(ISSUE_EXAMPLE).unwrap();
    let expected_pool = IPPool {
        metadata: ObjectMeta::named("172-16-100-0-24"),
        spec: IPPoolSpec {
            cidr: "172.16.100.0/24".into(),
            vxlan_mode: Some(EncapMode::Never),
            ipip_mode: Some(EncapMode::Never),
            nat_outgoing: false,
            disabled: false,
            disable_bgp_export: false,
            block_size: 26,
            node_selector: "all()".into(),
            namespace_selector: String::new(),
            allowed_uses: vec![AllowedUse::Workload, AllowedUse::Tunnel],
            assignment_mode: Some(AssignmentMode::Automatic),
        },
        status: None,
    };
    let expected_peer = BGPPeer {
        metadata: ObjectMeta::named("test-node.10-100-0-1"),
        spec: BGPPeerSpec {
            node: "test-node".into(),
            peer_ip: "10.100.0.1".into(),
            as_number: Some(AsNumber(65000)),
            ..BGPPeerSpec::default()
        },
    };
    assert_eq!(
        out,
        vec![
            Resource::IPPool(expected_pool),
            Resource::BGPPeer(expected_peer)
        ]
    );
    // The rendered objects carry exactly these fields and nothing else.
    assert_eq!(
        out[1].to_json(),
        serde_json::json!({
            "apiVersion": "projectcalico.org/v3",
            "kind": "BGPPeer",
            "metadata": {"name": "test-node.10-100-0-1"},
            "spec": {"node": "test-node", "peerIP": "10.100.0.1", "asNumber": 65000}
        })
    );
    assert_eq!(
        out[0].to_json()["spec"],
        serde_json::json!({
            "cidr": "172.16.100.0/24", "vxlanMode": "Never", "ipipMode": "Never",
            "blockSize": 26, "nodeSelector": "all()",
            "allowedUses": ["Workload", "Tunnel"], "assignmentMode": "Automatic"
        })
    );
}

#[test]
fn ipv6_pool_name_and_block_size() {
    let p = pool("apiVersion: v1\nkind: ipPool\nmetadata: {cidr: 'fd00:10::/64'}\nspec: {nat-outgoing: true, disabled: true}\n");
    assert_eq!(p.metadata.name, "fd00-10---64");
    assert_eq!(p.spec.cidr, "fd00:10::/64");
    assert_eq!(p.spec.block_size, 122);
    assert!(p.spec.nat_outgoing);
    assert!(p.spec.disabled);
    assert_eq!(p.spec.ipip_mode, Some(EncapMode::Never));
}

#[test]
fn ipip_modes() {
    let mode = |ipip: &str| {
        let text = format!(
            "apiVersion: v1\nkind: ipPool\nmetadata: {{cidr: 10.0.0.0/16}}\nspec: {ipip}\n"
        );
        pool(&text).spec.ipip_mode
    };
    assert_eq!(mode("{}"), Some(EncapMode::Never));
    assert_eq!(mode("{ipip: {enabled: true}}"), Some(EncapMode::Always));
    assert_eq!(
        mode("{ipip: {enabled: true, mode: always}}"),
        Some(EncapMode::Always)
    );
    assert_eq!(
        mode("{ipip: {enabled: true, mode: cross-subnet}}"),
        Some(EncapMode::CrossSubnet)
    );
    assert_eq!(
        mode("{ipip: {enabled: false, mode: cross-subnet}}"),
        Some(EncapMode::Never)
    );
    let (doc, path, msg) = decode_error(
        "apiVersion: v1\nkind: ipPool\nmetadata: {cidr: 10.0.0.0/16}\nspec: {ipip: {enabled: true, mode: CrossSubnet}}\n",
    );
    assert_eq!((doc, path.as_str()), (1, "spec.ipip.mode"));
    assert!(msg.contains("CrossSubnet"), "{msg}");
}

#[test]
fn pool_with_host_bits_fails_v3_validation_against_its_document() {
    let text = format!(
        "{ISSUE_EXAMPLE}---\napiVersion: v1\nkind: ipPool\nmetadata: {{cidr: 10.0.0.1/24}}\n"
    );
    let (doc, _, msg) = decode_error(&text);
    assert_eq!(doc, 3);
    assert!(
        msg.contains("spec.cidr") && msg.contains("host bits"),
        "{msg}"
    );
}

#[test]
fn global_bgp_peers() {
    let p = peer("apiVersion: v1\nkind: bgpPeer\nmetadata: {peerIP: 192.168.1.1, scope: global}\nspec: {asNumber: 64567}\n");
    assert_eq!(p.metadata.name, "192-168-1-1");
    assert_eq!(p.spec.node, "");
    assert_eq!(p.spec.peer_ip, "192.168.1.1");
    assert_eq!(p.spec.as_number, Some(AsNumber(64567)));

    let v6 = peer("apiVersion: v1\nkind: bgpPeer\nmetadata: {peerIP: 'fd00::1', scope: global}\nspec: {asNumber: '1.10'}\n");
    assert_eq!(v6.metadata.name, "fd00-0000-0000-0000-0000-0000-0000-0001");
    assert_eq!(v6.spec.peer_ip, "fd00::1");
    assert_eq!(v6.spec.as_number, Some(AsNumber(65546)));

    let node = peer("apiVersion: v1\nkind: bgpPeer\nmetadata: {peerIP: 10.0.0.9, scope: node, node: Rack1_Host}\nspec: {asNumber: 1}\n");
    assert_eq!(node.metadata.name, "rack1-host.10-0-0-9");
    assert_eq!(node.spec.node, "rack1-host");
}

#[test]
fn bgp_peer_scope_errors() {
    let (_, path, _) = decode_error(
        "apiVersion: v1\nkind: bgpPeer\nmetadata: {peerIP: 10.0.0.1, scope: global, node: n1}\n",
    );
    assert_eq!(path, "metadata.node");
    let (_, path, _) =
        decode_error("apiVersion: v1\nkind: bgpPeer\nmetadata: {peerIP: 10.0.0.1, scope: node}\n");
    assert_eq!(path, "metadata.node");
    let (_, path, _) =
        decode_error("apiVersion: v1\nkind: bgpPeer\nmetadata: {peerIP: 10.0.0.1}\n");
    assert_eq!(path, "metadata.scope");
    let (_, path, _) = decode_error(
        "apiVersion: v1\nkind: bgpPeer\nmetadata: {peerIP: 10.0.0.1, scope: cluster}\n",
    );
    assert_eq!(path, "metadata.scope");
    let (_, path, msg) = decode_error(
        "apiVersion: v1\nkind: bgpPeer\nmetadata: {peerIP: 10.0.0.300, scope: global}\n",
    );
    assert_eq!(path, "metadata.peerIP");
    assert!(msg.contains("10.0.0.300"), "{msg}");
}

const POLICY: &str = "\
apiVersion: v1
kind: policy
metadata:
  name: Allow.TCP-6379
  annotations: {owner: ops}
spec:
  order: 10
  selector: calico/k8s_ns == 'prod'
  doNotTrack: true
  ingress:
  - action: allow
    protocol: tcp
    source:
      tag: frontend
      selector: role == 'web'
      net: 10.1.2.3/16
      nets: [192.168.0.129/25, 172.16.0.1]
      notTag: banned
      notNet: 10.1.9.0/24
    destination:
      ports: [6379, '7000:7010']
      notPorts: [22]
  - action: pass
    protocol: icmp
    icmp: {type: 8, code: 0}
  egress:
  - action: deny
    ipVersion: 6
    destination:
      tag: db
      nets: ['fd00::1/64']
  - action: log
    notProtocol: udp
";

#[test]
fn policy_becomes_global_network_policy() {
    let Resource::GlobalNetworkPolicy(p) = one(POLICY) else {
        panic!("expected a GlobalNetworkPolicy");
    };
    assert!(
        p.metadata.name.starts_with("allow-tcp-6379-"),
        "{}",
        p.metadata.name
    );
    assert_eq!(p.metadata.name.len(), "allow-tcp-6379-".len() + 8);
    assert_eq!(p.metadata.annotations, labels(&[("owner", "ops")]));
    assert_eq!(p.metadata.namespace, None);
    let s = &p.spec;
    assert_eq!(s.tier, "default");
    assert_eq!(s.order, Some(10.0));
    assert_eq!(s.selector, "projectcalico.org/namespace == 'prod'");
    assert!(s.do_not_track);
    assert!(!s.pre_dnat);
    assert!(s.apply_on_forward, "doNotTrack implies applyOnForward");
    assert_eq!(s.types, vec![PolicyType::Ingress, PolicyType::Egress]);

    let r = &s.ingress[0];
    assert_eq!(r.action, Action::Allow);
    assert_eq!(r.protocol, Some(Protocol::Tcp));
    assert_eq!(r.source.selector, "(role == 'web') && frontend == ''");
    assert_eq!(r.source.not_selector, "banned == ''");
    assert_eq!(
        r.source.nets,
        vec!["192.168.0.128/25", "172.16.0.1/32", "10.1.0.0/16"]
    );
    assert_eq!(r.source.not_nets, vec!["10.1.9.0/24"]);
    assert_eq!(
        r.destination.ports,
        vec![
            Port::number(6379),
            Port::Range {
                min: 7000,
                max: 7010
            }
        ]
    );
    assert_eq!(r.destination.not_ports, vec![Port::number(22)]);

    let r = &s.ingress[1];
    assert_eq!(r.action, Action::Pass);
    assert_eq!(r.protocol, Some(Protocol::Icmp));
    let icmp = r.icmp.expect("icmp kept");
    assert_eq!((icmp.type_, icmp.code), (Some(8), Some(0)));

    let r = &s.egress[0];
    assert_eq!(r.action, Action::Deny);
    assert_eq!(r.ip_version, Some(6));
    assert_eq!(r.destination.selector, "db == ''");
    assert_eq!(r.destination.nets, vec!["fd00::/64"]);
    let r = &s.egress[1];
    assert_eq!(r.action, Action::Log);
    assert_eq!(r.not_protocol, Some(Protocol::Udp));
    assert!(r.source.is_empty() && r.destination.is_empty());
}

#[test]
fn policy_types_and_pre_dnat() {
    let gnp = |spec: &str| match one(&format!(
        "apiVersion: v1\nkind: policy\nmetadata: {{name: p}}\nspec: {spec}\n"
    )) {
        Resource::GlobalNetworkPolicy(p) => p,
        other => panic!("expected a GlobalNetworkPolicy, got {other:?}"),
    };
    assert_eq!(gnp("{}").spec.types, vec![PolicyType::Ingress]);
    assert_eq!(
        gnp("{egress: [{action: allow}]}").spec.types,
        vec![PolicyType::Egress]
    );
    assert_eq!(
        gnp("{types: [egress, ingress]}").spec.types,
        vec![PolicyType::Egress, PolicyType::Ingress]
    );
    let p = gnp("{preDNAT: true, ingress: [{action: deny}]}");
    assert_eq!(p.metadata.name, "p");
    assert!(p.spec.pre_dnat && p.spec.apply_on_forward && !p.spec.do_not_track);
    assert_eq!(p.spec.types, vec![PolicyType::Ingress]);

    let (_, path, _) = decode_error(
        "apiVersion: v1\nkind: policy\nmetadata: {name: p}\nspec: {preDNAT: true, egress: [{action: allow}]}\n",
    );
    assert_eq!(path, "spec.preDNAT");
    let (_, path, msg) = decode_error(
        "apiVersion: v1\nkind: policy\nmetadata: {name: p}\nspec: {ingress: [{action: Allow}]}\n",
    );
    assert_eq!(path, "spec.ingress[0].action");
    assert!(msg.contains("Allow"), "{msg}");
}

#[test]
fn profile_tags_become_labels_to_apply() {
    let text = "\
apiVersion: v1
kind: profile
metadata:
  name: k8s_ns.prod
  tags: [web, frontend]
  labels: {tier: one}
spec:
  ingress:
  - action: allow
    source: {tag: web}
  egress:
  - action: allow
";
    let Resource::Profile(p) = one(text) else {
        panic!("expected a Profile");
    };
    assert_eq!(p.metadata.name, "kns.prod");
    assert!(p.metadata.labels.is_empty());
    assert_eq!(
        p.spec.labels_to_apply,
        labels(&[("tier", "one"), ("web", ""), ("frontend", "")])
    );
    assert_eq!(p.spec.ingress.len(), 1);
    assert_eq!(p.spec.ingress[0].source.selector, "web == ''");
    assert_eq!(p.spec.egress[0].action, Action::Allow);

    let (doc, path, msg) = decode_error(
        "apiVersion: v1\nkind: profile\nmetadata: {name: p, tags: [a, b], labels: {b: x}}\n",
    );
    assert_eq!((doc, path.as_str()), (1, "metadata.tags[1]"));
    assert!(msg.contains("\"b\""), "{msg}");
}

#[test]
fn host_endpoint() {
    let text = "\
apiVersion: v1
kind: hostEndpoint
metadata:
  name: eth0
  node: Host1
  labels: {role: edge}
spec:
  interfaceName: eth0
  expectedIPs: ['fd00::5', 192.168.0.1]
  profiles: [k8s_ns.default, base]
  ports:
  - {name: ssh, protocol: tcp, port: 22}
";
    let Resource::HostEndpoint(h) = one(text) else {
        panic!("expected a HostEndpoint");
    };
    let mut metadata = ObjectMeta::named("host1.eth0");
    metadata.labels = labels(&[("role", "edge")]);
    assert_eq!(
        h,
        HostEndpoint {
            metadata,
            spec: HostEndpointSpec {
                node: "host1".into(),
                interface_name: "eth0".into(),
                expected_ips: vec!["192.168.0.1".into(), "fd00::5".into()],
                profiles: vec!["kns.default".into(), "base".into()],
                ports: vec![EndpointPort {
                    name: "ssh".into(),
                    protocol: Protocol::Tcp,
                    port: 22
                }],
            },
        }
    );
}

#[test]
fn workload_endpoints_by_orchestrator() {
    let text = "\
apiVersion: v1
kind: workloadEndpoint
metadata:
  name: eth0
  workload: prod.web-1
  orchestrator: k8s
  node: node-1
  activeInstanceID: abc123
  labels: {calico/k8s_ns: prod, app: web}
spec:
  interfaceName: cali0123456789a
  mac: 'EE-EE-EE-EE-EE-01'
  ipNetworks: ['fd00::7', 10.2.0.7/32]
  ipNATs: [{internalIP: 10.2.0.7, externalIP: 172.16.0.7}]
  profiles: [k8s_ns.prod]
  ports: [{name: http, protocol: tcp, port: 80}]
";
    let Resource::WorkloadEndpoint(w) = one(text) else {
        panic!("expected a WorkloadEndpoint");
    };
    let mut expected = WorkloadEndpoint {
        metadata: ObjectMeta::named("node--1-k8s-web--1-eth0"),
        ..WorkloadEndpoint::default()
    };
    expected.metadata.labels = labels(&[("app", "web"), ("projectcalico.org/namespace", "prod")]);
    let s = &mut expected.spec;
    s.orchestrator = "k8s".into();
    s.node = "node-1".into();
    s.pod = "web-1".into();
    s.container_id = "abc123".into();
    s.endpoint = "eth0".into();
    s.ip_networks = vec!["10.2.0.7/32".into(), "fd00::7/128".into()];
    s.ip_nats = vec![IpNat {
        internal_ip: "10.2.0.7".into(),
        external_ip: "172.16.0.7".into(),
    }];
    s.profiles = vec!["kns.prod".into()];
    s.interface_name = "cali0123456789a".into();
    s.mac = "ee:ee:ee:ee:ee:01".into();
    s.ports = vec![WorkloadEndpointPort {
        name: "http".into(),
        protocol: Protocol::Tcp,
        port: 80,
        host_port: 0,
        host_ip: String::new(),
    }];
    assert_eq!(w, expected);

    let wep = |meta: &str| match one(&format!(
        "apiVersion: v1\nkind: workloadEndpoint\nmetadata: {meta}\nspec: {{interfaceName: tap1}}\n"
    )) {
        Resource::WorkloadEndpoint(w) => w,
        other => panic!("expected a WorkloadEndpoint, got {other:?}"),
    };
    let cni = wep("{name: eth0, workload: 0123abcd, orchestrator: cni, node: h1}");
    assert_eq!(cni.metadata.name, "h1-cni-0123abcd-eth0");
    assert_eq!(cni.spec.container_id, "0123abcd");
    let lib = wep("{name: ep1, workload: whatever, orchestrator: libnetwork, node: h1}");
    assert_eq!(lib.metadata.name, "h1-libnetwork-libnetwork-ep1");
    assert_eq!(lib.spec.workload, "libnetwork");
    let os = wep("{name: tap-1, workload: vm-a, orchestrator: openstack, node: h1}");
    assert_eq!(os.metadata.name, "h1-openstack-vm--a-tap--1");
    assert_eq!(os.spec.workload, "vm-a");

    let (_, path, _) = decode_error(
        "apiVersion: v1\nkind: workloadEndpoint\nmetadata: {name: eth0, workload: nodot, orchestrator: k8s, node: h1}\n",
    );
    assert_eq!(path, "metadata.workload");
    let (_, path, _) = decode_error(
        "apiVersion: v1\nkind: workloadEndpoint\nmetadata: {workload: w, orchestrator: o, node: h1}\n",
    );
    assert_eq!(path, "metadata.name");
}

#[test]
fn node_keeps_address_and_prefix() {
    let text = "\
apiVersion: v1
kind: node
metadata: {name: Node1.example.com}
spec:
  bgp:
    asNumber: 64513
    ipv4Address: 10.0.0.5/24
    ipv6Address: 'fd00::5'
  orchRefs: [{nodeName: node1, orchestrator: k8s}]
";
    let Resource::Node(n) = one(text) else {
        panic!("expected a Node");
    };
    assert_eq!(
        n,
        Node {
            metadata: ObjectMeta::named("node1.example.com"),
            spec: api::NodeSpec {
                bgp: Some(NodeBgpSpec {
                    as_number: Some(AsNumber(64513)),
                    ipv4_address: "10.0.0.5/24".into(),
                    ipv6_address: "fd00::5/128".into(),
                    ..NodeBgpSpec::default()
                }),
                orch_refs: vec![OrchRef {
                    node_name: "node1".into(),
                    orchestrator: "k8s".into()
                }],
                ..api::NodeSpec::default()
            },
            ..Node::default()
        }
    );
    let (_, path, _) = decode_error(
        "apiVersion: v1\nkind: node\nmetadata: {name: n1}\nspec: {bgp: {asNumber: 1}}\n",
    );
    assert_eq!(path, "spec.bgp");
    let (_, path, _) = decode_error(
        "apiVersion: v1\nkind: node\nmetadata: {name: n1}\nspec: {bgp: {ipv4Address: 'fd00::1/64'}}\n",
    );
    assert_eq!(path, "spec.bgp.ipv4Address");
}

#[test]
fn lists_in_every_v1_form() {
    let sequence = "\
- apiVersion: v1
  kind: ipPool
  metadata: {cidr: 10.1.0.0/16}
- apiVersion: v1
  kind: bgpPeer
  metadata: {peerIP: 10.0.0.1, scope: global}
  spec: {asNumber: 65001}
";
    let names: Vec<String> = convert_v1(sequence)
        .unwrap()
        .iter()
        .map(|r| r.metadata().name.clone())
        .collect();
    assert_eq!(names, vec!["10-1-0-0-16", "10-0-0-1"]);

    let typed = "\
apiVersion: v1
kind: ipPoolList
metadata: {}
items:
- metadata: {cidr: 10.2.0.0/16}
- apiVersion: v1
  kind: ipPool
  metadata: {cidr: 10.3.0.0/16}
";
    let out = convert_v1(typed).unwrap();
    assert_eq!(out.len(), 2);
    assert!(out.iter().all(|r| matches!(r, Resource::IPPool(_))));
    assert_eq!(out[1].metadata().name, "10-3-0-0-16");

    let generic = "\
apiVersion: v1
kind: list
items:
- {apiVersion: v1, kind: node, metadata: {name: a}}
- {apiVersion: v1, kind: profile, metadata: {name: b}}
";
    let kinds: Vec<api::Kind> = convert_v1(generic)
        .unwrap()
        .iter()
        .map(Resource::kind)
        .collect();
    assert_eq!(kinds, vec![api::Kind::Node, api::Kind::Profile]);

    let (doc, path, _) = decode_error(
        "apiVersion: v1\nkind: ipPoolList\nitems:\n- {kind: bgpPeer, metadata: {peerIP: 10.0.0.1, scope: global}}\n",
    );
    assert_eq!((doc, path.as_str()), (1, "items[0].kind"));
    let (doc, path, _) = decode_error(&format!(
        "{ISSUE_EXAMPLE}---\n- {{apiVersion: v1, kind: ipPool, metadata: {{cidr: 10.9.0.0/16}}}}\n- {{apiVersion: v1, kind: ipPool, metadata: {{cidr: 10.8.0.0/16, name: x}}}}\n"
    ));
    assert_eq!((doc, path.as_str()), (3, "[1].metadata.name"));
}

#[test]
fn json_input() {
    let text = r#"{"apiVersion": "v1", "kind": "bgpPeer",
        "metadata": {"peerIP": "10.1.1.1", "scope": "node", "node": "n2"},
        "spec": {"asNumber": 64000}}"#;
    let p = peer(text);
    assert_eq!(p.metadata.name, "n2.10-1-1-1");
    assert_eq!(p.spec.as_number, Some(AsNumber(64000)));
}

#[test]
fn unknown_fields_name_document_and_path() {
    let text = format!("{ISSUE_EXAMPLE}---\napiVersion: v1\nkind: ipPool\nmetadata: {{cidr: 10.0.0.0/16}}\nspec: {{natOutgoing: true}}\n");
    let (doc, path, msg) = decode_error(&text);
    assert_eq!((doc, path.as_str()), (3, "spec.natOutgoing"));
    assert!(msg.contains("unknown field"), "{msg}");
    let err = convert_v1(&text).unwrap_err().to_string();
    assert!(err.starts_with("document 3: spec.natOutgoing: "), "{err}");

    let (doc, path, _) = decode_error(&format!(
        "{POLICY}  - action: allow\n    source: {{tags: [x]}}\n"
    ));
    assert_eq!((doc, path.as_str()), (1, "spec.egress[2].source.tags"));

    let (_, path, _) =
        decode_error("apiVersion: v1\nkind: node\nmetadata: {name: n1}\nstatus: {}\n");
    assert_eq!(path, "status");
    // v1 policies had no applyOnForward field: calicoctl rejected it.
    let (_, path, _) = decode_error(
        "apiVersion: v1\nkind: policy\nmetadata: {name: p}\nspec: {applyOnForward: true}\n",
    );
    assert_eq!(path, "spec.applyOnForward");
}

#[test]
fn unknown_kind_and_wrong_api_version() {
    let (doc, path, msg) = decode_error(&format!(
        "{ISSUE_EXAMPLE}---\napiVersion: v1\nkind: globalNetworkPolicy\nmetadata: {{name: x}}\n"
    ));
    assert_eq!((doc, path.as_str()), (3, "kind"));
    assert!(
        msg.contains("globalNetworkPolicy") && msg.contains("ipPool"),
        "{msg}"
    );
    // Kinds are matched exactly, as calicoctl did.
    let (_, path, _) =
        decode_error("apiVersion: v1\nkind: IPPool\nmetadata: {cidr: 10.0.0.0/16}\n");
    assert_eq!(path, "kind");
    let (_, path, msg) = decode_error(
        "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: p}\nspec: {cidr: 10.0.0.0/16}\n",
    );
    assert_eq!(path, "apiVersion");
    assert!(msg.contains("projectcalico.org/v3"), "{msg}");
}

#[test]
fn empty_sections_read_as_absent() {
    let Resource::Profile(p) =
        one("apiVersion: v1\nkind: profile\nmetadata:\n  name: bare\n  tags:\nspec:\n")
    else {
        panic!("expected a Profile");
    };
    assert_eq!(p.metadata.name, "bare");
    assert!(p.spec.labels_to_apply.is_empty() && p.spec.ingress.is_empty());
}

#[test]
fn empty_documents_are_skipped_but_counted() {
    let text = "# nothing here\n---\n---\napiVersion: v1\nkind: node\nmetadata: {name: n1}\nspec: {bogus: 1}\n";
    let (doc, path, _) = decode_error(text);
    assert_eq!((doc, path.as_str()), (2, "spec.bogus"));
    assert!(convert_v1("").unwrap().is_empty());
    let (doc, path, msg) = decode_error("- 42\n");
    assert_eq!((doc, path.as_str()), (1, "[0]"));
    assert!(msg.contains("a number"), "{msg}");
}
