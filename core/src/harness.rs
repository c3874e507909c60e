//! An in-memory group of hosts for tests, in the style of quinn-proto's `Pair`: each host
//! runs a faild [`Store`] and (optionally) a failsh [`Shell`] on simulated time, joined by a
//! network with fixed latency and directional cuts. Procedures are simulated: start and
//! reclaim return UP and claim the service, stop releases it and returns what the seed's
//! procedures return (FAIL on a master, RECOVER on a slave), unless a test says otherwise.
//!
//! The full simulator with faults, invariants and scenarios is `failover-sim`; this is the
//! smallest thing that lets the core's unit tests tell a story.

use crate::client::{SetFlow, SetNext};
use crate::community::Communities;
use crate::shell::{Action, Event, Input, ProcedureId, ProcedureKind, Shell, ShellConfig};
use crate::state::State;
use crate::store::{Peer, ServiceRecord, Store, StoreAction, StoreConfig, StoreInput};
use crate::time::Time;
use crate::wire::Nonce;
use core::net::{IpAddr, Ipv4Addr};
use std::collections::{BTreeMap, BTreeSet};

/// What a simulated procedure does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// Returns this text after `delay_ms`.
    Return { text: String, delay_ms: u64 },
    /// Fails with this error after `delay_ms`.
    Fail { error: String, delay_ms: u64 },
    /// Never returns.
    Hang,
}

#[derive(Debug)]
enum Delivery {
    Request {
        to: String,
        from: String,
        bytes: Vec<u8>,
    },
    Reply {
        to: String,
        bytes: Vec<u8>,
    },
    /// The request to a host whose faild is not running was refused by its kernel.
    Refused {
        to: String,
        nonce: crate::wire::Nonce,
    },
    Done {
        host: String,
        id: ProcedureId,
        result: Result<String, String>,
        kind: ProcedureKind,
    },
}

#[derive(Debug)]
pub struct HarnessHost {
    pub name: String,
    pub store: Store,
    pub shell: Option<Shell>,
    pub config: Option<ShellConfig>,
    pub up: bool,
    /// Whether this host holds the service address (set by start/reclaim, cleared by stop).
    pub holds_service: bool,
    pub behaviours: BTreeMap<ProcedureKind, Behaviour>,
    pub persisted: Vec<ServiceRecord>,
    pub events: Vec<(Time, Event)>,
    pub actions: Vec<(Time, Action)>,
    pub procedures_run: Vec<(Time, ProcedureKind)>,
    pub killed: BTreeSet<ProcedureId>,
    /// How many times its faild wrote its state file.
    pub persists: u64,
    /// Its faild cannot write its state file (a full disk).
    pub disk_full: bool,
    /// Its failsh hangs: it gets no input, its faild goes on.
    pub hung: bool,
    /// Its faild is not running but its kernel is: every request is refused at once.
    pub refuses: bool,
    /// The kernel lifetimes failsh renewed for its addresses (`RenewAddresses`).
    pub renewals: Vec<(Time, u32)>,
    /// The connection resets failsh asked for (`ResetConnections`), with whether this host
    /// held the service address then.
    pub resets: Vec<(Time, bool)>,
    boot_count: u64,
}

/// The community every harness faild accepts for reading and writing.
pub const COMMUNITY: &str = "genesis";

#[derive(Debug)]
pub struct Harness {
    pub now: Time,
    pub latency_ms: u64,
    /// How long a faild takes to put a state change on disk before it answers (fsync on a
    /// busy disk); 0 by default.
    pub persist_ms: u64,
    pub hosts: BTreeMap<String, HarnessHost>,
    /// Directional cuts: (from, to) pairs whose messages are dropped.
    pub cuts: BTreeSet<(String, String)>,
    queue: BTreeMap<(Time, u64), Delivery>,
    sequence: u64,
    seed: u64,
    /// Inputs handed to the machines (failsh inputs and faild requests), for benchmarks.
    pub inputs_handled: u64,
}

