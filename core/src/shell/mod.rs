//! The failsh decision machine: polls the faild of every master and slave of each service,
//! applies the decision rule of DESIGN §2, and asks its runtime to run start, stop, reclaim
//! and check procedures and to write the resulting state into the local faild.
//!
//! It owns no socket, clock or process: every input comes through [`Shell::handle`] with the
//! time, every effect leaves through [`Shell::poll_action`], and [`Shell::poll_timeout`] says
//! when and why to call again.

mod api;
mod config;
mod handover;
mod poll;
mod procedure;
mod quorum;
mod release;
mod rule;
mod writes;

pub use api::*;
pub use config::*;
pub use procedure::check_passes;
pub use release::{HANDOVER_DRAIN_MAX_MS, HANDOVER_DRAIN_MIN_MS};

/// How the note of an UP written before a start runs begins (`docs/protocol.md`): the host
/// is bringing the service up and has not announced the address yet. Its confirmation after
/// the start carries another note.
pub const STARTING_NOTE: &str = "starting: ";

use crate::rng::Rng;
use crate::state::State;
use crate::store::CHALLENGE_LIFETIME_MS;
use crate::time::Time;
use crate::timer::{Timer, TimerTable};
use crate::wire::{Key, Nonce};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// A challenge is used only while comfortably inside faild's lifetime for it.
const CHALLENGE_USABLE_MS: u64 = CHALLENGE_LIFETIME_MS * 5 / 6;
/// How many services one poll request names at most.
const MAX_SERVICES_PER_POLL: usize = 200;
/// Challenges from the local faild held for writes at most (the newest are kept).
const HELD_CHALLENGES: usize = 16;

#[derive(Debug)]
struct Host {
    config: HostConfig,
    /// Where its requests go; `None` when its name did not resolve.
    destination: Option<Destination>,
    key: Key,
    reachable: Option<bool>,
    last_contact: Option<Time>,
    /// When its faild last answered one of our requests (authenticated, Ok), even an
    /// answer that is not acted on yet: for a witnessed service, contact is by time.
    last_answer_at: Option<Time>,
    boot_id: Option<u64>,
    /// The host answered after it had counted as silent, at this time: its answers count
    /// again only from a poll sent after that, so that a faild that stalled cannot make a
    /// slave step down with an answer it queued before the stall ended (the answer may be
    /// older than what we know: its failsh may have stopped meanwhile).
    unconfirmed_since: Option<Time>,
    /// The id our queries subscribe to its faild's pushes with, drawn when the host was
    /// added: a push is taken only if it is bound to it. One id for every query, not each
    /// query's nonce: a query that reached faild late (a TCP retransmission after a
    /// partition healed) renews the same subscription instead of replacing it with one we
    /// no longer know (bench: 720 ms of silence after a heal before).
    subscription: Nonce,
    /// The sequence number of the last push taken from its faild's current boot: a push
    /// numbered no higher is a copy, a replay or overtaken, and is dropped.
    push_seq: u64,
}

#[derive(Clone, Debug, Default)]
struct HostView {
    /// What the host's faild said last; `None`: it does not know the service.
    state: Option<State>,
    /// Why, when its faild said (`lease expired`, `tracked interface eth0 down`).
    note: Option<String>,
    answered: bool,
    misses: u32,
    /// Its faild's "milliseconds since the last change" in that answer, and when it came.
    since_change_ms: u64,
    seen_at: Time,
    /// When we sent the query that answer is for: what it says is true at some time after.
    asked_at: Time,
    /// When we first saw its UP lease expired (for `fence wait`).
    expired_seen_at: Option<Time>,
    /// Its faild's count of state changes, and that faild's boot id.
    changes: Option<(u64, u32)>,
    /// Our own tracked link was down: what we knew of it is stale, and it must answer (or
    /// miss `misses` rounds, and [`LINK_SETTLE_MS`] pass) before we may take over.
    fresh_needed: bool,
    /// It missed a poll around our last announcement (we may have been cut off, our
    /// announcement lost): its next answer calls for another.
    missed_around_announcement: bool,
    /// When we sent the first query of an unbroken run of RECOVER answers (no other state,
    /// no miss in between): how long a returning master has been steady, for
    /// `preempt_delay`.
    recover_since: Option<Time>,
}

