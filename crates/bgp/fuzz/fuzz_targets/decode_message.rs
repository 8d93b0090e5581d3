//! Any bytes into `decode_message`: it must not panic, and whatever decodes
//! must survive encode -> decode unchanged (up to the RFC 7606 problems the
//! first decode recorded, which the re-encoded message no longer carries).
//! The first input byte picks the session context (AS4, eBGP).

#![no_main]

use bgp::codec::{decode_message, Message, SessionCtx};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, msg)) = data.split_first() else {
        return;
    };
    let ctx = SessionCtx {
        four_octet_as: sel & 1 != 0,
        ebgp: sel & 2 != 0,
    };
    let Ok(first) = decode_message(msg, &ctx) else {
        return;
    };
    let Ok(bytes) = first.encode(&ctx) else {
        return;
    };
    let second = decode_message(&bytes, &ctx)
        .unwrap_or_else(|e| panic!("re-encoded {first:?} does not decode: {e}"));
    assert_eq!(normalise(first), normalise(second), "round trip changed the message");
});

/// Drops the record of tolerated errors; the values they left must match.
fn normalise(mut msg: Message) -> Message {
    if let Message::Update(update) = &mut msg {
        update.problems.clear();
    }
    msg
}
