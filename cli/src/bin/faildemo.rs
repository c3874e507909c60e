//! faildemo: the seed's failover story, live on one machine, without root.
//!
//! Two real faild+failsh pairs run on 127.0.0.1 (lukretia, the master) and 127.0.0.2 (macbeth,
//! the slave) with the example configurations of examples/demo/, whose procedures only record
//! who holds the service. faildemo walks through the story, measures every step and cleans up
//! everything it started, also on failure and on Ctrl-C.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::{Ipv4Addr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Arg, ArgAction};
use failover_cli::common::{parse_args, program};
use failover_cli::failmon::{self, Connection};
use failover_core::state::State;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

const HELP: &str = "\
NAME
    faildemo - the failover story of the seed, live on this machine

SYNOPSIS
    faildemo [--interval seconds] [--runtime smol|blocking] [--step-timeout-ms ms] [--keep]
    faildemo -h | --help

DESCRIPTION
    faildemo starts two real faild+failsh pairs on loopback: lukretia (the master) on
    127.0.0.1 and macbeth (the slave) on 127.0.0.2, on free ports, with the configurations of
    examples/demo/ (the seed's lukretia.tcl and macbeth.tcl). Their procedures do not touch
    any interface: holding the service 198.18.0.50 means a file in the demo's temporary
    directory. The service script registers RECOVER with failc, as the seed's does at boot.

    Then it walks through the story and measures each step:
      1. lukretia brings the service UP, macbeth waits in RECOVER;
      2. lukretia crashes: its faild and failsh are killed with SIGKILL (its address goes
         down with it); macbeth takes over;
      3. lukretia comes back: its boot script registers RECOVER, macbeth sees it and steps
         down to RECOVER (the handshake), lukretia brings the service UP;
      4. an operator runs the service script's fail on lukretia (the address goes down,
         failc -s FAIL); macbeth takes over;
      5. the operator runs recover on lukretia (failc -s RECOVER); the handshake again, and
         lukretia holds the service.
    After every step exactly one host holds the service. faildemo needs faild, failsh and
    failc next to itself (in the same target directory); run from cargo, it builds them if
    they are missing.

OPTIONS
    --interval seconds
        The service's poll interval. Default 0.2.
    --runtime smol|blocking
        The runtime of the daemons. Default smol.
    --step-timeout-ms ms
        Bound on each step. Default 15000.
    --keep
        Keep the temporary directory (configurations, logs, the service log) and say where.

EXIT STATUS
    0   every step happened in time
    1   a step did not happen in time, or a program could not be started (the daemons' logs
        are printed)
    2   usage error
    130 interrupted (Ctrl-C); everything started is cleaned up
";

const SERVICE: &str = "198.18.0.50";
const LUKRETIA_TCL: &str = include_str!("../../../examples/demo/lukretia.tcl");
const MACBETH_TCL: &str = include_str!("../../../examples/demo/macbeth.tcl");
const COMMUNITIES: &str = include_str!("../../../examples/demo/communities");
const SERVICE_SCRIPT: &str = include_str!("../../../examples/demo/service.sh");
/// The community faildebug must present on the demo's debug ports.
const DEBUG_COMMUNITY: &str = "demo-debug";

#[derive(Debug)]
struct Options {
    interval: String,
    interval_ms: u64,
    runtime: String,
    step_timeout: Duration,
    keep: bool,
}

/// The command line, checked.
fn parse() -> Result<Options, ExitCode> {
    let command = program("faildemo", HELP)
        .arg(
            Arg::new("interval")
                .long("interval")
                .value_parser(parse_interval),
        )
        .arg(
            Arg::new("runtime")
                .long("runtime")
                .value_parser(["smol", "blocking"]),
        )
        .arg(
            Arg::new("step-timeout-ms")
                .long("step-timeout-ms")
                .value_parser(parse_step_timeout),
        )
        .arg(Arg::new("keep").long("keep").action(ArgAction::SetTrue));
    let m = parse_args(command)?;
    let (interval, interval_ms) = m
        .get_one::<(String, u64)>("interval")
        .cloned()
        .unwrap_or_else(|| ("0.2".to_string(), 200));
    Ok(Options {
        interval,
        interval_ms,
        runtime: m.get_one::<String>("runtime").cloned().unwrap_or_else(|| {
            let default = if cfg!(feature = "runtime-smol") {
                "smol"
            } else {
                "blocking"
            };
            default.to_string()
        }),
        step_timeout: Duration::from_millis(
            m.get_one::<u64>("step-timeout-ms")
                .copied()
                .unwrap_or(15_000),
        ),
        keep: m.get_flag("keep"),
    })
}

