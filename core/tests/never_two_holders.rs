//! Carrier tracking, leases and persist-before-acknowledge, on the in-crate harness (the
//! real store and decision machine, simulated time). The simulator's scenarios
//! (`sim/scenarios/carrier_loss_track.json`, `hung_failsh_lease.json`, ...) run the same
//! faults with a network, kernel lifetimes and the invariants; these pin the decisions.

use failover_core::community::Communities;
use failover_core::harness::{Harness, COMMUNITY};
use failover_core::shell::{
    Action, Event, HostConfig, ProcedureKind, ProcedureNames, Protocol, ServiceConfig, ShellConfig,
};
use failover_core::state::State;
use failover_core::store::{
    Peer, ServiceRecord, Store, StoreAction, StoreConfig, StoreInput, LEASE_EXPIRED,
};
use failover_core::time::Time;
use failover_core::wire::{self, Nonce, Request, RequestBody, Status};

const SERVICE: &str = "198.18.0.50";
const INTERVAL_MS: u64 = 200;

fn config(peer: &str, masters: &[&str], slaves: &[&str], lease_ms: Option<u64>) -> ShellConfig {
    let host = |name: &str| HostConfig {
        name: name.to_string(),
        community: COMMUNITY.to_string(),
        protocol: Protocol::Tcp,
        address: "198.18.0.1:1291".parse().ok(),
        ..HostConfig::new(name)
    };
    ShellConfig {
        local_host: "localhost".to_string(),
        hosts: vec![host(peer), host("localhost")],
        services: vec![ServiceConfig {
            masters: masters.iter().map(|s| s.to_string()).collect(),
            slaves: slaves.iter().map(|s| s.to_string()).collect(),
            procedures: ProcedureNames {
                reclaim: Some("reclaimservice".into()),
                ..ProcedureNames::default()
            },
            track: vec!["eth0".to_string()],
            lease_ms,
            ..ServiceConfig::new(SERVICE, INTERVAL_MS)
        }],
    }
}

/// lukretia UP (master), macbeth RECOVER (slave), both tracking eth0, both with `lease`.
fn pair(lease_ms: Option<u64>) -> Harness {
    let mut h = Harness::new(11);
    let record = |state| vec![ServiceRecord::new(SERVICE, state, None, Time(0))];
    h.add_host(
        "lukretia",
        Some(config("macbeth", &[], &["macbeth"], lease_ms)),
        record(State::Recover),
    );
    h.add_host(
        "macbeth",
        Some(config("lukretia", &["lukretia"], &[], lease_ms)),
        record(State::Recover),
    );
    h.link("lukretia", "eth0", true);
    h.link("macbeth", "eth0", true);
    h.run_for(5 * INTERVAL_MS);
    assert_eq!(h.holders(), vec!["lukretia".to_string()]);
    h
}

fn ran_at(h: &Harness, host: &str, kind: ProcedureKind) -> Vec<Time> {
    h.host(host)
        .procedures_run
        .iter()
        .filter(|(_, k)| *k == kind)
        .map(|(t, _)| *t)
        .collect()
}

#[test]
fn a_tracked_interface_that_goes_down_stops_an_up_master_at_once_and_holds_fail() {
    let mut h = pair(None);
    let cut_at = h.now;
    h.link("lukretia", "eth0", false);
    assert_eq!(
        ran_at(&h, "lukretia", ProcedureKind::Stop),
        vec![cut_at],
        "the stop runs on the kernel's event, not at the next round"
    );
    h.run_for(3 * INTERVAL_MS);
    assert_eq!(h.stored("lukretia", SERVICE), Some(State::Fail));
    let note = h
        .host("lukretia")
        .store
        .service(SERVICE)
        .and_then(|r| r.note.clone())
        .unwrap_or_default();
    assert!(note.starts_with("tracked interface eth0 down"), "{note}");
    assert_eq!(h.holders(), vec!["macbeth".to_string()]);
    // The carrier comes back: RECOVER by itself, then the seed's handshake.
    h.link("lukretia", "eth0", true);
    h.run_for(6 * INTERVAL_MS);
    assert_eq!(h.stored("lukretia", SERVICE), Some(State::Up));
    assert_eq!(h.stored("macbeth", SERVICE), Some(State::Recover));
    assert_eq!(h.holders(), vec!["lukretia".to_string()]);
}