fn communities() -> Communities {
    Communities::parse(&format!("* {COMMUNITY} RW\n")).expect("static community file")
}

impl Harness {
    pub fn new(seed: u64) -> Harness {
        Harness {
            now: Time(0),
            latency_ms: 1,
            persist_ms: 0,
            hosts: BTreeMap::new(),
            cuts: BTreeSet::new(),
            queue: BTreeMap::new(),
            sequence: 0,
            seed,
            inputs_handled: 0,
        }
    }

    /// Adds a host whose faild starts with `records` (as if from its state file) and, with a
    /// config, a failsh.
    pub fn add_host(
        &mut self,
        name: &str,
        config: Option<ShellConfig>,
        records: Vec<ServiceRecord>,
    ) {
        let mut host = HarnessHost {
            name: name.to_string(),
            store: Store::new(self.store_config(name, 0), records.clone()),
            shell: None,
            config: config.clone(),
            up: true,
            holds_service: false,
            behaviours: BTreeMap::new(),
            persisted: records,
            events: Vec::new(),
            actions: Vec::new(),
            procedures_run: Vec::new(),
            killed: BTreeSet::new(),
            persists: 0,
            disk_full: false,
            hung: false,
            refuses: false,
            renewals: Vec::new(),
            resets: Vec::new(),
            boot_count: 0,
        };
        if let Some(config) = config {
            host.shell = Some(
                Shell::new(config, self.seed ^ name.len() as u64, self.now).expect("valid config"),
            );
        }
        self.hosts.insert(name.to_string(), host);
    }

    fn store_config(&self, name: &str, boot: u64) -> StoreConfig {
        let tag = name
            .bytes()
            .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
        StoreConfig {
            boot_id: tag ^ (boot << 32) ^ 0x5eed,
            seed: self.seed ^ tag ^ boot,
            communities: communities(),
        }
    }

    pub fn host(&self, name: &str) -> &HarnessHost {
        &self.hosts[name]
    }

    pub fn host_mut(&mut self, name: &str) -> &mut HarnessHost {
        self.hosts.get_mut(name).expect("known host")
    }

    pub fn set_behaviour(&mut self, host: &str, kind: ProcedureKind, behaviour: Behaviour) {
        self.host_mut(host).behaviours.insert(kind, behaviour);
    }

    /// The state failsh on `host` believes its service has.
    pub fn state(&self, host: &str, service: &str) -> Option<State> {
        self.hosts[host]
            .shell
            .as_ref()
            .and_then(|s| s.state(service))
    }

    /// The state `host`'s faild stores.
    pub fn stored(&self, host: &str, service: &str) -> Option<State> {
        self.hosts[host].store.service(service).map(|r| r.state)
    }

    pub fn holders(&self) -> Vec<String> {
        self.hosts
            .values()
            .filter(|h| h.holds_service)
            .map(|h| h.name.clone())
            .collect()
    }

    /// The host dies: nothing it sends or receives arrives, its failsh forgets everything.
    /// Its service address goes with it.
    pub fn crash(&mut self, name: &str) {
        let host = self.host_mut(name);
        host.up = false;
        host.shell = None;
        host.holds_service = false;
    }

    /// The host boots again: faild loads its state file, failsh starts from scratch.
    pub fn restart(&mut self, name: &str) {
        let now = self.now;
        let seed = self.seed;
        let boot = self.hosts[name].boot_count + 1;
        let store_config = self.store_config(name, boot);
        let host = self.host_mut(name);
        host.boot_count = boot;
        host.up = true;
        host.store = Store::new(store_config, host.persisted.clone());
        if let Some(config) = host.config.clone() {
            host.shell = Some(Shell::new(config, seed ^ boot, now).expect("valid config"));
        }
    }

