//! The network-namespace test bed: real hosts on a real (virtual) Ethernet.
//!
//! ```text
//!             switch namespace: bridge br0
//!        lu0 |            ma0 |            cl0 |
//!   eth0 lukretia      eth0 macbeth       eth0 client
//!   198.18.0.1/24      198.18.0.2/24      198.18.0.100/24
//!   2001:db8::1/64     2001:db8::2/64     2001:db8::100/64
//! ```
//!
//! The service is the failover address 198.18.0.50 (with 2001:db8::50 moving along). In the
//! host namespaces the real faild and failsh run, started by the operator's own scripts
//! (`examples/linux/faild.init`, `failsh.init`), and the service script
//! `examples/linux/198.18.0.50` moves the address with `ip addr` and announces it with
//! `grarp`. Each host gets an `/etc/default/failover`-style file (the scripts read the one
//! named by `FAILOVER_DEFAULTS`) with its paths, and its Tcl configuration is rendered from
//! `examples/linux/NODE.tcl` with only the script path and the interval replaced.
//!
//! Network safety: everything lives in namespaces named `fo-nb-<pid>-<n>-{sw,lu,ma,cl}`
//! created here; veth pairs are created inside them (never in the root namespace); only
//! 198.18.0.0/24 and 2001:db8::/64 are used, inside the namespaces; no routes are added.
//! [`Bed`]'s Drop kills every process in its namespaces and deletes them (also when a test
//! panics); leftovers of a crashed earlier run (namespaces of this prefix whose pid is gone)
//! are removed first. Every command and every wait is bounded in time.
//!
//! Root only. [`ready`] checks root and the tools and says loudly what is missing.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub const VIP4: &str = "198.18.0.50";
pub const VIP6: &str = "2001:db8::50";
/// The service is named after its address.
pub const SERVICE: &str = "198.18.0.50";
/// The interface name inside every host namespace.
pub const DEV: &str = "eth0";
const PREFIX: &str = "fo-nb-";
const CMD_TIMEOUT: Duration = Duration::from_secs(30);

static NEXT: AtomicU32 = AtomicU32::new(0);
/// Beds run one at a time in a test binary: the failover timings are real time, and two
/// busy beds on two cores would measure the machine, not the software.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Whether this process runs as root (uid 0).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

/// Prints a loud SKIPPED line; fails unless FAILOVER_ALLOW_SKIP=1 (a test that passes
/// without running is a defect).
pub fn skip(test: &str, why: &str) {
    eprintln!("SKIPPED (needs root): {test}: {why}");
    if std::env::var("FAILOVER_ALLOW_SKIP").as_deref() != Ok("1") {
        panic!("{test} could not run: {why} (set FAILOVER_ALLOW_SKIP=1 to allow skipping)");
    }
}

/// Whether `program` is on the PATH.
pub fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Root and every tool the bed needs. Not root: SKIPPED (fails unless FAILOVER_ALLOW_SKIP=1).
/// A missing tool fails the test naming the tool and the Debian package to install.
pub fn ready(test: &str, extra_tools: &[(&str, &str)]) -> bool {
    if !is_root() {
        skip(test, "not running as root: network namespaces need it");
        return false;
    }
    let mut missing = Vec::new();
    for (tool, package) in [
        ("ip", "iproute2"),
        ("bridge", "iproute2"),
        ("ping", "iputils-ping"),
    ]
    .iter()
    .chain(extra_tools)
    {
        if !have(tool) {
            missing.push(format!("`{tool}` (apt-get install {package})"));
        }
    }
    assert!(
        missing.is_empty(),
        "{test}: missing tools: {}",
        missing.join(", ")
    );
    true
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
        std::thread::sleep(Duration::from_millis(5));
    }
}

pub fn sh(args: &[&str]) -> Output {
    run_with_timeout(Command::new(args[0]).args(&args[1..]), CMD_TIMEOUT)
}

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

/// The workspace root (the parent of this crate's directory).
pub fn repo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// The directory with the built programs (faild, failsh, failc, grarp): the shared
/// helper builds them once per test process (see [`crate::bin_dir`]).
pub fn bin_dir() -> PathBuf {
    crate::bin_dir().to_path_buf()
}

/// Panics with the command that builds them when a program is missing.
pub fn check_programs(names: &[&str]) {
    let dir = bin_dir();
    for name in names {
        assert!(
            dir.join(name).is_file(),
            "{} is missing: run `cargo build -p failover-cli --bins` first (or set FAILOVER_BIN_DIR)",
            dir.join(name).display()
        );
    }
}

/// Kills every process in namespace `ns` (SIGKILL) and waits (bounded) until none is left.
fn kill_namespace_processes(ns: &str) {
    for _ in 0..50 {
        let o = sh(&["ip", "netns", "pids", ns]);
        let pids: Vec<String> = String::from_utf8_lossy(&o.stdout)
            .split_whitespace()
            .map(str::to_string)
            .collect();
        if pids.is_empty() {
            return;
        }
        let mut args = vec!["kill", "-KILL"];
        args.extend(pids.iter().map(String::as_str));
        let _ = sh(&args);
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Deletes namespaces of our prefix left by a run whose process is gone.
fn clean_leftovers() {
    let list = sh(&["ip", "netns", "list"]);
    for line in String::from_utf8_lossy(&list.stdout).lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            eprintln!("netns bed: removing leftover namespace {name}");
            kill_namespace_processes(name);
            let _ = sh(&["ip", "netns", "del", name]);
        }
    }
}

/// One host of the bed.
#[derive(Debug)]
pub struct Host {
    /// lukretia, macbeth or client.
    pub name: &'static str,
    pub ns: String,
    /// Its port (the veth end) in the switch namespace.
    pub port: &'static str,
    pub mac: &'static str,
    pub addr4: &'static str,
    pub addr6: &'static str,
    /// etc/, var/, run/, log/ and the defaults file.
    pub dir: PathBuf,
}

impl Host {
    pub fn defaults_file(&self) -> PathBuf {
        self.dir.join("failover.default")
    }
    pub fn run_dir(&self) -> PathBuf {
        self.dir.join("run")
    }
    pub fn log_dir(&self) -> PathBuf {
        self.dir.join("log")
    }