#[test]
fn an_operator_fail_during_the_hold_is_kept_when_the_link_returns() {
    let mut h = pair(None);
    h.link("lukretia", "eth0", false);
    h.run_for(3 * INTERVAL_MS);
    h.failc("lukretia", SERVICE, State::Fail);
    h.run_for(2 * INTERVAL_MS);
    h.link("lukretia", "eth0", true);
    h.run_for(6 * INTERVAL_MS);
    assert_eq!(h.stored("lukretia", SERVICE), Some(State::Fail));
    assert_eq!(h.holders(), vec!["macbeth".to_string()]);
}

#[test]
fn a_slave_with_its_tracked_interface_down_never_takes_over() {
    let mut h = pair(None);
    h.link("macbeth", "eth0", false);
    h.run_for(2 * INTERVAL_MS);
    assert_eq!(h.stored("macbeth", SERVICE), Some(State::Fail));
    h.crash("lukretia");
    h.run_for(10 * INTERVAL_MS);
    assert!(ran_at(&h, "macbeth", ProcedureKind::Start).is_empty());
    assert!(h.holders().is_empty());
}

#[test]
fn a_hung_failsh_loses_its_up_lease_and_the_slave_takes_over_only_after_it() {
    let mut h = pair(Some(1_000));
    let hung_at = h.now;
    h.host_mut("lukretia").hung = true;
    h.run_for(4_000);
    let record = h.host("lukretia").store.service(SERVICE).cloned().unwrap();
    assert_eq!(record.state, State::Fail);
    assert_eq!(record.note.as_deref(), Some(LEASE_EXPIRED));
    let started = ran_at(&h, "macbeth", ProcedureKind::Start);
    assert_eq!(started.len(), 1);
    // The kernel lifetime is the lease (1 s) from the last renewal; faild's lease is 400 ms
    // longer, so the slave starts well after the address is gone, and soon after that.
    let waited_ms = started[0].since_ms(hung_at);
    assert!(
        (1_150..=1_400 + 2 * INTERVAL_MS + 50).contains(&waited_ms),
        "took over {waited_ms} ms after the hang"
    );
}

#[test]
fn the_kernel_lifetime_is_renewed_after_each_acknowledged_renewal_while_up() {
    let mut h = pair(Some(1_000));
    let from = h.now;
    h.run_for(2_000);
    let renewals: Vec<&(Time, u32)> = h
        .host("lukretia")
        .renewals
        .iter()
        .filter(|(t, _)| *t > from)
        .collect();
    // Four times per lease.
    assert!((7..=9).contains(&renewals.len()), "{renewals:?}");
    assert!(renewals.iter().all(|(_, lifetime_s)| *lifetime_s == 1));
    assert!(
        h.host("macbeth").renewals.is_empty(),
        "only the holder renews"
    );
    // The record carries faild's lease, the kernel's plus the margin.
    let record = h.host("lukretia").store.service(SERVICE).cloned().unwrap();
    assert_eq!(record.lease_ms, Some(1_400));
}

#[test]
fn a_renewal_never_undoes_an_operator_fail() {
    let mut h = pair(Some(1_000));
    // An operator's FAIL lands; renewals keep coming until failsh has read it.
    h.failc("lukretia", SERVICE, State::Fail);
    h.run_for(2_000);
    assert_eq!(h.stored("lukretia", SERVICE), Some(State::Fail));
    let ups_after = h
        .host("lukretia")
        .events
        .iter()
        .filter(|(_, e)| matches!(e, Event::StateChanged { to: State::Up, .. }))
        .count();
    assert_eq!(ups_after, 1, "only the start before the operator's FAIL");
}

