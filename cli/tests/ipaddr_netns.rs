//! failsh's Tcl `ipaddr` on a real interface: the real `failsh -t` runs, inside a scratch
//! network namespace, a configuration whose top level adds and removes addresses; `ip -o addr
//! show` checks what the kernel holds. Root only (CI runs as root).
//!
//! Network safety: everything lives in the namespace `fo-ipaddr-<pid>` that this test creates,
//! with a veth pair created inside it (never in the root namespace); addresses are
//! 198.18.0.0/15 and 2001:db8::/32 inside the namespace only; no routes are added. A guard
//! deletes the namespace (and with it the veth pair) on every exit path, and a leftover of a
//! crashed earlier run (a namespace of this prefix whose pid is gone) is deleted first. Every
//! command is bounded in time.
#![cfg(target_os = "linux")]

mod support;

use std::path::PathBuf;
use std::process::Command;

use support::{clean_leftovers, have, must, root_or_skip, run_with_timeout, sh, CMD_TIMEOUT};

const PREFIX: &str = "fo-ipaddr-";

/// The minimal configuration `failsh -t` accepts, before the lines under test.
const CONFIG: &str = "\
proc up {} { return UP }
failsvc S create
failsvc S start up
failsvc S stop up
";

/// Root (else a loud SKIPPED line, and a failure unless FAILOVER_ALLOW_SKIP=1) and `ip`.
fn ready() -> bool {
    if !root_or_skip("ipaddr_netns") {
        return false;
    }
    assert!(have("ip"), "`ip` is missing (apt-get install iproute2)");
    true
}