    /// What an operator's `failc -s STATE` does on the host itself (instantly): the client's
    /// own flow, a query for a challenge and then the Set.
    pub fn failc(&mut self, name: &str, service: &str, state: State) {
        let peer = Peer {
            token: 0,
            address: IpAddr::V4(Ipv4Addr::LOCALHOST),
        };
        let now = self.now;
        let host = self.host_mut(name);
        let mut nonces = (1u8..).map(|n| Nonce([n; 16]));
        let (mut flow, mut bytes) = SetFlow::start(
            nonces.next().expect("endless"),
            COMMUNITY,
            service,
            state,
            None,
        )
        .expect("encodable");
        // A query, a Set, and once more a Set if the challenge went stale.
        for _ in 0..3 {
            host.store.handle(now, StoreInput::Request { peer, bytes });
            let Some((_, reply)) = Self::drain_store(host, now).pop() else {
                return;
            };
            match flow.answer(&reply, || nonces.next().expect("endless")) {
                Ok(SetNext::Send(next)) => bytes = next,
                // Refused (a full disk): as failc, the operator sees an error and nothing
                // changed.
                Ok(SetNext::Done(_)) | Err(_) => return,
            }
        }
    }

    fn drain_store(host: &mut HarnessHost, now: Time) -> Vec<(Peer, Vec<u8>)> {
        let mut replies = Vec::new();
        while let Some(action) = host.store.poll_action() {
            match action {
                StoreAction::Persist { token, services } => {
                    let result = if host.disk_full {
                        Err("No space left on device (os error 28)".to_string())
                    } else {
                        host.persisted = services;
                        host.persists += 1;
                        Ok(())
                    };
                    host.store
                        .handle(now, StoreInput::Persisted { token, result });
                }
                StoreAction::Reply { peer, bytes } => replies.push((peer, bytes)),
                // This harness checks what polls alone achieve (a lost push is repaired by
                // the next poll); the simulator delivers pushes.
                StoreAction::Push { .. } => {}
                StoreAction::Event(_) => {}
            }
        }
        replies
    }

    /// The kernel reports the carrier of `interface` on `host` (every interface that exists
    /// has been reported once after that).
    pub fn link(&mut self, name: &str, interface: &str, up: bool) {
        let now = self.now;
        let host = self.host_mut(name);
        if let Some(shell) = host.shell.as_mut() {
            shell.handle(
                now,
                Input::Link {
                    interface: interface.to_string(),
                    up,
                },
            );
            shell.handle(now, Input::LinksComplete);
        }
        let names = vec![name.to_string()];
        self.pump_hosts(&names);
    }

    /// The faild of `host` on its own clock: leases that ran out turn FAIL.
    fn wake_stores(&mut self) {
        let now = self.now;
        for host in self.hosts.values_mut() {
            if host.up && host.store.poll_timeout().is_some_and(|t| t <= now) {
                host.store.handle(now, StoreInput::Timeout);
                Self::drain_store(host, now);
            }
        }
    }

    pub fn cut(&mut self, from: &str, to: &str) {
        self.cuts.insert((from.to_string(), to.to_string()));
    }

    pub fn partition(&mut self, a: &str, b: &str) {
        self.cut(a, b);
        self.cut(b, a);
    }

    pub fn heal(&mut self) {
        self.cuts.clear();
    }

    fn reachable(&self, from: &str, to: &str) -> bool {
        let up = |n: &str| self.hosts.get(n).is_some_and(|h| h.up);
        up(from)
            && up(to)
            && (self.cuts.is_empty() || !self.cuts.contains(&(from.to_string(), to.to_string())))
    }

    fn schedule(&mut self, at: Time, delivery: Delivery) {
        self.sequence += 1;
        self.queue.insert((at, self.sequence), delivery);
    }

