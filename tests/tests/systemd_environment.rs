//! Issue 18: a configuration reads `$::env(...)` that the systemd unit's `Environment=` and
//! `EnvironmentFile=` lines set. The shipped configurations take faild's port from `PORT`
//! (which /etc/default/failover sets for faild.service too), so both daemons follow one line
//! of the defaults file.
//!
//! The units are the shipped ones (examples/linux/faild.service, failsh.service); their
//! environment and command lines are expanded by the rules of systemd.exec(5)
//! (failover_tests::systemd), because CI's init is not systemd. When a systemd manager does
//! run here, the check is repeated under the real one with `systemd-run`; otherwise the test
//! says it did not.

mod failsh_support;

use failover_tests::systemd::Unit;
use failsh_support::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn unit(name: &str) -> Unit {
    let path = repo().join("examples/linux").join(name);
    let text = std::fs::read_to_string(&path).expect("unit file");
    Unit::parse(&text, &path.display().to_string()).expect("unit")
}

/// What systemd puts in PATH for a system service.
const SYSTEMD_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The shipped configurations and the procedures they source, copied to `etc`.
fn copy_configurations(etc: &Path) {
    std::fs::create_dir_all(etc).expect("etc");
    for name in [
        "lukretia.tcl",
        "macbeth.tcl",
        "lukretia-fast.tcl",
        "macbeth-fast.tcl",
        "procedures.tcl",
        "procedures-fast.tcl",
    ] {
        std::fs::copy(repo().join("examples/linux").join(name), etc.join(name)).expect("copy");
    }
}

/// ExecStart= of `argv` with the unit's paths moved into the scratch directory.
fn localize(argv: &[String], moves: &[(&str, &Path)]) -> Vec<String> {
    argv.iter()
        .map(|word| {
            let mut word = word.clone();
            for (from, to) in moves {
                if let Some(rest) = word.strip_prefix(from) {
                    word = format!("{}{rest}", to.display());
                }
            }
            word
        })
        .collect()
}

fn specifiers(scratch: &Path) -> BTreeMap<char, String> {
    BTreeMap::from([
        ('H', "this-host".to_string()),
        ('d', scratch.join("credentials").display().to_string()),
        ('S', scratch.join("state").display().to_string()),
    ])
}

/// failsh -t of every shipped configuration as failsh.service starts failsh: PORT of the
/// defaults file (or the unit's own 1291) is the port of the local faild and of the peer's.
#[test]
fn the_shipped_configurations_take_faild_port_from_the_unit_environment() {
    let scratch = Scratch::new("systemd-env-check");
    let etc = scratch.0.join("etc");
    copy_configurations(&etc);
    let defaults = scratch.0.join("default-failover");
    let failsh = unit("failsh.service");
    for (port_line, port) in [("", "1291"), ("PORT=1391\n", "1391")] {
        for (node, peer) in [
            ("lukretia", "macbeth"),
            ("macbeth", "lukretia"),
            ("lukretia-fast", "macbeth"),
            ("macbeth-fast", "lukretia"),
        ] {
            std::fs::write(
                &defaults,
                format!("# /etc/default/failover of the test\nNODE={node}\n{port_line}"),
            )
            .expect("defaults");
            let files = BTreeMap::from([("/etc/default/failover", defaults.clone())]);
            let environment = failsh
                .environment(&specifiers(&scratch.0), &files)
                .expect("environment");
            assert_eq!(environment["PORT"], port);
            let argv = failsh
                .exec_start(&specifiers(&scratch.0), &environment)
                .expect("ExecStart");
            assert_eq!(argv[0], "/usr/sbin/failsh", "{argv:?}");
            // Checked (-t) instead of run (-F): the procedures would move real addresses.
            let mut argv = localize(&argv[1..], &[("/etc/failover", &etc)]);
            for word in &mut argv {
                if word == "-F" {
                    *word = "-t".into();
                }
            }
            let output = Command::new(program("failsh"))
                .args(&argv)
                .env_clear()
                .envs(&environment)
                .env("PATH", SYSTEMD_PATH)
                .output()
                .expect("failsh -t");
            let stdout = String::from_utf8_lossy(&output.stdout);
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(
                output.status.success(),
                "failsh {argv:?} with {environment:?}:\n{stdout}\n{stderr}"
            );
            for wanted in [
                format!("faild of localhost: 127.0.0.1:{port} (local faild)"),
                format!("host {peer}: address 198.18.0."),
                format!("port {port}, protocol tcp"),
            ] {
                assert!(
                    stdout.contains(&wanted),
                    "{node}: no {wanted:?} in\n{stdout}"
                );
            }
            assert!(
                !stdout.contains(&format!(
                    "port {}",
                    if port == "1291" { "1391" } else { "1291" }
                )),
                "{node}: a port not from the environment:\n{stdout}"
            );
        }
    }
    under_systemd_if_it_runs(&scratch.0, &etc, &defaults);
}

