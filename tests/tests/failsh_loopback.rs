//! failsh with the real faild on loopback, for both runtimes: the seed's story with the state
//! and the holder asserted at every step, the SIGKILL and SIGTERM failover bounds, a hanging
//! start procedure killed at its limit, SIGHUP with a broken file, and a recorded trace that
//! replays without a difference (and, with failsim built, draws as a timeline).

mod failsh_support;

use failover_cli::monitor::Snapshot;
use failsh_support::*;
use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn interval() -> Duration {
    Duration::from_secs_f64(INTERVAL_S)
}

fn holders(hosts: &[&Host]) -> Vec<&'static str> {
    hosts.iter().filter(|h| h.holds()).map(|h| h.name).collect()
}

/// faild says UP as soon as a start begins (so that nobody else starts), and the start's
/// marker follows a few milliseconds later: the holders are waited for, bounded.
fn expect_holders(hosts: &[&Host], want: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(2);
    while holders(hosts) != want && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(holders(hosts), want);
}

fn story(runtime: &'static str) {
    let (_scratch, mut l, mut m) = pair(&format!("story-{runtime}"), runtime);
    let l_config = l.write_config(&m, true, "");
    let m_config = m.write_config(&l, false, "");
    l.start_failsh(&l_config, &["--seed", "1"]);
    m.start_failsh(&m_config, &["--seed", "2"]);

    // 1. lukretia, the master, takes the service; macbeth waits in RECOVER.
    wait_states(&l, &m, "UP", "RECOVER", "lukretia UP, macbeth RECOVER");
    expect_holders(&[&l, &m], &["lukretia"]);

    // 2. lukretia's daemons die: macbeth takes over within (misses + 1) intervals + 100 ms.
    std::thread::sleep(interval() * 2);
    let killed = Instant::now();
    l.failsh.as_mut().expect("failsh").kill();
    l.faild.as_mut().expect("faild").kill();
    wait_until("macbeth holds the service", Duration::from_secs(5), || {
        m.holds()
    });
    let takeover = killed.elapsed();
    let bound = interval() * (MISSES as u32 + 1) + Duration::from_millis(100);
    eprintln!("[{runtime}] SIGKILL of lukretia's faild+failsh -> macbeth UP in {takeover:?} (bound {bound:?})");
    assert!(
        takeover <= bound,
        "takeover took {takeover:?}, bound {bound:?}"
    );
    wait_until("macbeth UP in its faild", Duration::from_secs(5), || {
        m.state().as_deref() == Some("UP")
    });
    // The dead host's address goes with it (it crashed).
    std::fs::remove_file(l.marker()).expect("lukretia marker");
    expect_holders(&[&l, &m], &["macbeth"]);

    // 3. lukretia boots: faild, RECOVER, failsh (recording); the handshake gives it back.
    l.start_faild();
    l.failc("RECOVER");
    let trace = l.dir.join("trace.jsonl");
    let trace_arg = trace.display().to_string();
    l.start_failsh(&l_config, &["--seed", "3", "--record", &trace_arg]);
    wait_states(
        &l,
        &m,
        "UP",
        "RECOVER",
        "handshake: lukretia UP, macbeth RECOVER",
    );
    expect_holders(&[&l, &m], &["lukretia"]);

    // 4. The operator takes lukretia's service down (`ipfailover fail`): macbeth takes over.
    std::fs::remove_file(l.marker()).expect("lukretia marker");
    l.failc("FAIL");
    wait_states(&l, &m, "FAIL", "UP", "lukretia FAIL, macbeth UP");
    wait_until("macbeth holds", Duration::from_secs(5), || m.holds());
    expect_holders(&[&l, &m], &["macbeth"]);

    // 5. lukretia recovered: back to lukretia.
    l.failc("RECOVER");
    wait_states(
        &l,
        &m,
        "UP",
        "RECOVER",
        "lukretia UP again, macbeth RECOVER",
    );
    wait_until("only lukretia holds", Duration::from_secs(5), || {
        holders(&[&l, &m]) == ["lukretia"]
    });

    // The recorded trace replays with no difference.
    let mut failsh = l.failsh.take().expect("failsh");
    failsh.signal("TERM");
    assert!(
        failsh.wait_exit(Duration::from_secs(10)),
        "failsh did not exit on SIGTERM"
    );
    replay_without_difference(&trace);
}

