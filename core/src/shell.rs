//! The failsh decision machine: polls the faild of every master and slave of each service,
//! applies the decision rule of DESIGN §2, and asks its runtime to run start, stop, reclaim
//! and check procedures and to write the resulting state into the local faild.
//!
//! It owns no socket, clock or process: every input comes through [`Shell::handle`] with the
//! time, every effect leaves through [`Shell::poll_action`], and [`Shell::poll_timeout`] says
//! when and why to call again.

use crate::rng::Rng;
use crate::state::State;
use crate::store::CHALLENGE_LIFETIME_MS;
use crate::time::Time;
use crate::timer::{Timer, TimerTable};
use crate::wire::{
    self, Key, Nonce, Reply, Request, RequestBody, Status, MAX_NAME_BYTES, NONCE_BYTES,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;

/// Procedures are given this long unless the service says otherwise.
pub const DEFAULT_PROCEDURE_LIMIT_MS: u64 = 30_000;
/// A challenge is used only while comfortably inside faild's lifetime for it.
const CHALLENGE_USABLE_MS: u64 = CHALLENGE_LIFETIME_MS * 5 / 6;
/// How many services one poll request names at most.
const MAX_SERVICES_PER_POLL: usize = 200;
/// Challenges from the local faild held for writes at most (the newest are kept).
const HELD_CHALLENGES: usize = 16;
/// The shortest time a state write to the local faild is given before it counts as failed
/// (see [`ServiceConfig::write_timeout_ms`]).
pub const WRITE_TIMEOUT_FLOOR_MS: u64 = 1_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct HostId(pub u32);

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ServiceId(pub u32);

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ProcedureId(pub u64);

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProcedureKind {
    Start,
    Stop,
    Reclaim,
    Check,
}

impl ProcedureKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProcedureKind::Start => "start",
            ProcedureKind::Stop => "stop",
            ProcedureKind::Reclaim => "reclaim",
            ProcedureKind::Check => "check",
        }
    }
}

impl fmt::Display for ProcedureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostConfig {
    pub name: String,
    pub community: String,
    pub protocol: Protocol,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceConfig {
    pub name: String,
    pub interval_ms: u64,
    /// How long to wait for a poll reply; `None`: the interval.
    pub timeout_ms: Option<u64>,
    /// Consecutive failed polls before a host counts as FAIL.
    pub misses: u32,
    pub masters: Vec<String>,
    pub slaves: Vec<String>,
    pub has_reclaim: bool,
    pub has_check: bool,
    pub procedure_limit_ms: u64,
}

impl ServiceConfig {
    /// A service with the original's defaults: one miss, timeout = interval, no reclaim or
    /// check procedure.
    pub fn new(name: &str, interval_ms: u64) -> ServiceConfig {
        ServiceConfig {
            name: name.to_string(),
            interval_ms,
            timeout_ms: None,
            misses: 1,
            masters: Vec::new(),
            slaves: Vec::new(),
            has_reclaim: false,
            has_check: false,
            procedure_limit_ms: DEFAULT_PROCEDURE_LIMIT_MS,
        }
    }

    pub fn timeout_ms(&self) -> u64 {
        self.timeout_ms.unwrap_or(self.interval_ms)
    }

    /// How long a state write to the local faild may take: the poll timeout, but at least
    /// [`WRITE_TIMEOUT_FLOOR_MS`]. faild answers a Set only once the state is on disk
    /// (fsync of the file and its directory), which on a busy disk takes far longer than a
    /// poll's answer; a 5 ms poll timeout made healthy writes fail and UP services stop.
    /// A dead local faild is still noticed at the poll timeout, by the polls of it.
    pub fn write_timeout_ms(&self) -> u64 {
        self.timeout_ms().max(WRITE_TIMEOUT_FLOOR_MS)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShellConfig {
    /// The host name under which the local faild is configured (the seed: `localhost`).
    pub local_host: String,
    /// Hosts with their community and protocol. A host a service names but that is not
    /// listed here is polled over TCP with community `public`, as in the original.
    pub hosts: Vec<HostConfig>,
    pub services: Vec<ServiceConfig>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

impl ShellConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        let fail = |message: String| Err(ConfigError(message));
        let mut names = BTreeSet::new();
        for service in &self.services {
            let name = &service.name;
            if name.is_empty() || name.len() > MAX_NAME_BYTES {
                return fail(format!("service name \"{name}\" must be 1 to 255 bytes"));
            }
            if !names.insert(name) {
                return fail(format!("service {name} is defined twice"));
            }
            if service.interval_ms == 0 {
                return fail(format!("service {name}: interval must be greater than 0"));
            }
            if service.timeout_ms == Some(0) {
                return fail(format!("service {name}: timeout must be greater than 0"));
            }
            if service.misses == 0 {
                return fail(format!("service {name}: misses must be at least 1"));
            }
            if service.procedure_limit_ms == 0 {
                return fail(format!(
                    "service {name}: procedure limit must be greater than 0"
                ));
            }
            let mut seen = BTreeSet::new();
            for host in service.masters.iter().chain(&service.slaves) {
                if host == &self.local_host {
                    return fail(format!(
                        "service {name}: {host} is the local faild; list only the other hosts as masters and slaves"
                    ));
                }
                if !seen.insert(host) {
                    return fail(format!(
                        "service {name}: host {host} is listed twice among masters and slaves"
                    ));
                }
            }
        }
        let mut hosts = BTreeSet::new();
        for host in &self.hosts {
            if !hosts.insert(&host.name) {
                return fail(format!("host {} is defined twice", host.name));
            }
        }
        Ok(())
    }
}

/// Serializes byte vectors as hex in traces, which keeps them short and readable.
mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        let mut text = String::with_capacity(bytes.len() * 2);
        for b in bytes {
            text.push_str(&format!("{b:02x}"));
        }
        s.serialize_str(&text)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        if text.len() % 2 != 0 {
            return Err(serde::de::Error::custom("odd number of hex digits"));
        }
        (0..text.len())
            .step_by(2)
            .map(|i| {
                text.get(i..i + 2)
                    .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                    .ok_or_else(|| serde::de::Error::custom("bad hex digit"))
            })
            .collect()
    }
}

