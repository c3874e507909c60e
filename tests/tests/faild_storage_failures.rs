//! faild whose state file cannot be written: a full file system (a small tmpfs, mounted in
//! a private mount namespace the test creates, so nothing is mounted on the machine) and
//! no file descriptors left (RLIMIT_NOFILE lowered on the running faild with prlimit).
//! Either way `failc -s` exits 7 (not stored) naming the reason, failstat and the file on
//! disk keep the old state, and a restarted faild (on the still full disk) reports it; once
//! there is room again, changes are stored again.

use failover_tests::faild::{describe, runtimes, Faild};
use failover_tests::netns::{have, is_root};
use failover_tests::{skip, text, Guarded, TempDir};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const COMMUNITIES: &str = "* public RW 127.0.0.1/32\n";

/// A tmpfs of 256 KiB mounted on `mount_point` in a new, private mount namespace, held by a
/// `sleep` (at most 300 s). Its processes and its mount go when it is dropped: killing the
/// holder (and every faild run in it) ends the namespace, and with it the mount.
struct PrivateTmpfs {
    holder: Guarded,
    mount_point: PathBuf,
}

impl PrivateTmpfs {
    fn new(mount_point: &Path) -> Result<PrivateTmpfs, String> {
        let script = format!(
            "mount -t tmpfs -o size=256k,mode=0755 failover-test '{}' && echo mounted && exec sleep 300",
            mount_point.display()
        );
        let mut command = Command::new("unshare");
        command
            .args(["-m", "--propagation", "private", "sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut holder = Guarded::spawn(&mut command).map_err(|e| e.to_string())?;
        let stdout = holder.child().stdout.take().expect("stdout");
        let mut line = String::new();
        // Bounded: the shell either mounts and says so or exits (closing stdout).
        let _ = BufReader::new(stdout).read_line(&mut line);
        if line.trim() != "mounted" {
            let mut why = String::new();
            if let Some(mut stderr) = holder.child().stderr.take() {
                let _ = std::io::Read::read_to_string(&mut stderr, &mut why);
            }
            return Err(format!(
                "cannot mount a tmpfs in a new mount namespace: {why}"
            ));
        }
        Ok(PrivateTmpfs {
            holder,
            mount_point: mount_point.to_path_buf(),
        })
    }

    /// `path` inside the namespace, as the test (outside it) sees it.
    fn outside(&self, path: &Path) -> PathBuf {
        PathBuf::from(format!("/proc/{}/root{}", self.holder.id(), path.display()))
    }

    /// The command prefix that runs a program in the namespace.
    fn enter(&self) -> Vec<String> {
        vec![
            "nsenter".into(),
            "-t".into(),
            self.holder.id().to_string(),
            "-m".into(),
        ]
    }

    /// Fills the file system; returns the filler's path (outside view).
    fn fill(&self) -> PathBuf {
        let filler = self.outside(&self.mount_point.join("filler"));
        let mut file = std::fs::File::create(&filler).expect("create the filler");
        let block = vec![0u8; 4096];
        // Bounded: 256 KiB of room, so at most 64 blocks.
        for _ in 0..1024 {
            if file.write_all(&block).is_err() {
                break;
            }
        }
        let _ = file.sync_all();
        filler
    }
}

fn state_line(state_file: &Path, service: &str) -> String {
    std::fs::read_to_string(state_file)
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(&format!("{service} ")))
        .unwrap_or("")
        .to_string()
}

/// Asserts what "not stored" means from the outside: exit 7 naming `reason`, failstat and
/// the file on disk still say UP.
fn assert_not_stored(faild: &Faild, state_outside: &Path, reason: &str, what: &str) {
    for protocol in ["-U", "-T"] {
        if protocol == "-T" && reason.contains("open files") {
            // faild cannot even accept a TCP connection without a descriptor.
            continue;
        }
        let out = faild.client("failc", &[protocol, "-s", "FAIL", "-b", "macbeth", "svc"]);
        assert_eq!(
            out.status.code(),
            Some(7),
            "{what} {protocol}: {}",
            describe(&out)
        );
        let stderr = text(&out.stderr);
        eprintln!("{what} {protocol}: failc exit 7: {}", stderr.trim());
        assert!(
            stderr.contains("could not store") && stderr.contains(reason),
            "{what} {protocol}: {stderr}"
        );
    }
    assert_eq!(faild.state_of("public", "svc"), "UP", "{what}");
    assert!(
        state_line(state_outside, "svc").starts_with("svc UP "),
        "{what}: the file says {:?}",
        state_line(state_outside, "svc")
    );
}

#[test]
fn a_full_file_system_keeps_the_old_state_everywhere() {
    if !is_root() || !have("unshare") || !have("nsenter") {
        skip("root, unshare and nsenter are needed to mount a tmpfs in a private namespace");
        return;
    }
    for runtime in runtimes() {
        let dir = TempDir::new("full-disk");
        let mount_point = dir.join("mnt");
        std::fs::create_dir_all(&mount_point).unwrap();
        let tmpfs = match PrivateTmpfs::new(&mount_point) {
            Ok(tmpfs) => tmpfs,
            Err(why) => {
                skip(&why);
                return;
            }
        };
        let state = mount_point.join("faild.state");
        let state_outside = tmpfs.outside(&state);
        let enter = tmpfs.enter();
        let enter: Vec<&str> = enter.iter().map(String::as_str).collect();
        let start = || Faild::start_wrapped(&dir, runtime, Some(COMMUNITIES), &[], &enter, &state);
        let mut faild = start().unwrap();
        let out = faild.client("failc", &["-s", "UP", "-b", "macbeth", "svc"]);
        assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
        assert!(state_line(&state_outside, "svc").starts_with("svc UP "));
        // Nothing is mounted where the test runs.
        assert!(!std::fs::read_to_string("/proc/self/mounts")
            .unwrap()
            .contains(&mount_point.display().to_string()));

        let filler = tmpfs.fill();
        assert_not_stored(&faild, &state_outside, "No space left on device", runtime);
        // No temporary file is left behind by the failed writes.
        let names: Vec<String> = std::fs::read_dir(tmpfs.outside(&mount_point))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            names.iter().all(|n| !n.contains(".tmp.")),
            "{runtime}: {names:?}"
        );

        // A restart on the still full disk serves the old state.
        faild.process.signal(15);
        assert!(faild.process.wait_exit(Duration::from_secs(5)).is_some());
        let faild = start().unwrap();
        assert!(
            faild.log_text().contains("with 1 services"),
            "{runtime}: {}",
            faild.log_text()
        );
        assert_eq!(
            faild.state_of("public", "svc"),
            "UP",
            "{runtime} after restart"
        );

        // Room again: changes are stored again.
        std::fs::remove_file(filler).unwrap();
        let out = faild.client("failc", &["-s", "FAIL", "svc"]);
        assert_eq!(out.status.code(), Some(0), "{runtime}: {}", describe(&out));
        assert!(state_line(&state_outside, "svc").starts_with("svc FAIL "));
        drop(faild);
        drop(tmpfs);
    }
}

