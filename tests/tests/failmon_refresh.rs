//! The page of `failmon -h` asks to be reloaded and a reload shows a state change: a loopback
//! pair (lukretia UP, macbeth RECOVER), a tiny web server on 127.0.0.1 that answers every GET
//! with a fresh `failmon -h -r 1` of lukretia's failsh (as a web server runs failmon.cgi), and
//! headless Chromium (`--dump-dom`) on it: the DOM shows UP, carries the 1 s meta refresh and
//! timestamped events; an operator sets lukretia FAIL (failc); the next load's DOM shows FAIL.
//!
//! A second test leaves headless Chromium on the page (`--remote-debugging-port`): the server
//! sees it reload the page by itself every second, and the title Chromium shows (read from
//! DevTools' `/json/list`, which carries the states) turns to FAIL after an operator's FAIL
//! without the test loading anything. Without /usr/bin/chromium both say so on stderr and
//! are skipped explicitly (a failure unless FAILOVER_ALLOW_SKIP=1).

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

/// A tiny web server on 127.0.0.1 that answers every `GET /` with a fresh
/// `failmon -h -r 1` of the failsh whose monitor port it was given (as a web server runs
/// failmon.cgi), counting what it served. Stopped (bounded) when dropped.
struct PageServer {
    url: String,
    served: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl PageServer {
    fn start(monitor_port: &str) -> PageServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the web server");
        let url = format!("http://{}/", listener.local_addr().expect("address"));
        let served = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        listener.set_nonblocking(true).expect("nonblocking");
        let handle = {
            let (served, stop) = (Arc::clone(&served), Arc::clone(&stop));
            let monitor_port = monitor_port.to_string();
            std::thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(120);
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
        PageServer {
            url,
            served,
            stop,
            handle: Some(handle),
        }
    }

    fn served(&self) -> usize {
        self.served.load(Ordering::SeqCst)
    }
}

impl Drop for PageServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

/// A loopback pair with lukretia UP (as its monitor shows) and macbeth RECOVER; lukretia's
/// monitor port.
fn pair_up(tag: &str) -> (Scratch, Host, Host, String) {
    let scratch = Scratch::new(tag);
    let mut l = Host::new(
        "lukretia",
        "127.0.0.1",
        &scratch.0,
        failover_tests::faild::any_runtime(),
    );
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

    (scratch, l, m, monitor_port)
}

fn chromium() -> Option<&'static Path> {
    let chromium = Path::new("/usr/bin/chromium");
    if chromium.exists() {
        return Some(chromium);
    }
    eprintln!("\n*** failmon_refresh: /usr/bin/chromium is missing (apt-get install chromium): SKIPPED ***\n");
    failover_tests::skip("/usr/bin/chromium is missing: apt-get install chromium");
    None
}

/// The title of the one page headless Chromium shows, from its DevTools HTTP endpoint
/// (`/json/list`, plain HTTP: no driver needed).
fn shown_title(devtools_port: u16) -> Option<String> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", devtools_port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    stream
        .write_all(b"GET /json/list HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    let body = response.split_once("\r\n\r\n")?.1;
    let targets: serde_json::Value = serde_json::from_str(body).ok()?;
    targets
        .as_array()?
        .iter()
        .find(|t| t["type"] == "page")
        .and_then(|t| t["title"].as_str())
        .map(str::to_string)
}

/// The page reloads itself: Chromium is pointed at it once and left alone. The web server
/// sees it come back every second, and after an operator's FAIL the title Chromium shows
/// (the states are in it) changes to FAIL without the test loading anything.
#[test]
fn failmon_page_reloads_itself_in_headless_chromium() {
    let Some(chromium) = chromium() else { return };
    let (scratch, l, _m, monitor_port) = pair_up("failmon-selfrefresh");
    let server = PageServer::start(&monitor_port);
    let devtools_port = free_port("127.0.0.1");
    let profile = scratch.0.join("chromium-profile");
    let mut command = Command::new(chromium);
    command
        .args(failover_tests::HEADLESS_CHROMIUM)
        .arg(format!("--remote-debugging-port={devtools_port}"))
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(&server.url);
    let _browser = Daemon::spawn("chromium", command, &scratch.0.join("chromium.log"));
    wait_until(
        "Chromium shows lukretia UP",
        Duration::from_secs(30),
        || shown_title(devtools_port).is_some_and(|t| t.ends_with(": 1 UP")),
    );
    let loaded = server.served();
    wait_until(
        "Chromium reloads the page by itself",
        Duration::from_secs(10),
        || server.served() >= loaded + 2,
    );
    l.failc("FAIL");
    let took = wait_until(
        "Chromium shows lukretia FAIL without being told to load",
        Duration::from_secs(15),
        || shown_title(devtools_port).is_some_and(|t| t.ends_with(": 1 FAIL")),
    );
    eprintln!(
        "the page reloaded itself {} times; FAIL shown {took:?} after failc",
        server.served()
    );
}

#[test]
fn failmon_page_refreshes_and_shows_a_state_change_in_headless_chromium() {
    let Some(chromium) = chromium() else { return };
    let (_scratch, l, _m, monitor_port) = pair_up("failmon-refresh");
    let state_row = |state: &str| format!("<td class=\"state {state}\">{state}");
    let server = PageServer::start(&monitor_port);
    let url = server.url.clone();
    let profile = failover_tests::TempDir::new("chromium-refresh");
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-output/failmon");
    let _ = std::fs::create_dir_all(&out);
    let load = |name: &str| -> String {
        let dom = failover_tests::run_with_limit(
            Command::new(chromium)
                .args(failover_tests::HEADLESS_CHROMIUM)
                .arg("--dump-dom")
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
    assert!(
        second.contains(&row("FAIL")),
        "lukretia FAIL after the reload:\n{second}"
    );
    assert!(server.served() >= 2, "both loads were served");
}