/// Seconds from 0.01 to 10, kept as written (for the configuration) and in milliseconds.
fn parse_interval(text: &str) -> Result<(String, u64), String> {
    let seconds = text
        .parse::<f64>()
        .ok()
        .filter(|s| (0.01..=10.0).contains(s))
        .ok_or_else(|| format!("\"{text}\" is not 0.01 to 10 seconds"))?;
    Ok((text.to_string(), (seconds * 1000.0).round() as u64))
}

fn parse_step_timeout(text: &str) -> Result<u64, String> {
    text.parse::<u64>()
        .ok()
        .filter(|ms| (100..=600_000).contains(ms))
        .ok_or_else(|| format!("\"{text}\" is not 100 to 600000"))
}

fn main() -> ExitCode {
    let options = match parse() {
        Ok(options) => options,
        Err(code) => return code,
    };
    let interrupted = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(e) = signal_hook::flag::register(signal, Arc::clone(&interrupted)) {
            eprintln!("faildemo: cannot handle signal {signal}: {e}");
            return ExitCode::FAILURE;
        }
    }
    let mut demo = match Demo::new(options, Arc::clone(&interrupted)) {
        Ok(demo) => demo,
        Err(why) => {
            eprintln!("faildemo: {why}");
            return ExitCode::FAILURE;
        }
    };
    let result = demo.run();
    match result {
        Ok(()) => {
            demo.finish();
            ExitCode::SUCCESS
        }
        Err(why) => {
            if interrupted.load(Ordering::SeqCst) {
                eprintln!("\nfaildemo: interrupted; cleaning up");
                drop(demo);
                return ExitCode::from(130);
            }
            eprintln!("\nfaildemo: FAILED: {why}");
            demo.print_logs();
            ExitCode::FAILURE
        }
    }
}

/// One demo host: its address, ports and daemons.
#[derive(Debug)]
struct Host {
    name: &'static str,
    peer: &'static str,
    address: Ipv4Addr,
    faild_port: u16,
    monitor_port: u16,
    debug_port: u16,
    faild: Option<Child>,
    failsh: Option<Child>,
    /// How many times its daemons were started (log files are numbered by it).
    generation: u32,
}

#[derive(Debug)]
struct Demo {
    options: Options,
    interrupted: Arc<AtomicBool>,
    root: PathBuf,
    bin_dir: PathBuf,
    hosts: [Host; 2],
    started: Instant,
    /// What was measured, for the summary.
    summary: Vec<(String, u64)>,
}

const LUKRETIA: usize = 0;
const MACBETH: usize = 1;

type Outcome = Result<(), String>;

impl Demo {
    fn new(options: Options, interrupted: Arc<AtomicBool>) -> Result<Demo, String> {
        let bin_dir = find_programs()?;
        let unique = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let root = std::env::temp_dir().join(format!(
            "faildemo-{}-{}",
            std::process::id(),
            unique % 1_000_000_000
        ));
        std::fs::create_dir_all(&root)
            .map_err(|e| format!("cannot create {}: {e}", root.display()))?;
        let mut taken = BTreeSet::new();
        let mut host = |name, peer, address: Ipv4Addr| -> Result<Host, String> {
            Ok(Host {
                name,
                peer,
                address,
                faild_port: free_port(address, true, &mut taken)?,
                monitor_port: free_port(address, false, &mut taken)?,
                debug_port: free_port(address, false, &mut taken)?,
                faild: None,
                failsh: None,
                generation: 0,
            })
        };
        let hosts = [
            host("lukretia", "macbeth", Ipv4Addr::new(127, 0, 0, 1))?,
            host("macbeth", "lukretia", Ipv4Addr::new(127, 0, 0, 2))?,
        ];
        let demo = Demo {
            options,
            interrupted,
            root,
            bin_dir,
            hosts,
            started: Instant::now(),
            summary: Vec::new(),
        };
        demo.write_files()?;
        Ok(demo)
    }

