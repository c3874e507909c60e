//! Property tests of the codec and the decision machine.

use failover_core::shell::{
    HostConfig, Input, ProcedureNames, Protocol, ServiceConfig, Shell, ShellConfig,
};
use failover_core::state::State;
use failover_core::time::Time;
use failover_core::wire::{
    decode_reply, decode_request, encode_reply, encode_request, Entry, Heard, Nonce, Reply,
    Request, RequestBody, Status, StreamDecoder,
};
use proptest::prelude::*;

fn name() -> impl Strategy<Value = String> {
    "[a-z0-9.:-]{1,40}"
}

fn state() -> impl Strategy<Value = State> {
    prop_oneof![Just(State::Up), Just(State::Recover), Just(State::Fail)]
}

/// A note: a name that may be empty (none).
fn note() -> impl Strategy<Value = String> {
    "[ -~]{0,40}"
}

fn nonce() -> impl Strategy<Value = Nonce> {
    any::<[u8; 16]>().prop_map(Nonce)
}

fn request() -> impl Strategy<Value = Request> {
    let body = prop_oneof![
        (
            prop::collection::vec(name(), 1..20),
            prop::option::of(name())
        )
            .prop_map(|(services, member)| RequestBody::Query { services, member }),
        (
            name(),
            state(),
            prop::option::of(name()),
            1..u64::MAX,
            prop::option::of(any::<u32>()),
            prop::option::of(note()),
            any::<bool>(),
            any::<bool>()
        )
            .prop_map(
                |(service, state, backup, challenge, lease_ms, note, renew, was_up)| {
                    RequestBody::Set {
                        service,
                        state,
                        backup,
                        challenge,
                        lease_ms,
                        note,
                        renew,
                        was_up,
                    }
                }
            ),
        Just(RequestBody::List),
    ];
    (
        nonce(),
        any::<bool>(),
        any::<bool>(),
        proptest::option::of(nonce()),
        body,
    )
        .prop_map(
            |(nonce, want_challenge, want_details, subscription, body)| Request {
                nonce,
                want_challenge,
                want_details,
                // Only a query subscribes.
                subscription: subscription.filter(|_| matches!(body, RequestBody::Query { .. })),
                body,
            },
        )
}

