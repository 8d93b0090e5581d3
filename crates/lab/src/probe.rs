//! The two small programs `calico-lab` runs inside workload namespaces: a responder (TCP:
//! greet and close; UDP: echo) and a prober that tries every target at once with a short
//! timeout and prints one JSON list of booleans.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The responders' greeting.
pub const GREETING: &[u8] = b"calico-lab\n";

/// Which protocol a probe uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
    Icmp,
}

impl Proto {
    pub fn name(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Icmp => "icmp",
        }
    }
}

/// Serves TCP and UDP on `port` (all addresses, both families) until killed.
pub fn respond(port: u16) -> Result<()> {
    let any = SocketAddr::from((Ipv6Addr::UNSPECIFIED, port));
    let fallback = SocketAddr::from(([0, 0, 0, 0], port));
    let tcp = TcpListener::bind(any)
        .or_else(|_| TcpListener::bind(fallback))
        .map_err(|e| Error::io("cannot listen on TCP port", port.to_string(), e))?;
    let udp = UdpSocket::bind(any)
        .or_else(|_| UdpSocket::bind(fallback))
        .map_err(|e| Error::io("cannot listen on UDP port", port.to_string(), e))?;
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        loop {
            if let Ok((n, from)) = udp.recv_from(&mut buf) {
                let _ = udp.send_to(&buf[..n], from);
            }
        }
    });
    for mut stream in tcp.incoming().flatten() {
        let _ = stream.write_all(GREETING);
    }
    Ok(())
}

/// Whether `target` answers on `port` over `proto` within `timeout`.
pub fn probe_one(proto: Proto, target: IpAddr, port: u16, timeout: Duration) -> bool {
    let addr = SocketAddr::new(target, port);
    match proto {
        Proto::Tcp => {
            let Ok(mut stream) = TcpStream::connect_timeout(&addr, timeout) else {
                return false;
            };
            let _ = stream.set_read_timeout(Some(timeout));
            let mut buf = [0u8; 32];
            matches!(stream.read(&mut buf), Ok(n) if buf[..n] == *GREETING)
        }
        Proto::Udp => {
            let local: SocketAddr = match target {
                IpAddr::V4(_) => ([0, 0, 0, 0], 0).into(),
                IpAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
            };
            let Ok(sock) = UdpSocket::bind(local) else {
                return false;
            };
            let _ = sock.set_read_timeout(Some(timeout));
            if sock.connect(addr).is_err() || sock.send(b"probe").is_err() {
                return false;
            }
            let mut buf = [0u8; 16];
            matches!(sock.recv(&mut buf), Ok(n) if &buf[..n] == b"probe")
        }
        Proto::Icmp => {
            let secs = timeout.as_secs().max(1).to_string();
            Command::new("ping")
                .args(["-n", "-q", "-c", "1", "-W", &secs])
                .arg(target.to_string())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        }
    }
}

/// Probes every target in parallel; the answers in target order.
pub fn probe_all(proto: Proto, targets: &[IpAddr], port: u16, timeout: Duration) -> Vec<bool> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = targets
            .iter()
            .map(|t| scope.spawn(move || probe_one(proto, *t, port, timeout)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or(false))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_and_udp_against_a_local_responder() {
        let port = {
            let probe = TcpListener::bind("127.0.0.1:0").unwrap();
            probe.local_addr().unwrap().port()
        };
        std::thread::spawn(move || respond(port));
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        let timeout = Duration::from_millis(500);
        let mut up = false;
        for _ in 0..50 {
            if probe_one(Proto::Tcp, local, port, timeout) {
                up = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(up, "responder never answered on TCP");
        assert!(probe_one(Proto::Udp, local, port, timeout));
        // Nothing listens on the port below (it was just one of ours; take another).
        let closed = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        assert_eq!(
            probe_all(Proto::Tcp, &[local, local], closed, timeout),
            vec![false, false]
        );
    }
}
