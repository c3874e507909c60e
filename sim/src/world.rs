//! The discrete-event world: hosts running the real faild store and failsh decision machine
//! behind the same drivers both runtimes use (`failover_core::drive`),
//! talking through the real wire codec over a simulated network, on virtual time ordered by
//! `(time, sequence)`. Everything random comes from named streams of the scenario's seed, so a
//! run is a pure function of its scenario.

use crate::check::{Bounds, Checker, HostView};
use crate::hash::Fnv64;
use crate::scenario::{EventAction, HostSpec, Network, Scenario, TimedEvent};
use crate::trace::TraceRecorder;
use failover_core::client::{SetFlow, SetNext};
use failover_core::community::Communities;
use failover_core::drive::faild::{Driver, FaildHooks};
use failover_core::drive::shell::{
    Message, ProcedureCompletion, ShellDriver, ShellHooks, ShellOptions, Transports,
};
use failover_core::rng::Rng;
use failover_core::shell::{
    Action, Destination, Event, HostConfig, Input, ProcedureId, ProcedureKind, ProcedureNames,
    Protocol, ServiceConfig, Shell, ShellConfig, STARTING_NOTE,
};
use failover_core::state::State;
use failover_core::store::{Peer, ServiceRecord, Store, StoreConfig, StoreEvent};
use failover_core::time::Time;
use failover_core::wire::{self, Nonce};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The name under which every failsh reaches its own faild (the seed's configurations).
pub const LOCAL_HOST: &str = "localhost";
/// Read-only community for the peers, read-write only from loopback (failsh's own writes and
/// the operator's failc).
pub const PEER_COMMUNITY: &str = "public";
pub const LOCAL_COMMUNITY: &str = "private";
const COMMUNITY_FILE: &str = "* public RO\n* private RW 127.0.0.0/8\n";
/// faild's clock is wall-clock milliseconds; hosts agree on the epoch only roughly.
const WALL_EPOCH_MS: u64 = 1_700_000_000_000;
/// The interface a host with `track` tracks: its one link.
pub const TRACKED_INTERFACE: &str = "eth0";
/// How late the kernel removes an address whose lifetime ran out, at most (measured on Linux
/// 6.18 after a renewal: 2 to 218 ms; its lifetime worker rounds up to a whole second when
/// that is within a quarter second).
pub const KERNEL_LAG_MS: u64 = 250;

/// How much the world writes down as it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// Only violations (random exploration, benchmarks).
    Quiet,
    /// State changes, procedures, reachability, scenario events.
    Timeline,
    /// Also every decision and store event.
    Verbose,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    pub at_ms: u64,
    pub host: Option<String>,
    pub text: String,
    /// Every host's state after the line, e.g. `lukretia=UP* macbeth=RECOVER`.
    pub states: String,
}

/// A stretch of time in which a fault was active, for the SVG.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultSpan {
    pub from_ms: u64,
    pub to_ms: u64,
    /// `None`: the whole group (network faults).
    pub host: Option<usize>,
    pub label: String,
}

/// What a host looks like at some instant, for the SVG.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Look {
    pub state: Option<State>,
    pub powered: bool,
    pub paused: bool,
    pub vip: bool,
}

#[derive(Debug)]
enum Ev {
    Boot {
        host: usize,
    },
    Wake {
        host: usize,
        incarnation: u64,
    },
    Request {
        to: usize,
        from: usize,
        from_incarnation: u64,
        bytes: Vec<u8>,
        loopback: bool,
    },
    Reply {
        to: usize,
        from: usize,
        incarnation: u64,
        bytes: Vec<u8>,
        loopback: bool,
    },
    /// The kernel of a host whose faild is not running refused the request (a TCP reset,
    /// an ICMP port unreachable on a connected UDP socket): the sender knows at once.
    Refused {
        to: usize,
        from: usize,
        incarnation: u64,
        nonce: Nonce,
        loopback: bool,
    },
    ProcedureDone {
        host: usize,
        incarnation: u64,
        id: ProcedureId,
        kind: ProcedureKind,
        result: Result<String, String>,
        effect_on_failure: bool,
    },
    Timeline(usize),
    Expect(usize),
    /// A lease of the host's faild may have run out.
    StoreWake {
        host: usize,
        incarnation: u64,
    },
    /// The lifetime of the address in the host's kernel may have run out.
    VipExpiry {
        host: usize,
        incarnation: u64,
    },
}

#[derive(Debug)]
struct Running {
    kind: ProcedureKind,
    /// The queue key of its completion; `None` while it hangs (or while its host is frozen).
    done: Option<(u64, u64)>,
}

#[derive(Debug)]
struct SimHost {
    spec: HostSpec,
    address: IpAddr,
    powered: bool,
    paused_at: Option<u64>,
    incarnation: u64,
    /// faild: the store behind the same driver both runtimes use, persisting to `disk`.
    store: Option<Driver>,
    /// The state file and whether the disk is full, shared with faild's persist hook.
    disk: Rc<RefCell<Disk>>,
    /// failsh: the core behind the same driver both runtimes use, performing its actions
    /// through [`SimTransports`] and [`SimHooks`].
    shell: Option<ShellDriver>,
    shell_config: ShellConfig,
    wake: Option<(u64, u64)>,
    /// Events that fell due while the host was frozen, with their original time.
    frozen: Vec<(u64, Ev)>,
    procedures: BTreeMap<ProcedureId, Running>,
    holds_vip: bool,
    /// failsh's `ipaddr add` gave the address a lease and no `ipaddr del` took it away: a
    /// renewal then puts it back if the kernel let it lapse (as failsh's AddressLeases do).
    vip_leased: bool,
    /// When the kernel removes the address (`lease_ms`), in world time.
    vip_expires_at: Option<u64>,
    /// A renewal ran while a stop procedure ran: on a real host it can land after the stop's
    /// `ipaddr del` (they run on different threads) and put the address back, which then
    /// stays until its kernel lifetime ends. The core must never ask for one then.
    renewed_during_stop: bool,
    /// When faild last acknowledged the service's UP with its lease (`LeaseConfirmed`), in
    /// world time: a start's `ipaddr add` is refused once that is older than the lease, as
    /// failsh's AddressLeases refuse it.
    lease_confirmed_ms: Option<u64>,
    clock_offset_ms: u64,
    rng: Rng,
    /// Since when the host is powered and not frozen.
    up_since_ms: u64,
    runs: BTreeMap<ProcedureKind, u32>,
    /// How many times its failsh reset the connections on the address.
    resets: u32,
    /// The last moment (after an event) it held the address.
    last_held_ms: Option<u64>,
    /// The carrier of its link.
    link_up: bool,
    /// failsh hangs: what it would have been told waits (procedure results, carrier changes).
    failsh_hung: bool,
    hung_inputs: Vec<(u64, Ev)>,
    hung_links: Vec<bool>,
    /// faild stalls: requests wait in its sockets, in order.
    faild_stalled: bool,
    stalled_requests: Vec<Ev>,
    store_wake: Option<(u64, u64)>,
    /// What faild's driver reported since the world last looked.
    store_events: Rc<RefCell<Vec<StoreEvent>>>,
}

/// A host's disk as faild's persist hook sees it.
#[derive(Debug, Default)]
struct Disk {
    /// ENOSPC for every write (`disk-full`).
    full: bool,
    /// What the state file holds: the last records faild persisted.
    state_file: Vec<ServiceRecord>,
}

/// The result of a run.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub name: String,
    pub seed: u64,
    pub end_ms: u64,
    pub violations: Vec<crate::check::Violation>,
    /// The longest two hosts held the address at once (ms).
    pub max_dual_ms: u64,
    /// FNV-1a 64 of every decision (each Shell action as JSON, with host and time).
    pub decision_hash: u64,
    pub decisions: u64,
    pub events: u64,
    pub log: Vec<LogLine>,
    pub looks: Vec<(u64, usize, Look)>,
    pub faults: Vec<FaultSpan>,
    pub host_names: Vec<String>,
    pub traces: Vec<(String, Vec<String>)>,
}

impl Outcome {
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }
}

#[derive(Debug)]
pub struct World {
    scenario: Scenario,
    now_ms: u64,
    seq: u64,
    queue: BTreeMap<(u64, u64), Ev>,
    hosts: Vec<SimHost>,
    network: Network,
    /// Directed links that lose everything: (from, to).
    blocked: BTreeSet<(usize, usize)>,
    net_rng: Rng,
    /// The host the observer's ARP cache points at.
    observer: Option<usize>,
    checker: Checker,
    hash: Fnv64,
    decisions: u64,
    /// What failsh's driver asked while handling an input, and the buffer it is carried out
    /// from (both kept to reuse their allocations).
    effects: Effects,
    performed: Vec<Effect>,
    events: u64,
    log_level: LogLevel,
    log: Vec<LogLine>,
    looks: Vec<(u64, usize, Look)>,
    last_looks: Vec<Option<Look>>,
    faults: Vec<FaultSpan>,
    open_faults: BTreeMap<String, (u64, Option<usize>)>,
    recorder: Option<TraceRecorder>,
}