    fn write_files(&self) -> Outcome {
        let write = |name: &str, text: &str| -> Outcome {
            let path = self.root.join(name);
            std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
        };
        write("communities", COMMUNITIES)?;
        write("service.sh", SERVICE_SCRIPT)?;
        let [lukretia, macbeth] = &self.hosts;
        for (template, name) in [(LUKRETIA_TCL, "lukretia.tcl"), (MACBETH_TCL, "macbeth.tcl")] {
            let text = template
                .replace(
                    "@SCRIPT@",
                    &self.root.join("service.sh").display().to_string(),
                )
                .replace("@INTERVAL@", &self.options.interval)
                .replace("@LUKRETIA_ADDRESS@", &lukretia.address.to_string())
                .replace("@LUKRETIA_PORT@", &lukretia.faild_port.to_string())
                .replace("@MACBETH_ADDRESS@", &macbeth.address.to_string())
                .replace("@MACBETH_PORT@", &macbeth.faild_port.to_string());
            write(name, &text)?;
        }
        Ok(())
    }

    fn elapsed_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn say(&self, text: &str) {
        println!("[{:>6} ms] {text}", self.elapsed_ms());
    }

    fn measured(&mut self, what: &str, since: Instant) -> u64 {
        let ms = since.elapsed().as_millis() as u64;
        self.say(&format!("  {what}: {ms} ms"));
        self.summary.push((what.to_string(), ms));
        ms
    }

    fn run(&mut self) -> Outcome {
        println!("faildemo: the failover story of the seed on this machine");
        println!(
            "  service {SERVICE}, interval {} s; holding it means a file in {}",
            self.options.interval,
            self.root.display()
        );
        for host in &self.hosts {
            println!(
                "  {:<9} {}  faild :{}  failsh monitor :{}  debug :{}  ({})",
                host.name,
                host.address,
                host.faild_port,
                host.monitor_port,
                host.debug_port,
                if host.name == "lukretia" {
                    "master"
                } else {
                    "slave"
                }
            );
        }
        println!();
        self.started = Instant::now();

        // Boot: faild, the service script's boot (RECOVER), failsh, on both hosts.
        let since = Instant::now();
        self.say("boot: faild on both hosts, the service script registers RECOVER with failc");
        for index in [LUKRETIA, MACBETH] {
            self.start_faild(index)?;
        }
        for index in [LUKRETIA, MACBETH] {
            self.service_script(index, "boot")?;
        }
        self.say("boot: failsh on both hosts");
        for index in [LUKRETIA, MACBETH] {
            self.start_failsh(index)?;
        }
        self.wait_for("lukretia UP, macbeth RECOVER", |demo| {
            demo.expect(State::Up, State::Recover, "lukretia")
        })?;
        self.measured("1. lukretia brings the service UP (from boot)", since);
        println!();

        // Crash of lukretia.
        self.say("2. lukretia crashes: SIGKILL to its faild and failsh, its address goes down");
        let since = Instant::now();
        self.kill_host(LUKRETIA, Signal::SIGKILL);
        let _ = std::fs::remove_file(self.root.join("holds.lukretia"));
        self.wait_for("macbeth UP, holding the service alone", |demo| {
            let macbeth = demo.monitor_state(MACBETH)?;
            let holders = demo.holders();
            if macbeth == Some(State::Up) && holders == ["macbeth"] {
                Ok(())
            } else {
                Err(format!("macbeth {}, holders {holders:?}", show(macbeth)))
            }
        })?;
        let takeover_ms = self.measured("2. macbeth takes over", since);
        let bound_ms = 2 * self.options.interval_ms;
        self.say(&format!(
            "  (bound for a crash: (misses + 1) x interval = {bound_ms} ms plus the start \
             procedure; {})",
            if takeover_ms <= bound_ms + 100 {
                "within it"
            } else {
                "slower on this machine"
            }
        ));
        println!();

        // lukretia comes back.
        self.say("3. lukretia comes back: faild, boot script (RECOVER), failsh");
        let since = Instant::now();
        self.start_faild(LUKRETIA)?;
        self.service_script(LUKRETIA, "boot")?;
        self.start_failsh(LUKRETIA)?;
        self.wait_for("macbeth steps down to RECOVER", |demo| {
            match demo.monitor_state(MACBETH)? {
                Some(State::Recover) => Ok(()),
                other => Err(format!("macbeth {}", show(other))),
            }
        })?;
        self.measured(
            "3. handshake: macbeth sees lukretia RECOVER and steps down",
            since,
        );
        self.wait_for("lukretia UP, macbeth RECOVER", |demo| {
            demo.expect(State::Up, State::Recover, "lukretia")
        })?;
        self.measured("3. lukretia UP again (from its return)", since);
        println!();

        // Operator sets FAIL on lukretia.
        self.say("4. operator on lukretia: service script fail (address down, failc -s FAIL)");
        let since = Instant::now();
        self.service_script(LUKRETIA, "fail")?;
        self.wait_for("lukretia FAIL, macbeth UP", |demo| {
            demo.expect(State::Fail, State::Up, "macbeth")
        })?;
        self.measured("4. macbeth takes over", since);
        println!();

        // Operator recovers lukretia.
        self.say("5. operator on lukretia: service script recover (failc -s RECOVER)");
        let since = Instant::now();
        self.service_script(LUKRETIA, "recover")?;
        self.wait_for("lukretia UP, macbeth RECOVER", |demo| {
            demo.expect(State::Up, State::Recover, "lukretia")
        })?;
        self.measured("5. lukretia recovered and UP, macbeth RECOVER", since);
        println!();
        Ok(())
    }

