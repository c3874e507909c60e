//! failmon and faildebug against a running faild + failsh on loopback: the one-shot text and
//! JSON show every service's state, the HTML page shows it in headless Chromium, failmon.cgi
//! answers with a CGI header, and faildebug changes a log level while a wrong community is
//! refused.
//!
//! The failsh watches three services whose states are fixed by construction:
//! - 198.18.0.50: lukretia is the master; its slave macbeth has no faild -> UP;
//! - 198.18.0.51: registered FAIL with failc -> failsh leaves it FAIL;
//! - 198.18.0.52: a slave whose master is unreachable but whose health check says no ->
//!   stays RECOVER ("a failing check on a slave keeps it from taking over"; `fall` is set
//!   high so that the check never holds it FAIL).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use failover_tests::{command, free_port, program, run_with_limit, skip, text, Guarded, TempDir};

const UP_SERVICE: &str = "198.18.0.50";
const FAIL_SERVICE: &str = "198.18.0.51";
const RECOVER_SERVICE: &str = "198.18.0.52";
const DEBUG_COMMUNITY: &str = "s3cret-debug";

struct Live {
    dir: TempDir,
    _faild: Guarded,
    _failsh: Guarded,
    monitor_port: u16,
    debug_port: u16,
}

impl Live {
    fn failsh_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("failsh.log")).unwrap_or_default()
    }

    fn faild_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("faild.log")).unwrap_or_default()
    }
}

fn start(label: &str) -> Live {
    let dir = TempDir::new(label);
    let faild_port = free_port();
    // Nothing listens here: macbeth is down for the whole test.
    let macbeth_port = free_port();
    std::fs::write(
        dir.join("communities"),
        "* public RO\n* public RW 127.0.0.0/8\n* genesis RW 127.0.0.0/8\n",
    )
    .unwrap();
    let faild_log = std::fs::File::create(dir.join("faild.log")).unwrap();
    let faild = Guarded::spawn(
        command("faild")
            .args(["-F", "-a", "127.0.0.1", "-p", &faild_port.to_string(), "-c"])
            .arg(dir.join("communities"))
            .arg("-s")
            .arg(dir.join("faild.state"))
            .stdin(Stdio::null())
            .stdout(faild_log.try_clone().unwrap())
            .stderr(faild_log),
    )
    .expect("start faild");
    for (service, state) in [
        (UP_SERVICE, "RECOVER"),
        (FAIL_SERVICE, "FAIL"),
        (RECOVER_SERVICE, "RECOVER"),
    ] {
        let registered = failover_tests::wait_until(Duration::from_secs(10), || {
            run_with_limit(
                command("failc").args([
                    "-p",
                    &faild_port.to_string(),
                    "-T",
                    "-t",
                    "500",
                    "-s",
                    state,
                    service,
                ]),
                Duration::from_secs(5),
            )
            .status
            .success()
        });
        assert!(registered, "failc could not register {service} {state}");
    }
    let config = format!(
        r#"# lukretia, with macbeth down for good; misses 3: these tests read failmon, and a
# debug build beside five other tests once missed one 100 ms answer of its faild (CI), which
# stopped the UP service for good
proc up {{}} {{ return "UP" }}
proc down {{}} {{ return "FAIL" }}
proc nocheck {{}} {{ return 0 }}

failsvc {UP_SERVICE} create
failsvc {UP_SERVICE} interval 0.1
failsvc {UP_SERVICE} misses 3
failsvc {UP_SERVICE} start up
failsvc {UP_SERVICE} stop down
failsvc {UP_SERVICE} slaves macbeth

failsvc {FAIL_SERVICE} create
failsvc {FAIL_SERVICE} interval 0.1
failsvc {FAIL_SERVICE} misses 3
failsvc {FAIL_SERVICE} start up
failsvc {FAIL_SERVICE} stop down
failsvc {FAIL_SERVICE} slaves macbeth

failsvc {RECOVER_SERVICE} create
failsvc {RECOVER_SERVICE} interval 0.1
failsvc {RECOVER_SERVICE} misses 3
failsvc {RECOVER_SERVICE} start up
failsvc {RECOVER_SERVICE} stop down
failsvc {RECOVER_SERVICE} check nocheck
failsvc {RECOVER_SERVICE} fall 1000000
failsvc {RECOVER_SERVICE} masters macbeth

failhost macbeth address 127.0.0.1
failhost macbeth port {macbeth_port}
failhost macbeth protocol tcp
failhost macbeth community public

failhost localhost address 127.0.0.1
failhost localhost port {faild_port}
failhost localhost protocol tcp
failhost localhost community genesis
"#
    );
    std::fs::write(dir.join("lukretia.tcl"), config).unwrap();
    // The monitor and debug ports come from free_port(), so another test may take one
    // before failsh binds it: then failsh says so and exits, and it gets two new ports.
    let mut attempt = 0;
    let (failsh, monitor_port, debug_port) = loop {
        attempt += 1;
        let monitor_port = free_port();
        let debug_port = free_port();
        let failsh_log = std::fs::File::create(dir.join("failsh.log")).unwrap();
        let mut failsh = Guarded::spawn(
            command("failsh")
                .arg("-F")
                .arg("-f")
                .arg(dir.join("lukretia.tcl"))
                .args(["-m", &monitor_port.to_string()])
                .args(["-D", &debug_port.to_string(), "-c", DEBUG_COMMUNITY])
                .arg("-l")
                .arg(dir.join("failsh.dump"))
                .stdin(Stdio::null())
                .stdout(failsh_log.try_clone().unwrap())
                .stderr(failsh_log),
        )
        .expect("start failsh");
        let in_use = || {
            std::fs::read_to_string(dir.join("failsh.log"))
                .unwrap_or_default()
                .contains("Address already in use")
        };
        failover_tests::wait_until(Duration::from_secs(1), || {
            in_use() || matches!(failsh.child().try_wait(), Ok(Some(_)))
        });
        if !in_use() || attempt == 5 {
            break (failsh, monitor_port, debug_port);
        }
    };
    let live = Live {
        dir,
        _faild: faild,
        _failsh: failsh,
        monitor_port,
        debug_port,
    };
    let mut last = String::new();
    let settled = failover_tests::wait_until(Duration::from_secs(15), || {
        last = failmon_json(&live).unwrap_or_else(|why| why);
        let states = service_states(&last);
        states
            == vec![
                (UP_SERVICE.to_string(), "UP".to_string()),
                (FAIL_SERVICE.to_string(), "FAIL".to_string()),
                (RECOVER_SERVICE.to_string(), "RECOVER".to_string()),
            ]
    });
    assert!(
        settled,
        "the services did not settle; last failmon --json: {last}\nfailsh log:\n{}\nfaild log:\n{}",
        live.failsh_log(),
        live.faild_log()
    );
    live
}