impl World {
    pub fn new(scenario: Scenario, log_level: LogLevel, record_traces: bool) -> World {
        let seed = scenario.seed;
        let mut setup = Rng::new(seed, "world-setup");
        let hosts: Vec<SimHost> = scenario
            .hosts
            .iter()
            .enumerate()
            .map(|(i, spec)| SimHost {
                spec: spec.clone(),
                address: IpAddr::V4(Ipv4Addr::new(198, 18, 0, 10 + i as u8)),
                powered: false,
                paused_at: None,
                incarnation: 0,
                store: None,
                disk: Rc::default(),
                shell: None,
                shell_config: shell_config(&scenario, spec),
                wake: None,
                frozen: Vec::new(),
                procedures: BTreeMap::new(),
                holds_vip: false,
                vip_leased: false,
                renewed_during_stop: false,
                lease_confirmed_ms: None,
                vip_expires_at: None,
                // Hosts disagree about time: nothing may assume a shared clock.
                clock_offset_ms: setup.below(1_000_000),
                rng: Rng::new(seed, &format!("host-{}", spec.name)),
                up_since_ms: 0,
                runs: BTreeMap::new(),
                resets: 0,
                last_held_ms: None,
                link_up: true,
                failsh_hung: false,
                hung_inputs: Vec::new(),
                hung_links: Vec::new(),
                faild_stalled: false,
                stalled_requests: Vec::new(),
                store_wake: None,
                store_events: Rc::default(),
            })
            .collect();
        let bounds = Bounds::for_scenario(&scenario);
        let checker = Checker::new(&scenario, bounds);
        let host_count = hosts.len();
        let mut world = World {
            network: scenario.network.clone(),
            now_ms: 0,
            seq: 0,
            queue: BTreeMap::new(),
            hosts,
            blocked: BTreeSet::new(),
            net_rng: Rng::new(seed, "network"),
            observer: None,
            checker,
            hash: Fnv64::new(),
            effects: Effects::default(),
            performed: Vec::new(),
            decisions: 0,
            events: 0,
            log_level,
            log: Vec::new(),
            looks: Vec::new(),
            last_looks: vec![None; host_count],
            faults: Vec::new(),
            open_faults: BTreeMap::new(),
            recorder: record_traces.then(|| TraceRecorder::new(seed)),
            scenario,
        };
        for i in 0..host_count {
            if let Some(at) = world.hosts[i].spec.boot_at_ms {
                world.schedule(at, Ev::Boot { host: i });
            }
        }
        for i in 0..world.scenario.events.len() {
            let at = world.scenario.events[i].at_ms;
            world.schedule(at, Ev::Timeline(i));
        }
        for i in 0..world.scenario.expect.by_ms.len() {
            let at = world.scenario.expect.by_ms[i].at_ms;
            world.schedule(at, Ev::Expect(i));
        }
        if !world.network.is_clean() {
            world.open_fault("network".to_string(), None);
        }
        world
    }

    pub fn bounds(&self) -> Bounds {
        self.checker.bounds
    }

    /// Runs to the scenario's end and checks everything.
    pub fn run(mut self) -> Outcome {
        let end_ms = self.scenario.duration_ms;
        while let Some((&(at, seq), _)) = self.queue.first_key_value() {
            if at > end_ms {
                break;
            }
            let ev = self.queue.remove(&(at, seq)).expect("key just seen");
            self.now_ms = at;
            self.events += 1;
            self.dispatch(ev);
            self.after_event();
        }
        self.now_ms = end_ms;
        self.after_event();
        let views = self.views();
        let runs: Vec<BTreeMap<ProcedureKind, u32>> =
            self.hosts.iter().map(|h| h.runs.clone()).collect();
        let resets: Vec<u32> = self.hosts.iter().map(|h| h.resets).collect();
        self.checker.finish(
            end_ms,
            &views,
            &runs,
            &resets,
            self.observer,
            &self.scenario,
        );
        let open: Vec<String> = self.open_faults.keys().cloned().collect();
        for key in open {
            self.close_fault(&key);
        }
        Outcome {
            name: self.scenario.name.clone(),
            seed: self.scenario.seed,
            end_ms,
            violations: self.checker.violations.clone(),
            max_dual_ms: self.checker.max_dual_ms,
            decision_hash: self.hash.finish(),
            decisions: self.decisions,
            events: self.events,
            log: self.log,
            looks: self.looks,
            faults: self.faults,
            host_names: self.hosts.iter().map(|h| h.spec.name.clone()).collect(),
            traces: self.recorder.map(|r| r.finish()).unwrap_or_default(),
        }
    }

    fn schedule(&mut self, at_ms: u64, ev: Ev) -> (u64, u64) {
        let key = (at_ms, self.seq);
        self.seq += 1;
        self.queue.insert(key, ev);
        key
    }

    // ----- clocks ----------------------------------------------------------------------------

    /// A host's monotonic clock at world time `world_ms`: offset, then drift.
    fn local_at(&self, host: usize, world_ms: u64) -> u64 {
        let h = &self.hosts[host];
        let drift = (i128::from(world_ms) * i128::from(h.spec.drift_ppm)).div_euclid(1_000_000);
        (i128::from(h.clock_offset_ms) + i128::from(world_ms) + drift) as u64
    }

    fn local_now(&self, host: usize) -> Time {
        Time(self.local_at(host, self.now_ms))
    }

    /// The first world time at which the host's clock reads at least `local_ms`.
    fn world_for_local(&self, host: usize, local_ms: u64) -> u64 {
        let h = &self.hosts[host];
        let span = i128::from(local_ms) - i128::from(h.clock_offset_ms);
        let guess = (span * 1_000_000).div_euclid(1_000_000 + i128::from(h.spec.drift_ppm));
        let mut world = guess.max(0) as u64;
        while world > 0 && self.local_at(host, world - 1) >= local_ms {
            world -= 1;
        }
        while self.local_at(host, world) < local_ms {
            world += 1;
        }
        world
    }

    fn wall_now(&self, host: usize) -> Time {
        Time(WALL_EPOCH_MS + self.local_at(host, self.now_ms))
    }

    // ----- dispatch --------------------------------------------------------------------------

    fn event_host(ev: &Ev) -> Option<usize> {
        match ev {
            Ev::Wake { host, .. }
            | Ev::ProcedureDone { host, .. }
            | Ev::StoreWake { host, .. }
            | Ev::VipExpiry { host, .. } => Some(*host),
            Ev::Request { to, .. } | Ev::Reply { to, .. } | Ev::Refused { to, .. } => Some(*to),
            Ev::Boot { .. } | Ev::Timeline(_) | Ev::Expect(_) => None,
        }
    }

