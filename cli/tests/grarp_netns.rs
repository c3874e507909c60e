//! grarp on a real link: two network namespaces joined by a veth pair, the real `grarp`
//! binary in one, `tcpdump` capturing in the other. Root only (CI runs as root).
//!
//! Network safety: everything lives in namespaces named `fo-ga-<pid>-<n>-{a,b}` that this test
//! creates; the veth pair is created inside them (never in the root namespace); addresses are
//! 198.18.0.0/24 and 2001:db8::/64 inside the namespaces only; no routes are added. A guard
//! deletes the namespaces (and with them the veth pair) on every exit path, and leftovers of a
//! crashed earlier run (namespaces of this prefix whose pid is gone) are deleted first. Every
//! command and wait is bounded in time.
//!
//! The receiving side needs no sysctl: Linux updates an *existing* neighbour entry from a
//! gratuitous ARP (request, or reply whose target MAC equals its sender MAC) immediately, and
//! from an unsolicited neighbour advertisement with the Override flag. The test therefore first
//! plants a STALE entry pointing at a wrong MAC (creating entries from unsolicited frames would
//! need `arp_accept=1` / `accept_untracked_na`).
#![cfg(target_os = "linux")]

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use failover_arp::{parse_frame, Announcement, ArpOp, MacAddr};
use support::{clean_leftovers, have, must, root_or_skip, run_with_timeout, sh, CMD_TIMEOUT};

const PREFIX: &str = "fo-ga-";
const MAC_A: &str = "02:fa:00:00:00:0a";
const MAC_B: &str = "02:fa:00:00:00:0b";
const WRONG_MAC: &str = "02:00:00:00:00:01";
const VIP4: &str = "198.18.0.50";
const VIP6: &str = "2001:db8::50";

static NEXT: AtomicU32 = AtomicU32::new(0);

/// Two namespaces joined by a veth pair; removed on drop (also when a test panics).
struct Bed {
    a: String,
    b: String,
    dir: PathBuf,
}

