//! Helpers of the failsh loopback tests: two "hosts" on 127.0.0.1 (lukretia) and 127.0.0.2
//! (macbeth), each with its own faild on a free port, failsh configurations whose procedures
//! touch or remove a marker file (who holds the service), and process guards that kill on
//! Drop.
#![allow(dead_code)]

use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub const SERVICE: &str = "198.18.0.50";
pub const INTERVAL_S: f64 = 0.2;
pub const MISSES: u64 = 1;

pub fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("FAILOVER_BIN_DIR") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().expect("current exe");
    exe.parent()
        .and_then(Path::parent)
        .expect("profile directory")
        .to_path_buf()
}

pub fn program(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(
        path.is_file(),
        "{} is missing: run `cargo build -p failover-cli --bins` first (or set FAILOVER_BIN_DIR)",
        path.display()
    );
    path
}

/// A port free for both TCP and UDP on `ip` right now, taken from below the kernel's
/// ephemeral range: a port from that range (what binding port 0 gives) can be taken a
/// moment later as the source port of any outgoing connection, and the attack in
/// faild_abuse opens about a thousand a second (failsh then could not bind its monitor
/// port). Below the range only an explicit bind can take it.
pub fn free_port(ip: &str) -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse::<u32>().ok())
        .unwrap_or(32768);
    // 8,000 ports just below the range (from 10000 at least), spread by process id so that
    // test binaries running at once start in different places.
    let floor = low.saturating_sub(8000).max(10000);
    let span = low.saturating_sub(floor).max(1);
    for _ in 0..500 {
        let offset = (std::process::id() * 7919 + NEXT.fetch_add(1, Ordering::Relaxed)) % span;
        let Ok(port) = u16::try_from(floor + offset) else {
            continue;
        };
        if TcpListener::bind((ip, port)).is_ok() && UdpSocket::bind((ip, port)).is_ok() {
            return port;
        }
    }
    panic!("no free port on {ip} below the ephemeral range (from {low})");
}

/// A process killed (SIGKILL) and reaped when dropped.
#[derive(Debug)]
pub struct Daemon {
    pub name: String,
    pub child: Option<Child>,
    pub log: PathBuf,
}

impl Daemon {
    pub fn spawn(name: &str, mut command: Command, log: &Path) -> Daemon {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("log file");
        command
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log"))
            .stderr(file);
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Daemon {
            name: name.to_string(),
            child: Some(child),
            log: log.to_path_buf(),
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().expect("running").id() as i32
    }

    /// `signal`: TERM, HUP, INT, KILL.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .expect("kill");
        assert!(status.success(), "kill -{signal} {}", self.name);
    }

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits (bounded) for the process to exit by itself; true if it did.
    pub fn wait_exit(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(_)) = child.try_wait() {
                    self.child = None;
                    return true;
                }
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}

static NEXT_DIR: AtomicU32 = AtomicU32::new(0);

