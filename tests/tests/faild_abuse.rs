//! Issue 12.1: strangers holding faild's TCP connections must not cause two holders.
//!
//! A pair on loopback (lukretia master on 127.0.0.1, macbeth slave on 127.0.0.2, failsh
//! polling over TCP as every shipped configuration does) runs its story while the test
//! process attacks both faild with 348 connections each, from 25 source addresses
//! (127.0.1.1-24 and 127.0.2.1, all loopback): the attack (a length prefix of 60000,
//! then one byte every 10 s), a length prefix of 1000 trickled one byte every 200 ms, and
//! connections that say nothing, every one reopened 200 ms after faild closes it. The failsh
//! start under attack (so their pollers must get in), lukretia holds, lukretia's failsh is
//! stopped (macbeth takes over), lukretia comes back (the handback). Throughout, a new
//! `failstat -T` every 250 ms must be answered within its 1 s timeout, and the two hosts must
//! never hold the service at once. And a client refused for lack of slots (every slot held
//! by authenticated connections) gets exit status 3, every time.

mod failsh_support;

use failover_tests::abuse::{listen_overflows, SlowConnections};
use failover_tests::faild::runtimes;
use failsh_support::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The two attack tests measure real time on a small machine: one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Connections per attacked faild.
const ATTACK_CONNECTIONS: usize = 348;
/// How soon the attacker reopens a connection faild closed.
const REOPEN_AFTER: Duration = Duration::from_millis(200);
/// No attacker runs longer than this, whatever happens to the test.
const ATTACK_LIMIT: Duration = Duration::from_secs(90);

fn attack(target: SocketAddr) -> SlowConnections {
    SlowConnections::start(target, ATTACK_CONNECTIONS, REOPEN_AFTER, ATTACK_LIMIT)
}

/// Runs `failstat -T -t 1000` against each faild in turn every 250 ms until stopped; the
/// answer times, or the failures.
struct Poller {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<(Vec<Duration>, Vec<String>)>>,
}

const POLL_TIMEOUT_MS: u64 = 1000;