impl Drop for Bed {
    fn drop(&mut self) {
        // Deleting a namespace destroys its end of the veth pair, and with it the pair.
        let _ = sh(&["ip", "netns", "del", &self.a]);
        let _ = sh(&["ip", "netns", "del", &self.b]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Bed {
    fn new() -> Bed {
        clean_leftovers(PREFIX, "grarp_netns");
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let base = format!("{PREFIX}{}-{n}", std::process::id());
        let dir = std::env::temp_dir().join(&base);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let bed = Bed {
            a: format!("{base}-a"),
            b: format!("{base}-b"),
            dir,
        };
        must(&["ip", "netns", "add", &bed.a]);
        must(&["ip", "netns", "add", &bed.b]);
        let (a, b) = (bed.a.as_str(), bed.b.as_str());
        // The veth pair is created inside namespace a, its peer moved straight into b.
        must(&[
            "ip", "-n", a, "link", "add", "ga0", "type", "veth", "peer", "name", "ga1", "netns", b,
        ]);
        must(&["ip", "-n", a, "link", "set", "ga0", "address", MAC_A]);
        must(&["ip", "-n", b, "link", "set", "ga1", "address", MAC_B]);
        for (ns, dev, v4, v6) in [
            (a, "ga0", "198.18.0.1/24", "2001:db8::1/64"),
            (b, "ga1", "198.18.0.2/24", "2001:db8::2/64"),
        ] {
            must(&["ip", "-n", ns, "link", "set", "lo", "up"]);
            must(&["ip", "-n", ns, "addr", "add", v4, "dev", dev]);
            must(&["ip", "-n", ns, "-6", "addr", "add", v6, "dev", dev, "nodad"]);
            must(&["ip", "-n", ns, "link", "set", dev, "up"]);
        }
        // IPv6 delivers multicast (ff02::1, where the advertisements go) only once the
        // kernel has set the link up for IPv6 and added its ff00::/8 route, which happens
        // shortly after the carrier comes up (link watch): wait for it, bounded.
        for (ns, dev) in [(a, "ga0"), (b, "ga1")] {
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                let routes = must(&[
                    "ip", "-n", ns, "-6", "route", "show", "table", "local", "dev", dev,
                ]);
                if routes.contains("ff00::/8") {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "{dev} in {ns} not ready for IPv6: {routes}"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        // The service address is held by a (grarp does not require it, but this is the case
        // it exists for).
        must(&[
            "ip",
            "-n",
            a,
            "addr",
            "add",
            &format!("{VIP4}/32"),
            "dev",
            "ga0",
        ]);
        must(&[
            "ip",
            "-n",
            a,
            "-6",
            "addr",
            "add",
            &format!("{VIP6}/128"),
            "dev",
            "ga0",
            "nodad",
        ]);
        bed
    }

    fn grarp(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.a, env!("CARGO_BIN_EXE_grarp")])
            .args(args);
        run_with_timeout(&mut cmd, CMD_TIMEOUT)
    }

    fn neigh(&self, addr: &str) -> String {
        must(&["ip", "-n", &self.b, "neigh", "show", addr, "dev", "ga1"])
    }
}

/// A running tcpdump in namespace b; killed on drop.
struct Capture {
    child: Child,
    file: PathBuf,
}

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Capture {
    fn start(bed: &Bed) -> Capture {
        let file = bed.dir.join("grarp.pcap");
        // Only frames from a's MAC that are ARP or neighbour advertisements (type 136).
        let filter = format!("ether src {MAC_A} and (arp or (icmp6 and ip6[40] == 136))");
        let mut child = Command::new("ip")
            .args([
                "netns", "exec", &bed.b, "tcpdump", "-i", "ga1", "-U", "-nn", "-w",
            ])
            .arg(&file)
            .arg(&filter)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start tcpdump");
        // tcpdump says "listening on ga1" on stderr once it captures.
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

    /// Waits (bounded) until `n` frames are in the file, lingers to catch any extra frame,
    /// then stops tcpdump and returns the frames.
    fn finish(mut self, n: usize) -> Vec<Vec<u8>> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while read_pcap(&self.file).len() < n && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(300));
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        read_pcap(&self.file)
    }
}

/// The frames of a classic pcap file (as tcpdump -w writes it), read without a pcap library.
fn read_pcap(path: &Path) -> Vec<Vec<u8>> {
    let Ok(data) = std::fs::read(path) else {
        return Vec::new();
    };
    if data.len() < 24 {
        return Vec::new();
    }
    let le = match data[..4] {
        [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] => true,
        [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d] => false,
        _ => panic!("{} is not a pcap file", path.display()),
    };
    let u32_at = |o: usize| {
        let b = [data[o], data[o + 1], data[o + 2], data[o + 3]];
        if le {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        }
    };
    assert_eq!(u32_at(20), 1, "link type must be Ethernet");
    let mut frames = Vec::new();
    let mut off = 24;
    while off + 16 <= data.len() {
        let caplen = u32_at(off + 8) as usize;
        if off + 16 + caplen > data.len() {
            break; // a record still being written
        }
        frames.push(data[off + 16..off + 16 + caplen].to_vec());
        off += 16 + caplen;
    }
    frames
}

/// tcpdump's own decoding of the capture, one string per frame (continuation lines joined).
fn tcpdump_decode(file: &Path) -> Vec<String> {
    let out = must(&[
        "tcpdump",
        "-r",
        file.to_str().expect("utf-8 path"),
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

/// Root, `ip` and `tcpdump` available (tcpdump is installed under CI as root when missing).
fn ready() -> bool {
    if !root_or_skip("grarp_netns") {
        return false;
    }
    if !have("ip") {
        panic!("`ip` (iproute2) is missing; install iproute2");
    }
    if !have("tcpdump") && std::env::var("CI").as_deref() == Ok("true") {
        eprintln!("grarp_netns: tcpdump missing, installing it (root, CI=true)");
        let _ = run_with_timeout(
            Command::new("sh").args(["-c", "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tcpdump"]),
            Duration::from_secs(300),
        );
    }
    if !have("tcpdump") {
        eprintln!("SKIPPED (needs tcpdump): grarp_netns: apt-get install tcpdump");
        if std::env::var("FAILOVER_ALLOW_SKIP").as_deref() != Ok("1") {
            panic!("grarp_netns could not run: tcpdump is not installed (set FAILOVER_ALLOW_SKIP=1 to allow skipping)");
        }
        return false;
    }
    true
}

#[test]
fn grarp_frames_decode_and_neighbours_learn() {
    if !ready() {
        return;
    }
    let bed = Bed::new();
    // b believes the addresses are at a wrong MAC.
    for vip in [VIP4, VIP6] {
        must(&[
            "ip", "-n", &bed.b, "neigh", "replace", vip, "lladdr", WRONG_MAC, "dev", "ga1", "nud",
            "stale",
        ]);
        assert!(bed.neigh(vip).contains(WRONG_MAC), "{}", bed.neigh(vip));
    }
    let capture = Capture::start(&bed);

    let o = bed.grarp(&["-c", "3", "-i", "50", "ga0", VIP4]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains(&format!("announced {VIP4} at {MAC_A} on ga0: 6 frames")),
        "{out}"
    );
    let o = bed.grarp(&["-c", "2", "-i", "50", "ga0", VIP6]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stdout).contains("2 frames"));
    let o = bed.grarp(&["-c", "1", "--reply", "ga0", VIP4]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");

    let file = capture.file.clone();
    let frames = capture.finish(9);
    assert_eq!(
        frames.len(),
        9,
        "expected 3 requests + 3 replies + 2 NAs + 1 reply"
    );

    // Our own decoder: every frame announces the address at a's MAC.
    let mac_a: MacAddr = MAC_A.parse().unwrap();
    let decoded: Vec<Announcement> = frames
        .iter()
        .map(|f| parse_frame(f).expect("decodes"))
        .collect();
    let ops: Vec<&str> = decoded
        .iter()
        .map(|a| match a {
            Announcement::Arp(x) if x.op == ArpOp::Request => "req",
            Announcement::Arp(_) => "rep",
            Announcement::NeighborAdvert(_) => "na",
        })
        .collect();
    assert_eq!(
        ops,
        ["req", "rep", "req", "rep", "req", "rep", "na", "na", "rep"]
    );
    for a in &decoded {
        let ip = if matches!(a, Announcement::Arp(_)) {
            VIP4
        } else {
            VIP6
        };
        assert_eq!(a.announced(), Some((ip.parse().unwrap(), mac_a)), "{a:?}");
    }

    // tcpdump's decoding, independently.
    let records = tcpdump_decode(&file);
    assert_eq!(records.len(), 9, "{records:#?}");
    let (mut requests, mut replies, mut nas) = (0, 0, 0);
    for r in &records {
        if r.contains("ethertype ARP") {
            assert!(r.contains(&format!("{MAC_A} > ff:ff:ff:ff:ff:ff")), "{r}");
            assert!(r.contains("Ethernet (len 6), IPv4 (len 4)"), "{r}");
            if r.contains(&format!("Request who-has {VIP4} tell {VIP4}")) {
                requests += 1;
            } else if r.contains(&format!("Reply {VIP4} is-at {MAC_A}")) {
                replies += 1;
            } else {
                panic!("unexpected ARP frame: {r}");
            }
        } else {
            assert!(
                r.contains(&format!("{MAC_A} > 33:33:00:00:00:01, ethertype IPv6")),
                "{r}"
            );
            assert!(r.contains("hlim 255"), "{r}");
            assert!(r.contains(&format!("{VIP6} > ff02::1")), "{r}");
            assert!(r.contains("[icmp6 sum ok]"), "{r}");
            assert!(
                r.contains(&format!("neighbor advertisement, length 32, tgt is {VIP6}")),
                "{r}"
            );
            assert!(r.contains("Flags [override]"), "{r}");
            assert!(
                r.contains(&format!(
                    "destination link-address option (2), length 8 (1): {MAC_A}"
                )),
                "{r}"
            );
            nas += 1;
        }
    }
    assert_eq!((requests, replies, nas), (3, 4, 2), "{records:#?}");

    // b's neighbour table followed the announcements.
    for vip in [VIP4, VIP6] {
        let n = bed.neigh(vip);
        assert!(n.contains(&format!("lladdr {MAC_A}")), "{vip}: {n}");
    }
}

/// `-b`: the first round before grarp returns, the others from the background while the
/// address is here; once the address is removed, no more rounds.
#[test]
fn background_rounds_follow_only_while_the_address_is_here() {
    if !ready() {
        return;
    }
    let bed = Bed::new();
    let capture = Capture::start(&bed);
    let started = Instant::now();
    let o = bed.grarp(&["-b", "-c", "3", "-i", "400", "--reply", "ga0", VIP4]);
    let returned = started.elapsed();
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert!(
        returned < Duration::from_millis(400),
        "grarp -b returned after {returned:?}: it waited for the burst (800 ms)"
    );
    let frames = capture.finish(3);
    assert_eq!(
        frames.len(),
        3,
        "the whole burst, two rounds from the background"
    );

    let capture = Capture::start(&bed);
    let o = bed.grarp(&["-b", "-c", "3", "-i", "400", "--reply", "ga0", VIP4]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    must(&[
        "ip",
        "-n",
        &bed.a,
        "addr",
        "del",
        &format!("{VIP4}/32"),
        "dev",
        "ga0",
    ]);
    // Past the burst: a background round would have been sent by now.
    std::thread::sleep(Duration::from_millis(1_200));
    let frames = capture.finish(1);
    assert_eq!(
        frames.len(),
        1,
        "only the first round: the address was given up before the others"
    );
}

/// failsh's built-in `grarp -b` (what the fast procedures announce with): it returns after
/// the first round, without waiting for the rounds or for the close of its packet socket
/// (which waits for the kernel's RCU grace period), and its thread sends the other rounds
/// on the same socket only while the address is here.
#[test]
fn the_built_in_grarp_b_returns_after_the_first_round_and_sends_the_rest_while_the_address_is_here()
{
    if !ready() {
        return;
    }
    let bed = Bed::new();
    let failsh = |name: &str, body: &str| -> String {
        let script = bed.dir.join(name);
        std::fs::write(
            &script,
            format!(
                "set t0 [clock microseconds]\n\
                 grarp -b -c 3 -i 300 --reply ga0 {VIP4}\n\
                 puts \"returned_us [expr {{[clock microseconds] - $t0}}]\"\n\
                 {body}\n\
                 after 1000\n\
                 proc start {{}} {{ return UP }}\n\
                 proc stop {{}} {{ return FAIL }}\n\
                 failsvc {VIP4} create\n\
                 failsvc {VIP4} start start\n\
                 failsvc {VIP4} stop stop\n\
                 failhost localhost address 127.0.0.1\n"
            ),
        )
        .expect("write the script");
        let mut cmd = Command::new("ip");
        cmd.args([
            "netns",
            "exec",
            &bed.a,
            env!("CARGO_BIN_EXE_failsh"),
            "-t",
            "-f",
        ])
        .arg(&script);
        let o = run_with_timeout(&mut cmd, CMD_TIMEOUT);
        assert_eq!(o.status.code(), Some(0), "{o:?}");
        String::from_utf8_lossy(&o.stdout).to_string()
    };
    let returned_us = |out: &str| -> u64 {
        out.lines()
            .find_map(|l| l.strip_prefix("returned_us "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no returned_us line in {out:?}"))
    };

    let capture = Capture::start(&bed);
    let out = failsh("whole.tcl", "");
    let frames = capture.finish(3);
    assert_eq!(
        frames.len(),
        3,
        "the whole burst, two rounds from the thread: {out}"
    );
    assert!(
        returned_us(&out) < 300_000,
        "grarp -b returned after {} us: it waited for a round (300 ms apart)",
        returned_us(&out)
    );

    let capture = Capture::start(&bed);
    let out = failsh("given_up.tcl", &format!("ipaddr del {VIP4}/32 dev ga0"));
    std::thread::sleep(Duration::from_millis(300));
    let frames = capture.finish(1);
    assert_eq!(
        frames.len(),
        1,
        "only the first round: the address was given up before the others: {out}"
    );
}

#[test]
fn each_arp_form_alone_updates_the_neighbour() {
    if !ready() {
        return;
    }
    let bed = Bed::new();
    for form in ["--request", "--reply"] {
        must(&[
            "ip", "-n", &bed.b, "neigh", "replace", VIP4, "lladdr", WRONG_MAC, "dev", "ga1", "nud",
            "stale",
        ]);
        let o = bed.grarp(&["-c", "1", form, "ga0", VIP4]);
        assert_eq!(o.status.code(), Some(0), "{o:?}");
        // The kernel handles the frame asynchronously: wait a bounded moment.
        let deadline = Instant::now() + Duration::from_secs(2);
        while !bed.neigh(VIP4).contains(MAC_A) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            bed.neigh(VIP4).contains(&format!("lladdr {MAC_A}")),
            "{form}: {}",
            bed.neigh(VIP4)
        );
    }
}

#[test]
fn operator_errors_on_a_real_link() {
    if !ready() {
        return;
    }
    let bed = Bed::new();
    // Without CAP_NET_RAW (root with the capability dropped from its bounding set).
    if have("setpriv") {
        let mut cmd = Command::new("ip");
        cmd.args([
            "netns",
            "exec",
            &bed.a,
            "setpriv",
            "--bounding-set=-net_raw",
            "--inh-caps=-net_raw",
            env!("CARGO_BIN_EXE_grarp"),
            "ga0",
            VIP4,
        ]);
        let o = run_with_timeout(&mut cmd, CMD_TIMEOUT);
        assert_eq!(o.status.code(), Some(4), "{o:?}");
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("needs root or the CAP_NET_RAW capability"),
            "{o:?}"
        );
    } else {
        eprintln!("grarp_netns: setpriv missing, permission case not exercised");
    }
    // lo inside the namespace.
    let o = bed.grarp(&["lo", VIP4]);
    assert_eq!(o.status.code(), Some(5), "{o:?}");
    // An interface that only exists in the other namespace.
    let o = bed.grarp(&["ga1", VIP4]);
    assert_eq!(o.status.code(), Some(3), "{o:?}");
    // A link that is down.
    must(&["ip", "-n", &bed.a, "link", "set", "ga0", "down"]);
    let o = bed.grarp(&["-c", "1", "ga0", VIP4]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("interface ga0 is down"),
        "{o:?}"
    );
}
