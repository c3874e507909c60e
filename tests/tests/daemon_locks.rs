//! Issue 12.3: a second faild on the same state file, a second faild with the same pid file
//! and a second failsh with the same configuration and pid file refuse to start, naming the
//! first one's pid, and leave the first one's files and service alone. The locks survive
//! detaching, and a killed holder leaves nothing that blocks the next start.

mod failsh_support;

use failover_tests::faild::{describe, runtimes, Faild};
use failover_tests::{command, run_with_limit, text, wait_until, PidGuard, TempDir};
use std::path::Path;
use std::time::Duration;

/// faild in the foreground on `state` (and `extra`), run to its end within 10 s.
fn second_faild(state: &Path, runtime: &str, extra: &[&str]) -> std::process::Output {
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
    .arg(state)
    .args(extra);
    run_with_limit(&mut cmd, Duration::from_secs(10))
}

#[test]
fn a_second_faild_on_the_same_state_file_refuses_naming_the_first() {
    for runtime in runtimes() {
        let dir = TempDir::new("lock-state");
        let communities = "* public RW 127.0.0.1/32\n";
        let mut first = Faild::start(&dir, runtime, Some(communities), &[]).unwrap();
        let out = first.client("failc", &["-s", "UP", "-b", "macbeth", "svc"]);
        assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
        let before = std::fs::read(&first.state).unwrap();

        let out = second_faild(&first.state, runtime, &[]);
        assert_eq!(out.status.code(), Some(1), "{runtime}: {}", describe(&out));
        let lock = format!("{}.lock", first.state.display());
        assert_eq!(
            text(&out.stderr).trim(),
            format!(
                "faild: {} is in use by faild pid {} (lock {lock})",
                first.state.display(),
                first.process.id()
            ),
            "{runtime}"
        );
        // The first one's file and service are untouched, and it still answers.
        assert_eq!(std::fs::read(&first.state).unwrap(), before);
        assert_eq!(first.state_of("public", "svc"), "UP");
        let out = first.client("failc", &["-s", "RECOVER", "svc"]);
        assert_eq!(out.status.code(), Some(0), "{}", describe(&out));

        // SIGKILL leaves the lock file behind, but not the lock: the next one starts.
        first.process.signal(9);
        assert!(first.process.wait_exit(Duration::from_secs(5)).is_some());
        assert!(Path::new(&lock).exists());
        let next = Faild::start(&dir, runtime, Some(communities), &[]).unwrap();
        assert_eq!(next.state_of("public", "svc"), "RECOVER");
        assert_eq!(
            std::fs::read_to_string(&lock).unwrap().trim(),
            next.process.id().to_string()
        );
    }
}

#[test]
fn a_second_faild_with_the_same_pid_file_refuses_and_a_detached_faild_keeps_its_locks() {
    for runtime in runtimes() {
        let dir = TempDir::new("lock-pid");
        let pid_file = dir.join("faild.pid");
        let state = dir.join("faild.state");
        // Detached (no -F): the starting process returns, the daemon holds the locks.
        let mut cmd = command("faild");
        cmd.args(["-a", "127.0.0.1", "-p", "0", "--runtime", runtime, "-s"])
            .arg(&state)
            .arg("-r")
            .arg(&pid_file);
        let out = run_with_limit(&mut cmd, Duration::from_secs(10));
        assert_eq!(out.status.code(), Some(0), "{runtime}: {}", describe(&out));
        let mut pid = 0u32;
        assert!(wait_until(Duration::from_secs(5), || {
            pid = std::fs::read_to_string(&pid_file)
                .ok()
                .and_then(|t| t.trim().parse().ok())
                .unwrap_or(0);
            pid > 0 && Path::new(&format!("/proc/{pid}")).exists()
        }));
        let daemon = PidGuard(pid);

        // Same state file: refused, naming the daemon (not the process that started it).
        let out = second_faild(&state, runtime, &[]);
        assert_eq!(out.status.code(), Some(1), "{runtime}: {}", describe(&out));
        assert!(
            text(&out.stderr).contains(&format!("is in use by faild pid {pid} (lock ")),
            "{runtime}: {}",
            describe(&out)
        );
        // Same pid file, other state file: refused, and the pid file still names the daemon.
        let out = second_faild(
            &dir.join("other.state"),
            runtime,
            &["-r", pid_file.to_str().unwrap()],
        );
        assert_eq!(out.status.code(), Some(1), "{runtime}: {}", describe(&out));
        assert_eq!(
            text(&out.stderr).trim(),
            format!(
                "faild: {} is in use by faild pid {pid} (another faild runs with this pid file)",
                pid_file.display()
            ),
            "{runtime}"
        );
        assert_eq!(
            std::fs::read_to_string(&pid_file).unwrap().trim(),
            pid.to_string()
        );

        // SIGTERM: a clean exit removes the pid file.
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
        assert!(
            wait_until(Duration::from_secs(5), || !pid_file.exists()),
            "{runtime}: pid file left behind"
        );
        drop(daemon);
    }
}

