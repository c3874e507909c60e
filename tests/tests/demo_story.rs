//! faildemo end to end, on both runtimes: exit 0, every step of the story in its timeline with
//! a measured time, and nothing left behind (its temporary directory and its daemons are
//! gone). Ctrl-C in the middle of the story also cleans up and exits 130.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use failover_tests::{command, run_with_limit, text, Guarded};

const STEPS: [&str; 6] = [
    "1. lukretia brings the service UP (from boot): ",
    "2. macbeth takes over: ",
    "3. handshake: macbeth sees lukretia RECOVER and steps down: ",
    "3. lukretia UP again (from its return): ",
    "4. macbeth takes over: ",
    "5. lukretia recovered and UP, macbeth RECOVER: ",
];

/// The demo's temporary directory, from its header line.
fn demo_root(output: &str) -> PathBuf {
    let line = output
        .lines()
        .find(|line| line.contains("holding it means a file in "))
        .unwrap_or_else(|| panic!("no header line in\n{output}"));
    PathBuf::from(
        line.rsplit("holding it means a file in ")
            .next()
            .unwrap()
            .trim(),
    )
}

/// Processes whose command line mentions `path` (the demo's daemons all do).
fn processes_mentioning(path: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(path) {
            // A zombie has an empty command line, so whatever is listed here still runs.
            found.push(format!(
                "{}: {cmdline}",
                entry.file_name().to_string_lossy()
            ));
        }
    }
    found
}

fn measured_ms(output: &str, step: &str) -> u64 {
    let line = output
        .lines()
        .find(|line| line.contains(step))
        .unwrap_or_else(|| panic!("step {step:?} missing from the timeline:\n{output}"));
    let ms = line
        .rsplit(step)
        .next()
        .and_then(|rest| rest.trim().strip_suffix(" ms"))
        .and_then(|number| number.parse::<u64>().ok());
    ms.unwrap_or_else(|| panic!("no time in {line:?}"))
}

fn run_demo(runtime: &str) {
    let started = Instant::now();
    let output = run_with_limit(
        command("faildemo").args(["--runtime", runtime, "--interval", "0.2"]),
        Duration::from_secs(120),
    );
    let stdout = text(&output.stdout);
    let stderr = text(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(0),
        "faildemo --runtime {runtime} failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let mut previous_line = 0;
    for step in STEPS {
        let ms = measured_ms(&stdout, step);
        // Every step is a few polls at 0.2 s; a step that takes 10 s means a stuck decision
        // that only the demo's own 15 s timeout would have hidden.
        assert!(ms < 10_000, "{step}{ms} ms is far too slow:\n{stdout}");
        let line = stdout.lines().position(|line| line.contains(step)).unwrap();
        assert!(line >= previous_line, "steps out of order:\n{stdout}");
        previous_line = line;
    }
    assert!(stdout.contains("faildemo: every step happened in time; exit 0"));
    let root = demo_root(&stdout);
    assert!(!root.exists(), "{} was left behind", root.display());
    let left = processes_mentioning(&root.display().to_string());
    assert!(left.is_empty(), "processes left behind: {left:?}");
    eprintln!(
        "faildemo --runtime {runtime}: exit 0 in {} ms\n{stdout}",
        started.elapsed().as_millis()
    );
}

#[test]
fn faildemo_tells_the_whole_story_on_the_smol_runtime_and_cleans_up() {
    run_demo("smol");
}

#[test]
fn faildemo_tells_the_whole_story_on_the_blocking_runtime_and_cleans_up() {
    run_demo("blocking");
}

#[test]
fn faildemo_interrupted_by_ctrl_c_cleans_up_and_exits_130() {
    let mut demo = Guarded::spawn(
        command("faildemo")
            .args(["--interval", "0.2"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    )
    .expect("start faildemo");
    let stdout = demo.child().stdout.take().unwrap();
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                return;
            }
        }
    });
    // Interrupt once macbeth has taken over, with both hosts' daemons having run.
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !seen.contains("2. macbeth takes over: ") {
        let remaining = deadline.saturating_duration_since(Instant::now());
        match receiver.recv_timeout(remaining) {
            Ok(line) => {
                seen.push_str(&line);
                seen.push('\n');
            }
            Err(_) => panic!("faildemo did not reach step 2:\n{seen}"),
        }
    }
    demo.signal(2); // SIGINT, as Ctrl-C
    let status = demo.wait_exit(Duration::from_secs(20));
    let mut stderr = String::new();
    if let Some(mut pipe) = demo.child().stderr.take() {
        let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
    }
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(130),
        "stdout so far:\n{seen}\nstderr:\n{stderr}"
    );
    assert!(stderr.contains("interrupted; cleaning up"), "{stderr}");
    let root = demo_root(&seen);
    assert!(!root.exists(), "{} was left behind", root.display());
    let left = processes_mentioning(&root.display().to_string());
    assert!(left.is_empty(), "processes left behind: {left:?}");
}
