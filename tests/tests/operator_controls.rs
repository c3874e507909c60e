//! The operator controls of issue 16 with the real programs on loopback, for both runtimes:
//! `preempt off` and `preempt_delay`, `startup_delay`, a health check with `rise` and `fall`,
//! failtrap and `--notify` in the order of the changes, hitless reloads, and SIGTERM with a
//! dead local faild.

mod failsh_support;

use failsh_support::*;
use std::path::Path;
use std::time::{Duration, Instant};

fn interval() -> Duration {
    Duration::from_secs_f64(INTERVAL_S)
}

/// The service script's `fail`: the address goes, then FAIL in faild.
fn operator_fail(host: &Host) {
    let _ = std::fs::remove_file(host.marker());
    host.failc("FAIL");
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// `preempt off`: lukretia comes back in RECOVER and stays there for more than 10 intervals
/// while macbeth keeps the service; the operator moves it by failing it on macbeth.
fn preempt_off(runtime: &'static str) {
    let (_scratch, mut l, mut m) = pair(&format!("preempt-off-{runtime}"), runtime);
    let extra = format!("failsvc {SERVICE} preempt off");
    let l_config = l.write_config(&m, true, &extra);
    let m_config = m.write_config(&l, false, &extra);
    l.start_failsh(&l_config, &[]);
    m.start_failsh(&m_config, &[]);
    wait_states(&l, &m, "UP", "RECOVER", "lukretia UP");
    operator_fail(&l);
    wait_until("macbeth holds", Duration::from_secs(10), || {
        m.holds() && m.state().as_deref() == Some("UP")
    });
    l.failc("RECOVER");
    let watched = Instant::now();
    while watched.elapsed() < interval() * 12 {
        assert_eq!(
            l.state().as_deref(),
            Some("RECOVER"),
            "lukretia left RECOVER"
        );
        assert!(
            m.holds() && !l.holds(),
            "the service moved with preempt off"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!(
        "[{runtime}] preempt off: lukretia stayed RECOVER for {:?} ({} intervals) while macbeth kept the service",
        watched.elapsed(),
        watched.elapsed().as_millis() / interval().as_millis()
    );
    assert!(m.log_text().contains("preempt is off"));
    // The operator moves it.
    operator_fail(&m);
    wait_until("lukretia takes over", Duration::from_secs(10), || {
        l.holds() && l.state().as_deref() == Some("UP")
    });
    assert!(!m.holds());
}

/// `preempt_delay 2`: macbeth hands back only once lukretia has been RECOVER for 2 s.
fn preempt_delay(runtime: &'static str) {
    let (_scratch, mut l, mut m) = pair(&format!("preempt-delay-{runtime}"), runtime);
    let l_config = l.write_config(&m, true, "");
    let m_config = m.write_config(&l, false, &format!("failsvc {SERVICE} preempt_delay 2"));
    l.start_failsh(&l_config, &[]);
    m.start_failsh(&m_config, &[]);
    wait_states(&l, &m, "UP", "RECOVER", "lukretia UP");
    operator_fail(&l);
    wait_until("macbeth holds", Duration::from_secs(10), || m.holds());
    let recovered = Instant::now();
    l.failc("RECOVER");
    let handback = recovered
        + wait_until("lukretia holds again", Duration::from_secs(10), || {
            l.holds()
        });
    let took = handback - recovered;
    eprintln!("[{runtime}] preempt_delay 2: handed back {took:?} after lukretia's RECOVER");
    assert!(
        took >= Duration::from_millis(1_900),
        "handed back after {took:?}, before the delay"
    );
    wait_until("macbeth steps down", Duration::from_secs(5), || {
        !m.holds() && m.state().as_deref() == Some("RECOVER")
    });
}

/// `startup_delay 3`: a slave that starts while its master's faild cannot be reached does
/// not start the service for 3 s (without it: one interval).
fn startup_delay(runtime: &'static str) {
    let scratch = Scratch::new(&format!("startup-delay-{runtime}"));
    let l = Host::new("lukretia", "127.0.0.1", &scratch.0, runtime);
    let mut m = Host::new("macbeth", "127.0.0.2", &scratch.0, runtime);
    m.start_faild();
    m.failc("RECOVER");
    let m_config = m.write_config(&l, false, &format!("failsvc {SERVICE} startup_delay 3"));
    let started = Instant::now();
    m.start_failsh(&m_config, &[]);
    let took = wait_until("macbeth starts", Duration::from_secs(10), || m.holds());
    eprintln!("[{runtime}] startup_delay 3, master unreachable: macbeth started after {took:?}");
    assert!(
        started.elapsed() >= Duration::from_millis(2_900),
        "started after {took:?}, within the startup delay"
    );
    assert!(m.log_text().contains("startup_delay"));
}

/// `check` with `fall 2` and `rise 2`, and a stop that returns RECOVER: the failing check
/// hands the service to macbeth (FAIL here whatever stop returns), and after two passes
/// lukretia returns to RECOVER by itself and takes it back.
fn check_rise_fall(runtime: &'static str) {
    let (_scratch, mut l, mut m) = pair(&format!("check-{runtime}"), runtime);
    let healthy = l.dir.join("healthy");
    std::fs::write(&healthy, "").expect("healthy");
    let script = l.dir.join("service.sh");
    let extra = format!(
        r#"proc checkservice {{}} {{
    if {{[file exists {healthy}]}} {{ return 1 }}
    return 0
}}
proc stoprecover {{}} {{
    exec /bin/sh {script} down
    return RECOVER
}}
failsvc {SERVICE} check checkservice
failsvc {SERVICE} stop stoprecover
failsvc {SERVICE} fall 2
failsvc {SERVICE} rise 2"#,
        healthy = healthy.display(),
        script = script.display()
    );
    let l_config = l.write_config(&m, true, &extra);
    let m_config = m.write_config(&l, false, "");
    l.start_failsh(&l_config, &[]);
    m.start_failsh(&m_config, &[]);
    wait_states(&l, &m, "UP", "RECOVER", "lukretia UP");
    std::fs::remove_file(&healthy).expect("unhealthy");
    let failed = Instant::now();
    wait_until("macbeth takes over", Duration::from_secs(10), || {
        m.holds() && l.state().as_deref() == Some("FAIL")
    });
    let took = failed.elapsed();
    eprintln!("[{runtime}] check failing (fall 2): macbeth holds after {took:?}");
    assert!(took >= interval(), "acted on the first failure ({took:?})");
    assert!(!l.holds());
    let log = l.log_text();
    assert!(log.contains("1 of 2 in a row"), "no fall count in:\n{log}");
    std::fs::write(&healthy, "").expect("healthy again");
    let healed = Instant::now();
    wait_until("lukretia takes back", Duration::from_secs(10), || {
        l.holds() && l.state().as_deref() == Some("UP") && !m.holds()
    });
    eprintln!(
        "[{runtime}] check passing again (rise 2): lukretia holds after {:?}",
        healed.elapsed()
    );
    assert!(l.log_text().contains("passed 2 times in a row"));
}

/// failtrap: traps run one at a time in the order of the changes, even when the first one
/// is slow and three changes come within one interval; `--notify` writes the same order.
fn traps_in_order(runtime: &'static str) {
    let (_scratch, mut l, m) = pair(&format!("traps-{runtime}"), runtime);
    let traps = l.dir.join("traps");
    let notify = l.dir.join("notify");
    // The first call sleeps longer than the next changes take to come: run concurrently,
    // the later traps would write first.
    let extra = format!(
        r#"set calls 0
proc trap {{service from to}} {{
    global calls
    incr calls
    if {{$calls == 1}} {{ exec sleep 0.5 }}
    set f [open {traps} a]
    puts $f "$from $to"
    close $f
}}
failtrap {SERVICE} trap"#,
        traps = traps.display()
    );
    let l_config = l.write_config(&m, true, &extra);
    let notify_arg = notify.display().to_string();
    l.start_failsh(&l_config, &["--notify", &notify_arg]);
    wait_until("lukretia UP", Duration::from_secs(10), || {
        l.state().as_deref() == Some("UP")
    });
    // An operator's RECOVER at once: UNKNOWN -> RECOVER -> UP at start (3 ms apart), then
    // UP -> RECOVER (adopted at the next poll) and RECOVER -> UP (start), all four within
    // about one interval, while the first trap still sleeps.
    l.failc("RECOVER");
    let want = ["UNKNOWN RECOVER", "RECOVER UP", "UP RECOVER", "RECOVER UP"];
    let waited = Instant::now();
    while lines(&traps).len() < want.len() && waited.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let seen = lines(&traps);
    assert!(
        seen.len() >= want.len(),
        "traps seen: {seen:?}\nnotify: {:?}\nlog:\n{}",
        lines(&notify),
        l.log_text()
    );
    eprintln!("[{runtime}] traps: {seen:?}");
    let seen_wanted: Vec<&str> = seen.iter().map(String::as_str).collect();
    assert_eq!(seen_wanted, want, "traps out of order");
    let notified: Vec<String> = lines(&notify)
        .iter()
        .map(|line| {
            let fields: Vec<&str> = line.splitn(5, ' ').collect();
            assert_eq!(fields.len(), 5, "notify line {line:?}");
            assert_eq!(fields[1], SERVICE);
            assert!(fields[0].ends_with('Z'), "time of {line:?}");
            format!("{} {}", fields[2], fields[3])
        })
        .collect();
    assert_eq!(notified, want, "--notify out of order");
}

/// Hitless reload: adding a service and changing the interval disturbs nothing (no
/// procedure runs, the service stays UP); removing the UP service stops it with its stop
/// procedure and leaves FAIL in faild, and macbeth takes over.
fn reload(runtime: &'static str) {
    let (_scratch, mut l, mut m) = pair(&format!("reload-{runtime}"), runtime);
    let l_config = l.write_config(&m, true, "");
    let m_config = m.write_config(&l, false, "");
    l.start_failsh(&l_config, &[]);
    m.start_failsh(&m_config, &[]);
    wait_states(&l, &m, "UP", "RECOVER", "lukretia UP");
    std::thread::sleep(interval() * 2);
    let runs_before = l.log_text().matches("running ").count();
    // A new service (faild holds it FAIL: it is read from there, nothing starts) and a new
    // interval for the old one.
    l.failc_service("198.18.0.51", "FAIL");
    let base = std::fs::read_to_string(&l_config).expect("config");
    let second = "proc start2 {} { return UP }\nproc stop2 {} { return FAIL }\nfailsvc 198.18.0.51 create\nfailsvc 198.18.0.51 start start2\nfailsvc 198.18.0.51 stop stop2\nfailsvc 198.18.0.51 slaves macbeth\n";
    let changed = base.replace(
        &format!("failsvc {SERVICE} interval {INTERVAL_S}"),
        &format!("failsvc {SERVICE} interval 0.1"),
    );
    assert_ne!(changed, base, "interval line not found");
    std::fs::write(&l_config, format!("{changed}\n{second}")).expect("config");
    l.failsh.as_ref().expect("failsh").signal("HUP");
    wait_until("reload logged", Duration::from_secs(5), || {
        l.log_text().contains("reloaded")
    });
    wait_until("the new service read", Duration::from_secs(5), || {
        l.log_text()
            .contains("service 198.18.0.51: UNKNOWN -> FAIL: read from the local faild")
    });
    let watched = Instant::now();
    while watched.elapsed() < interval() * 5 {
        assert!(l.holds() && l.state().as_deref() == Some("UP"), "disturbed");
        std::thread::sleep(Duration::from_millis(20));
    }
    let runs_after = l.log_text().matches("running ").count();
    assert_eq!(
        runs_before,
        runs_after,
        "a procedure ran after the reload:\n{}",
        l.log_text()
    );
    // Removing the UP service: stopped, FAIL left in faild, macbeth takes over.
    std::fs::write(
        &l_config,
        format!("{base}\n{second}").replace(&format!("failsvc {SERVICE} create"), "# removed"),
    )
    .expect("config");
    // The rest of the removed service's lines must go too.
    let text = std::fs::read_to_string(&l_config).expect("config");
    let without: String = text
        .lines()
        .filter(|line| !line.starts_with(&format!("failsvc {SERVICE} ")))
        .map(|line| format!("{line}\n"))
        .collect();
    std::fs::write(&l_config, without).expect("config");
    let removed = Instant::now();
    l.failsh.as_ref().expect("failsh").signal("HUP");
    wait_until("stopped and FAIL", Duration::from_secs(10), || {
        !l.holds() && l.state().as_deref() == Some("FAIL")
    });
    wait_until("macbeth takes over", Duration::from_secs(10), || m.holds());
    eprintln!(
        "[{runtime}] reload removing the UP service: stopped, FAIL, macbeth holds after {:?}",
        removed.elapsed()
    );
    assert!(l.log_text().contains("removed from the configuration"));
}

/// SIGTERM while the local faild is dead: the stop runs and failsh exits within
/// `limit` + 2 s (it used to wait 32 s for a FAIL the dead faild could not store).
fn sigterm_with_dead_faild(runtime: &'static str) {
    let (_scratch, mut l, m) = pair(&format!("sigterm-dead-{runtime}"), runtime);
    let l_config = l.write_config(&m, true, &format!("failsvc {SERVICE} limit 5"));
    l.start_failsh(&l_config, &[]);
    wait_until("lukretia UP", Duration::from_secs(10), || {
        l.holds() && l.state().as_deref() == Some("UP")
    });
    l.faild.as_mut().expect("faild").kill();
    let start = Instant::now();
    let mut failsh = l.failsh.take().expect("failsh");
    failsh.signal("TERM");
    assert!(
        failsh.wait_exit(Duration::from_secs(7)),
        "failsh did not exit within limit + 2 s"
    );
    let took = start.elapsed();
    eprintln!("[{runtime}] SIGTERM with a dead local faild: exited after {took:?} (limit 5 s)");
    assert!(!l.holds(), "the stop procedure did not run");
}

macro_rules! both_runtimes {
    ($($name:ident => $body:ident),* $(,)?) => {
        mod runtime_smol {
            $(#[test] fn $name() { super::$body("smol"); })*
        }
        mod runtime_blocking {
            $(#[test] fn $name() { super::$body("blocking"); })*
        }
    };
}

both_runtimes! {
    preempt_off_keeps_the_master_recover_for_ten_intervals => preempt_off,
    preempt_delay_hands_back_after_the_delay => preempt_delay,
    startup_delay_holds_the_start => startup_delay,
    a_failing_check_hands_over_and_rise_brings_it_back => check_rise_fall,
    traps_and_notify_lines_come_in_order => traps_in_order,
    reload_is_hitless_and_retires_a_removed_service => reload,
    sigterm_with_a_dead_local_faild_exits_promptly => sigterm_with_dead_faild,
}