    fn dispatch(&mut self, ev: Ev) {
        if let Some(host) = Self::event_host(&ev) {
            if self.hosts[host].paused_at.is_some() {
                self.while_frozen(host, ev);
                return;
            }
            if self.hosts[host].failsh_hung
                && matches!(
                    ev,
                    Ev::Wake { .. }
                        | Ev::Reply { .. }
                        | Ev::Refused { .. }
                        | Ev::ProcedureDone { .. }
                )
            {
                self.while_hung(host, ev);
                return;
            }
            if self.hosts[host].faild_stalled && matches!(ev, Ev::Request { .. }) {
                self.hosts[host].stalled_requests.push(ev);
                return;
            }
        }
        match ev {
            Ev::Boot { host } => self.boot(host),
            Ev::Wake { host, incarnation } => {
                if self.hosts[host].incarnation == incarnation {
                    self.hosts[host].wake = None;
                    self.feed(host, Input::Timeout);
                }
            }
            Ev::Request {
                to,
                from,
                from_incarnation,
                bytes,
                loopback,
            } => self.deliver_request(to, from, from_incarnation, bytes, loopback),
            Ev::Reply {
                to,
                from,
                incarnation,
                bytes,
                loopback,
            } => {
                let host = &self.hosts[to];
                if !host.powered || host.incarnation != incarnation || host.shell.is_none() {
                    return;
                }
                // A link cut while the reply was on its way loses it.
                if !loopback && !self.link_passes(from, to) {
                    self.checker.disrupted(self.now_ms, from, to);
                    return;
                }
                self.feed(to, Input::Received { bytes });
            }
            Ev::Refused {
                to,
                from,
                incarnation,
                nonce,
                loopback,
            } => {
                let host = &self.hosts[to];
                if !host.powered || host.incarnation != incarnation || host.shell.is_none() {
                    return;
                }
                if !loopback && !self.link_passes(from, to) {
                    return;
                }
                let error = "Connection refused (os error 111)".to_string();
                self.feed(to, Input::SendFailed { nonce, error });
            }
            Ev::ProcedureDone {
                host,
                incarnation,
                id,
                kind,
                result,
                effect_on_failure,
            } => {
                if self.hosts[host].incarnation != incarnation
                    || self.hosts[host].procedures.remove(&id).is_none()
                {
                    return;
                }
                // `ipaddr add` under a lease whose last acknowledgement by faild is older
                // than the lease is refused (failsh's AddressLeases::may_add).
                let h = &self.hosts[host];
                let lapsed = kind == ProcedureKind::Start
                    && h.spec.lease_ms.is_some_and(|lease_ms| {
                        h.lease_confirmed_ms
                            .is_some_and(|at| self.now_ms.saturating_sub(at) > lease_ms)
                    });
                let (result, effect_on_failure) = if lapsed {
                    self.note(
                        Some(host),
                        "start: ipaddr add refused, the lease was last acknowledged longer ago than the lease".to_string(),
                    );
                    (
                        Err("not adding the address: the lease lapsed".to_string()),
                        false,
                    )
                } else {
                    (result, effect_on_failure)
                };
                self.procedure_effect(host, kind, &result, effect_on_failure);
                self.feed(host, Input::ProcedureDone { id, result });
            }
            Ev::Timeline(index) => {
                let event = self.scenario.events[index].clone();
                self.apply_event(&event);
            }
            Ev::Expect(index) => {
                let views = self.views();
                self.checker
                    .expect_by(self.now_ms, index, &views, self.observer, &self.scenario);
            }
            Ev::StoreWake { host, incarnation } => {
                if self.hosts[host].incarnation == incarnation {
                    self.hosts[host].store_wake = None;
                    self.store_timeout(host);
                }
            }
            Ev::VipExpiry { host, incarnation } => {
                let h = &mut self.hosts[host];
                if h.incarnation == incarnation
                    && h.holds_vip
                    && h.vip_expires_at.is_some_and(|at| at <= self.now_ms)
                {
                    h.holds_vip = false;
                    h.vip_expires_at = None;
                    self.note(
                        Some(host),
                        "the kernel removed the address: its lifetime (lease) ran out".to_string(),
                    );
                }
            }
        }
    }

    /// Whether a message from `from` can reach `to` now: no partition, both links up.
    fn link_passes(&self, from: usize, to: usize) -> bool {
        !self.blocked.contains(&(from, to)) && self.hosts[from].link_up && self.hosts[to].link_up
    }

    /// A hung failsh: its timers wait, answers to its polls are lost (they are too old when
    /// it reads them), procedure results wait for it.
    fn while_hung(&mut self, host: usize, ev: Ev) {
        match ev {
            Ev::Wake { .. } => self.hosts[host].wake = None,
            Ev::ProcedureDone { .. } => {
                let at = self.now_ms;
                self.hosts[host].hung_inputs.push((at, ev));
            }
            _ => {}
        }
    }

    /// A frozen VM: its timers and procedures wait; what the network brings is lost.
    fn while_frozen(&mut self, host: usize, ev: Ev) {
        match ev {
            Ev::Wake { .. } => self.hosts[host].wake = None,
            Ev::ProcedureDone { .. } => {
                let at = self.now_ms;
                self.hosts[host].frozen.push((at, ev));
            }
            Ev::Request { from, .. } => self.checker.disrupted(self.now_ms, host, from),
            Ev::Reply { from, .. } | Ev::Refused { from, .. } => {
                self.checker.disrupted(self.now_ms, host, from)
            }
            // The frozen kernel and faild do nothing: re-checked at resume.
            Ev::StoreWake { .. } => self.hosts[host].store_wake = None,
            _ => {}
        }
    }

    // ----- hosts ------------------------------------------------------------------------------

    fn boot(&mut self, host: usize) {
        if self.hosts[host].powered {
            self.power_off(host, "reboots");
        }
        let now = self.now_ms;
        let h = &mut self.hosts[host];
        h.powered = true;
        h.paused_at = None;
        h.incarnation += 1;
        h.up_since_ms = now;
        let boot_id = h.rng.next_u64();
        let store_seed = h.rng.next_u64();
        let communities = Communities::parse(COMMUNITY_FILE).expect("built-in community file");
        let wall = Time(WALL_EPOCH_MS + (i128::from(h.clock_offset_ms) + i128::from(now)) as u64);
        let store = Store::new_at(
            StoreConfig {
                boot_id,
                seed: store_seed,
                communities,
            },
            h.disk.borrow().state_file.clone(),
            wall,
        );
        let disk = Rc::clone(&h.disk);
        let (mut driver, _clock) = Driver::new(
            store,
            FaildHooks {
                // faild writes the state file (or, with a full disk, does not) before the store
                // hears back; the driver then withholds what it could not store.
                persist: Box::new(move |services| {
                    let mut disk = disk.borrow_mut();
                    if disk.full {
                        return Err(std::io::Error::from_raw_os_error(28));
                    }
                    disk.state_file = services.to_vec();
                    Ok(())
                }),
                reload: Box::new(|| Err("the simulator has no community file".to_string())),
                // The world passes its own time to every call.
                clock: || Time(0),
                watcher: None,
            },
        );
        let events = Rc::clone(&h.store_events);
        driver.observe(Box::new(move |event| {
            events.borrow_mut().push(event.clone())
        }));
        h.store = Some(driver);
        let incarnation = h.incarnation;
        let registers = h.spec.boot_registers;
        self.note(Some(host), format!("boots (faild boot id {boot_id:016x})"));
        if self.hosts[host].spec.witness {
            // A witness runs faild only: it records whom it heard, and decides nothing.
            self.reschedule_store_wake(host);
            self.close_fault(&format!("down-{host}"));
            self.close_fault(&format!("killed-{host}"));
            return;
        }
        if let Some(state) = registers {
            if let Err(error) = self.failc(host, state) {
                self.note(Some(host), format!("boot script: failc failed: {error}"));
            }
        }
        let shell_seed = self.hosts[host].rng.next_u64();
        let start = self.local_now(host);
        let config = self.hosts[host].shell_config.clone();
        let options = ShellOptions {
            config: config.clone(),
            seed: shell_seed,
        };
        match ShellDriver::new(options, start) {
            Ok(driver) => {
                self.hosts[host].shell = Some(driver);
                // A new failsh knows none of the addresses an earlier one leased.
                self.hosts[host].vip_leased = false;
                if let Some(recorder) = &mut self.recorder {
                    let name = format!("{}-{}", self.hosts[host].spec.name, incarnation);
                    recorder.start(&name, &config, shell_seed, start);
                }
                // Like failsh's link watcher, which reports every carrier when it starts.
                if self.hosts[host].spec.track {
                    let up = self.hosts[host].link_up;
                    self.feed(
                        host,
                        Input::Link {
                            interface: TRACKED_INTERFACE.to_string(),
                            up,
                        },
                    );
                    self.feed(host, Input::LinksComplete);
                }
            }
            Err(error) => self.note(
                Some(host),
                format!("failsh refuses its configuration: {error}"),
            ),
        }
        self.reschedule_wake(host);
        self.reschedule_store_wake(host);
        self.close_fault(&format!("down-{host}"));
        self.close_fault(&format!("killed-{host}"));
    }

    fn power_off(&mut self, host: usize, why: &str) {
        let now = self.now_ms;
        let h = &mut self.hosts[host];
        h.powered = false;
        h.paused_at = None;
        h.shell = None;
        h.vip_leased = false;
        h.lease_confirmed_ms = None;
        h.store = None;
        h.holds_vip = false;
        h.vip_expires_at = None;
        h.procedures.clear();
        h.frozen.clear();
        h.failsh_hung = false;
        h.hung_inputs.clear();
        h.hung_links.clear();
        h.faild_stalled = false;
        h.stalled_requests.clear();
        if let Some(key) = h.wake.take() {
            self.queue.remove(&key);
        }
        if let Some(key) = self.hosts[host].store_wake.take() {
            self.queue.remove(&key);
        }
        self.close_fault(&format!("hung-{host}"));
        self.close_fault(&format!("stalled-{host}"));
        // Anything still queued for the old incarnation is ignored by its number.
        self.hosts[host].incarnation += 1;
        for other in 0..self.hosts.len() {
            self.checker.disrupted(now, host, other);
        }
        self.note(Some(host), why.to_string());
        self.open_fault(format!("down-{host}"), Some(host));
    }

