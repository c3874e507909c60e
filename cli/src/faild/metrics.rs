//! faild's loop watcher: `faild --metrics ADDR:PORT` (Prometheus text over HTTP `GET
//! /metrics`, see `docs/metrics.md`) and systemd's watchdog and status line. Both are fed from
//! inside faild's loop ([`LoopWatcher`]), so a hung loop stops the watchdog pings and the
//! scrape shows how old the last tick is (`faild_loop_tick_age_seconds`).

use crate::prometheus::{self, process_metrics, Family};
use crate::sdnotify::{self, Notifier};
use failover_core::drive::faild::{LoopNote, LoopWatcher};
use failover_core::drive::faild_limits::{Close, Eviction};
use failover_core::state::State;
use failover_core::store::{Store, StoreEvent};
use failover_core::time::Time;
use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

/// The scrape sees the services at most this late.
const METRICS_REFRESH: Duration = Duration::from_secs(1);
const STATES: [&str; 3] = ["UP", "RECOVER", "FAIL"];

/// One service as the last tick saw it.
#[derive(Clone, Debug)]
struct ServiceView {
    name: String,
    state: State,
    /// Wall-clock milliseconds of the last change (faild's clock).
    changed_at_ms: u64,
    lease_ms: Option<u64>,
}

#[derive(Debug, Default)]
struct Shared {
    services: Vec<ServiceView>,
    /// Wall-clock milliseconds of the last tick, and when it was (for its age).
    tick: Option<(u64, Instant)>,
    tcp_open: usize,
    tcp_unauthenticated: usize,
    /// (subscriber, service) pairs faild pushes to, and the pushes it sent.
    subscriptions: usize,
    pushes: u64,
    requests: BTreeMap<&'static str, u64>,
    /// (service, from, to) -> changes.
    changes: BTreeMap<(String, String, String), u64>,
    refused: u64,
    forbidden: u64,
    bad_challenges: u64,
    lease_expirations: BTreeMap<String, u64>,
    not_stored: u64,
    /// "ok" / "error" -> state file writes.
    writes: BTreeMap<&'static str, u64>,
    tcp_accepted: u64,
    tcp_refused: u64,
    evictions: BTreeMap<&'static str, u64>,
    closes: BTreeMap<&'static str, u64>,
    reloads: BTreeMap<&'static str, u64>,
}

/// What the endpoint's thread reads and the loop writes.
#[derive(Debug, Clone)]
pub struct Metrics {
    endpoint: prometheus::Endpoint<Shared>,
}

impl Metrics {
    /// Serves `listener` from a thread of its own.
    pub fn start(listener: TcpListener) -> std::io::Result<Metrics> {
        Ok(Metrics {
            endpoint: prometheus::Endpoint::start(listener, "faild", render)?,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.endpoint.local_addr()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.endpoint.lock()
    }
}

/// The watcher faild's loop calls: metrics (when `--metrics`) and systemd (when
/// `NOTIFY_SOCKET`).
#[derive(Debug)]
pub struct Watcher {
    metrics: Option<Metrics>,
    notifier: Notifier,
}

impl Watcher {
    /// `None` when there is nothing to watch for: no metrics and no systemd.
    pub fn new(metrics: Option<Metrics>, notifier: Notifier) -> Option<Watcher> {
        (metrics.is_some() || notifier.enabled()).then_some(Watcher { metrics, notifier })
    }
}

/// `N services (a UP, b RECOVER, c FAIL), M clients (TCP connections, u unauthenticated)`.
pub fn status_line(store: &Store, tcp: (usize, usize)) -> String {
    let mut counts = [0usize; 3];
    let mut total = 0;
    for record in store.services() {
        total += 1;
        counts[STATES
            .iter()
            .position(|s| *s == record.state.as_str())
            .unwrap_or(2)] += 1;
    }
    let states: Vec<String> = STATES
        .iter()
        .zip(counts)
        .filter(|(_, n)| *n > 0)
        .map(|(s, n)| format!("{n} {s}"))
        .collect();
    let states = if states.is_empty() {
        String::new()
    } else {
        format!(": {}", states.join(", "))
    };
    format!(
        "{total} service{}{states}; {} client{} (TCP, {} unauthenticated)",
        if total == 1 { "" } else { "s" },
        tcp.0,
        if tcp.0 == 1 { "" } else { "s" },
        tcp.1
    )
}

impl LoopWatcher for Watcher {
    fn every(&self) -> Duration {
        let metrics = self.metrics.as_ref().map(|_| METRICS_REFRESH);
        match (metrics, self.notifier.every()) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b).unwrap_or(METRICS_REFRESH),
        }
    }

