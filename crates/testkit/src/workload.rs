//! A workload plumbed by hand the way Calico's CNI plugin does it, for tests that need a
//! workload without running the plugin: a veth whose host end has Calico's MAC and sysctls,
//! the pod end `eth0` with a /32 and a default route via 169.254.1.1, and the node's /32
//! route to the workload.

use std::net::Ipv4Addr;

use crate::cmd::run;

/// Plumbs `ip` in namespace `pod_ns` behind host interface `host_if` in `node_ns`.
pub fn plumb(node_ns: &str, pod_ns: &str, host_if: &str, ip: Ipv4Addr) {
    let ip_in = |ns: &str, args: &[&str]| {
        let mut full = vec!["-n", ns];
        full.extend_from_slice(args);
        run("ip", &full);
    };
    ip_in(
        node_ns,
        &[
            "link", "add", host_if, "type", "veth", "peer", "name", "eth0", "netns", pod_ns,
        ],
    );
    ip_in(
        node_ns,
        &["link", "set", host_if, "address", "ee:ee:ee:ee:ee:ee", "up"],
    );
    for key in [
        format!("net.ipv4.conf.{host_if}.proxy_arp=1"),
        format!("net.ipv4.neigh.{host_if}.proxy_delay=0"),
        format!("net.ipv4.conf.{host_if}.forwarding=1"),
    ] {
        run("ip", &["netns", "exec", node_ns, "sysctl", "-qw", &key]);
    }
    let cidr = format!("{ip}/32");
    ip_in(pod_ns, &["addr", "add", &cidr, "dev", "eth0"]);
    ip_in(pod_ns, &["link", "set", "eth0", "up"]);
    ip_in(
        pod_ns,
        &[
            "route",
            "add",
            "169.254.1.1",
            "dev",
            "eth0",
            "scope",
            "link",
        ],
    );
    ip_in(
        pod_ns,
        &[
            "route",
            "add",
            "default",
            "via",
            "169.254.1.1",
            "dev",
            "eth0",
        ],
    );
    ip_in(
        node_ns,
        &["route", "add", &cidr, "dev", host_if, "scope", "link"],
    );
}
