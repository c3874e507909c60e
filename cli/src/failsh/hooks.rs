//! failsh's side of the loop (the same for both runtimes): procedures on worker threads with
//! cloned Tcl interpreters and deadlines, failtrap calls, logs, the trace, the monitor pushes
//! and the SIGINT dump.

use crate::failsh::dump::{self, Dumper};
use crate::failsh::ipaddr::{self, AddressLeases, ProcedureLease};
use crate::failsh::load::Procedures;
use crate::failsh::metrics::Metrics;
use crate::failsh::monitor::{unix_ms, MonitorServer};
use crate::failsh::notify::{Notifier, Traps};
use crate::failsh::trace::Recorder;
use crate::logging::Level;
use crate::monitor::{Snapshot, FORMAT, VERSION};
use failover_core::drive::shell::{ProcedureCompletion, ShellHooks};
use failover_core::shell::{Action, Event, Input, ProcedureId, ProcedureKind, Shell};
use failover_core::time::Time;
use failover_core::wire::Nonce;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

#[cfg(target_os = "linux")]
fn reset_connections(address: std::net::IpAddr) -> std::io::Result<failover_arp::ResetReport> {
    failover_arp::reset_connections(address)
}

#[cfg(not(target_os = "linux"))]
fn reset_connections(_address: std::net::IpAddr) -> std::io::Result<ResetReport> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "resetting connections needs Linux (sock_diag)",
    ))
}

/// What a reset did, where there is no Linux sender to say it.
#[cfg(not(target_os = "linux"))]
#[derive(Debug, Default)]
struct ResetReport {
    found: usize,
    nudged: usize,
    destroyed: usize,
    errors: Vec<String>,
}

/// The monitor and the dump keep this many events.
const RECENT_EVENTS: usize = 50;
/// The monitor gets fresh contact times at least this often even without a change.
const MONITOR_REFRESH_MS: u64 = 1000;

/// Requests remembered for their round trip at most (a host that never answers must not grow
/// the table); older ones are forgotten first.
const RTT_IN_FLIGHT: usize = 1024;

/// The procedures in force; SIGHUP swaps in new ones before the core gets the new
/// configuration, so a procedure started after the reload runs the reloaded code.
pub type SharedProcedures = Arc<Mutex<Arc<Procedures>>>;

#[derive(Debug)]
pub struct FailshHooks {
    pub procedures: SharedProcedures,
    pub recorder: Option<Recorder>,
    pub monitor: Option<MonitorServer>,
    /// `--metrics`: what the Prometheus endpoint serves.
    pub metrics: Option<Metrics>,
    pub dumper: Dumper,
    pub node: String,
    /// The addresses the procedures added under a lease.
    pub leases: AddressLeases,
    /// `--notify PATH`.
    pub notify_file: Option<Notifier>,
    traps: Traps,
    recent: VecDeque<crate::monitor::RecentEvent>,
    /// Requests sent and not answered yet, for `failsh_poll_rtt_seconds`: host and send time.
    in_flight: BTreeMap<Nonce, (Arc<str>, Instant)>,
    /// systemd: watchdog pings and the status line, from the loop.
    notifier: crate::sdnotify::Notifier,
    changed: bool,
    last_publish: Option<Time>,
}

impl FailshHooks {
    pub fn new(
        procedures: SharedProcedures,
        recorder: Option<Recorder>,
        monitor: Option<MonitorServer>,
        dumper: Dumper,
        node: String,
    ) -> FailshHooks {
        FailshHooks {
            procedures,
            recorder,
            monitor,
            metrics: None,
            dumper,
            node,
            leases: AddressLeases::default(),
            notify_file: None,
            traps: Traps::default(),
            recent: VecDeque::new(),
            in_flight: BTreeMap::new(),
            notifier: crate::sdnotify::Notifier::from_env(),
            changed: true,
            last_publish: None,
        }
    }

