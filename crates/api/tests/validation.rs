//! Validation: each rule is exercised with an accepted and a rejected resource, checking
//! the field the error names.

use api::{decode_documents, Error, Resource};

fn one(yaml: &str) -> Resource {
    let mut rs = decode_documents(yaml).unwrap_or_else(|e| panic!("decode: {e}"));
    assert_eq!(rs.len(), 1);
    rs.remove(0)
}

fn ok(yaml: &str) {
    let r = one(yaml);
    r.validate()
        .unwrap_or_else(|e| panic!("expected valid, got: {e}"));
}

/// Returns the failing field, asserting the error is a validation error.
fn bad(yaml: &str) -> String {
    match one(yaml).validate() {
        Err(Error::Validation { field, reason, .. }) => {
            assert!(!reason.is_empty());
            field
        }
        Err(other) => panic!("unexpected error: {other}"),
        Ok(()) => panic!("expected invalid:\n{yaml}"),
    }
}

fn pool(spec: &str) -> String {
    format!("apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {{name: p}}\nspec: {spec}\n")
}

fn gnp(rules: &str) -> String {
    format!("apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {{name: g}}\nspec:\n  ingress:\n  - {rules}\n")
}

fn gnp_egress(rules: &str) -> String {
    format!("apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {{name: g}}\nspec:\n  egress:\n  - {rules}\n")
}

#[test]
fn error_display_is_one_line_naming_resource_and_field() {
    let r = one(&pool("{cidr: 10.0.0.1/24}"));
    let e = r.validate().unwrap_err().to_string();
    assert_eq!(
        e,
        "IPPool(p): spec.cidr: \"10.0.0.1/24\" has host bits set (network is 10.0.0.0/24)"
    );
    let np = one("apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {name: x, namespace: prod}\nspec: {selector: 'a =='}\n");
    let e = np.validate().unwrap_err().to_string();
    assert!(
        e.starts_with("NetworkPolicy(prod/x): spec.selector: invalid selector"),
        "{e}"
    );
    assert!(e.contains("position"), "{e}");
    assert!(!e.contains('\n'));
}

#[test]
fn pool_cidr_rules() {
    ok(&pool("{cidr: 10.0.0.0/16}"));
    ok(&pool("{cidr: 'fd00:1::/64'}"));
    assert_eq!(bad(&pool("{cidr: 10.0.0.1/24}")), "spec.cidr");
    assert_eq!(bad(&pool("{cidr: not-a-cidr}")), "spec.cidr");
    assert_eq!(bad(&pool("{natOutgoing: true}")), "spec.cidr");
    assert_eq!(bad(&pool("{cidr: 169.254.0.0/20}")), "spec.cidr");
    assert_eq!(bad(&pool("{cidr: 169.0.0.0/8}")), "spec.cidr");
    assert_eq!(bad(&pool("{cidr: 'fe80::/64'}")), "spec.cidr");
}

#[test]
fn pool_block_size_rules() {
    ok(&pool("{cidr: 10.0.0.0/16, blockSize: 20}"));
    ok(&pool("{cidr: 10.0.0.0/16, blockSize: 32}"));
    assert_eq!(
        bad(&pool("{cidr: 10.0.0.0/16, blockSize: 19}")),
        "spec.blockSize"
    );
    assert_eq!(
        bad(&pool("{cidr: 10.0.0.0/16, blockSize: 116}")),
        "spec.blockSize"
    );
    ok(&pool("{cidr: 'fd00::/64', blockSize: 116}"));
    assert_eq!(
        bad(&pool("{cidr: 'fd00::/64', blockSize: 26}")),
        "spec.blockSize"
    );
    // Pool smaller than one block.
    assert_eq!(bad(&pool("{cidr: 10.0.0.0/28}")), "spec.cidr");
    ok(&pool("{cidr: 10.0.0.0/28, disabled: true}"));
    ok(&pool("{cidr: 10.0.0.0/28, blockSize: 28}"));
}

