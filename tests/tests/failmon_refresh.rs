//! The page of `failmon -h` asks to be reloaded and a reload shows a state change: a loopback
//! pair (lukretia UP, macbeth RECOVER), a tiny web server on 127.0.0.1 that answers every GET
//! with a fresh `failmon -h -r 1` of lukretia's failsh (as a web server runs failmon.cgi), and
//! headless Chromium (`--dump-dom`) on it: the DOM shows UP, carries the 1 s meta refresh and
//! timestamped events; an operator sets lukretia FAIL (failc); the next load's DOM shows FAIL.
//!
//! Not covered: Chromium following the meta refresh by itself. `--dump-dom` returns at the
//! first load, and with `--virtual-time-budget` headless Chromium hangs on a meta refresh
//! (tried: it never returns); watching the reload needs a DevTools-protocol driver. Without /usr/bin/chromium the test says so on
//! stderr and is skipped explicitly (a failure unless FAILOVER_ALLOW_SKIP=1).

mod failsh_support;

use failsh_support::*;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn failmon(args: &[&str]) -> String {
    let output = failover_tests::run_with_limit(
        Command::new(program("failmon")).args(args),
        Duration::from_secs(10),
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn failmon_page_refreshes_and_shows_a_state_change_in_headless_chromium() {
    let chromium = Path::new("/usr/bin/chromium");
    if !chromium.exists() {
        eprintln!("\n*** failmon_refresh: /usr/bin/chromium is missing (apt-get install chromium): SKIPPED ***\n");
        failover_tests::skip("/usr/bin/chromium is missing: apt-get install chromium");
        return;
    }
    let scratch = Scratch::new("failmon-refresh");
    let mut l = Host::new("lukretia", "127.0.0.1", &scratch.0, "smol");
    let mut m = Host::new("macbeth", "127.0.0.2", &scratch.0, "blocking");
    l.start_faild();
    m.start_faild();
    for host in [&l, &m] {
        host.failc("FAIL");
        host.failc("RECOVER");
    }
    let l_config = l.write_config(&m, true, "");
    let m_config = m.write_config(&l, false, "");
    l.start_failsh(&l_config, &["--seed", "1"]);
    m.start_failsh(&m_config, &["--seed", "2"]);
    let monitor_port = l.monitor_port.to_string();
    let state_row = |state: &str| format!("<td class=\"state {state}\">{state}");
    wait_until(
        "lukretia UP on its monitor",
        Duration::from_secs(10),
        || failmon(&["-h", "-p", &monitor_port, "127.0.0.1"]).contains(&state_row("UP")),
    );

    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the web server");
    let url = format!("http://{}/", listener.local_addr().expect("address"));
    let served = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    listener.set_nonblocking(true).expect("nonblocking");
    let server = {
        let (served, stop) = (Arc::clone(&served), Arc::clone(&stop));
        let monitor_port = monitor_port.clone();
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(90);
            while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
                let Ok((mut stream, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                let _ = stream.set_nonblocking(false);
                let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                let mut request = [0u8; 4096];
                let _ = stream.read(&mut request);
                if !String::from_utf8_lossy(&request).starts_with("GET / ") {
                    let _ = stream.write_all(
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    );
                    continue;
                }
                let page = failmon(&["-h", "-r", "1", "-p", &monitor_port, "127.0.0.1"]);
                served.fetch_add(1, Ordering::SeqCst);
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
                    page.len()
                );
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(page.as_bytes());
            }
        })
    };
    let profile = failover_tests::TempDir::new("chromium-refresh");
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-output/failmon");
    let _ = std::fs::create_dir_all(&out);
    let load = |name: &str| -> String {
        let dom = failover_tests::run_with_limit(
            Command::new(chromium)
                .args([
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--disable-dev-shm-usage",
                    "--dump-dom",
                ])
                .arg(format!("--user-data-dir={}", profile.path().display()))
                .arg(&url),
            Duration::from_secs(60),
        );
        let dom_text = String::from_utf8_lossy(&dom.stdout).into_owned();
        let _ = std::fs::write(out.join(name), &dom_text);
        assert!(
            dom.status.success() && dom_text.contains("</html>"),
            "chromium --dump-dom failed: {}\n{}",
            dom.status,
            String::from_utf8_lossy(&dom.stderr)
        );
        dom_text
    };
    let row = |state: &str| format!("<td class=\"name\">{SERVICE}</td>{}", state_row(state));
    let first = load("refresh-before.dom.html");
    assert!(first.contains(&row("UP")), "lukretia UP:\n{first}");
    assert!(
        first.contains("http-equiv=\"refresh\" content=\"1\""),
        "the page asks to be reloaded every second:\n{first}"
    );
    assert!(
        first.contains(" ago</time>"),
        "recent events carry their time and age:\n{first}"
    );
    l.failc("FAIL");
    wait_until(
        "lukretia FAIL on its monitor",
        Duration::from_secs(10),
        || failmon(&["-h", "-p", &monitor_port, "127.0.0.1"]).contains(&state_row("FAIL")),
    );
    let second = load("refresh-after.dom.html");
    stop.store(true, Ordering::SeqCst);
    let _ = server.join();
    assert!(
        second.contains(&row("FAIL")),
        "lukretia FAIL after the reload:\n{second}"
    );
    assert!(served.load(Ordering::SeqCst) >= 2, "both loads were served");
}