    fn tick(&mut self, now: Time, store: &Store, tcp: (usize, usize)) {
        if let Some(metrics) = &self.metrics {
            let services = store
                .services()
                .map(|record| ServiceView {
                    name: record.name.clone(),
                    state: record.state,
                    changed_at_ms: record.changed_at.as_ms(),
                    lease_ms: record.lease_ms,
                })
                .collect();
            let mut shared = metrics.lock();
            shared.services = services;
            shared.tick = Some((now.as_ms(), Instant::now()));
            shared.tcp_open = tcp.0;
            shared.tcp_unauthenticated = tcp.1;
            shared.subscriptions = store.subscriptions();
        }
        if self.notifier.due() {
            self.notifier.alive(&status_line(store, tcp));
        }
    }

    fn note(&mut self, note: LoopNote<'_>) {
        match note {
            LoopNote::Reloading => {
                let _ = sdnotify::notify_reloading();
            }
            LoopNote::Reloaded { .. } => {
                let _ = sdnotify::notify_ready();
            }
            _ => {}
        }
        let Some(metrics) = &self.metrics else {
            return;
        };
        let mut shared = metrics.lock();
        match note {
            LoopNote::Request { kind } => *shared.requests.entry(kind).or_default() += 1,
            LoopNote::Event(event) => match event {
                StoreEvent::Changed {
                    service, from, to, ..
                } => {
                    let from = from.map_or("UNKNOWN", State::as_str).to_string();
                    *shared
                        .changes
                        .entry((service.clone(), from, to.as_str().to_string()))
                        .or_default() += 1;
                }
                StoreEvent::Refused { .. } => shared.refused += 1,
                StoreEvent::Forbidden { .. } => shared.forbidden += 1,
                StoreEvent::BadChallenge { .. } => shared.bad_challenges += 1,
                StoreEvent::LeaseExpired { service, .. } => {
                    *shared.lease_expirations.entry(service.clone()).or_default() += 1;
                }
                StoreEvent::NotStored { .. } => shared.not_stored += 1,
                // Counted as requests of kind malformed; a failed write as a write below.
                StoreEvent::Malformed { .. } | StoreEvent::PersistFailed { .. } => {}
            },
            LoopNote::Persisted { ok } => {
                *shared
                    .writes
                    .entry(if ok { "ok" } else { "error" })
                    .or_default() += 1;
            }
            LoopNote::Pushed => shared.pushes += 1,
            LoopNote::Admitted => shared.tcp_accepted += 1,
            LoopNote::Refused => shared.tcp_refused += 1,
            LoopNote::Evicted(why) => {
                let why = match why {
                    Eviction::SourceFull => "source_full",
                    Eviction::UnauthenticatedFull => "unauthenticated_full",
                    Eviction::TableFull => "table_full",
                };
                *shared.evictions.entry(why).or_default() += 1;
            }
            LoopNote::Closed(why) => {
                let why = match why {
                    Close::ClosedByClient => "client",
                    Close::Idle { .. } => "idle",
                    Close::FrameTimeout { .. } => "frame_timeout",
                    Close::FrameTooLarge { .. } => "frame_too_large",
                    Close::EmptyFrame => "empty_frame",
                    Close::Evicted(_) => "evicted",
                    Close::NotReading => "not_reading",
                    Close::Failed(_) => "failed",
                    Close::Stopping => "stopping",
                };
                *shared.closes.entry(why).or_default() += 1;
            }
            LoopNote::Reloading => {}
            LoopNote::Reloaded { ok } => {
                *shared
                    .reloads
                    .entry(if ok { "ok" } else { "rejected" })
                    .or_default() += 1;
            }
        }
    }
}