#[test]
fn pool_encapsulation_rules() {
    ok(&pool("{cidr: 10.0.0.0/16, ipipMode: Always}"));
    ok(&pool("{cidr: 10.0.0.0/16, vxlanMode: CrossSubnet}"));
    assert_eq!(
        bad(&pool(
            "{cidr: 10.0.0.0/16, ipipMode: Always, vxlanMode: Always}"
        )),
        "spec.vxlanMode"
    );
    ok(&pool("{cidr: 'fd00::/64', vxlanMode: Always}"));
    assert_eq!(
        bad(&pool("{cidr: 'fd00::/64', ipipMode: CrossSubnet}")),
        "spec.ipipMode"
    );
}

#[test]
fn pool_selector_rules() {
    ok(&pool("{cidr: 10.0.0.0/16, nodeSelector: \"zone == 'a'\"}"));
    assert_eq!(
        bad(&pool("{cidr: 10.0.0.0/16, nodeSelector: global()}")),
        "spec.nodeSelector"
    );
    assert_eq!(
        bad(&pool("{cidr: 10.0.0.0/16, nodeSelector: 'zone =='}")),
        "spec.nodeSelector"
    );
}

#[test]
fn pool_allowed_uses_rules() {
    ok(&pool(
        "{cidr: 10.0.0.0/16, allowedUses: [Workload, Tunnel]}",
    ));
    ok(&pool("{cidr: 10.0.0.0/16, allowedUses: [LoadBalancer]}"));
    assert_eq!(
        bad(&pool(
            "{cidr: 10.0.0.0/16, allowedUses: [LoadBalancer, Workload]}"
        )),
        "spec.allowedUses"
    );
    assert_eq!(
        bad(&pool(
            "{cidr: 10.0.0.0/16, allowedUses: [LoadBalancer], nodeSelector: \"a == 'b'\"}"
        )),
        "spec.nodeSelector"
    );
    assert_eq!(
        bad(&pool(
            "{cidr: 10.0.0.0/16, allowedUses: [LoadBalancer], ipipMode: Always}"
        )),
        "spec.allowedUses"
    );
    assert_eq!(
        bad(&pool(
            "{cidr: 10.0.0.0/16, allowedUses: [LoadBalancer], disableBGPExport: true}"
        )),
        "spec.disableBGPExport"
    );
    assert_eq!(
        bad(&pool(
            "{cidr: 10.0.0.0/16, allowedUses: [Workload, Workload]}"
        )),
        "spec.allowedUses"
    );
}

#[test]
fn resource_names_are_dns_subdomains() {
    ok("apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata: {name: a.b-c}\n");
    assert_eq!(
        bad("apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata: {name: Upper}\n"),
        "metadata.name"
    );
    assert_eq!(
        bad("apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata: {name: ''}\n"),
        "metadata.name"
    );
    assert_eq!(
        bad("apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata: {name: a, namespace: x}\n"),
        "metadata.namespace"
    );
    assert_eq!(
        bad("apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata: {name: a, labels: {'bad key!': x}}\n"),
        "metadata.labels.bad key!"
    );
}

#[test]
fn policy_names() {
    ok("apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: security.allow-dns}\n");
    assert_eq!(
        bad("apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: a.b.c}\n"),
        "metadata.name"
    );
    ok("apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {name: knp.default.a.b.c, namespace: n}\n");
}

#[test]
fn port_rules() {
    ok(&gnp(
        "{action: Allow, protocol: TCP, destination: {ports: [80, '1000:2000']}}",
    ));
    ok(&gnp("{action: Allow, destination: {ports: [http]}}"));
    assert_eq!(
        bad(&gnp("{action: Allow, destination: {ports: [80]}}")),
        "spec.ingress[0].destination.ports"
    );
    assert_eq!(
        bad(&gnp(
            "{action: Allow, protocol: ICMP, source: {notPorts: [80]}}"
        )),
        "spec.ingress[0].source.notPorts"
    );
    ok(&gnp(
        "{action: Allow, protocol: 132, destination: {ports: [80]}}",
    ));
    assert_eq!(
        bad(&gnp(
            "{action: Allow, protocol: TCP, destination: {ports: [0]}}"
        )),
        "spec.ingress[0].destination.ports[0]"
    );
    assert_eq!(
        bad(&gnp(
            "{action: Allow, protocol: TCP, destination: {ports: ['0:10']}}"
        )),
        "spec.ingress[0].destination.ports[0]"
    );
    assert_eq!(
        bad(&gnp("{action: Allow, http: {paths: [{prefix: '/a?b'}]}}")),
        "spec.ingress[0].http.paths[0]"
    );
    assert_eq!(
        bad(&gnp("{action: Allow, destination: {ports: [Bad_Name]}}")),
        "spec.ingress[0].destination.ports[0]"
    );
}