#[test]
fn a_start_waits_until_its_up_is_stored_and_a_full_disk_keeps_the_slave_off() {
    let mut h = pair(None);
    h.host_mut("macbeth").disk_full = true;
    h.crash("lukretia");
    h.run_for(10 * INTERVAL_MS);
    let actions = &h.host("macbeth").actions;
    let began = actions.iter().any(|(_, a)| {
        matches!(
            a,
            Action::Event(Event::ProcedureStarted {
                kind: ProcedureKind::Start,
                ..
            })
        )
    });
    let ran = actions.iter().any(|(_, a)| {
        matches!(
            a,
            Action::RunProcedure {
                kind: ProcedureKind::Start,
                ..
            }
        )
    });
    assert!(began, "it decided to take over");
    assert!(
        !ran,
        "but nobody could have seen it UP: the start never ran"
    );
    assert_eq!(h.stored("macbeth", SERVICE), Some(State::Recover));
    assert!(h.holders().is_empty());
    // With room on the disk again it takes over.
    h.host_mut("macbeth").disk_full = false;
    h.run_for(10 * INTERVAL_MS);
    assert_eq!(h.holders(), vec!["macbeth".to_string()]);
}

/// One request through a store, with the state file failing or not; the replies.
fn store_round_trip(store: &mut Store, at: u64, request: &Request, disk_full: bool) -> Vec<u8> {
    let peer = Peer {
        token: 1,
        address: "127.0.0.1".parse().unwrap(),
    };
    let bytes = wire::encode_request(request, "public").unwrap();
    store.handle(Time(at), StoreInput::Request { peer, bytes });
    let mut reply = Vec::new();
    while let Some(action) = store.poll_action() {
        match action {
            StoreAction::Persist { token, .. } => {
                let result = if disk_full {
                    Err("No space left on device (os error 28)".to_string())
                } else {
                    Ok(())
                };
                store.handle(Time(at), StoreInput::Persisted { token, result });
            }
            StoreAction::Reply { bytes, .. } => reply = bytes,
            StoreAction::Push { .. } | StoreAction::Event(_) => {}
        }
    }
    reply
}

#[test]
fn a_change_the_state_file_cannot_hold_is_refused_and_changes_nothing() {
    let mut store = Store::new(
        StoreConfig {
            boot_id: 1,
            seed: 1,
            communities: Communities::parse("* public RW\n").unwrap(),
        },
        vec![ServiceRecord::new(SERVICE, State::Up, None, Time(0))],
    );
    let challenge = |store: &mut Store, n: u8| {
        let ask = Request {
            want_challenge: true,
            ..Request::new(Nonce([n; 16]), RequestBody::List)
        };
        let reply = store_round_trip(store, 1, &ask, false);
        wire::decode_reply(&reply)
            .unwrap()
            .message
            .challenge
            .unwrap()
    };
    let set = |challenge: u64, n: u8| {
        Request::new(
            Nonce([n; 16]),
            RequestBody::Set {
                service: SERVICE.into(),
                state: State::Fail,
                backup: None,
                challenge,
                lease_ms: None,
                note: None,
                renew: false,
                was_up: false,
            },
        )
    };
    // The disk is full: refused with the reason, and every retry too.
    for n in [2, 4] {
        let c = challenge(&mut store, n);
        let reply = store_round_trip(&mut store, 2, &set(c, n + 1), true);
        let reply = wire::decode_reply(&reply).unwrap().message;
        assert_eq!(reply.status, Status::NotStored);
        let note = reply.entries[0].note.clone().unwrap_or_default();
        assert!(note.contains("No space left on device"), "{note}");
        assert_eq!(reply.entries[0].state, Some(State::Up), "nothing changed");
        assert_eq!(store.service(SERVICE).unwrap().state, State::Up);
    }
    // Room again: the same change is acknowledged, and only now visible.
    let c = challenge(&mut store, 6);
    let reply = store_round_trip(&mut store, 3, &set(c, 7), false);
    assert_eq!(
        wire::decode_reply(&reply).unwrap().message.status,
        Status::Ok
    );
    assert_eq!(store.service(SERVICE).unwrap().state, State::Fail);
}

