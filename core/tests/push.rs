//! Pushes (`docs/protocol.md`, "Push"): the real store of lukretia (the master) and of
//! macbeth (the slave), and macbeth's real decision machine, joined by hand so that each test
//! decides which push arrives, twice, late, out of order or never. What the doorbell may and
//! may not do: make the slave read the master at once; nothing else.

use failover_core::client::{SetFlow, SetNext};
use failover_core::community::Communities;
use failover_core::shell::HostConfig;
use failover_core::shell::{
    Action, Input, ProcedureKind, Protocol, ServiceConfig, Shell, ShellConfig,
};
use failover_core::state::State;
use failover_core::store::{
    Peer, ServiceRecord, Store, StoreAction, StoreConfig, StoreInput, MAX_SUBSCRIPTIONS,
};
use failover_core::time::Time;
use failover_core::wire::{self, Nonce, Request, RequestBody};

const SERVICE: &str = "198.18.0.50";
const COMMUNITY: &str = "genesis";
const INTERVAL_MS: u64 = 1_000;
/// macbeth's failsh as lukretia's faild sees it (one TCP connection).
const MACBETH: Peer = Peer {
    token: 7,
    address: core::net::IpAddr::V4(core::net::Ipv4Addr::new(198, 18, 0, 2)),
};
const OPERATOR: Peer = Peer {
    token: 9,
    address: core::net::IpAddr::V4(core::net::Ipv4Addr::LOCALHOST),
};

fn store(boot_id: u64, state: State) -> Store {
    Store::new(
        StoreConfig {
            boot_id,
            seed: boot_id,
            communities: Communities::parse(&format!("* {COMMUNITY} RW\n")).unwrap(),
        },
        vec![ServiceRecord::new(SERVICE, state, None, Time(0))],
    )
}

fn macbeth_config() -> ShellConfig {
    let host = |name: &str, address: &str| HostConfig {
        community: COMMUNITY.to_string(),
        protocol: Protocol::Tcp,
        address: address.parse().ok(),
        ..HostConfig::new(name)
    };
    ShellConfig {
        local_host: "localhost".to_string(),
        hosts: vec![
            host("lukretia", "198.18.0.1:1291"),
            host("localhost", "127.0.0.1:1291"),
        ],
        services: vec![ServiceConfig {
            masters: vec!["lukretia".to_string()],
            ..ServiceConfig::new(SERVICE, INTERVAL_MS)
        }],
    }
}

/// Both failds and macbeth's failsh; requests are answered at once, procedures finish at
/// once, and pushes are kept for the test to deliver (or not).
struct Pair {
    now: Time,
    shell: Shell,
    lukretia: Store,
    macbeth: Store,
    /// Pushes lukretia's faild sent to macbeth's failsh, in order, not yet delivered.
    pushes: Vec<Vec<u8>>,
    /// Queries macbeth's failsh sent to lukretia, with their times.
    polls_of_lukretia: Vec<Time>,
    /// Procedures macbeth ran, with their times.
    ran: Vec<(Time, ProcedureKind)>,
}

/// Pushes a store made, with the subscriber each is for.
type Pushes = Vec<(Peer, Vec<u8>)>;

fn answer(store: &mut Store, now: Time, peer: Peer, bytes: Vec<u8>) -> (Vec<Vec<u8>>, Pushes) {
    store.handle(now, StoreInput::Request { peer, bytes });
    let (mut replies, mut pushes) = (Vec::new(), Vec::new());
    while let Some(action) = store.poll_action() {
        match action {
            StoreAction::Persist { token, .. } => store.handle(
                now,
                StoreInput::Persisted {
                    token,
                    result: Ok(()),
                },
            ),
            StoreAction::Reply { bytes, .. } => replies.push(bytes),
            StoreAction::Push { peer, bytes } => pushes.push((peer, bytes)),
            StoreAction::Event(_) => {}
        }
    }
    (replies, pushes)
}

