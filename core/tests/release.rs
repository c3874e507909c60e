//! Connections left behind (`failsvc S reset`, `core/src/shell/release.rs`): the host that let
//! the service go asks to reset the connections on its address once another host answers UP
//! with a finished start, and not before; never while it holds the address, never for a
//! service that came back here first, never with `reset off`; a SIGTERM handover waits for
//! the new holder, or for its drain to end.

use failover_core::harness::{Harness, COMMUNITY};
use failover_core::shell::{
    Action, HostConfig, Input, Protocol, ServiceConfig, ShellConfig, HANDOVER_DRAIN_MIN_MS,
};
use failover_core::state::State;
use failover_core::store::ServiceRecord;
use failover_core::time::Time;

const SERVICE: &str = "198.18.0.50";
const INTERVAL_MS: u64 = 1_000;

fn config(peer: &str, masters: &[&str], slaves: &[&str], reset: Option<Vec<&str>>) -> ShellConfig {
    let host = |name: &str| HostConfig {
        community: COMMUNITY.to_string(),
        protocol: Protocol::Tcp,
        address: "198.18.0.1:1291".parse().ok(),
        ..HostConfig::new(name)
    };
    ShellConfig {
        local_host: "localhost".to_string(),
        hosts: vec![host(peer), host("localhost")],
        services: vec![ServiceConfig {
            masters: masters.iter().map(|s| s.to_string()).collect(),
            slaves: slaves.iter().map(|s| s.to_string()).collect(),
            reset: reset.map(|r| r.iter().map(|a| a.parse().unwrap()).collect()),
            ..ServiceConfig::new(SERVICE, INTERVAL_MS)
        }],
    }
}

fn record(state: State) -> Vec<ServiceRecord> {
    vec![ServiceRecord::new(SERVICE, state, None, Time(0))]
}

/// lukretia (master) and macbeth (slave), both with failsh; lukretia holds the service.
fn pair(reset: Option<Vec<&str>>) -> Harness {
    let mut h = Harness::new(3);
    h.add_host(
        "lukretia",
        Some(config("macbeth", &[], &["macbeth"], reset.clone())),
        record(State::Recover),
    );
    h.add_host(
        "macbeth",
        Some(config("lukretia", &["lukretia"], &[], reset)),
        record(State::Recover),
    );
    h.run_for(5_000);
    assert_eq!(h.holders(), vec!["lukretia".to_string()]);
    h
}

/// The service script's `fail` on `host`: the address goes down, then FAIL is set.
fn operator_fail(h: &mut Harness, host: &str) {
    h.host_mut(host).holds_service = false;
    h.failc(host, SERVICE, State::Fail);
}

/// The ResetConnections actions of a host, with their times and addresses.
fn resets(h: &Harness, host: &str) -> Vec<(Time, Vec<String>, String)> {
    h.host(host)
        .actions
        .iter()
        .filter_map(|(at, a)| match a {
            Action::ResetConnections {
                addresses, reason, ..
            } => Some((
                *at,
                addresses.iter().map(ToString::to_string).collect(),
                reason.clone(),
            )),
            _ => None,
        })
        .collect()
}

/// When `host` last changed to UP (its start returned).
fn up_at(h: &Harness, host: &str) -> Time {
    h.host(host)
        .events
        .iter()
        .rev()
        .find_map(|(at, e)| match e {
            failover_core::shell::Event::StateChanged { to: State::Up, .. } => Some(*at),
            _ => None,
        })
        .expect("it went UP")
}

#[test]
fn an_operator_fail_resets_the_connections_once_the_slave_has_started() {
    let mut h = pair(None);
    operator_fail(&mut h, "lukretia");
    h.run_for(5_000);
    assert_eq!(h.holders(), vec!["macbeth".to_string()]);
    let done = resets(&h, "lukretia");
    assert_eq!(done.len(), 1, "{done:?}");
    let (at, addresses, reason) = &done[0];
    assert_eq!(
        addresses,
        &vec![SERVICE.to_string()],
        "the service's name by default"
    );
    assert!(
        *at >= up_at(&h, "macbeth"),
        "reset at {at}, before macbeth's start returned at {}: its UP said starting",
        up_at(&h, "macbeth")
    );
    assert!(reason.contains("macbeth has the service now"), "{reason}");
    assert_eq!(
        h.host("lukretia").resets,
        vec![(*at, false)],
        "never while holding"
    );
    assert!(resets(&h, "macbeth").is_empty());
}