/// A scratch directory removed on Drop.
#[derive(Debug)]
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(test: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!(
            "failsh-{test}-{}-{}",
            std::process::id(),
            NEXT_DIR.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if std::env::var_os("FAILSH_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// One host of the pair.
#[derive(Debug)]
pub struct Host {
    pub name: &'static str,
    pub ip: &'static str,
    pub port: u16,
    pub dir: PathBuf,
    pub runtime: &'static str,
    pub faild: Option<Daemon>,
    pub failsh: Option<Daemon>,
    pub monitor_port: u16,
    /// More environment for the programs this host starts (NOTIFY_SOCKET, ...).
    pub env: Vec<(String, String)>,
}

impl Host {
    pub fn new(name: &'static str, ip: &'static str, root: &Path, runtime: &'static str) -> Host {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).expect("host dir");
        std::fs::write(dir.join("communities"), "* genesis RW\n* public RO\n")
            .expect("communities");
        // The service script of the seed, reduced to what the test can see: the marker
        // file is "the address is configured here".
        std::fs::write(
            dir.join("service.sh"),
            format!(
                "#!/bin/sh\nmarker='{}'\ncase \"$1\" in\n  up) echo {name} > \"$marker\";;\n  down) rm -f \"$marker\";;\n  reclaim) echo {name} > \"$marker\";;\n  hang) sleep 60;;\nesac\nexit 0\n",
                dir.join("holds").display()
            ),
        )
        .expect("service script");
        Host {
            name,
            ip,
            port: free_port(ip),
            dir,
            runtime,
            faild: None,
            failsh: None,
            monitor_port: 0,
            env: Vec::new(),
        }
    }

    pub fn marker(&self) -> PathBuf {
        self.dir.join("holds")
    }

    pub fn holds(&self) -> bool {
        self.marker().exists()
    }

    pub fn log(&self) -> PathBuf {
        self.dir.join("failsh.log")
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.log()).unwrap_or_default()
    }

    /// The configuration in the style of examples/lukretia.tcl and macbeth.tcl.
    pub fn write_config(&self, other: &Host, role_master: bool, extra: &str) -> PathBuf {
        let script = self.dir.join("service.sh");
        let (stop_state, relation) = if role_master {
            ("FAIL", format!("failsvc {SERVICE} slaves {}", other.name))
        } else {
            (
                "RECOVER",
                format!("failsvc {SERVICE} masters {}", other.name),
            )
        };
        let text = format!(
            r#"# IP address failover on host {name}
proc startservice {{}} {{
    exec /bin/sh {script} up
    return "UP"
}}
proc stopservice {{}} {{
    exec /bin/sh {script} down
    return "{stop_state}"
}}
proc reclaimservice {{}} {{
    exec /bin/sh {script} reclaim
    return "UP"
}}
failsvc {SERVICE} create
failsvc {SERVICE} interval {INTERVAL_S}
failsvc {SERVICE} start startservice
failsvc {SERVICE} stop stopservice
failsvc {SERVICE} reclaim reclaimservice
{relation}
{extra}
failhost {other_name} address {other_ip}
failhost {other_name} port {other_port}
failhost {other_name} protocol tcp
failhost {other_name} community public

failhost localhost address {ip}
failhost localhost port {port}
failhost localhost protocol tcp
failhost localhost community genesis
"#,
            name = self.name,
            script = script.display(),
            other_name = other.name,
            other_ip = other.ip,
            other_port = other.port,
            ip = self.ip,
            port = self.port,
        );
        let path = self.dir.join(format!("{}.tcl", self.name));
        std::fs::write(&path, text).expect("config");
        path
    }

    pub fn start_faild(&mut self) {
        self.start_faild_with(&[]);
    }

    /// [`Host::start_faild`] with more options for faild.
    pub fn start_faild_with(&mut self, extra: &[&str]) {
        let mut command = Command::new(program("faild"));
        command.args(["-F", "--runtime", self.runtime, "-a", self.ip, "-p"]);
        command.arg(self.port.to_string());
        command.arg("-c").arg(self.dir.join("communities"));
        command.arg("-s").arg(self.dir.join("faild.state"));
        command.args(extra);
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        let log = self.dir.join("faild.log");
        self.faild = Some(Daemon::spawn("faild", command, &log));
        // Ready when it answers.
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect((self.ip, self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "faild of {} does not answer: {}",
            self.name,
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    pub fn start_failsh(&mut self, config: &Path, extra_args: &[&str]) {
        self.monitor_port = free_port("127.0.0.1");
        let mut command = Command::new(program("failsh"));
        command.args(["-F", "-d", "decision", "--runtime", self.runtime, "-f"]);
        command.arg(config);
        command.arg("-m").arg(self.monitor_port.to_string());
        command.arg("-l").arg(self.dir.join("dump"));
        command.arg("-i").arg(self.dir.join("failsh.pid"));
        command.args(extra_args);
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        let log = self.log();
        self.failsh = Some(Daemon::spawn("failsh", command, &log));
    }

    fn failstat_raw(&self) -> Option<String> {
        let output = Command::new(program("failstat"))
            .args([
                "-H",
                self.ip,
                "-p",
                &self.port.to_string(),
                "-c",
                "genesis",
                "-T",
                "--json",
            ])
            .arg(SERVICE)
            .output()
            .ok()?;
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// The state faild holds for the service ("UP", "RECOVER", "FAIL"), or None.
    pub fn state(&self) -> Option<String> {
        let text = self.failstat_raw()?;
        let json: serde_json::Value = serde_json::from_str(&text).ok()?;
        json["services"][0]["state"].as_str().map(str::to_string)
    }

    pub fn failc(&self, state: &str) {
        self.failc_service(SERVICE, state);
    }

    /// `failc -s STATE SERVICE` on this host's faild.
    pub fn failc_service(&self, service: &str, state: &str) {
        let output = Command::new(program("failc"))
            .args([
                "-H",
                self.ip,
                "-p",
                &self.port.to_string(),
                "-c",
                "genesis",
                "-T",
                "-s",
                state,
            ])
            .arg(service)
            .output()
            .expect("failc");
        assert!(
            output.status.success(),
            "failc -s {state} on {}: {}",
            self.name,
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// Polls `condition` every 5 ms until it holds or `limit` passes; the time it took.
pub fn wait_until(what: &str, limit: Duration, mut condition: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while start.elapsed() < limit {
        if condition() {
            return start.elapsed();
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("timed out after {limit:?} waiting for: {what}");
}

/// Waits (10 s at most) until lukretia's and macbeth's faild say `want_l` and `want_m`.
///
/// A host wanted UP must also hold the service: failsh writes UP (with a "starting: " note)
/// before its start runs, so that UP alone can come before the start's marker, and a test
/// that then fails the service would remove a marker the start writes only afterwards.
pub fn wait_states(l: &Host, m: &Host, want_l: &str, want_m: &str, what: &str) {
    let reached = |host: &Host, want: &str| {
        host.state().as_deref() == Some(want) && (want != "UP" || host.holds())
    };
    wait_until(what, Duration::from_secs(10), || {
        reached(l, want_l) && reached(m, want_m)
    });
}

/// Both faild running, the service registered RECOVER on both (boot script, then the service
/// script's `start`).
pub fn pair(test: &str, runtime: &'static str) -> (Scratch, Host, Host) {
    let scratch = Scratch::new(test);
    let mut l = Host::new("lukretia", "127.0.0.1", &scratch.0, runtime);
    let mut m = Host::new("macbeth", "127.0.0.2", &scratch.0, runtime);
    l.start_faild();
    m.start_faild();
    l.failc("FAIL");
    m.failc("FAIL");
    l.failc("RECOVER");
    m.failc("RECOVER");
    (scratch, l, m)
}
