//! A reload (`Input::Reconfigure`, failsh's SIGHUP) keeps what is known about a host that is
//! polled the same way, whatever else about it changed (its address as written), and starts
//! afresh with one that is not.

use failover_core::harness::{Harness, COMMUNITY};
use failover_core::shell::{HostConfig, Input, Protocol, ServiceConfig, ShellConfig};
use failover_core::state::State;
use failover_core::store::ServiceRecord;
use failover_core::time::Time;

const SERVICE: &str = "198.18.0.50";

/// macbeth's configuration: lukretia is the master, written as `written` in `failhost
/// lukretia address`, reached with `community`.
fn macbeth(written: Option<&str>, community: &str) -> ShellConfig {
    let host = |name: &str| HostConfig {
        community: COMMUNITY.to_string(),
        protocol: Protocol::Tcp,
        address: "198.18.0.1:1291".parse().ok(),
        ..HostConfig::new(name)
    };
    let mut lukretia = host("lukretia");
    lukretia.configured_address = written.map(str::to_string);
    lukretia.community = community.to_string();
    ShellConfig {
        local_host: "localhost".to_string(),
        hosts: vec![lukretia, host("localhost")],
        services: vec![ServiceConfig {
            masters: vec!["lukretia".to_string()],
            ..ServiceConfig::new(SERVICE, 1_000)
        }],
    }
}

fn lukretia_reachable(h: &Harness) -> Option<bool> {
    let shell = h
        .host("macbeth")
        .shell
        .as_ref()
        .expect("macbeth runs failsh");
    shell
        .hosts_status()
        .into_iter()
        .find(|s| s.name == "lukretia")
        .and_then(|s| s.reachable)
}

#[test]
fn a_reload_keeps_a_host_polled_the_same_way_even_when_its_address_is_written_differently() {
    let record = |state| vec![ServiceRecord::new(SERVICE, state, None, Time(0))];
    let mut h = Harness::new(3);
    h.add_host("lukretia", None, record(State::Up));
    h.add_host(
        "macbeth",
        Some(macbeth(None, COMMUNITY)),
        record(State::Recover),
    );
    h.run_for(3_000);
    assert_eq!(lukretia_reachable(&h), Some(true));
    let now = h.now;
    let reload = |h: &mut Harness, config| {
        let shell = h.host_mut("macbeth").shell.as_mut().expect("failsh");
        shell.handle(now, Input::Reconfigure(config));
    };
    // The same faild (the same resolved address), written as a literal instead of a name.
    reload(&mut h, macbeth(Some("198.18.0.1"), COMMUNITY));
    assert_eq!(lukretia_reachable(&h), Some(true));
    // Another community: another host as far as the core knows.
    reload(&mut h, macbeth(Some("198.18.0.1"), "other"));
    assert_eq!(lukretia_reachable(&h), None);
}