mod failsh {
    use super::failsh_support::*;
    use std::process::Command;
    use std::time::Duration;

    fn second_failsh(host: &Host, config: &std::path::Path, detach: bool) -> std::process::Output {
        let mut command = Command::new(program("failsh"));
        if !detach {
            command.arg("-F");
        }
        command
            .args(["--runtime", host.runtime, "-f"])
            .arg(config)
            .args(["-m", "0", "-l"])
            .arg(host.dir.join("dump2"))
            .arg("-i")
            .arg(host.dir.join("failsh.pid"));
        failover_tests::run_with_limit(&mut command, Duration::from_secs(10))
    }

    fn second_failsh_refuses(runtime: &'static str) {
        let scratch = Scratch::new(&format!("lock-failsh-{runtime}"));
        let mut l = Host::new("lukretia", "127.0.0.1", &scratch.0, runtime);
        let m = Host::new("macbeth", "127.0.0.2", &scratch.0, runtime);
        l.start_faild();
        l.failc("RECOVER");
        let config = l.write_config(&m, true, "");
        l.start_failsh(&config, &[]);
        wait_until("lukretia holds", Duration::from_secs(10), || {
            l.holds() && l.state().as_deref() == Some("UP")
        });
        let pid = l.failsh.as_ref().expect("failsh").pid();
        let pid_file = l.dir.join("failsh.pid");
        wait_until("pid file written", Duration::from_secs(5), || {
            std::fs::read_to_string(&pid_file).is_ok_and(|t| t.trim() == pid.to_string())
        });
        for detach in [false, true] {
            let out = second_failsh(&l, &config, detach);
            assert_eq!(
                out.status.code(),
                Some(1),
                "[{runtime}] {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(
                String::from_utf8_lossy(&out.stderr).trim(),
                format!(
                    "failsh: {} is in use by failsh pid {pid} (another failsh runs with this pid file)",
                    pid_file.display()
                ),
                "[{runtime}] detach {detach}"
            );
        }
        // The first one still runs the service and its pid file is its own.
        assert!(l.holds());
        assert_eq!(
            std::fs::read_to_string(&pid_file).unwrap().trim(),
            pid.to_string()
        );
        let failsh = l.failsh.as_mut().expect("failsh");
        assert!(failsh
            .child
            .as_mut()
            .expect("child")
            .try_wait()
            .expect("wait")
            .is_none());
        // SIGTERM hands over and removes the pid file; then a new failsh may start.
        failsh.signal("TERM");
        assert!(failsh.wait_exit(Duration::from_secs(10)));
        assert!(!pid_file.exists(), "[{runtime}] pid file left behind");
        assert!(!l.holds());
        l.failc("RECOVER");
        l.start_failsh(&config, &[]);
        wait_until(
            "a new failsh takes the service",
            Duration::from_secs(10),
            || l.holds(),
        );
    }

    #[test]
    fn a_second_failsh_with_the_same_pid_file_refuses_naming_the_first_smol() {
        second_failsh_refuses("smol");
    }

    #[test]
    fn a_second_failsh_with_the_same_pid_file_refuses_naming_the_first_blocking() {
        second_failsh_refuses("blocking");
    }
}