/// `failsim replay` when it is built; else the same rules in the test: a fresh
/// `Shell::new(config, seed, start)` fed every input must answer every recorded action.
fn replay_without_difference(trace: &std::path::Path) {
    let failsim = bin_dir().join("failsim");
    if failsim.is_file() {
        let output = std::process::Command::new(&failsim)
            .arg("replay")
            .arg(trace)
            .output()
            .expect("failsim");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        eprintln!("failsim replay: {}", text.trim());
        assert!(output.status.success(), "failsim replay failed: {text}");
        // Drawn as a timeline: lukretia's lane, its states and its procedures.
        let svg_path = trace.with_extension("svg");
        let output = std::process::Command::new(&failsim)
            .arg("replay")
            .arg(trace)
            .args(["--host", "lukretia", "--timeline"])
            .arg(&svg_path)
            .output()
            .expect("failsim");
        assert!(output.status.success(), "failsim replay --timeline failed");
        let svg = std::fs::read_to_string(&svg_path).expect("timeline");
        assert!(
            svg.starts_with("<svg ") && svg.trim_end().ends_with("</svg>"),
            "{svg}"
        );
        for part in [
            ">lukretia</text>",
            ">macbeth (seen)</text>",
            "<title>RECOVER: read from the local faild</title>",
            "<title>UP: start returned UP</title>",
            // The operator's FAIL, or the RECOVER after it if failsh polled only then.
            ": changed in the local faild (failc or a service script)</title>",
            "<title>FAIL: stop returned FAIL</title>",
            "class=\"procedure start\"",
            "class=\"procedure stop\"",
            ">SIGTERM</text>",
        ] {
            assert!(svg.contains(part), "the timeline lacks {part}:\n{svg}");
        }
    }
    let (header, lines) = failover_cli::failsh::trace::read(trace).expect("trace");
    assert!(lines.len() > 10, "trace too short: {} inputs", lines.len());
    let mut shell = failover_core::shell::Shell::new(
        header.config,
        header.seed,
        failover_core::time::Time(header.start_ms),
    )
    .expect("config");
    while shell.poll_action().is_some() {}
    for (index, line) in lines.iter().enumerate() {
        shell.handle(failover_core::time::Time(line.at_ms), line.input.clone());
        let mut replayed = Vec::new();
        while let Some(action) = shell.poll_action() {
            replayed.push(action);
        }
        assert_eq!(
            Some(&replayed),
            line.actions.as_ref(),
            "trace line {} differs on replay",
            index + 2
        );
    }
    eprintln!("replayed {} inputs with no difference", lines.len());
}

fn sigterm_hands_over(runtime: &'static str) {
    let (_scratch, mut l, mut m) = pair(&format!("sigterm-{runtime}"), runtime);
    let l_config = l.write_config(&m, true, "");
    let m_config = m.write_config(&l, false, "");
    l.start_failsh(&l_config, &[]);
    m.start_failsh(&m_config, &[]);
    wait_states(&l, &m, "UP", "RECOVER", "lukretia UP, macbeth RECOVER");
    std::thread::sleep(interval() * 2);
    let start = Instant::now();
    l.failsh.as_ref().expect("failsh").signal("TERM");
    wait_until(
        "macbeth holds after SIGTERM",
        Duration::from_secs(5),
        || m.holds(),
    );
    let handover = start.elapsed();
    eprintln!(
        "[{runtime}] SIGTERM of lukretia's failsh -> macbeth UP in {handover:?} (interval {:?})",
        interval()
    );
    // One interval plus the stop procedure and scheduling slack.
    assert!(
        handover <= interval() + Duration::from_millis(150),
        "handover took {handover:?}"
    );
    assert!(!l.holds(), "lukretia still holds after handing over");
    assert_eq!(l.state().as_deref(), Some("FAIL"));
    let failsh = l.failsh.as_mut().expect("failsh");
    assert!(
        failsh.wait_exit(Duration::from_secs(5)),
        "failsh did not exit"
    );
    assert!(!l.dir.join("failsh.pid").exists(), "pid file left behind");
}