/// The same check under the real systemd manager, when one runs here (not in CI's
/// container): every Environment= and EnvironmentFile= line of the unit as a property of a
/// transient service.
fn under_systemd_if_it_runs(scratch: &Path, etc: &Path, defaults: &Path) {
    let running = Command::new("systemctl")
        .arg("is-system-running")
        .output()
        .map(|o| {
            let state = String::from_utf8_lossy(&o.stdout).trim().to_string();
            state == "running" || state == "degraded"
        })
        .unwrap_or(false);
    if !running {
        eprintln!(
            "NOT RUN under systemd: no systemd manager on this machine (PID 1 is {}); the unit's \
             environment was expanded by the rules of systemd.exec(5) instead",
            std::fs::read_to_string("/proc/1/comm")
                .unwrap_or_default()
                .trim()
        );
        return;
    }
    std::fs::write(defaults, "NODE=lukretia\nPORT=1391\n").expect("defaults");
    let failsh = unit("failsh.service");
    let mut command = Command::new("systemd-run");
    command.args(["--wait", "--pipe", "--collect", "--quiet"]);
    for value in failsh.values("Environment") {
        command.arg("-p").arg(format!("Environment={value}"));
    }
    command
        .arg("-p")
        .arg(format!("EnvironmentFile=-{}", defaults.display()));
    command.arg(program("failsh")).arg("-t").arg("-f");
    command.arg(etc.join("lukretia.tcl"));
    let output = command.output().expect("systemd-run");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("faild of localhost: 127.0.0.1:1391"),
        "under systemd ({}): {stdout}{}",
        scratch.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    eprintln!("checked under the running systemd manager too");
}