/// `failc -s STATE` against `store`: the operator's flow (a query for a challenge, the Set,
/// once more if the challenge went stale); the pushes the change made.
fn operator_sets(store: &mut Store, now: Time, state: State) -> Pushes {
    let nonces = &mut (100u8..).map(|n| Nonce([n; 16]));
    let (mut flow, mut bytes) =
        SetFlow::start(nonces.next().unwrap(), COMMUNITY, SERVICE, state, None).unwrap();
    let mut pushed = Vec::new();
    for _ in 0..3 {
        let (replies, pushes) = answer(store, now, OPERATOR, bytes);
        pushed.extend(pushes);
        match flow.answer(&replies[0], || nonces.next().unwrap()).unwrap() {
            SetNext::Send(next) => bytes = next,
            SetNext::Done(_) => return pushed,
        }
    }
    panic!("the operator's Set did not complete");
}

/// A query of the service, with nonce `nonce`, subscribing with `subscription` if any.
fn query(nonce: u8, subscription: Option<Nonce>) -> Vec<u8> {
    let request = Request {
        subscription,
        ..Request::new(
            Nonce([nonce; 16]),
            RequestBody::Query {
                services: vec![SERVICE.to_string()],
                member: None,
            },
        )
    };
    wire::encode_request(&request, COMMUNITY).unwrap()
}

impl Pair {
    /// lukretia UP, macbeth RECOVER; macbeth's failsh ran two rounds.
    fn new() -> Pair {
        let mut pair = Pair {
            now: Time(0),
            shell: Shell::new(macbeth_config(), 5, Time(0)).unwrap(),
            lukretia: store(0x1111, State::Up),
            macbeth: store(0x2222, State::Recover),
            pushes: Vec::new(),
            polls_of_lukretia: Vec::new(),
            ran: Vec::new(),
        };
        pair.pump();
        pair.run_until(Time(2 * INTERVAL_MS + 10));
        assert_eq!(pair.shell.state(SERVICE), Some(State::Recover));
        assert!(pair.ran.is_empty(), "{:?}", pair.ran);
        pair
    }

    /// Performs every action of macbeth's failsh until it has none left.
    fn pump(&mut self) {
        let now = self.now;
        for _ in 0..1_000 {
            let Some(action) = self.shell.poll_action() else {
                return;
            };
            match action {
                Action::Send { to, bytes, .. } => {
                    let (replies, pushes) = if &*to.host == "lukretia" {
                        self.polls_of_lukretia.push(now);
                        answer(&mut self.lukretia, now, MACBETH, bytes)
                    } else {
                        answer(&mut self.macbeth, now, OPERATOR, bytes)
                    };
                    for reply in replies {
                        self.shell.handle(now, Input::Received { bytes: reply });
                    }
                    self.keep(pushes);
                }
                Action::RunProcedure { id, kind, .. } => {
                    self.ran.push((now, kind));
                    let result = match kind {
                        ProcedureKind::Start => "UP",
                        _ => "RECOVER",
                    };
                    self.shell.handle(
                        now,
                        Input::ProcedureDone {
                            id,
                            result: Ok(result.to_string()),
                        },
                    );
                }
                _ => {}
            }
        }
        panic!("macbeth's failsh never settles");
    }

    fn keep(&mut self, pushes: Pushes) {
        // Only pushes to macbeth's failsh on lukretia's faild travel; macbeth's own faild
        // pushes to its failsh too (loopback), which these tests leave out.
        for (peer, bytes) in pushes {
            if peer == MACBETH {
                self.pushes.push(bytes);
            }
        }
    }

    fn run_until(&mut self, until: Time) {
        for _ in 0..10_000 {
            match self.shell.poll_timeout() {
                Some((at, _)) if at <= until => {
                    self.now = self.now.max(at);
                    self.shell.handle(self.now, Input::Timeout);
                    self.pump();
                }
                _ => break,
            }
        }
        self.now = self.now.max(until);
    }