    /// Drains every host's failsh actions into deliveries.
    fn pump_hosts(&mut self, names: &[String]) {
        for name in names {
            loop {
                let now = self.now;
                let latency = self.latency_ms;
                let host = self.hosts.get_mut(name).expect("listed");
                let Some(shell) = host.shell.as_mut() else {
                    break;
                };
                let Some(action) = shell.poll_action() else {
                    break;
                };
                host.actions.push((now, action.clone()));
                match action {
                    Action::Send {
                        to, bytes, nonce, ..
                    } => {
                        let local = shell.config().local_host.clone();
                        let target = to.host.to_string();
                        let to = if target == local {
                            name.clone()
                        } else {
                            target
                        };
                        let reachable = self.reachable(name, &to);
                        if reachable && self.hosts[&to].refuses {
                            self.schedule(
                                now.plus_ms(latency),
                                Delivery::Refused {
                                    to: name.clone(),
                                    nonce,
                                },
                            );
                        } else if reachable {
                            self.schedule(
                                now.plus_ms(latency),
                                Delivery::Request {
                                    to,
                                    from: name.clone(),
                                    bytes,
                                },
                            );
                        }
                    }
                    Action::RunProcedure { id, kind, .. } => {
                        let default = default_behaviour(kind, host);
                        let behaviour = host.behaviours.get(&kind).cloned().unwrap_or(default);
                        host.procedures_run.push((now, kind));
                        match behaviour {
                            Behaviour::Return { text, delay_ms } => {
                                self.schedule(
                                    now.plus_ms(delay_ms),
                                    Delivery::Done {
                                        host: name.clone(),
                                        id,
                                        result: Ok(text),
                                        kind,
                                    },
                                );
                            }
                            Behaviour::Fail { error, delay_ms } => {
                                self.schedule(
                                    now.plus_ms(delay_ms),
                                    Delivery::Done {
                                        host: name.clone(),
                                        id,
                                        result: Err(error),
                                        kind,
                                    },
                                );
                            }
                            Behaviour::Hang => {}
                        }
                    }
                    Action::KillProcedure { id } => {
                        host.killed.insert(id);
                    }
                    Action::RenewAddresses { lifetime_s, .. } => {
                        host.renewals.push((now, lifetime_s))
                    }
                    Action::LeaseConfirmed { .. } => {}
                    Action::ResetConnections { .. } => {
                        let holds = host.holds_service;
                        host.resets.push((now, holds));
                    }
                    Action::Event(event) => host.events.push((now, event)),
                    Action::Exit => {}
                }
            }
        }
    }

