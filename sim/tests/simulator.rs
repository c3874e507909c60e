//! The shipped scenarios, a fixed range of random seeds, determinism and trace replay.

use failover_sim::scenario::Scenario;
use failover_sim::{check_determinism, explore_seed, failure_dir, run, trace, LogLevel, World};
use std::path::{Path, PathBuf};

fn scenario_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut files = Vec::new();
    for dir in [root.clone(), root.join("regressions")] {
        for entry in std::fs::read_dir(&dir).expect("scenario directory") {
            let path = entry.expect("directory entry").path();
            if path.extension().is_some_and(|e| e == "json") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn every_shipped_scenario_holds_its_invariants_and_expectations() {
    let files = scenario_files();
    assert!(
        files.len() >= 17,
        "expected the shipped scenarios, found {files:?}"
    );
    let mut failures = Vec::new();
    for path in &files {
        let scenario = Scenario::load(path).unwrap_or_else(|e| panic!("{e}"));
        let outcome = run(&scenario);
        match (&scenario.known_core_bug, outcome.passed()) {
            (None, true) => {}
            (None, false) => failures.push(format!(
                "{}: {}; reproduce: cargo run -p failover-sim --bin failsim -- run {}",
                path.display(),
                outcome.violations[0],
                path.display()
            )),
            (Some(_), false) => eprintln!(
                "{}: known core bug still reproduces: {}",
                path.display(),
                outcome.violations[0]
            ),
            (Some(bug), true) => failures.push(format!(
                "{}: no longer shows the known core bug ({bug}): remove \"known_core_bug\" so that it guards the fix",
                path.display()
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_shipped_scenario_is_deterministic() {
    for path in scenario_files() {
        let scenario = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
        if let Err(error) = check_determinism(&scenario) {
            panic!("{}: {error}", path.display());
        }
    }
}

fn sweep(seeds: std::ops::Range<u64>) {
    let dir = failure_dir();
    let mut failures = Vec::new();
    for seed in seeds {
        if let Err(line) = explore_seed(seed, &dir) {
            failures.push(line);
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

// The sweep is split in two so that the test harness runs the halves on both cores.
#[test]
fn random_seeds_0_to_500_break_no_invariant() {
    sweep(0..500);
}

#[test]
fn random_seeds_500_to_1000_break_no_invariant() {
    sweep(500..1000);
}

#[test]
fn a_seed_expands_into_the_same_scenario_and_decisions_every_time() {
    let a = failover_sim::explore::scenario_for_seed(42);
    let b = failover_sim::explore::scenario_for_seed(42);
    assert_eq!(a, b);
    assert_ne!(a, failover_sim::explore::scenario_for_seed(43));
    check_determinism(&a).expect("seed 42 is deterministic");
    // The written scenario file reproduces the seed's run.
    let again = Scenario::parse(&a.to_json()).expect("a generated scenario parses");
    assert_eq!(run(&again).decision_hash, run(&a).decision_hash);
}

fn recorded_traces(name: &str) -> Vec<(String, Vec<String>)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(name);
    let scenario = Scenario::load(&path).expect("shipped scenario");
    let outcome = World::new(scenario, LogLevel::Quiet, true).run();
    assert!(
        outcome.traces.len() >= 2,
        "every failsh incarnation is traced"
    );
    outcome.traces
}

#[test]
fn replaying_a_recorded_sim_trace_reproduces_every_action() {
    // master_returns_recover restarts lukretia: three incarnations, with procedures.
    for (name, lines) in recorded_traces("master_returns_recover.json") {
        let report = trace::replay(&lines.join("\n"), &name).expect("trace parses");
        assert_eq!(report.difference, None, "{name}");
        assert!(report.inputs > 10, "{name}: {} inputs", report.inputs);
        assert!(report.compared_actions > 10, "{name}");
    }
}

#[test]
fn a_tampered_trace_reports_the_first_difference() {
    let (name, mut lines) = recorded_traces("master_dies.json")
        .into_iter()
        .find(|(name, _)| name.starts_with("macbeth"))
        .expect("macbeth's trace");
    // Make the start procedure (recorded as returning UP) return FAIL on replay.
    let index = lines
        .iter()
        .position(|l| l.contains("procedure_done") && l.contains("\"UP\""))
        .expect("a start result in the trace");
    lines[index] = lines[index].replacen("\"UP\"", "\"FAIL\"", 1);
    let report = trace::replay(&lines.join("\n"), &name).expect("trace parses");
    let difference = report
        .difference
        .expect("the tampered input changes the actions");
    assert_eq!(difference.line, index + 1);
    assert!(
        difference
            .recorded
            .as_deref()
            .is_some_and(|r| r.contains("UP")),
        "{difference}"
    );
}

#[test]
fn a_broken_trace_names_its_line() {
    let error = trace::replay("{\"format\":\"failover-trace\"}\n", "x.jsonl").unwrap_err();
    assert!(
        error.0.starts_with("x.jsonl:1: expected a header"),
        "{error}"
    );
    let (_, lines) = recorded_traces("master_dies.json").remove(0);
    let text = format!("{}\n{{\"at_ms\":\"soon\"}}\n", lines[0]);
    let error = trace::replay(&text, "y.jsonl").unwrap_err();
    assert!(error.0.starts_with("y.jsonl:2: expected"), "{error}");
}

#[test]
fn a_malformed_scenario_names_the_line_and_what_was_expected() {
    let error =
        Scenario::parse("{\n\"format\": \"failover-scenario\",\n\"version\": 2\n}").unwrap_err();
    assert!(error.0.contains("line"), "{error}");
    let text = r#"{"format":"failover-scenario","version":1,"name":"x","duration_ms":1000,
        "hosts":[{"name":"lukretia","slaves":["nobody"],"interval_ms":1000}]}"#;
    let error = Scenario::parse(text).unwrap_err();
    assert!(error.0.contains("nobody is not among \"hosts\""), "{error}");
}

#[test]
fn the_svg_timeline_draws_every_host_and_fault() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/partition_heal.json");
    let scenario = Scenario::load(&path).expect("shipped scenario");
    let outcome = World::new(scenario, LogLevel::Timeline, false).run();
    let svg = failover_sim::svg::render(&outcome);
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    assert!(svg.contains(">lukretia<") && svg.contains(">macbeth<"));
    assert!(svg.contains(">partition<"), "the partition is shaded");
    let timeline = failover_sim::format_timeline(&outcome);
    assert!(timeline.contains("reclaim"), "{timeline}");
}