/// faild and failsh started the way their units say, with one PORT in the defaults file:
/// failsh finds its faild there, registers the service and brings it UP.
#[test]
fn faild_and_failsh_started_as_their_units_say_meet_on_the_port_of_the_defaults_file() {
    let scratch = Scratch::new("systemd-env-run");
    let etc = scratch.0.join("etc");
    copy_configurations(&etc);
    let port = free_port("127.0.0.1");
    let monitor_port = free_port("127.0.0.1");
    let debug_port = free_port("127.0.0.1");
    // The service script of the shipped configuration, reduced to a marker file.
    let marker = scratch.0.join("holds");
    let script = scratch.0.join("198.18.0.50");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\ncase \"$1\" in\n  up|reclaim) echo up > '{m}';;\n  down) rm -f '{m}';;\nesac\n",
            m = marker.display()
        ),
    )
    .expect("script");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
            .expect("script mode");
    }
    // lukretia.tcl with the script moved and the peer on loopback (nothing listens there,
    // so lukretia, the master, finds it FAIL and keeps the service).
    let config = std::fs::read_to_string(etc.join("lukretia.tcl")).expect("config");
    for line in [
        "set script /etc/init.d/198.18.0.50",
        "failhost macbeth address 198.18.0.2",
    ] {
        assert!(config.contains(line), "lukretia.tcl changed: no {line:?}");
    }
    let config = config
        .replace(
            "set script /etc/init.d/198.18.0.50",
            &format!("set script {}", script.display()),
        )
        .replace(
            "failhost macbeth address 198.18.0.2",
            "failhost macbeth address 127.0.0.2",
        );
    std::fs::write(etc.join("lukretia.tcl"), config).expect("config");
    let communities = scratch.0.join("credentials/communities");
    std::fs::create_dir_all(communities.parent().unwrap()).expect("credentials");
    std::fs::copy(repo().join("examples/linux/communities"), &communities).expect("communities");
    std::fs::create_dir_all(scratch.0.join("state/failover")).expect("state dir");
    let defaults = scratch.0.join("default-failover");
    std::fs::write(
        &defaults,
        format!(
            "NODE=lukretia\nPORT={port}\nMONITOR_PORT={monitor_port}\nDEBUG_PORT={debug_port}\n\
             FAILD_OPTS=\"-a 127.0.0.1\"\n\
             DUMPFILE={dir}/failsh.dump\n\
             FAILSH_OPTS=\"-i {dir}/failsh.pid\"\n",
            dir = scratch.0.display()
        ),
    )
    .expect("defaults");
    let files = BTreeMap::from([("/etc/default/failover", defaults.clone())]);
    let specifiers = specifiers(&scratch.0);

    let faild_unit = unit("faild.service");
    let environment = faild_unit
        .environment(&specifiers, &files)
        .expect("faild environment");
    let argv = faild_unit
        .exec_start(&specifiers, &environment)
        .expect("faild ExecStart");
    assert_eq!(argv[0], "/usr/sbin/faild", "{argv:?}");
    let mut command = Command::new(program("faild"));
    command
        .args(&argv[1..])
        .env_clear()
        .envs(&environment)
        .env("PATH", SYSTEMD_PATH);
    let faild_log = scratch.0.join("faild.log");
    let _faild = Daemon::spawn("faild", command, &faild_log);
    wait_until("faild answers", Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    // What ExecStartPost (faild.init register) and failsh's ExecStartPre leave: RECOVER.
    let failc = |state: &str| {
        Command::new(program("failc"))
            .args(["-T", "-c", "genesis", "-p", &port.to_string(), "-s", state])
            .arg("198.18.0.50")
            .output()
            .expect("failc")
    };
    let registered = failc("RECOVER");
    assert!(
        registered.status.success(),
        "{}",
        String::from_utf8_lossy(&registered.stderr)
    );

    let failsh_unit = unit("failsh.service");
    let environment = failsh_unit
        .environment(&specifiers, &files)
        .expect("failsh environment");
    assert_eq!(environment["PORT"], port.to_string());
    let argv = failsh_unit
        .exec_start(&specifiers, &environment)
        .expect("failsh ExecStart");
    assert_eq!(argv[0], "/usr/sbin/failsh", "{argv:?}");
    let argv = localize(&argv[1..], &[("/etc/failover", &etc)]);
    let mut command = Command::new(program("failsh"));
    command
        .args(&argv)
        .env_clear()
        .envs(&environment)
        .env("PATH", SYSTEMD_PATH);
    let failsh_log = scratch.0.join("failsh.log");
    let mut failsh = Daemon::spawn("failsh", command, &failsh_log);
    let up = || {
        let output = Command::new(program("failstat"))
            .args(["-T", "-c", "public", "-p", &port.to_string(), "198.18.0.50"])
            .output()
            .expect("failstat");
        String::from_utf8_lossy(&output.stdout).contains("UP")
    };
    let reached = std::time::Instant::now() + Duration::from_secs(15);
    while !(marker.exists() && up()) {
        assert!(
            std::time::Instant::now() < reached,
            "failsh did not bring the service UP through faild on port {port}\nfaild:\n{}\nfailsh:\n{}",
            std::fs::read_to_string(&faild_log).unwrap_or_default(),
            std::fs::read_to_string(&failsh_log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    failsh.signal("TERM");
    assert!(failsh.wait_exit(Duration::from_secs(10)), "failsh ended");
    assert!(!marker.exists(), "the stop procedure ran");
}