#[test]
fn reversed_port_range_built_in_code_is_rejected() {
    let mut r = one(&gnp(
        "{action: Allow, protocol: TCP, destination: {ports: [80]}}",
    ));
    if let Resource::GlobalNetworkPolicy(p) = &mut r {
        p.spec.ingress[0].destination.ports[0] = api::Port::Range { min: 90, max: 80 };
    }
    match r.validate() {
        Err(Error::Validation { field, .. }) => {
            assert_eq!(field, "spec.ingress[0].destination.ports[0]")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn protocol_rules() {
    ok(&gnp("{action: Allow, protocol: 255}"));
    assert_eq!(
        bad(&gnp("{action: Allow, protocol: 0}")),
        "spec.ingress[0].protocol"
    );
    assert_eq!(
        bad(&gnp("{action: Allow, notProtocol: 0}")),
        "spec.ingress[0].notProtocol"
    );
    ok(&gnp("{action: Allow, ipVersion: 6}"));
    assert_eq!(
        bad(&gnp("{action: Allow, ipVersion: 5}")),
        "spec.ingress[0].ipVersion"
    );
}

#[test]
fn icmp_rules() {
    ok(&gnp(
        "{action: Allow, protocol: ICMP, icmp: {type: 8, code: 0}}",
    ));
    ok(&gnp(
        "{action: Allow, protocol: ICMPv6, ipVersion: 6, notICMP: {type: 128}}",
    ));
    assert_eq!(
        bad(&gnp("{action: Allow, protocol: TCP, icmp: {type: 8}}")),
        "spec.ingress[0].icmp"
    );
    assert_eq!(
        bad(&gnp("{action: Allow, icmp: {type: 8}}")),
        "spec.ingress[0].icmp"
    );
    assert_eq!(
        bad(&gnp("{action: Allow, protocol: ICMP, icmp: {type: 255}}")),
        "spec.ingress[0].icmp.type"
    );
    assert_eq!(
        bad(&gnp(
            "{action: Allow, protocol: ICMP, icmp: {type: 3, code: 256}}"
        )),
        "spec.ingress[0].icmp.code"
    );
    assert_eq!(
        bad(&gnp("{action: Allow, protocol: ICMP, icmp: {code: 1}}")),
        "spec.ingress[0].icmp.code"
    );
    assert_eq!(
        bad(&gnp(
            "{action: Allow, protocol: ICMP, ipVersion: 6, icmp: {type: 8}}"
        )),
        "spec.ingress[0].icmp"
    );
    assert_eq!(
        bad(&gnp(
            "{action: Allow, protocol: ICMPv6, ipVersion: 4, notICMP: {type: 8}}"
        )),
        "spec.ingress[0].notICMP"
    );
}

#[test]
fn http_rules() {
    ok(&gnp(
        "{action: Allow, http: {methods: [GET], paths: [{prefix: /api}]}}",
    ));
    assert_eq!(
        bad(&gnp("{action: Deny, http: {methods: [GET]}}")),
        "spec.ingress[0].http"
    );
    assert_eq!(
        bad(&gnp(
            "{action: Allow, protocol: UDP, http: {methods: [GET]}}"
        )),
        "spec.ingress[0].http"
    );
    assert_eq!(
        bad(&gnp_egress("{action: Allow, http: {methods: [GET]}}")),
        "spec.egress[0].http"
    );
    assert_eq!(
        bad(&gnp(
            "{action: Allow, http: {paths: [{exact: /a, prefix: /b}]}}"
        )),
        "spec.ingress[0].http.paths[0]"
    );
    assert_eq!(
        bad(&gnp("{action: Allow, http: {methods: [GET, GET]}}")),
        "spec.ingress[0].http.methods[1]"
    );
}

#[test]
fn net_rules() {
    ok(&gnp(
        "{action: Allow, source: {nets: [10.0.0.0/8, 192.168.1.1]}}",
    ));
    assert_eq!(
        bad(&gnp("{action: Allow, source: {nets: [10.0.0.0/33]}}")),
        "spec.ingress[0].source.nets[0]"
    );
    assert_eq!(
        bad(&gnp(
            "{action: Allow, source: {nets: [10.0.0.0/8]}, destination: {nets: ['fd00::/64']}}"
        )),
        "spec.ingress[0].destination.nets[0]"
    );
    assert_eq!(
        bad(&gnp(
            "{action: Allow, ipVersion: 6, source: {nets: [10.0.0.0/8]}}"
        )),
        "spec.ingress[0].source.nets[0]"
    );
    assert_eq!(
        bad(&gnp("{action: Allow, source: {notNets: [0.0.0.0/0]}}")),
        "spec.ingress[0].source.notNets[0]"
    );
}

#[test]
fn rule_selector_rules() {
    ok(&gnp(
        "{action: Allow, source: {selector: has(a), namespaceSelector: global()}}",
    ));
    assert_eq!(
        bad(&gnp("{action: Allow, source: {selector: global()}}")),
        "spec.ingress[0].source.selector"
    );
    assert_eq!(
        bad(&gnp(
            "{action: Allow, source: {namespaceSelector: global() && has(a)}}"
        )),
        "spec.ingress[0].source.namespaceSelector"
    );
    assert_eq!(
        bad(&gnp(
            "{action: Allow, destination: {notSelector: 'a in {'}}"
        )),
        "spec.ingress[0].destination.notSelector"
    );
    assert_eq!(
        bad(&gnp(
            "{action: Allow, source: {serviceAccounts: {selector: global()}}}"
        )),
        "spec.ingress[0].source.serviceAccounts.selector"
    );
}

#[test]
fn service_match_rules() {
    ok(&gnp_egress(
        "{action: Allow, destination: {services: {name: kube-dns, namespace: kube-system}}}",
    ));
    assert_eq!(
        bad(&gnp_egress(
            "{action: Allow, destination: {services: {name: kube-dns}}}"
        )),
        "spec.egress[0].destination.services.namespace"
    );
    assert_eq!(
        bad(&gnp_egress(
            "{action: Allow, destination: {services: {name: a, namespace: b}, selector: has(x)}}"
        )),
        "spec.egress[0].destination.services"
    );
    assert_eq!(
        bad(&gnp(
            "{action: Allow, destination: {services: {name: a, namespace: b}}}"
        )),
        "spec.ingress[0].destination.services"
    );
    assert_eq!(
        bad(&gnp_egress(
            "{action: Allow, source: {services: {name: a, namespace: b}}}"
        )),
        "spec.egress[0].source.services"
    );
    assert_eq!(
        bad(&gnp_egress("{action: Allow, protocol: TCP, destination: {services: {name: a, namespace: b}, ports: [53]}}")),
        "spec.egress[0].destination.ports"
    );
}

#[test]
fn policy_level_rules() {
    let base =
        "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: g}\nspec:\n";
    ok(&format!(
        "{base}  preDNAT: true\n  applyOnForward: true\n  types: [Ingress]\n"
    ));
    assert_eq!(
        bad(&format!("{base}  preDNAT: true\n")),
        "spec.applyOnForward"
    );
    assert_eq!(
        bad(&format!("{base}  doNotTrack: true\n")),
        "spec.applyOnForward"
    );
    assert_eq!(
        bad(&format!(
            "{base}  doNotTrack: true\n  preDNAT: true\n  applyOnForward: true\n"
        )),
        "spec.preDNAT"
    );
    assert_eq!(
        bad(&format!(
            "{base}  preDNAT: true\n  applyOnForward: true\n  egress: [{{action: Allow}}]\n"
        )),
        "spec.egress"
    );
    assert_eq!(
        bad(&format!("{base}  types: [Ingress, Ingress]\n")),
        "spec.types"
    );
    assert_eq!(
        bad(&format!("{base}  selector: global()\n")),
        "spec.selector"
    );
    assert_eq!(
        bad(&format!("{base}  namespaceSelector: global()\n")),
        "spec.namespaceSelector"
    );
    assert_eq!(
        bad(&format!("{base}  serviceAccountSelector: global()\n")),
        "spec.serviceAccountSelector"
    );
    assert_eq!(bad(&format!("{base}  tier: Bad.Tier\n")), "spec.tier");
}

#[test]
fn tier_rules() {
    let t = |spec: &str| {
        format!(
            "apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {{name: t}}\nspec: {spec}\n"
        )
    };
    ok(&t("{order: 10, defaultAction: Pass}"));
    ok(&t("{defaultAction: Deny}"));
    assert_eq!(bad(&t("{defaultAction: Allow}")), "spec.defaultAction");
    assert_eq!(
        bad("apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: a.b}\n"),
        "metadata.name"
    );
    assert_eq!(
        bad("apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: default}\nspec: {order: 5}\n"),
        "spec.order"
    );
}

fn peer(spec: &str) -> String {
    format!(
        "apiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata: {{name: p}}\nspec: {spec}\n"
    )
}

#[test]
fn bgp_peer_rules() {
    ok(&peer("{peerIP: '10.0.0.1:1179', asNumber: 64512}"));
    ok(&peer("{peerIP: '[fd00::1]:1179', asNumber: '1.10'}"));
    assert_eq!(bad(&peer("{peerIP: '10.0.0.1:0'}")), "spec.peerIP");
    assert_eq!(bad(&peer("{peerIP: 'fd00::1:99999x'}")), "spec.peerIP");
    assert_eq!(
        bad(&peer("{peerIP: 10.0.0.1, peerSelector: has(a)}")),
        "spec.peerSelector"
    );
    assert_eq!(
        bad(&peer("{node: a, nodeSelector: has(a)}")),
        "spec.nodeSelector"
    );
    assert_eq!(
        bad(&peer("{peerSelector: has(a), asNumber: 1}")),
        "spec.asNumber"
    );
    assert_eq!(
        bad(&peer("{peerIP: 10.0.0.1, asNumber: 0}")),
        "spec.asNumber"
    );
    assert_eq!(bad(&peer("{reachableBy: 10.0.0.254}")), "spec.reachableBy");
    assert_eq!(
        bad(&peer("{peerIP: 10.0.0.1, reachableBy: 'fd00::1'}")),
        "spec.reachableBy"
    );
    ok(&peer("{peerIP: 10.0.0.1, reachableBy: 10.0.0.254}"));
    assert_eq!(
        bad(&peer(
            "{peerIP: 10.0.0.1, keepOriginalNextHop: true, nextHopMode: Self}"
        )),
        "spec.nextHopMode"
    );
    assert_eq!(
        bad(&peer("{localWorkloadSelector: has(a)}")),
        "spec.asNumber"
    );
    assert_eq!(bad(&peer("{nodeSelector: global()}")), "spec.nodeSelector");
    assert_eq!(
        bad(&peer("{password: {secretKeyRef: {name: s}}}")),
        "spec.password.secretKeyRef.key"
    );
}

fn bgpconf(name: &str, spec: &str) -> String {
    format!("apiVersion: projectcalico.org/v3\nkind: BGPConfiguration\nmetadata: {{name: {name}}}\nspec: {spec}\n")
}

#[test]
fn bgp_configuration_rules() {
    ok(&bgpconf("default", "{logSeverityScreen: info, listenPort: 1179, communities: [{name: c1, value: '65000:100'}], prefixAdvertisements: [{cidr: 10.0.0.0/8, communities: [c1, '1:2:3']}]}"));
    assert_eq!(
        bad(&bgpconf("default", "{logSeverityScreen: loud}")),
        "spec.logSeverityScreen"
    );
    assert_eq!(
        bad(&bgpconf("default", "{listenPort: 0}")),
        "spec.listenPort"
    );
    assert_eq!(
        bad(&bgpconf(
            "default",
            "{communities: [{name: c, value: '70000:1'}]}"
        )),
        "spec.communities[0].value"
    );
    assert_eq!(
        bad(&bgpconf(
            "default",
            "{prefixAdvertisements: [{cidr: 10.0.0.0/8, communities: [nope]}]}"
        )),
        "spec.prefixAdvertisements[0].communities[0]"
    );
    assert_eq!(
        bad(&bgpconf("node.n1", "{asNumber: 65000}")),
        "spec.asNumber"
    );
    ok(&bgpconf("node.n1", "{listenPort: 1790}"));
    assert_eq!(
        bad(&bgpconf(
            "default",
            "{nodeToNodeMeshEnabled: false, nodeMeshPassword: {secretKeyRef: {name: s, key: k}}}"
        )),
        "spec.nodeMeshPassword"
    );
    assert_eq!(
        bad(&bgpconf("default", "{serviceClusterIPs: [{cidr: nope}]}")),
        "spec.serviceClusterIPs[0].cidr"
    );
}

#[test]
fn ipam_configuration_rules() {
    let c = |name: &str, spec: &str| {
        format!("apiVersion: projectcalico.org/v3\nkind: IPAMConfiguration\nmetadata: {{name: {name}}}\nspec: {spec}\n")
    };
    ok(&c(
        "default",
        "{strictAffinity: true, maxBlocksPerHost: 4, autoAllocateBlocks: false}",
    ));
    assert_eq!(bad(&c("other", "{}")), "metadata.name");
    assert_eq!(
        bad(&c("default", "{maxBlocksPerHost: 4}")),
        "spec.maxBlocksPerHost"
    );
    assert_eq!(
        bad(&c(
            "default",
            "{maxBlocksPerHost: -1, strictAffinity: true}"
        )),
        "spec.maxBlocksPerHost"
    );
    assert_eq!(
        bad(&c("default", "{autoAllocateBlocks: false}")),
        "spec.autoAllocateBlocks"
    );
    assert_eq!(
        bad(&c("default", "{ipCooldownSeconds: 1201}")),
        "spec.ipCooldownSeconds"
    );
}

#[test]
fn node_rules() {
    let n = |spec: &str| {
        format!(
            "apiVersion: projectcalico.org/v3\nkind: Node\nmetadata: {{name: n1}}\nspec: {spec}\n"
        )
    };
    ok(&n("{bgp: {ipv4Address: 10.0.0.5/24, ipv6Address: 'fd00::5/64'}, vxlanTunnelMACAddr: 'aa:bb:cc:dd:ee:ff'}"));
    assert_eq!(
        bad(&n("{bgp: {ipv4Address: 10.0.0.5}}")),
        "spec.bgp.ipv4Address"
    );
    assert_eq!(
        bad(&n("{bgp: {ipv4Address: 'fd00::5/64'}}")),
        "spec.bgp.ipv4Address"
    );
    assert_eq!(bad(&n("{bgp: {}}")), "spec.bgp");
    assert_eq!(
        bad(&n("{bgp: {routeReflectorClusterID: 'fd00::1'}}")),
        "spec.bgp.routeReflectorClusterID"
    );
    assert_eq!(
        bad(&n("{vxlanTunnelMACAddr: zz}")),
        "spec.vxlanTunnelMACAddr"
    );
    assert_eq!(
        bad(&n("{ipv4VXLANTunnelAddr: 'fd00::1'}")),
        "spec.ipv4VXLANTunnelAddr"
    );
}

#[test]
fn host_endpoint_rules() {
    let h = |spec: &str| {
        format!("apiVersion: projectcalico.org/v3\nkind: HostEndpoint\nmetadata: {{name: h}}\nspec: {spec}\n")
    };
    ok(&h("{node: n1, interfaceName: '*'}"));
    ok(&h(
        "{node: n1, expectedIPs: [10.0.0.1], ports: [{name: http, protocol: TCP, port: 80}]}",
    ));
    assert_eq!(bad(&h("{interfaceName: eth0}")), "spec.node");
    assert_eq!(bad(&h("{node: n1}")), "spec.expectedIPs");
    assert_eq!(
        bad(&h("{node: n1, interfaceName: a-very-long-interface-name}")),
        "spec.interfaceName"
    );
    assert_eq!(
        bad(&h("{node: n1, expectedIPs: [nope]}")),
        "spec.expectedIPs[0]"
    );
    assert_eq!(
        bad(&h(
            "{node: n1, interfaceName: eth0, ports: [{name: p, protocol: ICMP, port: 1}]}"
        )),
        "spec.ports[0].protocol"
    );
    assert_eq!(
        bad(&h(
            "{node: n1, interfaceName: eth0, ports: [{name: p, protocol: TCP, port: 0}]}"
        )),
        "spec.ports[0].port"
    );
}

fn wep(name: &str, spec: &str) -> String {
    format!("apiVersion: projectcalico.org/v3\nkind: WorkloadEndpoint\nmetadata: {{name: {name}, namespace: ns}}\nspec: {spec}\n")
}

#[test]
fn workload_endpoint_rules() {
    let base = "node: node-1, orchestrator: k8s, pod: pod-name, endpoint: eth0";
    ok(&wep("node--1-k8s-pod--name-eth0", &format!("{{{base}, ipNetworks: [10.0.0.1/32], ipNATs: [{{internalIP: 10.0.0.1, externalIP: 1.2.3.4}}]}}")));
    assert_eq!(
        bad(&wep("node-1-k8s-pod-name-eth0", &format!("{{{base}}}"))),
        "metadata.name"
    );
    assert_eq!(
        bad(&wep(
            "node--1-k8s-pod--name-eth0",
            &format!("{{{base}, ipNetworks: [10.0.0.0/24]}}")
        )),
        "spec.ipNetworks[0]"
    );
    assert_eq!(
        bad(&wep("node--1-k8s-pod--name-eth0", &format!("{{{base}, ipNetworks: [10.0.0.1/32], ipNATs: [{{internalIP: 10.0.0.2, externalIP: 1.2.3.4}}]}}"))),
        "spec.ipNATs[0].internalIP"
    );
    assert_eq!(
        bad(&wep(
            "node--1-k8s-pod--name-eth0",
            &format!("{{{base}, ports: [{{protocol: TCP, port: 80}}]}}")
        )),
        "spec.ports[0].name"
    );
    assert_eq!(
        bad(&wep(
            "node--1-k8s-pod--name-eth0",
            &format!("{{{base}, ipv4Gateway: 'fd00::1'}}")
        )),
        "spec.ipv4Gateway"
    );
    assert_eq!(bad(&wep("w", "{mac: nope}")), "spec.mac");
}

#[test]
fn network_set_rules() {
    ok("apiVersion: projectcalico.org/v3\nkind: NetworkSet\nmetadata: {name: s, namespace: n}\nspec: {nets: [10.0.0.0/8, 1.2.3.4]}\n");
    assert_eq!(
        bad("apiVersion: projectcalico.org/v3\nkind: NetworkSet\nmetadata: {name: s, namespace: n}\nspec: {nets: [bogus]}\n"),
        "spec.nets[0]"
    );
    assert_eq!(
        bad("apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata: {name: s, labels: {projectcalico.org/namespace: x}}\n"),
        "metadata.labels.projectcalico.org/namespace"
    );
}

#[test]
fn felix_configuration_rules() {
    let f = |spec: &str| {
        format!("apiVersion: projectcalico.org/v3\nkind: FelixConfiguration\nmetadata: {{name: default}}\nspec: {spec}\n")
    };
    ok(&f("{logSeverityScreen: Debug, vxlanVNI: 4096, chainInsertMode: Append, natPortRange: '32768:65535', routeTableRange: {min: 1, max: 250}}"));
    assert_eq!(
        bad(&f("{logSeverityScreen: chatty}")),
        "spec.logSeverityScreen"
    );
    assert_eq!(bad(&f("{vxlanPort: 0}")), "spec.vxlanPort");
    assert_eq!(bad(&f("{vxlanVNI: 16777216}")), "spec.vxlanVNI");
    assert_eq!(bad(&f("{ipipMTU: -1}")), "spec.ipipMTU");
    assert_eq!(
        bad(&f(
            "{failsafeInboundHostPorts: [{protocol: icmp, port: 1}]}"
        )),
        "spec.failsafeInboundHostPorts[0].protocol"
    );
    assert_eq!(
        bad(&f("{kubeNodePortRanges: [http]}")),
        "spec.kubeNodePortRanges"
    );
    assert_eq!(
        bad(&f("{natOutgoingAddress: nope}")),
        "spec.natOutgoingAddress"
    );
    assert_eq!(
        bad(&f("{routeTableRange: {min: 0, max: 10}}")),
        "spec.routeTableRange"
    );
    assert_eq!(
        bad(&f("{routeTableRanges: [{min: 10, max: 5}]}")),
        "spec.routeTableRanges[0]"
    );
    let err = decode_documents(&f("{defaultEndpointToHostAction: Allow}")).unwrap_err();
    assert!(
        err.to_string().contains("spec.defaultEndpointToHostAction"),
        "{err}"
    );
    let err = decode_documents(&f("{notAFelixField: 1}")).unwrap_err();
    assert!(
        err.to_string().contains("unknown field \"notAFelixField\""),
        "{err}"
    );
}

#[test]
fn cluster_information_is_a_singleton() {
    ok("apiVersion: projectcalico.org/v3\nkind: ClusterInformation\nmetadata: {name: default}\n");
    assert_eq!(
        bad(
            "apiVersion: projectcalico.org/v3\nkind: ClusterInformation\nmetadata: {name: other}\n"
        ),
        "metadata.name"
    );
}

#[test]
fn reservation_rules() {
    ok("apiVersion: projectcalico.org/v3\nkind: IPReservation\nmetadata: {name: r}\nspec: {reservedCIDRs: [10.0.0.0/30, 10.0.0.9]}\n");
    assert_eq!(
        bad("apiVersion: projectcalico.org/v3\nkind: IPReservation\nmetadata: {name: r}\nspec: {reservedCIDRs: [10.0.0.0/40]}\n"),
        "spec.reservedCIDRs[0]"
    );
}

#[test]
fn profile_rules() {
    ok("apiVersion: projectcalico.org/v3\nkind: Profile\nmetadata: {name: kns.default}\nspec: {ingress: [{action: Allow}], labelsToApply: {pcns.a: b}}\n");
    assert_eq!(
        bad("apiVersion: projectcalico.org/v3\nkind: Profile\nmetadata: {name: p}\nspec: {egress: [{action: Allow, protocol: 0}]}\n"),
        "spec.egress[0].protocol"
    );
    assert_eq!(
        bad("apiVersion: projectcalico.org/v3\nkind: Profile\nmetadata: {name: p}\nspec: {labelsToApply: {a: 'has space'}}\n"),
        "spec.labelsToApply.a"
    );
}

#[test]
fn felix_configuration_from_a_live_cluster_decodes() {
    // Shape of `calicoctl get felixconfiguration default -o yaml` on a current cluster.
    let text = "apiVersion: projectcalico.org/v3\nkind: FelixConfiguration\nmetadata:\n  creationTimestamp: \"2024-05-01T10:00:00Z\"\n  name: default\n  resourceVersion: \"1234\"\n  uid: 0c5e3b2e-7f1a-4c1e-9d3b-1f2e3d4c5b6a\nspec:\n  bpfConnectTimeLoadBalancing: TCP\n  bpfHostNetworkedNATWithoutCTLB: Enabled\n  bpfLogLevel: \"\"\n  floatingIPs: Disabled\n  healthPort: 9099\n  logSeverityScreen: Info\n  reportingInterval: 0s\n  vxlanVNI: 4096\n  healthTimeoutOverrides:\n  - {name: InternalDataplaneMainLoop, timeout: 90s}\n  bpfConntrackTimeouts: {tcpEstablished: 1h, udpTimeout: Auto}\n";
    ok(text);
    let f = |spec: &str| {
        format!("apiVersion: projectcalico.org/v3\nkind: FelixConfiguration\nmetadata: {{name: default}}\nspec: {spec}\n")
    };
    assert_eq!(
        bad(&f("{externalNodesList: ['fd00::/64']}")),
        "spec.externalNodesList[0]"
    );
    assert_eq!(
        bad(&f("{deviceRouteSourceAddress: nope}")),
        "spec.deviceRouteSourceAddress"
    );
    assert_eq!(
        bad(&f("{openstackRegion: Bad_Region}")),
        "spec.openstackRegion"
    );
}
