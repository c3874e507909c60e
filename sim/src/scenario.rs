//! Scenario files: the hosts of one failover group, the network, a timeline of faults and
//! operator actions, and what must hold. `docs/scenarios.md` documents every field.

use failover_core::shell::ProcedureKind;
use failover_core::state::State;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

pub const FORMAT: &str = "failover-scenario";
pub const VERSION: u32 = 1;

/// The service's failover address, as the seed names it (the conversion lost the address).
pub const DEFAULT_SERVICE: &str = "198.18.0.50";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub format: String,
    pub version: u32,
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Seeds the network, the hosts' nonces and boot ids and the stores' challenges.
    #[serde(default)]
    pub seed: u64,
    /// How long to simulate.
    pub duration_ms: u64,
    #[serde(default = "default_service")]
    pub service: String,
    #[serde(default)]
    pub network: Network,
    pub hosts: Vec<HostSpec>,
    #[serde(default)]
    pub events: Vec<TimedEvent>,
    #[serde(default)]
    pub expect: Expectations,
    /// Set on a regression scenario while the core bug it shows is not fixed: the run must
    /// still break an invariant (the test says when it stops doing so).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub known_core_bug: Option<String>,
}

fn default_service() -> String {
    DEFAULT_SERVICE.to_string()
}

/// Message delivery between hosts. A host's failsh reaches its own faild over loopback, which
/// is never delayed or lost.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Network {
    pub latency_ms: u64,
    /// Each message takes `latency_ms + uniform(0..=jitter_ms)`.
    pub jitter_ms: u64,
    /// Probability that a message is lost.
    pub loss: f64,
    /// Probability that a message is delivered twice.
    pub duplicate: f64,
    /// Probability that a message is held back by up to `reorder_ms` more, so that later ones
    /// overtake it.
    pub reorder: f64,
    pub reorder_ms: u64,
}

impl Default for Network {
    fn default() -> Network {
        Network {
            latency_ms: 1,
            jitter_ms: 0,
            loss: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            reorder_ms: 0,
        }
    }
}