fn reply() -> impl Strategy<Value = Reply> {
    let status = prop_oneof![
        Just(Status::Ok),
        Just(Status::Forbidden),
        Just(Status::BadChallenge),
        Just(Status::TooLarge),
        Just(Status::NotStored)
    ];
    let entry = (
        name(),
        prop::option::of(state()),
        prop::option::of(name()),
        any::<u64>(),
        prop::option::of(name()),
        any::<u32>(),
        prop::option::of((
            any::<u64>(),
            prop::collection::vec((name(), any::<u64>()), 0..5),
        )),
    )
        .prop_map(
            |(name, state, backup, since_change_ms, note, changes, heard)| Entry {
                name,
                state,
                backup,
                since_change_ms,
                note,
                changes: Some(changes),
                heard: heard.map(|(recorded_ms, members)| Heard {
                    recorded_ms,
                    members,
                }),
            },
        );
    (
        nonce(),
        status,
        any::<u64>(),
        prop::option::of(1..u64::MAX),
        any::<bool>(),
        any::<bool>(),
        prop::collection::vec(entry, 0..20),
    )
        .prop_map(
            |(nonce, status, boot_id, challenge, with_details, with_heard, mut entries)| {
                if !with_details {
                    // Without the flag, details do not travel.
                    for entry in &mut entries {
                        entry.note = None;
                        entry.changes = None;
                    }
                }
                if !with_heard {
                    for entry in &mut entries {
                        entry.heard = None;
                    }
                }
                Reply {
                    nonce,
                    authenticated: true,
                    status,
                    boot_id,
                    challenge,
                    with_details,
                    with_heard,
                    entries,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_request_round_trips_and_verifies_only_under_its_community(request in request(), community in "[ -~]{0,32}") {
        let bytes = encode_request(&request, &community).unwrap();
        let signed = decode_request(&bytes).unwrap();
        prop_assert_eq!(&signed.message, &request);
        prop_assert!(signed.verify(&community));
        let wrong = format!("{community}x");
        prop_assert!(!signed.verify(&wrong));
    }

    #[test]
    fn every_reply_round_trips(reply in reply(), community in "[a-z]{1,16}") {
        let bytes = encode_reply(&reply, Some(&community)).unwrap();
        let signed = decode_reply(&bytes).unwrap();
        prop_assert_eq!(&signed.message, &reply);
        prop_assert!(signed.verify(&community));
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = decode_request(&bytes);
        let _ = decode_reply(&bytes);
        let mut stream = StreamDecoder::new();
        stream.push(&bytes);
        for _ in 0..8 {
            match stream.next_message() {
                Ok(Some(message)) => { let _ = decode_request(&message); }
                _ => break,
            }
        }
    }

    #[test]
    fn decoding_a_mutated_valid_message_never_panics_and_never_verifies_a_change(
        request in request(), at in any::<prop::sample::Index>(), flip in 1u8..=255
    ) {
        let mut bytes = encode_request(&request, "public").unwrap();
        let i = at.index(bytes.len());
        bytes[i] ^= flip;
        if let Ok(signed) = decode_request(&bytes) {
            prop_assert!(!signed.verify("public"), "a flipped byte must break the MAC");
        }
    }

    #[test]
    fn a_truncated_message_is_rejected(request in request(), cut in 1usize..64) {
        let bytes = encode_request(&request, "public").unwrap();
        let cut = cut.min(bytes.len());
        let short = &bytes[..bytes.len() - cut];
        match decode_request(short) {
            Err(_) => {}
            Ok(signed) => prop_assert!(!signed.verify("public")),
        }
    }

    #[test]
    fn after_a_timeout_the_next_deadline_is_strictly_later(
        interval_ms in 1u64..5_000, timeout_ms in prop::option::of(1u64..5_000),
        steps in prop::collection::vec((0u64..3_000, 0u8..4), 1..60), seed in any::<u64>()
    ) {
        let config = ShellConfig {
            local_host: "localhost".into(),
            hosts: vec![HostConfig { name: "peer".into(), community: "c".into(), protocol: Protocol::Udp, address: "198.18.0.1:1291".parse().ok(), ..HostConfig::new("peer") }],
            services: vec![
                ServiceConfig { masters: vec!["peer".into()], timeout_ms, procedure_limit_ms: 700, ..ServiceConfig::new("a", interval_ms) },
                ServiceConfig { slaves: vec!["peer".into()], procedures: ProcedureNames { check: Some("check".into()), ..ProcedureNames::default() }, ..ServiceConfig::new("b", interval_ms * 2) },
            ],
        };
        let mut shell = Shell::new(config, seed, Time(0)).unwrap();
        let mut now = Time(0);
        let mut procedures = Vec::new();
        for (advance, what) in steps {
            now = now.plus_ms(advance);
            match what {
                0 | 1 => {
                    shell.handle(now, Input::Timeout);
                    if let Some((at, timer)) = shell.poll_timeout() {
                        prop_assert!(at > now, "{} at {} is not after {}", timer, at, now);
                    }
                }
                2 => {
                    if let Some(id) = procedures.pop() {
                        shell.handle(now, Input::ProcedureDone { id, result: Ok("UP".into()) });
                    }
                }
                _ => shell.handle(now, Input::Received { bytes: vec![0x46, 0x4f, 1, 0x81] }),
            }
            while let Some(action) = shell.poll_action() {
                if let failover_core::shell::Action::RunProcedure { id, .. } = action {
                    procedures.push(id);
                }
            }
        }
    }
}

/// A reply bound to another request's nonce, or signed with another community, or replayed,
/// is not accepted by the shell: the host stays silent and counts as FAIL.
#[test]
fn replies_to_another_nonce_wrong_community_or_replayed_are_rejected() {
    let config = ShellConfig {
        local_host: "localhost".into(),
        hosts: vec![
            HostConfig {
                name: "lukretia".into(),
                community: "public".into(),
                protocol: Protocol::Udp,
                address: "198.18.0.1:1291".parse().ok(),
                ..HostConfig::new("lukretia")
            },
            HostConfig {
                name: "localhost".into(),
                community: "genesis".into(),
                protocol: Protocol::Udp,
                address: "198.18.0.1:1291".parse().ok(),
                ..HostConfig::new("localhost")
            },
        ],
        services: vec![ServiceConfig {
            masters: vec!["lukretia".into()],
            ..ServiceConfig::new("vip", 1_000)
        }],
    };
    let mut shell = Shell::new(config, 1, Time(0)).unwrap();
    shell.handle(Time(0), Input::Timeout);
    let mut sends = Vec::new();
    while let Some(action) = shell.poll_action() {
        if let failover_core::shell::Action::Send {
            host, nonce, bytes, ..
        } = action
        {
            sends.push((shell.host(host).unwrap().name.clone(), nonce, bytes));
        }
    }
    assert_eq!(sends.len(), 2);
    let (_, master_nonce, _) = sends
        .iter()
        .find(|(h, ..)| h == "lukretia")
        .unwrap()
        .clone();
    let (_, local_nonce, _) = sends
        .iter()
        .find(|(h, ..)| h == "localhost")
        .unwrap()
        .clone();
    let reply = |nonce: Nonce, state: State| Reply {
        nonce,
        authenticated: true,
        status: Status::Ok,
        boot_id: 1,
        challenge: None,
        with_details: false,
        with_heard: false,
        entries: vec![Entry {
            name: "vip".into(),
            state: Some(state),
            backup: None,
            since_change_ms: 0,
            note: None,
            changes: None,
            heard: None,
        }],
    };
    // Local faild says RECOVER (so the rule would start the service if the master were FAIL).
    shell.handle(
        Time(1),
        Input::Received {
            bytes: encode_reply(&reply(local_nonce, State::Recover), Some("genesis")).unwrap(),
        },
    );
    // The master's "UP", but bound to another nonce, and signed with the wrong community.
    let other = Nonce([9; 16]);
    shell.handle(
        Time(2),
        Input::Received {
            bytes: encode_reply(&reply(other, State::Up), Some("public")).unwrap(),
        },
    );
    shell.handle(
        Time(3),
        Input::Received {
            bytes: encode_reply(&reply(master_nonce, State::Up), Some("wrong")).unwrap(),
        },
    );
    // A genuine UP from the master arrives once and is accepted...
    let genuine = encode_reply(&reply(master_nonce, State::Up), Some("public")).unwrap();
    shell.handle(
        Time(4),
        Input::Received {
            bytes: genuine.clone(),
        },
    );
    let status = &shell.services_status()[0];
    assert_eq!(status.masters, vec![("lukretia".to_string(), State::Up)]);
    // ...but replaying it in the next round does not hide a dead master (the local faild
    // answers that round: a slave whose own faild is silent does not start).
    shell.handle(Time(1_000), Input::Timeout);
    let mut local_nonce = None;
    while let Some(action) = shell.poll_action() {
        if let failover_core::shell::Action::Send { host, nonce, .. } = action {
            if shell.host(host).unwrap().name == "localhost" {
                local_nonce = Some(nonce);
            }
        }
    }
    shell.handle(
        Time(1_001),
        Input::Received {
            bytes: encode_reply(
                &reply(local_nonce.unwrap(), State::Recover),
                Some("genesis"),
            )
            .unwrap(),
        },
    );
    shell.handle(Time(1_001), Input::Received { bytes: genuine });
    shell.handle(Time(2_000), Input::Timeout);
    let status = &shell.services_status()[0];
    assert_eq!(
        status.masters,
        vec![("lukretia".to_string(), State::Fail)],
        "the replay was ignored, the silent master counts as FAIL"
    );
    let mut started = false;
    while let Some(action) = shell.poll_action() {
        // The start begins (it runs once the local faild has stored UP).
        started |= matches!(
            action,
            failover_core::shell::Action::Event(failover_core::shell::Event::ProcedureStarted {
                kind: failover_core::shell::ProcedureKind::Start,
                ..
            })
        );
    }
    assert!(started, "the slave takes over from the silent master");
}

#[test]
fn a_replayed_set_is_refused_by_the_store() {
    use failover_core::community::Communities;
    use failover_core::store::{Peer, Store, StoreAction, StoreConfig, StoreInput};
    let mut store = Store::new(
        StoreConfig {
            boot_id: 5,
            seed: 5,
            communities: Communities::parse("* public RW\n").unwrap(),
        },
        Vec::new(),
    );
    let peer = Peer {
        token: 1,
        address: "127.0.0.1".parse().unwrap(),
    };
    let ask = encode_request(
        &Request {
            want_challenge: true,
            ..Request::new(Nonce([1; 16]), RequestBody::List)
        },
        "public",
    )
    .unwrap();
    store.handle(Time(0), StoreInput::Request { peer, bytes: ask });
    let challenge = match store.poll_action() {
        Some(StoreAction::Reply { bytes, .. }) => {
            decode_reply(&bytes).unwrap().message.challenge.unwrap()
        }
        other => panic!("expected a reply, got {other:?}"),
    };
    let set = encode_request(
        &Request::new(
            Nonce([2; 16]),
            RequestBody::Set {
                service: "vip".into(),
                state: State::Up,
                backup: None,
                challenge,
                lease_ms: None,
                note: None,
                renew: false,
                was_up: false,
            },
        ),
        "public",
    )
    .unwrap();
    let mut statuses = Vec::new();
    for at in [1, 2] {
        store.handle(
            Time(at),
            StoreInput::Request {
                peer,
                bytes: set.clone(),
            },
        );
        while let Some(action) = store.poll_action() {
            match action {
                StoreAction::Reply { bytes, .. } => {
                    statuses.push(decode_reply(&bytes).unwrap().message.status)
                }
                StoreAction::Persist { token, .. } => store.handle(
                    Time(at),
                    StoreInput::Persisted {
                        token,
                        result: Ok(()),
                    },
                ),
                StoreAction::Push { .. } | StoreAction::Event(_) => {}
            }
        }
    }
    assert_eq!(statuses, vec![Status::Ok, Status::BadChallenge]);
    assert_eq!(store.service("vip").unwrap().state, State::Up);
    // A wrong community is refused, unauthenticated, and the store does not change.
    let forged = encode_request(&Request::new(Nonce([3; 16]), RequestBody::List), "guess").unwrap();
    store.handle(
        Time(3),
        StoreInput::Request {
            peer,
            bytes: forged,
        },
    );
    let mut refused = false;
    while let Some(action) = store.poll_action() {
        if let StoreAction::Reply { bytes, .. } = action {
            let reply = decode_reply(&bytes).unwrap().message;
            refused = reply.status == Status::Refused && !reply.authenticated;
        }
    }
    assert!(refused);
}
