//! Decoding: every example from the reference, YAML/JSON equivalence, lists, multi-document
//! numbering and the shape of decode errors.

use api::{decode_documents, encode_yaml, Error, Kind, Port, Protocol, Resource};

const EXAMPLES: &str = r#"
apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: pool-a}
spec: {cidr: 10.244.0.0/16, blockSize: 26, ipipMode: Never, vxlanMode: CrossSubnet, natOutgoing: true, nodeSelector: all()}
---
apiVersion: projectcalico.org/v3
kind: IPReservation
metadata: {name: res}
spec: {reservedCIDRs: ["10.244.0.0/30", "10.244.5.7/32"]}
---
apiVersion: projectcalico.org/v3
kind: BGPConfiguration
metadata: {name: default}
spec: {nodeToNodeMeshEnabled: false, asNumber: 63400, serviceClusterIPs: [{cidr: 10.96.0.0/12}]}
---
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata: {name: rack1-tor}
spec: {peerIP: 192.20.30.40, asNumber: 64567, nodeSelector: rack == 'rack-1'}
---
kind: BGPPeer
apiVersion: projectcalico.org/v3
metadata: {name: peer-with-route-reflectors}
spec: {nodeSelector: all(), peerSelector: route-reflector == 'true'}
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: allow-tcp-6379, namespace: production}
spec:
  selector: role == 'database'
  types: [Ingress, Egress]
  ingress:
  - action: Allow
    protocol: TCP
    source: {selector: role == 'frontend'}
    destination: {ports: [6379]}
  egress:
  - action: Allow
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: deny-blue}
spec:
  order: 100
  selector: color == 'red'
  ingress:
  - {action: Deny, protocol: TCP, source: {selector: color == 'blue', namespaceSelector: all()}}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata: {name: dns-servers, labels: {role: dns}}
spec: {nets: [8.8.8.8/32, 1.1.1.0/24]}
---
apiVersion: projectcalico.org/v3
kind: HostEndpoint
metadata: {name: myhost-eth0}
spec: {interfaceName: eth0, node: myhost, expectedIPs: [192.168.0.1]}
---
apiVersion: projectcalico.org/v3
kind: FelixConfiguration
metadata: {name: default}
spec:
  failsafeInboundHostPorts: [{protocol: tcp, port: 22, net: 0.0.0.0/0}]
  iptablesMarkMask: 0xffff0000
  routeRefreshInterval: 90s
  kubeNodePortRanges: ["30000:32767"]
---
apiVersion: projectcalico.org/v3
kind: Node
metadata: {name: node-1}
spec:
  bgp: {ipv4Address: 10.0.0.5/24, asNumber: "1.10", routeReflectorClusterID: 224.0.0.1}
  orchRefs: [{nodeName: k8s-node-1, orchestrator: k8s}]
  addresses: [{address: 10.0.0.5, type: InternalIP}]
status: {podCIDRs: [10.244.1.0/24]}
---
apiVersion: projectcalico.org/v3
kind: WorkloadEndpoint
metadata: {name: node--1-k8s-pod--name-eth0, namespace: default}
spec: {node: node-1, orchestrator: k8s, pod: pod-name, endpoint: eth0, ipNetworks: [10.244.1.5/32], interfaceName: cali1234567890a, profiles: [kns.default]}
---
apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: security}
spec: {order: 100, defaultAction: Pass}
---
apiVersion: projectcalico.org/v3
kind: ClusterInformation
metadata: {name: default}
spec: {clusterGUID: abc123, clusterType: "k8s,bgp", calicoVersion: v3.28.0, datastoreReady: true}
"#;

#[test]
fn every_reference_example_decodes_and_validates() {
    let rs = decode_documents(EXAMPLES).unwrap();
    let kinds: Vec<Kind> = rs.iter().map(Resource::kind).collect();
    assert_eq!(
        kinds,
        vec![
            Kind::IPPool,
            Kind::IPReservation,
            Kind::BGPConfiguration,
            Kind::BGPPeer,
            Kind::BGPPeer,
            Kind::NetworkPolicy,
            Kind::GlobalNetworkPolicy,
            Kind::GlobalNetworkSet,
            Kind::HostEndpoint,
            Kind::FelixConfiguration,
            Kind::Node,
            Kind::WorkloadEndpoint,
            Kind::Tier,
            Kind::ClusterInformation,
        ]
    );
    for r in &rs {
        r.validate()
            .unwrap_or_else(|e| panic!("{}: {e}", r.metadata().name));
    }
    let Resource::IPPool(pool) = &rs[0] else {
        panic!()
    };
    assert_eq!(pool.spec.cidr, "10.244.0.0/16");
    assert_eq!(pool.spec.vxlan_mode, Some(api::EncapMode::CrossSubnet));
    assert!(pool.spec.nat_outgoing);
    let Resource::NetworkPolicy(np) = &rs[5] else {
        panic!()
    };
    assert_eq!(np.metadata.namespace.as_deref(), Some("production"));
    assert_eq!(np.spec.ingress[0].protocol, Some(Protocol::Tcp));
    assert_eq!(
        np.spec.ingress[0].destination.ports,
        vec![Port::number(6379)]
    );
    let Resource::GlobalNetworkPolicy(gnp) = &rs[6] else {
        panic!()
    };
    assert_eq!(gnp.spec.order, Some(100.0));
    let Resource::Node(node) = &rs[10] else {
        panic!()
    };
    assert_eq!(
        node.spec.bgp.as_ref().unwrap().as_number,
        Some(api::AsNumber(65546))
    );
    let Resource::FelixConfiguration(fc) = &rs[9] else {
        panic!()
    };
    assert_eq!(fc.spec.iptables_mark_mask, Some(0xffff_0000));
}

