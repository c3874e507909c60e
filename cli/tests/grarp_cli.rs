//! grarp's command line: help, version, exit codes. No privileges needed.

use std::process::{Command, Output};

fn grarp(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_grarp"))
        .args(args)
        .output()
        .expect("run grarp")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn help_reads_like_a_man_page() {
    for flag in ["-h", "--help"] {
        let o = grarp(&[flag]);
        assert_eq!(o.status.code(), Some(0));
        let out = text(&o.stdout);
        for section in [
            "NAME",
            "SYNOPSIS",
            "DESCRIPTION",
            "OPTIONS",
            "EXIT STATUS",
            "EXAMPLES",
            "NOTES",
        ] {
            assert!(
                out.contains(&format!("\n{section}\n")) || out.starts_with(section),
                "{section}"
            );
        }
        for needle in [
            "grarp [-b] [-c count] [-i interval_ms] [--request|--reply|--both] INTERFACE ADDRESS",
            "CAP_NET_RAW",
            "    3   unknown interface",
            "    4   permission denied",
            "Override",
        ] {
            assert!(out.contains(needle), "help lacks {needle:?}");
        }
        assert!(o.stderr.is_empty());
    }
}

#[test]
fn version() {
    let o = grarp(&["-V"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        text(&o.stdout),
        format!("grarp (failover) {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn usage_errors_exit_2_with_the_synopsis() {
    for args in [
        &[][..],
        &["eth0"],
        &["-c", "0", "eth0", "198.18.0.1"],
        &["-q", "eth0", "198.18.0.1"],
        &["eth0", "not-an-address"],
        &["--request", "--reply", "eth0", "198.18.0.1"],
        &["eth0", "255.255.255.255"],
    ] {
        let o = grarp(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let err = text(&o.stderr);
        assert!(err.starts_with("grarp: "), "{err}");
        assert!(err.contains("usage: grarp [-b] [-c count]"), "{err}");
        assert!(o.stdout.is_empty());
    }
}

#[test]
fn family_mismatch_exits_2() {
    let o = grarp(&["--reply", "lo", "2001:db8::50"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("address family mismatch"));
    let o = grarp(&["lo", "::ffff:198.18.0.50"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("announce 198.18.0.50 (IPv4, with ARP) instead"));
}

#[cfg(target_os = "linux")]
#[test]
fn unknown_interface_exits_3() {
    for args in [
        &["nonexistent0", "198.18.0.50"][..],
        &["nonexistent0", "2001:db8::50"],
    ] {
        let o = grarp(args);
        assert_eq!(o.status.code(), Some(3), "{args:?}");
        let err = text(&o.stderr);
        assert!(err.contains("unknown interface \"nonexistent0\""), "{err}");
        assert!(!err.contains("usage:"), "{err}");
    }
    let o = grarp(&["eth0:1", "198.18.0.50"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(text(&o.stderr).contains("address label"));
}

#[cfg(target_os = "linux")]
#[test]
fn loopback_exits_5() {
    let o = grarp(&["lo", "198.18.0.50"]);
    assert_eq!(o.status.code(), Some(5));
    assert!(text(&o.stderr).contains("interface lo has no Ethernet MAC address"));
}