    fn current(&self) -> Arc<Procedures> {
        self.procedures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn snapshot(&self, now: Time, shell: &Shell) -> Snapshot {
        Snapshot {
            format: FORMAT.to_string(),
            version: VERSION,
            node: self.node.clone(),
            unix_ms: unix_ms(),
            uptime_ms: now.as_ms(),
            services: shell.services_status(),
            hosts: shell.hosts_status(),
            quorum: shell.quorum_status(now),
            recent_events: self.recent.iter().cloned().collect(),
        }
    }
}

/// systemd's status line: `3 services: 2 UP, 1 RECOVER`.
pub fn status_line(shell: &Shell) -> String {
    let services = shell.services_status();
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for service in &services {
        let state = service.state.map_or("UNKNOWN", |s| s.as_str());
        match counts.iter_mut().find(|(s, _)| *s == state) {
            Some((_, n)) => *n += 1,
            None => counts.push((state, 1)),
        }
    }
    counts.sort_by_key(|(s, _)| {
        ["UP", "RECOVER", "FAIL", "UNKNOWN"]
            .iter()
            .position(|k| k == s)
    });
    let counts: Vec<String> = counts.iter().map(|(s, n)| format!("{n} {s}")).collect();
    format!(
        "{} service{}{}{}",
        services.len(),
        if services.len() == 1 { "" } else { "s" },
        if counts.is_empty() { "" } else { ": " },
        counts.join(", ")
    )
}

fn facility_of(event: &Event) -> (&'static str, Level) {
    match event {
        Event::StateChanged { .. } => ("decision", Level::Info),
        Event::ProcedureStarted { .. } | Event::ProcedureFinished { .. } => {
            ("procedure", Level::Info)
        }
        Event::Decision { .. } => ("decision", Level::Info),
        Event::HostReachable { .. } | Event::HostRestarted { .. } => ("poll", Level::Info),
        // Every change of every service pushes, this host's own writes too.
        Event::Pushed { .. } => ("poll", Level::Debug),
        Event::HostUnreachable { .. } => ("poll", Level::Warn),
        Event::BadReply { .. } => ("net", Level::Warn),
        Event::WriteFailed { .. } => ("decision", Level::Warn),
        Event::Link { up, .. } => ("decision", if *up { Level::Info } else { Level::Warn }),
        Event::HandoverComplete { complete, .. } => (
            "decision",
            if *complete { Level::Info } else { Level::Warn },
        ),
    }
}

impl ShellHooks for FailshHooks {
    fn handled(&mut self, now: Time, input: &Input, actions: &[Action]) {
        if let Input::Reconfigure(_) = input {
            // The reloaded configuration is in force (SIGHUP sent RELOADING=1).
            let _ = crate::sdnotify::notify_ready();
        }
        if let Some(recorder) = self.recorder.as_mut() {
            if let Err(e) = recorder.record(now, input, actions) {
                log::error!(target: "config", "cannot write the trace, stopped: {e}");
                self.recorder = None;
            }
        }
        if let Some(metrics) = &self.metrics {
            // Wall time, not the loop's milliseconds: a loopback answer takes microseconds.
            let at = Instant::now();
            if let Input::Received { bytes } = input {
                if let Some((host, sent)) = failover_core::wire::reply_nonce(bytes)
                    .and_then(|nonce| self.in_flight.remove(&nonce))
                {
                    metrics.round_trip(&host, at.duration_since(sent).as_secs_f64());
                }
            }
            if let Input::SendFailed { nonce, .. } = input {
                self.in_flight.remove(nonce);
            }
            for action in actions {
                if let Action::Send { to, nonce, .. } = action {
                    if self.in_flight.len() >= RTT_IN_FLIGHT {
                        let oldest = self
                            .in_flight
                            .iter()
                            .min_by_key(|(_, (_, sent))| *sent)
                            .map(|(nonce, _)| *nonce);
                        if let Some(oldest) = oldest {
                            self.in_flight.remove(&oldest);
                        }
                    }
                    self.in_flight.insert(*nonce, (Arc::clone(&to.host), at));
                }
            }
        }
    }

    fn run_procedure(
        &mut self,
        _now: Time,
        service: &str,
        kind: ProcedureKind,
        limit_ms: u64,
        done: ProcedureCompletion,
    ) {
        let procedures = self.current();
        let Some(name) = procedures.procedure(service, kind) else {
            done.finish(Err(format!("service {service} has no {kind} procedure")));
            return;
        };
        let mut interp = procedures.interp_of(service).clone();
        if let Some(lease_s) = procedures.lease_s(service) {
            ipaddr::register_leased(
                &mut interp,
                ProcedureLease {
                    service: service.to_string(),
                    lease_s,
                    leases: self.leases.clone(),
                },
            );
        }
        let id = done.id();
        let service = service.to_string();
        let spawned = thread::Builder::new()
            .name(format!("{kind} {service}"))
            .spawn(move || {
                // The deadline makes the interpreter fail and kill exec'd children at the
                // limit, when the core also gives up on the procedure.
                interp.set_deadline(Some(Instant::now() + Duration::from_millis(limit_ms)));
                let result = interp.call_proc(&name, &[]).map_err(|e| {
                    log::debug!(
                        target: "procedure",
                        "service {service}: {kind} (#{}) failed: {}",
                        id.0,
                        e.info
                    );
                    e.message
                });
                done.finish(result);
            });
        if let Err(e) = spawned {
            log::error!(target: "procedure", "cannot start a thread for a procedure: {e}");
        }
    }

    fn renew_addresses(
        &mut self,
        _now: Time,
        service: &str,
        lifetime_s: u32,
    ) -> Result<(), String> {
        self.leases.renew(service, lifetime_s)
    }

    fn lease_confirmed(&mut self, _now: Time, service: &str) {
        self.leases.confirmed(service);
    }