    fn pause(&mut self, host: usize) {
        if !self.hosts[host].powered || self.hosts[host].paused_at.is_some() {
            return;
        }
        let now = self.now_ms;
        self.hosts[host].paused_at = Some(now);
        if let Some(key) = self.hosts[host].wake.take() {
            self.queue.remove(&key);
        }
        // A procedure's script is frozen with its VM: its completion moves by the pause.
        let ids: Vec<ProcedureId> = self.hosts[host].procedures.keys().copied().collect();
        for id in ids {
            if let Some(key) = self.hosts[host]
                .procedures
                .get_mut(&id)
                .and_then(|r| r.done.take())
            {
                if let Some(ev) = self.queue.remove(&key) {
                    self.hosts[host].frozen.push((key.0, ev));
                }
            }
        }
        for other in 0..self.hosts.len() {
            self.checker.disrupted(now, host, other);
        }
        self.open_fault(format!("paused-{host}"), Some(host));
    }

    fn resume(&mut self, host: usize) {
        let Some(paused_at) = self.hosts[host].paused_at.take() else {
            return;
        };
        let now = self.now_ms;
        self.hosts[host].up_since_ms = now;
        let frozen = std::mem::take(&mut self.hosts[host].frozen);
        for (due, ev) in frozen {
            let at = now + due.saturating_sub(paused_at);
            let id = match &ev {
                Ev::ProcedureDone { id, .. } => Some(*id),
                _ => None,
            };
            let key = self.schedule(at, ev);
            if let Some(running) = id.and_then(|id| self.hosts[host].procedures.get_mut(&id)) {
                running.done = Some(key);
            }
        }
        self.close_fault(&format!("paused-{host}"));
        // Its kernel and faild run again: an expired lease is acted on now.
        self.schedule_vip_expiry(host);
        self.reschedule_store_wake(host);
        // Its clock jumped: every overdue timer fires at once. Carrier changes its failsh
        // missed while hung (and frozen) come first.
        if self.hosts[host].shell.is_some() && !self.hosts[host].failsh_hung {
            self.feed_hung_links(host);
            self.feed(host, Input::Timeout);
        }
    }

    /// SIGKILL of faild, failsh and their supervisor: nothing answers or decides any more,
    /// but the machine, its kernel and the address stay (until the address's lease).
    fn kill_daemons(&mut self, host: usize) {
        if !self.hosts[host].powered
            || self.hosts[host].shell.is_none() && self.hosts[host].store.is_none()
        {
            return;
        }
        let now = self.now_ms;
        let h = &mut self.hosts[host];
        h.shell = None;
        h.vip_leased = false;
        h.lease_confirmed_ms = None;
        h.store = None;
        h.procedures.clear();
        h.failsh_hung = false;
        h.hung_inputs.clear();
        h.hung_links.clear();
        h.faild_stalled = false;
        h.stalled_requests.clear();
        if let Some(key) = h.wake.take() {
            self.queue.remove(&key);
        }
        if let Some(key) = self.hosts[host].store_wake.take() {
            self.queue.remove(&key);
        }
        // Its queued events belong to the dead processes; the address's expiry is the
        // kernel's and keeps its number.
        self.hosts[host].incarnation += 1;
        self.schedule_vip_expiry(host);
        for other in 0..self.hosts.len() {
            self.checker.disrupted(now, host, other);
        }
        self.open_fault(format!("killed-{host}"), Some(host));
    }

    fn hang_failsh(&mut self, host: usize) {
        let h = &mut self.hosts[host];
        if !h.powered || h.shell.is_none() || h.failsh_hung {
            return;
        }
        h.failsh_hung = true;
        if let Some(key) = h.wake.take() {
            self.queue.remove(&key);
        }
        let now = self.now_ms;
        for other in 0..self.hosts.len() {
            self.checker.disrupted(now, host, other);
        }
        self.open_fault(format!("hung-{host}"), Some(host));
    }

    fn resume_failsh(&mut self, host: usize) {
        if !self.hosts[host].failsh_hung {
            return;
        }
        self.hosts[host].failsh_hung = false;
        self.close_fault(&format!("hung-{host}"));
        let now = self.now_ms;
        for other in 0..self.hosts.len() {
            self.checker.disrupted(now, host, other);
        }
        if self.hosts[host].paused_at.is_some() {
            // The VM is frozen too: failsh runs again only when the VM does. What it was
            // told while hung waits with the VM's other events; its carrier changes too.
            let inputs = std::mem::take(&mut self.hosts[host].hung_inputs);
            for (_, ev) in inputs {
                self.hosts[host].frozen.push((now, ev));
            }
            return;
        }
        for (_, ev) in std::mem::take(&mut self.hosts[host].hung_inputs) {
            let id = match &ev {
                Ev::ProcedureDone { id, .. } => Some(*id),
                _ => None,
            };
            let key = self.schedule(now, ev);
            if let Some(running) = id.and_then(|id| self.hosts[host].procedures.get_mut(&id)) {
                running.done = Some(key);
            }
        }
        self.feed_hung_links(host);
        if self.hosts[host].shell.is_some() {
            self.feed(host, Input::Timeout);
        }
    }

    /// Carrier changes a hung (or frozen) failsh missed, in order.
    fn feed_hung_links(&mut self, host: usize) {
        for up in std::mem::take(&mut self.hosts[host].hung_links) {
            self.feed(
                host,
                Input::Link {
                    interface: TRACKED_INTERFACE.to_string(),
                    up,
                },
            );
        }
    }

    fn stall_faild(&mut self, host: usize) {
        if self.hosts[host].store.is_none() || self.hosts[host].faild_stalled {
            return;
        }
        self.hosts[host].faild_stalled = true;
        if let Some(key) = self.hosts[host].store_wake.take() {
            self.queue.remove(&key);
        }
        self.open_fault(format!("stalled-{host}"), Some(host));
    }

    /// faild runs again and answers what waited, in order.
    fn resume_faild(&mut self, host: usize) {
        if !self.hosts[host].faild_stalled {
            return;
        }
        self.hosts[host].faild_stalled = false;
        self.close_fault(&format!("stalled-{host}"));
        let now = self.now_ms;
        for ev in std::mem::take(&mut self.hosts[host].stalled_requests) {
            self.schedule(now, ev);
        }
        self.reschedule_store_wake(host);
    }

    /// The carrier of the host's link changes: a failsh that tracks it is told (a hung one
    /// when it runs again).
    fn set_link(&mut self, host: usize, up: bool) {
        if self.hosts[host].link_up == up {
            return;
        }
        let now = self.now_ms;
        self.hosts[host].link_up = up;
        for other in 0..self.hosts.len() {
            self.checker.disrupted(now, host, other);
        }
        if up {
            self.close_fault(&format!("link-{host}"));
        } else {
            self.open_fault(format!("link-{host}"), Some(host));
        }
        let h = &self.hosts[host];
        if !h.spec.track || !h.powered || h.shell.is_none() || h.paused_at.is_some() {
            return;
        }
        if h.failsh_hung {
            self.hosts[host].hung_links.push(up);
            return;
        }
        self.feed(
            host,
            Input::Link {
                interface: TRACKED_INTERFACE.to_string(),
                up,
            },
        );
    }

    /// Queues the check of the address's kernel lifetime.
    fn schedule_vip_expiry(&mut self, host: usize) {
        if let Some(at) = self.hosts[host].vip_expires_at {
            let incarnation = self.hosts[host].incarnation;
            let at = at.max(self.now_ms);
            self.schedule(at, Ev::VipExpiry { host, incarnation });
        }
    }

    /// The address gets (or renews) its kernel lifetime: the lease, plus the kernel's lag in
    /// removing it (up to a quarter second: its lifetime worker rounds to whole seconds).
    fn lease_address(&mut self, host: usize, lifetime_ms: u64) {
        let lag_ms = self.hosts[host].rng.below(KERNEL_LAG_MS + 1);
        self.hosts[host].vip_expires_at = Some(self.now_ms + lifetime_ms + lag_ms);
        self.schedule_vip_expiry(host);
    }

    fn reschedule_wake(&mut self, host: usize) {
        let h = &self.hosts[host];
        if !h.powered || h.paused_at.is_some() {
            return;
        }
        let wanted = h
            .shell
            .as_ref()
            .and_then(|d| d.deadline())
            .map(|at| self.world_for_local(host, at.as_ms()).max(self.now_ms));
        let current = h.wake.map(|(at, _)| at);
        if wanted == current {
            return;
        }
        if let Some(key) = self.hosts[host].wake.take() {
            self.queue.remove(&key);
        }
        if let Some(at) = wanted {
            let incarnation = self.hosts[host].incarnation;
            let key = self.schedule(at, Ev::Wake { host, incarnation });
            self.hosts[host].wake = Some(key);
        }
    }

    // ----- failsh ------------------------------------------------------------------------------