    /// `failc -s STATE` on lukretia.
    fn operator_sets(&mut self, state: State) {
        let pushes = operator_sets(&mut self.lukretia, self.now, state);
        self.keep(pushes);
    }

    fn deliver(&mut self, push: Vec<u8>) {
        self.shell.handle(self.now, Input::Received { bytes: push });
        self.pump();
    }

    fn starts(&self) -> Vec<Time> {
        self.ran
            .iter()
            .filter(|(_, k)| *k == ProcedureKind::Start)
            .map(|(t, _)| *t)
            .collect()
    }
}

#[test]
fn a_push_makes_the_slave_read_the_master_at_once_and_take_over() {
    let mut pair = Pair::new();
    pair.run_until(Time(3_300));
    pair.operator_sets(State::Fail);
    assert_eq!(pair.pushes.len(), 1, "one change, one push");
    let push = pair.pushes.remove(0);
    let decoded = wire::decode_push(&push).unwrap().message;
    assert_eq!(decoded.services, vec![SERVICE.to_string()]);
    assert_eq!(decoded.boot_id, 0x1111);
    let polls_before = pair.polls_of_lukretia.len();
    pair.run_until(Time(3_302));
    pair.deliver(push);
    assert_eq!(
        pair.polls_of_lukretia.len(),
        polls_before + 1,
        "the push makes macbeth read lukretia now"
    );
    assert_eq!(
        pair.starts(),
        vec![Time(3_302)],
        "macbeth starts on that answer, not at its next round (4 s)"
    );
    assert_eq!(pair.shell.state(SERVICE), Some(State::Up));
}

#[test]
fn a_replayed_push_is_ignored() {
    let mut pair = Pair::new();
    pair.run_until(Time(3_300));
    pair.operator_sets(State::Recover);
    let push = pair.pushes.remove(0);
    pair.deliver(push.clone());
    let polls = pair.polls_of_lukretia.len();
    for _ in 0..3 {
        pair.deliver(push.clone());
    }
    assert_eq!(
        pair.polls_of_lukretia.len(),
        polls,
        "copies of a push that was taken read nothing again"
    );
}

#[test]
fn a_reordered_push_is_ignored() {
    let mut pair = Pair::new();
    pair.run_until(Time(3_300));
    pair.operator_sets(State::Recover);
    pair.operator_sets(State::Up);
    assert_eq!(pair.pushes.len(), 2);
    let (first, second) = (pair.pushes.remove(0), pair.pushes.remove(0));
    let seq = |bytes: &[u8]| wire::decode_push(bytes).unwrap().message.seq;
    assert!(seq(&first) < seq(&second));
    let polls = pair.polls_of_lukretia.len();
    pair.deliver(second);
    assert_eq!(pair.polls_of_lukretia.len(), polls + 1);
    pair.deliver(first);
    assert_eq!(
        pair.polls_of_lukretia.len(),
        polls + 1,
        "an older push arriving after a newer one is dropped"
    );
}

#[test]
fn a_lost_push_is_repaired_by_the_next_poll() {
    let mut pair = Pair::new();
    pair.run_until(Time(3_300));
    pair.operator_sets(State::Fail);
    pair.pushes.clear();
    pair.run_until(Time(3_999));
    assert!(
        pair.starts().is_empty(),
        "nothing is known before the next round"
    );
    pair.run_until(Time(4_100));
    let starts = pair.starts();
    assert_eq!(starts.len(), 1, "{starts:?}");
    assert!(
        starts[0] <= Time(3_000 + INTERVAL_MS + 20),
        "the next round (at most one interval later) sees the FAIL: {starts:?}"
    );
}