    /// Both hosts' states on their monitor ports and who holds the service.
    fn expect(&self, lukretia: State, macbeth: State, holder: &str) -> Result<(), String> {
        let seen_lukretia = self.monitor_state(LUKRETIA)?;
        let seen_macbeth = self.monitor_state(MACBETH)?;
        let holders = self.holders();
        if seen_lukretia == Some(lukretia) && seen_macbeth == Some(macbeth) && holders == [holder] {
            Ok(())
        } else {
            Err(format!(
                "lukretia {}, macbeth {}, holders {holders:?}",
                show(seen_lukretia),
                show(seen_macbeth)
            ))
        }
    }

    /// Polls `check` every 20 ms until it holds; fails after the step timeout with the last
    /// thing `check` saw.
    fn wait_for(
        &mut self,
        what: &str,
        mut check: impl FnMut(&Demo) -> Result<(), String>,
    ) -> Outcome {
        let deadline = Instant::now() + self.options.step_timeout;
        loop {
            if self.interrupted.load(Ordering::SeqCst) {
                return Err("interrupted".to_string());
            }
            let seen = match check(self) {
                Ok(()) => return Ok(()),
                Err(seen) => seen,
            };
            self.check_daemons_alive()?;
            if Instant::now() >= deadline {
                return Err(format!(
                    "\"{what}\" did not happen within {} ms; last seen: {seen}",
                    self.options.step_timeout.as_millis()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A daemon that died on its own makes the step fail at once instead of at its timeout.
    fn check_daemons_alive(&mut self) -> Outcome {
        for host in &mut self.hosts {
            for (program, child) in [("faild", &mut host.faild), ("failsh", &mut host.failsh)] {
                if let Some(process) = child {
                    if let Ok(Some(status)) = process.try_wait() {
                        *child = None;
                        return Err(format!("{program} of {} exited: {status}", host.name));
                    }
                }
            }
        }
        Ok(())
    }

    /// The service's state as the host's failsh shows it on its monitor port (`None`: not
    /// known yet, or failsh does not answer).
    fn monitor_state(&self, index: usize) -> Result<Option<State>, String> {
        let host = &self.hosts[index];
        if host.failsh.is_none() {
            return Ok(None);
        }
        let address = failmon::address(&host.address.to_string(), host.monitor_port);
        let snapshot = Connection::open(&address, Duration::from_millis(1000))
            .and_then(|mut connection| connection.next_snapshot());
        match snapshot {
            Ok((snapshot, _)) => Ok(snapshot
                .services
                .iter()
                .find(|service| service.name == SERVICE)
                .and_then(|service| service.state)),
            // failsh is still starting: not an error yet, the step's timeout bounds it.
            Err(_) => Ok(None),
        }
    }

    /// The hosts whose "address" is up, sorted.
    fn holders(&self) -> Vec<String> {
        let mut holders: Vec<String> = std::fs::read_dir(&self.root)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                entry
                    .file_name()
                    .to_str()
                    .and_then(|name| name.strip_prefix("holds."))
                    .map(str::to_string)
            })
            .collect();
        holders.sort();
        holders
    }

    fn log_file(&self, index: usize, program: &str) -> Result<std::fs::File, String> {
        let host = &self.hosts[index];
        let path = self
            .root
            .join(format!("{}.{program}.{}.log", host.name, host.generation));
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))
    }

    fn spawn(&self, index: usize, program: &str, arguments: &[String]) -> Result<Child, String> {
        let log = self.log_file(index, program)?;
        let log_err = log
            .try_clone()
            .map_err(|e| format!("cannot open a log: {e}"))?;
        let path = self.bin_dir.join(program);
        let mut command = Command::new(&path);
        command
            .args(arguments)
            .current_dir(&self.root)
            .envs(self.host_environment(index))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        // A group of its own: the terminal's Ctrl-C reaches only faildemo, which then stops
        // the daemons in order, and killing the group also kills running procedures.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        command
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", path.display()))
    }

    fn host_environment(&self, index: usize) -> Vec<(&'static str, String)> {
        let host = &self.hosts[index];
        vec![
            ("DEMO_HOST", host.name.to_string()),
            ("DEMO_PEER", host.peer.to_string()),
            ("DEMO_ROOT", self.root.display().to_string()),
            (
                "DEMO_FAILC",
                self.bin_dir.join("failc").display().to_string(),
            ),
            ("DEMO_PORT", host.faild_port.to_string()),
            ("DEMO_ADDRESS", host.address.to_string()),
        ]
    }

    fn start_faild(&mut self, index: usize) -> Outcome {
        self.hosts[index].generation += 1;
        let host = &self.hosts[index];
        let arguments = vec![
            "-F".to_string(),
            "-c".to_string(),
            self.root.join("communities").display().to_string(),
            "-s".to_string(),
            self.root
                .join(format!("{}.faild.state", host.name))
                .display()
                .to_string(),
            "-a".to_string(),
            host.address.to_string(),
            "-p".to_string(),
            host.faild_port.to_string(),
            "--runtime".to_string(),
            self.options.runtime.clone(),
        ];
        let child = self.spawn(index, "faild", &arguments)?;
        let (address, port, name) = (host.address, host.faild_port, host.name);
        self.hosts[index].faild = Some(child);
        self.wait_for(&format!("faild of {name} accepts connections"), |_| {
            TcpStream::connect_timeout(&(address, port).into(), Duration::from_millis(200))
                .map(drop)
                .map_err(|e| e.to_string())
        })
    }

    fn start_failsh(&mut self, index: usize) -> Outcome {
        let host = &self.hosts[index];
        let arguments = vec![
            "-F".to_string(),
            "-f".to_string(),
            self.root
                .join(format!("{}.tcl", host.name))
                .display()
                .to_string(),
            // Each failsh listens on its own loopback address (macbeth's is 127.0.0.2).
            "-a".to_string(),
            host.address.to_string(),
            "-m".to_string(),
            host.monitor_port.to_string(),
            "-D".to_string(),
            host.debug_port.to_string(),
            "-c".to_string(),
            DEBUG_COMMUNITY.to_string(),
            "-l".to_string(),
            self.root
                .join(format!("{}.failsh.dump", host.name))
                .display()
                .to_string(),
            "--runtime".to_string(),
            self.options.runtime.clone(),
        ];
        let child = self.spawn(index, "failsh", &arguments)?;
        self.hosts[index].failsh = Some(child);
        Ok(())
    }

    /// Runs the service script as the host's init script would; retried until the step
    /// timeout, since faild may still be settling (the seed's script warns about that too).
    fn service_script(&mut self, index: usize, action: &str) -> Outcome {
        let script = self.root.join("service.sh");
        let environment = self.host_environment(index);
        let name = self.hosts[index].name;
        self.wait_for(&format!("{name}: service script {action}"), |_| {
            let output = Command::new("/bin/sh")
                .arg(&script)
                .arg(action)
                .envs(environment.iter().cloned())
                .stdin(Stdio::null())
                .output()
                .map_err(|e| format!("cannot run /bin/sh: {e}"))?;
            if output.status.success() {
                Ok(())
            } else {
                Err(format!(
                    "{}: {}",
                    output.status,
                    String::from_utf8_lossy(&output.stderr).trim()
                ))
            }
        })
    }

    /// Signals a host's daemons (failsh first, so it does not see its faild vanish) and
    /// waits for them, SIGKILL after 3 s.
    fn kill_host(&mut self, index: usize, signal: Signal) {
        let host = &mut self.hosts[index];
        for child in [&mut host.failsh, &mut host.faild] {
            if let Some(mut process) = child.take() {
                stop_process(&mut process, signal);
            }
        }
    }

    fn finish(&mut self) {
        self.say("the end: SIGTERM to both failsh (they hand over) and both faild");
        for index in [MACBETH, LUKRETIA] {
            self.kill_host(index, Signal::SIGTERM);
        }
        println!();
        println!("Summary (interval {} s):", self.options.interval);
        for (what, ms) in &self.summary {
            println!("  {ms:>6} ms  {what}");
        }
        println!("faildemo: every step happened in time; exit 0");
    }

    fn print_logs(&self) {
        let mut text = String::new();
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.root)
            .into_iter()
            .flatten()
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| {
                path.extension().is_some_and(|e| e == "log")
                    || path.file_name().is_some_and(|n| n == "service.log")
            })
            .collect();
        files.sort();
        for path in files {
            let content = std::fs::read_to_string(&path).unwrap_or_default();
            let lines: Vec<&str> = content.lines().collect();
            let _ = writeln!(text, "--- {} (last 20 lines)", path.display());
            for line in &lines[lines.len().saturating_sub(20)..] {
                let _ = writeln!(text, "    {line}");
            }
        }
        eprint!("{text}");
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        for index in [MACBETH, LUKRETIA] {
            self.kill_host(index, Signal::SIGTERM);
        }
        if self.options.keep {
            println!("faildemo: kept {}", self.root.display());
        } else if let Err(e) = std::fs::remove_dir_all(&self.root) {
            eprintln!("faildemo: cannot remove {}: {e}", self.root.display());
        }
    }
}