    /// Hands one input to a host's failsh through the driver both runtimes use, and carries
    /// out what the driver's hooks and transports were asked, in order.
    fn feed(&mut self, host: usize, input: Input) {
        let mut inputs = VecDeque::from([input]);
        while let Some(input) = inputs.pop_front() {
            let now = self.local_now(host);
            let effects = self.effects.clone();
            let h = &self.hosts[host];
            let mut hooks = SimHooks {
                effects: effects.clone(),
                // What failsh's renewal finds: a leased address someone took off.
                address_gone: h.vip_leased && h.spec.lease_ms.is_some() && !h.holds_vip,
                now_ms: self.now_ms,
                host: host as u64,
                hash: self.hash,
                decisions: self.decisions,
                record: self.recorder.is_some(),
            };
            let mut transports = SimTransports(effects.clone());
            let Some(driver) = self.hosts[host].shell.as_mut() else {
                break;
            };
            let is_timeout = input == Input::Timeout;
            driver.handle(now, Message::Input(input), &mut hooks, &mut transports);
            let next = driver.shell().poll_timeout();
            let exit = driver.perform(now, &mut hooks, &mut transports);
            self.hash = hooks.hash;
            self.decisions = hooks.decisions;
            if is_timeout {
                if let Some((at, timer)) = next.filter(|(at, _)| *at <= now) {
                    self.checker.timer_stuck(
                        self.now_ms,
                        &self.hosts[host].spec.name,
                        now,
                        at,
                        &timer.to_string(),
                    );
                }
            }
            let mut performed = std::mem::take(&mut self.performed);
            effects.take_into(&mut performed);
            for effect in performed.drain(..) {
                self.carry_out(host, now, effect, &mut inputs);
            }
            self.performed = performed;
            if exit {
                self.hosts[host].shell = None;
                self.hosts[host].vip_leased = false;
                self.note(Some(host), "failsh exits".to_string());
                break;
            }
        }
        self.reschedule_wake(host);
    }

    fn carry_out(&mut self, host: usize, now: Time, effect: Effect, inputs: &mut VecDeque<Input>) {
        match effect {
            Effect::Handled { input, actions } => {
                if let Some(recorder) = &mut self.recorder {
                    let name = format!(
                        "{}-{}",
                        self.hosts[host].spec.name, self.hosts[host].incarnation
                    );
                    recorder.record(&name, now, &input, &actions);
                }
            }
            Effect::Input(input) => inputs.push_back(input),
            Effect::Send { to, nonce, bytes } => {
                match (&*to.host, self.scenario.host_index(&to.host)) {
                    (LOCAL_HOST, _) => {
                        let from_incarnation = self.hosts[host].incarnation;
                        self.schedule(
                            self.now_ms,
                            Ev::Request {
                                to: host,
                                from: host,
                                from_incarnation,
                                bytes,
                                loopback: true,
                            },
                        );
                    }
                    (_, Some(to)) => {
                        let from_incarnation = self.hosts[host].incarnation;
                        self.transmit(host, to, |to| Ev::Request {
                            to,
                            from: host,
                            from_incarnation,
                            bytes: bytes.clone(),
                            loopback: false,
                        });
                    }
                    (name, None) => inputs.push_back(Input::SendFailed {
                        nonce,
                        error: format!("{name}: unknown host"),
                    }),
                }
            }
            Effect::Run { id, kind } => {
                *self.hosts[host].runs.entry(kind).or_default() += 1;
                if kind == ProcedureKind::Stop {
                    self.hosts[host].renewed_during_stop = false;
                }
                let procedure = self.hosts[host].spec.procedure(kind);
                let done = if procedure.hangs {
                    None
                } else {
                    let run = self.hosts[host].runs.get(&kind).copied().unwrap_or(0);
                    let fails_now = procedure.fails_times.is_none_or(|times| run <= times);
                    let result = match (&procedure.fails, &procedure.returns) {
                        (Some(error), _) if fails_now => Err(error.clone()),
                        (Some(_), Some(text)) => Ok(text.clone()),
                        (Some(_), None) => Ok(String::new()),
                        (None, Some(text)) => Ok(text.clone()),
                        (None, None) => Ok(String::new()),
                    };
                    let incarnation = self.hosts[host].incarnation;
                    Some(self.schedule(
                        self.now_ms + procedure.duration_ms,
                        Ev::ProcedureDone {
                            host,
                            incarnation,
                            id,
                            kind,
                            result,
                            effect_on_failure: procedure.effect_on_failure,
                        },
                    ))
                };
                self.hosts[host]
                    .procedures
                    .insert(id, Running { kind, done });
            }
            Effect::Renew { lifetime_s } => {
                let h = &self.hosts[host];
                if h.procedures.values().any(|r| r.kind == ProcedureKind::Stop) {
                    self.hosts[host].renewed_during_stop = true;
                }
                let h = &self.hosts[host];
                // Only an address that is there is renewed (the hook refused the others).
                if h.vip_leased && h.spec.lease_ms.is_some() && h.holds_vip {
                    self.lease_address(host, u64::from(lifetime_s) * 1000);
                }
            }
            Effect::LeaseConfirmed => self.hosts[host].lease_confirmed_ms = Some(self.now_ms),
            Effect::Reset { reason } => {
                self.hosts[host].resets += 1;
                let holds = self.hosts[host].holds_vip;
                // Who held the address after this host last did: the answer that showed it UP
                // may have been overtaken by a crash on its way.
                let now = self.now_ms;
                let last_held = |h: &SimHost| {
                    if h.holds_vip {
                        Some(now)
                    } else {
                        h.last_held_ms
                    }
                };
                let released = last_held(&self.hosts[host]);
                // Or whose faild says it holds the service, started and announced: an UP its
                // failsh could not take back (a full disk, a stalled faild) is what the group
                // is told, and the rules believe it too.
                let service = &self.scenario.service;
                let claims = |h: &SimHost| {
                    h.powered
                        && h.store
                            .as_ref()
                            .and_then(|d| d.store().service(service))
                            .is_some_and(|r| {
                                r.state == State::Up
                                    && !r
                                        .note
                                        .as_deref()
                                        .is_some_and(|n| n.starts_with(STARTING_NOTE))
                            })
                };
                let holders: Vec<String> = self
                    .hosts
                    .iter()
                    .enumerate()
                    .filter(|(i, h)| {
                        *i != host
                            && (last_held(h).is_some_and(|at| released.is_none_or(|r| at >= r))
                                || claims(h))
                    })
                    .map(|(_, h)| h.spec.name.clone())
                    .collect();
                let exiting = self.hosts[host]
                    .shell
                    .as_ref()
                    .is_some_and(|d| d.shell().is_shutting_down());
                let name = self.hosts[host].spec.name.clone();
                self.checker
                    .reset(self.now_ms, &name, holds, &holders, exiting);
                self.note(
                    Some(host),
                    format!("resets the connections on the address: {reason}"),
                );
            }
            Effect::Kill { id } => {
                if let Some(running) = self.hosts[host].procedures.remove(&id) {
                    if let Some(key) = running.done {
                        self.queue.remove(&key);
                    }
                    self.note(Some(host), format!("{} (#{}) killed", running.kind, id.0));
                }
            }
            Effect::Event(event) => self.shell_event(host, event),
        }
    }

    fn shell_event(&mut self, host: usize, event: Event) {
        let timeline = match &event {
            Event::StateChanged { from, to, .. } => {
                self.checker
                    .state_changed(self.now_ms, &self.hosts[host].spec.name, *from, *to);
                true
            }
            Event::ProcedureStarted { .. }
            | Event::ProcedureFinished { .. }
            | Event::HostReachable { .. }
            | Event::HostUnreachable { .. }
            | Event::HostRestarted { .. }
            | Event::WriteFailed { .. }
            | Event::HandoverComplete { .. }
            | Event::Link { .. }
            | Event::BadReply { .. } => true,
            Event::Decision { .. } | Event::Pushed { .. } => false,
        };
        if self.log_level >= LogLevel::Verbose || (timeline && self.log_level >= LogLevel::Timeline)
        {
            self.note(Some(host), event.to_string());
        }
    }