#[test]
fn yaml_and_json_give_the_same_resource() {
    let yaml = "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata:\n  name: g\nspec:\n  order: 10\n  ingress:\n  - action: Allow\n    protocol: udp\n    destination:\n      ports: [53, '1000:2000', dns]\n";
    let json = r#"{"apiVersion":"projectcalico.org/v3","kind":"GlobalNetworkPolicy","metadata":{"name":"g"},
        "spec":{"order":10,"ingress":[{"action":"Allow","protocol":"UDP","destination":{"ports":[53,"1000:2000","dns"]}}]}}"#;
    let a = decode_documents(yaml).unwrap();
    let b = decode_documents(json).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.len(), 1);
}

#[test]
fn lists_are_flattened() {
    let text = r#"
apiVersion: projectcalico.org/v3
kind: IPPoolList
items:
- metadata: {name: a}
  spec: {cidr: 10.1.0.0/16}
- apiVersion: projectcalico.org/v3
  kind: IPPool
  metadata: {name: b}
  spec: {cidr: 10.2.0.0/16}
---
apiVersion: v1
kind: List
items:
- {apiVersion: projectcalico.org/v3, kind: Tier, metadata: {name: t}}
"#;
    let rs = decode_documents(text).unwrap();
    let names: Vec<&str> = rs.iter().map(|r| r.metadata().name.as_str()).collect();
    assert_eq!(names, vec!["a", "b", "t"]);
    assert_eq!(rs[2].kind(), Kind::Tier);
}

#[test]
fn empty_documents_are_skipped() {
    let text = "---\n# just a comment\n---\napiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: t}\n---\n";
    assert_eq!(decode_documents(text).unwrap().len(), 1);
    assert!(decode_documents("").unwrap().is_empty());
}

fn decode_err(text: &str) -> (usize, String, String) {
    match decode_documents(text).unwrap_err() {
        Error::Decode {
            document,
            path,
            message,
        } => (document, path, message),
        other => panic!("not a decode error: {other}"),
    }
}

#[test]
fn error_in_third_document_names_document_three() {
    let text = "apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: a}\n---\napiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: b}\n---\napiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: c}\nspec: {cidr: 10.0.0.0/16, ipipMode: Sometimes}\n";
    let err = decode_documents(text).unwrap_err();
    assert_eq!(
        err.to_string(),
        "document 3: spec.ipipMode: unknown variant \"Sometimes\", expected one of Never, Always, CrossSubnet"
    );
}

#[test]
fn yaml_syntax_error_names_its_document() {
    let text =
        "apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: a}\n---\nkind: [unclosed\n";
    let (doc, _, msg) = decode_err(text);
    assert_eq!(doc, 2);
    assert!(msg.starts_with("invalid YAML"), "{msg}");
    assert!(
        msg.contains("line 5"),
        "line numbers count from the start of the input: {msg}"
    );
    assert!(!msg.contains('\n'));
}

#[test]
fn unknown_field_is_rejected_with_its_path() {
    let (doc, path, msg) = decode_err(
        "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: a}\nspec: {cidr: 10.0.0.0/16, natOutgoin: true}\n",
    );
    assert_eq!(doc, 1);
    assert_eq!(path, "spec.natOutgoin");
    assert!(msg.starts_with("unknown field \"natOutgoin\""), "{msg}");
    let (_, path, _) = decode_err(
        "apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: a, selfLink: /x}\n",
    );
    assert_eq!(path, "metadata.selfLink");
}

#[test]
fn wrong_type_is_rejected_with_its_path() {
    let (_, path, msg) = decode_err(
        "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {name: a, namespace: n}\nspec:\n  ingress:\n  - action: Allow\n    destination: {ports: [70000]}\n",
    );
    assert_eq!(path, "spec.ingress[0].destination.ports[0]");
    assert!(msg.contains("70000"), "{msg}");
    let (_, path, _) = decode_err(
        "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: a}\nspec: {cidr: 10.0.0.0/16, natOutgoing: [1]}\n",
    );
    assert_eq!(path, "spec.natOutgoing");
}

