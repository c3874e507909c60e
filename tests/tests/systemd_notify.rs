//! systemd's notification protocol from the real daemons: a test binds a unix datagram socket
//! in a temporary directory as `NOTIFY_SOCKET`, starts a loopback pair (faild and failsh on
//! 127.0.0.1/127.0.0.2) with `WATCHDOG_USEC`, and receives `READY=1`, `STATUS=` lines that
//! count the services by state, `WATCHDOG=1` pings at half the timeout, `RELOADING=1` with
//! `MONOTONIC_USEC=` then `READY=1` around SIGHUP, and `STOPPING=1` on SIGTERM.

mod failsh_support;

use failsh_support::*;
use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

/// Every datagram that arrives within `limit`, until `done` holds for what arrived.
fn collect_until(
    socket: &UnixDatagram,
    limit: Duration,
    mut done: impl FnMut(&[String]) -> bool,
) -> Vec<String> {
    socket
        .set_read_timeout(Some(Duration::from_millis(50)))
        .expect("timeout");
    let deadline = Instant::now() + limit;
    let mut got = Vec::new();
    let mut buffer = [0u8; 4096];
    while Instant::now() < deadline && !done(&got) {
        if let Ok(n) = socket.recv(&mut buffer) {
            got.push(String::from_utf8_lossy(&buffer[..n]).into_owned());
        }
    }
    assert!(done(&got), "within {limit:?}, only got {got:#?}");
    got
}

fn count(got: &[String], line: &str) -> usize {
    got.iter()
        .filter(|message| message.lines().any(|l| l == line))
        .count()
}

fn has_prefix(got: &[String], prefix: &str) -> bool {
    got.iter()
        .any(|message| message.lines().any(|l| l.starts_with(prefix)))
}

fn listener(dir: &std::path::Path, name: &str) -> (UnixDatagram, String) {
    let path = dir.join(name);
    let socket = UnixDatagram::bind(&path).expect("bind the notify socket");
    (socket, path.to_str().expect("utf-8").to_string())
}

#[test]
fn faild_and_failsh_notify_ready_status_watchdog_reload_and_stop() {
    let scratch = Scratch::new("sdnotify");
    let (faild_socket, faild_path) = listener(&scratch.0, "faild.notify");
    let (failsh_socket, failsh_path) = listener(&scratch.0, "failsh.notify");
    let mut l = Host::new("lukretia", "127.0.0.1", &scratch.0, "blocking");
    let mut m = Host::new(
        "macbeth",
        "127.0.0.2",
        &scratch.0,
        failover_tests::faild::any_runtime(),
    );
    // A 600 ms watchdog: pings every 300 ms. WATCHDOG_PID is left unset (systemd sets it to
    // the main pid; unset means "this process").
    l.env = vec![
        ("NOTIFY_SOCKET".into(), faild_path),
        ("WATCHDOG_USEC".into(), "600000".into()),
    ];
    l.start_faild();
    m.start_faild();
    for host in [&l, &m] {
        host.failc("FAIL");
        host.failc("RECOVER");
    }
    let got = collect_until(&faild_socket, Duration::from_secs(10), |got| {
        count(got, "READY=1") == 1
            && count(got, "WATCHDOG=1") >= 3
            && has_prefix(got, "STATUS=1 service: 1 RECOVER")
    });
    assert!(has_prefix(&got, "STATUS="), "{got:#?}");

    // failsh of lukretia: its own socket, a watchdog of its own, and a status line by state.
    l.env = vec![
        ("NOTIFY_SOCKET".into(), failsh_path),
        ("WATCHDOG_USEC".into(), "600000".into()),
    ];
    let l_config = l.write_config(&m, true, "");
    let m_config = m.write_config(&l, false, "");
    l.start_failsh(&l_config, &["--seed", "1"]);
    m.start_failsh(&m_config, &["--seed", "2"]);
    let got = collect_until(&failsh_socket, Duration::from_secs(10), |got| {
        count(got, "READY=1") == 1
            && count(got, "WATCHDOG=1") >= 3
            && count(got, "STATUS=1 service: 1 UP") >= 1
    });
    assert!(
        got.iter().position(|m| m == "READY=1") < got.iter().position(|m| m.contains("WATCHDOG=1")),
        "READY=1 comes first: {got:#?}"
    );

    // SIGHUP: RELOADING=1 with the monotonic time, then READY=1 again.
    for (name, daemon, socket) in [
        ("faild", l.faild.as_ref().expect("faild"), &faild_socket),
        ("failsh", l.failsh.as_ref().expect("failsh"), &failsh_socket),
    ] {
        daemon.signal("HUP");
        let got = collect_until(socket, Duration::from_secs(10), |got| {
            let reloading = got.iter().position(|m| m.starts_with("RELOADING=1"));
            let ready = got.iter().rposition(|m| m == "READY=1");
            matches!((reloading, ready), (Some(r), Some(d)) if r < d)
        });
        let reloading = got
            .iter()
            .find(|m| m.starts_with("RELOADING=1"))
            .expect("RELOADING=1");
        let usec: u64 = reloading
            .lines()
            .find_map(|l| l.strip_prefix("MONOTONIC_USEC="))
            .unwrap_or_else(|| panic!("{name}: no MONOTONIC_USEC in {reloading:?}"))
            .parse()
            .expect("a number");
        assert!(usec > 0, "{name}: {reloading}");
    }

    // SIGTERM: STOPPING=1 (failsh hands the service over first; faild stops at once).
    for (daemon, socket) in [
        (l.failsh.as_mut().expect("failsh"), &failsh_socket),
        (l.faild.as_mut().expect("faild"), &faild_socket),
    ] {
        daemon.signal("TERM");
        collect_until(socket, Duration::from_secs(10), |got| {
            count(got, "STOPPING=1") >= 1
        });
        assert!(
            daemon.wait_exit(Duration::from_secs(10)),
            "exits on SIGTERM"
        );
    }
}