#[derive(Debug)]
struct Round {
    id: u64,
    awaiting: BTreeSet<HostId>,
    /// Started by a push, between rounds: it reads the host that pushed again, as part of
    /// the last round (same id: no second health check), and counts no misses, so that
    /// pushes never make a host's silence count faster than `misses` intervals.
    reread: bool,
}

#[derive(Debug)]
struct Running {
    id: ProcedureId,
    kind: ProcedureKind,
    /// A start waits until the local faild has stored its UP: a start nobody can see (a
    /// faild whose disk is full) would let another host start next to it, and a master
    /// could not know that it must re-announce after it.
    awaiting_up: bool,
    /// A start of a witnessed service whose UP is stored waits until every master and slave
    /// that answered has answered a query sent after that (rule row W5).
    confirming: Option<Confirming>,
}

/// Rule row W5 (`docs/design.md`, "Quorum with a witness"): a start is registered (the UP in
/// the local faild) before the others are read. Of two hosts that decide to start at once,
/// the one that reads second sees the other's UP and backs off: never both.
#[derive(Debug)]
struct Confirming {
    /// When the local faild acknowledged the UP.
    since: Time,
    /// The masters and slaves that answered then.
    peers: Vec<HostId>,
    /// The failds whose records of who they heard W3 relies on: this host's and the
    /// witnesses' in contact. A master or slave that was silent to us may have come back
    /// and decided to start too; the majority heard it then, so fresh records show it.
    reporters: Vec<HostId>,
}

