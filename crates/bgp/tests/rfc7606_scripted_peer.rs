//! Revised error handling (RFC 7606) against a scripted peer, run as root.
//! Real daemons never send malformed UPDATEs, so here the peer is a raw TCP
//! socket in its own namespace that does the OPEN/KEEPALIVE handshake and
//! then sends UPDATEs built byte by byte in this file (not with our codec, so
//! the test does not share the decoder's mistakes). Our speaker runs in node
//! 0 with the scripted peer 10.255.0.2 (AS 65002) configured as passive.

mod common;

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use bgp::codec::{Family, Origin};
use bgp::fsm::State;
use bgp::{Filters, PeerConfig, Speaker, SpeakerConfig};
use common::{block_on_in, established, ip, net, peer_state, Lab, Routes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Attribute flags.
const OPTIONAL: u8 = 0x80;
const TRANSITIVE: u8 = 0x40;

/// NOTIFICATION (code, subcode, data) as received on the wire.
type Notification = (u8, u8, Vec<u8>);

/// One BGP message: 16-byte marker of ones, length, type, body.
fn message(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![0xff; 16];
    m.extend_from_slice(&u16::try_from(19 + body.len()).unwrap().to_be_bytes());
    m.push(kind);
    m.extend_from_slice(body);
    m
}

/// OPEN: version 4, AS 65002, hold time 90, BGP ID 10.255.0.2, capabilities
/// multiprotocol IPv4 and IPv6 unicast and 4-octet AS 65002.
fn open() -> Vec<u8> {
    let caps: &[u8] = &[
        1, 4, 0, 1, 0, 1, // MP: AFI 1 (IPv4), SAFI 1
        1, 4, 0, 2, 0, 1, // MP: AFI 2 (IPv6), SAFI 1
        65, 4, 0, 0, 0xfd, 0xea, // 4-octet AS: 65002
    ];
    let mut body = vec![4, 0xfd, 0xea, 0, 90, 10, 255, 0, 2];
    body.push(u8::try_from(caps.len() + 2).unwrap()); // optional parameters length
    body.extend_from_slice(&[2, u8::try_from(caps.len()).unwrap()]); // parameter 2: capabilities
    body.extend_from_slice(caps);
    message(1, &body)
}

fn keepalive() -> Vec<u8> {
    message(4, &[])
}

/// One path attribute (1-octet length).
fn attr(flags: u8, type_code: u8, value: &[u8]) -> Vec<u8> {
    let mut a = vec![flags, type_code, u8::try_from(value.len()).unwrap()];
    a.extend_from_slice(value);
    a
}

/// ORIGIN IGP, AS_PATH [65002] (4-octet), NEXT_HOP 10.255.0.2.
fn base_attrs() -> Vec<u8> {
    [
        attr(TRANSITIVE, 1, &[0]),
        attr(TRANSITIVE, 2, &[2, 1, 0, 0, 0xfd, 0xea]),
        attr(TRANSITIVE, 3, &[10, 255, 0, 2]),
    ]
    .concat()
}

/// UPDATE with the given raw withdrawn-routes, attribute and NLRI fields.
fn update(withdrawn: &[u8], attrs: &[u8], nlri: &[u8]) -> Vec<u8> {
    let mut body = u16::try_from(withdrawn.len())
        .unwrap()
        .to_be_bytes()
        .to_vec();
    body.extend_from_slice(withdrawn);
    body.extend_from_slice(&u16::try_from(attrs.len()).unwrap().to_be_bytes());
    body.extend_from_slice(attrs);
    body.extend_from_slice(nlri);
    message(2, &body)
}

/// NLRI 10.210.1.0/24 and 10.210.2.0/24.
const NLRI: &[u8] = &[24, 10, 210, 1, 24, 10, 210, 2];

/// The scripted peer's end of one TCP connection.
struct RawPeer {
    stream: TcpStream,
}

impl RawPeer {
    /// Connects from node 1 (the socket is made on a thread inside that
    /// namespace) and completes the handshake up to Established.
    async fn connect(lab: &Lab) -> RawPeer {
        let std_stream = lab.ns(1).run(|| {
            let stream = std::net::TcpStream::connect("10.255.0.1:179").unwrap();
            stream.set_nonblocking(true).unwrap();
            stream
        });
        let mut peer = RawPeer {
            stream: TcpStream::from_std(std_stream).unwrap(),
        };
        peer.send(&open()).await;
        loop {
            let (kind, body) = peer.recv().await.expect("OPEN from the speaker");
            assert_ne!(kind, 3, "NOTIFICATION during handshake: {body:?}");
            if kind == 1 {
                break;
            }
        }
        peer.send(&keepalive()).await;
        loop {
            let (kind, body) = peer.recv().await.expect("KEEPALIVE from the speaker");
            assert_ne!(kind, 3, "NOTIFICATION during handshake: {body:?}");
            if kind == 4 {
                break;
            }
        }
        peer
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// The next message (type, body), or `None` once the connection closed.
    async fn recv(&mut self) -> Option<(u8, Vec<u8>)> {
        let mut header = [0u8; 19];
        tokio::time::timeout(Duration::from_secs(10), self.stream.read_exact(&mut header))
            .await
            .expect("a message within 10 s")
            .ok()?;
        assert_eq!(header[..16], [0xff; 16], "marker");
        let len = usize::from(u16::from_be_bytes([header[16], header[17]]));
        let mut body = vec![0u8; len - 19];
        self.stream.read_exact(&mut body).await.ok()?;
        Some((header[18], body))
    }

    /// Reads until a NOTIFICATION arrives; then the speaker must close.
    async fn notification(&mut self) -> Notification {
        loop {
            match self.recv().await {
                Some((3, body)) => {
                    let n = (body[0], body[1], body[2..].to_vec());
                    assert!(self.recv().await.is_none(), "connection closed after {n:?}");
                    return n;
                }
                Some(_) => continue,
                None => panic!("connection closed without a NOTIFICATION"),
            }
        }
    }

    /// For `period`, only KEEPALIVEs or UPDATEs may arrive: no NOTIFICATION,
    /// no close.
    async fn stays_up(&mut self, period: Duration) {
        let end = Instant::now() + period;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            let mut header = [0u8; 19];
            match tokio::time::timeout(left, self.stream.read_exact(&mut header)).await {
                Err(_) => return,
                Ok(Err(e)) => panic!("connection closed: {e}"),
                Ok(Ok(_)) => {
                    let len = usize::from(u16::from_be_bytes([header[16], header[17]]));
                    let mut body = vec![0u8; len - 19];
                    self.stream.read_exact(&mut body).await.unwrap();
                    assert_ne!(header[18], 3, "NOTIFICATION {body:?}");
                }
            }
        }
    }
}

/// Our speaker with the scripted peer configured (passive, no graceful
/// restart, so a reset withdraws its routes at once).
async fn speaker() -> (Speaker, Routes) {
    let config = SpeakerConfig::new(65001, Ipv4Addr::new(10, 255, 0, 1));
    let (speaker, best) = Speaker::start(config, Filters::default()).await.unwrap();
    let mut peer = PeerConfig::new(ip("10.255.0.2"), 65002);
    peer.passive = true;
    peer.families = vec![Family::Ipv4Unicast, Family::Ipv6Unicast];
    speaker.add_peer(peer).await.unwrap();
    (speaker, Routes::new(best))
}

/// Announces the two test prefixes validly and waits for them.
async fn announce_valid(raw: &mut RawPeer, routes: &mut Routes) {
    raw.send(&update(&[], &base_attrs(), NLRI)).await;
    routes
        .until("the scripted peer's routes", |t| {
            t.contains_key(&net("10.210.1.0/24")) && t.contains_key(&net("10.210.2.0/24"))
        })
        .await;
}

/// (a) Errors RFC 7606 handles by treat-as-withdraw: a malformed optional
/// transitive attribute (COMMUNITIES of 3 octets, §7.8), a bad attribute
/// length (MED of 2 octets, §7.4), a missing well-known mandatory attribute
/// (no ORIGIN, §3.d). Each withdraws the UPDATE's prefixes and the session
/// stays up. Attribute discard (§7.7, AGGREGATOR of 3 octets) keeps the
/// routes without that attribute.
#[test]
fn malformed_attributes_are_treated_as_withdraw() {
    let lab = Lab::new(1);
    block_on_in(lab.ns(0), || async {
        let (speaker, mut routes) = speaker().await;
        let mut raw = RawPeer::connect(&lab).await;
        established(&speaker, ip("10.255.0.2")).await;
        let up_since = speaker.peers().await.unwrap()[0].since;

        let bad_communities = attr(OPTIONAL | TRANSITIVE, 8, &[0xfd, 0xea, 0]);
        let bad_med = attr(OPTIONAL, 4, &[0, 1]);
        let no_origin = [
            attr(TRANSITIVE, 2, &[2, 1, 0, 0, 0xfd, 0xea]),
            attr(TRANSITIVE, 3, &[10, 255, 0, 2]),
        ]
        .concat();
        let cases: [(&str, Vec<u8>); 3] = [
            (
                "COMMUNITIES of 3 octets",
                [base_attrs(), bad_communities].concat(),
            ),
            ("MED of 2 octets", [base_attrs(), bad_med].concat()),
            ("no ORIGIN", no_origin),
        ];
        for (what, attrs) in cases {
            announce_valid(&mut raw, &mut routes).await;
            raw.send(&update(&[], &attrs, NLRI)).await;
            routes
                .until(&format!("treat-as-withdraw of {what}"), |t| {
                    !t.contains_key(&net("10.210.1.0/24")) && !t.contains_key(&net("10.210.2.0/24"))
                })
                .await;
            raw.stays_up(Duration::from_millis(300)).await;
        }

        // Attribute discard: the routes stay, without the AGGREGATOR.
        let bad_aggregator = attr(OPTIONAL | TRANSITIVE, 7, &[0xfd, 0xea, 1]);
        let discard = update(&[], &[base_attrs(), bad_aggregator].concat(), NLRI);
        raw.send(&discard).await;
        routes
            .until("routes with the AGGREGATOR discarded", |t| {
                t.get(&net("10.210.1.0/24"))
                    .is_some_and(|r| r.attrs.aggregator.is_none())
            })
            .await;
        raw.stays_up(Duration::from_millis(500)).await;

        let status = speaker.peers().await.unwrap();
        assert_eq!(
            (status[0].state, status[0].since),
            (State::Established, up_since),
            "{status:?}"
        );
    });
}

/// Reconnects and announces the test prefixes, then sends `bad` and returns
/// the NOTIFICATION the speaker answers with; the prefixes must be gone.
async fn reset_by(lab: &Lab, speaker: &Speaker, routes: &mut Routes, bad: &[u8]) -> Notification {
    let mut raw = RawPeer::connect(lab).await;
    established(speaker, ip("10.255.0.2")).await;
    announce_valid(&mut raw, routes).await;
    raw.send(bad).await;
    let n = raw.notification().await;
    routes
        .until("the reset peer's routes withdrawn", |t| {
            !t.contains_key(&net("10.210.1.0/24"))
        })
        .await;
    peer_state(speaker, "session down", |p| p.state != State::Established).await;
    n
}

/// (b) Errors that reset the session (RFC 7606 §5.3, RFC 4760 §7, RFC 4271
/// §6.3): an MP_REACH_NLRI whose NLRI has a prefix length of 129 for IPv6
/// (Optional Attribute Error, 3/9); an IPv4 NLRI field with a /33 (Invalid
/// Network Field, 3/10). The peer's routes are withdrawn.
#[test]
fn malformed_nlri_resets_the_session() {
    let lab = Lab::new(1);
    block_on_in(lab.ns(0), || async {
        let (speaker, mut routes) = speaker().await;

        let mut mp = vec![0, 2, 1, 16]; // AFI 2, SAFI 1, next hop of 16 octets
        mp.extend_from_slice(&[0xfd, 0, 0x02, 0x55, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        mp.push(0); // reserved
        mp.push(129); // prefix length beyond 128
        mp.extend_from_slice(&[0xfd; 17]);
        let attrs = [
            attr(TRANSITIVE, 1, &[0]),
            attr(TRANSITIVE, 2, &[2, 1, 0, 0, 0xfd, 0xea]),
            attr(OPTIONAL, 14, &mp),
        ]
        .concat();
        let n = reset_by(&lab, &speaker, &mut routes, &update(&[], &attrs, &[])).await;
        assert_eq!((n.0, n.1), (3, 9), "{n:?}");

        let bad_nlri = [24, 10, 210, 3, 33, 10, 210, 4, 0, 0];
        let n = reset_by(
            &lab,
            &speaker,
            &mut routes,
            &update(&[], &base_attrs(), &bad_nlri),
        )
        .await;
        assert_eq!((n.0, n.1), (3, 10), "{n:?}");

        let status = speaker.peers().await.unwrap();
        assert_eq!(
            status[0].last_error.as_deref(),
            Some("sent NOTIFICATION 3/10"),
            "{status:?}"
        );
    });
}

/// (c) Duplicated and unknown well-known attributes: a second ORIGIN is
/// discarded and the UPDATE processed with the first (RFC 7606 §3.g); an
/// unrecognized well-known attribute resets the session with Unrecognized
/// Well-known Attribute (3/2) whose data is the attribute's type, length
/// and value (RFC 4271 §6.3); a duplicated MP_UNREACH_NLRI resets it with
/// Malformed Attribute List (3/1, RFC 7606 §3.g).
#[test]
fn duplicate_and_unknown_well_known_attributes() {
    let lab = Lab::new(1);
    block_on_in(lab.ns(0), || async {
        let (speaker, mut routes) = speaker().await;
        let mut raw = RawPeer::connect(&lab).await;
        established(&speaker, ip("10.255.0.2")).await;

        // ORIGIN IGP, AS_PATH, NEXT_HOP, then ORIGIN INCOMPLETE again.
        let twice = [base_attrs(), attr(TRANSITIVE, 1, &[2])].concat();
        raw.send(&update(&[], &twice, NLRI)).await;
        routes
            .until("routes of the UPDATE with two ORIGINs", |t| {
                t.contains_key(&net("10.210.1.0/24")) && t.contains_key(&net("10.210.2.0/24"))
            })
            .await;
        let r = routes.get("10.210.1.0/24").unwrap();
        assert_eq!(r.attrs.origin, Some(Origin::Igp), "the first ORIGIN wins");
        raw.stays_up(Duration::from_millis(500)).await;

        let unknown = attr(TRANSITIVE, 100, &[0x55]);
        let attrs = [base_attrs(), unknown.clone()].concat();
        raw.send(&update(&[], &attrs, &[24, 10, 210, 5])).await;
        let n = raw.notification().await;
        assert_eq!(
            n,
            (3, 2, unknown),
            "data: the attribute's type, length and value"
        );
        routes
            .until("routes withdrawn after the reset", |t| {
                !t.contains_key(&net("10.210.1.0/24"))
            })
            .await;

        let mp_unreach = attr(
            OPTIONAL,
            15,
            &[0, 2, 1, 64, 0xfd, 0, 0x01, 0x02, 0, 0, 0, 0],
        );
        let attrs = [mp_unreach.clone(), mp_unreach].concat();
        let n = reset_by(&lab, &speaker, &mut routes, &update(&[], &attrs, &[])).await;
        assert_eq!((n.0, n.1), (3, 1), "{n:?}");
    });
}