    /// A command run inside this host's namespace with its defaults file.
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.ns, program])
            .env("FAILOVER_DEFAULTS", self.defaults_file());
        cmd
    }

    /// Runs `program args` in the namespace; output goes to a file rather than a pipe, so a
    /// daemon the program leaves behind cannot keep the test waiting for end of file.
    pub fn run(&self, program: &str, args: &[&str]) -> (bool, String) {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let out = self.dir.join(format!("cmd-{n}.out"));
        let file = std::fs::File::create(&out).expect("output file");
        let mut cmd = self.command(program);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("dup"))
            .stderr(file);
        let desc = format!("{} {program} {args:?}", self.name);
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {desc}: {e}"));
        let deadline = Instant::now() + CMD_TIMEOUT;
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{desc} did not finish within {CMD_TIMEOUT:?}");
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let text = std::fs::read_to_string(&out).unwrap_or_default();
        let _ = std::fs::remove_file(&out);
        (status.success(), text)
    }

    /// Runs an example script (`faild.init`, `failsh.init`, `198.18.0.50`) with an action;
    /// panics with its output when it fails.
    pub fn script(&self, script: &str, action: &str) -> String {
        let path = repo_dir().join("examples/linux").join(script);
        let (ok, text) = self.run("sh", &[path.to_str().expect("utf-8 path"), action]);
        assert!(
            ok,
            "{}: {script} {action} failed: {text}\n{}",
            self.name,
            self.logs()
        );
        text
    }

    /// The pid a daemon wrote to its pid file (`faild` or `failsh`).
    pub fn pid(&self, daemon: &str) -> Option<u32> {
        std::fs::read_to_string(self.run_dir().join(format!("{daemon}.pid")))
            .ok()
            .and_then(|t| t.trim().parse().ok())
    }

    /// Sends `signal` (e.g. "KILL", "TERM") to a daemon; panics if it has no pid file.
    pub fn signal(&self, daemon: &str, signal: &str) {
        let pid = self
            .pid(daemon)
            .unwrap_or_else(|| panic!("{}: {daemon} has no pid file", self.name));
        must(&["kill", &format!("-{signal}"), &pid.to_string()]);
    }

    /// Whether the process of a daemon's pid file is alive.
    pub fn alive(&self, daemon: &str) -> bool {
        self.pid(daemon)
            .map(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .map(|s| !s.contains(") Z "))
                    .unwrap_or(false)
            })
            .unwrap_or(false)
    }

    /// The service's state in this host's faild (UP, RECOVER, FAIL, UNKNOWN), or None when
    /// faild does not answer.
    pub fn state(&self) -> Option<String> {
        let failstat = bin_dir().join("failstat");
        let (ok, text) = self.run(
            failstat.to_str().expect("utf-8 path"),
            &["-t", "500", SERVICE],
        );
        if !ok {
            return None;
        }
        text.lines()
            .find(|l| l.starts_with(SERVICE))
            .and_then(|l| l.split_whitespace().nth(1))
            .map(str::to_string)
    }

    /// Whether this host has the failover address configured.
    pub fn holds(&self) -> bool {
        holds(&self.ns)
    }

    /// Whether 2001:db8::50 is configured on the host's interface.
    pub fn holds_v6(&self) -> bool {
        let o = sh(&[
            "ip", "-n", &self.ns, "-o", "-6", "addr", "show", "dev", DEV, "to", VIP6,
        ]);
        !String::from_utf8_lossy(&o.stdout).trim().is_empty()
    }

    /// faild's and failsh's logs, for failure messages.
    pub fn logs(&self) -> String {
        let mut text = String::new();
        for log in ["faild.log", "failsh.log"] {
            let body = std::fs::read_to_string(self.log_dir().join(log)).unwrap_or_default();
            let tail: Vec<&str> = body.lines().rev().take(40).collect();
            text.push_str(&format!("--- {} {log} (last 40 lines)\n", self.name));
            for line in tail.iter().rev() {
                text.push_str(line);
                text.push('\n');
            }
        }
        text
    }
}

/// Whether namespace `ns` has the failover address on its interface (`ip -o addr show`).
pub fn holds(ns: &str) -> bool {
    let o = sh(&["ip", "-n", ns, "-o", "addr", "show", "dev", DEV, "to", VIP4]);
    !String::from_utf8_lossy(&o.stdout).trim().is_empty()
}

/// failsh's `--metrics` port inside each namespace of a witnessed bed.
pub const METRICS_PORT: u16 = 9291;

impl Host {
    /// `GET /metrics` from this host's failsh (a witnessed bed), inside its namespace.
    pub fn metrics(&self) -> String {
        let request = format!(
            "exec 3<>/dev/tcp/127.0.0.1/{METRICS_PORT} && printf 'GET /metrics HTTP/1.0\\r\\n\\r\\n' >&3 && cat <&3"
        );
        let (ok, text) = self.run("bash", &["-c", &request]);
        assert!(ok, "{}: cannot scrape failsh's metrics: {text}", self.name);
        text
    }

    /// `failmon -1` against this host's failsh, inside its namespace.
    pub fn failmon(&self) -> String {
        let failmon = bin_dir().join("failmon");
        let (ok, text) = self.run(failmon.to_str().expect("utf-8 path"), &["-1"]);
        assert!(ok, "{}: failmon -1 failed: {text}", self.name);
        text
    }
}