#[test]
fn a_push_under_another_community_or_an_unknown_subscription_is_ignored() {
    let mut pair = Pair::new();
    pair.run_until(Time(3_300));
    pair.operator_sets(State::Fail);
    let genuine = wire::decode_push(&pair.pushes.remove(0)).unwrap().message;
    let polls = pair.polls_of_lukretia.len();
    // The right subscription, the wrong key: a stranger who saw the nonce.
    let forged = wire::encode_push_keyed(&genuine, &wire::Key::new("public")).unwrap();
    pair.deliver(forged);
    // The right key, a subscription macbeth never made.
    let mut unknown = genuine.clone();
    unknown.nonce = Nonce([0xee; 16]);
    pair.deliver(wire::encode_push_keyed(&unknown, &wire::Key::new(COMMUNITY)).unwrap());
    // The right key and subscription, another faild boot.
    let mut other_boot = genuine.clone();
    other_boot.boot_id = 0x9999;
    pair.deliver(wire::encode_push_keyed(&other_boot, &wire::Key::new(COMMUNITY)).unwrap());
    assert_eq!(pair.polls_of_lukretia.len(), polls);
    assert!(pair.starts().is_empty());
}

#[test]
fn a_faild_restart_resets_subscriptions_and_numbering() {
    let mut pair = Pair::new();
    pair.run_until(Time(3_300));
    // Pushes numbered 1..=4 from the first boot are taken.
    for state in [State::Recover, State::Up, State::Recover, State::Up] {
        pair.operator_sets(state);
        let push = pair.pushes.remove(0);
        pair.deliver(push);
    }
    // faild restarts with the same state file: it knows no subscriber.
    pair.lukretia = store(0x3333, State::Up);
    pair.operator_sets(State::Recover);
    assert!(
        pair.pushes.is_empty(),
        "a restarted faild pushes to nobody until they poll it again"
    );
    // macbeth's next round reads the new boot and subscribes again.
    pair.run_until(Time(4_010));
    pair.operator_sets(State::Fail);
    assert_eq!(pair.pushes.len(), 1);
    let push = pair.pushes.remove(0);
    assert_eq!(wire::decode_push(&push).unwrap().message.seq, 1);
    let polls = pair.polls_of_lukretia.len();
    pair.deliver(push);
    assert_eq!(
        pair.polls_of_lukretia.len(),
        polls + 1,
        "seq 1 of the new boot is taken although 4 was taken from the old one"
    );
    assert_eq!(pair.starts(), vec![pair.now]);
}

#[test]
fn a_renewal_or_an_unsubscribed_query_pushes_nothing() {
    let mut lukretia = store(1, State::Recover);
    answer(&mut lukretia, Time(1), MACBETH, query(1, None));
    let set = |store: &mut Store, state| operator_sets(store, Time(2), state);
    assert!(
        set(&mut lukretia, State::Up).is_empty(),
        "nobody subscribed"
    );
    answer(
        &mut lukretia,
        Time(3),
        MACBETH,
        query(2, Some(Nonce([0x5b; 16]))),
    );
    assert_eq!(lukretia.subscriptions(), 1);
    assert!(
        set(&mut lukretia, State::Up).is_empty(),
        "the same state again changes nothing, so nothing is pushed"
    );
    let pushed = set(&mut lukretia, State::Fail);
    assert_eq!(pushed.len(), 1);
    assert_eq!(pushed[0].0, MACBETH);
    // A query under a community faild does not have subscribes nobody.
    let mut foreign = query(3, Some(Nonce([0x5b; 16])));
    let request = wire::decode_request(&foreign).unwrap().message;
    foreign = wire::encode_request(&request, "public").unwrap();
    let other = Peer {
        token: 8,
        ..MACBETH
    };
    answer(&mut lukretia, Time(4), other, foreign);
    assert_eq!(lukretia.subscriptions(), 1);
}

