//! Helpers shared by the integration tests: find the programs, run them under guards that
//! kill them when the test ends (also when it fails), wait for conditions with a bound,
//! private temporary directories, memory readings.
//!
//! The programs live in the `failover-cli` package, whose binaries cargo does not build for
//! another package's tests. [`program`] therefore runs `cargo build -p failover-cli --bins`
//! once per test process (with `--release` when the tests themselves are a release build)
//! and takes the binaries from the directory that holds the running test executable
//! (`target/<profile>/deps/..`), which is right for any `CARGO_TARGET_DIR` and profile.
//! Set `FAILOVER_BIN_DIR` to use already built programs from another directory instead.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The directory holding the built programs.
pub fn bin_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        if let Some(dir) = std::env::var_os("FAILOVER_BIN_DIR") {
            return PathBuf::from(dir);
        }
        let exe = std::env::current_exe().expect("the test executable's path");
        // target/<profile>/deps/<test> -> target/<profile>
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("test executable inside target/<profile>/deps")
            .to_path_buf();
        let release = profile_dir.file_name().is_some_and(|n| n == "release");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
        let mut build = Command::new(cargo);
        build
            .args([
                "build",
                "--quiet",
                "-p",
                "failover-cli",
                "--bins",
                "--manifest-path",
            ])
            .arg(&manifest);
        if release {
            build.arg("--release");
        }
        if let Some(target) = profile_dir.parent() {
            build.env("CARGO_TARGET_DIR", target);
        }
        let status = build.status().expect("run cargo build for the programs");
        assert!(
            status.success(),
            "cargo build -p failover-cli --bins failed"
        );
        profile_dir
    })
}

/// How the tests run Debian's Chromium: headless, without a sandbox (they run as root), and
/// without anything that reaches beyond loopback (updates, sync, QUIC).
pub const HEADLESS_CHROMIUM: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
];

/// The path of program `name` (faild, failc, failstat, failsh, ...).
pub fn program(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// A command for program `name`.
pub fn command(name: &str) -> Command {
    Command::new(program(name))
}

/// Runs a command to its end, with a bound: it is killed after `limit`.
pub fn run_with_limit(command: &mut Command, limit: Duration) -> Output {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = command.spawn().expect("spawn");
    let guard = Guarded::new(child);
    let started = Instant::now();
    let mut child =
        guard.into_inner_when(|c| matches!(c.try_wait(), Ok(Some(_))) || started.elapsed() > limit);
    let _ = child.kill();
    child.wait_with_output().expect("collect output")
}

/// A child process that is killed (SIGKILL) and reaped when the guard is dropped.
#[derive(Debug)]
pub struct Guarded {
    child: Option<Child>,
}

impl Guarded {
    pub fn new(child: Child) -> Guarded {
        Guarded { child: Some(child) }
    }

    pub fn spawn(command: &mut Command) -> io::Result<Guarded> {
        command.spawn().map(Guarded::new)
    }

    pub fn id(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    pub fn child(&mut self) -> &mut Child {
        self.child.as_mut().expect("child present")
    }

    /// Sends a signal (by number) to the child.
    pub fn signal(&self, signal: i32) {
        let pid = self.id();
        let _ = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .status();
    }

    /// Waits up to `limit` for the child to exit; its exit code, if it did.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child().try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    /// Polls until `done` says so (bounded by the caller), then hands the child over.
    fn into_inner_when(mut self, mut done: impl FnMut(&mut Child) -> bool) -> Child {
        while !done(self.child()) {
            std::thread::sleep(Duration::from_millis(5));
        }
        self.child.take().expect("child present")
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Kills a process by pid when dropped (for daemons that detached from their starter).
#[derive(Debug)]
pub struct PidGuard(pub u32);

impl Drop for PidGuard {
    fn drop(&mut self) {
        if self.0 > 1 {
            let _ = Command::new("kill")
                .arg("-9")
                .arg(self.0.to_string())
                .status();
        }
    }
}

/// Polls `condition` every 10 ms until it holds or `limit` passes; whether it held.
pub fn wait_until(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A private directory under the system's temporary directory, removed when dropped.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let path =
            std::env::temp_dir().join(format!("failover-test-{label}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).expect("create a temporary directory");
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// Resident memory of a process in KiB (VmRSS of /proc/PID/status), if readable.
pub fn vm_rss_kib(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// A port that was free for both UDP and TCP on 127.0.0.1 a moment ago. Prefer letting the
/// server bind port 0 and report its port; use this for "nothing listens here" tests.
pub fn free_port() -> u16 {
    for _ in 0..100 {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind UDP");
        let port = udp.local_addr().expect("local address").port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port found in 100 tries");
}

/// For tests that need something this machine may lack: prints `SKIPPED (why)` and returns
/// normally only if FAILOVER_ALLOW_SKIP=1, else fails the test.
pub fn skip(why: &str) {
    eprintln!("SKIPPED ({why})");
    assert!(
        std::env::var("FAILOVER_ALLOW_SKIP").as_deref() == Ok("1"),
        "cannot run: {why} (set FAILOVER_ALLOW_SKIP=1 to skip)"
    );
}

/// Text of a byte buffer, lossy.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub mod abuse;
pub mod faild;
pub mod netns;
pub mod systemd;