/// How the bed configures failover.
#[derive(Clone, Debug)]
pub struct BedOptions {
    /// `failsvc 198.18.0.50 interval` in seconds, as written in Tcl (e.g. "0.2").
    pub interval: String,
    /// Extra `failsvc 198.18.0.50 ...` lines (e.g. "misses 2").
    pub failsvc: Vec<String>,
    /// GRARP_OPTS for the service script.
    pub grarp_opts: String,
    /// Move 2001:db8::50 along with 198.18.0.50.
    pub ipv6: bool,
    /// Use `lukretia-fast.tcl` and `macbeth-fast.tcl` (procedures with `ip` and the built-in
    /// grarp) in place of the examples whose procedures run the service script. Their own
    /// interval, misses and timeout give way to `interval` (misses 1, timeout = interval)
    /// and `failsvc`, and their addresses to the bed's.
    pub fast_config: bool,
    /// With `fast_config`: keep its own interval, misses and timeout (the fastest documented
    /// setting) instead of `interval`.
    pub fast_timing: bool,
    /// `--runtime` of failsh and faild (`None`: their default).
    pub runtime: Option<&'static str>,
    /// How the hosts poll each other's faild (`failhost ... protocol`; `None`: the
    /// configurations' own, TCP).
    pub protocol: Option<&'static str>,
    /// A fourth host, dunsinane (198.18.0.3), that runs only faild and is the witness of
    /// the service (`failsvc 198.18.0.50 witness dunsinane`; the configurations need a lease).
    pub witness: bool,
}

impl Default for BedOptions {
    fn default() -> BedOptions {
        BedOptions {
            interval: "0.2".into(),
            failsvc: Vec::new(),
            grarp_opts: "-c 3 -i 100".into(),
            ipv6: true,
            fast_config: false,
            fast_timing: false,
            runtime: None,
            protocol: None,
            witness: false,
        }
    }
}

/// The bed: a switch and three hosts. Dropping it kills everything in it and deletes it.
#[derive(Debug)]
pub struct Bed {
    pub switch: String,
    pub lukretia: Host,
    pub macbeth: Host,
    pub client: Host,
    /// With [`BedOptions::witness`]: dunsinane, faild only.
    pub witness: Option<Host>,
    /// The witness's faild, reaped when it is stopped or the bed goes.
    witness_faild: Mutex<Option<std::process::Child>>,
    pub dir: PathBuf,
    pub options: BedOptions,
    _one_at_a_time: MutexGuard<'static, ()>,
}