fn hanging_start_is_killed(runtime: &'static str) {
    let (_scratch, mut l, m) = pair(&format!("hang-{runtime}"), runtime);
    let script = l.dir.join("service.sh");
    let extra = format!(
        "proc hangservice {{}} {{\n    exec /bin/sh {} hang\n    return UP\n}}\nfailsvc {SERVICE} start hangservice\nfailsvc {SERVICE} limit 1",
        script.display()
    );
    let config = l.write_config(&m, true, &extra);
    let started = Instant::now();
    l.start_failsh(&config, &[]);
    wait_until(
        "FAIL after the start procedure's limit",
        Duration::from_secs(10),
        || l.state().as_deref() == Some("FAIL"),
    );
    let took = started.elapsed();
    eprintln!("[{runtime}] hanging start -> FAIL after {took:?} (limit 1 s)");
    assert!(
        took >= Duration::from_millis(900),
        "FAIL before the limit: {took:?}"
    );
    let log = l.log_text();
    assert!(log.contains("limit"), "no limit in the log:\n{log}");
    // The monitor port says why.
    let stream = TcpStream::connect(("127.0.0.1", l.monitor_port)).expect("monitor port");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut line = String::new();
    BufReader::new(stream)
        .read_line(&mut line)
        .expect("a snapshot line");
    let snapshot = Snapshot::from_line(&line).expect("snapshot");
    let service = snapshot
        .services
        .iter()
        .find(|s| s.name == SERVICE)
        .expect("service in snapshot");
    assert_eq!(service.state, Some(failover_core::state::State::Fail));
    assert!(
        service.reason.contains("limit"),
        "monitor reason: {}",
        service.reason
    );
    eprintln!("monitor reason: {}", service.reason);
    // The sleep child was killed with the procedure: no `sleep 60` of ours is left. SIGKILL
    // is delivered asynchronously, so on a loaded machine the group may take a moment to
    // exit after FAIL was reported; a survivor after 2 s is a leak.
    let pattern = format!("{} hang", script.display());
    let survivors = || {
        let ps = std::process::Command::new("pgrep")
            .args(["-f", &pattern])
            .output()
            .expect("pgrep");
        String::from_utf8_lossy(&ps.stdout).into_owned()
    };
    let gone = Instant::now();
    while !survivors().is_empty() && gone.elapsed() < Duration::from_secs(2) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let left = survivors();
    assert!(left.is_empty(), "hanging procedure still runs: pids {left}");
}

fn sighup_broken_keeps_old(runtime: &'static str) {
    let (_scratch, mut l, m) = pair(&format!("sighup-{runtime}"), runtime);
    let config = l.write_config(&m, true, "");
    l.start_failsh(&config, &[]);
    wait_until("lukretia UP", Duration::from_secs(10), || {
        l.state().as_deref() == Some("UP") && l.holds()
    });
    let good = std::fs::read_to_string(&config).expect("config");
    std::fs::write(&config, format!("{good}\nproc broken {{ {{\n")).expect("broken");
    l.failsh.as_ref().expect("failsh").signal("HUP");
    wait_until("rejection logged", Duration::from_secs(5), || {
        l.log_text().contains("rejected")
    });
    // Still managed by the old configuration: an operator's RECOVER makes it start again.
    std::fs::remove_file(l.marker()).expect("marker");
    l.failc("RECOVER");
    wait_until("started again", Duration::from_secs(10), || {
        l.holds() && l.state().as_deref() == Some("UP")
    });
    assert!(l
        .failsh
        .as_mut()
        .expect("failsh")
        .child
        .as_mut()
        .expect("child")
        .try_wait()
        .expect("wait")
        .is_none());
}

#[test]
fn story_smol() {
    story("smol");
}

#[test]
fn story_blocking() {
    story("blocking");
}

#[test]
fn sigterm_hands_over_smol() {
    sigterm_hands_over("smol");
}

#[test]
fn sigterm_hands_over_blocking() {
    sigterm_hands_over("blocking");
}

#[test]
fn hanging_start_is_killed_at_its_limit_smol() {
    hanging_start_is_killed("smol");
}

#[test]
fn hanging_start_is_killed_at_its_limit_blocking() {
    hanging_start_is_killed("blocking");
}

#[test]
fn sighup_with_a_broken_file_keeps_the_old_configuration_smol() {
    sighup_broken_keeps_old("smol");
}

#[test]
fn sighup_with_a_broken_file_keeps_the_old_configuration_blocking() {
    sighup_broken_keeps_old("blocking");
}
