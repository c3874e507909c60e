//! `cargo +nightly fuzz run wire_decode`: the decoders must return an error, never panic, on
//! any input; a message that decodes must re-encode to the same bytes (canonical encoding).
#![no_main]

use failover_core::wire::{decode_push, decode_reply, decode_request, encode_push_keyed, Key, StreamDecoder};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(signed) = decode_request(data) {
        let again = failover_core::wire::encode_request(&signed.message, "fuzz").expect("decoded messages re-encode");
        assert_eq!(again[..again.len() - 32], data[..data.len() - 32], "request encoding is canonical");
    }
    if let Ok(signed) = decode_reply(data) {
        let _ = signed.verify("fuzz");
    }
    // A push (the doorbell of docs/protocol.md, "Push") decodes canonically too.
    if let Ok(signed) = decode_push(data) {
        let _ = signed.verify("fuzz");
        let again = encode_push_keyed(&signed.message, &Key::new("fuzz")).expect("decoded pushes re-encode");
        assert_eq!(again[..again.len() - 32], data[..data.len() - 32], "push encoding is canonical");
    }
    let mut stream = StreamDecoder::new();
    stream.push(data);
    for _ in 0..16 {
        match stream.next_message() {
            Ok(Some(message)) => {
                let _ = decode_request(&message);
            }
            _ => break,
        }
    }
});
