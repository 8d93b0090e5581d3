//! Any bytes into `decode_message`: it must not panic, and whatever decodes
//! must survive encode -> decode unchanged (in the normal form of
//! `bgp_fuzz::normalise`). The first input byte picks the session context.

#![no_main]

use bgp::codec::{decode_message, Message};
use bgp_fuzz::{ctx, known_finding, normalise};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, msg)) = data.split_first() else {
        return;
    };
    let ctx = ctx(sel);
    let Ok(first) = decode_message(msg, &ctx) else {
        return;
    };
    let Ok(bytes) = first.encode(&ctx) else {
        return;
    };
    let second = decode_message(&bytes, &ctx)
        .unwrap_or_else(|e| panic!("re-encoded {first:?} does not decode: {e}"));
    if matches!(&first, Message::Update(u) if known_finding(u, &ctx)) {
        return;
    }
    assert_eq!(
        normalise(first),
        normalise(second),
        "round trip changed the message"
    );
});
