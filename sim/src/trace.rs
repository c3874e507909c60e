//! Traces of one decision machine (DESIGN §6): the format, its parsing and the replay are
//! `failover_core::trace` (failsh's `--record` writes the same format); this keeps the traces
//! of every machine of a simulated run and names the file in replay errors.
//!
//! failsh writes them with `--record FILE`; the simulator with `failsim run --trace-dir DIR`;
//! `failsim replay FILE` feeds the inputs to a fresh machine and reports the first action that
//! differs from the recorded one.

use failover_core::shell::{Action, Input, ShellConfig};
use failover_core::time::Time;
use failover_core::trace::{header_line, input_line};
use std::collections::BTreeMap;
use std::fmt;
use std::fmt::Write as _;

pub use failover_core::trace::{Difference, ReplayReport, TraceHeader, FORMAT, VERSION};

/// The traces of every decision machine of a run, by `HOST-INCARNATION`.
#[derive(Debug, Default)]
pub struct TraceRecorder {
    traces: BTreeMap<String, Vec<String>>,
}

impl TraceRecorder {
    pub fn new(_seed: u64) -> TraceRecorder {
        TraceRecorder::default()
    }

    pub fn start(&mut self, name: &str, config: &ShellConfig, seed: u64, start: Time) {
        let line = header_line(config, seed, start);
        self.traces.insert(name.to_string(), vec![line]);
    }

    pub fn record(&mut self, name: &str, at: Time, input: &Input, actions: &[Action]) {
        let Some(lines) = self.traces.get_mut(name) else {
            return;
        };
        lines.push(input_line(at, input, Some(actions)));
    }

    pub fn finish(self) -> Vec<(String, Vec<String>)> {
        self.traces.into_iter().collect()
    }
}

/// A trace that cannot be read, with the file, the line and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceError(pub String);

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TraceError {}

/// Replays a trace's text; `source` names it in errors.
pub fn replay(text: &str, source: &str) -> Result<ReplayReport, TraceError> {
    failover_core::trace::replay(text)
        .map_err(|e| TraceError(format!("{source}:{}: {}", e.line, e.message)))
}

/// What a lane of a trace's timeline shows from some instant on.
#[derive(Clone, PartialEq)]
struct Look {
    fill: &'static str,
    title: String,
}

/// The lanes of a trace's timeline as they change: by (service, host), in order of
/// appearance.
#[derive(Default)]
struct LaneChanges {
    order: Vec<(String, String)>,
    changes: BTreeMap<(String, String), Vec<(u64, Look)>>,
}

impl LaneChanges {
    fn change(&mut self, service: &str, host: &str, at: u64, look: Look) {
        let key = (service.to_string(), host.to_string());
        let list = self.changes.entry(key.clone()).or_default();
        if list.is_empty() {
            self.order.push(key);
        }
        match list.last_mut() {
            Some((_, last)) if *last == look => {}
            // Unknown for no time at all: not drawn.
            Some((when, last)) if *when == at && last.fill == crate::svg::UNKNOWN => *last = look,
            _ => list.push((at, look)),
        }
    }

    /// Every service's other hosts as `shell` counts them now (and this host's lane, unknown
    /// until its first state change).
    fn views(&mut self, shell: &failover_core::shell::Shell, local: &str, at: u64) {
        let reachable: BTreeMap<String, Option<bool>> = shell
            .hosts_status()
            .into_iter()
            .map(|h| (h.name, h.reachable))
            .collect();
        for service in shell.services_status() {
            if !self
                .changes
                .contains_key(&(service.name.clone(), local.to_string()))
            {
                let look = Look {
                    fill: crate::svg::state_colour(service.state),
                    title: service
                        .state
                        .map_or("unknown", failover_core::state::State::as_str)
                        .to_string(),
                };
                self.change(&service.name, local, at, look);
            }
            for (peer, state) in service.masters.iter().chain(&service.slaves) {
                let look = match reachable.get(peer).copied().flatten() {
                    None => Look {
                        fill: crate::svg::UNKNOWN,
                        title: format!("{peer}: not asked yet"),
                    },
                    Some(false) => Look {
                        fill: crate::svg::DOWN,
                        title: format!("{peer} does not answer (counts as {state})"),
                    },
                    Some(true) => Look {
                        fill: crate::svg::state_colour(Some(*state)),
                        title: format!("{peer} counts as {state}"),
                    },
                };
                self.change(&service.name, peer, at, look);
            }
        }
    }
}