/// Everything that can happen to the decision machine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Input {
    /// A deadline from [`Shell::poll_timeout`] may have passed; spurious calls are harmless.
    Timeout,
    /// A reply arrived from some faild (UDP datagram or TCP frame payload).
    Received {
        #[serde(with = "hex_bytes")]
        bytes: Vec<u8>,
    },
    /// A request could not be sent or its connection failed (for example refused): the host
    /// counts as not answering at once instead of at the deadline.
    SendFailed { nonce: Nonce, error: String },
    /// A procedure finished: its returned text, or its error.
    ProcedureDone {
        id: ProcedureId,
        result: Result<String, String>,
    },
    /// SIGTERM: hand services over (stop what is UP, publish FAIL), or with `keep_services`
    /// (`-k`) leave them running as the original did.
    Shutdown { keep_services: bool },
    /// SIGHUP with a configuration that parsed and validated.
    Reconfigure(ShellConfig),
}

/// Everything the decision machine asks its runtime to do, in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Send a request to a host's faild (see [`Shell::host`] for its protocol).
    Send {
        host: HostId,
        nonce: Nonce,
        #[serde(with = "hex_bytes")]
        bytes: Vec<u8>,
    },
    /// Run a procedure of a service; answer with [`Input::ProcedureDone`]. At most one runs
    /// per service at a time.
    RunProcedure {
        id: ProcedureId,
        service: ServiceId,
        kind: ProcedureKind,
        limit_ms: u64,
    },
    /// A procedure ran past its limit: kill it (and its children). Its late result is ignored.
    KillProcedure {
        id: ProcedureId,
    },
    Event(Event),
    /// The handover is done (or gave up): the program may exit.
    Exit,
}

/// What happened and why, for logs, failtrap and monitors.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    StateChanged {
        service: String,
        from: Option<State>,
        to: State,
        reason: String,
    },
    ProcedureStarted {
        service: String,
        kind: ProcedureKind,
        id: ProcedureId,
        reason: String,
    },
    ProcedureFinished {
        service: String,
        kind: ProcedureKind,
        id: ProcedureId,
        outcome: String,
    },
    /// The reason the service is left as it is changed (logged once, not every interval).
    Decision {
        service: String,
        reason: String,
    },
    HostReachable {
        host: String,
    },
    HostUnreachable {
        host: String,
        reason: String,
    },
    HostRestarted {
        host: String,
    },
    BadReply {
        host: String,
        error: String,
    },
    WriteFailed {
        service: String,
        reason: String,
    },
    HandoverComplete {
        complete: bool,
        detail: String,
    },
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::StateChanged {
                service,
                from,
                to,
                reason,
            } => {
                let from = from.map_or("UNKNOWN", State::as_str);
                write!(f, "service {service}: {from} -> {to}: {reason}")
            }
            Event::ProcedureStarted {
                service,
                kind,
                id,
                reason,
            } => write!(f, "service {service}: running {kind} (#{}): {reason}", id.0),
            Event::ProcedureFinished {
                service,
                kind,
                id,
                outcome,
            } => write!(f, "service {service}: {kind} (#{}) {outcome}", id.0),
            Event::Decision { service, reason } => write!(f, "service {service}: {reason}"),
            Event::HostReachable { host } => write!(f, "host {host} answers"),
            Event::HostUnreachable { host, reason } => {
                write!(f, "host {host} does not answer: {reason}")
            }
            Event::HostRestarted { host } => write!(f, "host {host}: its faild restarted"),
            Event::BadReply { host, error } => write!(f, "host {host}: bad reply: {error}"),
            Event::WriteFailed { service, reason } => write!(
                f,
                "service {service}: cannot write its state to the local faild: {reason}"
            ),
            Event::HandoverComplete { complete, detail } => {
                if *complete {
                    write!(f, "handover complete: {detail}")
                } else {
                    write!(f, "handover incomplete: {detail}")
                }
            }
        }
    }
}

/// A host as the monitor shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostStatus {
    pub name: String,
    pub protocol: Protocol,
    pub reachable: Option<bool>,
    pub last_contact: Option<Time>,
}

/// A service as the monitor shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceStatus {
    pub name: String,
    pub state: Option<State>,
    pub last_change: Option<Time>,
    pub reason: String,
    pub decision: String,
    pub interval_ms: u64,
    /// Each master with the state it counts as now.
    pub masters: Vec<(String, State)>,
    pub slaves: Vec<(String, State)>,
    pub procedure: Option<ProcedureKind>,
}

#[derive(Debug)]
struct Host {
    config: HostConfig,
    key: Key,
    reachable: Option<bool>,
    last_contact: Option<Time>,
    boot_id: Option<u64>,
}

#[derive(Clone, Copy, Debug, Default)]
struct HostView {
    /// What the host's faild said last; `None`: it does not know the service.
    state: Option<State>,
    answered: bool,
    misses: u32,
    /// Its faild's "milliseconds since the last change" in that answer, and when it came.
    since_change_ms: u64,
    seen_at: Time,
}

#[derive(Debug)]
struct Round {
    id: u64,
    awaiting: BTreeSet<HostId>,
}

#[derive(Debug)]
struct Running {
    id: ProcedureId,
    kind: ProcedureKind,
}

#[derive(Debug)]
struct Write {
    state: State,
    generation: u64,
    in_flight: Option<Nonce>,
}