fn render(shared: &Shared, started_unix_s: Option<f64>) -> String {
    let mut out = String::new();
    let mut f = Family::new(&mut out);
    f.head("faild_build_info", "gauge", "faild's version (always 1).");
    f.sample(&[("version", env!("CARGO_PKG_VERSION"))], 1);
    if let Some((now_ms, at)) = shared.tick {
        f.head(
            "faild_loop_tick_age_seconds",
            "gauge",
            "Seconds since faild's loop last reported (about 1 at most in a live faild).",
        );
        f.sample(&[], at.elapsed().as_secs_f64());
        f.head("faild_services", "gauge", "Services faild stores.");
        f.sample(&[], shared.services.len());
        f.head(
            "faild_subscriptions",
            "gauge",
            "(subscriber, service) pairs faild pushes changes to (at most 4096).",
        );
        f.sample(&[], shared.subscriptions);
        f.head(
            "faild_service_state",
            "gauge",
            "1 for the state faild stores for the service.",
        );
        for service in &shared.services {
            for state in STATES {
                f.sample(
                    &[("service", &service.name), ("state", state)],
                    u8::from(service.state.as_str() == state),
                );
            }
        }
        f.head(
            "faild_service_state_change_age_seconds",
            "gauge",
            "Seconds since the service's state last changed (wall clock; survives restarts).",
        );
        for service in &shared.services {
            let age_ms = now_ms.saturating_sub(service.changed_at_ms);
            f.sample(&[("service", &service.name)], age_ms as f64 / 1000.0);
        }
        f.head(
            "faild_service_lease_seconds",
            "gauge",
            "The lease of an UP service: it turns FAIL unless renewed within this long.",
        );
        for service in &shared.services {
            if let Some(lease_ms) = service.lease_ms {
                f.sample(&[("service", &service.name)], lease_ms as f64 / 1000.0);
            }
        }
        f.head(
            "faild_tcp_connections",
            "gauge",
            "TCP connections open, by whether faild has authenticated them.",
        );
        let authenticated = shared.tcp_open.saturating_sub(shared.tcp_unauthenticated);
        f.sample(&[("authenticated", "yes")], authenticated);
        f.sample(&[("authenticated", "no")], shared.tcp_unauthenticated);
    }
    let counters: [(&'static str, &str, &BTreeMap<&'static str, u64>, &str); 5] = [
        (
            "faild_requests_total",
            "Requests received, by kind (query, set, list; malformed: did not decode).",
            &shared.requests,
            "kind",
        ),
        (
            "faild_state_file_writes_total",
            "Writes of the state file, by result (ok, error).",
            &shared.writes,
            "result",
        ),
        (
            "faild_tcp_evictions_total",
            "Unauthenticated TCP connections closed to make room, by the limit that was reached (source_full is the per-source limit).",
            &shared.evictions,
            "reason",
        ),
        (
            "faild_tcp_closed_total",
            "TCP connections that ended, by why.",
            &shared.closes,
            "reason",
        ),
        (
            "faild_reloads_total",
            "SIGHUP re-reads of the community file, by result (ok, rejected).",
            &shared.reloads,
            "result",
        ),
    ];
    for (name, help, map, key) in counters {
        f.head(name, "counter", help);
        for (value, count) in map {
            f.sample(&[(key, value)], count);
        }
    }
    f.head(
        "faild_state_changes_total",
        "counter",
        "State changes stored since faild started (from is UNKNOWN for a new service).",
    );
    for ((service, from, to), count) in &shared.changes {
        f.sample(&[("service", service), ("from", from), ("to", to)], count);
    }
    f.head(
        "faild_lease_expirations_total",
        "counter",
        "UP leases that ran out (the service turned FAIL), by service.",
    );
    for (service, count) in &shared.lease_expirations {
        f.sample(&[("service", service)], count);
    }
    let plain = [
        (
            "faild_auth_failures_total",
            "Requests no community verified (refused).",
            shared.refused,
        ),
        (
            "faild_forbidden_total",
            "Requests whose community does not grant the access asked for from that address.",
            shared.forbidden,
        ),
        (
            "faild_bad_challenges_total",
            "Sets with an unknown, used or expired challenge.",
            shared.bad_challenges,
        ),
        (
            "faild_pushes_total",
            "Pushes sent to subscribers when a service changed (docs/protocol.md, Push).",
            shared.pushes,
        ),
        (
            "faild_changes_not_stored_total",
            "Sets refused because the state file could not be written.",
            shared.not_stored,
        ),
        (
            "faild_tcp_accepted_total",
            "TCP connections admitted.",
            shared.tcp_accepted,
        ),
        (
            "faild_tcp_refused_total",
            "TCP connections closed at once: every slot was held by an authenticated one.",
            shared.tcp_refused,
        ),
    ];
    for (name, help, count) in plain {
        f.head(name, "counter", help);
        f.sample(&[], count);
    }
    process_metrics(&mut f, started_unix_s);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use failover_core::community::Communities;
    use failover_core::store::{ServiceRecord, StoreConfig};

    #[test]
    fn the_status_line_counts_states_and_clients() {
        let record = |name: &str, state| ServiceRecord {
            name: name.to_string(),
            state,
            backup: None,
            changed_at: Time(0),
            lease_ms: None,
            note: None,
        };
        let store = Store::new(
            StoreConfig {
                boot_id: 1,
                seed: 2,
                communities: Communities::default_public_read_only(),
            },
            vec![
                record("a", State::Up),
                record("b", State::Fail),
                record("c", State::Fail),
            ],
        );
        assert_eq!(
            status_line(&store, (2, 1)),
            "3 services: 1 UP, 2 FAIL; 2 clients (TCP, 1 unauthenticated)"
        );
    }
}
