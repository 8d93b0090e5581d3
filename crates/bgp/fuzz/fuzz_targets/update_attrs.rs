//! UPDATE path attributes: the input is read as a list of attributes
//! (flags, type, length byte, value), framed with consistent lengths into an
//! UPDATE that also carries one withdrawn route and one NLRI, so the fuzzer
//! spends its time inside attribute parsing and RFC 7606 handling rather than
//! on the header. Decoding must not panic; a decoded UPDATE must round-trip.

#![no_main]

use bgp::codec::{decode_message, Message};
use bgp_fuzz::{ctx, known_finding, normalise_update};
use libfuzzer_sys::fuzz_target;

/// Extended Length attribute flag (RFC 4271 §4.3).
const EXTENDED: u8 = 0x10;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, mut rest)) = data.split_first() else {
        return;
    };
    let ctx = ctx(sel);
    let mut attrs = Vec::new();
    while let [flags, type_code, len, tail @ ..] = rest {
        let take = usize::from(*len).min(tail.len());
        attrs.extend_from_slice(&[*flags, *type_code]);
        if flags & EXTENDED != 0 {
            attrs.extend_from_slice(&(take as u16).to_be_bytes());
        } else {
            attrs.push(take as u8);
        }
        attrs.extend_from_slice(&tail[..take]);
        rest = &tail[take..];
    }
    let mut msg = vec![0xff; 16];
    msg.extend_from_slice(&[0, 0, 2]);
    msg.extend_from_slice(&[0, 4, 24, 192, 0, 2]); // withdrawn 192.0.2.0/24
    let Ok(attr_len) = u16::try_from(attrs.len()) else {
        return;
    };
    msg.extend_from_slice(&attr_len.to_be_bytes());
    msg.extend_from_slice(&attrs);
    msg.extend_from_slice(&[26, 198, 51, 100, 64]); // NLRI 198.51.100.64/26
    let Ok(len) = u16::try_from(msg.len()) else {
        return;
    };
    if usize::from(len) > bgp::codec::MAX_MESSAGE_LEN {
        return;
    }
    msg[16..18].copy_from_slice(&len.to_be_bytes());
    let Ok(Message::Update(first)) = decode_message(&msg, &ctx) else {
        return;
    };
    let Ok(bytes) = Message::Update(first.clone()).encode(&ctx) else {
        return;
    };
    let Ok(Message::Update(mut second)) = decode_message(&bytes, &ctx) else {
        panic!("re-encoded {first:?} does not decode as an UPDATE");
    };
    if known_finding(&first, &ctx) {
        return;
    }
    let mut first = first;
    normalise_update(&mut first);
    normalise_update(&mut second);
    assert_eq!(first, second, "round trip changed the UPDATE");
});