impl Poller {
    fn start(targets: Vec<(&'static str, u16)>) -> Poller {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let failstat = program("failstat");
        let thread = std::thread::spawn(move || {
            let started = Instant::now();
            let mut times = Vec::new();
            let mut failures = Vec::new();
            let mut n = 0;
            while !flag.load(Ordering::SeqCst) && started.elapsed() < ATTACK_LIMIT {
                let (ip, port) = targets[n % targets.len()];
                n += 1;
                let asked = Instant::now();
                let output = std::process::Command::new(&failstat)
                    .args(["-T", "-t", &POLL_TIMEOUT_MS.to_string(), "-c", "public"])
                    .args(["-H", ip, "-p", &port.to_string(), SERVICE])
                    .output();
                let took = asked.elapsed();
                match output {
                    Ok(out) if out.status.success() => times.push(took),
                    Ok(out) => failures.push(format!(
                        "{ip}: exit {:?} after {took:?}: {}",
                        out.status.code(),
                        String::from_utf8_lossy(&out.stderr).trim()
                    )),
                    Err(e) => failures.push(format!("{ip}: {e}")),
                }
                std::thread::sleep(Duration::from_millis(250));
            }
            (times, failures)
        });
        Poller {
            stop,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> (Vec<Duration>, Vec<String>) {
        self.stop.store(true, Ordering::SeqCst);
        self.thread
            .take()
            .expect("poller")
            .join()
            .expect("poller thread")
    }
}

impl Drop for Poller {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Samples both markers every 5 ms; remembers every moment both hosts held the service.
struct Watcher {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Vec<Duration>>>,
}

impl Watcher {
    fn start(l: std::path::PathBuf, m: std::path::PathBuf) -> Watcher {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let started = Instant::now();
            let mut both = Vec::new();
            while !flag.load(Ordering::SeqCst) && started.elapsed() < ATTACK_LIMIT {
                if l.exists() && m.exists() {
                    both.push(started.elapsed());
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            both
        });
        Watcher {
            stop,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> Vec<Duration> {
        self.stop.store(true, Ordering::SeqCst);
        self.thread
            .take()
            .expect("watcher")
            .join()
            .expect("watcher thread")
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn percentile(times: &mut [Duration], p: usize) -> Duration {
    times.sort();
    times
        .get((times.len() * p / 100).min(times.len().saturating_sub(1)))
        .copied()
        .unwrap_or_default()
}

/// [`wait_until`], but a timeout shows the end of every host's failsh log: under attack
/// the reason is in there, and the scratch directory is gone after the test.
fn wait_or_show_logs(what: &str, limit: Duration, hosts: &[&Host], condition: impl Fn() -> bool) {
    let start = Instant::now();
    while start.elapsed() < limit {
        if condition() {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut logs = String::new();
    for host in hosts {
        let text = host.log_text();
        let lines: Vec<&str> = text.lines().collect();
        logs.push_str(&format!(
            "--- {}'s failsh (holds: {}):\n{}\n",
            host.name,
            host.holds(),
            lines[lines.len().saturating_sub(40)..].join("\n")
        ));
    }
    panic!("timed out after {limit:?} waiting for: {what}\n{logs}");
}

fn slow_connection_attack(runtime: &'static str) {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let scratch = Scratch::new(&format!("abuse-{runtime}"));
    let mut l = Host::new("lukretia", "127.0.0.1", &scratch.0, runtime);
    let mut m = Host::new("macbeth", "127.0.0.2", &scratch.0, runtime);
    l.start_faild();
    m.start_faild();
    for host in [&l, &m] {
        host.failc("FAIL");
        host.failc("RECOVER");
    }
    // Every 0.5 s, a poll unanswered for 0.5 s is a FAIL: stricter than the shipped
    // configurations (interval 1).
    let extra = format!("failsvc {SERVICE} interval 0.5");
    let l_config = l.write_config(&m, true, &extra);
    let m_config = m.write_config(&l, false, &extra);

    let overflows_before = listen_overflows();
    let l_attack = attack(SocketAddr::from(([127, 0, 0, 1], l.port)));
    let m_attack = attack(SocketAddr::from(([127, 0, 0, 2], m.port)));
    let watcher = Watcher::start(l.marker(), m.marker());
    std::thread::sleep(Duration::from_secs(2));
    let poller = Poller::start(vec![("127.0.0.1", l.port), ("127.0.0.2", m.port)]);

    // 1. Both failsh start under attack: lukretia takes the service, macbeth waits.
    l.start_failsh(&l_config, &[]);
    m.start_failsh(&m_config, &[]);
    wait_or_show_logs(
        "lukretia holds under attack",
        Duration::from_secs(10),
        &[&l, &m],
        || l.holds() && l.state().as_deref() == Some("UP"),
    );
    let phase_1 = Instant::now();
    while phase_1.elapsed() < Duration::from_secs(10) {
        assert!(
            !m.holds(),
            "[{runtime}] macbeth took over during the attack"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(m.state().as_deref(), Some("RECOVER"));

    // 2. lukretia's failsh stops (SIGTERM hands over): macbeth takes over, under attack.
    let handover = Instant::now();
    l.failsh.as_ref().expect("failsh").signal("TERM");
    wait_or_show_logs(
        "macbeth holds after the handover",
        Duration::from_secs(10),
        &[&l, &m],
        || m.holds(),
    );
    eprintln!(
        "[{runtime}] handover under attack: macbeth holds after {:?}",
        handover.elapsed()
    );
    assert!(l
        .failsh
        .as_mut()
        .expect("failsh")
        .wait_exit(Duration::from_secs(5)));

    // 3. lukretia comes back: RECOVER, failsh again, and the handback.
    l.failc("RECOVER");
    l.start_failsh(&l_config, &[]);
    wait_or_show_logs(
        "lukretia holds again",
        Duration::from_secs(15),
        &[&l, &m],
        || l.holds() && !m.holds(),
    );
    std::thread::sleep(Duration::from_secs(2));
    assert!(l.holds() && !m.holds(), "[{runtime}] after the handback");

    let both = watcher.finish();
    let (mut times, failures) = poller.finish();
    let overflows = listen_overflows()
        .zip(overflows_before)
        .map(|(after, before)| after.saturating_sub(before));
    let l_summary = l_attack.summary();
    let m_summary = m_attack.summary();
    eprintln!("[{runtime}] attack on lukretia's faild: {l_summary}");
    eprintln!("[{runtime}] attack on macbeth's faild: {m_summary}");
    let polls = times.len();
    let (median, p99, max) = (
        percentile(&mut times, 50),
        percentile(&mut times, 99),
        percentile(&mut times, 100),
    );
    eprintln!(
        "[{runtime}] failstat -T under attack: {polls} answered, median {median:?}, p99 {p99:?}, max {max:?}, {} failed",
        failures.len()
    );
    // Counted for the whole machine, so only reported: a dropped SYN costs its client 1 s.
    eprintln!("[{runtime}] SYNs dropped by a full accept queue during the attack: {overflows:?}");
    assert!(
        failures.is_empty(),
        "[{runtime}] failstat -T not answered: {failures:#?}"
    );
    assert!(polls >= 40, "[{runtime}] only {polls} polls");
    assert!(
        both.is_empty(),
        "[{runtime}] both hosts held the service at {:?}",
        &both[..both.len().min(10)]
    );
    // The attack was real: hundreds held at once.
    for (who, attack, summary) in [
        ("lukretia", &l_attack, &l_summary),
        ("macbeth", &m_attack, &m_summary),
    ] {
        assert!(attack.most_open() >= 256, "[{runtime}] {who}: {summary}");
    }
    drop(l_attack);
    drop(m_attack);
    let faild_log = std::fs::read_to_string(l.dir.join("faild.log")).unwrap_or_default();
    let reports: Vec<&str> = faild_log
        .lines()
        .filter(|line| line.contains("TCP") && line.contains("to make room"))
        .collect();
    eprintln!(
        "[{runtime}] lukretia's faild logged {} abuse summaries, the first: {}",
        reports.len(),
        reports.first().unwrap_or(&"")
    );
    assert!(
        !reports.is_empty(),
        "[{runtime}] no abuse summary in the log"
    );
    assert!(
        faild_log.lines().count() < 100,
        "[{runtime}] faild logged {} lines under attack",
        faild_log.lines().count()
    );
}

#[test]
fn slow_connection_attack_on_both_faild_causes_no_second_holder_smol() {
    slow_connection_attack("smol");
}

#[test]
fn slow_connection_attack_on_both_faild_causes_no_second_holder_blocking() {
    slow_connection_attack("blocking");
}

/// Every slot held by authenticated connections: a new client is closed right after
/// accept, and failstat -T says so with exit 3 (unreachable) every time, never 1.
#[test]
fn a_client_refused_for_lack_of_slots_always_exits_3() {
    use failover_core::wire::{self, Nonce, Request, RequestBody};
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    for runtime in runtimes() {
        let scratch = Scratch::new(&format!("refused-{runtime}"));
        let mut host = Host::new("lukretia", "127.0.0.1", &scratch.0, runtime);
        host.start_faild_with(&["--max-connections", "4"]);
        host.failc("RECOVER");
        // Four authenticated connections (each got an authenticated reply) hold every slot.
        let mut held = Vec::new();
        for n in 0..4u8 {
            let mut stream = TcpStream::connect(("127.0.0.1", host.port)).expect("connect");
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .expect("timeout");
            let request = Request {
                nonce: Nonce([n; 16]),
                want_challenge: false,
                want_details: false,
                subscription: None,
                body: RequestBody::List,
            };
            let bytes = wire::encode_request(&request, "public").expect("encode");
            stream.write_all(&wire::frame(&bytes)).expect("send");
            let mut length = [0u8; 4];
            stream.read_exact(&mut length).expect("a reply");
            let mut reply = vec![0u8; u32::from_be_bytes(length) as usize];
            stream.read_exact(&mut reply).expect("a reply");
            assert!(
                wire::decode_reply(&reply)
                    .expect("reply")
                    .message
                    .authenticated
            );
            held.push(stream);
        }
        let mut codes = Vec::new();
        for n in 0..20 {
            // Both client runtimes.
            let runtimes = runtimes();
            let client = runtimes[n % runtimes.len()];
            let output = std::process::Command::new(program("failstat"))
                .args([
                    "--runtime",
                    client,
                    "-T",
                    "-t",
                    "2000",
                    "-H",
                    "127.0.0.1",
                    "-p",
                ])
                .arg(host.port.to_string())
                .arg(SERVICE)
                .output()
                .expect("failstat");
            codes.push(output.status.code());
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(
                stderr.contains("no free connection slot"),
                "[{runtime}] {stderr}"
            );
        }
        assert!(
            codes.iter().all(|c| *c == Some(3)),
            "[{runtime}] exit codes {codes:?}"
        );
        // One authenticated connection leaves: clients get in again.
        held.pop();
        std::thread::sleep(Duration::from_millis(200));
        let output = std::process::Command::new(program("failstat"))
            .args(["-T", "-H", "127.0.0.1", "-p"])
            .arg(host.port.to_string())
            .arg(SERVICE)
            .output()
            .expect("failstat");
        assert_eq!(output.status.code(), Some(0), "[{runtime}] after one left");
    }
}
