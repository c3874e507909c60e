//! What the root-only tests of this crate that build scratch network namespaces share
//! (`grarp_netns`, `ipaddr_netns`): the skip policy, bounded commands, and the removal of
//! namespaces a crashed earlier run left behind.
//!
//! Each test file is its own crate and uses only part of this module.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The longest any one command may take.
pub const CMD_TIMEOUT: Duration = Duration::from_secs(20);

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Not root: a loud SKIPPED line naming the test, and a failure unless FAILOVER_ALLOW_SKIP=1
/// (a test that passes without running is a defect). Returns whether the test may run.
pub fn root_or_skip(test: &str) -> bool {
    if is_root() {
        return true;
    }
    let why = "not running as root: network namespaces need it";
    eprintln!("SKIPPED (needs root): {test}: {why}");
    if std::env::var("FAILOVER_ALLOW_SKIP").as_deref() != Ok("1") {
        panic!("{test} could not run: {why} (set FAILOVER_ALLOW_SKIP=1 to allow skipping)");
    }
    false
}

/// Runs a command to completion with a time limit; kills it when the limit passes.
pub fn run_with_timeout(cmd: &mut Command, limit: Duration) -> Output {
    let desc = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {desc}: {e}"));
    let deadline = Instant::now() + limit;
    loop {
        if child.try_wait().expect("wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!("{desc} did not finish within {limit:?}: {out:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub fn sh(args: &[&str]) -> Output {
    run_with_timeout(Command::new(args[0]).args(&args[1..]), CMD_TIMEOUT)
}

/// Runs a command that must succeed; returns its standard output.
pub fn must(args: &[&str]) -> String {
    let o = sh(args);
    assert!(
        o.status.success(),
        "{args:?} failed: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Deletes namespaces named `<prefix><pid>[-...]` whose process is gone (a crashed run).
pub fn clean_leftovers(prefix: &str, test: &str) {
    let list = sh(&["ip", "netns", "list"]);
    for line in String::from_utf8_lossy(&list.stdout).lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        let Some(rest) = name.strip_prefix(prefix) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            eprintln!("{test}: removing leftover namespace {name}");
            let _ = sh(&["ip", "netns", "del", name]);
        }
    }
}
