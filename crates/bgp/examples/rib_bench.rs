//! Packs and decodes 1M IPv4 prefixes, then inserts them from one eBGP peer into the RIB (in UPDATE-sized
//! batches sharing attributes, as they arrive on the wire), exports them to a
//! second peer, then withdraws them; prints time and resident memory, with a
//! plain `HashMap<prefix, attributes>` fill (run second, so the RIB's memory
//! figure is not flattered by pages the reference freed) as the reference.
//!
//! `cargo run --release -p bgp --example rib_bench [prefixes]`

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use bgp::codec::{
    decode_message, pack_announce, AsPath, Family, Message, Origin, PathAttributes, SessionCtx,
    Update,
};
use bgp::rib::{PeerInfo, Rib, RibConfig};
use ipnet::{IpNet, Ipv4Net};

/// Resident set size in MiB, from /proc/self/statm.
fn rss_mib() -> f64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: f64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.0);
    pages * 4096.0 / (1024.0 * 1024.0)
}

fn peer(last: u8, asn: u32) -> PeerInfo {
    PeerInfo {
        address: IpAddr::V4(Ipv4Addr::new(10, 0, 0, last)),
        asn,
        router_id: Ipv4Addr::new(10, 0, 0, last),
        rr_client: false,
        local_v4: Some(Ipv4Addr::new(10, 0, 0, 1)),
        local_v6: None,
    }
}

fn main() {
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let prefixes: Vec<IpNet> = (0..n)
        .map(|i| IpNet::V4(Ipv4Net::new(Ipv4Addr::from(0x0a00_0000 + (i << 6)), 26).unwrap()))
        .collect();
    let attrs = |i: u32| PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath::sequence(vec![65002, 65100 + i % 100])),
        next_hop: Some(Ipv4Addr::new(10, 0, 0, 2)),
        ..PathAttributes::default()
    };

    let t = Instant::now();
    let ctx = SessionCtx::default();
    let packed = pack_announce(&attrs(0), &prefixes, &ctx).expect("pack");
    let pack_ms = t.elapsed().as_secs_f64() * 1e3;
    let t = Instant::now();
    let mut decoded = 0;
    for m in &packed {
        if let Ok(Message::Update(u)) = decode_message(m, &ctx) {
            decoded += u.nlri.len();
        }
    }
    assert_eq!(decoded, prefixes.len());
    println!(
        "codec: pack {n} prefixes into {} UPDATEs {pack_ms:>6.0} ms; decode them {:>6.0} ms",
        packed.len(),
        t.elapsed().as_secs_f64() * 1e3
    );
    drop(packed);

    let base = rss_mib();
    let mut rib = Rib::new(RibConfig {
        local_as: 65001,
        router_id: Ipv4Addr::new(10, 0, 0, 1),
        cluster_id: None,
    });
    let (from, to) = (peer(2, 65002), peer(3, 65003));
    for p in [&from, &to] {
        rib.add_peer(p.clone());
        rib.peer_up(p.clone(), vec![Family::Ipv4Unicast]);
    }
    let t = Instant::now();
    let mut exported = 0usize;
    // ~1000 prefixes per UPDATE, as a 4096-byte message holds for /26s.
    for (i, chunk) in prefixes.chunks(1000).enumerate() {
        let changes = rib.apply_update(
            from.address,
            Update {
                attrs: attrs(i as u32),
                nlri: chunk.to_vec(),
                ..Update::default()
            },
        );
        exported += changes
            .outbound
            .values()
            .map(|o| o.announce.iter().map(|a| a.1.len()).sum::<usize>())
            .sum::<usize>();
    }
    let insert = t.elapsed();
    let mem = rss_mib() - base;
    println!(
        "rib insert+best+export of {n} prefixes: {:>8.0} ms  {:>7.1} MiB  ({:.0} ns/prefix, {} attribute sets, {exported} exported)",
        insert.as_secs_f64() * 1e3,
        mem,
        insert.as_nanos() as f64 / f64::from(n),
        rib.attribute_sets()
    );
    let t = Instant::now();
    for chunk in prefixes.chunks(1000) {
        rib.apply_update(
            from.address,
            Update {
                withdrawn: chunk.to_vec(),
                ..Update::default()
            },
        );
    }
    println!(
        "rib withdraw of {n} prefixes:          {:>8.0} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    assert_eq!(rib.loc_rib().count(), 0);
    drop(rib);

    let base = rss_mib();
    let t = Instant::now();
    let mut reference: HashMap<IpNet, PathAttributes> = HashMap::new();
    for (i, p) in prefixes.iter().enumerate() {
        reference.insert(*p, attrs(i as u32 / 1000));
    }
    println!(
        "reference HashMap<prefix, attrs> fill: {:>8.0} ms  {:>7.1} MiB",
        t.elapsed().as_secs_f64() * 1e3,
        rss_mib() - base
    );
    drop(reference);
}