/// The [`svg::Timeline`](crate::svg::Timeline) of a recorded trace (`failsim replay TRACE
/// --timeline FILE.svg`): per service, a lane with this host's state (from the recorded
/// `state_changed` events), bars for its procedures (from `run_procedure` to the
/// `procedure_done` input or the `kill_procedure` action), and a lane for each other host with
/// the state this failsh counted it in after each input (its faild's answers, FAIL when it
/// stopped answering), drawn dark grey while it does not answer. The inputs are fed to a fresh
/// machine for those views; the recorded actions are drawn (the replayed ones where a line
/// recorded none). SIGTERM (shutdown) and SIGHUP (reconfigure) are marked. Times are
/// milliseconds from the trace's start. `host` names this host's lanes (a trace knows it as
/// `localhost`).
pub fn timeline(
    text: &str,
    source: &str,
    host: Option<&str>,
) -> Result<crate::svg::Timeline, TraceError> {
    use crate::svg::{Lane, Mark, Span, Timeline};
    use failover_core::shell::{Event, ProcedureId, Shell};
    use serde_json::Value;

    let error = |line: usize, message: String| TraceError(format!("{source}:{line}: {message}"));
    let (header, entries) =
        failover_core::trace::read_header::<Value>(text).map_err(|e| error(e.line, e.message))?;
    let start = header.start_ms;
    let local = host.unwrap_or(&header.config.local_host).to_string();
    let mut shell = Shell::new(header.config, header.seed, Time(start))
        .map_err(|e| error(1, format!("the configuration is refused: {e}")))?;
    while shell.poll_action().is_some() {}

    let mut lanes_seen = LaneChanges::default();
    let mut bars: BTreeMap<String, Vec<Span>> = BTreeMap::new();
    // Running procedures: id -> (service, index in its bars); why each was started.
    let mut running: BTreeMap<ProcedureId, (String, usize)> = BTreeMap::new();
    let mut reasons: BTreeMap<ProcedureId, String> = BTreeMap::new();
    let mut marks = Vec::new();
    let mut end_ms = 0;
    lanes_seen.views(&shell, &local, 0);
    for entry in entries {
        let (_, entry) = entry.map_err(|e| error(e.line, e.message))?;
        let at = entry.at_ms.saturating_sub(start);
        end_ms = end_ms.max(at);
        match &entry.input {
            Input::Shutdown { keep_services } => marks.push(Mark {
                at_ms: at,
                label: "SIGTERM".to_string(),
                title: format!(
                    "failsh told to stop (SIGTERM){}",
                    if *keep_services {
                        ", keeping services (-k)"
                    } else {
                        ""
                    }
                ),
            }),
            Input::Reconfigure(_) => marks.push(Mark {
                at_ms: at,
                label: "SIGHUP".to_string(),
                title: "failsh reloaded its configuration (SIGHUP)".to_string(),
            }),
            Input::ProcedureDone { id, result } => {
                if let Some((service, index)) = running.remove(id) {
                    if let Some(bar) = bars.get_mut(&service).and_then(|b| b.get_mut(index)) {
                        bar.to_ms = at;
                        let _ = match result {
                            Ok(text) => write!(bar.title, ", returned {text}"),
                            Err(e) => write!(bar.title, ", failed: {e}"),
                        };
                    }
                }
            }
            _ => {}
        }
        shell.handle(Time(entry.at_ms), entry.input);
        let replayed: Vec<Action> = std::iter::from_fn(|| shell.poll_action()).collect();
        let actions: Vec<Action> = match entry.actions {
            Some(recorded) => recorded
                .into_iter()
                .filter_map(|a| serde_json::from_value(a).ok())
                .collect(),
            None => replayed,
        };
        for action in actions {
            match action {
                Action::Event(Event::ProcedureStarted { id, reason, .. }) => {
                    reasons.insert(id, reason);
                }
                Action::RunProcedure {
                    id, service, kind, ..
                } => {
                    let name = shell.service_name(service).unwrap_or("?").to_string();
                    let list = bars.entry(name.clone()).or_default();
                    running.insert(id, (name, list.len()));
                    let mut title = format!("{kind} (#{}) at {:.3} s", id.0, at as f64 / 1000.0);
                    if let Some(reason) = reasons.remove(&id) {
                        let _ = write!(title, ": {reason}");
                    }
                    list.push(Span {
                        from_ms: at,
                        to_ms: at,
                        fill: procedure_colour(kind),
                        class: format!("procedure {kind}"),
                        label: kind.to_string(),
                        title,
                        ..Span::default()
                    });
                }
                Action::KillProcedure { id } => {
                    if let Some((service, index)) = running.remove(&id) {
                        if let Some(bar) = bars.get_mut(&service).and_then(|b| b.get_mut(index)) {
                            bar.to_ms = at;
                            bar.title.push_str(", killed at its limit");
                        }
                    }
                }
                Action::Event(Event::StateChanged {
                    service,
                    to,
                    reason,
                    ..
                }) => {
                    let look = Look {
                        fill: crate::svg::state_colour(Some(to)),
                        title: format!("{to}: {reason}"),
                    };
                    lanes_seen.change(&service, &local, at, look);
                }
                _ => {}
            }
        }
        lanes_seen.views(&shell, &local, at);
    }
    // Procedures still running at the end run to it.
    for (service, index) in running.values() {
        if let Some(bar) = bars.get_mut(service).and_then(|b| b.get_mut(*index)) {
            bar.to_ms = end_ms;
            bar.title.push_str(", still running when the trace ends");
        }
    }
    let mut services: Vec<&String> = Vec::new();
    for (service, _) in &lanes_seen.order {
        if !services.contains(&service) {
            services.push(service);
        }
    }
    let several = services.len() > 1;
    let mut lanes = Vec::new();
    for service in services {
        let mut hosts: Vec<&String> = lanes_seen
            .order
            .iter()
            .filter(|(s, _)| s == service)
            .map(|(_, h)| h)
            .collect();
        // This host's lane first.
        hosts.sort_by_key(|h| **h != local);
        for name in hosts {
            let list = &lanes_seen.changes[&(service.clone(), name.clone())];
            let bands = list
                .iter()
                .enumerate()
                .map(|(i, (at, look))| Span {
                    from_ms: *at,
                    to_ms: list.get(i + 1).map_or(end_ms, |next| next.0),
                    fill: look.fill,
                    title: look.title.clone(),
                    class: "state".to_string(),
                    ..Span::default()
                })
                .collect();
            let is_local = *name == local;
            let mut label = name.clone();
            if several {
                label = format!("{label} {service}");
            }
            if !is_local {
                label.push_str(" (seen)");
            }
            lanes.push(Lane {
                label,
                bands,
                bars: if is_local {
                    bars.get(service).cloned().unwrap_or_default()
                } else {
                    Vec::new()
                },
            });
        }
    }
    Ok(Timeline {
        title: format!(
            "{local}: {}",
            std::path::Path::new(source)
                .file_name()
                .map_or(source.into(), |n| n.to_string_lossy())
        ),
        legend: "green UP, yellow RECOVER, red FAIL, dark grey: no answer, light grey: unknown; \
                 bars: procedures; (seen): as this failsh counted them from their answers"
            .to_string(),
        end_ms,
        lanes,
        shades: Vec::new(),
        marks,
    })
}

fn procedure_colour(kind: failover_core::shell::ProcedureKind) -> &'static str {
    use failover_core::shell::ProcedureKind;
    match kind {
        ProcedureKind::Start => "#2456c8",
        ProcedureKind::Stop => "#7a3fb0",
        ProcedureKind::Reclaim => "#178a8a",
        ProcedureKind::Check => "#777777",
    }
}
