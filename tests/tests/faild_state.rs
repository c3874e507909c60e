//! faild's state file: a SIGKILLed faild comes back with every state; a damaged state file
//! stops faild with file, line and problem, and is left exactly as it was.

use failover_tests::faild::{describe, runtimes, Faild};
use failover_tests::{command, run_with_limit, text, TempDir};
use std::time::Duration;

#[test]
fn sigkill_and_restart_keeps_every_state() {
    for runtime in runtimes() {
        let dir = TempDir::new("state-kill");
        let communities = "* public RW 127.0.0.1/32\n";
        let wanted = [
            ("a", "UP", "x"),
            ("b b", "RECOVER", "y"),
            ("198.18.0.50", "FAIL", "macbeth"),
        ];
        let mut faild = Faild::start(&dir, runtime, Some(communities), &[]).unwrap();
        for (service, state, backup) in wanted {
            let out = faild.client("failc", &["-s", state, "-b", backup, service]);
            assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
        }
        faild.process.signal(9);
        assert!(faild.process.wait_exit(Duration::from_secs(5)).is_some());
        let faild = Faild::start(&dir, runtime, Some(communities), &[]).unwrap();
        assert!(
            faild.log_text().contains("with 3 services"),
            "{}",
            faild.log_text()
        );
        for (service, state, backup) in wanted {
            let out = faild.client("failstat", &["-T", service]);
            let line = text(&out.stdout);
            assert!(
                line.starts_with(&format!("{service} {state} {backup} ")),
                "{runtime}: {service}: {line}"
            );
        }
    }
}

#[test]
fn a_truncated_state_file_stops_faild_and_is_left_untouched() {
    for runtime in runtimes() {
        let dir = TempDir::new("state-cut");
        let communities = "* public RW\n";
        {
            let faild = Faild::start(&dir, runtime, Some(communities), &[]).unwrap();
            for service in ["one", "two", "three"] {
                let out = faild.client("failc", &["-s", "RECOVER", service]);
                assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
            }
        }
        let state = dir.join("faild.state");
        let full = std::fs::read(&state).unwrap();
        for cut in [full.len() - 1, full.len() - 8, full.len() / 2, 0] {
            let damaged = full[..cut].to_vec();
            std::fs::write(&state, &damaged).unwrap();
            let mut cmd = command("faild");
            cmd.args([
                "-F",
                "-a",
                "127.0.0.1",
                "-p",
                "0",
                "--runtime",
                runtime,
                "-s",
            ])
            .arg(&state)
            .arg("-c")
            .arg(dir.join("communities"));
            let out = run_with_limit(&mut cmd, Duration::from_secs(10));
            assert_eq!(out.status.code(), Some(1), "cut {cut}: {}", describe(&out));
            let message = text(&out.stderr);
            let prefix = format!("faild: {}:", state.display());
            assert!(message.starts_with(&prefix), "cut {cut}: {message}");
            assert!(
                message.contains("cut short")
                    || message.contains("empty")
                    || message.contains("expected"),
                "cut {cut}: {message}"
            );
            assert_eq!(
                std::fs::read(&state).unwrap(),
                damaged,
                "cut {cut}: file changed"
            );
        }
    }
}

#[test]
fn a_broken_community_file_stops_faild_naming_the_line() {
    let dir = TempDir::new("state-comm");
    let path = dir.join("communities");
    std::fs::write(&path, "# ok\n* public RW\n* public RX\n").unwrap();
    let mut cmd = command("faild");
    cmd.args(["-F", "-a", "127.0.0.1", "-p", "0", "-s"])
        .arg(dir.join("faild.state"))
        .arg("-c")
        .arg(&path);
    let out = run_with_limit(&mut cmd, Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert_eq!(
        text(&out.stderr).trim(),
        format!(
            "faild: {}:3: expected RO or RW as the third word, found \"RX\"",
            path.display()
        )
    );
}
