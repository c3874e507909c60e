//! `failsh --metrics ADDR:PORT`: Prometheus text format (version 0.0.4) over HTTP `GET
//! /metrics`, from failsh's own state (the monitor's snapshot), the counters its events feed,
//! the round trips of its polls, and the process (`/proc/self`). `docs/metrics.md` lists every
//! metric; the serving and the format are [`crate::prometheus`]'s.

use crate::monitor::Snapshot;
use crate::prometheus::{self, process_metrics, Family, Histogram};
use failover_core::shell::{Event, ProcedureId};
use failover_core::state::State;
use failover_core::time::Time;
use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};

/// Bounds of `failsh_poll_rtt_seconds`: from a loopback answer (tens of microseconds) to a
/// poll timeout of a second.
pub const RTT_BOUNDS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];
const STATES: [&str; 4] = ["UP", "RECOVER", "FAIL", "UNKNOWN"];

#[derive(Debug, Default)]
struct Counters {
    /// (service, from, to) -> count.
    transitions: BTreeMap<(String, String, String), u64>,
    /// (service, kind, outcome) -> count.
    procedures: BTreeMap<(String, String, String), u64>,
    /// (service, kind) -> (seconds summed, count) of finished procedures.
    durations: BTreeMap<(String, String), (f64, u64)>,
    running: BTreeMap<ProcedureId, Time>,
    /// host -> times it became unreachable.
    unreachable: BTreeMap<String, u64>,
    /// host -> replies that did not verify or parse.
    bad_replies: BTreeMap<String, u64>,
    /// host -> pushes taken from its faild (each made failsh read it at once).
    pushes: BTreeMap<String, u64>,
    /// service -> connections reset after the service moved to another host.
    connections_reset: BTreeMap<String, u64>,
    /// service -> writes to the local faild that failed.
    write_failures: BTreeMap<String, u64>,
    /// host -> round trips of its faild's answers.
    rtt: BTreeMap<String, Histogram>,
}

#[derive(Debug, Default)]
struct Shared {
    snapshot: Option<Snapshot>,
    counters: Counters,
}

/// What the loop feeds (events, snapshots) and the server reads.
#[derive(Debug, Clone)]
pub struct Metrics {
    endpoint: prometheus::Endpoint<Shared>,
}