#[test]
fn unknown_kind_and_api_version_list_what_is_accepted() {
    let (_, path, msg) =
        decode_err("apiVersion: projectcalico.org/v3\nkind: Pod\nmetadata: {name: a}\n");
    assert_eq!(path, "kind");
    assert!(msg.contains("unknown kind \"Pod\""), "{msg}");
    assert!(
        msg.contains("IPPool") && msg.contains("ClusterInformation"),
        "{msg}"
    );
    let (_, path, msg) = decode_err("apiVersion: v1\nkind: IPPool\nmetadata: {name: a}\n");
    assert_eq!(path, "apiVersion");
    assert!(msg.contains("projectcalico.org/v3"), "{msg}");
    let (_, path, _) = decode_err("kind: IPPool\nmetadata: {name: a}\n");
    assert_eq!(path, "apiVersion");
}

#[test]
fn list_item_errors_carry_the_item_index() {
    let (doc, path, _) = decode_err(
        "apiVersion: projectcalico.org/v3\nkind: IPPoolList\nitems:\n- metadata: {name: a}\n  spec: {cidr: 10.1.0.0/16}\n- metadata: {name: b}\n  spec: {bogus: 1}\n",
    );
    assert_eq!(doc, 1);
    assert_eq!(path, "items[1].spec.bogus");
}

#[test]
fn encode_yaml_prints_one_object_or_a_list() {
    let rs = decode_documents(EXAMPLES).unwrap();
    let one = encode_yaml(&[rs[0].to_json()]).unwrap();
    assert!(
        one.starts_with("apiVersion: projectcalico.org/v3\nkind: IPPool\n"),
        "{one}"
    );
    assert_eq!(decode_documents(&one).unwrap(), vec![rs[0].clone()]);
    let pools = [rs[0].to_json(), rs[0].to_json()];
    let list = encode_yaml(&pools).unwrap();
    assert!(list.contains("kind: IPPoolList"), "{list}");
    assert_eq!(decode_documents(&list).unwrap().len(), 2);
    let mixed = encode_yaml(&[rs[0].to_json(), rs[1].to_json()]).unwrap();
    assert!(mixed.contains("kind: List"), "{mixed}");
    let all: Vec<_> = rs.iter().map(Resource::to_json).collect();
    assert_eq!(decode_documents(&encode_yaml(&all).unwrap()).unwrap(), rs);
}

#[test]
fn to_json_puts_api_version_and_kind_first() {
    let rs = decode_documents(EXAMPLES).unwrap();
    for r in &rs {
        let v = r.to_json();
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(keys[0], "apiVersion");
        assert_eq!(keys[1], "kind");
        assert_eq!(keys[2], "metadata");
        assert_eq!(Resource::from_json(v).unwrap(), *r);
    }
}

#[test]
fn json_arrays_are_flattened_and_items_are_located() {
    let rs = decode_documents(
        r#"[{"apiVersion":"projectcalico.org/v3","kind":"Tier","metadata":{"name":"a"}},
            {"apiVersion":"projectcalico.org/v3","kind":"Tier","metadata":{"name":"b"}}]"#,
    )
    .unwrap();
    assert_eq!(rs.len(), 2);
    let (doc, path, msg) = decode_err("- 1\n");
    assert_eq!((doc, path.as_str()), (1, "[0]"));
    assert!(msg.contains("expected an object"), "{msg}");
}

#[test]
fn yaml_1_1_booleans_stay_strings() {
    let rs = decode_documents(
        "apiVersion: projectcalico.org/v3\nkind: NetworkSet\nmetadata: {name: s, namespace: n, labels: {a: yes, b: on}}\n",
    )
    .unwrap();
    let m = rs[0].metadata();
    assert_eq!(m.namespace.as_deref(), Some("n"));
    assert_eq!(m.labels["a"], "yes");
    assert_eq!(m.labels["b"], "on");
    let yaml = encode_yaml(&[rs[0].to_json()]).unwrap();
    assert!(yaml.contains("a: \"yes\""), "{yaml}");
}

#[test]
fn unquoted_asdot_is_refused_rather_than_misread() {
    let (_, path, msg) = decode_err(
        "apiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata: {name: a}\nspec: {peerIP: 10.0.0.1, asNumber: 1.10}\n",
    );
    assert_eq!(path, "spec.asNumber");
    assert!(msg.contains("quote"), "{msg}");
}

#[test]
fn missing_required_rule_action_is_named() {
    let (_, path, msg) = decode_err(
        "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {name: a, namespace: b}\nspec: {ingress: [{protocol: TCP}]}\n",
    );
    assert_eq!(path, "spec.ingress[0]");
    assert_eq!(msg, "missing field \"action\"");
}

#[test]
fn unquoted_ipv6_and_community_values_are_strings() {
    let rs = decode_documents(
        "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: v6\nspec:\n  cidr: fd00:1::/64\n---\napiVersion: projectcalico.org/v3\nkind: BGPConfiguration\nmetadata: {name: default}\nspec:\n  communities:\n  - name: c\n    value: 65000:100\n",
    )
    .unwrap();
    let Resource::IPPool(p) = &rs[0] else {
        panic!()
    };
    assert_eq!(p.spec.cidr, "fd00:1::/64");
    let Resource::BGPConfiguration(b) = &rs[1] else {
        panic!()
    };
    assert_eq!(b.spec.communities[0].value, "65000:100");
    rs[1].validate().unwrap();
}
