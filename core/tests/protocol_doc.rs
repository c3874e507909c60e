//! The worked example in docs/protocol.md is what the codec produces, byte for byte.

use failover_core::state::State;
use failover_core::wire::{
    decode_push, decode_reply, decode_request, encode_push_keyed, encode_reply, encode_request,
    is_push, Entry, Heard, Key, Nonce, Push, Reply, Request, RequestBody, Status,
};

fn block(doc: &str, tag: &str) -> Vec<u8> {
    let start = doc
        .find(&format!("```{tag}\n"))
        .unwrap_or_else(|| panic!("no ```{tag} block"))
        + tag.len()
        + 4;
    let end = start + doc[start..].find("```").expect("closed block");
    doc[start..end]
        .split_whitespace()
        .map(|h| u8::from_str_radix(h, 16).expect("hex byte"))
        .collect()
}

#[test]
fn the_worked_example_in_the_protocol_document_matches_the_codec() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/protocol.md"))
        .unwrap();
    let nonce = Nonce(core::array::from_fn(|i| i as u8));
    let request = Request {
        nonce,
        want_challenge: true,
        want_details: false,
        subscription: None,
        body: RequestBody::Query {
            services: vec!["198.18.0.50".into()],
            member: None,
        },
    };
    let request_bytes = block(&doc, "request");
    assert_eq!(encode_request(&request, "public").unwrap(), request_bytes);
    let signed = decode_request(&request_bytes).unwrap();
    assert!(signed.verify("public"));
    assert_eq!(signed.message, request);

    let reply = Reply {
        nonce,
        authenticated: true,
        status: Status::Ok,
        boot_id: 0x0123_4567_89ab_cdef,
        challenge: Some(0x1122_3344_5566_7788),
        with_details: false,
        with_heard: false,
        entries: vec![Entry {
            name: "198.18.0.50".into(),
            state: Some(State::Up),
            backup: Some("macbeth".into()),
            since_change_ms: 5_000,
            note: None,
            changes: None,
            heard: None,
        }],
    };
    let reply_bytes = block(&doc, "reply");
    assert_eq!(encode_reply(&reply, Some("public")).unwrap(), reply_bytes);
    let signed = decode_reply(&reply_bytes).unwrap();
    assert!(signed.verify("public"));
    assert_eq!(signed.message, reply);
}

#[test]
fn the_worked_example_of_the_extensions_matches_the_codec() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/protocol.md"))
        .unwrap();
    let nonce = Nonce(core::array::from_fn(|i| 0x10 + i as u8));
    let set = Request {
        nonce,
        want_challenge: true,
        want_details: false,
        subscription: None,
        body: RequestBody::Set {
            service: "198.18.0.50".into(),
            state: State::Up,
            backup: None,
            challenge: 0x1122_3344_5566_7788,
            lease_ms: Some(1_400),
            note: Some("renewed".into()),
            renew: true,
            was_up: false,
        },
    };
    let bytes = block(&doc, "set");
    assert_eq!(encode_request(&set, "genesis").unwrap(), bytes);
    let signed = decode_request(&bytes).unwrap();
    assert!(signed.verify("genesis"));
    assert_eq!(signed.message, set);

    let query = Request {
        nonce,
        want_challenge: false,
        want_details: true,
        subscription: None,
        body: RequestBody::Query {
            services: vec!["198.18.0.50".into()],
            member: None,
        },
    };
    assert_eq!(
        encode_request(&query, "public").unwrap(),
        block(&doc, "query")
    );

    let reply = Reply {
        nonce,
        authenticated: true,
        status: Status::Ok,
        boot_id: 0x0123_4567_89ab_cdef,
        challenge: None,
        with_details: true,
        with_heard: false,
        entries: vec![Entry {
            name: "198.18.0.50".into(),
            state: Some(State::Fail),
            backup: Some("macbeth".into()),
            since_change_ms: 250,
            note: Some("lease expired".into()),
            changes: Some(7),
            heard: None,
        }],
    };
    let bytes = block(&doc, "details");
    assert_eq!(encode_reply(&reply, Some("public")).unwrap(), bytes);
    let signed = decode_reply(&bytes).unwrap();
    assert!(signed.verify("public"));
    assert_eq!(signed.message, reply);
}

/// The witness example: a member's query and what the witness's faild heard.
#[test]
fn the_witness_example_in_the_protocol_document_matches_the_codec() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/protocol.md"))
        .unwrap();
    let nonce = Nonce(core::array::from_fn(|i| 0x20 + i as u8));
    let query = Request {
        nonce,
        want_challenge: false,
        want_details: false,
        subscription: None,
        body: RequestBody::Query {
            services: vec!["198.18.0.50".into()],
            member: Some("macbeth".into()),
        },
    };
    let bytes = encode_request(&query, "public").unwrap();
    print_block("member-query", &bytes);
    assert_eq!(bytes, block(&doc, "member-query"));
    let signed = decode_request(&bytes).unwrap();
    assert!(signed.verify("public"));
    assert_eq!(signed.message, query);

    let reply = Reply {
        nonce,
        authenticated: true,
        status: Status::Ok,
        boot_id: 0x0123_4567_89ab_cdef,
        challenge: None,
        with_details: false,
        with_heard: true,
        entries: vec![Entry {
            name: "198.18.0.50".into(),
            state: None,
            backup: None,
            since_change_ms: 0,
            note: None,
            changes: None,
            heard: Some(Heard {
                recorded_ms: 3_600_000,
                members: vec![("lukretia".into(), 2_500), ("macbeth".into(), 0)],
            }),
        }],
    };
    let bytes = encode_reply(&reply, Some("public")).unwrap();
    print_block("heard", &bytes);
    assert_eq!(bytes, block(&doc, "heard"));
    let signed = decode_reply(&bytes).unwrap();
    assert!(signed.verify("public"));
    assert_eq!(signed.message, reply);
}

#[test]
fn the_push_example_in_the_protocol_document_matches_the_codec() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/protocol.md"))
        .unwrap();
    let nonce = Nonce(core::array::from_fn(|i| 0x30 + i as u8));
    let subscription = Nonce(core::array::from_fn(|i| 0x40 + i as u8));
    let query = Request {
        nonce,
        want_challenge: false,
        want_details: true,
        subscription: Some(subscription),
        body: RequestBody::Query {
            services: vec!["198.18.0.50".into()],
            member: None,
        },
    };
    let bytes = encode_request(&query, "public").unwrap();
    print_block("subscribe", &bytes);
    assert_eq!(bytes, block(&doc, "subscribe"));
    let signed = decode_request(&bytes).unwrap();
    assert!(signed.verify("public"));
    assert_eq!(signed.message, query);

    let push = Push {
        nonce: subscription,
        boot_id: 0x0123_4567_89ab_cdef,
        seq: 7,
        services: vec!["198.18.0.50".into()],
    };
    let bytes = encode_push_keyed(&push, &Key::new("public")).unwrap();
    print_block("push", &bytes);
    assert_eq!(bytes, block(&doc, "push"));
    assert!(is_push(&bytes));
    let signed = decode_push(&bytes).unwrap();
    assert!(signed.verify("public"));
    assert!(!signed.verify("private"));
    assert_eq!(signed.message, push);
    assert!(decode_reply(&bytes).is_err(), "a push is no reply");
}

/// What the document's block should hold, for when the format changes on purpose.
fn print_block(tag: &str, bytes: &[u8]) {
    println!("```{tag}");
    for line in bytes.chunks(16) {
        let hex: Vec<String> = line.iter().map(|b| format!("{b:02x}")).collect();
        println!("{}", hex.join(" "));
    }
    println!("```");
}
