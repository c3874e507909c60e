//! failsim: runs failover scenarios and random seeds on the deterministic simulator, replays
//! decision-machine traces, and measures the simulator.

use failover_sim::scenario::{HostSpec, Network, Scenario, FORMAT, VERSION};
use failover_sim::{
    check_determinism, explore, failure_dir, failure_line, format_summary, format_timeline, svg,
    trace, write_traces, LogLevel, World,
};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

const USAGE: &str = "\
usage:
  failsim run SCENARIO.json [--timeline FILE.svg] [--trace-dir DIR] [--verbose] [--quiet]
      run a scenario, print its timeline and every violation (exit 1 on a violation)
  failsim seed SEED [--witness] [--write FILE.json] [--timeline FILE.svg] [--trace-dir DIR] [--verbose]
      expand SEED into a scenario, run it twice (determinism check) and print its timeline
  failsim seeds FROM TO [--witness]
      run seeds FROM..TO; print one reproduce line per failing seed (exit 1 if any)
      --witness: seeds of a master, a slave and a witness, held to never two holders
  failsim replay TRACE.jsonl [--timeline FILE.svg [--host NAME]]
      re-run a recorded trace through a fresh decision machine; report the first action that
      differs (exit 1) or \"no difference\" (exit 0)
      --timeline: draw the recorded host's state, its procedures and the other hosts as it
      saw them, in seconds from the trace's start; --host: its name in the drawing (a trace
      knows it as localhost)
  failsim bench
      time one simulated hour of a two-host group and a sweep of seeds
  failsim -h | --help
      print this help
  -v, --verbose / -q, --quiet: every event / only the violations (run, seed)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match dispatch(&args) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("failsim: {message}");
            if message.starts_with("usage") || message.starts_with("unknown") {
                eprintln!("{USAGE}");
            }
            ExitCode::from(2)
        }
    }
}

struct Options {
    positional: Vec<String>,
    timeline: Option<PathBuf>,
    trace_dir: Option<PathBuf>,
    write: Option<PathBuf>,
    verbose: bool,
    quiet: bool,
    witness: bool,
    host: Option<String>,
}

fn parse_options(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        positional: Vec::new(),
        timeline: None,
        trace_dir: None,
        write: None,
        verbose: false,
        quiet: false,
        witness: false,
        host: None,
    };
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let mut value = |name: &str| {
            iter.next()
                .map(PathBuf::from)
                .ok_or_else(|| format!("{name} expected a file or directory after it"))
        };
        match arg.as_str() {
            "--timeline" => options.timeline = Some(value("--timeline")?),
            "--trace-dir" => options.trace_dir = Some(value("--trace-dir")?),
            "--write" => options.write = Some(value("--write")?),
            "--verbose" | "-v" => options.verbose = true,
            "--quiet" | "-q" => options.quiet = true,
            "--witness" => options.witness = true,
            "--host" => {
                let name = iter
                    .next()
                    .ok_or_else(|| "--host expected a host name after it".to_string())?;
                options.host = Some(name.clone());
            }
            flag if flag.starts_with('-') => {
                return Err(format!("unknown option {flag} (expected one listed below)"))
            }
            _ => options.positional.push(arg.clone()),
        }
    }
    Ok(options)
}

