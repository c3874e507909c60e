//! Traces of one decision machine (DESIGN §6): JSON lines, a header with the configuration,
//! the seed and the start time, then one line per input with the actions it produced.
//!
//! ```text
//! {"format":"failover-trace","version":1,"config":{...},"seed":7,"start_ms":0}
//! {"at_ms":0,"input":"timeout","actions":[{"send":{...}}]}
//! ```
//!
//! failsh writes them with `--record FILE`; the simulator with `failsim run --trace-dir DIR`;
//! `failsim replay FILE` feeds the inputs to a fresh machine and reports the first action that
//! differs from the recorded one.

use failover_core::shell::{Action, Input, Shell, ShellConfig};
use failover_core::time::Time;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;

pub const FORMAT: &str = "failover-trace";
pub const VERSION: u32 = 1;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceHeader {
    pub format: String,
    pub version: u32,
    pub config: ShellConfig,
    pub seed: u64,
    pub start_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceLine {
    pub at_ms: u64,
    pub input: Input,
    /// What the machine did after this input; a trace without them can still be replayed,
    /// only not compared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actions: Option<Vec<Value>>,
}

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
        let header = TraceHeader {
            format: FORMAT.to_string(),
            version: VERSION,
            config: config.clone(),
            seed,
            start_ms: start.as_ms(),
        };
        let line = serde_json::to_string(&header).unwrap_or_default();
        self.traces.insert(name.to_string(), vec![line]);
    }

    pub fn record(&mut self, name: &str, at: Time, input: &Input, actions: &[Action]) {
        let Some(lines) = self.traces.get_mut(name) else {
            return;
        };
        lines.push(trace_line(at, input, Some(actions)));
    }

    pub fn finish(self) -> Vec<(String, Vec<String>)> {
        self.traces.into_iter().collect()
    }
}

/// One input line as failsh's `--record` writes it too.
pub fn trace_line(at: Time, input: &Input, actions: Option<&[Action]>) -> String {
    let line = TraceLine {
        at_ms: at.as_ms(),
        input: input.clone(),
        actions: actions.map(|a| {
            a.iter()
                .map(|x| serde_json::to_value(x).unwrap_or(Value::Null))
                .collect()
        }),
    };
    serde_json::to_string(&line).unwrap_or_default()
}

/// A trace that cannot be read, with the line and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceError(pub String);

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TraceError {}

/// Where a replay first did something else than the recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// 1-based line of the trace file.
    pub line: usize,
    pub at_ms: u64,
    /// Index of the action within that line's actions.
    pub action: usize,
    pub recorded: Option<String>,
    pub replayed: Option<String>,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {} (at_ms {}), action {}: recorded {}, replayed {}",
            self.line,
            self.at_ms,
            self.action,
            self.recorded.as_deref().unwrap_or("nothing"),
            self.replayed.as_deref().unwrap_or("nothing")
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayReport {
    pub inputs: usize,
    pub compared_actions: usize,
    pub difference: Option<Difference>,
}

/// Replays a trace's text; `source` names it in errors.
pub fn replay(text: &str, source: &str) -> Result<ReplayReport, TraceError> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((_, first)) = lines.next() else {
        return Err(TraceError(format!(
            "{source}:1: empty trace (expected a {FORMAT} header line)"
        )));
    };
    let header: TraceHeader = serde_json::from_str(first).map_err(|e| {
        TraceError(format!(
            "{source}:1: expected a header {{\"format\":\"{FORMAT}\",\"version\":{VERSION},\"config\":...,\"seed\":...,\"start_ms\":...}}: {e}"
        ))
    })?;
    if header.format != FORMAT || header.version != VERSION {
        return Err(TraceError(format!(
            "{source}:1: format \"{}\" version {}, expected \"{FORMAT}\" version {VERSION}",
            header.format, header.version
        )));
    }
    let mut shell = Shell::new(header.config, header.seed, Time(header.start_ms))
        .map_err(|e| TraceError(format!("{source}:1: the configuration is refused: {e}")))?;
    while shell.poll_action().is_some() {}
    let mut report = ReplayReport {
        inputs: 0,
        compared_actions: 0,
        difference: None,
    };
    for (index, text) in lines {
        let number = index + 1;
        let line: TraceLine = serde_json::from_str(text).map_err(|e| {
            TraceError(format!(
                "{source}:{number}: expected {{\"at_ms\":...,\"input\":...}}: {e}"
            ))
        })?;
        shell.handle(Time(line.at_ms), line.input);
        report.inputs += 1;
        let mut replayed = Vec::new();
        while let Some(action) = shell.poll_action() {
            replayed.push(serde_json::to_value(&action).unwrap_or(Value::Null));
        }
        let Some(recorded) = line.actions else {
            continue;
        };
        let longest = recorded.len().max(replayed.len());
        for i in 0..longest {
            let (r, p) = (recorded.get(i), replayed.get(i));
            if r != p {
                report.difference = Some(Difference {
                    line: number,
                    at_ms: line.at_ms,
                    action: i,
                    recorded: r.map(Value::to_string),
                    replayed: p.map(Value::to_string),
                });
                return Ok(report);
            }
            report.compared_actions += 1;
        }
    }
    Ok(report)
}