/// The file descriptors numbered below the `free`-th unused one, which as RLIMIT_NOFILE
/// leaves exactly `free` descriptors that can still be opened.
fn limit_leaving(pid: u32, free: usize) -> u64 {
    let used: std::collections::BTreeSet<u64> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("faild's descriptors")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    let mut unused = (0u64..).filter(|fd| !used.contains(fd));
    unused.nth(free).expect("a free descriptor number")
}

fn prlimit(pid: u32, limit: u64) {
    let status = Command::new("prlimit")
        .arg(format!("--pid={pid}"))
        .arg(format!("--nofile={limit}:{limit}"))
        .status()
        .expect("prlimit");
    assert!(status.success(), "prlimit --nofile={limit}");
}

#[test]
fn no_file_descriptors_left_keeps_the_old_state_everywhere() {
    if !have("prlimit") {
        skip("prlimit (util-linux) is needed to lower faild's RLIMIT_NOFILE");
        return;
    }
    for runtime in runtimes() {
        // No descriptor left, and one left (the write needs two: the directory's and the
        // temporary file's; with one, nothing may change either).
        for free in [0, 1] {
            let dir = TempDir::new("no-fds");
            let mut faild = Faild::start(&dir, runtime, Some(COMMUNITIES), &[]).unwrap();
            let out = faild.client("failc", &["-s", "UP", "-b", "macbeth", "svc"]);
            assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
            let pid = faild.process.id();
            let limit = limit_leaving(pid, free);
            prlimit(pid, limit);
            let what = format!("{runtime}, {free} descriptors left (limit {limit})");
            assert_not_stored(&faild, &faild.state, "Too many open files", &what);
            // Still exactly the old file, no temporary left over.
            let names: Vec<String> = std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            assert!(
                names.iter().all(|n| !n.contains(".tmp.")),
                "{what}: {names:?}"
            );

            // A restart (with descriptors) reports the old state.
            faild.process.signal(15);
            assert!(faild.process.wait_exit(Duration::from_secs(5)).is_some());
            let started = Instant::now();
            let faild = Faild::start(&dir, runtime, Some(COMMUNITIES), &[]).unwrap();
            assert_eq!(
                faild.state_of("public", "svc"),
                "UP",
                "{what} after restart"
            );
            assert!(started.elapsed() < Duration::from_secs(10));
            let out = faild.client("failc", &["-s", "FAIL", "svc"]);
            assert_eq!(out.status.code(), Some(0), "{what}: {}", describe(&out));
        }
    }
}