    /// What a finished procedure did to the address (DESIGN §2, the seed's service script).
    fn procedure_effect(
        &mut self,
        host: usize,
        kind: ProcedureKind,
        result: &Result<String, String>,
        effect_on_failure: bool,
    ) {
        let did_work = match result {
            Ok(text) => text.parse::<State>().is_ok(),
            Err(_) => false,
        } || effect_on_failure;
        if !did_work {
            return;
        }
        match kind {
            ProcedureKind::Start => {
                // `ipaddr add`, with the lease as the kernel lifetime of an address it adds,
                // then grarp.
                let added = !self.hosts[host].holds_vip;
                self.hosts[host].holds_vip = true;
                if let Some(lease_ms) = self.hosts[host].spec.lease_ms {
                    self.hosts[host].vip_leased = true;
                    if added {
                        self.lease_address(host, lease_ms);
                    }
                }
                self.announce(host);
            }
            ProcedureKind::Reclaim => {
                // grarp only: failsh's grarp announces an address only where it is configured
                // (an operator's `fail` may have removed it while failsh did not know yet).
                if self.hosts[host].holds_vip {
                    self.announce(host);
                }
            }
            ProcedureKind::Stop => {
                let h = &mut self.hosts[host];
                h.vip_leased = false;
                if std::mem::take(&mut h.renewed_during_stop) && h.holds_vip {
                    // The renewal's `ip addr replace` came after the stop's `ipaddr del`.
                    self.note(
                        Some(host),
                        "a renewal during stop put the address back after its ipaddr del: \
                         it stays until its kernel lifetime ends"
                            .to_string(),
                    );
                } else {
                    h.holds_vip = false;
                    h.vip_expires_at = None;
                }
            }
            ProcedureKind::Check => {}
        }
    }

    /// A gratuitous ARP: the observer (on the same segment) learns the new holder unless a
    /// partition separates it from the announcing host.
    fn announce(&mut self, host: usize) {
        if self.hosts[host].link_up {
            self.observer = Some(host);
        }
    }

    // ----- faild ------------------------------------------------------------------------------

    fn deliver_request(
        &mut self,
        to: usize,
        from: usize,
        from_incarnation: u64,
        bytes: Vec<u8>,
        loopback: bool,
    ) {
        if !self.hosts[to].powered {
            self.checker.disrupted(self.now_ms, to, from);
            return;
        }
        if !loopback && !self.link_passes(from, to) {
            self.checker.disrupted(self.now_ms, to, from);
            return;
        }
        if self.hosts[to].store.is_none() {
            // Its kernel runs, its faild does not: the request is refused at once.
            self.checker.disrupted(self.now_ms, to, from);
            let Ok(request) = wire::decode_request(&bytes) else {
                return;
            };
            let nonce = request.message.nonce;
            if loopback {
                let ev = Ev::Refused {
                    to: from,
                    from: to,
                    incarnation: from_incarnation,
                    nonce,
                    loopback: true,
                };
                self.schedule(self.now_ms, ev);
            } else {
                self.transmit(to, from, |target| Ev::Refused {
                    to: target,
                    from: to,
                    incarnation: from_incarnation,
                    nonce,
                    loopback: false,
                });
            }
            return;
        }
        let address = if loopback {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else {
            self.hosts[from].address
        };
        let peer = Peer {
            token: from as u64,
            address,
        };
        let replies = self.store_handle(to, peer, bytes);
        for reply in replies {
            if loopback {
                self.schedule(
                    self.now_ms,
                    Ev::Reply {
                        to: from,
                        from: to,
                        incarnation: from_incarnation,
                        bytes: reply,
                        loopback: true,
                    },
                );
            } else {
                self.transmit(to, from, |target| Ev::Reply {
                    to: target,
                    from: to,
                    incarnation: from_incarnation,
                    bytes: reply.clone(),
                    loopback: false,
                });
            }
        }
    }

    /// Runs one request through a host's faild driver: persists what it persists (or, with
    /// a full disk, withholds what it could not store), returns the replies.
    fn store_handle(&mut self, host: usize, peer: Peer, bytes: Vec<u8>) -> Vec<Vec<u8>> {
        let now = self.wall_now(host);
        let mut replies = Vec::new();
        if let Some(driver) = self.hosts[host].store.as_mut() {
            driver.request(now, peer, bytes, &mut |_, reply| replies.push(reply));
        }
        self.after_store(host);
        replies
    }

    /// The host's faild deadline may have passed: leases that ran out turn FAIL.
    fn store_timeout(&mut self, host: usize) {
        let now = self.wall_now(host);
        if let Some(driver) = self.hosts[host].store.as_mut() {
            driver.timeout(now);
        }
        self.after_store(host);
    }

    /// Sends the pushes faild's driver produced to their subscribers' failsh: over the
    /// network like replies (lost, delayed, duplicated, reordered alike), or on loopback.
    fn send_pushes(&mut self, host: usize) {
        let pushes = match self.hosts[host].store.as_mut() {
            Some(driver) => driver.take_pushes(),
            None => return,
        };
        for (peer, bytes) in pushes {
            let Ok(to) = usize::try_from(peer.token) else {
                continue;
            };
            let Some(target) = self.hosts.get(to) else {
                continue;
            };
            let incarnation = target.incarnation;
            if to == host {
                let ev = Ev::Reply {
                    to,
                    from: host,
                    incarnation,
                    bytes,
                    loopback: true,
                };
                self.schedule(self.now_ms, ev);
            } else {
                self.transmit_marked(
                    host,
                    to,
                    |target| Ev::Reply {
                        to: target,
                        from: host,
                        incarnation,
                        bytes: bytes.clone(),
                        loopback: false,
                    },
                    false,
                );
            }
        }
    }

    /// Puts what faild's driver reported on the timeline and schedules its next wake.
    fn after_store(&mut self, host: usize) {
        self.send_pushes(host);
        let events = std::mem::take(&mut *self.hosts[host].store_events.borrow_mut());
        for event in events {
            let always = matches!(
                event,
                StoreEvent::LeaseExpired { .. } | StoreEvent::NotStored { .. }
            );
            if self.log_level >= LogLevel::Verbose
                || (always && self.log_level >= LogLevel::Timeline)
            {
                self.note(Some(host), format!("faild: {event}"));
            }
        }
        self.reschedule_store_wake(host);
    }

    /// Wakes the host's faild when its next lease runs out.
    fn reschedule_store_wake(&mut self, host: usize) {
        let h = &self.hosts[host];
        if !h.powered || h.paused_at.is_some() || h.faild_stalled {
            return;
        }
        let wanted = h
            .store
            .as_ref()
            .and_then(|d| d.store().poll_timeout())
            .map(|at| {
                self.world_for_local(host, at.as_ms().saturating_sub(WALL_EPOCH_MS))
                    .max(self.now_ms)
            });
        let current = h.store_wake.map(|(at, _)| at);
        if wanted == current {
            return;
        }
        if let Some(key) = self.hosts[host].store_wake.take() {
            self.queue.remove(&key);
        }
        if let Some(at) = wanted {
            let incarnation = self.hosts[host].incarnation;
            let key = self.schedule(at, Ev::StoreWake { host, incarnation });
            self.hosts[host].store_wake = Some(key);
        }
    }

    /// `failc -c private -s STATE SERVICE` on the host itself: the client's own flow (a query
    /// asking for a challenge, then the Set carrying it) through the real codec into the real
    /// store.
    fn failc(&mut self, host: usize, state: State) -> Result<(), String> {
        if !self.hosts[host].powered || self.hosts[host].paused_at.is_some() {
            return Err("the host is down or frozen".to_string());
        }
        if self.hosts[host].faild_stalled || self.hosts[host].store.is_none() {
            return Err("faild does not answer".to_string());
        }
        let service = self.scenario.service.clone();
        let backup = self.hosts[host]
            .spec
            .slaves
            .first()
            .or(self.hosts[host].spec.masters.first())
            .cloned();
        let peer = Peer {
            token: u64::MAX,
            address: IpAddr::V4(Ipv4Addr::LOCALHOST),
        };
        let nonce = self.failc_nonce(host);
        let (mut flow, mut request) =
            SetFlow::start(nonce, LOCAL_COMMUNITY, &service, state, backup.as_deref())
                .map_err(|e| e.to_string())?;
        // A query and a Set, and once more a Set if the challenge went stale.
        for _ in 0..3 {
            let reply = self
                .store_handle(host, peer, request)
                .into_iter()
                .next()
                .ok_or_else(|| "faild did not answer".to_string())?;
            let next = flow.answer(&reply, || self.failc_nonce(host));
            match next.map_err(|e| e.to_string())? {
                SetNext::Send(next) => request = next,
                SetNext::Done(_) => {
                    self.note(Some(host), format!("failc -s {state}: ok"));
                    return Ok(());
                }
            }
        }
        Err("faild kept refusing the challenge".to_string())
    }

    fn failc_nonce(&mut self, host: usize) -> Nonce {
        let mut bytes = [0u8; wire::NONCE_BYTES];
        self.hosts[host].rng.fill(&mut bytes);
        Nonce(bytes)
    }

    // ----- network ----------------------------------------------------------------------------

    /// Sends one message from `from` to `to` through the network model.
    fn transmit(&mut self, from: usize, to: usize, make: impl Fn(usize) -> Ev) {
        self.transmit_marked(from, to, make, true);
    }

    /// [`World::transmit`]; `mark`: a loss or delay counts as a disruption of the pair's
    /// polls for the checker's bounds (not so for a push, which nothing waits for).
    fn transmit_marked(&mut self, from: usize, to: usize, make: impl Fn(usize) -> Ev, mark: bool) {
        let now = self.now_ms;
        if !self.link_passes(from, to) {
            if mark {
                self.checker.disrupted(now, from, to);
            }
            return;
        }
        let network = &self.network;
        if self.net_rng.chance(network.loss) {
            if mark {
                self.checker.disrupted(now, from, to);
            }
            return;
        }
        let copies = if self.net_rng.chance(network.duplicate) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let network = &self.network;
            let mut delay = network.latency_ms + self.net_rng.below(network.jitter_ms + 1);
            if self.net_rng.chance(network.reorder) {
                delay += self.net_rng.below(network.reorder_ms + 1);
            }
            // A message slower than a poll's timeout is as good as lost for the poller.
            let slowest_ok = self.hosts[from]
                .spec
                .timeout_ms()
                .min(self.hosts[to].spec.timeout_ms())
                / 2;
            if mark && delay >= slowest_ok {
                self.checker.disrupted(now, from, to);
            }
            self.schedule(now + delay, make(to));
        }
    }

