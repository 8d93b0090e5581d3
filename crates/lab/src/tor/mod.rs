//! `calico-lab tor-router`: our own BGP speaker (crate `bgp`) as the top-of-rack router of
//! the fabric namespace, for `--tor calico`. One eBGP session per node address (each node in
//! its own AS), every learned route re-advertised to the other nodes with the ToR as next
//! hop (eBGP next-hop-self, so traffic between nodes is routed at the leaf as with the FRR
//! and BIRD ToRs), and every learned best route installed in the fabric's kernel.
//!
//! ```text
//!  nodes ──BGP──▶ bgp::Speaker ──BestChange──▶ fold into `learned` ──▶ fib::Fib::sync (proto 201)
//!                      ▲
//!  status socket ──────┘ peers() ──▶ JSON list of TorPeer (read by `calico-lab status`)
//! ```
//! One task owns everything; it runs until the lab stops the process.

pub mod fib;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use bgp::codec::Family;
use bgp::rib::{BestChange, Source};
use bgp::{Filters, PeerConfig, Speaker, SpeakerConfig};
use ipnet::IpNet;
use tokio::io::AsyncWriteExt;
use tokio::net::UnixListener;

use crate::tor_sessions::TorPeer;

/// How often the ToR retries a node that does not answer yet.
const CONNECT_RETRY: Duration = Duration::from_secs(1);

/// What the ToR is started with.
#[derive(Clone, Debug)]
pub struct TorConfig {
    pub asn: u32,
    pub router_id: Ipv4Addr,
    /// The ToR's own address per family, the source of its connections.
    pub local: Vec<IpAddr>,
    /// Node address and AS.
    pub peers: Vec<(IpAddr, u32)>,
}

/// Runs the ToR until the process is stopped.
pub fn run(config: TorConfig, status_socket: &Path) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    runtime.block_on(serve(config, status_socket))
}

async fn serve(config: TorConfig, status_socket: &Path) -> Result<()> {
    let (speaker, mut best) = Speaker::start(
        SpeakerConfig::new(config.asn, config.router_id),
        Filters::default(),
    )
    .await
    .context("cannot start the BGP speaker")?;
    for (address, asn) in &config.peers {
        let source = config
            .local
            .iter()
            .find(|l| l.is_ipv4() == address.is_ipv4())
            .copied();
        let peer = PeerConfig {
            families: vec![if address.is_ipv4() {
                Family::Ipv4Unicast
            } else {
                Family::Ipv6Unicast
            }],
            connect_retry: CONNECT_RETRY,
            source,
            ..PeerConfig::new(*address, *asn)
        };
        speaker
            .add_peer(peer)
            .await
            .with_context(|| format!("cannot add peer {address}"))?;
    }
    let _ = std::fs::remove_file(status_socket);
    let status = UnixListener::bind(status_socket)
        .with_context(|| format!("cannot listen on {}", status_socket.display()))?;
    let fib = fib::Fib::new().context("cannot open a netlink socket")?;
    fib.sync(&BTreeMap::new()).await?;
    let mut learned: BTreeMap<IpNet, IpAddr> = BTreeMap::new();
    let asns: BTreeMap<IpAddr, u32> = config.peers.iter().copied().collect();
    loop {
        tokio::select! {
            change = best.recv() => {
                let Some(change) = change else { anyhow::bail!("the BGP speaker stopped") };
                fold(&mut learned, change);
                while let Ok(change) = best.try_recv() {
                    fold(&mut learned, change);
                }
                fib.sync(&fib::desired(&learned)).await?;
            }
            accepted = status.accept() => {
                let Ok((mut stream, _)) = accepted else { continue };
                let peers: Vec<TorPeer> = speaker
                    .peers()
                    .await?
                    .into_iter()
                    .map(|p| TorPeer {
                        address: p.address,
                        asn: asns.get(&p.address).copied().unwrap_or_default(),
                        state: format!("{:?}", p.state),
                        received: p.received,
                        advertised: p.advertised,
                        last_error: p.last_error,
                    })
                    .collect();
                let text = serde_json::to_vec(&peers)?;
                let _ = stream.write_all(&text).await;
            }
        }
    }
}

/// Folds one best-route change into the learned routes (prefix → next hop).
fn fold(learned: &mut BTreeMap<IpNet, IpAddr>, change: BestChange) {
    match change {
        BestChange::Updated(prefix, route) => match (route.source, route.next_hop(&prefix)) {
            (Source::Peer(_), Some(nh)) => {
                learned.insert(prefix, nh);
            }
            _ => {
                learned.remove(&prefix);
            }
        },
        BestChange::Withdrawn(prefix) => {
            learned.remove(&prefix);
        }
    }
}

/// Parses `ADDR=AS`, the form of `--peer`.
pub fn parse_peer(text: &str) -> std::result::Result<(IpAddr, u32), String> {
    let (addr, asn) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not ADDR=AS"))?;
    Ok((
        addr.parse().map_err(|e| format!("{addr:?}: {e}"))?,
        asn.parse().map_err(|e| format!("{asn:?}: {e}"))?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use bgp::codec::PathAttributes;
    use bgp::rib::BestRoute;

    #[test]
    fn peers_parse() {
        assert_eq!(
            parse_peer("172.31.0.11=65001").unwrap(),
            ("172.31.0.11".parse().unwrap(), 65001)
        );
        assert_eq!(
            parse_peer("fd00:172:31::11=65001").unwrap().0.to_string(),
            "fd00:172:31::11"
        );
        assert!(parse_peer("172.31.0.11").is_err());
        assert!(parse_peer("x=1").is_err());
    }

    #[test]
    fn folding_keeps_peer_routes_with_their_next_hop() {
        let prefix: IpNet = "10.244.0.0/26".parse().unwrap();
        let via: IpAddr = "172.31.0.11".parse().unwrap();
        let attrs = PathAttributes {
            next_hop: Some("172.31.0.11".parse().unwrap()),
            ..PathAttributes::default()
        };
        let route = |source| BestRoute {
            source,
            attrs: Arc::new(attrs.clone()),
        };
        let mut learned = BTreeMap::new();
        fold(
            &mut learned,
            BestChange::Updated(prefix, route(Source::Peer(via))),
        );
        assert_eq!(learned.get(&prefix), Some(&via));
        fold(
            &mut learned,
            BestChange::Updated(prefix, route(Source::Local)),
        );
        assert!(learned.is_empty());
        fold(
            &mut learned,
            BestChange::Updated(prefix, route(Source::Peer(via))),
        );
        fold(&mut learned, BestChange::Withdrawn(prefix));
        assert!(learned.is_empty());
    }
}