impl Drop for Bed {
    fn drop(&mut self) {
        for host in self.hosts() {
            kill_namespace_processes(&host.ns);
        }
        self.reap_witness();
        for host in self.hosts() {
            let _ = sh(&["ip", "netns", "del", &host.ns]);
        }
        let _ = sh(&["ip", "netns", "del", &self.switch]);
        if std::env::var_os("FAILOVER_KEEP_LOGS").is_some() {
            eprintln!(
                "netns bed: logs kept in {} (FAILOVER_KEEP_LOGS)",
                self.dir.display()
            );
        } else if std::thread::panicking() {
            eprintln!(
                "netns bed: logs kept in {}\n{}{}",
                self.dir.display(),
                self.lukretia.logs(),
                self.macbeth.logs()
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

impl Bed {
    /// Builds the bed and writes each host's configuration; starts nothing.
    pub fn new(options: BedOptions) -> Bed {
        let guard = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        clean_leftovers();
        check_programs(&["faild", "failsh", "failc", "grarp"]);
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let base = format!("{PREFIX}{}-{n}", std::process::id());
        let dir = std::env::temp_dir().join(&base);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let host = |name, short, port, mac, addr4, addr6| Host {
            name,
            ns: format!("{base}-{short}"),
            port,
            mac,
            addr4,
            addr6,
            dir: dir.join(name),
        };
        let bed = Bed {
            switch: format!("{base}-sw"),
            lukretia: host(
                "lukretia",
                "lu",
                "lu0",
                "02:fa:00:00:01:01",
                "198.18.0.1",
                "2001:db8::1",
            ),
            macbeth: host(
                "macbeth",
                "ma",
                "ma0",
                "02:fa:00:00:01:02",
                "198.18.0.2",
                "2001:db8::2",
            ),
            client: host(
                "client",
                "cl",
                "cl0",
                "02:fa:00:00:01:64",
                "198.18.0.100",
                "2001:db8::100",
            ),
            witness: options.witness.then(|| {
                host(
                    "dunsinane",
                    "wi",
                    "wi0",
                    "02:fa:00:00:01:03",
                    "198.18.0.3",
                    "2001:db8::3",
                )
            }),
            witness_faild: Mutex::new(None),
            dir,
            options,
            _one_at_a_time: guard,
        };
        let sw = bed.switch.as_str();
        must(&["ip", "netns", "add", sw]);
        must(&["ip", "-n", sw, "link", "set", "lo", "up"]);
        must(&["ip", "-n", sw, "link", "add", "br0", "type", "bridge"]);
        // No STP, no forwarding delay: ports forward as soon as they are up.
        must(&[
            "ip",
            "-n",
            sw,
            "link",
            "set",
            "br0",
            "type",
            "bridge",
            "stp_state",
            "0",
            "forward_delay",
            "0",
        ]);
        must(&["ip", "-n", sw, "link", "set", "br0", "up"]);
        for h in bed.hosts() {
            std::fs::create_dir_all(&h.dir).expect("host dir");
            must(&["ip", "netns", "add", &h.ns]);
            // The pair is created in the switch namespace, its other end moved straight
            // into the host's namespace as eth0.
            must(&[
                "ip", "-n", sw, "link", "add", h.port, "type", "veth", "peer", "name", DEV,
                "netns", &h.ns,
            ]);
            must(&["ip", "-n", sw, "link", "set", h.port, "master", "br0"]);
            must(&["ip", "-n", sw, "link", "set", h.port, "up"]);
            must(&["ip", "-n", &h.ns, "link", "set", DEV, "address", h.mac]);
            must(&["ip", "-n", &h.ns, "link", "set", "lo", "up"]);
            must(&[
                "ip",
                "-n",
                &h.ns,
                "addr",
                "add",
                &format!("{}/24", h.addr4),
                "dev",
                DEV,
            ]);
            must(&[
                "ip",
                "-n",
                &h.ns,
                "-6",
                "addr",
                "add",
                &format!("{}/64", h.addr6),
                "dev",
                DEV,
                "nodad",
            ]);
            must(&["ip", "-n", &h.ns, "link", "set", DEV, "up"]);
        }
        // IPv6 delivers multicast (neighbour solicitations and the unsolicited
        // advertisements) only once the kernel has set the link up for IPv6 and added its
        // ff00::/8 route, shortly after the carrier comes up: wait for it, bounded.
        for h in bed.hosts() {
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                let routes = must(&[
                    "ip", "-n", &h.ns, "-6", "route", "show", "table", "local", "dev", DEV,
                ]);
                if routes.contains("ff00::/8") {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "{DEV} in {} not ready for IPv6: {routes}",
                    h.ns
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        for h in [&bed.lukretia, &bed.macbeth] {
            bed.configure(h);
        }
        bed
    }

    /// Writes the host's defaults file, communities and Tcl configuration.
    fn configure(&self, h: &Host) {
        let examples = repo_dir().join("examples/linux");
        for sub in ["etc", "var", "run", "log"] {
            std::fs::create_dir_all(h.dir.join(sub)).expect("host dir");
        }
        let extra = if self.options.ipv6 {
            "2001:db8::50/64"
        } else {
            ""
        };
        let defaults = format!(
            "# written by the netns test bed\n\
             NODE={node}\n\
             SBINDIR={bin}\n\
             BINDIR={bin}\n\
             ETCDIR={dir}/etc\n\
             VARDIR={dir}/var\n\
             RUNDIR={dir}/run\n\
             LOGDIR={dir}/log\n\
             LOGTO=file\n\
             SERVICES=\"{SERVICE}\"\n\
             SERVICEDIR={examples}\n\
             INTERFACE={DEV}\n\
             PREFIXLEN=24\n\
             EXTRA_ADDRESSES=\"{extra}\"\n\
             GRARP_OPTS=\"{grarp}\"\n\
             FAILSH_OPTS=\"-l {dir}/run/failsh.dump {runtime}{metrics}\"\n\
             FAILD_OPTS=\"{runtime}\"\n",
            node = h.name,
            bin = bin_dir().display(),
            dir = h.dir.display(),
            examples = examples.display(),
            grarp = self.options.grarp_opts,
            runtime = self
                .options
                .runtime
                .map_or(String::new(), |r| format!("--runtime {r}")),
            metrics = if self.options.witness {
                format!(" --metrics 127.0.0.1:{METRICS_PORT}")
            } else {
                String::new()
            },
        );
        std::fs::write(h.defaults_file(), defaults).expect("defaults file");
        std::fs::copy(examples.join("communities"), h.dir.join("etc/communities"))
            .expect("communities");
        let tcl = if self.options.fast_config {
            render_fast_tcl(
                &std::fs::read_to_string(examples.join(format!("{}-fast.tcl", h.name)))
                    .expect("fast example configuration"),
                &self.options,
            )
        } else {
            render_tcl(
                &std::fs::read_to_string(examples.join(format!("{}.tcl", h.name)))
                    .expect("example configuration"),
                &examples.join(SERVICE),
                &self.options,
            )
        };
        std::fs::write(h.dir.join(format!("etc/{}.tcl", h.name)), tcl).expect("tcl");
        // The procedures both hosts source from next to their configuration.
        let shared = if self.options.fast_config {
            "procedures-fast.tcl"
        } else {
            "procedures.tcl"
        };
        std::fs::copy(examples.join(shared), h.dir.join("etc").join(shared))
            .expect("shared procedures");
        if let Some(witness) = &self.witness {
            let protocol = self.options.protocol.unwrap_or("tcp");
            let mut text =
                std::fs::read_to_string(h.dir.join(format!("etc/{}.tcl", h.name))).expect("tcl");
            text.push_str(&format!(
                "# written by the netns test bed: dunsinane is the witness\n\
                 failsvc {SERVICE} witness {name}\n\
                 failhost {name} address {address}\n\
                 failhost {name} community public\n\
                 failhost {name} protocol {protocol}\n\
                 failhost localhost name {me}\n",
                name = witness.name,
                address = witness.addr4,
                me = h.name,
            ));
            std::fs::write(h.dir.join(format!("etc/{}.tcl", h.name)), text).expect("tcl");
        }
    }

    /// Every host of the bed: lukretia, macbeth, the client and the witness if there is one.
    pub fn hosts(&self) -> Vec<&Host> {
        let mut hosts = vec![&self.lukretia, &self.macbeth, &self.client];
        hosts.extend(self.witness.as_ref());
        hosts
    }

    /// Starts the witness's faild (the only program it runs), on port 1291, with the example
    /// communities file; waits until it listens.
    pub fn start_witness(&self) {
        let w = self.witness.as_ref().expect("a bed with a witness");
        std::fs::create_dir_all(w.run_dir()).expect("run dir");
        let communities = w.dir.join("communities");
        std::fs::copy(repo_dir().join("examples/linux/communities"), &communities)
            .expect("communities");
        let log = std::fs::File::create(w.dir.join("faild.log")).expect("log");
        let mut cmd = w.command(bin_dir().join("faild").to_str().expect("utf-8 path"));
        cmd.args(["-F", "-p", "1291", "-c"])
            .arg(&communities)
            .arg("-s")
            .arg(w.dir.join("faild.state"));
        if let Some(runtime) = self.options.runtime {
            cmd.args(["--runtime", runtime]);
        }
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup"))
            .stderr(log);
        let child = cmd.spawn().expect("start the witness's faild");
        *self.witness_faild.lock().unwrap_or_else(|e| e.into_inner()) = Some(child);
        self.wait_for(
            "the witness's faild listens",
            Duration::from_secs(10),
            || {
                String::from_utf8_lossy(&sh(&["ip", "netns", "exec", &w.ns, "ss", "-ltn"]).stdout)
                    .contains(":1291")
            },
        );
    }

    /// The witness dies (every process of its namespace is killed).
    pub fn stop_witness(&self) {
        let w = self.witness.as_ref().expect("a bed with a witness");
        kill_namespace_processes(&w.ns);
        self.reap_witness();
    }

    fn reap_witness(&self) {
        let taken = self
            .witness_faild
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(mut child) = taken {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Cuts `h` off from `others` (IPv4 and IPv6, both ways) with nftables in `h`'s
    /// namespace, leaving its link, its carrier and every other host alone: a partition
    /// that `track` cannot see. `heal_isolation` ends it.
    pub fn isolate(&self, h: &Host, others: &[&Host]) {
        let v4: Vec<&str> = others.iter().map(|o| o.addr4).collect();
        let v6: Vec<&str> = others.iter().map(|o| o.addr6).collect();
        let rules = format!(
            "table inet fo_partition {{\n\
               chain input {{ type filter hook input priority 0; policy accept;\n\
                 ip saddr {{ {v4} }} drop\n  ip6 saddr {{ {v6} }} drop\n }}\n\
               chain output {{ type filter hook output priority 0; policy accept;\n\
                 ip daddr {{ {v4} }} drop\n  ip6 daddr {{ {v6} }} drop\n }}\n\
             }}\n",
            v4 = v4.join(", "),
            v6 = v6.join(", "),
        );
        let file = self.dir.join(format!("partition-{}.nft", h.name));
        std::fs::write(&file, rules).expect("nft rules");
        must(&[
            "ip",
            "netns",
            "exec",
            &h.ns,
            "nft",
            "-f",
            file.to_str().expect("utf-8 path"),
        ]);
    }

    /// Ends `isolate` of `h`.
    pub fn heal_isolation(&self, h: &Host) {
        must(&[
            "ip",
            "netns",
            "exec",
            &h.ns,
            "nft",
            "delete",
            "table",
            "inet",
            "fo_partition",
        ]);
    }

    /// Boots a host as its init system would: faild (registers the service FAIL), the
    /// service script's `start` (RECOVER), failsh.
    pub fn boot(&self, h: &Host) {
        for (script, action) in [
            ("faild.init", "start"),
            (SERVICE, "start"),
            ("failsh.init", "start"),
        ] {
            let out = h.script(script, action);
            eprintln!("{}: {script} {action}: {}", h.name, out.trim());
        }
    }

    /// Boots lukretia, waits until it holds the address, then boots macbeth and waits until
    /// macbeth has seen lukretia (its failsh is running and has not taken the address).
    pub fn boot_both(&self) {
        self.boot(&self.lukretia);
        self.wait_for(
            "lukretia holds the address",
            Duration::from_secs(15),
            || self.lukretia.holds(),
        );
        self.boot(&self.macbeth);
        // Give macbeth a few intervals to poll; it must not take the address.
        let settle = self.interval() * 5;
        let end = Instant::now() + settle;
        while Instant::now() < end {
            assert!(
                !self.macbeth.holds(),
                "macbeth took the address while lukretia is up\n{}{}",
                self.lukretia.logs(),
                self.macbeth.logs()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The configured interval.
    pub fn interval(&self) -> Duration {
        if self.options.fast_config && self.options.fast_timing {
            return Duration::from_millis(5);
        }
        Duration::from_secs_f64(self.options.interval.parse().expect("interval"))
    }

    /// SIGKILL of every process of a host's namespace (its faild, its failsh and whatever
    /// supervises them) but the test's own `ip monitor`: the machine and its kernel run on,
    /// with its addresses.
    pub fn kill_everything(&self, h: &Host) {
        let o = sh(&["ip", "netns", "pids", &h.ns]);
        let pids: Vec<String> = String::from_utf8_lossy(&o.stdout)
            .split_whitespace()
            .filter(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/comm"))
                    .map(|comm| comm.trim() != "ip")
                    .unwrap_or(false)
            })
            .map(str::to_string)
            .collect();
        if !pids.is_empty() {
            let mut args = vec!["kill", "-KILL"];
            args.extend(pids.iter().map(String::as_str));
            let _ = sh(&args);
        }
    }

    /// Waits until `cond` holds, bounded; panics naming `what` and showing the logs.
    pub fn wait_for(
        &self,
        what: &str,
        limit: Duration,
        mut cond: impl FnMut() -> bool,
    ) -> Duration {
        let start = Instant::now();
        loop {
            if cond() {
                return start.elapsed();
            }
            if start.elapsed() > limit {
                panic!(
                    "timed out after {limit:?} waiting until {what}\n{}{}",
                    self.lukretia.logs(),
                    self.macbeth.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Cuts a host's link on the switch side (its own interface loses the carrier but keeps
    /// its addresses, as a host whose cable is pulled does).
    pub fn cut(&self, h: &Host) {
        must(&["ip", "-n", &self.switch, "link", "set", h.port, "down"]);
    }

    pub fn restore(&self, h: &Host) {
        must(&["ip", "-n", &self.switch, "link", "set", h.port, "up"]);
    }

    /// Partitions lukretia from macbeth only: both bridge ports become isolated (an isolated
    /// port forwards only to non-isolated ports), so the client still reaches both.
    pub fn partition(&self, on: bool) {
        let state = if on { "on" } else { "off" };
        for h in [&self.lukretia, &self.macbeth] {
            must(&[
                "ip",
                "netns",
                "exec",
                &self.switch,
                "bridge",
                "link",
                "set",
                "dev",
                h.port,
                "isolated",
                state,
            ]);
        }
    }

    /// One ping from the client; true if answered within `wait`.
    pub fn ping(&self, address: &str, wait: Duration) -> bool {
        let wait_s = format!("{:.3}", wait.as_secs_f64().max(0.01));
        let (ok, _) = self
            .client
            .run("ping", &["-n", "-q", "-c", "1", "-W", &wait_s, address]);
        ok
    }

    /// Pings from the client until one is answered, bounded; returns how long it took.
    pub fn ping_until_answered(&self, address: &str, limit: Duration) -> Duration {
        self.wait_for(&format!("the client reaches {address}"), limit, || {
            self.ping(address, Duration::from_millis(300))
        })
    }

    /// The MAC address the client's neighbour table has for `address`, if any.
    pub fn client_neighbour(&self, address: &str) -> Option<String> {
        let out = must(&[
            "ip",
            "-n",
            &self.client.ns,
            "neigh",
            "show",
            address,
            "dev",
            DEV,
        ]);
        let mut words = out.split_whitespace();
        while let Some(w) = words.next() {
            if w == "lladdr" {
                return words.next().map(str::to_string);
            }
        }
        None
    }
}

/// The example configuration with the service script's path and the interval replaced
/// (both must be found: a changed example fails the test instead of being tested
/// unchanged by accident), and extra `failsvc` lines added.
pub fn render_tcl(example: &str, script: &Path, options: &BedOptions) -> String {
    let script_line = format!("set script /etc/init.d/{SERVICE}");
    let interval_line = format!("failsvc {SERVICE} interval 1");
    assert!(
        example.contains(&script_line) && example.contains(&interval_line),
        "the example configuration no longer has `{script_line}` and `{interval_line}`"
    );
    let mut text = example
        .replace(&script_line, &format!("set script {}", script.display()))
        .replace(
            &interval_line,
            &format!("failsvc {SERVICE} interval {}", options.interval),
        );
    for line in &options.failsvc {
        text.push_str(&format!("failsvc {SERVICE} {line}\n"));
    }
    if let Some(protocol) = options.protocol {
        assert!(
            text.contains(" protocol tcp\n"),
            "the example configuration no longer sets the protocol of its hosts"
        );
        text = text.replace(" protocol tcp\n", &format!(" protocol {protocol}\n"));
    }
    text
}

/// A fast example configuration (`lukretia-fast.tcl`, `macbeth-fast.tcl`) for the bed: its
/// interval, misses and timeout replaced by the bed's, its addresses by the bed's (with the
/// IPv6 one when the bed moves it), extra `failsvc` lines added. Every line it replaces
/// must be found, so that a changed example fails the test instead of passing untested.
pub fn render_fast_tcl(example: &str, options: &BedOptions) -> String {
    let timing = !options.fast_timing;
    let addresses = if options.ipv6 {
        format!("set addresses {{{VIP4}/24 {VIP6}/64}}")
    } else {
        format!("set addresses {{{VIP4}/24}}")
    };
    let replacements = [
        (
            format!("set interface {DEV}"),
            format!("set interface {DEV}"),
        ),
        (format!("set addresses {{{VIP4}/24}}"), addresses),
        (
            format!("failsvc {SERVICE} interval 0.005"),
            format!("failsvc {SERVICE} interval {}", options.interval),
        ),
        (
            format!("failsvc {SERVICE} misses 4"),
            format!("failsvc {SERVICE} misses 1"),
        ),
        (
            format!("failsvc {SERVICE} timeout 0.005"),
            format!("failsvc {SERVICE} timeout {}", options.interval),
        ),
    ];
    let mut text = example.to_string();
    for (index, (from, to)) in replacements.into_iter().enumerate() {
        assert!(
            text.lines().any(|l| l == from),
            "the fast example configuration no longer has the line `{from}`"
        );
        // The first two (interface, addresses) always; the timing unless it is kept.
        if index < 2 || timing {
            text = text.replace(&from, &to);
        }
    }
    for line in &options.failsvc {
        text.push_str(&format!("failsvc {SERVICE} {line}\n"));
    }
    if let Some(protocol) = options.protocol {
        let lines = text
            .lines()
            .filter(|l| l.ends_with(" protocol tcp"))
            .count();
        assert_eq!(
            lines, 2,
            "the fast example configuration no longer sets the protocol of its two hosts"
        );
        text = text.replace(" protocol tcp\n", &format!(" protocol {protocol}\n"));
    }
    text
}

/// One change of the failover address on a host, as `ip monitor address` reported it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddressEvent {
    /// Since the watch started (the time the line arrived).
    pub at: Duration,
    /// lukretia or macbeth.
    pub host: &'static str,
    /// Added (or renewed) rather than deleted.
    pub added: bool,
}

/// `ip monitor address` in both host namespaces, each line timestamped as it arrives: who
/// held 198.18.0.50 when, to the millisecond, between two 10 ms samples too.
#[derive(Debug)]
pub struct AddressWatch {
    children: Vec<Child>,
    readers: Vec<std::thread::JoinHandle<Vec<(Instant, String)>>>,
    started: Instant,
    /// Who held the address when the watch started.
    pub initial: (bool, bool),
}

impl Drop for AddressWatch {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl AddressWatch {
    pub fn start(bed: &Bed) -> AddressWatch {
        let mut children = Vec::new();
        let mut readers = Vec::new();
        for h in [&bed.lukretia, &bed.macbeth] {
            let mut child = Command::new("ip")
                .args(["-n", &h.ns, "monitor", "address"])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("start ip monitor");
            let stdout = child.stdout.take().expect("stdout");
            readers.push(std::thread::spawn(move || {
                use std::io::BufRead;
                std::io::BufReader::new(stdout)
                    .lines()
                    .map_while(Result::ok)
                    .map(|line| (Instant::now(), line))
                    .collect()
            }));
            children.push(child);
        }
        // ip monitor subscribes as it starts: give it a moment before anything happens.
        std::thread::sleep(Duration::from_millis(100));
        AddressWatch {
            children,
            readers,
            started: Instant::now(),
            initial: (bed.lukretia.holds(), bed.macbeth.holds()),
        }
    }

    /// Time since the watch started (to mark events in its timeline).
    pub fn now(&self) -> Duration {
        self.started.elapsed()
    }

    /// Stops the monitors and returns the changes of 198.18.0.50, in order.
    pub fn finish(mut self) -> Vec<AddressEvent> {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        let mut events = Vec::new();
        for (reader, host) in std::mem::take(&mut self.readers)
            .into_iter()
            .zip(["lukretia", "macbeth"])
        {
            for (at, line) in reader.join().expect("monitor reader") {
                if !line.contains(&format!("inet {VIP4}/")) {
                    continue;
                }
                events.push(AddressEvent {
                    at: at.saturating_duration_since(self.started),
                    host,
                    added: !line.starts_with("Deleted"),
                });
            }
        }
        events.sort_by_key(|e| e.at);
        events
    }
}

/// The stretches in which both hosts held the address, from the watch's events: (from, to).
/// The address events, one per line, for a failing assertion.
pub fn describe_events(events: &[AddressEvent]) -> String {
    events
        .iter()
        .map(|e| {
            format!(
                "  {:>8.3}s {} {}\n",
                e.at.as_secs_f64(),
                e.host,
                if e.added { "added/renewed" } else { "deleted" }
            )
        })
        .collect()
}

/// When `host` first added (or deleted) the address at or after `after`.
pub fn first_event(
    events: &[AddressEvent],
    host: &str,
    added: bool,
    after: Duration,
) -> Option<Duration> {
    events
        .iter()
        .find(|e| e.host == host && e.added == added && e.at >= after)
        .map(|e| e.at)
}

pub fn dual_holding(
    initial: (bool, bool),
    events: &[AddressEvent],
    end: Duration,
) -> Vec<(Duration, Duration)> {
    let (mut lukretia, mut macbeth) = initial;
    let mut since: Option<Duration> = (lukretia && macbeth).then_some(Duration::ZERO);
    let mut out = Vec::new();
    for e in events {
        match e.host {
            "lukretia" => lukretia = e.added,
            _ => macbeth = e.added,
        }
        match (lukretia && macbeth, since) {
            (true, None) => since = Some(e.at),
            (false, Some(from)) => {
                out.push((from, e.at));
                since = None;
            }
            _ => {}
        }
    }
    if let Some(from) = since {
        out.push((from, end));
    }
    out
}

/// Starts one of the tests' client programs (`vip-probe`, `http-keepalive`) in the client's
/// namespace, its output piped: the child, and when it started (monotonic and Unix time,
/// which its output lines carry).
fn start_client(bed: &Bed, name: &str, args: &[&str]) -> (Child, Instant, f64) {
    let program = bin_dir().join(name);
    assert!(
        program.is_file(),
        "{} is missing: cargo build -p failover-tests --bin {name}",
        program.display()
    );
    let started_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs_f64();
    let child = Command::new("ip")
        .args(["netns", "exec", &bed.client.ns])
        .arg(&program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("start {name}: {e}"));
    (child, Instant::now(), started_unix)
}

/// The client's probe: `vip-probe` (an ICMP echo every 10 ms) in the client's namespace.
#[derive(Debug)]
pub struct Probe {
    child: Child,
    started: Instant,
    started_unix: f64,
}

impl Drop for Probe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Probe {
    pub fn start(bed: &Bed) -> Probe {
        let (child, started, started_unix) =
            start_client(bed, "vip-probe", &["-i", "10", "-w", "120", VIP4]);
        Probe {
            child,
            started,
            started_unix,
        }
    }

    /// Time since the probe started.
    pub fn now(&self) -> Duration {
        self.started.elapsed()
    }

    /// Stops it; the times (since it started) at which answers arrived.
    pub fn finish(mut self) -> Vec<Duration> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let mut text = String::new();
        if let Some(mut out) = self.child.stdout.take() {
            use std::io::Read;
            let _ = out.read_to_string(&mut text);
        }
        text.lines()
            .filter_map(|l| l.strip_prefix("answer "))
            .filter_map(|l| l.split_whitespace().nth(1))
            .filter_map(|t| t.parse::<f64>().ok())
            .map(|t| Duration::from_secs_f64((t - self.started_unix).max(0.0)))
            .collect()
    }
}

/// The longest silence of the client (between two answers) after `from`.
pub fn longest_silence(answers: &[Duration], from: Duration) -> Duration {
    answers
        .windows(2)
        .filter(|w| w[1] >= from)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or_default()
}

/// Who held the address at one moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    /// Since the sampler started.
    pub at: Duration,
    pub lukretia: bool,
    pub macbeth: bool,
}

/// Samples both hosts every `period` with `ip -o addr show` in a thread, until stopped or
/// until its time limit.
#[derive(Debug)]
pub struct Sampler {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<Vec<Sample>>>,
    started: Instant,
}

impl Sampler {
    pub fn start(bed: &Bed, period: Duration, limit: Duration) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let (lu, ma) = (bed.lukretia.ns.clone(), bed.macbeth.ns.clone());
        let started = Instant::now();
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut samples = Vec::new();
            let mut next = Instant::now();
            while !flag.load(Ordering::SeqCst) && started.elapsed() < limit {
                let at = started.elapsed();
                let lukretia = holds(&lu);
                let macbeth = holds(&ma);
                samples.push(Sample {
                    at,
                    lukretia,
                    macbeth,
                });
                next += period;
                let now = Instant::now();
                if next > now {
                    std::thread::sleep(next - now);
                } else {
                    next = now;
                }
            }
            samples
        });
        Sampler {
            stop,
            thread: Some(thread),
            started,
        }
    }

    /// Time since the sampler started (to mark events in its timeline).
    pub fn now(&self) -> Duration {
        self.started.elapsed()
    }

    pub fn finish(mut self) -> Vec<Sample> {
        self.stop.store(true, Ordering::SeqCst);
        self.thread
            .take()
            .expect("thread")
            .join()
            .expect("sampler thread")
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The samples at or after `from` in which both hosts held the address.
pub fn both_held(samples: &[Sample], from: Duration) -> Vec<Sample> {
    samples
        .iter()
        .filter(|s| s.at >= from && s.lukretia && s.macbeth)
        .copied()
        .collect()
}

/// The largest gap between consecutive samples (to show the sampling really was dense).
pub fn largest_gap(samples: &[Sample]) -> Duration {
    samples
        .windows(2)
        .map(|w| w[1].at - w[0].at)
        .max()
        .unwrap_or_default()
}

/// A tcpdump capture on the client, killed on drop.
#[derive(Debug)]
pub struct Capture {
    child: Child,
    pub file: PathBuf,
}

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Capture {
    /// Starts tcpdump on `host`'s interface with `filter`; returns once it captures.
    pub fn start(host: &Host, name: &str, filter: &str) -> Capture {
        let file = host.dir.join(name);
        let mut child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &host.ns,
                "tcpdump",
                "-Z",
                "root",
                "-i",
                DEV,
                "-U",
                "-nn",
                // Without it libpcap hands frames over a ring block at a time (when it fills
                // or after about a second): a capture stopped sooner lost every frame.
                "--immediate-mode",
                "-w",
            ])
            .arg(&file)
            .arg(filter)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start tcpdump");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) if line.contains("listening on") => break,
                Ok(line) => seen.push(line),
                Err(_) => {
                    let _ = child.kill();
                    panic!("tcpdump did not start within 10 s: {seen:?}");
                }
            }
        }
        Capture { child, file }
    }

    /// Stops tcpdump (SIGINT, so it flushes) and returns tcpdump's own decoding of the
    /// capture (`tcpdump -r -nn -e -v`), one string per frame.
    pub fn finish(mut self) -> Vec<String> {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let out = must(&[
            "tcpdump",
            "-r",
            self.file.to_str().expect("utf-8 path"),
            "-nn",
            "-e",
            "-v",
        ]);
        let mut records: Vec<String> = Vec::new();
        for line in out.lines() {
            if line.starts_with(char::is_whitespace) {
                if let Some(last) = records.last_mut() {
                    last.push(' ');
                    last.push_str(line.trim());
                }
            } else if !line.is_empty() {
                records.push(line.to_string());
            }
        }
        records
    }
}

/// The web server port of the browser test (`http-answer` on both hosts).
pub const HTTP_PORT: u16 = 8080;

/// `http-answer` on every failover host of the bed (lukretia and macbeth): each answers on the
/// service address whenever it holds it. Killed when dropped (and with the bed's
/// namespaces), or after two minutes.
#[derive(Debug)]
pub struct WebServers(Vec<Child>);

impl Drop for WebServers {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub fn start_web_servers(bed: &Bed) -> WebServers {
    let program = bin_dir().join("http-answer");
    assert!(
        program.is_file(),
        "{} is missing: cargo build -p failover-tests --bin http-answer",
        program.display()
    );
    let mut servers = WebServers(Vec::new());
    for host in [&bed.lukretia, &bed.macbeth] {
        let child = host
            .command(program.to_str().expect("utf-8 path"))
            .args(["-w", "120", &HTTP_PORT.to_string(), host.name])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start http-answer");
        servers.0.push(child);
    }
    servers
}

/// One request of the browser: answered (by which host) or failed (why), at a time since
/// the client started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub at: Duration,
    /// The host that answered; `None`: the request failed.
    pub answered_by: Option<String>,
    pub failure: Option<String>,
}

/// The browser: `http-keepalive` (one keep-alive connection to the service address, a GET
/// every 10 ms, each given 200 ms) in the client's namespace.
#[derive(Debug)]
pub struct Browser {
    child: Child,
    started: Instant,
    started_unix: f64,
    /// With FAILOVER_KEEP_LOGS: where its output is written too, next to the bed's logs.
    keep: Option<PathBuf>,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Browser {
    pub fn start(bed: &Bed) -> Browser {
        let target = format!("{VIP4}:{HTTP_PORT}");
        let (child, started, started_unix) = start_client(
            bed,
            "http-keepalive",
            &["-i", "10", "-t", "200", "-w", "120", &target],
        );
        let keep = std::env::var_os("FAILOVER_KEEP_LOGS").map(|_| bed.dir.join("browser.txt"));
        Browser {
            child,
            started,
            started_unix,
            keep,
        }
    }

    /// Time since the browser started.
    pub fn now(&self) -> Duration {
        self.started.elapsed()
    }

    /// Stops it; every request it made, in order.
    pub fn finish(mut self) -> Vec<Request> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut text = String::new();
        if let Some(mut out) = self.child.stdout.take() {
            use std::io::Read;
            let _ = out.read_to_string(&mut text);
        }
        if let Some(path) = &self.keep {
            let _ = std::fs::write(path, &text);
        }
        text.lines()
            .filter_map(|line| {
                let mut words = line.splitn(4, ' ');
                let kind = words.next()?;
                let _seq = words.next()?;
                let at = words.next()?.parse::<f64>().ok()?;
                let rest = words.next().unwrap_or("").to_string();
                let at = Duration::from_secs_f64((at - self.started_unix).max(0.0));
                match kind {
                    "answer" => Some(Request {
                        at,
                        answered_by: Some(rest),
                        failure: None,
                    }),
                    "failed" => Some(Request {
                        at,
                        answered_by: None,
                        failure: Some(rest),
                    }),
                    _ => None,
                }
            })
            .collect()
    }
}

/// What the browser saw of one transition between `from` and `to`: failed requests, the
/// longest time between two answered ones (from the last answer before `from`), and who
/// answered first and last.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrowserView {
    /// The requests around the longest gap (time since the client started, who or why).
    pub around_gap: Vec<String>,
    pub failed: Vec<String>,
    pub longest_gap: Duration,
    pub first: Option<String>,
    pub last: Option<String>,
}

pub fn browser_view(requests: &[Request], from: Duration, to: Duration) -> BrowserView {
    let answered: Vec<&Request> = requests
        .iter()
        .filter(|r| r.answered_by.is_some())
        .collect();
    let before = answered.iter().rev().find(|r| r.at < from).copied();
    let during: Vec<&Request> = answered
        .iter()
        .filter(|r| r.at >= from && r.at <= to)
        .copied()
        .collect();
    let (gap_from, longest_gap) = before
        .into_iter()
        .chain(during.iter().copied())
        .collect::<Vec<_>>()
        .windows(2)
        .map(|w| (w[0].at, w[1].at - w[0].at))
        .max_by_key(|(_, gap)| *gap)
        .unwrap_or_default();
    let around_gap = requests
        .iter()
        .filter(|r| r.at >= gap_from && r.at <= gap_from + longest_gap)
        .map(|r| {
            format!(
                "{:.1} ms {}",
                r.at.as_secs_f64() * 1000.0,
                r.answered_by
                    .as_deref()
                    .or(r.failure.as_deref())
                    .unwrap_or("")
            )
        })
        .collect();
    BrowserView {
        around_gap,
        failed: requests
            .iter()
            .filter(|r| r.at >= from && r.at <= to)
            .filter_map(|r| r.failure.clone())
            .collect(),
        longest_gap,
        first: before.and_then(|r| r.answered_by.clone()),
        last: during.last().and_then(|r| r.answered_by.clone()),
    }
}