    // ----- the scenario's timeline ------------------------------------------------------------

    fn apply_event(&mut self, event: &TimedEvent) {
        let text = event.action.describe();
        self.note(None, format!("** {text}"));
        let index = |name: &str| self.scenario.host_index(name).expect("validated");
        let now = self.now_ms;
        match &event.action {
            EventAction::Crash { host } => {
                let host = index(host);
                if self.hosts[host].powered {
                    self.power_off(host, "crashes");
                }
            }
            EventAction::Restart { host } => self.boot(index(host)),
            EventAction::Pause { host } => self.pause(index(host)),
            EventAction::Resume { host } => self.resume(index(host)),
            EventAction::Partition { from, to, one_way } => {
                for a in from {
                    for b in to {
                        let (a, b) = (index(a), index(b));
                        if a == b {
                            continue;
                        }
                        self.blocked.insert((a, b));
                        if !one_way {
                            self.blocked.insert((b, a));
                        }
                        self.checker.disrupted(now, a, b);
                    }
                }
                self.open_fault("partition".to_string(), None);
            }
            EventAction::Heal => {
                let links: Vec<(usize, usize)> = self.blocked.iter().copied().collect();
                for (a, b) in links {
                    self.checker.disrupted(now, a, b);
                }
                self.blocked.clear();
                self.close_fault("partition");
            }
            EventAction::Network(network) => {
                self.network = network.clone();
                // Reachability counts from the moment the network became clean.
                for a in 0..self.hosts.len() {
                    for b in 0..self.hosts.len() {
                        self.checker.disrupted(now, a, b);
                    }
                }
                if network.is_clean() {
                    self.close_fault("network");
                } else {
                    self.open_fault("network".to_string(), None);
                }
            }
            EventAction::SetProcedure {
                host,
                kind,
                procedure,
            } => {
                let host = index(host);
                let procedures = &mut self.hosts[host].spec.procedures;
                let slot = match kind {
                    ProcedureKind::Start => &mut procedures.start,
                    ProcedureKind::Stop => &mut procedures.stop,
                    ProcedureKind::Reclaim => &mut procedures.reclaim,
                    ProcedureKind::Check => &mut procedures.check,
                };
                *slot = Some(procedure.clone());
                let faulty = procedure.hangs || procedure.fails.is_some();
                let key = format!("procedure-{host}-{kind}");
                if faulty {
                    self.open_fault(key, Some(host));
                } else {
                    self.close_fault(&key);
                }
            }
            EventAction::Failc { host, state } => {
                let host = index(host);
                if let Err(error) = self.failc(host, *state) {
                    self.note(Some(host), format!("failc -s {state} failed: {error}"));
                }
            }
            EventAction::Fail { host } => {
                let host = index(host);
                if self.hosts[host].powered && self.hosts[host].paused_at.is_none() {
                    self.hosts[host].holds_vip = false;
                }
                if let Err(error) = self.failc(host, State::Fail) {
                    self.note(Some(host), format!("failc -s FAIL failed: {error}"));
                }
            }
            EventAction::RemoveAddress { host } => {
                let host = index(host);
                if self.hosts[host].powered && self.hosts[host].paused_at.is_none() {
                    self.hosts[host].holds_vip = false;
                }
            }
            EventAction::Recover { host, if_fail } => {
                let host = index(host);
                let current = self.hosts[host]
                    .store
                    .as_ref()
                    .and_then(|d| d.store().service(&self.scenario.service))
                    .map(|r| r.state);
                if !*if_fail || current == Some(State::Fail) {
                    if let Err(error) = self.failc(host, State::Recover) {
                        self.note(Some(host), format!("failc -s RECOVER failed: {error}"));
                    }
                }
            }
            EventAction::Shutdown {
                host,
                keep_services,
            } => {
                let host = index(host);
                if self.hosts[host].powered
                    && self.hosts[host].paused_at.is_none()
                    && self.hosts[host].shell.is_some()
                {
                    self.feed(
                        host,
                        Input::Shutdown {
                            keep_services: *keep_services,
                        },
                    );
                }
            }
            EventAction::LinkDown { host } => self.set_link(index(host), false),
            EventAction::LinkUp { host } => self.set_link(index(host), true),
            EventAction::KillDaemons { host } => self.kill_daemons(index(host)),
            EventAction::HangFailsh { host } => self.hang_failsh(index(host)),
            EventAction::ResumeFailsh { host } => self.resume_failsh(index(host)),
            EventAction::StallFaild { host } => self.stall_faild(index(host)),
            EventAction::ResumeFaild { host } => self.resume_faild(index(host)),
            EventAction::DiskFull { host } => {
                let host = index(host);
                self.hosts[host].disk.borrow_mut().full = true;
                self.open_fault(format!("disk-{host}"), Some(host));
            }
            EventAction::DiskOk { host } => {
                let host = index(host);
                self.hosts[host].disk.borrow_mut().full = false;
                self.close_fault(&format!("disk-{host}"));
            }
        }
        self.checker.event_applied(now);
    }

    // ----- observation ------------------------------------------------------------------------

    /// The state a host's service has as far as the group can tell.
    fn host_state(&self, host: usize) -> Option<State> {
        let h = &self.hosts[host];
        if !h.powered {
            return None;
        }
        match &h.shell {
            Some(driver) => driver.shell().state(&self.scenario.service),
            // failsh exited: what faild says is all there is.
            None => h
                .store
                .as_ref()
                .and_then(|d| d.store().service(&self.scenario.service))
                .map(|r| r.state),
        }
    }

    fn views(&self) -> Vec<HostView> {
        (0..self.hosts.len())
            .map(|i| {
                let h = &self.hosts[i];
                HostView {
                    name: h.spec.name.clone(),
                    powered: h.powered,
                    paused: h.paused_at.is_some(),
                    has_shell: h.shell.is_some(),
                    state: self.host_state(i),
                    holds_vip: h.holds_vip,
                    up_since_ms: h.up_since_ms,
                    procedure_running: !h.procedures.is_empty(),
                    hung: h.failsh_hung,
                    daemons: h.shell.is_some() || h.store.is_some(),
                    link_up: h.link_up,
                    faild_stalled: h.faild_stalled,
                }
            })
            .collect()
    }

    fn after_event(&mut self) {
        let now = self.now_ms;
        for host in &mut self.hosts {
            if host.holds_vip {
                host.last_held_ms = Some(now);
            }
        }
        let views = self.views();
        // A host whose carrier is lost is cut off from every other.
        let mut blocked = self.blocked.clone();
        for (i, host) in self.hosts.iter().enumerate() {
            if !host.link_up {
                for other in 0..self.hosts.len() {
                    blocked.insert((i, other));
                    blocked.insert((other, i));
                }
            }
        }
        self.checker
            .after_event(self.now_ms, &views, self.observer, &blocked, &self.scenario);
        for (i, view) in views.iter().enumerate() {
            let look = Look {
                state: view.state,
                powered: view.powered,
                paused: view.paused,
                vip: view.holds_vip,
            };
            if self.last_looks[i] != Some(look) {
                self.last_looks[i] = Some(look);
                self.looks.push((self.now_ms, i, look));
            }
        }
    }

    fn states_line(&self) -> String {
        let mut line = String::new();
        for i in 0..self.hosts.len() {
            if i > 0 {
                line.push(' ');
            }
            let h = &self.hosts[i];
            let state = if !h.powered {
                "DOWN"
            } else {
                self.host_state(i).map_or("NONE", State::as_str)
            };
            line.push_str(&h.spec.name);
            line.push('=');
            line.push_str(state);
            if h.holds_vip {
                line.push('*');
            }
            if h.paused_at.is_some() {
                line.push_str("(frozen)");
            }
            if h.powered && h.shell.is_none() && h.store.is_none() {
                line.push_str("(killed)");
            }
            if h.failsh_hung {
                line.push_str("(hung)");
            }
            if h.faild_stalled {
                line.push_str("(faild stalled)");
            }
            if !h.link_up {
                line.push_str("(link down)");
            }
        }
        if let Some(o) = self.observer {
            line.push_str(" arp->");
            line.push_str(&self.hosts[o].spec.name);
        }
        line
    }