impl Network {
    pub fn is_clean(&self) -> bool {
        self.loss <= 0.0 && self.duplicate <= 0.0 && self.reorder <= 0.0
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostSpec {
    pub name: String,
    #[serde(default)]
    pub masters: Vec<String>,
    #[serde(default)]
    pub slaves: Vec<String>,
    pub interval_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    #[serde(default = "one")]
    pub misses: u32,
    #[serde(default = "default_limit_ms")]
    pub procedure_limit_ms: u64,
    /// When the host boots (its faild starts, the boot script registers the service, failsh
    /// starts). `None`: the host is off until a `restart` event.
    #[serde(default = "zero_some")]
    pub boot_at_ms: Option<u64>,
    /// What the boot script registers in faild (the seed's service script `start`: RECOVER).
    /// `None`: nothing, faild keeps what its state file says.
    #[serde(default = "recover_some")]
    pub boot_registers: Option<State>,
    /// This host's clock runs this many millionths faster (negative: slower).
    #[serde(default)]
    pub drift_ppm: i64,
    /// `failsvc S track eth0`: the carrier of the host's link stops the service here and
    /// holds it FAIL while it is down (`link_down` events).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub track: bool,
    /// `failsvc S lease SECONDS`, in milliseconds (whole seconds): the address expires in the
    /// host's kernel unless failsh renews it, and faild's UP lapses to FAIL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_ms: Option<u64>,
    /// `failsvc S fence wait`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fence_wait: bool,
    /// `failsvc S witness HOST...`: the hosts (with `witness`) that complete the group.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub witnesses: Vec<String>,
    /// The host runs only faild (a witness): no failsh, no address, no service of its own.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub witness: bool,
    /// `failsvc S preempt off`: a holder keeps the service when a master returns in
    /// RECOVER.
    #[serde(default = "yes", skip_serializing_if = "is_yes")]
    pub preempt: bool,
    /// `failsvc S preempt_delay`, in milliseconds.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub preempt_delay_ms: u64,
    /// `failsvc S startup_delay`, in milliseconds.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub startup_delay_ms: u64,
    /// `failsvc S rise N` and `fall N` for the health check.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub check_rise: u32,
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub check_fall: u32,
    #[serde(default)]
    pub procedures: Procedures,
}

fn one() -> u32 {
    1
}
fn is_one(value: &u32) -> bool {
    *value == 1
}
fn yes() -> bool {
    true
}
fn is_yes(value: &bool) -> bool {
    *value
}
fn is_zero(value: &u64) -> bool {
    *value == 0
}
fn default_limit_ms() -> u64 {
    failover_core::shell::DEFAULT_PROCEDURE_LIMIT_MS
}
fn zero_some() -> Option<u64> {
    Some(0)
}
fn recover_some() -> Option<State> {
    Some(State::Recover)
}

impl HostSpec {
    /// A host with the seed's defaults.
    pub fn new(name: &str, masters: &[&str], slaves: &[&str], interval_ms: u64) -> HostSpec {
        HostSpec {
            name: name.to_string(),
            masters: masters.iter().map(|s| s.to_string()).collect(),
            slaves: slaves.iter().map(|s| s.to_string()).collect(),
            interval_ms,
            timeout_ms: None,
            misses: 1,
            procedure_limit_ms: default_limit_ms(),
            boot_at_ms: Some(0),
            boot_registers: Some(State::Recover),
            drift_ppm: 0,
            track: false,
            lease_ms: None,
            fence_wait: false,
            witnesses: Vec::new(),
            witness: false,
            preempt: true,
            preempt_delay_ms: 0,
            startup_delay_ms: 0,
            check_rise: 1,
            check_fall: 1,
            procedures: Procedures::default(),
        }
    }

    pub fn timeout_ms(&self) -> u64 {
        self.timeout_ms.unwrap_or(self.interval_ms)
    }

    /// The procedure for `kind`, with the seed's defaults: start and reclaim return UP, stop
    /// returns FAIL on a host without masters and RECOVER on a slave.
    pub fn procedure(&self, kind: ProcedureKind) -> Procedure {
        let given = match kind {
            ProcedureKind::Start => &self.procedures.start,
            ProcedureKind::Stop => &self.procedures.stop,
            ProcedureKind::Reclaim => &self.procedures.reclaim,
            ProcedureKind::Check => &self.procedures.check,
        };
        given.clone().unwrap_or_else(|| {
            let returns = match kind {
                ProcedureKind::Stop if self.masters.is_empty() => "FAIL",
                ProcedureKind::Stop => "RECOVER",
                ProcedureKind::Check => "1",
                _ => "UP",
            };
            Procedure::returning(returns, 10)
        })
    }
}

/// start/stop/reclaim/check behaviours; a missing one gets the seed's default. `reclaim` is
/// configured unless `has_reclaim` is false (the seed's configurations have one).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Procedures {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<Procedure>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop: Option<Procedure>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reclaim: Option<Procedure>,
    /// A health check; configured only when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check: Option<Procedure>,
    pub has_reclaim: bool,
}

impl Default for Procedures {
    fn default() -> Procedures {
        Procedures {
            start: None,
            stop: None,
            reclaim: None,
            check: None,
            has_reclaim: true,
        }
    }
}

/// How a procedure behaves when it runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Procedure {
    /// How long it runs (host time is not involved: a script takes wall time).
    #[serde(default)]
    pub duration_ms: u64,
    /// What it returns (its Tcl result); may be garbage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub returns: Option<String>,
    /// It fails with this error (a Tcl error, an exit status) instead of returning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fails: Option<String>,
    /// It never finishes: only the time limit ends it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hangs: bool,
    /// Whether a procedure that fails still did its work on the address (for example an
    /// `ifconfig down` that succeeded before a later command failed).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub effect_on_failure: bool,
    /// With `fails`: only the first this many runs of this host fail (since it booted);
    /// later runs return `returns`. Absent: every run fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fails_times: Option<u32>,
}

