//! faild, failc and failstat on loopback, for both runtimes: set and query over UDP and
//! TCP, communities (RO, limited to a network, wrong), SIGHUP with a broken community file.

use failover_tests::faild::{any_runtime, describe, runtimes, Faild};
use failover_tests::{text, wait_until, TempDir};
use std::time::Duration;

const COMMUNITIES: &str = "\
# the seed's init scripts set states with -c public from the host itself
* public RW 127.0.0.1/32
* public RO
* reader RO
";

#[test]
fn set_and_query_over_udp_and_tcp_on_both_runtimes() {
    for runtime in runtimes() {
        let dir = TempDir::new("access-set");
        let faild = Faild::start(&dir, runtime, Some(COMMUNITIES), &[]).unwrap();
        let out = faild.client(
            "failc",
            &["-c", "public", "-sRECOVER", "-b", "macbeth", "svc"],
        );
        assert_eq!(
            out.status.code(),
            Some(0),
            "{runtime} UDP set: {}",
            describe(&out)
        );
        let out = faild.client("failstat", &["-c", "public", "-T", "svc"]);
        assert_eq!(out.status.code(), Some(0), "{runtime}: {}", describe(&out));
        let line = text(&out.stdout);
        assert!(
            line.starts_with("svc RECOVER macbeth "),
            "{runtime}: {line}"
        );

        let out = faild.client("failc", &["-c", "public", "-T", "-s", "UP", "svc"]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{runtime} TCP set: {}",
            describe(&out)
        );
        let out = faild.client("failstat", &["--json"]);
        assert_eq!(out.status.code(), Some(0), "{runtime}: {}", describe(&out));
        let json = text(&out.stdout);
        assert!(json.contains("\"name\":\"svc\""), "{runtime}: {json}");
        assert!(json.contains("\"state\":\"UP\""), "{runtime}: {json}");
        assert!(
            json.contains("\"backup\":\"macbeth\""),
            "backup kept without -b: {json}"
        );

        let out = faild.client("failstat", &["-T", "svc", "nosuch"]);
        assert_eq!(
            out.status.code(),
            Some(6),
            "{runtime} unknown: {}",
            describe(&out)
        );
        assert!(
            text(&out.stdout).contains("nosuch UNKNOWN"),
            "{}",
            describe(&out)
        );
        assert!(faild
            .log_text()
            .contains("service svc: RECOVER -> UP (set by 127.0.0.1"));
    }
}

#[test]
fn a_read_only_community_cannot_set() {
    for runtime in runtimes() {
        let dir = TempDir::new("access-ro");
        let faild = Faild::start(&dir, runtime, Some(COMMUNITIES), &[]).unwrap();
        for protocol in ["-U", "-T"] {
            let out = faild.client("failc", &["-c", "reader", protocol, "-s", "UP", "svc"]);
            assert_eq!(
                out.status.code(),
                Some(5),
                "{runtime} {protocol}: {}",
                describe(&out)
            );
            assert!(
                text(&out.stderr).contains("forbidden"),
                "{}",
                describe(&out)
            );
        }
        // Reading works, and nothing was created.
        let out = faild.client("failstat", &["-c", "reader", "svc"]);
        assert_eq!(out.status.code(), Some(6), "{runtime}: {}", describe(&out));
        assert!(faild
            .log_text()
            .contains("forbidden: 127.0.0.1 may not write service svc"));
    }
}

#[test]
fn a_community_limited_to_127_0_0_1_is_refused_from_127_0_0_2() {
    for runtime in runtimes() {
        let dir = TempDir::new("access-net");
        let faild = Faild::start(&dir, runtime, Some(COMMUNITIES), &[]).unwrap();
        for protocol in ["-U", "-T"] {
            let args = [
                "--source",
                "127.0.0.2",
                protocol,
                "-H",
                "127.0.0.1",
                "-s",
                "FAIL",
                "svc",
            ];
            let out = faild.client("failc", &args);
            assert_eq!(
                out.status.code(),
                Some(5),
                "{runtime} {protocol}: {}",
                describe(&out)
            );
            let ok = faild.client("failc", &[protocol, "-s", "FAIL", "svc"]);
            assert_eq!(
                ok.status.code(),
                Some(0),
                "{runtime} from 127.0.0.1: {}",
                describe(&ok)
            );
        }
        assert!(
            faild
                .log_text()
                .contains("forbidden: 127.0.0.2 may not write service svc"),
            "{}",
            faild.log_text()
        );
        // 127.0.0.2 may still read through `* public RO`.
        let out = faild.client("failstat", &["--source", "127.0.0.2", "svc"]);
        assert_eq!(out.status.code(), Some(0), "{runtime}: {}", describe(&out));
    }
}

#[test]
fn a_wrong_community_is_refused_and_never_logged() {
    const WRONG: &str = "wrong-community-Zq7";
    for runtime in runtimes() {
        let dir = TempDir::new("access-wrong");
        let faild = Faild::start(&dir, runtime, Some(COMMUNITIES), &["-d", "all"]).unwrap();
        for protocol in ["-U", "-T"] {
            let out = faild.client("failc", &["-c", WRONG, protocol, "-s", "UP", "svc"]);
            assert_eq!(
                out.status.code(),
                Some(5),
                "{runtime} {protocol}: {}",
                describe(&out)
            );
            assert!(text(&out.stderr).contains("refused"), "{}", describe(&out));
            let out = faild.client("failstat", &["-c", WRONG, protocol, "svc"]);
            assert_eq!(
                out.status.code(),
                Some(5),
                "{runtime} {protocol}: {}",
                describe(&out)
            );
        }
        assert!(wait_until(Duration::from_secs(2), || faild
            .log_text()
            .matches("refused a request from 127.0.0.1")
            .count()
            >= 4));
        assert!(!faild.log_text().contains(WRONG), "{}", faild.log_text());
    }
}

#[test]
fn sighup_rereads_communities_and_keeps_them_when_the_new_file_is_broken() {
    for runtime in runtimes() {
        let dir = TempDir::new("access-hup");
        let faild = Faild::start(&dir, runtime, Some("* public RO\n"), &[]).unwrap();
        let out = faild.client("failc", &["-s", "UP", "svc"]);
        assert_eq!(out.status.code(), Some(5), "{}", describe(&out));
        std::fs::write(dir.join("communities"), "* public RW\n").unwrap();
        faild.process.signal(1);
        assert!(wait_until(Duration::from_secs(5), || faild
            .log_text()
            .contains("community file re-read")));
        let out = faild.client("failc", &["-s", "UP", "svc"]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{runtime} after HUP: {}",
            describe(&out)
        );
        std::fs::write(dir.join("communities"), "* public RW\n* broken\n").unwrap();
        faild.process.signal(1);
        assert!(wait_until(Duration::from_secs(5), || faild
            .log_text()
            .contains("communities:2: expected")));
        let out = faild.client("failc", &["-s", "FAIL", "svc"]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{runtime} old file kept: {}",
            describe(&out)
        );
    }
}

#[test]
fn without_a_community_file_public_reads_and_nobody_writes() {
    let dir = TempDir::new("access-none");
    let faild = Faild::start(&dir, any_runtime(), None, &[]).unwrap();
    assert!(
        faild.log_text().contains("no community file"),
        "{}",
        faild.log_text()
    );
    let out = faild.client("failc", &["-s", "UP", "svc"]);
    assert_eq!(out.status.code(), Some(5), "{}", describe(&out));
    let out = faild.client("failstat", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
}