#[derive(Debug)]
struct Write {
    state: State,
    generation: u64,
    in_flight: Option<Nonce>,
    /// After a failure the write waits until then (the next round), so that a faild that
    /// refuses it (its disk is full) is not asked again in a tight loop.
    retry_at: Option<Time>,
    /// When it was made: a change in the local faild after that is an operator's.
    made_at: Time,
    /// faild's UP lease, sent with an UP.
    lease_ms: Option<u64>,
    /// Why: what pollers that ask for notes are told.
    note: Option<String>,
    kind: WriteKind,
    /// The service was up here while the local faild said otherwise (see
    /// `Service::changed_during_procedure`): faild counts it as two changes.
    was_up: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WriteKind {
    /// A state failsh decided: written whatever faild holds.
    Plain,
    /// A renewal of the UP lease: faild applies it only while the service is UP.
    Renewal,
    /// The UP that start wrote before it ran (or that reclaim runs under), confirmed when
    /// the procedure returned UP: applied only while the service is still UP, since a
    /// refusal means an operator changed it while the procedure ran.
    Confirmation,
}

#[derive(Debug)]
struct Service {
    config: ServiceConfig,
    masters: Vec<HostId>,
    slaves: Vec<HostId>,
    /// Hosts that run only faild and complete the group (`failsvc S witness`).
    witnesses: Vec<HostId>,
    /// What each faild of the group (this host's included) last said it heard from the
    /// members, for a witnessed service.
    reports: BTreeMap<HostId, Report>,
    views: BTreeMap<HostId, HostView>,
    /// What this host's faild says (or what we wrote); `None` until it first answers.
    state: Option<State>,
    /// The note the local faild has for the service (what we, or an operator, wrote).
    local_note: Option<String>,
    last_change: Option<Time>,
    reason: String,
    decision: String,
    local_misses: u32,
    write_failures: u32,
    /// Bumped on every write, so a poll answer sent before our write cannot undo it.
    write_generation: u64,
    write: Option<Write>,
    /// The last state written to the local faild (None: nothing written yet).
    published: Option<State>,
    /// When the local faild last acknowledged an UP with its lease: the kernel lifetime of
    /// the addresses was renewed then too. And when the UP was first written.
    lease_confirmed_at: Option<Time>,
    lease_published_at: Option<Time>,
    /// The note of the last UP written, which renewals repeat (a new note would be a change
    /// faild writes to disk).
    write_note: Option<String>,
    round: Option<Round>,
    next_round_id: u64,
    /// Hosts that pushed a change while a round was open: read again when it closes.
    reread_pending: BTreeSet<HostId>,
    /// The decision being made closes a reread (no periodic health check for it).
    deciding_reread: bool,
    procedure: Option<Running>,
    /// Since when a slave has been UP next to us (a conflict episode), and whether we
    /// reclaimed because it stayed UP too long. The master re-announces when the episode
    /// starts (clients come back at once) and again when the slave has stepped down (its
    /// start's announcements may have come later than ours).
    conflict_since: Option<Time>,
    conflict_reclaimed: bool,
    /// While UP here, some master or slave could not be polled: it may have taken the
    /// service over and announced it, so the address is re-announced (reclaim) when it falls
    /// silent and when it answers again, even if it has stepped down before we saw it UP.
    peer_unseen_while_up: bool,
    /// While UP here, another host's answers showed it changed state unseen, or stepped down
    /// after an UP, or restarted, or this failsh did not run for longer than a takeover
    /// takes: another host may have announced last, so we re-announce.
    reannounce: bool,
    /// When start or reclaim last announced the address here.
    announced_at: Option<Time>,
    /// The round in which the health check last passed, and in which it last ran.
    check_passed_round: Option<u64>,
    check_ran_round: Option<u64>,
    /// Failures of the health check in a row (`fall`), and passes in a row while it holds
    /// the service FAIL (`rise`).
    check_failures: u32,
    check_passes: u32,
    /// FAIL was written here because the health check failed `fall` times (the note
    /// written with it): after `rise` passes in a row, RECOVER is written, unless an
    /// operator changed the state or its note meanwhile.
    check_hold: Option<String>,
    /// Removed from the configuration while UP here (a reload): stopped, FAIL published,
    /// then forgotten.
    retiring: bool,
    /// The state the service must end in once it is stopped, and why: an operator set FAIL
    /// in the local faild while a procedure ran, a start or reclaim failed and stop is
    /// cleaning up, a tracked interface went down (FAIL), the lease lapsed (RECOVER).
    end_in: Option<(State, String)>,
    /// faild refused the confirmation of an UP a procedure returned: an operator changed the
    /// service while the procedure ran (and the procedure may have brought it up after the
    /// operator's script took it down), so the state the next poll brings ends in a stop.
    changed_during_procedure: bool,
    /// Set when such a service is stopped: the next write says it was up meanwhile, so that
    /// a host that took over re-announces after whatever the procedure announced.
    was_up_unseen: bool,
    /// When a tracked link of the service last came back, or this failsh resumed after a
    /// gap: what was known of the others before is stale.
    link_up_at: Option<Time>,
    /// FAIL was written here because a tracked interface went down (the note written with
    /// it): when every tracked interface is up again, RECOVER is written, unless an operator
    /// changed the state or its note meanwhile.
    track_hold: Option<String>,
    handover: Handover,
    /// When the service left UP here, while its connections (on
    /// [`ServiceConfig::reset_addresses`]) wait to be reset: once another host answers UP.
    released_at: Option<Time>,
}

impl Service {
    fn new(config: ServiceConfig, masters: Vec<HostId>, slaves: Vec<HostId>) -> Service {
        Service {
            config,
            masters,
            slaves,
            witnesses: Vec::new(),
            reports: BTreeMap::new(),
            views: BTreeMap::new(),
            state: None,
            local_note: None,
            last_change: None,
            reason: String::new(),
            decision: String::new(),
            local_misses: 0,
            write_failures: 0,
            write_generation: 0,
            write: None,
            published: None,
            lease_confirmed_at: None,
            lease_published_at: None,
            write_note: None,
            round: None,
            next_round_id: 0,
            reread_pending: BTreeSet::new(),
            deciding_reread: false,
            procedure: None,
            conflict_since: None,
            conflict_reclaimed: false,
            peer_unseen_while_up: false,
            announced_at: None,
            reannounce: false,
            check_passed_round: None,
            check_ran_round: None,
            check_failures: 0,
            check_passes: 0,
            check_hold: None,
            retiring: false,
            end_in: None,
            changed_during_procedure: false,
            was_up_unseen: false,
            link_up_at: None,
            track_hold: None,
            handover: Handover::None,
            released_at: None,
        }
    }

    /// Whether faild holds an UP of ours whose lease must be renewed.
    fn lease_active(&self) -> bool {
        self.config.lease_ms.is_some() && self.published == Some(State::Up)
    }