fn stop_process(process: &mut Child, signal: Signal) {
    let group = Pid::from_raw(process.id() as i32);
    let _ = killpg(group, signal);
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = process.try_wait() {
            // Procedures the daemon left behind in its group go too.
            let _ = killpg(group, Signal::SIGKILL);
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = killpg(group, Signal::SIGKILL);
    let _ = process.kill();
    let _ = process.wait();
}

fn show(state: Option<State>) -> &'static str {
    failmon::state_text(state)
}

/// A port free on `address` (for faild: for TCP and UDP both), not handed out before.
fn free_port(address: Ipv4Addr, udp_too: bool, taken: &mut BTreeSet<u16>) -> Result<u16, String> {
    for _ in 0..50 {
        let listener = TcpListener::bind((address, 0))
            .map_err(|e| format!("cannot bind {address}: {e} (is the loopback interface up?)"))?;
        let port = listener
            .local_addr()
            .map_err(|e| format!("cannot read a bound port: {e}"))?
            .port();
        if taken.contains(&port) {
            continue;
        }
        if udp_too && UdpSocket::bind((address, port)).is_err() {
            continue;
        }
        taken.insert(port);
        return Ok(port);
    }
    Err(format!("no free port on {address} after 50 tries"))
}

/// The directory of faild, failsh and failc: next to faildemo. Run by `cargo run`, builds them
/// when they are missing (cargo builds only the program it runs).
fn find_programs() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find myself: {e}"))?;
    let dir = exe
        .parent()
        .ok_or("faildemo has no directory")?
        .to_path_buf();
    let missing = |dir: &Path| -> Vec<&'static str> {
        ["faild", "failsh", "failc"]
            .into_iter()
            .filter(|program| !dir.join(program).is_file())
            .collect()
    };
    let absent = missing(&dir);
    if absent.is_empty() {
        return Ok(dir);
    }
    let manifest = std::env::var("CARGO_MANIFEST_DIR")
        .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string());
    let manifest = Path::new(&manifest).join("Cargo.toml");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    if !manifest.is_file() {
        return Err(format!(
            "{} missing next to {}; build them with `cargo build --release --bins`",
            absent.join(", "),
            exe.display()
        ));
    }
    println!(
        "faildemo: building {} (cargo builds only the program it runs)",
        absent.join(", ")
    );
    let mut command = Command::new(&cargo);
    command
        .arg("build")
        .arg("--quiet")
        .arg("--manifest-path")
        .arg(&manifest)
        .args([
            "-p",
            "failover-cli",
            "--bin",
            "faild",
            "--bin",
            "failsh",
            "--bin",
            "failc",
        ]);
    if dir.file_name().is_some_and(|name| name == "release") {
        command.arg("--release");
    }
    let status = command
        .status()
        .map_err(|e| format!("cannot run {cargo}: {e}"))?;
    let absent = missing(&dir);
    if !status.success() || !absent.is_empty() {
        return Err(format!(
            "could not build {} next to {}",
            absent.join(", "),
            exe.display()
        ));
    }
    Ok(dir)
}
