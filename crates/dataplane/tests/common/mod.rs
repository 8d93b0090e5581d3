//! Test harness: network namespaces named `cdpt-<pid>-...` (removed on drop, even on panic),
//! a node namespace with two workload namespaces plumbed the way Calico's CNI does it (veth,
//! /32 routes, proxy ARP towards 169.254.1.1), and TCP/UDP/ICMP probes.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use dataplane::model::{DesiredState, IpVersion};
use dataplane::routes::{Route, RouteManager};
use dataplane::{nft, render, sysctl, Batch};

/// A network namespace of our own (`cdpt-<pid>-<n>-<tag>`), deleted on drop.
pub struct Netns(testkit::Netns);

impl Deref for Netns {
    type Target = testkit::Netns;

    fn deref(&self) -> &testkit::Netns {
        &self.0
    }
}

impl Netns {
    pub fn new(tag: &str) -> Netns {
        Netns(testkit::Netns::new("cdpt", tag))
    }

    /// For both IP versions: read our table, diff against `state`'s rendering, apply.
    /// Returns the IPv4 batch.
    pub fn converge(&self, state: &DesiredState) -> Batch {
        let v6 = render(state, IpVersion::V6).expect("render v6");
        self.run(|| nft::converge(&v6)).expect("converge v6");
        let v4 = render(state, IpVersion::V4).expect("render v4");
        self.run(|| nft::converge(&v4)).expect("converge v4")
    }

    pub fn ping(&self, addr: &str) -> bool {
        self.exec_ok(&["ping", "-c1", "-W1", addr])
    }

    /// TCP connect from this namespace.
    pub fn tcp(&self, addr: &str, port: u16) -> bool {
        let to = SocketAddr::new(addr.parse().unwrap(), port);
        self.run(|| TcpStream::connect_timeout(&to, Duration::from_millis(1000)).is_ok())
    }

    /// UDP request/response from this namespace (needs a [`UdpEcho`] at the far end).
    pub fn udp(&self, addr: &str, port: u16) -> bool {
        let to = SocketAddr::new(addr.parse().unwrap(), port);
        self.run(|| {
            let sock = UdpSocket::bind(if to.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }).unwrap();
            sock.set_read_timeout(Some(Duration::from_millis(1000)))
                .unwrap();
            sock.send_to(b"probe", to).unwrap();
            let mut buf = [0u8; 16];
            matches!(sock.recv_from(&mut buf), Ok((5, _)))
        })
    }

    /// A TCP listener (accepting in the background) and a UDP echo server on `port`, both
    /// IP versions.
    pub fn serve(&self, port: u16) -> Servers {
        let (tcp, udp) = self.run(|| {
            // `::` also accepts IPv4 (v4-mapped) on Linux.
            let tcp = TcpListener::bind(("::", port)).unwrap();
            let udp = UdpSocket::bind(("::", port)).unwrap();
            (tcp, udp)
        });
        Servers::start(tcp, udp)
    }
}

/// Background TCP accept + UDP echo loops, stopped and joined on drop.
pub struct Servers {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Servers {
    fn start(tcp: TcpListener, udp: UdpSocket) -> Servers {
        let stop = Arc::new(AtomicBool::new(false));
        tcp.set_nonblocking(true).unwrap();
        udp.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let s1 = stop.clone();
        let t1 = std::thread::spawn(move || {
            while !s1.load(Ordering::Relaxed) {
                match tcp.accept() {
                    Ok((mut conn, _)) => {
                        let _ = conn.write_all(b"ok");
                        let mut sink = [0u8; 16];
                        let _ = conn.set_read_timeout(Some(Duration::from_millis(10)));
                        let _ = conn.read(&mut sink);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        let s2 = stop.clone();
        let t2 = std::thread::spawn(move || {
            let mut buf = [0u8; 64];
            while !s2.load(Ordering::Relaxed) {
                if let Ok((n, from)) = udp.recv_from(&mut buf) {
                    let _ = udp.send_to(&buf[..n], from);
                }
            }
        });
        Servers {
            stop,
            threads: vec![t1, t2],
        }
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// A node namespace with two workloads, plumbed like Calico's CNI plugin does.
pub struct Lab {
    pub workloads: Vec<Workload>,
    pub node: Netns,
}

pub struct Workload {
    pub ns: Netns,
    pub iface: String,
    pub ip: String,
    pub ip6: String,
}

/// The host veth's link-local address, derived from its MAC ee:ee:ee:ee:ee:ee.
const GATEWAY6: &str = "fe80::ecee:eeff:feee:eeee";

/// The node's own address (on an uplink veth that also carries the default route, which
/// proxy ARP needs to answer for 169.254.1.1).
pub const NODE_IP: &str = "192.168.200.1";

impl Lab {
    pub fn new(tag: &str) -> Lab {
        let node = Netns::new(&format!("{tag}-node"));
        node.uplink("eth0", "eth0peer", &format!("{NODE_IP}/24"));
        assert!(node.exec_ok(&["sysctl", "-qw", "net.ipv4.ip_forward=1"]));
        assert!(node.exec_ok(&["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"]));
        let mut workloads = Vec::new();
        let mut routes = BTreeSet::new();
        for i in 1..=2 {
            let ns = Netns::new(&format!("{tag}-w{i}"));
            let iface = format!("caliw{i}");
            let ip = format!("10.65.0.{}", i + 1);
            let ip6 = format!("fd00:65::{}", i + 1);
            node.veth_into(&iface, &ns, "eth0");
            node.ip(&["link", "set", &iface, "address", "ee:ee:ee:ee:ee:ee"]);
            node.run(|| {
                sysctl::configure_workload_interface(&iface, IpVersion::V4)?;
                sysctl::configure_workload_interface(&iface, IpVersion::V6)
            })
            .expect("sysctls");
            node.ip(&["link", "set", &iface, "up"]);
            ns.ip(&["link", "set", "eth0", "up"]);
            ns.ip(&["addr", "add", &format!("{ip}/32"), "dev", "eth0"]);
            ns.ip(&["addr", "add", &format!("{ip6}/128"), "dev", "eth0", "nodad"]);
            ns.ip(&[
                "route",
                "add",
                "169.254.1.1",
                "dev",
                "eth0",
                "scope",
                "link",
            ]);
            ns.ip(&[
                "route",
                "add",
                "default",
                "via",
                "169.254.1.1",
                "dev",
                "eth0",
            ]);
            ns.ip(&[
                "-6", "route", "add", "default", "via", GATEWAY6, "dev", "eth0",
            ]);
            for (dst, len) in [(&ip, 32), (&ip6, 128)] {
                routes.insert(Route::Workload {
                    dst: format!("{dst}/{len}").parse().unwrap(),
                    iface: iface.clone(),
                });
            }
            workloads.push(Workload { ns, iface, ip, ip6 });
        }
        routes.insert(Route::Blackhole {
            dst: "10.65.0.0/26".parse().unwrap(),
        });
        node_routes(&node, &routes);
        Lab { workloads, node }
    }

    pub fn w(&self, i: usize) -> &Workload {
        &self.workloads[i]
    }
}

/// Sync the node's routes through our route manager.
pub fn node_routes(node: &Netns, routes: &BTreeSet<Route>) -> dataplane::routes::RouteDiff {
    node.run(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let manager = RouteManager::new()?;
            manager.sync(routes).await
        })
    })
    .expect("route sync")
}

/// List the node's routes of our protocol.
pub fn list_routes(node: &Netns) -> BTreeSet<Route> {
    node.run(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async { RouteManager::new()?.list().await })
    })
    .expect("route list")
}