#[test]
fn the_handback_resets_on_the_slave_once_the_master_has_started() {
    let mut h = pair(None);
    operator_fail(&mut h, "lukretia");
    h.run_for(5_000);
    h.failc("lukretia", SERVICE, State::Recover);
    h.run_for(5_000);
    assert_eq!(h.holders(), vec!["lukretia".to_string()]);
    let done = resets(&h, "macbeth");
    assert_eq!(done.len(), 1, "{done:?}");
    assert!(done[0].0 >= up_at(&h, "lukretia"));
    assert_eq!(
        resets(&h, "lukretia").len(),
        1,
        "only for the operator's fail"
    );
}

#[test]
fn reset_off_and_listed_addresses_are_obeyed() {
    let mut h = pair(Some(vec![]));
    operator_fail(&mut h, "lukretia");
    h.run_for(5_000);
    assert_eq!(h.holders(), vec!["macbeth".to_string()]);
    assert!(resets(&h, "lukretia").is_empty(), "reset off");

    let mut h = pair(Some(vec!["198.18.0.50", "2001:db8::50"]));
    operator_fail(&mut h, "lukretia");
    h.run_for(5_000);
    let done = resets(&h, "lukretia");
    assert_eq!(done.len(), 1);
    assert_eq!(
        done[0].1,
        vec!["198.18.0.50".to_string(), "2001:db8::50".to_string()]
    );
}

/// A master alone (its slave's faild runs, its failsh does not): FAIL then RECOVER, and the
/// master starts again. Nobody else answered UP meanwhile, so nothing is reset: a reset
/// needs a new holder, whatever this host did with the address.
#[test]
fn a_service_that_comes_back_before_anyone_took_it_resets_nothing() {
    let mut h = Harness::new(5);
    h.add_host(
        "lukretia",
        Some(config("macbeth", &[], &["macbeth"], None)),
        record(State::Recover),
    );
    h.add_host("macbeth", None, record(State::Recover));
    h.run_for(5_000);
    assert_eq!(h.holders(), vec!["lukretia".to_string()]);
    operator_fail(&mut h, "lukretia");
    h.run_for(3_000);
    h.failc("lukretia", SERVICE, State::Recover);
    h.run_for(5_000);
    assert_eq!(h.holders(), vec!["lukretia".to_string()]);
    assert!(resets(&h, "lukretia").is_empty());
}

fn shutdown(h: &mut Harness, host: &str) -> Time {
    let now = h.now;
    h.host_mut(host).shell.as_mut().expect("a failsh").handle(
        now,
        Input::Shutdown {
            keep_services: false,
        },
    );
    now
}

fn exited_at(h: &Harness, host: &str) -> Option<Time> {
    h.host(host)
        .actions
        .iter()
        .find_map(|(at, a)| matches!(a, Action::Exit).then_some(*at))
}

#[test]
fn sigterm_waits_for_the_new_holder_then_resets_and_exits() {
    let mut h = pair(None);
    shutdown(&mut h, "lukretia");
    h.run_for(5_000);
    assert_eq!(h.holders(), vec!["macbeth".to_string()]);
    let done = resets(&h, "lukretia");
    assert_eq!(done.len(), 1, "{done:?}");
    assert!(done[0].0 >= up_at(&h, "macbeth"));
    let exit = exited_at(&h, "lukretia").expect("failsh exits");
    assert_eq!(exit, done[0].0, "it exits right after the reset");
    let order: Vec<bool> = h
        .host("lukretia")
        .actions
        .iter()
        .filter(|(_, a)| matches!(a, Action::ResetConnections { .. } | Action::Exit))
        .map(|(_, a)| matches!(a, Action::Exit))
        .collect();
    assert_eq!(
        order,
        vec![false, true],
        "the reset is performed before Exit"
    );
}

#[test]
fn sigterm_with_nobody_to_take_over_resets_when_the_drain_ends() {
    let mut h = Harness::new(9);
    h.add_host(
        "lukretia",
        Some(config("macbeth", &[], &["macbeth"], None)),
        record(State::Recover),
    );
    h.add_host("macbeth", None, record(State::Fail));
    h.run_for(5_000);
    assert_eq!(h.holders(), vec!["lukretia".to_string()]);
    let at = shutdown(&mut h, "lukretia");
    h.run_for(5_000);
    assert!(h.holders().is_empty());
    let done = resets(&h, "lukretia");
    assert_eq!(done.len(), 1, "{done:?}");
    assert!(done[0].2.contains("no host took it over"), "{}", done[0].2);
    let waited = done[0].0.since_ms(at);
    assert!(
        waited >= HANDOVER_DRAIN_MIN_MS,
        "reset {waited} ms after SIGTERM, before the drain ended"
    );
    assert_eq!(exited_at(&h, "lukretia"), Some(done[0].0));
}