impl Procedure {
    pub fn returning(text: &str, duration_ms: u64) -> Procedure {
        Procedure {
            duration_ms,
            returns: Some(text.to_string()),
            fails: None,
            hangs: false,
            effect_on_failure: false,
            fails_times: None,
        }
    }
}

/// `deny_unknown_fields` does not work with `flatten`; the tagged action rejects unknown
/// kinds, and its fields are checked by their own types.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TimedEvent {
    pub at_ms: u64,
    #[serde(flatten)]
    pub action: EventAction,
}

/// What happens at a point of the timeline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "do", rename_all = "snake_case")]
pub enum EventAction {
    /// The machine dies: its address, failsh and faild are gone; the state file stays.
    Crash {
        host: String,
    },
    /// The machine boots: faild reads its state file (new boot id), the boot script
    /// registers the service, failsh starts with an empty memory.
    Restart {
        host: String,
    },
    /// A frozen VM: nothing it does happens until `resume`; messages to it are lost.
    Pause {
        host: String,
    },
    Resume {
        host: String,
    },
    /// Messages from every host of `from` to every host of `to` are lost; also back unless
    /// `one_way`.
    Partition {
        from: Vec<String>,
        to: Vec<String>,
        #[serde(default)]
        one_way: bool,
    },
    /// Every partition ends.
    Heal,
    /// New network settings (for example loss starts or stops).
    Network(Network),
    /// A procedure of a host behaves differently from now on.
    SetProcedure {
        host: String,
        kind: ProcedureKind,
        procedure: Procedure,
    },
    /// `failc -s STATE SERVICE` run by an operator on `host` against its own faild.
    Failc {
        host: String,
        state: State,
    },
    /// The service script's `fail`: the address goes down, then `failc -s FAIL`.
    Fail {
        host: String,
    },
    /// The address goes down and faild is told nothing: the first half of the service
    /// script's `fail` (its `failc` is a process, tens of milliseconds later: a `failc` event),
    /// or an administrator's `ip addr del`.
    RemoveAddress {
        host: String,
    },
    /// The service script's `recover`: `failc -s RECOVER`; with `if_fail`, only when faild
    /// says FAIL (an operator who looked at failstat first).
    Recover {
        host: String,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        if_fail: bool,
    },
    /// SIGTERM to failsh (`keep_services`: `-k`).
    Shutdown {
        host: String,
        #[serde(default)]
        keep_services: bool,
    },
    /// The host's link loses its carrier (a cut cable, a switch port down): nothing reaches
    /// it or leaves it, and its failsh hears of it from the kernel if it tracks the link.
    LinkDown {
        host: String,
    },
    LinkUp {
        host: String,
    },
    /// SIGKILL of faild, failsh and the shell that supervises them: the machine runs on and
    /// its address stays until its kernel lease (if any) runs out.
    KillDaemons {
        host: String,
    },
    /// failsh stops (SIGSTOP, a deadlock) while faild goes on answering.
    HangFailsh {
        host: String,
    },
    ResumeFailsh {
        host: String,
    },
    /// faild stops answering (SIGSTOP, swapped out): requests wait in its sockets and are
    /// answered, in order, when it resumes.
    StallFaild {
        host: String,
    },
    ResumeFaild {
        host: String,
    },
    /// faild's state file cannot be written (disk full) / can again.
    DiskFull {
        host: String,
    },
    DiskOk {
        host: String,
    },
}