#[test]
fn a_conditional_up_is_applied_only_while_the_service_is_still_up() {
    // failsh confirms the UP it wrote before reclaim (or start) ran with the renew flag: an
    // operator's FAIL written meanwhile must survive it, an untouched UP takes the new note.
    let mut store = Store::new(
        StoreConfig {
            boot_id: 1,
            seed: 1,
            communities: Communities::parse("* public RW\n").unwrap(),
        },
        vec![ServiceRecord::new(SERVICE, State::Up, None, Time(0))],
    );
    let mut n = 0u8;
    let mut confirm = |store: &mut Store, lease_ms: Option<u32>| {
        n += 2;
        let ask = Request {
            want_challenge: true,
            ..Request::new(Nonce([n; 16]), RequestBody::List)
        };
        let reply = store_round_trip(store, 1, &ask, false);
        let challenge = wire::decode_reply(&reply)
            .unwrap()
            .message
            .challenge
            .unwrap();
        let set = Request::new(
            Nonce([n + 1; 16]),
            RequestBody::Set {
                service: SERVICE.into(),
                state: State::Up,
                backup: None,
                challenge,
                lease_ms,
                note: Some("reclaim returned UP".into()),
                renew: true,
                was_up: false,
            },
        );
        let reply = store_round_trip(store, 2, &set, false);
        wire::decode_reply(&reply).unwrap().message.status
    };
    assert_eq!(confirm(&mut store, None), Status::Ok);
    let record = store.service(SERVICE).unwrap();
    assert_eq!(record.state, State::Up);
    assert_eq!(record.note.as_deref(), Some("reclaim returned UP"));
    // An UP without a lease (an operator's failc -s UP) is not turned into a leased one.
    assert_eq!(confirm(&mut store, Some(1_400)), Status::NotRenewed);
    assert_eq!(store.service(SERVICE).unwrap().lease_ms, None);
    // The operator's FAIL stays.
    let mut failed = store.service(SERVICE).unwrap().clone();
    failed.state = State::Fail;
    let mut store = Store::new(
        StoreConfig {
            boot_id: 2,
            seed: 2,
            communities: Communities::parse("* public RW\n").unwrap(),
        },
        vec![failed],
    );
    assert_eq!(confirm(&mut store, None), Status::NotRenewed);
    assert_eq!(store.service(SERVICE).unwrap().state, State::Fail);
}

#[test]
fn a_write_that_says_the_service_was_up_counts_as_two_changes() {
    // failsh stopped what a start brought up under an operator's FAIL: the FAIL it writes
    // then must tell pollers that the service passed through UP (it may have announced).
    let communities = Communities::parse("* public RW\n").unwrap();
    let mut store = Store::new(
        StoreConfig {
            boot_id: 1,
            seed: 1,
            communities,
        },
        vec![ServiceRecord::new(SERVICE, State::Fail, None, Time(0))],
    );
    let count = |store: &mut Store, n: u8| {
        let ask = Request {
            want_challenge: true,
            want_details: true,
            subscription: None,
            ..Request::new(Nonce([n; 16]), RequestBody::List)
        };
        let reply = store_round_trip(store, 5_000, &ask, false);
        let reply = wire::decode_reply(&reply).unwrap().message;
        (
            reply.entries[0].changes.unwrap(),
            reply.entries[0].since_change_ms,
            reply.challenge.unwrap(),
        )
    };
    let write = |store: &mut Store, challenge: u64, n: u8, was_up: bool| {
        let set = Request::new(
            Nonce([n; 16]),
            RequestBody::Set {
                service: SERVICE.into(),
                state: State::Fail,
                backup: None,
                challenge,
                lease_ms: None,
                note: Some("stopped again".into()),
                renew: false,
                was_up,
            },
        );
        let reply = store_round_trip(store, 5_000, &set, false);
        assert_eq!(
            wire::decode_reply(&reply).unwrap().message.status,
            Status::Ok
        );
    };
    let (before, since_before_ms, c) = count(&mut store, 1);
    assert_eq!(since_before_ms, 5_000);
    // The same FAIL with only a new note is no change of state.
    write(&mut store, c, 2, false);
    let (plain, since_plain_ms, c) = count(&mut store, 3);
    assert_eq!((plain, since_plain_ms), (before, 5_000));
    // Said to have been up: two changes, and the change time starts again.
    write(&mut store, c, 4, true);
    let (after, since_after_ms, _) = count(&mut store, 5);
    assert_eq!(after, before + 2);
    assert_eq!(since_after_ms, 0);
    assert_eq!(store.service(SERVICE).unwrap().state, State::Fail);
}

