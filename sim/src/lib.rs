//! failover-sim: a deterministic simulator of failover groups (DESIGN §6).
//!
//! Hosts run the real faild [`Store`](failover_core::store::Store) and failsh
//! [`Shell`](failover_core::shell::Shell) and talk through the real wire codec over a simulated
//! network on virtual time. A [`Scenario`] (JSON, `docs/scenarios.md`) names the hosts, the
//! network, a timeline of faults and what must hold; [`explore::scenario_for_seed`] expands a
//! seed into one. Invariants are checked after every event.
//!
//! ```
//! use failover_sim::{explore, run};
//! let outcome = run(&explore::scenario_for_seed(7));
//! assert!(outcome.passed(), "{:?}", outcome.violations);
//! ```

pub mod check;
pub mod explore;
pub mod hash;
pub mod scenario;
pub mod svg;
pub mod trace;
pub mod world;

pub use check::{Bounds, Violation};
pub use scenario::{Invariant, Scenario};
pub use world::{LogLevel, Outcome, World};

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Runs a scenario without a timeline (fast).
pub fn run(scenario: &Scenario) -> Outcome {
    World::new(scenario.clone(), LogLevel::Quiet, false).run()
}

/// Runs a scenario twice and compares the hash of every decision: any difference is
/// nondeterminism in the simulator or the core (FoundationDB's "unseed" check).
pub fn check_determinism(scenario: &Scenario) -> Result<u64, String> {
    let first = run(scenario);
    let second = run(scenario);
    if first.decision_hash == second.decision_hash && first.decisions == second.decisions {
        Ok(first.decision_hash)
    } else {
        Err(format!(
            "{}: nondeterministic: decision hash {:016x} ({} decisions) then {:016x} ({} decisions)",
            scenario.name,
            first.decision_hash,
            first.decisions,
            second.decision_hash,
            second.decisions
        ))
    }
}

/// The one line a failing seed prints: what broke and how to reproduce it.
pub fn failure_line(outcome: &Outcome, scenario_file: Option<&Path>) -> String {
    let first = outcome
        .violations
        .iter()
        .find(|v| v.known_bug.is_none())
        .or(outcome.violations.first())
        .map_or_else(|| "no violation".to_string(), ToString::to_string);
    let mut line = format!(
        "failsim: seed {} FAILED: {first} ({} violations); reproduce: {}",
        outcome.seed,
        outcome.violations.len(),
        explore::reproduce_line(outcome.seed)
    );
    if let Some(path) = scenario_file {
        let _ = write!(line, "; scenario: {}", path.display());
    }
    line
}

/// Whether every violation of a run is a symptom of a known core bug.
pub fn only_known_bugs(outcome: &Outcome) -> bool {
    outcome.violations.iter().all(|v| v.known_bug.is_some())
}

/// Runs the seed's scenario; on a violation that is not a known core bug's symptom writes the
/// scenario to `dir` and returns the failure line.
pub fn explore_seed(seed: u64, dir: &Path) -> Result<Outcome, String> {
    let scenario = explore::scenario_for_seed(seed);
    let outcome = run(&scenario);
    if only_known_bugs(&outcome) {
        return Ok(outcome);
    }
    let path = dir.join(format!("seed-{seed}.json"));
    let written = std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::write(&path, scenario.to_json()))
        .is_ok();
    Err(failure_line(&outcome, written.then_some(path.as_path())))
}

/// [`explore_seed`] for the witness seeds ([`explore::scenario_for_witness_seed`]).
pub fn explore_witness_seed(seed: u64, dir: &Path) -> Result<Outcome, String> {
    let scenario = explore::scenario_for_witness_seed(seed);
    let outcome = run(&scenario);
    if only_known_bugs(&outcome) {
        return Ok(outcome);
    }
    let path = dir.join(format!("witness-seed-{seed}.json"));
    let written = std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::write(&path, scenario.to_json()))
        .is_ok();
    let line = failure_line(&outcome, written.then_some(path.as_path()));
    Err(line.replace(
        &explore::reproduce_line(seed),
        &format!("{} --witness", explore::reproduce_line(seed)),
    ))
}

/// Where failing seeds' scenarios go by default.
pub fn failure_dir() -> PathBuf {
    std::env::temp_dir().join("failsim-failures")
}

/// The readable timeline: time, host, event, and every host's state after it.
pub fn format_timeline(outcome: &Outcome) -> String {
    let mut text = String::new();
    let width = outcome
        .host_names
        .iter()
        .map(String::len)
        .max()
        .unwrap_or(4)
        .max(5);
    for line in &outcome.log {
        let _ = writeln!(
            text,
            "{:>5}.{:03}s  {:<width$}  {}    [{}]",
            line.at_ms / 1000,
            line.at_ms % 1000,
            line.host.as_deref().unwrap_or("world"),
            line.text,
            line.states
        );
    }
    text
}

/// A summary: decisions, hash and every violation.
pub fn format_summary(outcome: &Outcome, bounds: &Bounds) -> String {
    let mut text = format!(
        "{}: {} events, {} decisions, decision hash {:016x}; bounds: split brain {} ms, address {} ms, observer {} ms, settled from {} ms\n",
        outcome.name,
        outcome.events,
        outcome.decisions,
        outcome.decision_hash,
        bounds.split_brain_ms,
        bounds.vip_ms,
        bounds.observer_ms,
        bounds.settled_from_ms
    );
    let _ = writeln!(
        text,
        "longest dual holding: {} ms (bound: {})",
        outcome.max_dual_ms,
        bounds
            .dual_ms
            .map_or("none promised".to_string(), |ms| format!("{ms} ms"))
    );
    if outcome.violations.is_empty() {
        text.push_str("PASS: every invariant and expectation held\n");
    } else {
        for violation in &outcome.violations {
            let _ = writeln!(text, "VIOLATION {violation}");
        }
    }
    text
}

/// Writes each decision machine's trace as `DIR/HOST-INCARNATION.jsonl`.
pub fn write_traces(outcome: &Outcome, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    for (name, lines) in &outcome.traces {
        let path = dir.join(format!("{name}.jsonl"));
        let mut text = lines.join("\n");
        text.push('\n');
        std::fs::write(&path, text)?;
        written.push(path);
    }
    Ok(written)
}
