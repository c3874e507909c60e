//! A faild under test: started in the foreground on 127.0.0.1 with port 0, its port read
//! from its "listening on" line, its log kept in a file, killed when dropped.

use crate::{command, run_with_limit, text, wait_until, Guarded, TempDir};
use std::fs;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// The runtimes the programs under test were built with, for tests that must pass on each:
/// both, or only `blocking` when `FAILOVER_RUNTIMES=blocking` says the programs come from the
/// minimal build (`--no-default-features`, no smol). Tests named `..._smol` are then left out
/// with `--skip _smol` by scripts/test.sh.
pub fn runtimes() -> Vec<&'static str> {
    match std::env::var("FAILOVER_RUNTIMES").as_deref() {
        Ok("blocking") => vec!["blocking"],
        Ok("smol") => vec!["smol"],
        _ => vec!["smol", "blocking"],
    }
}

/// The first runtime the programs under test have: smol in the default build, blocking in
/// the minimal one.
pub fn any_runtime() -> &'static str {
    runtimes()[0]
}

#[derive(Debug)]
pub struct Faild {
    pub process: Guarded,
    pub port: u16,
    pub log: PathBuf,
    pub state: PathBuf,
    pub runtime: &'static str,
}

impl Faild {
    /// Starts faild with `communities` (None: no -c) and a state file in `dir`.
    pub fn start(
        dir: &TempDir,
        runtime: &'static str,
        communities: Option<&str>,
        extra: &[&str],
    ) -> Result<Faild, String> {
        Faild::start_wrapped(
            dir,
            runtime,
            communities,
            extra,
            &[],
            &dir.join("faild.state"),
        )
    }

    /// [`Faild::start`] with the state file at `state`, run through `wrapper` (a command
    /// and its arguments that end by running the rest, like `nsenter -t PID -m`; empty:
    /// none).
    pub fn start_wrapped(
        dir: &TempDir,
        runtime: &'static str,
        communities: Option<&str>,
        extra: &[&str],
        wrapper: &[&str],
        state: &std::path::Path,
    ) -> Result<Faild, String> {
        let state = state.to_path_buf();
        let log = dir.join(&format!("faild-{runtime}.log"));
        let mut cmd = match wrapper.split_first() {
            None => command("faild"),
            Some((first, rest)) => {
                let mut cmd = Command::new(first);
                cmd.args(rest).arg(crate::program("faild"));
                cmd
            }
        };
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
        .arg(&state);
        if let Some(text) = communities {
            let path = dir.join("communities");
            fs::write(&path, text).map_err(|e| e.to_string())?;
            cmd.arg("-c").arg(path);
        }
        cmd.args(extra);
        let stderr = fs::File::create(&log).map_err(|e| e.to_string())?;
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        let mut process = Guarded::spawn(&mut cmd).map_err(|e| e.to_string())?;
        let mut port = None;
        let started = wait_until(Duration::from_secs(10), || {
            let log_text = fs::read_to_string(&log).unwrap_or_default();
            port = parse_port(&log_text);
            port.is_some() || matches!(process.child().try_wait(), Ok(Some(_)))
        });
        match port {
            Some(port) if started => Ok(Faild {
                process,
                port,
                log,
                state,
                runtime,
            }),
            _ => Err(format!(
                "faild did not start: {}",
                fs::read_to_string(&log).unwrap_or_default()
            )),
        }
    }

    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// failc or failstat against this faild with `args` after `-p PORT --runtime R`.
    pub fn client(&self, program: &str, args: &[&str]) -> Output {
        let mut cmd = command(program);
        cmd.args(["-p", &self.port.to_string(), "--runtime", self.runtime])
            .args(args);
        run_with_limit(&mut cmd, Duration::from_secs(15))
    }

    /// The state failstat reports for `service` (over UDP, community `community`).
    pub fn state_of(&self, community: &str, service: &str) -> String {
        let out = self.client("failstat", &["-c", community, service]);
        text(&out.stdout)
            .split_whitespace()
            .nth(1)
            .unwrap_or("")
            .to_string()
    }
}

fn parse_port(log: &str) -> Option<u16> {
    let line = log.lines().find(|l| l.contains("listening on"))?;
    let after = line.split("127.0.0.1:").nth(1)?;
    after
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// A command's combined description for assertion messages.
pub fn describe(output: &Output) -> String {
    format!(
        "exit {:?}, stdout {:?}, stderr {:?}",
        output.status.code(),
        text(&output.stdout),
        text(&output.stderr)
    )
}

/// A `Command` running a shell script.
pub fn shell(script: &std::path::Path) -> Command {
    let mut cmd = Command::new("/bin/sh");
    cmd.arg(script);
    cmd
}
