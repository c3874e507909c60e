//! Issue 17: failsh's monitor (failmon) and debug (faildebug) ports listen on 127.0.0.1
//! unless `-a ADDR` says otherwise: the monitor shows every service and host, the debug port
//! raises log levels, and neither belongs on a public address by accident. Loopback only:
//! 127.0.0.1 and 127.0.0.2 are different local addresses, so a socket bound to one refuses
//! connections to the other.

mod failsh_support;

use failsh_support::*;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Duration;

fn accepts(address: &str, port: u16) -> bool {
    let address = SocketAddr::new(address.parse::<IpAddr>().expect("address"), port);
    TcpStream::connect_timeout(&address, Duration::from_millis(500)).is_ok()
}

/// Starts a failsh (no faild needed: the ports are bound at start) with `extra` arguments
/// and a debug port; returns the host (which owns the daemon) and the two ports.
fn failsh_with(test: &str, scratch: &Scratch, extra: &[&str]) -> (Host, u16, u16) {
    let mut l = Host::new(
        "lukretia",
        "127.0.0.1",
        &scratch.0,
        failover_tests::faild::any_runtime(),
    );
    let m = Host::new(
        "macbeth",
        "127.0.0.2",
        &scratch.0,
        failover_tests::faild::any_runtime(),
    );
    let config = l.write_config(&m, true, "");
    let debug_port = free_port("127.0.0.1");
    let debug = debug_port.to_string();
    let mut arguments = vec!["-D", debug.as_str(), "-c", "debugsecret"];
    arguments.extend_from_slice(extra);
    l.start_failsh(&config, &arguments);
    let monitor_port = l.monitor_port;
    let listening = extra.iter().skip_while(|a| **a != "-a").nth(1).copied();
    let probe = listening.unwrap_or("127.0.0.1").to_string();
    wait_until(
        &format!("{test}: failsh listens"),
        Duration::from_secs(10),
        || accepts(&probe, monitor_port),
    );
    (l, monitor_port, debug_port)
}

#[test]
fn by_default_the_monitor_and_debug_ports_listen_on_loopback_127_0_0_1_only() {
    let scratch = Scratch::new("listen-default");
    let (l, monitor, debug) = failsh_with("default", &scratch, &[]);
    assert!(accepts("127.0.0.1", debug), "debug port not on 127.0.0.1");
    for port in [monitor, debug] {
        assert!(
            !accepts("127.0.0.2", port),
            "port {port} answers on 127.0.0.2: failsh listens on more than 127.0.0.1\n{}",
            l.log_text()
        );
    }
}

#[test]
fn dash_a_moves_both_ports_to_the_address_given() {
    let scratch = Scratch::new("listen-a");
    let (l, monitor, debug) = failsh_with("-a 127.0.0.2", &scratch, &["-a", "127.0.0.2"]);
    assert!(accepts("127.0.0.2", debug), "debug port not on 127.0.0.2");
    for port in [monitor, debug] {
        assert!(
            !accepts("127.0.0.1", port),
            "port {port} answers on 127.0.0.1 although failsh was told -a 127.0.0.2\n{}",
            l.log_text()
        );
    }
}

#[test]
fn dash_a_takes_an_ipv6_address() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        failover_tests::skip("no IPv6 loopback (::1) on this machine");
        return;
    }
    let scratch = Scratch::new("listen-a6");
    let (l, monitor, debug) = failsh_with("-a ::1", &scratch, &["-a", "::1"]);
    assert!(accepts("::1", debug), "debug port not on ::1");
    for port in [monitor, debug] {
        assert!(
            !accepts("127.0.0.1", port),
            "port {port} answers on 127.0.0.1 although failsh was told -a ::1\n{}",
            l.log_text()
        );
    }
}

#[test]
fn a_bad_address_is_a_usage_error() {
    let output = std::process::Command::new(failover_tests::program("failsh"))
        .args(["-f", "/nonexistent.tcl", "-a", "not-an-address"])
        .output()
        .expect("run failsh");
    assert_eq!(output.status.code(), Some(2), "{output:?}");
}