/// A failsh whose only service polls every 5 s still pings a 600 ms watchdog every 300 ms:
/// the loop wakes for the watchdog, not only for the core (else systemd would kill a healthy
/// failsh whose interval is longer than half its watchdog).
#[test]
fn failsh_pings_the_watchdog_between_long_intervals() {
    let scratch = Scratch::new("sdnotify-long");
    let (socket, path) = listener(&scratch.0, "failsh.notify");
    let mut l = Host::new("lukretia", "127.0.0.1", &scratch.0, "blocking");
    let mut m = Host::new(
        "macbeth",
        "127.0.0.2",
        &scratch.0,
        failover_tests::faild::any_runtime(),
    );
    l.start_faild();
    m.start_faild();
    for host in [&l, &m] {
        host.failc("FAIL");
        host.failc("RECOVER");
    }
    for runtime in failover_tests::faild::runtimes() {
        // The previous round's SIGTERM handed over: FAIL in faild.
        l.failc("RECOVER");
        l.runtime = runtime;
        l.env = vec![
            ("NOTIFY_SOCKET".into(), path.clone()),
            ("WATCHDOG_USEC".into(), "600000".into()),
        ];
        let config = l.write_config(&m, true, &format!("failsvc {SERVICE} interval 5"));
        l.start_failsh(&config, &[]);
        wait_until("lukretia UP", Duration::from_secs(10), || {
            l.state().as_deref() == Some("UP")
        });
        // What came with the start is drained; then 2 s of a quiet core.
        socket.set_nonblocking(true).expect("nonblocking");
        let mut buffer = [0u8; 4096];
        while socket.recv(&mut buffer).is_ok() {}
        socket.set_nonblocking(false).expect("blocking");
        let started = Instant::now();
        let mut pings = 0;
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .expect("timeout");
        while started.elapsed() < Duration::from_secs(2) {
            if let Ok(n) = socket.recv(&mut buffer) {
                let message = String::from_utf8_lossy(&buffer[..n]).into_owned();
                pings += usize::from(message.lines().any(|line| line == "WATCHDOG=1"));
            }
        }
        eprintln!("[{runtime}] interval 5 s, watchdog 600 ms: {pings} pings in 2 s");
        assert!(pings >= 4, "[{runtime}] only {pings} watchdog pings in 2 s");
        let mut failsh = l.failsh.take().expect("failsh");
        failsh.signal("TERM");
        assert!(
            failsh.wait_exit(Duration::from_secs(10)),
            "exits on SIGTERM"
        );
    }
}
