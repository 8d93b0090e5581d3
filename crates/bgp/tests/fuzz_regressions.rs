//! Inputs the fuzz targets (`crates/bgp/fuzz`) found, kept as regression
//! tests. Each artifact is one selector byte (bit 0: 4-octet AS session, bit
//! 1: eBGP) followed by one BGP message. The property is the fuzz target's:
//! decoding never panics, and a decoded message survives encode -> decode.
//!
//! An UPDATE that decodes to nothing at all (every route treated as withdrawn,
//! nothing withdrawn) has no wire form but the End-of-RIB marker, so the
//! encoder refuses it rather than turn it into one.

use bgp::codec::{decode_message, Message, SegmentKind, SessionCtx};

/// UPDATE, 2-octet session: AS_PATH [65001 23456] with an AS4_PATH made of
/// one AS_CONFED_SET {16581353 4200000000}. AS4_PATH may not carry
/// confederation segments (RFC 6793 §3), yet the decoder merges it.
const CONFED_IN_AS4_PATH: &[u8] = include_bytes!(
    "../fuzz/artifacts/decode_message/crash-c9fcee616a0af9c83927b25653a2c96f192a9e86"
);

/// UPDATE, 2-octet session, no NLRI: AS_PATH, ORIGIN and an MP_REACH_NLRI of
/// an unsupported AFI/SAFI (2/195). Everything decodes away into an empty
/// non-End-of-RIB `Update`, which then encodes as an IPv4 End-of-RIB.
const EMPTY_UPDATE: &[u8] = include_bytes!(
    "../fuzz/artifacts/decode_message/crash-d6b60b5bb085c47bf55694ad0f98b0425a74ce39"
);

fn split(artifact: &[u8]) -> (SessionCtx, &[u8]) {
    let (sel, msg) = artifact.split_first().expect("selector byte");
    let ctx = SessionCtx {
        four_octet_as: sel & 1 != 0,
        ebgp: sel & 2 != 0,
    };
    (ctx, msg)
}

/// Decodes, re-encodes and decodes again.
fn round_trip(artifact: &[u8]) -> (Message, Message) {
    let (ctx, msg) = split(artifact);
    let first = decode_message(msg, &ctx).expect("artifact decodes");
    let bytes = first.encode(&ctx).expect("decoded message encodes");
    let second = decode_message(&bytes, &ctx).expect("re-encoded message decodes");
    (first, second)
}

#[test]
fn as4_path_with_confederation_segments_is_not_merged() {
    let (first, second) = round_trip(CONFED_IN_AS4_PATH);
    let Message::Update(update) = &first else {
        panic!("not an UPDATE: {first:?}");
    };
    let path = update.attrs.as_path.as_ref().expect("AS_PATH");
    assert!(
        path.segments
            .iter()
            .all(|s| !matches!(s.kind, SegmentKind::ConfedSequence | SegmentKind::ConfedSet)),
        "confederation segments taken from AS4_PATH: {path:?}"
    );
    assert_eq!(first, second);
}

#[test]
fn update_that_decodes_to_nothing_is_not_encoded_as_end_of_rib() {
    let (ctx, msg) = split(EMPTY_UPDATE);
    let first = decode_message(msg, &ctx).expect("artifact decodes");
    let Message::Update(update) = &first else {
        panic!("not an UPDATE: {first:?}");
    };
    assert_eq!(update.end_of_rib, None);
    assert!(update.treated_as_withdraw(), "{update:?}");
    let err = first
        .encode(&ctx)
        .expect_err("an empty non-End-of-RIB UPDATE has no wire form");
    assert!(err.to_string().contains("End-of-RIB"), "{err}");
    // The real marker still encodes and decodes as itself.
    let marker = Message::Update(bgp::codec::Update::end_of_rib(
        bgp::codec::Family::Ipv4Unicast,
    ));
    let bytes = marker.encode(&ctx).expect("End-of-RIB encodes");
    assert_eq!(decode_message(&bytes, &ctx).expect("decodes"), marker);
}