#[test]
fn subscriptions_are_bounded() {
    let mut lukretia = store(1, State::Recover);
    for token in 0..(MAX_SUBSCRIPTIONS as u64 + 100) {
        let bytes = query(1, Some(Nonce([token as u8; 16])));
        answer(&mut lukretia, Time(1), Peer { token, ..MACBETH }, bytes);
    }
    assert_eq!(lukretia.subscriptions(), MAX_SUBSCRIPTIONS);
}

/// A small deterministic generator, so that a failure names the case that broke.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

#[test]
fn ten_thousand_random_datagrams_against_the_subscription_path_change_nothing() {
    let mut pair = Pair::new();
    pair.run_until(Time(3_300));
    pair.operator_sets(State::Recover);
    let genuine = pair.pushes.remove(0);
    pair.deliver(genuine.clone());
    let polls = pair.polls_of_lukretia.len();
    let subscriptions = pair.lukretia.subscriptions();
    let record = pair.lukretia.service(SERVICE).cloned();
    let mut rng = Lcg(42);
    for case in 0..10_000u32 {
        // Half start from the genuine push (flipped bits, cut, grown), half are noise with
        // the push's header, some of both fed to faild as requests too.
        let mut bytes = if case % 2 == 0 {
            genuine.clone()
        } else {
            let length = 5 + (rng.next() % 200) as usize;
            let mut noise: Vec<u8> = (0..length).map(|_| rng.next() as u8).collect();
            noise[..5].copy_from_slice(&genuine[..5]);
            noise
        };
        match rng.next() % 4 {
            0 => {
                let at = (rng.next() as usize) % bytes.len();
                bytes[at] ^= 1 << (rng.next() % 8);
            }
            1 => bytes.truncate((rng.next() as usize) % bytes.len()),
            2 => bytes.push(rng.next() as u8),
            _ => {
                let at = 5 + (rng.next() as usize) % (bytes.len() - 5).max(1);
                if at < bytes.len() {
                    bytes[at] = bytes[at].wrapping_add(1);
                }
            }
        }
        pair.deliver(bytes.clone());
        if case % 10 == 0 {
            let (replies, pushes) = answer(&mut pair.lukretia, pair.now, MACBETH, bytes);
            assert!(replies.is_empty() && pushes.is_empty(), "case {case}");
        }
    }
    assert_eq!(
        pair.polls_of_lukretia.len(),
        polls,
        "no datagram made macbeth read lukretia again"
    );
    assert!(pair.starts().is_empty());
    assert_eq!(pair.shell.state(SERVICE), Some(State::Recover));
    assert_eq!(pair.lukretia.subscriptions(), subscriptions);
    assert_eq!(pair.lukretia.service(SERVICE).cloned(), record);
    // The genuine subscription still works afterwards.
    pair.operator_sets(State::Fail);
    let push = pair.pushes.remove(0);
    pair.deliver(push);
    assert_eq!(pair.polls_of_lukretia.len(), polls + 1);
    assert_eq!(pair.starts().len(), 1);
}

#[test]
fn one_subscriber_on_two_connections_gets_one_number_on_both() {
    // failsh replaced its connection (the old one may still deliver after a partition
    // healed): both carry its subscription id, both get the push, with one number, so
    // that it reads once.
    let mut lukretia = store(1, State::Recover);
    let id = Nonce([0x77; 16]);
    for (token, nonce) in [(1u64, 1u8), (2, 2)] {
        answer(
            &mut lukretia,
            Time(1),
            Peer { token, ..MACBETH },
            query(nonce, Some(id)),
        );
    }
    let pushed = operator_sets(&mut lukretia, Time(2), State::Up);
    let tokens: Vec<u64> = pushed.iter().map(|(peer, _)| peer.token).collect();
    assert_eq!(tokens, vec![1, 2]);
    assert_eq!(pushed[0].1, pushed[1].1, "the same push, the same number");
    let push = wire::decode_push(&pushed[0].1).unwrap().message;
    assert_eq!(push.nonce, id);
    assert_eq!(push.seq, 1);
}