fn dispatch(args: &[String]) -> Result<ExitCode, String> {
    let Some(command) = args.first() else {
        return Err("usage: a command is expected".to_string());
    };
    if matches!(command.as_str(), "-h" | "--help" | "help") {
        println!("{USAGE}");
        return Ok(ExitCode::SUCCESS);
    }
    let options = parse_options(&args[1..])?;
    match command.as_str() {
        "run" => {
            let [path] = &options.positional[..] else {
                return Err("run expected one scenario file".to_string());
            };
            let scenario = Scenario::load(Path::new(path)).map_err(|e| e.to_string())?;
            run_and_show(scenario, &options, false)
        }
        "seed" => {
            let [seed] = &options.positional[..] else {
                return Err("seed expected one number".to_string());
            };
            let seed: u64 = seed
                .parse()
                .map_err(|_| format!("seed: \"{seed}\" is not a number (expected 0..2^64)"))?;
            let scenario = if options.witness {
                explore::scenario_for_witness_seed(seed)
            } else {
                explore::scenario_for_seed(seed)
            };
            if let Some(path) = &options.write {
                std::fs::write(path, scenario.to_json())
                    .map_err(|e| format!("{}: cannot write: {e}", path.display()))?;
                println!("scenario written to {}", path.display());
            }
            run_and_show(scenario, &options, true)
        }
        "seeds" => {
            let [from, to] = &options.positional[..] else {
                return Err("seeds expected FROM and TO".to_string());
            };
            let parse = |t: &str| {
                t.parse::<u64>()
                    .map_err(|_| format!("seeds: \"{t}\" is not a number"))
            };
            sweep(parse(from)?, parse(to)?, options.witness)
        }
        "replay" => {
            let [path] = &options.positional[..] else {
                return Err("replay expected one trace file".to_string());
            };
            let text =
                std::fs::read_to_string(path).map_err(|e| format!("{path}: cannot read: {e}"))?;
            let report = trace::replay(&text, path).map_err(|e| e.to_string())?;
            if let Some(svg_path) = &options.timeline {
                let timeline = trace::timeline(&text, path, options.host.as_deref())
                    .map_err(|e| e.to_string())?;
                std::fs::write(svg_path, svg::draw(&timeline))
                    .map_err(|e| format!("{}: cannot write: {e}", svg_path.display()))?;
                println!("{path}: timeline drawn in {}", svg_path.display());
            } else if options.host.is_some() {
                return Err("replay: --host names the host of a --timeline".to_string());
            }
            match report.difference {
                Some(difference) => {
                    println!("{path}: first difference at {difference}");
                    Ok(ExitCode::from(1))
                }
                None => {
                    println!(
                        "{path}: no difference ({} inputs, {} actions compared)",
                        report.inputs, report.compared_actions
                    );
                    Ok(ExitCode::SUCCESS)
                }
            }
        }
        "bench" => {
            bench();
            Ok(ExitCode::SUCCESS)
        }
        "help" | "--help" | "-h" => {
            println!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        other => Err(format!(
            "unknown command {other} (expected run, seed, seeds, replay or bench)"
        )),
    }
}

fn run_and_show(scenario: Scenario, options: &Options, is_seed: bool) -> Result<ExitCode, String> {
    let level = if options.quiet {
        LogLevel::Quiet
    } else if options.verbose {
        LogLevel::Verbose
    } else {
        LogLevel::Timeline
    };
    let world = World::new(scenario.clone(), level, options.trace_dir.is_some());
    let bounds = world.bounds();
    let outcome = world.run();
    // A closed pipe (failsim ... | head) is not an error worth a panic.
    let _ = std::io::Write::write_all(&mut std::io::stdout(), format_timeline(&outcome).as_bytes());
    print!("{}", format_summary(&outcome, &bounds));
    match check_determinism(&scenario) {
        Ok(hash) => println!("determinism: two more runs gave the same decision hash {hash:016x}"),
        Err(error) => {
            println!("determinism: FAILED: {error}");
            return Ok(ExitCode::from(1));
        }
    }
    if let Some(path) = &options.timeline {
        std::fs::write(path, svg::render(&outcome))
            .map_err(|e| format!("{}: cannot write: {e}", path.display()))?;
        println!("timeline drawn in {}", path.display());
    }
    if let Some(dir) = &options.trace_dir {
        let written = write_traces(&outcome, dir)
            .map_err(|e| format!("{}: cannot write: {e}", dir.display()))?;
        println!("{} traces written to {}", written.len(), dir.display());
    }
    if let Some(bug) = &scenario.known_core_bug {
        println!("known core bug: {bug}");
    }
    if outcome.passed() {
        return Ok(ExitCode::SUCCESS);
    }
    if is_seed {
        let dir = failure_dir();
        let path = dir.join(format!("seed-{}.json", scenario.seed));
        let written = std::fs::create_dir_all(&dir)
            .and_then(|()| std::fs::write(&path, scenario.to_json()))
            .is_ok();
        println!(
            "{}",
            failure_line(&outcome, written.then_some(path.as_path()))
        );
    }
    Ok(ExitCode::from(1))
}

fn sweep(from: u64, to: u64, witness: bool) -> Result<ExitCode, String> {
    if to < from {
        return Err(format!("seeds: TO ({to}) is before FROM ({from})"));
    }
    let started = Instant::now();
    let dir = failure_dir();
    let mut failures = 0;
    let mut known = 0;
    // Dual holding within the bounds (two UP hosts that can talk, which the handshake
    // resolves): how much, over the passing seeds, so that a sweep reports it as a number.
    let mut with_dual = 0;
    let mut longest_dual: Option<(u64, u64)> = None;
    for seed in from..to {
        let explored = if witness {
            failover_sim::explore_witness_seed(seed, &dir)
        } else {
            failover_sim::explore_seed(seed, &dir)
        };
        match explored {
            Err(line) => {
                println!("{line}");
                failures += 1;
            }
            Ok(outcome) => {
                known += usize::from(!outcome.passed());
                if outcome.max_dual_ms > 0 {
                    with_dual += 1;
                    if longest_dual.is_none_or(|(ms, _)| outcome.max_dual_ms > ms) {
                        longest_dual = Some((outcome.max_dual_ms, seed));
                    }
                }
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let count = to - from;
    let longest = longest_dual.map_or("none".to_string(), |(ms, seed)| {
        format!("at most {ms} ms (seed {seed})")
    });
    println!(
        "passing seeds in which two hosts held the address at once (within the bounds): {with_dual}, {longest}"
    );
    println!(
        "{count} {}seeds, {failures} failed, {known} showed only known core bugs, {seconds:.2} s ({:.0} seeds/s)",
        if witness { "witness " } else { "" },
        count as f64 / seconds.max(1e-9)
    );
    Ok(if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// One simulated hour of lukretia and macbeth at the seed's one-second interval.
pub fn hour_scenario() -> Scenario {
    Scenario {
        format: FORMAT.to_string(),
        version: VERSION,
        name: "one hour of a two-host group".to_string(),
        description: String::new(),
        seed: 1,
        duration_ms: 3_600_000,
        service: failover_sim::scenario::DEFAULT_SERVICE.to_string(),
        network: Network::default(),
        hosts: vec![
            HostSpec::new("lukretia", &[], &["macbeth"], 1000),
            HostSpec::new("macbeth", &["lukretia"], &[], 1000),
        ],
        events: Vec::new(),
        expect: Default::default(),
        known_core_bug: None,
    }
}

fn bench() {
    let scenario = hour_scenario();
    let _ = failover_sim::run(&scenario);
    let mut best = f64::MAX;
    let mut outcome = None;
    for _ in 0..3 {
        let started = Instant::now();
        let result = failover_sim::run(&scenario);
        best = best.min(started.elapsed().as_secs_f64());
        outcome = Some(result);
    }
    let outcome = outcome.expect("ran three times");
    println!(
        "one simulated hour of a two-host group at a 1 s interval: {:.3} s (best of 3; {} events, {} decisions, {})",
        best,
        outcome.events,
        outcome.decisions,
        if outcome.passed() { "all invariants held" } else { "VIOLATIONS" }
    );
    let started = Instant::now();
    let count = 1000;
    let mut failures = 0;
    let mut known = 0;
    let mut events = 0;
    for seed in 0..count {
        let outcome = failover_sim::run(&explore::scenario_for_seed(seed));
        events += outcome.events;
        if failover_sim::only_known_bugs(&outcome) {
            known += usize::from(!outcome.passed());
        } else {
            failures += 1;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{count} random seeds: {seconds:.2} s, {:.0} seeds/s, {:.0} events/s, {failures} failed, {known} showed only known core bugs",
        count as f64 / seconds,
        events as f64 / seconds
    );
}