#[derive(Debug)]
struct Service {
    config: ServiceConfig,
    masters: Vec<HostId>,
    slaves: Vec<HostId>,
    views: BTreeMap<HostId, HostView>,
    /// What this host's faild says (or what we wrote); `None` until it first answers.
    state: Option<State>,
    last_change: Option<Time>,
    reason: String,
    decision: String,
    local_misses: u32,
    write_failures: u32,
    /// Bumped on every write, so a poll answer sent before our write cannot undo it.
    write_generation: u64,
    write: Option<Write>,
    round: Option<Round>,
    next_round_id: u64,
    procedure: Option<Running>,
    /// Since when a slave has been UP next to us (a conflict episode), and whether we
    /// reclaimed because it stayed UP too long. Normally the master reclaims once, when the
    /// slave has stepped down: only then is its announcement surely the last clients heard.
    conflict_since: Option<Time>,
    conflict_reclaimed: bool,
    /// While UP here, some slave could not be polled: it may have taken the service over
    /// and announced it, so the address is re-announced (reclaim) when it answers again,
    /// even if it has stepped down before we saw it UP.
    slave_unseen_while_up: bool,
    /// While UP here, a slave's answers showed it changed state unseen, or stepped down after
    /// an UP that began after our last reclaim: it announced last, so we re-announce now.
    reannounce: bool,
    /// The round in which the health check last passed.
    check_passed_round: Option<u64>,
    /// The service must end in FAIL once it is stopped: an operator set FAIL in the local
    /// faild while a procedure ran, or a start or reclaim failed and stop is cleaning up.
    end_in_fail: Option<String>,
    handover: Handover,
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
    timers: TimerTable,
    actions: VecDeque<Action>,
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
            timers: TimerTable::default(),
            actions: VecDeque::new(),
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

    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    pub fn handle(&mut self, now: Time, input: Input) {
        if self.exited {
            return;
        }
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
        }
    }

    // ----- configuration -------------------------------------------------------------------

    fn ensure_host(&mut self, name: &str, config: &ShellConfig) -> HostId {
        if let Some(id) = self.host_names.get(name) {
            return *id;
        }
        let host_config = config
            .hosts
            .iter()
            .find(|h| h.name == name)
            .cloned()
            .unwrap_or_else(|| HostConfig {
                name: name.to_string(),
                community: "public".to_string(),
                protocol: Protocol::Tcp,
            });
        let id = HostId(self.next_host_id);
        self.next_host_id += 1;
        self.hosts.insert(
            id,
            Host {
                key: Key::new(&host_config.community),
                config: host_config,
                reachable: None,
                last_contact: None,
                boot_id: None,
            },
        );
        self.host_names.insert(name.to_string(), id);
        id
    }

    /// Applies a (validated) configuration, keeping what is known about unchanged hosts and
    /// services: states come from the local faild anyway, and a reload must not restart them.
    fn apply_config(&mut self, config: ShellConfig, now: Time) {
        // Hosts: keep ids and reachability of hosts whose settings did not change.
        let mut wanted: BTreeSet<String> = BTreeSet::new();
        wanted.insert(config.local_host.clone());
        for service in &config.services {
            wanted.extend(service.masters.iter().cloned());
            wanted.extend(service.slaves.iter().cloned());
        }
        wanted.extend(config.hosts.iter().map(|h| h.name.clone()));
        let stale: Vec<(String, HostId)> = self
            .host_names
            .iter()
            .filter(|(name, id)| {
                let new = config.hosts.iter().find(|h| &h.name == *name);
                let current = &self.hosts[id].config;
                !wanted.contains(*name) || new.is_some_and(|n| n != current)
            })
            .map(|(n, id)| (n.clone(), *id))
            .collect();
        for (name, id) in stale {
            self.host_names.remove(&name);
            self.hosts.remove(&id);
        }
        for name in &wanted {
            self.ensure_host(name, &config);
        }
        self.local = self.host_names[&config.local_host];

        let removed: Vec<(String, ServiceId)> = self
            .service_names
            .iter()
            .filter(|(name, _)| !config.services.iter().any(|s| &s.name == *name))
            .map(|(n, id)| (n.clone(), *id))
            .collect();
        for (name, id) in removed {
            self.service_names.remove(&name);
            self.services.remove(&id);
            self.timers.stop(Timer::Round(id.0));
            self.timers.stop(Timer::ReplyDeadline(id.0));
            self.timers.stop(Timer::ProcedureLimit(id.0));
        }
        for service_config in &config.services {
            let masters: Vec<HostId> = service_config
                .masters
                .iter()
                .map(|h| self.host_names[h])
                .collect();
            let slaves: Vec<HostId> = service_config
                .slaves
                .iter()
                .map(|h| self.host_names[h])
                .collect();
            match self.service_names.get(&service_config.name).copied() {
                Some(id) => {
                    let service = self.services.get_mut(&id).expect("named service exists");
                    let interval_changed = service.config.interval_ms != service_config.interval_ms;
                    service
                        .views
                        .retain(|h, _| masters.contains(h) || slaves.contains(h));
                    service.config = service_config.clone();
                    service.masters = masters;
                    service.slaves = slaves;
                    if interval_changed && service.round.is_none() {
                        self.timers.set(Timer::Round(id.0), now);
                    }
                }
                None => {
                    let id = ServiceId(self.next_service_id);
                    self.next_service_id += 1;
                    self.services.insert(
                        id,
                        Service {
                            config: service_config.clone(),
                            masters,
                            slaves,
                            views: BTreeMap::new(),
                            state: None,
                            last_change: None,
                            reason: String::new(),
                            decision: String::new(),
                            local_misses: 0,
                            write_failures: 0,
                            write_generation: 0,
                            write: None,
                            round: None,
                            next_round_id: 0,
                            procedure: None,
                            conflict_since: None,
                            conflict_reclaimed: false,
                            slave_unseen_while_up: false,
                            reannounce: false,
                            check_passed_round: None,
                            end_in_fail: None,
                            handover: Handover::None,
                        },
                    );
                    self.service_names.insert(service_config.name.clone(), id);
                    self.timers.set(Timer::Round(id.0), now);
                }
            }
        }
        self.config = config;
    }

    fn host_name(&self, id: HostId) -> String {
        self.hosts
            .get(&id)
            .map_or_else(|| format!("#{}", id.0), |h| h.config.name.clone())
    }

    // ----- timers and rounds ---------------------------------------------------------------

    fn handle_timeout(&mut self, now: Time) {
        let mut rounds = Vec::new();
        while let Some(timer) = self.timers.pop_due(now) {
            match timer {
                Timer::ReplyDeadline(s) => self.close_round(now, ServiceId(s)),
                Timer::ProcedureLimit(s) => self.procedure_limit(now, ServiceId(s)),
                Timer::Handover => self.finish_handover(false),
                Timer::Round(s) => rounds.push(ServiceId(s)),
            }
        }
        self.expire_pending(now);
        if !rounds.is_empty() {
            self.start_rounds(now, &rounds);
        }
    }

    fn expire_pending(&mut self, now: Time) {
        while let Some(&(at, nonce)) = self.pending_expiry.first() {
            if at > now {
                break;
            }
            self.pending_expiry.remove(&(at, nonce));
            if let Some(Pending::Write {
                service,
                generation,
            }) = self.pending.remove(&nonce)
            {
                self.write_failed(now, service, generation, "no answer in time".to_string());
            }
        }
    }

    fn start_rounds(&mut self, now: Time, due: &[ServiceId]) {
        // One request per host for all services due at this instant keeps a thousand
        // services at one interval to a handful of datagrams per interval.
        let mut by_host: BTreeMap<HostId, Vec<(ServiceId, u64)>> = BTreeMap::new();
        let mut longest_timeout_ms: BTreeMap<HostId, u64> = BTreeMap::new();
        for &id in due {
            let local = self.local;
            let Some(service) = self.services.get_mut(&id) else {
                continue;
            };
            if service.round.is_some() {
                // The previous round outlived the interval (timeout > interval): close it so
                // that its silent hosts count as misses before polling again.
                self.close_round(now, id);
            }
            let Some(service) = self.services.get_mut(&id) else {
                continue;
            };
            let round_id = service.next_round_id;
            service.next_round_id += 1;
            let mut awaiting: BTreeSet<HostId> = service.masters.iter().copied().collect();
            awaiting.extend(service.slaves.iter().copied());
            awaiting.insert(local);
            let timeout_ms = service.config.timeout_ms();
            for host in &awaiting {
                by_host.entry(*host).or_default().push((id, round_id));
                let longest = longest_timeout_ms.entry(*host).or_default();
                *longest = (*longest).max(timeout_ms);
            }
            service.round = Some(Round {
                id: round_id,
                awaiting,
            });
            self.timers
                .set(Timer::ReplyDeadline(id.0), now.plus_ms(timeout_ms));
            self.timers
                .set(Timer::Round(id.0), now.plus_ms(service.config.interval_ms));
        }
        for (host, services) in by_host {
            for chunk in services.chunks(MAX_SERVICES_PER_POLL) {
                self.send_poll(now, host, chunk.to_vec(), longest_timeout_ms[&host]);
            }
        }
    }

    fn new_nonce(&mut self) -> Nonce {
        let mut bytes = [0u8; NONCE_BYTES];
        self.rng.fill(&mut bytes);
        Nonce(bytes)
    }

    fn send_poll(
        &mut self,
        now: Time,
        host: HostId,
        services: Vec<(ServiceId, u64)>,
        timeout_ms: u64,
    ) {
        let nonce = self.new_nonce();
        let names: Vec<String> = services
            .iter()
            .map(|(id, _)| self.services[id].config.name.clone())
            .collect();
        let generation = services
            .iter()
            .map(|(id, _)| self.services[id].write_generation)
            .collect();
        let request = Request {
            nonce,
            want_challenge: host == self.local,
            body: RequestBody::Query { services: names },
        };
        match wire::encode_request_keyed(&request, &self.hosts[&host].key) {
            Ok(bytes) => {
                self.pending.insert(
                    nonce,
                    Pending::Poll {
                        host,
                        services,
                        generation,
                    },
                );
                self.pending_expiry.insert((now.plus_ms(timeout_ms), nonce));
                self.actions.push_back(Action::Send { host, nonce, bytes });
            }
            Err(error) => {
                // Validation keeps names short, so this is a bug; the round's deadline will
                // count the host as silent.
                let host_name = self.host_name(host);
                self.event(Event::BadReply {
                    host: host_name,
                    error: format!("cannot encode poll: {error}"),
                });
            }
        }
    }

    /// The round's silent hosts count one miss each; then the rule is applied.
    fn close_round(&mut self, now: Time, id: ServiceId) {
        self.timers.stop(Timer::ReplyDeadline(id.0));
        let local = self.local;
        let Some(service) = self.services.get_mut(&id) else {
            return;
        };
        let Some(round) = service.round.take() else {
            return;
        };
        let timeout_ms = service.config.timeout_ms();
        let mut silent = Vec::new();
        for host in round.awaiting {
            if host == local {
                service.local_misses = service.local_misses.saturating_add(1);
            } else {
                let view = service.views.entry(host).or_default();
                view.misses = view.misses.saturating_add(1);
            }
            silent.push(host);
        }
        for host in silent {
            self.host_silent(host, format!("no answer within {timeout_ms} ms"));
        }
        self.evaluate(now, id);
    }

    fn host_silent(&mut self, host: HostId, reason: String) {
        let Some(entry) = self.hosts.get_mut(&host) else {
            return;
        };
        if entry.reachable != Some(false) {
            entry.reachable = Some(false);
            let name = entry.config.name.clone();
            self.event(Event::HostUnreachable { host: name, reason });
        }
    }

    fn host_answered(&mut self, now: Time, host: HostId, boot_id: u64) {
        let Some(entry) = self.hosts.get_mut(&host) else {
            return;
        };
        entry.last_contact = Some(now);
        let name = entry.config.name.clone();
        let restarted = entry.boot_id.is_some_and(|b| b != boot_id);
        entry.boot_id = Some(boot_id);
        if entry.reachable != Some(true) {
            entry.reachable = Some(true);
            self.event(Event::HostReachable { host: name.clone() });
        }
        if restarted {
            self.event(Event::HostRestarted { host: name });
        }
    }

    // ----- replies -------------------------------------------------------------------------

    fn handle_received(&mut self, now: Time, bytes: &[u8]) {
        let signed = match wire::decode_reply(bytes) {
            Ok(signed) => signed,
            Err(error) => {
                self.event(Event::BadReply {
                    host: "?".to_string(),
                    error: error.to_string(),
                });
                return;
            }
        };
        let nonce = signed.message.nonce;
        let host = match self.pending.get(&nonce) {
            Some(Pending::Poll { host, .. }) => *host,
            Some(Pending::Write { .. }) => self.local,
            // Late, duplicated or replayed: nothing is waiting for it.
            None => return,
        };
        let Some(key) = self.hosts.get(&host).map(|h| &h.key) else {
            return;
        };
        let reply = signed.message.clone();
        if reply.authenticated && !signed.verify_keyed(key) {
            // Not removed from pending: a forgery must not cancel the genuine answer.
            let name = self.host_name(host);
            self.event(Event::BadReply {
                host: name,
                error: "reply does not verify under the host's community".to_string(),
            });
            return;
        }
        let Some(pending) = self.pending.remove(&nonce) else {
            return;
        };
        self.pending_expiry.retain(|(_, n)| *n != nonce);
        if reply.authenticated {
            self.host_answered(now, host, reply.boot_id);
        }
        if host == self.local {
            if let Some(challenge) = reply.challenge.filter(|_| reply.authenticated) {
                // A few in hand let several services write at once; more would only be
                // older ones, which faild may already have forgotten (it keeps a bounded
                // number, and a 5 ms interval hands out 200 a second).
                if self.challenges.len() >= HELD_CHALLENGES {
                    self.challenges.pop_front();
                }
                self.challenges.push_back((challenge, now));
            }
        }
        match pending {
            Pending::Poll {
                host,
                services,
                generation,
            } => self.poll_answered(now, host, services, generation, &reply),
            Pending::Write {
                service,
                generation,
            } => self.write_answered(now, service, generation, &reply),
        }
        self.send_writes(now);
    }

    fn poll_answered(
        &mut self,
        now: Time,
        host: HostId,
        services: Vec<(ServiceId, u64)>,
        generation: Vec<u64>,
        reply: &Reply,
    ) {
        if reply.status != Status::Ok {
            let name = self.host_name(host);
            self.event(Event::BadReply {
                host: name,
                error: reply.status.to_string(),
            });
            // Counted as silence: the round deadline turns it into a miss.
            return;
        }
        for ((id, round_id), sent_generation) in services.into_iter().zip(generation) {
            let local = self.local;
            let Some(service) = self.services.get_mut(&id) else {
                continue;
            };
            let Some(entry) = reply.entries.iter().find(|e| e.name == service.config.name) else {
                continue;
            };
            if host == local {
                service.local_misses = 0;
                let current =
                    sent_generation == service.write_generation && service.write.is_none();
                if current && service.procedure.is_none() {
                    self.adopt_local_state(now, id, entry.state);
                } else if current
                    && entry.state == Some(State::Fail)
                    && service.state != Some(State::Fail)
                    && service.end_in_fail.is_none()
                {
                    // An operator's FAIL (the service script's `fail`) landed while a
                    // procedure runs; it must not be overwritten by that procedure's result.
                    service.end_in_fail =
                        Some("an operator set FAIL in the local faild".to_string());
                }
            } else {
                // Answers travel with delays up to a timeout, more on a loaded host: a change
                // time that moved by less than this is noise, not a new change.
                let tolerance_ms = service.config.timeout_ms().max(100);
                let is_slave = service.slaves.contains(&host);
                let local_up = service.state == Some(State::Up);
                let view = service.views.entry(host).or_default();
                // A slave whose state changed between two polls without our seeing it UP
                // may have started and announced the address meanwhile (and stepped down
                // again): the master must re-announce. Its faild's "since the last change"
                // shows it, whatever the slave's clock says about absolute time.
                // Only paths that can pass through UP count: the same state with a newer
                // change (RECOVER -> UP -> RECOVER), or RECOVER -> FAIL (a start that failed
                // after announcing). FAIL -> RECOVER is a registration, not an announcement.
                let moved = entry.since_change_ms.saturating_add(tolerance_ms)
                    < view
                        .since_change_ms
                        .saturating_add(now.since_ms(view.seen_at));
                let unseen_change = view.answered
                    && view.state != Some(State::Up)
                    && entry.state != Some(State::Up)
                    && ((view.state == entry.state && moved)
                        || (view.state == Some(State::Recover)
                            && entry.state == Some(State::Fail)));
                // A slave we saw UP steps down: the end of a conflict episode. Its start
                // announced the address, so ours must come after it.
                let left_up = view.answered
                    && view.state == Some(State::Up)
                    && entry.state != Some(State::Up);
                view.state = entry.state;
                view.answered = true;
                view.misses = 0;
                view.since_change_ms = entry.since_change_ms;
                view.seen_at = now;
                if is_slave && local_up && (unseen_change || left_up) {
                    service.reannounce = true;
                }
            }
            let Some(service) = self.services.get_mut(&id) else {
                continue;
            };
            let round_complete = match &mut service.round {
                Some(round) if round.id == round_id => {
                    round.awaiting.remove(&host);
                    round.awaiting.is_empty()
                }
                _ => false,
            };
            if round_complete {
                // Everybody answered: decide now rather than at the deadline, which is what
                // makes a clean handover take one round trip instead of one timeout.
                self.close_round(now, id);
            }
        }
    }

    /// The local faild is the source of truth: an operator's `failc -s FAIL` (the service
    /// script's `fail`) or `-s RECOVER` is taken over as it is.
    fn adopt_local_state(&mut self, now: Time, id: ServiceId, reported: Option<State>) {
        let Some(service) = self.services.get_mut(&id) else {
            return;
        };
        match (reported, service.state) {
            (Some(state), current) if Some(state) != current => {
                let reason = if current.is_none() {
                    "read from the local faild".to_string()
                } else {
                    "changed in the local faild (failc or a service script)".to_string()
                };
                self.change_state(now, id, state, reason, false);
            }
            (None, None) => {
                self.change_state(
                    now,
                    id,
                    State::Fail,
                    "not registered in the local faild: treated as FAIL until set to RECOVER"
                        .to_string(),
                    false,
                );
            }
            (None, Some(current)) => {
                // faild lost the service (a new state file?) while this host still runs it:
                // write our state back rather than forget that the service is up here.
                self.change_state(
                    now,
                    id,
                    current,
                    "the local faild forgot the service; writing it again".to_string(),
                    true,
                );
            }
            _ => {}
        }
    }

    fn handle_send_failed(&mut self, now: Time, nonce: Nonce, error: &str) {
        let Some(pending) = self.pending.remove(&nonce) else {
            return;
        };
        self.pending_expiry.retain(|(_, n)| *n != nonce);
        match pending {
            Pending::Poll { host, services, .. } => {
                self.host_silent(host, error.to_string());
                let local = self.local;
                for (id, round_id) in services {
                    let Some(service) = self.services.get_mut(&id) else {
                        continue;
                    };
                    let Some(round) = service.round.as_mut().filter(|r| r.id == round_id) else {
                        continue;
                    };
                    if !round.awaiting.remove(&host) {
                        continue;
                    }
                    // It will not answer: count the miss now rather than at the deadline.
                    let complete = round.awaiting.is_empty();
                    if host == local {
                        service.local_misses = service.local_misses.saturating_add(1);
                    } else {
                        let view = service.views.entry(host).or_default();
                        view.misses = view.misses.saturating_add(1);
                    }
                    if complete {
                        self.close_round(now, id);
                    }
                }
            }
            Pending::Write {
                service,
                generation,
            } => self.write_failed(now, service, generation, error.to_string()),
        }
    }

    // ----- writes to the local faild -------------------------------------------------------

    fn send_writes(&mut self, now: Time) {
        let waiting: Vec<ServiceId> = self
            .services
            .iter()
            .filter(|(_, s)| s.write.as_ref().is_some_and(|w| w.in_flight.is_none()))
            .map(|(id, _)| *id)
            .collect();
        for id in waiting {
            let challenge = loop {
                // The newest first: faild forgets the oldest of its outstanding challenges.
                match self.challenges.pop_back() {
                    Some((c, at)) if now.since_ms(at) <= CHALLENGE_USABLE_MS => break Some(c),
                    Some(_) => continue,
                    None => break None,
                }
            };
            // Without a challenge the write waits for the next poll of the local faild,
            // whose reply brings one.
            let Some(challenge) = challenge else { return };
            let nonce = self.new_nonce();
            let local = self.local;
            let key = self.hosts[&local].key.clone();
            let service = self.services.get_mut(&id).expect("listed above");
            let write = service.write.as_mut().expect("listed above");
            let request = Request {
                nonce,
                want_challenge: true,
                body: RequestBody::Set {
                    service: service.config.name.clone(),
                    state: write.state,
                    backup: None,
                    challenge,
                },
            };
            let Ok(bytes) = wire::encode_request_keyed(&request, &key) else {
                continue;
            };
            write.in_flight = Some(nonce);
            let generation = write.generation;
            let timeout_ms = service.config.write_timeout_ms();
            self.pending.insert(
                nonce,
                Pending::Write {
                    service: id,
                    generation,
                },
            );
            self.pending_expiry.insert((now.plus_ms(timeout_ms), nonce));
            self.actions.push_back(Action::Send {
                host: local,
                nonce,
                bytes,
            });
        }
    }

    fn write_answered(&mut self, now: Time, id: ServiceId, generation: u64, reply: &Reply) {
        let Some(service) = self.services.get_mut(&id) else {
            return;
        };
        let Some(write) = service
            .write
            .as_mut()
            .filter(|w| w.generation == generation)
        else {
            return;
        };
        write.in_flight = None;
        match reply.status {
            Status::Ok => {
                service.write = None;
                service.write_failures = 0;
                self.check_handover_done();
            }
            // A stale challenge: the reply carried a fresh one, which send_writes uses.
            Status::BadChallenge => {}
            other => self.write_failed(now, id, generation, other.to_string()),
        }
    }

    fn write_failed(&mut self, now: Time, id: ServiceId, generation: u64, reason: String) {
        let Some(service) = self.services.get_mut(&id) else {
            return;
        };
        if let Some(write) = service
            .write
            .as_mut()
            .filter(|w| w.generation == generation)
        {
            write.in_flight = None;
            service.write_failures = service.write_failures.saturating_add(1);
            let name = service.config.name.clone();
            self.event(Event::WriteFailed {
                service: name,
                reason,
            });
            if self.shutting_down {
                return;
            }
            self.evaluate(now, id);
        }
    }

    // ----- the decision rule ---------------------------------------------------------------

    fn evaluate(&mut self, now: Time, id: ServiceId) {
        if self.shutting_down {
            self.handover_step(now, id);
            return;
        }
        let Some(service) = self.services.get(&id) else {
            return;
        };
        if service.procedure.is_some() {
            return;
        }
        let Some(local) = service.state else {
            self.decide(id, "waiting for the local faild to answer".to_string());
            return;
        };
        let misses = service.config.misses;
        if local == State::Up
            && (service.local_misses >= misses || service.write_failures >= misses)
        {
            let reason = if service.local_misses >= misses {
                "the local faild does not answer"
            } else {
                "its state cannot be written to the local faild"
            };
            self.run(
                now,
                id,
                ProcedureKind::Stop,
                format!("{reason}: nobody can see that the service is UP here"),
            );
            return;
        }
        let master = service
            .masters
            .iter()
            .map(|h| (*h, effective(service, *h)))
            .find(|(_, state)| state.is_available());
        if let Some((master, master_state)) = master {
            let who = format!("master {} is {master_state}", self.host_name(master));
            if local == State::Up {
                self.run(now, id, ProcedureKind::Stop, who);
            } else {
                self.decide(id, format!("{who}: standing by"));
            }
            return;
        }
        let slave_up = service
            .slaves
            .iter()
            .copied()
            .find(|h| effective(service, *h) == State::Up);
        let has_reclaim = service.config.has_reclaim;
        let has_check = service.config.has_check;
        let current_round = service.next_round_id.saturating_sub(1);
        let checked = service.check_passed_round == Some(current_round);
        let conflict_since = service.conflict_since;
        let conflict_reclaimed = service.conflict_reclaimed;
        // The slave needs one of its polls to see us UP, then its stop.
        let stuck_after_ms = 2 * service.config.interval_ms + service.config.timeout_ms();
        let slave_unseen = service
            .slaves
            .iter()
            .find(|h| !answers(service, **h))
            .copied();
        let unseen_before = service.slave_unseen_while_up;
        let reannounce = service.reannounce;
        let entry = self.service_mut(id);
        entry.reannounce = false;
        if slave_up.is_none() {
            entry.conflict_since = None;
            entry.conflict_reclaimed = false;
        }
        entry.slave_unseen_while_up =
            local == State::Up && (unseen_before || slave_unseen.is_some());
        let answers_again = unseen_before && slave_unseen.is_none();
        if local == State::Up && slave_up.is_none() && (answers_again || reannounce) {
            entry.slave_unseen_while_up &= !answers_again;
            if has_reclaim {
                let slaves: Vec<String> = self.services[&id]
                    .slaves
                    .iter()
                    .map(|h| self.host_name(*h))
                    .collect();
                self.run(
                    now,
                    id,
                    ProcedureKind::Reclaim,
                    if answers_again {
                        format!(
                            "slave {} answers again: re-announcing in case it took over while it could not see us",
                            slaves.join(", ")
                        )
                    } else {
                        format!(
                            "slave {} stepped down or changed state since our last poll (it may have announced the address): re-announcing",
                            slaves.join(", ")
                        )
                    },
                );
                return;
            }
        }
        match (local, slave_up) {
            (State::Up, Some(slave)) => {
                let slave = self.host_name(slave);
                let since = conflict_since.unwrap_or(now);
                let entry = self.service_mut(id);
                entry.conflict_since = Some(since);
                entry.slave_unseen_while_up = false;
                let stuck = now.since_ms(since) >= stuck_after_ms;
                if stuck && !conflict_reclaimed && has_reclaim {
                    entry.conflict_reclaimed = true;
                    self.run(
                        now,
                        id,
                        ProcedureKind::Reclaim,
                        format!("slave {slave} is still UP after {} ms", now.since_ms(since)),
                    );
                } else {
                    self.decide(
                        id,
                        format!(
                            "slave {slave} is UP too: waiting for it to step down, then reclaiming"
                        ),
                    );
                }
            }
            (State::Up, None) => {
                if has_check {
                    self.run(
                        now,
                        id,
                        ProcedureKind::Check,
                        "periodic health check".to_string(),
                    );
                } else {
                    self.decide(id, "UP: no master available".to_string());
                }
            }
            (State::Recover, Some(slave)) => {
                let slave = self.host_name(slave);
                self.decide(
                    id,
                    format!("slave {slave} is UP: waiting for it to see RECOVER and step down"),
                );
            }
            (State::Recover, None) => {
                let why = if service_has_masters(self, id) {
                    "no master is UP or RECOVER and no slave is UP"
                } else {
                    "no slave is UP"
                };
                if has_check && !checked {
                    self.run(
                        now,
                        id,
                        ProcedureKind::Check,
                        format!("{why}: checking health before starting"),
                    );
                } else {
                    self.run(now, id, ProcedureKind::Start, why.to_string());
                }
            }
            (State::Fail, _) => {
                self.decide(id, "FAIL: left alone until set to RECOVER".to_string());
            }
        }
    }

    fn service_mut(&mut self, id: ServiceId) -> &mut Service {
        self.services.get_mut(&id).expect("service exists")
    }

    fn decide(&mut self, id: ServiceId, reason: String) {
        let service = self.service_mut(id);
        if service.decision != reason {
            service.decision = reason.clone();
            let name = service.config.name.clone();
            self.event(Event::Decision {
                service: name,
                reason,
            });
        }
    }

    fn run(&mut self, now: Time, id: ServiceId, kind: ProcedureKind, reason: String) {
        let procedure = ProcedureId(self.next_procedure_id);
        self.next_procedure_id += 1;
        let service = self.service_mut(id);
        service.procedure = Some(Running {
            id: procedure,
            kind,
        });
        service.decision = format!("running {kind}: {reason}");
        let limit_ms = service.config.procedure_limit_ms;
        let name = service.config.name.clone();
        self.timers
            .set(Timer::ProcedureLimit(id.0), now.plus_ms(limit_ms));
        self.event(Event::ProcedureStarted {
            service: name,
            kind,
            id: procedure,
            reason,
        });
        self.actions.push_back(Action::RunProcedure {
            id: procedure,
            service: id,
            kind,
            limit_ms,
        });
        if kind == ProcedureKind::Start {
            // Other hosts must see that the service is being brought up here: a start takes
            // time (an address, a gratuitous ARP burst), and a master that turned RECOVER
            // meanwhile would otherwise find no slave UP and start too. The local state
            // stays RECOVER until start returns; a failed start is cleaned up and ends FAIL.
            self.publish(now, id, State::Up);
        }
    }

    fn procedure_limit(&mut self, now: Time, id: ServiceId) {
        let Some(running) = self.services.get(&id).and_then(|s| s.procedure.as_ref()) else {
            return;
        };
        let procedure = running.id;
        let limit_ms = self.services[&id].config.procedure_limit_ms;
        self.actions
            .push_back(Action::KillProcedure { id: procedure });
        self.finish_procedure(
            now,
            id,
            procedure,
            Err(format!(
                "did not finish within its limit of {limit_ms} ms and was killed"
            )),
        );
    }

    fn handle_procedure_done(
        &mut self,
        now: Time,
        procedure: ProcedureId,
        result: Result<String, String>,
    ) {
        let owner = self
            .services
            .iter()
            .find(|(_, s)| s.procedure.as_ref().is_some_and(|p| p.id == procedure))
            .map(|(id, _)| *id);
        // A result for a procedure that was killed at its limit, or of a removed service.
        let Some(id) = owner else { return };
        self.timers.stop(Timer::ProcedureLimit(id.0));
        self.finish_procedure(now, id, procedure, result);
    }

    fn finish_procedure(
        &mut self,
        now: Time,
        id: ServiceId,
        procedure: ProcedureId,
        result: Result<String, String>,
    ) {
        let service = self.service_mut(id);
        let Some(running) = service.procedure.take() else {
            return;
        };
        let kind = running.kind;
        let name = service.config.name.clone();
        let round = service.next_round_id.saturating_sub(1);
        if kind == ProcedureKind::Check {
            let healthy = match &result {
                Ok(text) => check_passes(text),
                Err(_) => false,
            };
            let outcome = match &result {
                Ok(text) if healthy => format!("passed ({})", text.trim()),
                Ok(text) => format!("failed: returned {:?}", text.trim()),
                Err(error) => format!("failed: {error}"),
            };
            self.event(Event::ProcedureFinished {
                service: name,
                kind,
                id: procedure,
                outcome: outcome.clone(),
            });
            if self.shutting_down {
                self.handover_step(now, id);
                return;
            }
            if healthy {
                self.service_mut(id).check_passed_round = Some(round);
                if self.services[&id].state == Some(State::Recover) {
                    self.evaluate(now, id);
                }
            } else {
                self.service_mut(id).check_passed_round = None;
                match self.services[&id].state {
                    Some(State::Up) => self.run(
                        now,
                        id,
                        ProcedureKind::Stop,
                        format!("health check {outcome}"),
                    ),
                    _ => self.decide(id, format!("health check {outcome}: not taking over")),
                }
            }
            return;
        }
        // A clean result is a state; an error, a kill or garbage is not, and then the
        // service may be half up: nobody knows.
        let (result_state, outcome) = match result {
            Ok(text) => match text.parse::<State>() {
                Ok(state) => (Some(state), format!("returned {state}")),
                Err(_) => (
                    None,
                    format!(
                        "returned {:?}, which is not UP, RECOVER or FAIL",
                        text.trim()
                    ),
                ),
            },
            Err(error) => (None, format!("failed: {error}")),
        };
        self.event(Event::ProcedureFinished {
            service: name,
            kind,
            id: procedure,
            outcome: outcome.clone(),
        });
        let end_in_fail = self.service_mut(id).end_in_fail.clone();
        match (kind, result_state) {
            (ProcedureKind::Stop, None) => {
                // Like a failed stop in Pacemaker, this is the dangerous case: the service
                // may still run here. Publishing FAIL would let another host start it, so
                // it keeps counting as UP and stop is retried every interval until it works.
                let reason = format!(
                    "stop {outcome}; still counted as UP so that no other host starts it, retrying every interval"
                );
                self.change_state(now, id, State::Up, reason.clone(), false);
                self.decide(id, reason);
            }
            (ProcedureKind::Stop, Some(state)) => {
                if let (Some(why), true) = (end_in_fail, state != State::Up) {
                    self.service_mut(id).end_in_fail = None;
                    self.change_state(now, id, State::Fail, format!("{why}; stop {outcome}"), true);
                } else {
                    self.change_state(now, id, state, format!("stop {outcome}"), true);
                }
            }
            (_, None) => {
                // start or reclaim failed: clean up with stop before publishing FAIL, so a
                // half-configured address does not stay up here while a slave takes over.
                let why = format!("{kind} {outcome}");
                if self.shutting_down {
                    // No new procedure during a shutdown: say what is known.
                    self.change_state(now, id, State::Fail, why, true);
                } else {
                    self.service_mut(id).end_in_fail = Some(why.clone());
                    self.run(
                        now,
                        id,
                        ProcedureKind::Stop,
                        format!("{why}: stopping to clean up"),
                    );
                    return;
                }
            }
            (_, Some(State::Up)) if end_in_fail.is_some() => {
                // The operator's FAIL arrived while start ran: it wins, so the service that
                // start just brought up is stopped again.
                let why = end_in_fail.unwrap_or_default();
                self.change_state(now, id, State::Up, format!("{kind} {outcome}"), false);
                if !self.shutting_down {
                    self.run(
                        now,
                        id,
                        ProcedureKind::Stop,
                        format!("{why} while {kind} ran"),
                    );
                    return;
                }
            }
            (_, Some(state)) => {
                // A start that returned RECOVER or FAIL by itself: an operator's FAIL that
                // arrived meanwhile still wins.
                let state = if end_in_fail.is_some() {
                    self.service_mut(id).end_in_fail = None;
                    State::Fail
                } else {
                    state
                };
                self.change_state(now, id, state, format!("{kind} {outcome}"), true);
            }
        }
        if self.shutting_down {
            self.handover_step(now, id);
        }
    }

    /// Records a new local state; `write` also publishes it in the local faild.
    fn change_state(
        &mut self,
        now: Time,
        id: ServiceId,
        state: State,
        reason: String,
        write: bool,
    ) {
        let service = self.service_mut(id);
        let from = service.state;
        service.state = Some(state);
        if from != Some(state) {
            service.last_change = Some(now);
        }
        service.reason = reason.clone();
        let name = service.config.name.clone();
        if from != Some(state) {
            self.event(Event::StateChanged {
                service: name,
                from,
                to: state,
                reason,
            });
        }
        if write {
            self.publish(now, id, state);
        }
    }

    /// Writes `state` into the local faild (a newer write replaces one not yet sent).
    fn publish(&mut self, now: Time, id: ServiceId, state: State) {
        let service = self.service_mut(id);
        service.write_generation += 1;
        service.write = Some(Write {
            state,
            generation: service.write_generation,
            in_flight: None,
        });
        self.send_writes(now);
    }

    // ----- SIGTERM handover ----------------------------------------------------------------

    fn handle_shutdown(&mut self, now: Time, keep_services: bool) {
        if self.shutting_down {
            return;
        }
        self.shutting_down = true;
        self.keep_services = keep_services;
        let longest_ms = self
            .services
            .values()
            .map(|s| s.config.procedure_limit_ms + 2 * s.config.write_timeout_ms())
            .max()
            .unwrap_or(0);
        self.timers
            .set(Timer::Handover, now.plus_ms(longest_ms.max(1)));
        let ids: Vec<ServiceId> = self.services.keys().copied().collect();
        for id in ids {
            self.handover_step(now, id);
        }
        self.check_handover_done();
    }

    fn handover_step(&mut self, now: Time, id: ServiceId) {
        let Some(service) = self.services.get(&id) else {
            return;
        };
        if service.procedure.is_some() {
            return;
        }
        if self.keep_services {
            self.check_handover_done();
            return;
        }
        match (service.handover, service.state) {
            (Handover::None, Some(State::Up)) => {
                self.service_mut(id).handover = Handover::Stopping;
                self.run(
                    now,
                    id,
                    ProcedureKind::Stop,
                    "failsh is shutting down: handing over".to_string(),
                );
            }
            (Handover::Published | Handover::Abandoned, _) => {}
            (Handover::Stopping, Some(State::Up)) => {
                // The handover's stop failed: publishing FAIL would let a slave start the
                // service while it may still run here.
                self.service_mut(id).handover = Handover::Abandoned;
            }
            _ => {
                self.service_mut(id).handover = Handover::Published;
                self.change_state(now, id, State::Fail, "failsh shut down".to_string(), true);
            }
        }
        self.check_handover_done();
    }

    fn check_handover_done(&mut self) {
        if !self.shutting_down || self.exited {
            return;
        }
        if self.keep_services {
            if self
                .services
                .values()
                .all(|s| s.procedure.is_none() && s.write.is_none())
            {
                self.finish_with(true, "services left running (-k)".to_string());
            }
            return;
        }
        let settled = |s: &Service| {
            s.procedure.is_none()
                && (s.handover == Handover::Abandoned
                    || (s.handover == Handover::Published && s.write.is_none()))
        };
        if self.services.values().all(settled) {
            let abandoned = self
                .services
                .values()
                .any(|s| s.handover == Handover::Abandoned);
            self.finish_handover(!abandoned);
        }
    }

    fn finish_handover(&mut self, complete: bool) {
        if self.exited {
            return;
        }
        if self.keep_services {
            self.finish_with(
                complete,
                "services left running (-k); a procedure or a write did not finish in time"
                    .to_string(),
            );
            return;
        }
        let unfinished: Vec<String> = self
            .services
            .values()
            .filter(|s| !(s.handover == Handover::Published && s.write.is_none()))
            .map(|s| {
                if s.handover == Handover::Abandoned {
                    format!("{} (its stop failed: left UP)", s.config.name)
                } else {
                    s.config.name.clone()
                }
            })
            .collect();
        let detail = if unfinished.is_empty() {
            format!("{} services published FAIL", self.services.len())
        } else {
            format!("not confirmed for {}", unfinished.join(", "))
        };
        self.finish_with(complete, detail);
    }

    fn finish_with(&mut self, complete: bool, detail: String) {
        for service in self.services.values() {
            if let Some(procedure) = &service.procedure {
                self.actions
                    .push_back(Action::KillProcedure { id: procedure.id });
            }
        }
        self.event(Event::HandoverComplete { complete, detail });
        self.actions.push_back(Action::Exit);
        self.exited = true;
    }

    fn event(&mut self, event: Event) {
        self.actions.push_back(Action::Event(event));
    }
}

fn service_has_masters(shell: &Shell, id: ServiceId) -> bool {
    shell
        .services
        .get(&id)
        .is_some_and(|s| !s.masters.is_empty())
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

/// A check passes unless it fails or says no: an error, `0`, `false`, `no`, `off`, `FAIL` or
/// `RECOVER` (so a check may return a state or a Tcl boolean).
pub fn check_passes(text: &str) -> bool {
    let word = text.trim();
    !["0", "false", "no", "off", "fail", "recover"]
        .iter()
        .any(|bad| word.eq_ignore_ascii_case(bad))
}