    /// `host` missed a poll (no answer in time, or the request failed at once: a refused
    /// connection). Both ways count alike: a host whose faild refuses every poll after our
    /// tracked link came back must not keep us waiting for it beyond the settle time.
    fn count_miss(&mut self, now: Time, host: HostId) {
        let misses = self.config.misses;
        let settled = self
            .link_up_at
            .is_none_or(|at| now.since_ms(at) >= LINK_SETTLE_MS);
        let around = self.missed_around_announcement(now);
        let view = self.views.entry(host).or_default();
        view.misses = view.misses.saturating_add(1);
        view.recover_since = None;
        view.missed_around_announcement |= around;
        if view.misses >= misses && settled {
            view.fresh_needed = false;
        }
    }

    /// Whether a poll missed now was in flight around our last announcement: sent at most
    /// an interval plus a timeout before it was detected, and detected at most an interval
    /// plus two timeouts after the announcement.
    fn missed_around_announcement(&self, now: Time) -> bool {
        let window_ms = self.config.interval_ms + 2 * self.config.timeout_ms();
        self.state == Some(State::Up)
            && self
                .announced_at
                .is_some_and(|at| now >= at && now.since_ms(at) <= window_ms)
    }

    /// Every host of the service other than the local one.
    fn peers(&self) -> impl Iterator<Item = HostId> + '_ {
        self.masters.iter().chain(&self.slaves).copied()
    }
}

/// What a faild of the group said it heard from the members of a witnessed service, on
/// this host's clock: ages turned into "no later than", which delays cannot make too early.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Report {
    received_at: Time,
    /// When the query it answers was sent: what it says holds at some time after.
    asked_at: Time,
    /// `None`: that faild keeps no record of the service (proves nothing).
    record: Option<HeardRecord>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct HeardRecord {
    /// A member missing from `members` was not heard since then.
    recorded_since: Time,
    members: BTreeMap<String, Time>,
}

impl Report {
    fn new(received_at: Time, asked_at: Time, heard: Option<&crate::wire::Heard>) -> Report {
        let at = |age_ms: u64| Time::from_ms(received_at.as_ms().saturating_sub(age_ms));
        Report {
            received_at,
            asked_at,
            record: heard.map(|heard| HeardRecord {
                recorded_since: at(heard.recorded_ms),
                members: heard
                    .members
                    .iter()
                    .map(|(member, age_ms)| (member.clone(), at(*age_ms)))
                    .collect(),
            }),
        }
    }