impl EventAction {
    /// One line for the timeline.
    pub fn describe(&self) -> String {
        match self {
            EventAction::Crash { host } => format!("{host} crashes"),
            EventAction::Restart { host } => format!("{host} boots"),
            EventAction::Pause { host } => format!("{host} is frozen"),
            EventAction::Resume { host } => format!("{host} resumes"),
            EventAction::Partition { from, to, one_way } => format!(
                "partition {} {} {}",
                from.join(","),
                if *one_way { "->" } else { "<->" },
                to.join(",")
            ),
            EventAction::Heal => "every partition heals".to_string(),
            EventAction::Network(n) => format!(
                "network: latency {} ms, jitter {} ms, loss {}, duplicate {}, reorder {}",
                n.latency_ms, n.jitter_ms, n.loss, n.duplicate, n.reorder
            ),
            EventAction::SetProcedure {
                host,
                kind,
                procedure,
            } => format!("{host}: {kind} now behaves as {procedure:?}"),
            EventAction::Failc { host, state } => format!("operator on {host}: failc -s {state}"),
            EventAction::Fail { host } => format!("operator on {host}: service script fail"),
            EventAction::RemoveAddress { host } => {
                format!("{host}: the address is taken off (ip addr del), faild is not told")
            }
            EventAction::Recover { host, if_fail } => format!(
                "operator on {host}: service script recover{}",
                if *if_fail { " (if FAIL)" } else { "" }
            ),
            EventAction::Shutdown {
                host,
                keep_services,
            } => format!(
                "{host}: SIGTERM to failsh{}",
                if *keep_services { " (-k)" } else { "" }
            ),
            EventAction::LinkDown { host } => format!("{host}: link carrier lost"),
            EventAction::LinkUp { host } => format!("{host}: link carrier back"),
            EventAction::KillDaemons { host } => {
                format!("{host}: SIGKILL of faild, failsh and their supervisor")
            }
            EventAction::HangFailsh { host } => format!("{host}: failsh hangs"),
            EventAction::ResumeFailsh { host } => format!("{host}: failsh runs again"),
            EventAction::StallFaild { host } => format!("{host}: faild stalls"),
            EventAction::ResumeFaild { host } => format!("{host}: faild runs again"),
            EventAction::DiskFull { host } => format!("{host}: faild's disk is full"),
            EventAction::DiskOk { host } => format!("{host}: faild's disk has room again"),
        }
    }
}

/// What must hold. `by_ms` and `runs` are checked at their time and at the end; the
/// invariants of `always` after every event of the run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Expectations {
    pub by_ms: Vec<ByMs>,
    pub between_ms: Vec<Allowance>,
    pub always: Always,
    /// How many times a host ran a procedure over the whole run.
    pub runs: Vec<Runs>,
    /// How many times a host's failsh reset the connections on the address (after the
    /// service moved away) over the whole run.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resets: Vec<Resets>,
}

/// `expect.resets`: a host's count of connection resets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resets {
    pub host: String,
    pub count: u32,
}

/// The state of every named host at `at_ms` (before the events of that millisecond).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ByMs {
    pub at_ms: u64,
    /// Host -> UP, RECOVER, FAIL, NONE (failsh knows no state yet) or DOWN (host is off).
    #[serde(default)]
    pub states: BTreeMap<String, String>,
    /// The hosts that hold the address, exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vip: Option<Vec<String>>,
    /// The host the observer's ARP cache points at (`null` in the list form is not allowed:
    /// leave the field out to not check it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observer: Option<String>,
}

/// An invariant that may be broken between `from_ms` and `to_ms` (a known, accepted
/// consequence of the scenario, explained in its description).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Allowance {
    pub from_ms: u64,
    pub to_ms: u64,
    pub allow: Vec<Invariant>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Runs {
    pub host: String,
    pub kind: ProcedureKind,
    pub count: u32,
}