/// The scratch namespace with eth0 <-> eth1 (veth, both up); deleted on drop, also when the
/// test panics.
struct Netns {
    name: String,
    dir: PathBuf,
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting the namespace destroys the veth pair and every address in it.
        let _ = sh(&["ip", "netns", "del", &self.name]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Netns {
    fn new() -> Netns {
        clean_leftovers(PREFIX, "ipaddr_netns");
        let name = format!("{PREFIX}{}", std::process::id());
        let dir = std::env::temp_dir().join(&name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        must(&["ip", "netns", "add", &name]);
        // From here on the guard deletes the namespace whatever happens.
        let ns = Netns { name, dir };
        let n = ns.name.as_str();
        must(&[
            "ip", "-n", n, "link", "add", "eth0", "type", "veth", "peer", "name", "eth1",
        ]);
        must(&["ip", "-n", n, "link", "set", "eth0", "up"]);
        must(&["ip", "-n", n, "link", "set", "eth1", "up"]);
        ns
    }

    /// Runs `failsh -t -f FILE` in the namespace, FILE being [`CONFIG`] and `lines`.
    /// Returns (exit code, stdout, stderr).
    fn failsh_t(&self, tag: &str, lines: &str) -> (i32, String, String) {
        let file = self.dir.join(format!("{tag}.tcl"));
        std::fs::write(&file, format!("{CONFIG}{lines}")).expect("write the configuration");
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name, env!("CARGO_BIN_EXE_failsh")])
            .args(["-t", "-f"])
            .arg(&file);
        let out = run_with_timeout(&mut cmd, CMD_TIMEOUT);
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// `ip -o addr show dev eth0`, one line per address.
    fn addresses(&self) -> Vec<String> {
        must(&["ip", "-n", &self.name, "-o", "addr", "show", "dev", "eth0"])
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// The line of `ip -o addr show dev eth0` of address `a` ("198.18.0.50/24").
    fn address(&self, a: &str) -> Option<String> {
        let wanted = format!(" {a} ");
        self.addresses().into_iter().find(|l| l.contains(&wanted))
    }
}

#[test]
fn ipaddr_adds_and_removes_addresses_in_failsh() {
    if !ready() {
        return;
    }
    let ns = Netns::new();

    // Add: an IPv4 address with a label (and broadcast), the same again (replace semantics),
    // a /32 (no broadcast), an IPv6 address (nodad).
    let (code, stdout, stderr) = ns.failsh_t(
        "add",
        "puts \"add4=[ipaddr add 198.18.0.50/24 dev eth0 label eth0:1]\"\n\
         puts \"again=[ipaddr add 198.18.0.50/24 dev eth0 label eth0:1]\"\n\
         puts \"add32=[ipaddr add 198.19.0.51/32 dev eth0]\"\n\
         puts \"add6=[ipaddr add 2001:db8::50/64 dev eth0]\"\n",
    );
    assert_eq!(code, 0, "failsh -t failed:\n{stdout}\n{stderr}");
    for wanted in ["add4=\n", "again=\n", "add32=\n", "add6=\n"] {
        assert!(stdout.contains(wanted), "missing {wanted:?} in:\n{stdout}");
    }
    let all = ns.addresses().join("\n");
    let v4 = ns
        .address("198.18.0.50/24")
        .unwrap_or_else(|| panic!("198.18.0.50/24 not on eth0:\n{all}"));
    assert!(
        v4.contains("inet 198.18.0.50/24 brd 198.18.0.255 scope global eth0:1"),
        "{v4}"
    );
    let v32 = ns
        .address("198.19.0.51/32")
        .unwrap_or_else(|| panic!("198.19.0.51/32 not on eth0:\n{all}"));
    assert!(
        v32.contains("inet 198.19.0.51/32 scope global eth0"),
        "{v32}"
    );
    assert!(!v32.contains("brd"), "a /32 has no broadcast: {v32}");
    let v6 = ns
        .address("2001:db8::50/64")
        .unwrap_or_else(|| panic!("2001:db8::50/64 not on eth0:\n{all}"));
    assert!(
        v6.contains("inet6 2001:db8::50/64 scope global nodad"),
        "{v6}"
    );
    assert!(!v6.contains("tentative"), "nodad: no DAD wait: {v6}");

    // Remove: 1 when removed, 0 when it was not there (also with another prefix length).
    let (code, stdout, stderr) = ns.failsh_t(
        "del",
        "puts \"del4=[ipaddr del 198.18.0.50/24 dev eth0]\"\n\
         puts \"del4again=[ipaddr del 198.18.0.50/24 dev eth0]\"\n\
         puts \"del32=[ipaddr del 198.19.0.51/32 dev eth0]\"\n\
         puts \"del6=[ipaddr del 2001:db8::50/64 dev eth0]\"\n\
         puts \"del6again=[ipaddr del 2001:db8::50/64 dev eth0]\"\n\
         puts \"del6other=[ipaddr del 2001:db8::51/64 dev eth0]\"\n\
         if {[catch {ipaddr add 198.18.0.60/24 dev fo-nosuch0} msg]} {\n\
             puts \"caught=$::errorCode: $msg\"\n\
         }\n",
    );
    assert_eq!(code, 0, "failsh -t failed:\n{stdout}\n{stderr}");
    for wanted in [
        "del4=1\n",
        "del4again=0\n",
        "del32=1\n",
        "del6=1\n",
        "del6again=0\n",
        "del6other=0\n",
        "caught=IPADDR NOINTERFACE: unknown interface \"fo-nosuch0\"",
    ] {
        assert!(stdout.contains(wanted), "missing {wanted:?} in:\n{stdout}");
    }
    for gone in ["198.18.0.50/24", "198.19.0.51/32", "2001:db8::50/64"] {
        assert_eq!(ns.address(gone), None, "{gone} still on eth0");
    }
    assert!(
        ns.addresses().iter().all(|l| !l.contains("198.18.0.60")),
        "nothing added for the unknown interface"
    );

    // An uncaught error stops failsh -t with the message naming the interface.
    let (code, stdout, stderr) = ns.failsh_t("nodev", "ipaddr add 198.18.0.60/24 dev fo-nosuch0\n");
    assert_eq!(code, 1, "failsh -t must fail:\n{stdout}\n{stderr}");
    assert!(
        stderr.contains("unknown interface \"fo-nosuch0\"")
            && stderr.contains("\"ipaddr add 198.18.0.60/24 dev fo-nosuch0\""),
        "{stderr}"
    );
}