impl Metrics {
    /// Serves `listener` from a thread of its own.
    pub fn start(listener: TcpListener) -> std::io::Result<Metrics> {
        Ok(Metrics {
            endpoint: prometheus::Endpoint::start(listener, "failsh", render)?,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.endpoint.local_addr()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.endpoint.lock()
    }

    pub fn publish(&self, snapshot: Snapshot) {
        self.lock().snapshot = Some(snapshot);
    }

    pub fn event(&self, now: Time, event: &Event) {
        let mut shared = self.lock();
        let counters = &mut shared.counters;
        match event {
            Event::StateChanged {
                service, from, to, ..
            } => {
                let from = from.map_or("UNKNOWN", State::as_str).to_string();
                *counters
                    .transitions
                    .entry((service.clone(), from, to.as_str().to_string()))
                    .or_default() += 1;
            }
            Event::ProcedureStarted { id, .. } => {
                counters.running.insert(*id, now);
            }
            Event::ProcedureFinished {
                service,
                kind,
                id,
                outcome,
            } => {
                *counters
                    .procedures
                    .entry((
                        service.clone(),
                        kind.as_str().to_string(),
                        outcome_label(outcome).to_string(),
                    ))
                    .or_default() += 1;
                if let Some(started) = counters.running.remove(id) {
                    let entry = counters
                        .durations
                        .entry((service.clone(), kind.as_str().to_string()))
                        .or_default();
                    entry.0 += now.since_ms(started) as f64 / 1000.0;
                    entry.1 += 1;
                }
            }
            Event::HostUnreachable { host, .. } => {
                *counters.unreachable.entry(host.clone()).or_default() += 1;
            }
            Event::BadReply { host, .. } => {
                *counters.bad_replies.entry(host.clone()).or_default() += 1;
            }
            Event::Pushed { host, .. } => {
                *counters.pushes.entry(host.clone()).or_default() += 1;
            }
            Event::WriteFailed { service, .. } => {
                *counters.write_failures.entry(service.clone()).or_default() += 1;
            }
            _ => {}
        }
    }

    /// `count` connections of `service` were reset after it moved away.
    pub fn connections_reset(&self, service: &str, count: u64) {
        *self
            .lock()
            .counters
            .connections_reset
            .entry(service.to_string())
            .or_default() += count;
    }

    /// A reply from `host`'s faild arrived `seconds` after its request was sent.
    pub fn round_trip(&self, host: &str, seconds: f64) {
        let mut shared = self.lock();
        shared
            .counters
            .rtt
            .entry(host.to_string())
            .or_insert_with(|| Histogram::new(&RTT_BOUNDS))
            .observe(seconds);
    }

    /// The text `GET /metrics` answers now.
    pub fn render(&self) -> String {
        let shared = self.lock();
        render(&shared, None)
    }
}

/// `returned UP` -> `up`; a procedure that failed, was killed or did not start -> `error`.
fn outcome_label(outcome: &str) -> &'static str {
    match outcome.strip_prefix("returned ") {
        Some(rest) if rest.starts_with("UP") => "up",
        Some(rest) if rest.starts_with("RECOVER") => "recover",
        Some(rest) if rest.starts_with("FAIL") => "fail",
        _ if outcome.starts_with("not started") => "not_started",
        _ => "error",
    }
}

/// Seconds from `at` to `now_ms`, both on failsh's clock.
fn age_s(now_ms: u64, at: Time) -> f64 {
    now_ms.saturating_sub(at.as_ms()) as f64 / 1000.0
}

fn render(shared: &Shared, started_unix_s: Option<f64>) -> String {
    let mut out = String::new();
    let mut f = Family::new(&mut out);
    let counters = &shared.counters;
    f.head("failsh_build_info", "gauge", "failsh's version (always 1).");
    f.sample(&[("version", env!("CARGO_PKG_VERSION"))], 1);
    if let Some(snapshot) = &shared.snapshot {
        let uptime_ms = snapshot.uptime_ms;
        f.head(
            "failsh_service_state",
            "gauge",
            "1 for the state the service is in here (UNKNOWN until the local faild answers).",
        );
        for service in &snapshot.services {
            let current = service.state.map_or("UNKNOWN", State::as_str);
            for state in STATES {
                f.sample(
                    &[("service", &service.name), ("state", state)],
                    u8::from(state == current),
                );
            }
        }
        f.head(
            "failsh_service_state_change_age_seconds",
            "gauge",
            "Seconds since the service last changed state here.",
        );
        for service in &snapshot.services {
            if let Some(at) = service.last_change {
                let age = age_s(uptime_ms, at);
                f.sample(&[("service", &service.name)], age);
            }
        }
        f.head(
            "failsh_service_interval_seconds",
            "gauge",
            "The service's poll interval.",
        );
        for service in &snapshot.services {
            f.sample(
                &[("service", &service.name)],
                service.interval_ms as f64 / 1000.0,
            );
        }
        f.head(
            "failsh_procedure_running",
            "gauge",
            "1 while a procedure of the service runs, by kind.",
        );
        for service in &snapshot.services {
            for kind in ["start", "stop", "reclaim", "check"] {
                let running = service.procedure.is_some_and(|p| p.as_str() == kind);
                f.sample(
                    &[("service", &service.name), ("kind", kind)],
                    u8::from(running),
                );
            }
        }
        f.head(
            "failsh_peer_state",
            "gauge",
            "1 for the state each master and slave counts as here (FAIL when it does not answer).",
        );
        for service in &snapshot.services {
            for (role, peers) in [("master", &service.masters), ("slave", &service.slaves)] {
                for (host, state) in peers {
                    for candidate in ["UP", "RECOVER", "FAIL"] {
                        f.sample(
                            &[
                                ("service", &service.name),
                                ("host", host),
                                ("role", role),
                                ("state", candidate),
                            ],
                            u8::from(state.as_str() == candidate),
                        );
                    }
                }
            }
        }
        f.head(
            "failsh_track_carrier",
            "gauge",
            "Carrier of each tracked interface: 1 up, 0 down (absent until reported).",
        );
        for service in &snapshot.services {
            for (interface, up) in &service.track {
                if let Some(up) = up {
                    f.sample(
                        &[("service", &service.name), ("interface", interface)],
                        u8::from(*up),
                    );
                }
            }
        }
        f.head(
            "failsh_lease_seconds",
            "gauge",
            "The service's lease: the kernel lifetime of its addresses and faild's UP lease.",
        );
        for service in &snapshot.services {
            if let Some(lease_ms) = service.lease_ms {
                f.sample(&[("service", &service.name)], lease_ms as f64 / 1000.0);
            }
        }
        f.head(
            "failsh_lease_renewal_age_seconds",
            "gauge",
            "Seconds since the local faild last acknowledged the UP lease (absent when not UP).",
        );
        for service in &snapshot.services {
            if let Some(at) = service.lease_renewed {
                f.sample(&[("service", &service.name)], age_s(uptime_ms, at));
            }
        }
        f.head(
            "failsh_host_reachable",
            "gauge",
            "1 when the host's faild answers, 0 when it does not (absent before the first poll).",
        );
        for host in &snapshot.hosts {
            if let Some(reachable) = host.reachable {
                f.sample(&[("host", &host.name)], u8::from(reachable));
            }
        }
        f.head(
            "failsh_host_last_contact_age_seconds",
            "gauge",
            "Seconds since the host's faild last answered.",
        );
        for host in &snapshot.hosts {
            if let Some(at) = host.last_contact {
                f.sample(&[("host", &host.name)], age_s(uptime_ms, at));
            }
        }
        f.head(
            "failsh_quorum_majority",
            "gauge",
            "Witnessed services: 1 while this host is in contact with a majority of the group.",
        );
        for quorum in &snapshot.quorum {
            f.sample(&[("service", &quorum.service)], u8::from(quorum.majority));
        }
        f.head(
            "failsh_quorum_group_size",
            "gauge",
            "Witnessed services: this host, its masters and slaves, and the witnesses.",
        );
        for quorum in &snapshot.quorum {
            f.sample(&[("service", &quorum.service)], quorum.group);
        }
        f.head(
            "failsh_quorum_member_in_contact",
            "gauge",
            "Witnessed services: 1 while the member's faild answered within the contact window.",
        );
        for quorum in &snapshot.quorum {
            for member in &quorum.members {
                f.sample(
                    &[
                        ("service", &quorum.service),
                        ("member", &member.name),
                        ("role", &member.role),
                    ],
                    u8::from(member.in_contact),
                );
            }
        }
    }
    f.head(
        "failsh_transitions_total",
        "counter",
        "State changes of each service here since failsh started.",
    );
    for ((service, from, to), count) in &counters.transitions {
        f.sample(&[("service", service), ("from", from), ("to", to)], count);
    }
    f.head(
        "failsh_procedure_runs_total",
        "counter",
        "Procedures that finished, by kind and outcome (up, recover, fail, error, not_started).",
    );
    for ((service, kind, outcome), count) in &counters.procedures {
        f.sample(
            &[("service", service), ("kind", kind), ("outcome", outcome)],
            count,
        );
    }
    f.head(
        "failsh_procedure_duration_seconds",
        "summary",
        "How long procedures ran, from the decision to the result.",
    );
    for ((service, kind), (sum, count)) in &counters.durations {
        let labels = [("service", service.as_str()), ("kind", kind.as_str())];
        f.sample_suffixed("_sum", &labels, sum);
        f.sample_suffixed("_count", &labels, count);
    }
    f.head(
        "failsh_host_unreachable_total",
        "counter",
        "Times each host's faild stopped answering.",
    );
    for (host, count) in &counters.unreachable {
        f.sample(&[("host", host)], count);
    }
    f.head(
        "failsh_bad_replies_total",
        "counter",
        "Replies that did not parse, verify or were refused, by host.",
    );
    for (host, count) in &counters.bad_replies {
        f.sample(&[("host", host)], count);
    }
    f.head(
        "failsh_pushes_total",
        "counter",
        "Pushes taken from each host's faild (a change read at once, not at the next round).",
    );
    for (host, count) in &counters.pushes {
        f.sample(&[("host", host)], count);
    }
    f.head(
        "failsh_connections_reset_total",
        "counter",
        "TCP connections on a service's addresses reset here after it moved to another host.",
    );
    for (service, count) in &counters.connections_reset {
        f.sample(&[("service", service)], count);
    }
    f.head(
        "failsh_write_failures_total",
        "counter",
        "State writes to the local faild that failed, by service.",
    );
    for (service, count) in &counters.write_failures {
        f.sample(&[("service", service)], count);
    }
    f.head(
        "failsh_poll_rtt_seconds",
        "histogram",
        "Round trip of polls and writes to each host's faild, from the send to the reply.",
    );
    for (host, histogram) in &counters.rtt {
        histogram.write(&mut f, &[("host", host)]);
    }
    process_metrics(&mut f, started_unix_s);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use failover_core::shell::ProcedureKind;
    use std::io::{Read, Write};
    use std::net::TcpStream;

    #[test]
    fn outcomes_are_named() {
        assert_eq!(outcome_label("returned UP"), "up");
        assert_eq!(outcome_label("returned RECOVER"), "recover");
        assert_eq!(outcome_label("failed: boom"), "error");
        assert_eq!(
            outcome_label("not started: the local faild did not store UP"),
            "not_started"
        );
    }

    #[test]
    fn events_become_counters_and_durations() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let metrics = Metrics::start(listener).expect("start");
        let service = "198.18.0.50".to_string();
        metrics.event(
            Time(1_000),
            &Event::ProcedureStarted {
                service: service.clone(),
                kind: ProcedureKind::Start,
                id: ProcedureId(1),
                reason: "no slave is UP".to_string(),
            },
        );
        metrics.event(
            Time(1_250),
            &Event::ProcedureFinished {
                service: service.clone(),
                kind: ProcedureKind::Start,
                id: ProcedureId(1),
                outcome: "returned UP".to_string(),
            },
        );
        metrics.event(
            Time(1_250),
            &Event::StateChanged {
                service: service.clone(),
                from: Some(State::Recover),
                to: State::Up,
                reason: "start returned UP".to_string(),
            },
        );
        let text = metrics.render();
        for expected in [
            "failsh_transitions_total{service=\"198.18.0.50\",from=\"RECOVER\",to=\"UP\"} 1",
            "failsh_procedure_runs_total{service=\"198.18.0.50\",kind=\"start\",outcome=\"up\"} 1",
            "failsh_procedure_duration_seconds_sum{service=\"198.18.0.50\",kind=\"start\"} 0.25",
            "failsh_procedure_duration_seconds_count{service=\"198.18.0.50\",kind=\"start\"} 1",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in\n{text}");
        }
        metrics.round_trip("macbeth", 0.0003);
        let text = metrics.render();
        assert!(
            text.contains("failsh_poll_rtt_seconds_bucket{host=\"macbeth\",le=\"0.0005\"} 1"),
            "{text}"
        );
        // Over HTTP: the same text, and a clear answer to anything else.
        let get = |request: &str| {
            let mut stream = TcpStream::connect(metrics.local_addr()).expect("connect");
            stream.write_all(request.as_bytes()).expect("write");
            let mut answer = String::new();
            stream.read_to_string(&mut answer).expect("read");
            answer
        };
        let answer = get("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        assert!(answer.contains("text/plain; version=0.0.4"), "{answer}");
        assert!(answer.contains("failsh_procedure_runs_total"), "{answer}");
        assert!(get("GET /nothing HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404"));
        assert!(get("POST /metrics HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 405"));
    }
}
