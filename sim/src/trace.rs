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