fn failmon_json(live: &Live) -> Result<String, String> {
    let output = run_with_limit(
        command("failmon").args(["-p", &live.monitor_port.to_string(), "127.0.0.1", "--json"]),
        Duration::from_secs(10),
    );
    if output.status.success() {
        Ok(text(&output.stdout))
    } else {
        Err(format!("{}: {}", output.status, text(&output.stderr)))
    }
}

/// (service, state) pairs of a `failmon --json` line, in the snapshot's order.
fn service_states(json: &str) -> Vec<(String, String)> {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(json.trim()) else {
        return Vec::new();
    };
    value["services"]
        .as_array()
        .map(|services| {
            services
                .iter()
                .map(|service| {
                    (
                        service["name"].as_str().unwrap_or_default().to_string(),
                        service["state"].as_str().unwrap_or("null").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn failmon_one_shot_text_and_json_show_every_service_with_its_state() {
    let live = start("failmon-text");
    let json = failmon_json(&live).expect("failmon --json");
    let value: serde_json::Value = serde_json::from_str(json.trim()).expect("one JSON line");
    assert_eq!(value["format"], "failover-monitor");
    assert_eq!(json.trim().lines().count(), 1, "{json}");
    let macbeth = value["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|host| host["name"] == "macbeth")
        .expect("macbeth among the hosts");
    assert_eq!(macbeth["reachable"], false, "{json}");

    let output = run_with_limit(
        command("failmon").args(["-1", "-p", &live.monitor_port.to_string(), "127.0.0.1"]),
        Duration::from_secs(10),
    );
    let shown = text(&output.stdout);
    assert!(output.status.success(), "{}", text(&output.stderr));
    for line in [
        format!("{UP_SERVICE:<24} UP       every 0.1 s"),
        format!("{FAIL_SERVICE:<24} FAIL     every 0.1 s"),
        format!("{RECOVER_SERVICE:<24} RECOVER  every 0.1 s"),
        "slaves:      macbeth FAIL".to_string(),
        "masters:     macbeth FAIL".to_string(),
        "macbeth                  tcp  reachable: no".to_string(),
        "localhost                tcp  reachable: yes".to_string(),
    ] {
        assert!(shown.contains(&line), "missing {line:?} in\n{shown}");
    }
}

#[test]
fn failmon_exit_codes_say_what_went_wrong() {
    let live = start("failmon-errors");
    // Nothing listens: exit 1 and a message naming the address.
    let closed = free_port();
    let output = run_with_limit(
        command("failmon").args(["-1", "-p", &closed.to_string(), "127.0.0.1"]),
        Duration::from_secs(10),
    );
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(
        text(&output.stderr).contains(&format!("127.0.0.1:{closed}: cannot connect")),
        "{}",
        text(&output.stderr)
    );
    // The debug port is no monitor port: exit 3.
    let output = run_with_limit(
        command("failmon").args(["-1", "-p", &live.debug_port.to_string(), "127.0.0.1"]),
        Duration::from_secs(10),
    );
    assert_eq!(output.status.code(), Some(3), "{output:?}");
    assert!(text(&output.stderr).contains("not a failsh monitor port"));
    // Usage errors: exit 2.
    for arguments in [&["-1", "-h"][..], &["-p", "0"], &["--bogus"]] {
        let output = run_with_limit(command("failmon").args(arguments), Duration::from_secs(10));
        assert_eq!(output.status.code(), Some(2), "{arguments:?}: {output:?}");
    }
}

/// Where a test keeps what a person may want to look at afterwards.
fn output_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-output/failmon");
    std::fs::create_dir_all(&dir).expect("create target/test-output/failmon");
    dir
}

#[test]
fn failmon_html_page_shows_every_service_with_its_state_in_headless_chromium() {
    let chromium = Path::new("/usr/bin/chromium");
    if !chromium.exists() {
        skip("/usr/bin/chromium is missing: apt-get install chromium");
        return;
    }
    let live = start("failmon-html");
    let output = run_with_limit(
        command("failmon").args(["-h", "-p", &live.monitor_port.to_string(), "127.0.0.1"]),
        Duration::from_secs(10),
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let out = output_dir();
    let page = out.join("status.html");
    std::fs::write(&page, &output.stdout).unwrap();
    let screenshot = out.join("status.png");
    let _ = std::fs::remove_file(&screenshot);

    let profile = TempDir::new("chromium-profile");
    let chromium_command = |extra: &[String]| {
        let mut command = Command::new(chromium);
        command
            .args(failover_tests::HEADLESS_CHROMIUM)
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(extra)
            .arg(format!("file://{}", page.display()));
        command
    };
    let dom = run_with_limit(
        &mut chromium_command(&["--dump-dom".to_string()]),
        Duration::from_secs(60),
    );
    let dom_text = text(&dom.stdout);
    std::fs::write(out.join("status.dom.html"), &dom_text).unwrap();
    assert!(
        dom.status.success() && dom_text.contains("</html>"),
        "chromium --dump-dom failed: {}\n{}",
        dom.status,
        text(&dom.stderr)
    );
    for (service, state) in [
        (UP_SERVICE, "UP"),
        (FAIL_SERVICE, "FAIL"),
        (RECOVER_SERVICE, "RECOVER"),
    ] {
        // A procedure running at the moment (the RECOVER service's check, every 0.1 s) is
        // shown after the state: "RECOVER <em>(check running)</em>".
        let cells = format!("<td class=\"name\">{service}</td><td class=\"state {state}\">{state}");
        assert!(
            dom_text.contains(&cells),
            "the rendered page lacks {cells}; DOM kept in {}",
            out.join("status.dom.html").display()
        );
    }
    assert!(dom_text.contains("<title>failover: "), "{dom_text}");

    let shot = run_with_limit(
        &mut chromium_command(&[
            format!("--screenshot={}", screenshot.display()),
            "--window-size=1400,700".to_string(),
            "--hide-scrollbars".to_string(),
        ]),
        Duration::from_secs(60),
    );
    let png = std::fs::read(&screenshot).unwrap_or_default();
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 2000,
        "no screenshot at {} ({}): {}",
        screenshot.display(),
        shot.status,
        text(&shot.stderr)
    );
    eprintln!("failmon page, DOM and screenshot kept in {}", out.display());
}

#[test]
fn failmon_cgi_answers_with_a_cgi_header_and_ignores_its_query() {
    let live = start("failmon-cgi");
    let dir = TempDir::new("failmon-cgi-link");
    let cgi = dir.join("failmon.cgi");
    std::os::unix::fs::symlink(program("failmon"), &cgi).unwrap();
    let output = run_with_limit(
        Command::new(&cgi)
            // A visitor's query words must not choose where it connects.
            .args(["-p", "1", "198.18.0.99"])
            .env("QUERY_STRING", "target=198.18.0.99")
            .env("FAILMON_TARGET", "127.0.0.1")
            .env("FAILMON_PORT", live.monitor_port.to_string()),
        Duration::from_secs(10),
    );
    let page = text(&output.stdout);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        page.starts_with("Content-Type: text/html; charset=utf-8\r\n\r\n<!DOCTYPE html>"),
        "{page}"
    );
    assert!(page.contains("<meta http-equiv=\"refresh\" content=\"5\">"));
    assert!(page.contains(&format!("<td class=\"name\">{UP_SERVICE}</td>")));

    // The monitor port is closed: a 502 page that says why.
    let output = run_with_limit(
        Command::new(&cgi)
            .env("FAILMON_TARGET", "127.0.0.1")
            .env("FAILMON_PORT", free_port().to_string()),
        Duration::from_secs(10),
    );
    let page = text(&output.stdout);
    assert!(page.starts_with("Status: 502 Bad Gateway\r\n"), "{page}");
    assert!(page.contains("cannot connect"), "{page}");
}

#[test]
fn faildebug_changes_a_log_level_of_a_running_failsh_and_a_wrong_community_is_refused() {
    let live = start("faildebug");
    let port = live.debug_port.to_string();
    let output = run_with_limit(
        command("faildebug").args([
            "-p",
            &port,
            "-c",
            DEBUG_COMMUNITY,
            "127.0.0.1",
            "poll",
            "trace",
        ]),
        Duration::from_secs(10),
    );
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert_eq!(text(&output.stdout), "127.0.0.1: poll trace\n");
    let changed = failover_tests::wait_until(Duration::from_secs(5), || {
        live.failsh_log()
            .contains("log level of poll set to trace by faildebug")
    });
    assert!(
        changed,
        "failsh did not log the change:\n{}",
        live.failsh_log()
    );

    let output = run_with_limit(
        command("faildebug").args(["-p", &port, "-c", "public", "poll", "debug"]),
        Duration::from_secs(10),
    );
    assert_eq!(output.status.code(), Some(3), "{output:?}");
    assert!(text(&output.stderr).contains("refused: wrong community"));
    assert!(!live.failsh_log().contains("log level of poll set to debug"));

    // Nothing listens: exit 1; a facility that does not exist: usage error 2.
    let output = run_with_limit(
        command("faildebug").args(["-p", &free_port().to_string(), "poll", "debug"]),
        Duration::from_secs(10),
    );
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let output = run_with_limit(
        command("faildebug").args(["-p", &port, "pol", "debug"]),
        Duration::from_secs(10),
    );
    assert_eq!(output.status.code(), Some(2), "{output:?}");
}

/// faild serves the same debug port: faildebug raises its `net` facility to debug, and a
/// malformed datagram, logged only at debug level, then shows up in its log.
#[test]
fn faildebug_changes_a_log_level_of_a_running_faild() {
    let temp = TempDir::new("faild-debug");
    let dir = temp.path();
    let faild_port = free_port();
    let debug_port = free_port();
    let log_path = dir.join("faild.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let _faild = Guarded::spawn(
        command("faild")
            .args(["-F", "-a", "127.0.0.1", "-p", &faild_port.to_string()])
            .args([
                "-D",
                &debug_port.to_string(),
                "--debug-community",
                DEBUG_COMMUNITY,
            ])
            .arg("-s")
            .arg(dir.join("faild.state"))
            .stdout(log.try_clone().unwrap())
            .stderr(log),
    )
    .expect("start faild");
    let log_text = || std::fs::read_to_string(&log_path).unwrap_or_default();
    assert!(
        failover_tests::wait_until(Duration::from_secs(10), || log_text()
            .contains("listening on")),
        "faild did not start:\n{}",
        log_text()
    );
    let garbage = || {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .send_to(b"not a failover message", ("127.0.0.1", faild_port))
            .unwrap();
    };
    garbage();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !log_text().contains("malformed"),
        "logged before the level was raised:\n{}",
        log_text()
    );

    let port = debug_port.to_string();
    let output = run_with_limit(
        command("faildebug").args([
            "-p",
            &port,
            "-c",
            DEBUG_COMMUNITY,
            "127.0.0.1",
            "net",
            "debug",
        ]),
        Duration::from_secs(10),
    );
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    garbage();
    assert!(
        failover_tests::wait_until(Duration::from_secs(5), || log_text().contains("malformed")),
        "the malformed datagram was not logged at debug level:\n{}",
        log_text()
    );
    let output = run_with_limit(
        command("faildebug").args(["-p", &port, "-c", "wrong", "net", "debug"]),
        Duration::from_secs(10),
    );
    assert_eq!(output.status.code(), Some(3), "{output:?}");
}