    /// On the loop's thread: a socket dump and a datagram per connection take well under a
    /// millisecond (bounded at 500 ms), and a SIGTERM handover exits right after, which a
    /// thread of its own might not outlive.
    fn reset_connections(
        &mut self,
        _now: Time,
        service: &str,
        addresses: &[std::net::IpAddr],
        reason: &str,
    ) {
        for address in addresses {
            match reset_connections(*address) {
                Ok(report) => {
                    let level = if report.errors.is_empty() {
                        log::Level::Info
                    } else {
                        log::Level::Warn
                    };
                    log::log!(
                        target: "procedure",
                        level,
                        "service {service}: reset {} of {} connections on {address} ({} clients nudged){}: {reason}",
                        report.destroyed,
                        report.found,
                        report.nudged,
                        if report.errors.is_empty() {
                            String::new()
                        } else {
                            format!("; {}", report.errors.join("; "))
                        }
                    );
                    if let Some(metrics) = &self.metrics {
                        metrics.connections_reset(service, report.found as u64);
                    }
                }
                Err(e) => log::warn!(
                    target: "procedure",
                    "service {service}: cannot reset the connections on {address}: {e} ({reason})"
                ),
            }
        }
    }

    fn kill_procedure(&mut self, _now: Time, id: ProcedureId) {
        // Its interpreter's deadline (set to the same limit) kills the exec'd children; the
        // core ignores the late result.
        log::warn!(target: "procedure", "procedure #{} ran past its limit: killed", id.0);
    }

    fn event(&mut self, now: Time, _shell: &Shell, event: &Event) {
        if let Some(metrics) = &self.metrics {
            metrics.event(now, event);
        }
        let (facility, level) = facility_of(event);
        let line = event.to_string();
        log::log!(target: facility, level.to_log(), "{line}");
        if self.recent.len() >= RECENT_EVENTS {
            self.recent.pop_front();
        }
        self.recent.push_back(crate::monitor::RecentEvent {
            wall_unix_ms: unix_ms(),
            uptime_ms: now.as_ms(),
            text: line,
        });
        self.changed = true;
        if let Event::StateChanged {
            service,
            from,
            to,
            reason,
        } = event
        {
            let from = from.map_or("UNKNOWN", |s| s.as_str());
            if let Some(notify_file) = self.notify_file.as_mut() {
                notify_file.change(SystemTime::now(), service, from, to.as_str(), reason);
            }
            let procedures = self.current();
            if let Some(trap) = procedures.trap(service) {
                // Traps notify; they never hold up the loop, and each gets the service's
                // procedure limit.
                let limit = Duration::from_millis(procedures.limit_ms(service));
                let interp = procedures.interp_of(service).clone();
                self.traps
                    .call(service, trap, interp, from, to.as_str(), limit);
            }
        }
    }

    fn after_input(&mut self, now: Time, shell: &Shell) {
        if self.notifier.due() {
            self.notifier.alive(&status_line(shell));
        }
        if self.monitor.is_none() && self.metrics.is_none() {
            return;
        }
        let stale = self
            .last_publish
            .is_none_or(|at| now.since_ms(at) >= MONITOR_REFRESH_MS);
        if self.changed || stale {
            let snapshot = self.snapshot(now, shell);
            if let Some(metrics) = &self.metrics {
                metrics.publish(snapshot.clone());
            }
            if let Some(monitor) = &self.monitor {
                monitor.publish(snapshot);
            }
            self.changed = false;
            self.last_publish = Some(now);
        }
    }

    /// The watchdog must hear from the loop even when every service polls less often than
    /// its half timeout, and the monitor and metrics get fresh ages every second.
    fn wake_within_ms(&self) -> Option<u64> {
        // A millisecond past the moment a ping is due, so that the wake finds it due.
        let watchdog = self
            .notifier
            .due_in()
            .map(|left| u64::try_from(left.as_millis()).unwrap_or(u64::MAX) + 1);
        let monitor =
            (self.monitor.is_some() || self.metrics.is_some()).then_some(MONITOR_REFRESH_MS);
        watchdog.into_iter().chain(monitor).min()
    }

    fn dump(&mut self, now: Time, shell: &Shell) {
        let recent: Vec<String> = self
            .recent
            .iter()
            .map(|e| {
                format!(
                    "{} {}",
                    crate::logging::utc_timestamp_ms(e.wall_unix_ms),
                    e.text
                )
            })
            .collect();
        let text = dump::render(now, shell, &recent);
        match self.dumper.dump(&text) {
            Ok(true) => log::info!(target: "config", "state dumped on SIGINT"),
            Ok(false) => log::info!(
                target: "config",
                "SIGINT: the dump FIFO has no reader; dump skipped"
            ),
            Err(e) => log::error!(target: "config", "{e}"),
        }
    }
}