/// The invariants checked after every event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Invariant {
    /// No two hosts UP (or holding the address) once they reached each other for longer than
    /// `split_brain_ms`.
    SplitBrain,
    /// A host holds the address exactly when it is UP, except for `vip_ms`.
    VipFollowsUp,
    /// The observer reaches the one UP host within `observer_ms` of a change.
    ObserverReachesUp,
    /// `liveness_ms` after the last event: exactly one host UP (or none, with
    /// `expect_all_fail`), holding the address, and the observer reaching it.
    Liveness,
    /// No state change once the group has settled after the last event.
    NoFlapping,
    /// After a timeout at `t`, the decision machine's next timeout is after `t`.
    TimersAdvance,
    /// Every `by_ms` and `runs` expectation.
    Expectation,
    /// No two hosts hold the address for longer than `dual_ms`, connected or not: the
    /// promise of `track` and `lease` (`docs/design.md`, the fault table).
    DualHolding,
    /// A host resets the connections on the address only when it does not hold it, and,
    /// unless its failsh is exiting, once another host held it after it (clients reconnect
    /// to that host).
    ResetAfterTakeover,
}

impl fmt::Display for Invariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Invariant::SplitBrain => "split_brain",
            Invariant::VipFollowsUp => "vip_follows_up",
            Invariant::ObserverReachesUp => "observer_reaches_up",
            Invariant::Liveness => "liveness",
            Invariant::NoFlapping => "no_flapping",
            Invariant::TimersAdvance => "timers_advance",
            Invariant::Expectation => "expectation",
            Invariant::DualHolding => "dual_holding",
            Invariant::ResetAfterTakeover => "reset_after_takeover",
        })
    }
}

/// Which invariants hold for the whole run, with bounds (`None`: derived from the hosts'
/// intervals, timeouts, misses and procedure durations, see `docs/scenarios.md`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Always {
    pub check: Vec<Invariant>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub split_brain_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vip_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observer_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub liveness_ms: Option<u64>,
    /// The longest two hosts may hold the address at once (`None`: derived from the faults,
    /// and only where the hosts' `track` and `lease` promise one; see docs/scenarios.md).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dual_ms: Option<u64>,
    /// After the last event every host ends FAIL (nobody may start the service).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub expect_all_fail: bool,
}

impl Default for Always {
    fn default() -> Always {
        Always {
            check: vec![
                Invariant::SplitBrain,
                Invariant::VipFollowsUp,
                Invariant::ObserverReachesUp,
                Invariant::Liveness,
                Invariant::NoFlapping,
                Invariant::TimersAdvance,
                Invariant::Expectation,
                Invariant::DualHolding,
                Invariant::ResetAfterTakeover,
            ],
            split_brain_ms: None,
            vip_ms: None,
            observer_ms: None,
            liveness_ms: None,
            dual_ms: None,
            expect_all_fail: false,
        }
    }
}

/// A scenario file that cannot be used, with where and why.
#[derive(Debug)]
pub struct ScenarioError(pub String);

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ScenarioError {}