#[test]
fn a_master_whose_link_report_comes_after_a_refused_poll_still_starts() {
    // Found by the netns tests: lukretia boots while macbeth's faild is down (its kernel
    // refuses the connection at once), and the first carrier report of eth0 arrives after
    // that refusal. A refused poll is a miss like a silent one: lukretia waits for macbeth
    // at most the settle time after its link came back, then starts.
    let mut h = Harness::new(12);
    let record = |state| vec![ServiceRecord::new(SERVICE, state, None, Time(0))];
    h.add_host(
        "macbeth",
        Some(config("lukretia", &["lukretia"], &[], Some(1_000))),
        record(State::Recover),
    );
    h.host_mut("macbeth").refuses = true;
    h.crash("macbeth");
    h.host_mut("macbeth").up = true;
    h.add_host(
        "lukretia",
        Some(config("macbeth", &[], &["macbeth"], Some(1_000))),
        record(State::Recover),
    );
    h.run_for(10);
    h.link("lukretia", "eth0", true);
    h.run_for(failover_core::shell::LINK_SETTLE_MS + 3 * INTERVAL_MS);
    assert_eq!(
        h.holders(),
        vec!["lukretia".to_string()],
        "lukretia waited for a host that refuses every poll"
    );
}

/// A witness's faild records a member only when its community verifies (and grants read
/// access from that address): a stranger cannot make a silent master look alive, nor a live
/// one look silent by filling the record; and it answers each member with its ages.
#[test]
fn a_witness_records_only_authenticated_members_and_answers_with_their_ages() {
    let mut store = Store::new(
        StoreConfig {
            boot_id: 7,
            seed: 1,
            communities: Communities::parse("* public RO 198.18.0.0/24\n").unwrap(),
        },
        Vec::new(),
    );
    let ask = |store: &mut Store, at: u64, n: u8, community: &str, from: &str, member: &str| {
        let request = Request::new(
            Nonce([n; 16]),
            RequestBody::Query {
                services: vec![SERVICE.into()],
                member: Some(member.into()),
            },
        );
        let peer = Peer {
            token: 1,
            address: from.parse().unwrap(),
        };
        let bytes = wire::encode_request(&request, community).unwrap();
        store.handle(Time(at), StoreInput::Request { peer, bytes });
        let mut reply = None;
        while let Some(action) = store.poll_action() {
            if let StoreAction::Reply { bytes, .. } = action {
                reply = Some(wire::decode_reply(&bytes).unwrap().message);
            }
        }
        reply.expect("a reply")
    };
    let reply = ask(&mut store, 1_000, 1, "public", "198.18.0.1", "lukretia");
    assert_eq!(reply.status, Status::Ok);
    assert!(reply.with_heard);
    // The witness knows no such service; it records who asked about it all the same.
    assert_eq!(reply.entries[0].state, None);
    let heard = reply.entries[0].heard.clone().expect("a record");
    assert_eq!(heard.members, vec![("lukretia".to_string(), 0)]);
    // A wrong community, or the right one from outside its network: refused, not recorded.
    let reply = ask(&mut store, 2_000, 2, "guess", "198.18.0.2", "macbeth");
    assert_eq!(reply.status, Status::Refused);
    let reply = ask(&mut store, 2_100, 3, "public", "203.0.113.9", "macbeth");
    assert_eq!(reply.status, Status::Forbidden);
    let reply = ask(&mut store, 2_500, 4, "public", "198.18.0.2", "macbeth");
    let heard = reply.entries[0].heard.clone().expect("a record");
    assert_eq!(heard.recorded_ms, 1_500);
    assert_eq!(
        heard.members,
        vec![("lukretia".to_string(), 1_500), ("macbeth".to_string(), 0)]
    );
    // A query without a member name records nothing and carries no record.
    let request = Request::new(
        Nonce([5; 16]),
        RequestBody::Query {
            services: vec![SERVICE.into()],
            member: None,
        },
    );
    let bytes = wire::encode_request(&request, "public").unwrap();
    let peer = Peer {
        token: 1,
        address: "198.18.0.1".parse().unwrap(),
    };
    store.handle(Time(3_000), StoreInput::Request { peer, bytes });
    while let Some(action) = store.poll_action() {
        if let StoreAction::Reply { bytes, .. } = action {
            let reply = wire::decode_reply(&bytes).unwrap().message;
            assert!(!reply.with_heard);
            assert_eq!(reply.entries[0].heard, None);
        }
    }
}