    fn next_wakeup(&self) -> Option<Time> {
        let queued = self.queue.keys().next().map(|(t, _)| *t);
        let timers = self
            .hosts
            .values()
            .filter(|h| h.up && !h.hung)
            .filter_map(|h| h.shell.as_ref()?.poll_timeout().map(|(t, _)| t))
            .chain(
                self.hosts
                    .values()
                    .filter(|h| h.up)
                    .filter_map(|h| h.store.poll_timeout()),
            )
            .min();
        match (queued, timers) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Runs the group until `until` (inclusive).
    pub fn run_until(&mut self, until: Time) {
        let names: Vec<String> = self.hosts.keys().cloned().collect();
        self.pump_hosts(&names);
        for _ in 0..10_000_000u64 {
            let Some(next) = self.next_wakeup() else {
                break;
            };
            if next > until {
                break;
            }
            self.now = self.now.max(next);
            let now = self.now;
            // Deliveries due now.
            while let Some((&key, _)) = self.queue.iter().next() {
                if key.0 > now {
                    break;
                }
                let delivery = self.queue.remove(&key).expect("present");
                self.deliver(delivery);
                self.pump_hosts(&names);
            }
            self.wake_stores();
            for name in &names {
                let host = self.hosts.get_mut(name).expect("listed");
                if !host.up || host.hung {
                    continue;
                }
                if let Some(shell) = host.shell.as_mut() {
                    if shell.poll_timeout().is_some_and(|(t, _)| t <= now) {
                        self.inputs_handled += 1;
                        shell.handle(now, Input::Timeout);
                        if let Some((t, timer)) = shell.poll_timeout() {
                            assert!(t > now, "{name}: timer {timer} at {t} not after {now}");
                        }
                    }
                }
            }
            self.pump_hosts(&names);
        }
        self.now = self.now.max(until);
    }

    pub fn run_for(&mut self, duration_ms: u64) {
        let until = self.now.plus_ms(duration_ms);
        self.run_until(until);
    }

    fn deliver(&mut self, delivery: Delivery) {
        self.inputs_handled += 1;
        let now = self.now;
        let latency = self.latency_ms;
        match delivery {
            Delivery::Request { to, from, bytes } => {
                if !self.reachable(&from, &to) {
                    return;
                }
                let host = self.hosts.get_mut(&to).expect("known");
                let address = IpAddr::V4(Ipv4Addr::new(198, 18, 0, from.len() as u8));
                host.store.handle(
                    now,
                    StoreInput::Request {
                        peer: Peer { token: 0, address },
                        bytes,
                    },
                );
                let persists_before = host.persists;
                let replies = Self::drain_store(host, now);
                // faild answers a change only once it is on disk.
                let persist_ms = if self.hosts[&to].persists > persists_before {
                    self.persist_ms
                } else {
                    0
                };
                for (_, reply) in replies {
                    if self.reachable(&to, &from) {
                        self.schedule(
                            now.plus_ms(latency + persist_ms),
                            Delivery::Reply {
                                to: from.clone(),
                                bytes: reply,
                            },
                        );
                    }
                }
            }
            Delivery::Reply { to, bytes } => {
                let host = self.hosts.get_mut(&to).expect("known");
                if host.up && !host.hung {
                    if let Some(shell) = host.shell.as_mut() {
                        shell.handle(now, Input::Received { bytes });
                    }
                }
            }
            Delivery::Refused { to, nonce } => {
                let host = self.hosts.get_mut(&to).expect("known");
                if host.up && !host.hung {
                    if let Some(shell) = host.shell.as_mut() {
                        let error = "Connection refused (os error 111)".to_string();
                        shell.handle(now, Input::SendFailed { nonce, error });
                    }
                }
            }
            Delivery::Done {
                host: name,
                id,
                result,
                kind,
            } => {
                let host = self.hosts.get_mut(&name).expect("known");
                if !host.up || host.hung || host.killed.contains(&id) {
                    return;
                }
                if let Some(shell) = host.shell.as_mut() {
                    if let Ok(text) = &result {
                        match (kind, text.parse::<State>()) {
                            (ProcedureKind::Start | ProcedureKind::Reclaim, Ok(State::Up)) => {
                                host.holds_service = true
                            }
                            (ProcedureKind::Stop, _) => host.holds_service = false,
                            _ => {}
                        }
                    }
                    shell.handle(now, Input::ProcedureDone { id, result });
                }
            }
        }
    }

    /// The state changes failsh on `host` reported, in order.
    pub fn transitions(&self, host: &str) -> Vec<(Option<State>, State)> {
        self.hosts[host]
            .events
            .iter()
            .filter_map(|(_, e)| match e {
                Event::StateChanged { from, to, .. } => Some((*from, *to)),
                _ => None,
            })
            .collect()
    }

    pub fn procedures(&self, host: &str) -> Vec<ProcedureKind> {
        self.hosts[host]
            .procedures_run
            .iter()
            .map(|(_, k)| *k)
            .collect()
    }
}

fn default_behaviour(kind: ProcedureKind, host: &HarnessHost) -> Behaviour {
    let is_slave = host
        .config
        .as_ref()
        .is_some_and(|c| c.services.iter().any(|s| !s.masters.is_empty()));
    let text = match kind {
        ProcedureKind::Start | ProcedureKind::Reclaim => "UP",
        ProcedureKind::Stop if is_slave => "RECOVER",
        ProcedureKind::Stop => "FAIL",
        ProcedureKind::Check => "1",
    };
    Behaviour::Return {
        text: text.to_string(),
        delay_ms: 5,
    }
}