    /// The latest time `member` can have been heard by that faild; `None`: unknown.
    fn last_heard(&self, member: &str) -> Option<Time> {
        let record = self.record.as_ref()?;
        Some(
            record
                .members
                .get(member)
                .copied()
                .unwrap_or(record.recorded_since),
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Handover {
    None,
    Stopping,
    Published,
    /// Its stop failed: FAIL is not published, since the service may still run here.
    Abandoned,
}

#[derive(Debug)]
enum Pending {
    Poll {
        host: HostId,
        services: Vec<(ServiceId, u64)>,
        generation: Vec<u64>,
        sent_at: Time,
    },
    /// A probe of a silent host: any authentic answer means it can be reached again.
    Probe {
        host: HostId,
        sent_at: Time,
    },
    Write {
        service: ServiceId,
        generation: u64,
    },
}

/// The failsh decision machine. See the crate documentation for the run loop.
#[derive(Debug)]
pub struct Shell {
    config: ShellConfig,
    hosts: BTreeMap<HostId, Host>,
    host_names: BTreeMap<String, HostId>,
    local: HostId,
    services: BTreeMap<ServiceId, Service>,
    service_names: BTreeMap<String, ServiceId>,
    next_host_id: u32,
    next_service_id: u32,
    next_procedure_id: u64,
    pending: BTreeMap<Nonce, Pending>,
    pending_expiry: BTreeSet<(Time, Nonce)>,
    /// Single-use challenges from the local faild, with when they were received.
    challenges: VecDeque<(u64, Time)>,
    /// The carrier of every interface reported so far (`Input::Link`), and whether every
    /// interface that exists has been reported.
    links: BTreeMap<String, bool>,
    links_complete: bool,
    /// When the machine was built, and when it last got an input: a longer gap than a
    /// takeover takes means this failsh (or its host) was frozen.
    started_at: Time,
    last_input_at: Time,
    timers: TimerTable,
    actions: VecDeque<Action>,
    /// Requests to hosts without an address: they fail once the current input is handled.
    unsendable: VecDeque<(Nonce, String)>,
    rng: Rng,
    shutting_down: bool,
    /// `failsh -k`: leave services as they are, but let running procedures finish so that
    /// the local faild ends up telling the truth (a start publishes UP before it runs).
    keep_services: bool,
    exited: bool,
}

impl Shell {
    /// A machine for `config`; all services poll at once, at `now`.
    pub fn new(config: ShellConfig, seed: u64, now: Time) -> Result<Shell, ConfigError> {
        config.validate()?;
        let mut shell = Shell {
            config: ShellConfig {
                local_host: config.local_host.clone(),
                hosts: Vec::new(),
                services: Vec::new(),
            },
            hosts: BTreeMap::new(),
            host_names: BTreeMap::new(),
            local: HostId(0),
            services: BTreeMap::new(),
            service_names: BTreeMap::new(),
            next_host_id: 0,
            next_service_id: 0,
            next_procedure_id: 1,
            pending: BTreeMap::new(),
            pending_expiry: BTreeSet::new(),
            challenges: VecDeque::new(),
            links: BTreeMap::new(),
            links_complete: false,
            started_at: now,
            last_input_at: now,
            timers: TimerTable::default(),
            actions: VecDeque::new(),
            unsendable: VecDeque::new(),
            rng: Rng::new(seed, "shell-nonce"),
            shutting_down: false,
            keep_services: false,
            exited: false,
        };
        shell.apply_config(config, now);
        Ok(shell)
    }

    pub fn config(&self) -> &ShellConfig {
        &self.config
    }

    pub fn host(&self, id: HostId) -> Option<&HostConfig> {
        self.hosts.get(&id).map(|h| &h.config)
    }

    pub fn service_name(&self, id: ServiceId) -> Option<&str> {
        self.services.get(&id).map(|s| s.config.name.as_str())
    }

    pub fn service_id(&self, name: &str) -> Option<ServiceId> {
        self.service_names.get(name).copied()
    }

    /// The state this failsh believes the service has on this host.
    pub fn state(&self, name: &str) -> Option<State> {
        self.service_id(name)
            .and_then(|id| self.services.get(&id))
            .and_then(|s| s.state)
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down
    }

    /// Every interface some service tracks, for the runtime to watch.
    pub fn tracked_interfaces(&self) -> BTreeSet<String> {
        self.services
            .values()
            .flat_map(|s| s.config.track.iter().cloned())
            .collect()
    }

    pub fn hosts_status(&self) -> Vec<HostStatus> {
        self.hosts
            .values()
            .map(|h| HostStatus {
                name: h.config.name.clone(),
                protocol: h.config.protocol,
                reachable: h.reachable,
                last_contact: h.last_contact,
            })
            .collect()
    }

    pub fn services_status(&self) -> Vec<ServiceStatus> {
        self.service_names
            .values()
            .filter_map(|id| self.services.get(id))
            .map(|s| ServiceStatus {
                name: s.config.name.clone(),
                state: s.state,
                last_change: s.last_change,
                reason: s.reason.clone(),
                decision: s.decision.clone(),
                interval_ms: s.config.interval_ms,
                masters: self.view_list(s, &s.masters),
                slaves: self.view_list(s, &s.slaves),
                procedure: s.procedure.as_ref().map(|p| p.kind),
                track: s
                    .config
                    .track
                    .iter()
                    .map(|i| (i.clone(), self.links.get(i).copied()))
                    .collect(),
                lease_ms: s.config.lease_ms,
                lease_renewed: s.lease_confirmed_at.filter(|_| s.lease_active()),
            })
            .collect()
    }

    fn view_list(&self, service: &Service, hosts: &[HostId]) -> Vec<(String, State)> {
        hosts
            .iter()
            .map(|h| (self.host_name(*h), effective(service, *h)))
            .collect()
    }

    /// The next wake-up and its reason. After handling [`Input::Timeout`] at `now`, this is
    /// always later than `now`: a due timer is never left behind.
    pub fn poll_timeout(&self) -> Option<(Time, Timer)> {
        if self.exited {
            return None;
        }
        self.timers.next()
    }

    /// What a wake-up is for, with the names of its service or host (for the debug log).
    pub fn describe_timer(&self, timer: Timer) -> String {
        let service = |id: ServiceId| self.service_name(id).unwrap_or("?").to_string();
        match timer {
            Timer::ReplyDeadline(id) => format!("reply deadline of {}'s round", service(id)),
            Timer::ProcedureLimit(id) => format!("time limit of {}'s procedure", service(id)),
            Timer::Drain => "end of the handover's wait for a new holder".to_string(),
            Timer::Handover => "handover deadline".to_string(),
            Timer::Round(id) => format!("poll round of {}", service(id)),
            Timer::Renew(id) => format!("lease renewal of {}", service(id)),
            Timer::Probe(id) => format!("probe of silent host {}", self.host_name(id)),
            Timer::Fence(id) => format!("end of {}'s fence wait", service(id)),
        }
    }

    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    pub fn handle(&mut self, now: Time, input: Input) {
        if self.exited {
            return;
        }
        self.notice_gap(now);
        self.handle_input(now, input);
        // Requests to hosts without an address fail as if sent, once the input is done.
        while let Some((nonce, error)) = self.unsendable.pop_front() {
            self.handle_send_failed(now, nonce, &error);
        }
    }

    /// Sends a request to `host`'s faild, or fails it (after the current input) when the
    /// host has no address.
    fn send(&mut self, host: HostId, nonce: Nonce, bytes: Vec<u8>, timeout_ms: u64) {
        let entry = &self.hosts[&host];
        let config = &entry.config;
        match entry.destination.clone() {
            Some(to) => {
                self.actions.push_back(Action::Send {
                    host,
                    to,
                    nonce,
                    bytes,
                    timeout_ms,
                });
            }
            None => {
                let error = format!(
                    "no address for host {}: its name did not resolve (or set `failhost {} address ...`)",
                    config.name, config.name
                );
                self.unsendable.push_back((nonce, error));
            }
        }
    }

    fn handle_input(&mut self, now: Time, input: Input) {
        match input {
            Input::Timeout => self.handle_timeout(now),
            Input::Received { bytes } => self.handle_received(now, &bytes),
            Input::SendFailed { nonce, error } => self.handle_send_failed(now, nonce, &error),
            Input::ProcedureDone { id, result } => self.handle_procedure_done(now, id, result),
            Input::Shutdown { keep_services } => self.handle_shutdown(now, keep_services),
            Input::Reconfigure(config) => {
                if let Err(error) = config.validate() {
                    // The runtime validates first; a bad config here must not break a running
                    // machine, so it is refused like a broken file.
                    self.actions.push_back(Action::Event(Event::Decision {
                        service: "*".to_string(),
                        reason: format!("new configuration rejected: {error}"),
                    }));
                } else {
                    self.apply_config(config, now);
                }
            }
            Input::Link { interface, up } => self.handle_link(now, interface, up),
            Input::LinksComplete => {
                if !self.links_complete {
                    self.links_complete = true;
                    let missing: Vec<String> = self
                        .tracked_interfaces()
                        .into_iter()
                        .filter(|i| !self.links.contains_key(i))
                        .collect();
                    for interface in missing {
                        self.handle_link(now, interface, false);
                    }
                }
            }
            Input::LeaseFailed { service, error } => self.handle_lease_failed(now, service, error),
        }
    }

    /// A failsh that got no input for longer than a slave needs to take over was frozen (a
    /// stopped process, a paused VM): another host may have taken the service and announced
    /// the address meanwhile, so every service UP here re-announces at its next round.
    /// What was known of the others is stale (our tracked link was down, or failsh did not
    /// run): their misses count again from now, each must answer a new round (or miss its
    /// rounds for the settle time) before we may take over, and the round under way, which
    /// could not be answered, is dropped. The caller starts the new round.
    fn lose_sight(&mut self, now: Time, id: ServiceId) {
        let service = self.service_mut(id);
        service.link_up_at = Some(now);
        for view in service.views.values_mut() {
            view.misses = 0;
            view.fresh_needed = true;
        }
        service.round = None;
        self.timers.stop(Timer::ReplyDeadline(id));
    }

    fn notice_gap(&mut self, now: Time) {
        let gap_ms = now.since_ms(self.last_input_at);
        self.last_input_at = now;
        // What we knew of the others before a gap longer than their misses allow is stale,
        // and so are the misses of the rounds that were under way (we did not read their
        // answers): one of them may have taken over meanwhile (we were frozen, our lease
        // lapsed). As after our tracked link came back, nothing starts here until each has
        // answered a new round, or missed its rounds anew for the settle time.
        let stale: Vec<ServiceId> = self
            .services
            .iter()
            .filter(|(_, s)| gap_ms > s.config.contact_window_ms())
            .map(|(id, _)| *id)
            .collect();
        for &id in &stale {
            self.lose_sight(now, id);
        }
        if !stale.is_empty() {
            self.start_rounds(now, &stale);
        }
        let frozen: Vec<ServiceId> = self
            .services
            .iter()
            .filter(|(_, s)| {
                s.state == Some(State::Up)
                    && gap_ms
                        > u64::from(s.config.misses) * s.config.interval_ms + s.config.timeout_ms()
            })
            .map(|(id, _)| *id)
            .collect();
        for id in frozen {
            let service = self.service_mut(id);
            service.reannounce = true;
            let name = service.config.name.clone();
            self.event(Event::Decision {
                service: name,
                reason: format!(
                    "failsh did not run for {gap_ms} ms (frozen?): another host may have taken over meanwhile, re-announcing"
                ),
            });
        }
    }

    /// A carrier change: services tracking the interface decide at once, not at their next
    /// round (a master whose link is cut must drop the address before a slave takes it).
    fn handle_link(&mut self, now: Time, interface: String, up: bool) {
        let previous = self.links.insert(interface.clone(), up);
        if previous == Some(up) {
            return;
        }
        let tracking: Vec<ServiceId> = self
            .services
            .iter()
            .filter(|(_, s)| s.config.track.contains(&interface))
            .map(|(id, _)| *id)
            .collect();
        if tracking.is_empty() {
            return;
        }
        self.event(Event::Link {
            interface: interface.clone(),
            up,
        });
        // A service with a procedure running decides when it returns (see finish_procedure).
        for &id in &tracking {
            if up {
                // The misses counted while our own link was down say nothing about the
                // others: they count again from now, and they must answer (or miss again)
                // before we may take over: another host may have taken over meanwhile. The
                // round under way polled them through the dead link: a new one starts now.
                self.lose_sight(now, id);
            }
            self.evaluate(now, id);
        }
        if up {
            self.start_rounds(now, &tracking);
        }
    }

    fn handle_lease_failed(&mut self, now: Time, id: ServiceId, error: String) {
        let Some(service) = self.services.get_mut(&id) else {
            return;
        };
        if service.state != Some(State::Up) {
            return;
        }
        let reason = format!("cannot renew the lifetime of its addresses: {error}");
        if service.procedure.is_some() {
            service.end_in.get_or_insert((State::Fail, reason));
            return;
        }
        service.end_in = Some((State::Fail, reason.clone()));
        self.run(now, id, ProcedureKind::Stop, reason);
    }

    fn service_mut(&mut self, id: ServiceId) -> &mut Service {
        self.services.get_mut(&id).expect("service exists")
    }

    fn decide(&mut self, id: ServiceId, reason: String) {
        self.decide_with(id, reason, |reason| reason.to_string());
    }

    /// A decision is told once, when it differs from the last; `told` makes the text told
    /// from the reason (which is what is compared).
    fn decide_with(&mut self, id: ServiceId, reason: String, told: impl FnOnce(&str) -> String) {
        let service = self.service_mut(id);
        if service.decision != reason {
            let text = told(&reason);
            service.decision = reason;
            let name = service.config.name.clone();
            self.event(Event::Decision {
                service: name,
                reason: text,
            });
        }
    }

    fn event(&mut self, event: Event) {
        self.actions.push_back(Action::Event(event));
    }
}

/// Whether a master or slave answered within `misses` rounds.
fn answers(service: &Service, host: HostId) -> bool {
    service
        .views
        .get(&host)
        .is_some_and(|view| view.answered && view.misses < service.config.misses)
}

/// The state a master or slave counts as: FAIL unless it answered within `misses` rounds and
/// knows the service.
fn effective(service: &Service, host: HostId) -> State {
    match service.views.get(&host) {
        Some(view) if view.answered && view.misses < service.config.misses => {
            view.state.unwrap_or(State::Fail)
        }
        _ => State::Fail,
    }
}