#[test]
fn a_fence_wait_is_told_once_with_the_time_left_not_every_round() {
    let mut h = Harness::new(11);
    let record = |state| vec![ServiceRecord::new(SERVICE, state, None, Time(0))];
    let mut slave = config("lukretia", &["lukretia"], &[], Some(1_000));
    slave.services[0].fence_wait = true;
    h.add_host(
        "lukretia",
        Some(config("macbeth", &[], &["macbeth"], Some(1_000))),
        record(State::Recover),
    );
    h.add_host("macbeth", Some(slave), record(State::Recover));
    h.link("lukretia", "eth0", true);
    h.link("macbeth", "eth0", true);
    h.run_for(5 * INTERVAL_MS);
    assert_eq!(h.holders(), vec!["lukretia".to_string()]);
    h.crash("lukretia");
    h.run_for(5_000);
    assert_eq!(ran_at(&h, "macbeth", ProcedureKind::Start).len(), 1);
    let told: Vec<&String> = h
        .host("macbeth")
        .events
        .iter()
        .filter_map(|(_, event)| match event {
            Event::Decision { reason, .. } if reason.contains("fence wait") => Some(reason),
            _ => None,
        })
        .collect();
    // The wait spans several rounds (lease + 1.25 s at a 200 ms interval).
    assert_eq!(told.len(), 1, "{told:#?}");
    assert!(told[0].ends_with(" ms more)"), "{}", told[0]);
}

#[test]
fn a_failsh_that_resumes_after_its_lease_expired_comes_back_through_recover() {
    let mut h = pair(Some(1_000));
    h.host_mut("lukretia").hung = true;
    h.run_for(2_500);
    // (The harness has no kernel lifetimes: lukretia's address stays until it stops.)
    assert_eq!(ran_at(&h, "macbeth", ProcedureKind::Start).len(), 1);
    h.host_mut("lukretia").hung = false;
    let resumed = h.transitions("lukretia").len();
    h.run_for(3_000);
    let after: Vec<_> = h.transitions("lukretia")[resumed..].to_vec();
    assert!(
        after.iter().any(|(_, to)| *to == State::Recover),
        "not through RECOVER: {after:?}"
    );
    // Its own lease lapsed, not an operator's FAIL: it cleans up, registers RECOVER, and
    // the handshake gives the service back to the master.
    assert_eq!(
        h.state("lukretia", SERVICE),
        Some(State::Up),
        "{:?}",
        h.transitions("lukretia")
    );
    assert_eq!(h.state("macbeth", SERVICE), Some(State::Recover));
    assert_eq!(h.holders(), vec!["lukretia".to_string()]);
}