    fn note(&mut self, host: Option<usize>, text: String) {
        if self.log_level == LogLevel::Quiet {
            return;
        }
        let states = self.states_line();
        self.log.push(LogLine {
            at_ms: self.now_ms,
            host: host.map(|h| self.hosts[h].spec.name.clone()),
            text,
            states,
        });
    }

    fn open_fault(&mut self, key: String, host: Option<usize>) {
        self.open_faults.entry(key).or_insert((self.now_ms, host));
    }

    fn close_fault(&mut self, key: &str) {
        if let Some((from_ms, host)) = self.open_faults.remove(key) {
            let label = key.split('-').next().unwrap_or(key).to_string();
            self.faults.push(FaultSpan {
                from_ms,
                to_ms: self.now_ms,
                host,
                label,
            });
        }
    }
}

/// failsh's configuration on a host of the scenario, as the seed's Tcl file would give it.
pub fn shell_config(scenario: &Scenario, spec: &HostSpec) -> ShellConfig {
    // Addresses as failsh would resolve them (the simulator routes by name).
    let mut hosts = vec![HostConfig {
        name: LOCAL_HOST.to_string(),
        community: LOCAL_COMMUNITY.to_string(),
        protocol: Protocol::Udp,
        address: Some(SocketAddr::from(([127, 0, 0, 1], wire::DEFAULT_PORT))),
        ..HostConfig::new(LOCAL_HOST)
    }];
    for peer in spec
        .masters
        .iter()
        .chain(&spec.slaves)
        .chain(&spec.witnesses)
    {
        let index = scenario.host_index(peer).unwrap_or(0);
        let last = u8::try_from(index + 1).unwrap_or(u8::MAX);
        hosts.push(HostConfig {
            name: peer.clone(),
            community: PEER_COMMUNITY.to_string(),
            protocol: Protocol::Udp,
            address: Some(SocketAddr::from(([198, 18, 0, last], wire::DEFAULT_PORT))),
            ..HostConfig::new(peer)
        });
    }
    let service = ServiceConfig {
        name: scenario.service.clone(),
        interval_ms: spec.interval_ms,
        timeout_ms: spec.timeout_ms,
        misses: spec.misses,
        masters: spec.masters.clone(),
        slaves: spec.slaves.clone(),
        // The names of the seed's configurations; the simulator runs behaviours, not Tcl.
        procedures: ProcedureNames {
            start: "startservice".to_string(),
            stop: "stopservice".to_string(),
            reclaim: spec
                .procedures
                .has_reclaim
                .then(|| "reclaimservice".to_string()),
            check: spec
                .procedures
                .check
                .as_ref()
                .map(|_| "checkservice".to_string()),
            trap: None,
        },
        procedure_limit_ms: spec.procedure_limit_ms,
        track: if spec.track {
            vec![TRACKED_INTERFACE.to_string()]
        } else {
            Vec::new()
        },
        lease_ms: spec.lease_ms,
        fence_wait: spec.fence_wait,
        witnesses: spec.witnesses.clone(),
        // The others call it by its scenario name.
        member: (!spec.witnesses.is_empty()).then(|| spec.name.clone()),
        preempt: spec.preempt,
        preempt_delay_ms: spec.preempt_delay_ms,
        startup_delay_ms: spec.startup_delay_ms,
        check_fall: spec.check_fall,
        check_rise: spec.check_rise,
        reset: None,
    };
    ShellConfig {
        local_host: LOCAL_HOST.to_string(),
        hosts,
        services: vec![service],
    }
}

/// Runs a scenario quietly and returns its outcome.
pub fn run_quiet(scenario: &Scenario) -> Outcome {
    World::new(scenario.clone(), LogLevel::Quiet, false).run()
}

/// What failsh's driver asked of its hooks and transports while handling one input, in the
/// order it asked; the world carries it out afterwards (the driver's traits cannot borrow the
/// world they live in).
#[derive(Debug)]
enum Effect {
    /// The core answered `input` with `actions` (only when traces are recorded).
    Handled {
        input: Input,
        actions: Vec<Action>,
    },
    Send {
        to: Destination,
        nonce: Nonce,
        bytes: Vec<u8>,
    },
    /// An input for the core after this one (a send that failed at once, a renewal error).
    Input(Input),
    Run {
        id: ProcedureId,
        kind: ProcedureKind,
    },
    Kill {
        id: ProcedureId,
    },
    Renew {
        lifetime_s: u32,
    },
    LeaseConfirmed,
    Reset {
        reason: String,
    },
    Event(Event),
}

/// The effects of one input, shared by [`SimHooks`] and [`SimTransports`] (the hooks must be
/// `Send`, hence the mutex).
#[derive(Clone, Debug, Default)]
struct Effects(Arc<Mutex<Vec<Effect>>>);

impl Effects {
    fn push(&self, effect: Effect) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(effect);
    }

    /// Moves every effect into `out` (empty), leaving the shared buffer's allocation behind.
    fn take_into(&self, out: &mut Vec<Effect>) {
        out.append(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()));
    }
}

/// failsh's program side in the world: procedures run on simulated time, addresses are the
/// world's.
/// Every action goes into the run's decision hash as the core answers it.
struct SimHooks {
    effects: Effects,
    address_gone: bool,
    now_ms: u64,
    host: u64,
    hash: Fnv64,
    decisions: u64,
    record: bool,
}

impl ShellHooks for SimHooks {
    fn handled(&mut self, _now: Time, input: &Input, actions: &[Action]) {
        for action in actions {
            self.decisions += 1;
            self.hash.write(&self.now_ms.to_le_bytes());
            self.hash.write(&self.host.to_le_bytes());
            match serde_json::to_vec(action) {
                Ok(bytes) => self.hash.write(&bytes),
                Err(error) => self.hash.write(error.to_string().as_bytes()),
            }
        }
        if self.record {
            self.effects.push(Effect::Handled {
                input: input.clone(),
                actions: actions.to_vec(),
            });
        }
    }

    fn run_procedure(
        &mut self,
        _now: Time,
        _service: &str,
        kind: ProcedureKind,
        _limit_ms: u64,
        done: ProcedureCompletion,
    ) {
        // The world delivers the result itself, on simulated time (Ev::ProcedureDone).
        self.effects.push(Effect::Run {
            id: done.id(),
            kind,
        });
    }

    fn kill_procedure(&mut self, _now: Time, id: ProcedureId) {
        self.effects.push(Effect::Kill { id });
    }

    fn renew_addresses(
        &mut self,
        _now: Time,
        service: &str,
        lifetime_s: u32,
    ) -> Result<(), String> {
        // As failover_arp::renew_address: an address that is gone is not put back.
        if self.address_gone {
            return Err(format!(
                "the address of {service} is no longer on its interface: taken off outside failsh (not put back)"
            ));
        }
        self.effects.push(Effect::Renew { lifetime_s });
        Ok(())
    }

    fn lease_confirmed(&mut self, _now: Time, _service: &str) {
        self.effects.push(Effect::LeaseConfirmed);
    }

    fn reset_connections(
        &mut self,
        _now: Time,
        _service: &str,
        _addresses: &[core::net::IpAddr],
        reason: &str,
    ) {
        self.effects.push(Effect::Reset {
            reason: reason.to_string(),
        });
    }

    fn event(&mut self, _now: Time, _shell: &Shell, event: &Event) {
        self.effects.push(Effect::Event(event.clone()));
    }

    fn after_input(&mut self, _now: Time, _shell: &Shell) {}

    fn dump(&mut self, _now: Time, _shell: &Shell) {}
}

/// failsh's sockets in the world: a request becomes an event on the simulated network.
struct SimTransports(Effects);

impl Transports for SimTransports {
    fn send(&mut self, to: &Destination, nonce: Nonce, bytes: Vec<u8>, _timeout: Duration) {
        self.0.push(Effect::Send {
            to: to.clone(),
            nonce,
            bytes,
        });
    }

    fn input(&self, input: Input) {
        self.0.push(Effect::Input(input));
    }

    fn retain(&mut self, _keep: &BTreeSet<Destination>) {}

    fn completion(&self, id: ProcedureId) -> ProcedureCompletion {
        // Never finished: the world feeds Input::ProcedureDone when the procedure's time
        // comes.
        ProcedureCompletion::new(id, |_| {})
    }
}