impl Scenario {
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ScenarioError(format!("{}: cannot read: {e}", path.display())))?;
        Scenario::parse(&text).map_err(|e| ScenarioError(format!("{}: {}", path.display(), e.0)))
    }

    pub fn parse(text: &str) -> Result<Scenario, ScenarioError> {
        let scenario: Scenario = serde_json::from_str(text).map_err(|e| {
            ScenarioError(format!(
                "line {} column {}: {e} (expected a {FORMAT} version {VERSION} object, see docs/scenarios.md)",
                e.line(),
                e.column()
            ))
        })?;
        scenario.validate()?;
        Ok(scenario)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    pub fn host_index(&self, name: &str) -> Option<usize> {
        self.hosts.iter().position(|h| h.name == name)
    }

    pub fn validate(&self) -> Result<(), ScenarioError> {
        let fail = |m: String| Err(ScenarioError(m));
        if self.format != FORMAT {
            return fail(format!(
                "\"format\" is \"{}\", expected \"{FORMAT}\"",
                self.format
            ));
        }
        if self.version != VERSION {
            return fail(format!(
                "\"version\" is {}, expected {VERSION}",
                self.version
            ));
        }
        if self.hosts.is_empty() {
            return fail("\"hosts\" must name at least one host".to_string());
        }
        for (i, host) in self.hosts.iter().enumerate() {
            if self.hosts[..i].iter().any(|h| h.name == host.name) {
                return fail(format!("host {} is defined twice", host.name));
            }
            if host.name == "localhost" {
                return fail("\"localhost\" is the local faild's name, not a host".to_string());
            }
            for peer in host.masters.iter().chain(&host.slaves) {
                if self.host_index(peer).is_none() {
                    return fail(format!(
                        "host {}: master/slave {peer} is not among \"hosts\"",
                        host.name
                    ));
                }
            }
            for witness in &host.witnesses {
                match self.host_index(witness) {
                    Some(index) if self.hosts[index].witness => {}
                    Some(_) => {
                        return fail(format!(
                            "host {}: witness {witness} must say \"witness\": true (it runs only faild)",
                            host.name
                        ))
                    }
                    None => {
                        return fail(format!(
                            "host {}: witness {witness} is not among \"hosts\"",
                            host.name
                        ))
                    }
                }
            }
            if host.interval_ms == 0 || host.misses == 0 || host.procedure_limit_ms == 0 {
                return fail(format!(
                    "host {}: interval_ms, misses and procedure_limit_ms must be at least 1",
                    host.name
                ));
            }
            if let Some(lease_ms) = host.lease_ms {
                if lease_ms < 1000 || lease_ms % 1000 != 0 {
                    return fail(format!(
                        "host {}: lease_ms must be a whole number of seconds, at least 1000",
                        host.name
                    ));
                }
            }
            if host.fence_wait && host.lease_ms.is_none() {
                return fail(format!("host {}: fence_wait needs lease_ms", host.name));
            }
            if host.drift_ppm <= -500_000 || host.drift_ppm >= 500_000 {
                return fail(format!(
                    "host {}: drift_ppm must be between -499999 and 499999",
                    host.name
                ));
            }
        }
        for (i, event) in self.events.iter().enumerate() {
            let names: Vec<&String> = match &event.action {
                EventAction::Crash { host }
                | EventAction::Restart { host }
                | EventAction::Pause { host }
                | EventAction::Resume { host }
                | EventAction::SetProcedure { host, .. }
                | EventAction::Failc { host, .. }
                | EventAction::Fail { host }
                | EventAction::RemoveAddress { host }
                | EventAction::Recover { host, .. }
                | EventAction::Shutdown { host, .. }
                | EventAction::LinkDown { host }
                | EventAction::LinkUp { host }
                | EventAction::KillDaemons { host }
                | EventAction::HangFailsh { host }
                | EventAction::ResumeFailsh { host }
                | EventAction::StallFaild { host }
                | EventAction::ResumeFaild { host }
                | EventAction::DiskFull { host }
                | EventAction::DiskOk { host } => vec![host],
                EventAction::Partition { from, to, .. } => from.iter().chain(to).collect(),
                EventAction::Heal | EventAction::Network(_) => Vec::new(),
            };
            for name in names {
                if self.host_index(name).is_none() {
                    return fail(format!(
                        "events[{i}] (at_ms {}): host {name} is not among \"hosts\"",
                        event.at_ms
                    ));
                }
            }
        }
        for (i, check) in self.expect.by_ms.iter().enumerate() {
            for (name, state) in &check.states {
                if self.host_index(name).is_none() {
                    return fail(format!(
                        "expect.by_ms[{i}]: host {name} is not among \"hosts\""
                    ));
                }
                if !["UP", "RECOVER", "FAIL", "NONE", "DOWN"].contains(&state.as_str()) {
                    return fail(format!(
                        "expect.by_ms[{i}]: state \"{state}\" of {name}: expected UP, RECOVER, FAIL, NONE or DOWN"
                    ));
                }
            }
        }
        Ok(())
    }

    /// The time of the last timeline event: the faults stop there.
    pub fn last_event_ms(&self) -> u64 {
        self.events.iter().map(|e| e.at_ms).max().unwrap_or(0)
    }
}
