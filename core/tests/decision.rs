//! The decision rule of DESIGN §2, one test per row, and the seed's whole story, on the
//! in-crate harness (simulated time, in-memory network, the real wire codec).

use failover_core::harness::{Behaviour, Harness, COMMUNITY};
use failover_core::shell::{
    Action, Event, HostConfig, Input, ProcedureKind, ProcedureNames, Protocol, ServiceConfig,
    ShellConfig,
};
use failover_core::state::State;
use failover_core::store::ServiceRecord;
use failover_core::time::Time;

const SERVICE: &str = "198.18.0.50";
const INTERVAL_MS: u64 = 1_000;

fn host(name: &str) -> HostConfig {
    HostConfig {
        name: name.to_string(),
        community: COMMUNITY.to_string(),
        protocol: Protocol::Tcp,
        address: "198.18.0.1:1291".parse().ok(),
        ..HostConfig::new(name)
    }
}

fn service(masters: &[&str], slaves: &[&str]) -> ServiceConfig {
    ServiceConfig {
        masters: masters.iter().map(|s| s.to_string()).collect(),
        slaves: slaves.iter().map(|s| s.to_string()).collect(),
        procedures: ProcedureNames {
            reclaim: Some("reclaimservice".into()),
            ..ProcedureNames::default()
        },
        ..ServiceConfig::new(SERVICE, INTERVAL_MS)
    }
}

fn config(peer: &str, service: ServiceConfig) -> ShellConfig {
    ShellConfig {
        local_host: "localhost".to_string(),
        hosts: vec![host(peer), host("localhost")],
        services: vec![service],
    }
}

/// lukretia: the master (its service lists macbeth as slave).
fn lukretia() -> ShellConfig {
    config("macbeth", service(&[], &["macbeth"]))
}

/// macbeth: the slave (its service lists lukretia as master).
fn macbeth() -> ShellConfig {
    config("lukretia", service(&["lukretia"], &[]))
}

fn record(state: State) -> Vec<ServiceRecord> {
    vec![ServiceRecord::new(SERVICE, state, None, Time(0))]
}

/// macbeth with a failsh, lukretia with only a faild in `master` state.
fn slave_view(master: State, local: State) -> Harness {
    let mut h = Harness::new(7);
    h.add_host("lukretia", None, record(master));
    h.add_host("macbeth", Some(macbeth()), record(local));
    h
}

/// lukretia with a failsh, macbeth with only a faild in `slave` state.
fn master_view(local: State, slave: State) -> Harness {
    let mut h = Harness::new(7);
    h.add_host("lukretia", Some(lukretia()), record(local));
    h.add_host("macbeth", None, record(slave));
    h
}

fn decisions(h: &Harness, host: &str) -> Vec<String> {
    h.host(host)
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Decision { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_master_up_makes_an_up_slave_run_stop_and_take_the_state_it_returns() {
    let mut h = slave_view(State::Up, State::Up);
    h.run_for(3 * INTERVAL_MS);
    assert_eq!(h.procedures("macbeth"), vec![ProcedureKind::Stop]);
    assert_eq!(h.state("macbeth", SERVICE), Some(State::Recover));
    assert_eq!(
        h.stored("macbeth", SERVICE),
        Some(State::Recover),
        "written to the local faild"
    );
}

#[test]
fn a_master_in_recover_also_makes_an_up_slave_stop() {
    let mut h = slave_view(State::Recover, State::Up);
    h.run_for(3 * INTERVAL_MS);
    assert_eq!(h.procedures("macbeth"), vec![ProcedureKind::Stop]);
    assert_eq!(h.stored("macbeth", SERVICE), Some(State::Recover));
}

#[test]
fn a_master_up_leaves_a_slave_in_recover_alone() {
    let mut h = slave_view(State::Up, State::Recover);
    h.run_for(5 * INTERVAL_MS);
    assert!(h.procedures("macbeth").is_empty());
    assert_eq!(h.state("macbeth", SERVICE), Some(State::Recover));
    assert!(decisions(&h, "macbeth")
        .iter()
        .any(|d| d == "master lukretia is UP: standing by"));
}

#[test]
fn a_slave_in_recover_starts_when_its_master_is_fail() {
    let mut h = slave_view(State::Fail, State::Recover);
    h.run_for(2 * INTERVAL_MS);
    assert_eq!(h.procedures("macbeth"), vec![ProcedureKind::Start]);
    assert_eq!(h.stored("macbeth", SERVICE), Some(State::Up));
    assert_eq!(h.holders(), vec!["macbeth".to_string()]);
}

#[test]
fn an_unreachable_master_counts_as_fail() {
    let mut h = slave_view(State::Up, State::Recover);
    h.crash("lukretia");
    h.run_for(3 * INTERVAL_MS);
    assert_eq!(h.procedures("macbeth"), vec![ProcedureKind::Start]);
    assert_eq!(h.state("macbeth", SERVICE), Some(State::Up));
}

#[test]
fn an_up_master_announces_when_it_finds_an_up_slave_and_again_after_it_stepped_down() {
    // Both UP (as after a partition); macbeth steps down on its own, seeing its master UP.
    let mut h = Harness::new(29);
    h.add_host("lukretia", Some(lukretia()), record(State::Up));
    h.add_host("macbeth", Some(macbeth()), record(State::Up));
    h.host_mut("lukretia").holds_service = true;
    h.host_mut("macbeth").holds_service = true;
    h.run_for(6 * INTERVAL_MS);
    assert_eq!(
        h.procedures("lukretia"),
        vec![ProcedureKind::Reclaim, ProcedureKind::Reclaim]
    );
    assert_eq!(h.procedures("macbeth"), vec![ProcedureKind::Stop]);
    let first_reclaim_at = h.host("lukretia").procedures_run[0].0;
    let last_reclaim_at = h.host("lukretia").procedures_run[1].0;
    let stop_at = h.host("macbeth").procedures_run[0].0;
    assert!(
        first_reclaim_at <= stop_at,
        "the master announces as soon as it sees the conflict, not one interval after the slave stepped down"
    );
    assert!(
        last_reclaim_at > stop_at,
        "and once more after the slave has stepped down, so that its announcement is the last"
    );
}

#[test]
fn an_up_slave_that_stays_up_is_reclaimed_against_once() {
    // macbeth's faild says UP and nothing makes it step down (its failsh is gone).
    let mut h = master_view(State::Up, State::Up);
    h.run_for(2 * INTERVAL_MS);
    assert_eq!(
        h.procedures("lukretia"),
        vec![ProcedureKind::Reclaim],
        "it announces when it finds the conflict, then waits for the slave to step down"
    );
    h.run_for(4 * INTERVAL_MS);
    assert_eq!(
        h.procedures("lukretia"),
        vec![ProcedureKind::Reclaim, ProcedureKind::Reclaim],
        "the slave stayed UP: once more"
    );
    h.run_for(10 * INTERVAL_MS);
    assert_eq!(
        h.procedures("lukretia"),
        vec![ProcedureKind::Reclaim, ProcedureKind::Reclaim],
        "and not again in the same episode"
    );
    // It finally steps down: the master announces once more, after it.
    h.failc("macbeth", SERVICE, State::Recover);
    h.run_for(2 * INTERVAL_MS);
    assert_eq!(h.procedures("lukretia"), vec![ProcedureKind::Reclaim; 3]);
}

#[test]
fn a_master_in_recover_waits_while_a_slave_is_up() {
    let mut h = master_view(State::Recover, State::Up);
    h.run_for(5 * INTERVAL_MS);
    assert!(h.procedures("lukretia").is_empty());
    assert!(decisions(&h, "lukretia")
        .iter()
        .any(|d| d == "slave macbeth is UP: waiting for it to see RECOVER and step down"));
    // Once the slave has stepped down, the master starts.
    h.failc("macbeth", SERVICE, State::Recover);
    h.run_for(2 * INTERVAL_MS);
    assert_eq!(h.procedures("lukretia"), vec![ProcedureKind::Start]);
}

#[test]
fn a_master_in_recover_starts_when_no_slave_is_up() {
    let mut h = master_view(State::Recover, State::Recover);
    h.run_for(2 * INTERVAL_MS);
    assert_eq!(h.procedures("lukretia"), vec![ProcedureKind::Start]);
    assert_eq!(h.stored("lukretia", SERVICE), Some(State::Up));
}

#[test]
fn a_service_in_fail_is_left_alone() {
    let mut h = master_view(State::Fail, State::Fail);
    h.run_for(5 * INTERVAL_MS);
    assert!(h.procedures("lukretia").is_empty());
    let mut h = slave_view(State::Fail, State::Fail);
    h.crash("lukretia");
    h.run_for(5 * INTERVAL_MS);
    assert!(h.procedures("macbeth").is_empty());
    assert_eq!(h.state("macbeth", SERVICE), Some(State::Fail));
}

#[test]
fn a_service_the_local_faild_does_not_know_counts_as_fail() {
    let mut h = Harness::new(1);
    h.add_host("lukretia", Some(lukretia()), Vec::new());
    h.add_host("macbeth", None, Vec::new());
    h.run_for(5 * INTERVAL_MS);
    assert!(h.procedures("lukretia").is_empty());
    assert_eq!(h.state("lukretia", SERVICE), Some(State::Fail));
    // The seed's service script registers RECOVER at boot; then failsh starts it.
    h.failc("lukretia", SERVICE, State::Recover);
    h.run_for(2 * INTERVAL_MS);
    assert_eq!(h.state("lukretia", SERVICE), Some(State::Up));
}

#[test]
fn a_start_that_fails_is_cleaned_up_with_stop_and_leaves_fail_with_the_reason() {
    let mut h = master_view(State::Recover, State::Fail);
    h.set_behaviour(
        "lukretia",
        ProcedureKind::Start,
        Behaviour::Fail {
            error: "ifconfig: permission denied".into(),
            delay_ms: 5,
        },
    );
    h.run_for(3 * INTERVAL_MS);
    assert_eq!(h.stored("lukretia", SERVICE), Some(State::Fail));
    assert_eq!(
        h.procedures("lukretia"),
        vec![ProcedureKind::Start, ProcedureKind::Stop],
        "FAIL is not retried"
    );
    let reasons: Vec<String> = h
        .host("lukretia")
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::StateChanged {
                to: State::Fail,
                reason,
                ..
            } => Some(reason.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        reasons,
        vec!["start failed: ifconfig: permission denied; stop returned FAIL".to_string()]
    );
}

#[test]
fn a_start_that_returns_garbage_leaves_fail() {
    let mut h = master_view(State::Recover, State::Fail);
    h.set_behaviour(
        "lukretia",
        ProcedureKind::Start,
        Behaviour::Return {
            text: "started ok".into(),
            delay_ms: 5,
        },
    );
    h.run_for(3 * INTERVAL_MS);
    assert_eq!(h.stored("lukretia", SERVICE), Some(State::Fail));
    assert!(h.host("lukretia").events.iter().any(|(_, e)| matches!(e,
        Event::StateChanged { to: State::Fail, reason, .. } if reason == "start returned \"started ok\", which is not UP, RECOVER or FAIL; stop returned FAIL")));
}

#[test]
fn a_hanging_start_is_killed_at_its_limit_and_leaves_fail() {
    let mut h = Harness::new(3);
    let mut cfg = lukretia();
    cfg.services[0].procedure_limit_ms = 2_500;
    h.add_host("lukretia", Some(cfg), record(State::Recover));
    h.add_host("macbeth", None, record(State::Fail));
    h.set_behaviour("lukretia", ProcedureKind::Start, Behaviour::Hang);
    h.run_for(5 * INTERVAL_MS);
    let killed_at = h
        .host("lukretia")
        .actions
        .iter()
        .find_map(|(t, a)| matches!(a, Action::KillProcedure { .. }).then_some(*t));
    let started_at = h.host("lukretia").procedures_run[0].0;
    assert_eq!(killed_at.map(|t| t.since_ms(started_at)), Some(2_500));
    assert_eq!(h.stored("lukretia", SERVICE), Some(State::Fail));
    assert_eq!(
        h.procedures("lukretia"),
        vec![ProcedureKind::Start, ProcedureKind::Stop]
    );
}

#[test]
fn a_failed_stop_keeps_counting_as_up_and_is_retried_so_nobody_else_starts() {
    // macbeth is UP, lukretia (master) comes back in RECOVER; macbeth's stop fails twice.
    let mut h = Harness::new(23);
    h.add_host("lukretia", Some(lukretia()), record(State::Recover));
    h.add_host("macbeth", Some(macbeth()), record(State::Up));
    h.host_mut("macbeth").holds_service = true;
    h.set_behaviour(
        "macbeth",
        ProcedureKind::Stop,
        Behaviour::Fail {
            error: "ip: RTNETLINK answers: busy".into(),
            delay_ms: 5,
        },
    );
    h.run_for(3 * INTERVAL_MS);
    assert!(
        h.procedures("macbeth")
            .iter()
            .filter(|k| **k == ProcedureKind::Stop)
            .count()
            >= 2,
        "stop is retried"
    );
    assert_eq!(
        h.stored("macbeth", SERVICE),
        Some(State::Up),
        "FAIL is not published while the service may run"
    );
    assert!(
        h.procedures("lukretia").is_empty(),
        "the master waits instead of starting next to it"
    );
    assert_eq!(h.holders(), vec!["macbeth".to_string()]);
    // The stop works again: the handshake completes.
    h.set_behaviour(
        "macbeth",
        ProcedureKind::Stop,
        Behaviour::Return {
            text: "RECOVER".into(),
            delay_ms: 5,
        },
    );
    h.run_for(3 * INTERVAL_MS);
    assert_eq!(h.holders(), vec!["lukretia".to_string()]);
}

#[test]
fn an_operator_fail_during_start_wins_over_the_start_result() {
    let mut h = master_view(State::Recover, State::Fail);
    h.set_behaviour(
        "lukretia",
        ProcedureKind::Start,
        Behaviour::Return {
            text: "UP".into(),
            delay_ms: 1_500,
        },
    );
    h.run_for(500);
    assert_eq!(h.procedures("lukretia"), vec![ProcedureKind::Start]);
    h.failc("lukretia", SERVICE, State::Fail);
    h.run_for(4 * INTERVAL_MS);
    assert_eq!(
        h.procedures("lukretia"),
        vec![ProcedureKind::Start, ProcedureKind::Stop]
    );
    assert_eq!(h.stored("lukretia", SERVICE), Some(State::Fail));
    assert_eq!(h.state("lukretia", SERVICE), Some(State::Fail));
    assert!(h.holders().is_empty());
}

#[test]
fn a_slave_that_started_and_stepped_down_between_two_polls_makes_the_master_reannounce() {
    let mut h = master_view(State::Recover, State::Recover);
    h.run_for(2 * INTERVAL_MS);
    assert_eq!(h.procedures("lukretia"), vec![ProcedureKind::Start]);
    // Between two of lukretia's polls macbeth goes UP (and announces) and back to RECOVER.
    h.run_for(200);
    h.failc("macbeth", SERVICE, State::Up);
    h.failc("macbeth", SERVICE, State::Recover);
    h.run_for(2 * INTERVAL_MS);
    assert_eq!(
        h.procedures("lukretia"),
        vec![ProcedureKind::Start, ProcedureKind::Reclaim]
    );
    h.run_for(5 * INTERVAL_MS);
    assert_eq!(
        h.procedures("lukretia").len(),
        2,
        "no reclaim while nothing changes"
    );
}

#[test]
fn an_up_service_is_stopped_when_the_local_faild_cannot_be_reached() {
    let mut h = master_view(State::Recover, State::Fail);
    h.run_for(2 * INTERVAL_MS);
    assert_eq!(h.state("lukretia", SERVICE), Some(State::Up));
    h.cut("lukretia", "lukretia");
    h.run_for(3 * INTERVAL_MS);
    assert_eq!(
        h.procedures("lukretia"),
        vec![ProcedureKind::Start, ProcedureKind::Stop]
    );
    assert!(!h.host("lukretia").holds_service);
}

#[test]
fn a_failing_health_check_stops_an_up_service_and_keeps_a_slave_from_taking_over() {
    let mut h = Harness::new(5);
    let mut cfg = lukretia();
    cfg.services[0].procedures.check = Some("checkservice".into());
    h.add_host("lukretia", Some(cfg), record(State::Recover));
    h.add_host("macbeth", None, record(State::Fail));
    h.run_for(3 * INTERVAL_MS);
    assert_eq!(h.state("lukretia", SERVICE), Some(State::Up));
    h.set_behaviour(
        "lukretia",
        ProcedureKind::Check,
        Behaviour::Return {
            text: "0".into(),
            delay_ms: 5,
        },
    );
    h.run_for(2 * INTERVAL_MS);
    assert!(h.procedures("lukretia").contains(&ProcedureKind::Stop));
    assert_eq!(h.stored("lukretia", SERVICE), Some(State::Fail));

    let mut h = Harness::new(5);
    let mut cfg = macbeth();
    cfg.services[0].procedures.check = Some("checkservice".into());
    h.add_host("lukretia", None, record(State::Fail));
    h.add_host("macbeth", Some(cfg), record(State::Recover));
    h.set_behaviour(
        "macbeth",
        ProcedureKind::Check,
        Behaviour::Fail {
            error: "proxy does not resolve".into(),
            delay_ms: 5,
        },
    );
    h.run_for(5 * INTERVAL_MS);
    assert!(!h.procedures("macbeth").contains(&ProcedureKind::Start));
    // Held FAIL by its check (so no other host waits for it), and back by itself once the
    // check passes: it then takes the service over.
    assert_eq!(h.state("macbeth", SERVICE), Some(State::Fail));
    h.set_behaviour(
        "macbeth",
        ProcedureKind::Check,
        Behaviour::Return {
            text: "1".into(),
            delay_ms: 5,
        },
    );
    h.run_for(3 * INTERVAL_MS);
    assert_eq!(h.state("macbeth", SERVICE), Some(State::Up));
    assert_eq!(h.holders(), vec!["macbeth".to_string()]);
}

/// The case: a master whose check fails while its stop returns RECOVER used to stay
/// RECOVER and keep the slave off, so that nobody served. It now ends FAIL whatever its stop
/// returns, the slave takes over, and after `rise` passes the master takes it back.
#[test]
fn a_master_whose_check_fails_hands_over_and_takes_back_after_rise_passes() {
    let mut h = Harness::new(6);
    let mut cfg = lukretia();
    cfg.services[0].procedures.check = Some("checkservice".into());
    cfg.services[0].check_fall = 3;
    cfg.services[0].check_rise = 2;
    h.add_host("lukretia", Some(cfg), record(State::Recover));
    h.add_host("macbeth", Some(macbeth()), record(State::Recover));
    h.set_behaviour(
        "lukretia",
        ProcedureKind::Stop,
        Behaviour::Return {
            text: "RECOVER".into(),
            delay_ms: 5,
        },
    );
    h.run_for(3 * INTERVAL_MS);
    assert_eq!(h.holders(), vec!["lukretia".to_string()]);
    h.set_behaviour(
        "lukretia",
        ProcedureKind::Check,
        Behaviour::Return {
            text: "0".into(),
            delay_ms: 5,
        },
    );
    // Two failures are not enough (fall 3).
    h.run_for(INTERVAL_MS + INTERVAL_MS / 2);
    assert_eq!(h.state("lukretia", SERVICE), Some(State::Up));
    h.run_for(4 * INTERVAL_MS);
    assert_eq!(h.state("lukretia", SERVICE), Some(State::Fail));
    assert_eq!(h.stored("lukretia", SERVICE), Some(State::Fail));
    assert_eq!(h.holders(), vec!["macbeth".to_string()]);
    h.set_behaviour(
        "lukretia",
        ProcedureKind::Check,
        Behaviour::Return {
            text: "1".into(),
            delay_ms: 5,
        },
    );
    h.run_for(6 * INTERVAL_MS);
    assert_eq!(h.state("lukretia", SERVICE), Some(State::Up));
    assert_eq!(h.state("macbeth", SERVICE), Some(State::Recover));
    assert_eq!(h.holders(), vec!["lukretia".to_string()]);
}

#[test]
fn an_operator_fail_in_the_local_faild_is_adopted_without_running_stop() {
    let mut h = Harness::new(11);
    h.add_host("lukretia", Some(lukretia()), record(State::Recover));
    h.add_host("macbeth", Some(macbeth()), record(State::Recover));
    h.run_for(3 * INTERVAL_MS);
    assert_eq!(h.holders(), vec!["lukretia".to_string()]);
    // The service script's `fail`: address down, then failc -s FAIL.
    h.host_mut("lukretia").holds_service = false;
    h.failc("lukretia", SERVICE, State::Fail);
    h.run_for(3 * INTERVAL_MS);
    assert_eq!(h.procedures("lukretia"), vec![ProcedureKind::Start]);
    assert_eq!(h.state("lukretia", SERVICE), Some(State::Fail));
    assert_eq!(h.state("macbeth", SERVICE), Some(State::Up));
    // `recover`: the slave steps down and the master takes the service back.
    h.failc("lukretia", SERVICE, State::Recover);
    h.run_for(4 * INTERVAL_MS);
    assert_eq!(h.state("macbeth", SERVICE), Some(State::Recover));
    assert_eq!(h.state("lukretia", SERVICE), Some(State::Up));
    assert_eq!(h.holders(), vec!["lukretia".to_string()]);
}

#[test]
fn sigterm_hands_over_within_one_interval() {
    let mut h = Harness::new(13);
    h.add_host("lukretia", Some(lukretia()), record(State::Recover));
    h.add_host("macbeth", Some(macbeth()), record(State::Recover));
    h.run_for(3 * INTERVAL_MS);
    let shutdown_at = h.now;
    let now = h.now;
    h.host_mut("lukretia").shell.as_mut().unwrap().handle(
        now,
        Input::Shutdown {
            keep_services: false,
        },
    );
    h.run_for(3 * INTERVAL_MS);
    let lukretia = h.host("lukretia");
    assert!(lukretia.actions.iter().any(|(_, a)| *a == Action::Exit));
    assert_eq!(h.stored("lukretia", SERVICE), Some(State::Fail));
    let macbeth_up_at = h
        .host("macbeth")
        .events
        .iter()
        .find_map(|(t, e)| matches!(e, Event::StateChanged { to: State::Up, .. }).then_some(*t))
        .expect("macbeth takes over");
    assert!(
        macbeth_up_at.since_ms(shutdown_at) <= INTERVAL_MS + 20,
        "took {} ms",
        macbeth_up_at.since_ms(shutdown_at)
    );
    assert_eq!(h.holders(), vec!["macbeth".to_string()]);
}

#[test]
fn sigterm_with_keep_leaves_services_running() {
    let mut h = master_view(State::Recover, State::Fail);
    h.run_for(2 * INTERVAL_MS);
    let now = h.now;
    h.host_mut("lukretia").shell.as_mut().unwrap().handle(
        now,
        Input::Shutdown {
            keep_services: true,
        },
    );
    h.run_for(INTERVAL_MS);
    assert_eq!(h.procedures("lukretia"), vec![ProcedureKind::Start]);
    assert_eq!(h.stored("lukretia", SERVICE), Some(State::Up));
    assert!(h
        .host("lukretia")
        .actions
        .iter()
        .any(|(_, a)| *a == Action::Exit));
}

#[test]
fn misses_tolerate_lost_polls_before_a_host_counts_as_fail() {
    let mut h = Harness::new(17);
    let mut cfg = macbeth();
    cfg.services[0].misses = 3;
    h.add_host("lukretia", None, record(State::Up));
    h.add_host("macbeth", Some(cfg), record(State::Recover));
    h.run_for(2 * INTERVAL_MS);
    h.cut("lukretia", "macbeth");
    h.run_for(2 * INTERVAL_MS + 500);
    assert!(
        h.procedures("macbeth").is_empty(),
        "two misses are tolerated"
    );
    h.run_for(2 * INTERVAL_MS);
    assert_eq!(h.procedures("macbeth"), vec![ProcedureKind::Start]);
}

/// The seed's story at core level.
#[test]
fn the_lukretia_macbeth_story() {
    let misses_plus_one_ms = 2 * INTERVAL_MS;
    let mut h = Harness::new(42);
    // Both boot; the service script's `start` registers RECOVER in each faild.
    h.add_host("lukretia", Some(lukretia()), record(State::Recover));
    h.add_host("macbeth", Some(macbeth()), record(State::Recover));
    h.run_for(misses_plus_one_ms);
    assert_eq!(h.state("lukretia", SERVICE), Some(State::Up));
    assert_eq!(h.state("macbeth", SERVICE), Some(State::Recover));
    assert_eq!(h.holders(), vec!["lukretia".to_string()]);

    // lukretia's host dies: macbeth takes over within misses + 1 intervals.
    h.crash("lukretia");
    let died_at = h.now;
    h.run_for(misses_plus_one_ms + 100);
    let up_at = h
        .host("macbeth")
        .events
        .iter()
        .find_map(|(t, e)| matches!(e, Event::StateChanged { to: State::Up, .. }).then_some(*t))
        .expect("macbeth goes UP");
    assert!(
        up_at.since_ms(died_at) <= misses_plus_one_ms,
        "took {} ms",
        up_at.since_ms(died_at)
    );
    assert_eq!(h.holders(), vec!["macbeth".to_string()]);

    // lukretia reboots; its service script registers RECOVER; the handshake.
    h.restart("lukretia");
    h.failc("lukretia", SERVICE, State::Recover);
    let mut both = 0;
    for _ in 0..60 {
        h.run_for(100);
        if h.holders().len() > 1 {
            both += 1;
        }
    }
    assert_eq!(both, 0, "never both hold the service during the handshake");
    assert_eq!(h.state("macbeth", SERVICE), Some(State::Recover));
    assert_eq!(h.state("lukretia", SERVICE), Some(State::Up));
    assert_eq!(h.holders(), vec!["lukretia".to_string()]);

    // A partition: both UP. lukretia announces when macbeth falls silent; after the heal it
    // announces at once and again after macbeth has stepped down.
    h.partition("lukretia", "macbeth");
    h.run_for(4 * INTERVAL_MS);
    assert_eq!(h.state("macbeth", SERVICE), Some(State::Up));
    assert_eq!(h.state("lukretia", SERVICE), Some(State::Up));
    h.heal();
    let healed_at = h.now;
    h.run_for(misses_plus_one_ms);
    assert_eq!(h.state("macbeth", SERVICE), Some(State::Recover));
    assert_eq!(h.state("lukretia", SERVICE), Some(State::Up));
    let reclaims: Vec<Time> = h
        .host("lukretia")
        .procedures_run
        .iter()
        .filter(|(_, k)| *k == ProcedureKind::Reclaim)
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(reclaims.len(), 3);
    assert!(reclaims[0] < healed_at);
    assert!(reclaims[1] >= healed_at);
    h.run_for(5 * INTERVAL_MS);
    assert_eq!(h.holders(), vec!["lukretia".to_string()]);
    assert_eq!(
        h.procedures("lukretia")
            .iter()
            .filter(|k| **k == ProcedureKind::Reclaim)
            .count(),
        3
    );
}

#[test]
fn the_same_seed_and_inputs_give_byte_identical_actions() {
    let run = |seed: u64| {
        let mut h = Harness::new(seed);
        h.add_host("lukretia", Some(lukretia()), record(State::Recover));
        h.add_host("macbeth", Some(macbeth()), record(State::Recover));
        h.run_for(3_000);
        h.crash("lukretia");
        h.run_for(3_000);
        h.restart("lukretia");
        h.failc("lukretia", SERVICE, State::Recover);
        h.run_for(5_000);
        let mut out = String::new();
        for host in h.hosts.values() {
            for (t, action) in &host.actions {
                out.push_str(&format!(
                    "{} {} {}\n",
                    host.name,
                    t.as_ms(),
                    serde_json::to_string(action).unwrap()
                ));
            }
        }
        out
    };
    let a = run(99);
    assert!(a.len() > 1000);
    assert_eq!(a, run(99));
    assert_ne!(a, run(100), "the seed reaches the nonces");
}

/// lukretia and macbeth, both with a failsh, at a fast setting.
fn fast_pair(interval_ms: u64, misses: u32, timeout_ms: u64) -> Harness {
    let fast = |masters: &[&str], slaves: &[&str]| ServiceConfig {
        interval_ms,
        misses,
        timeout_ms: Some(timeout_ms),
        ..service(masters, slaves)
    };
    let mut h = Harness::new(7);
    h.add_host(
        "lukretia",
        Some(config("macbeth", fast(&[], &["macbeth"]))),
        record(State::Recover),
    );
    h.add_host(
        "macbeth",
        Some(config("lukretia", fast(&["lukretia"], &[]))),
        record(State::Recover),
    );
    h
}

/// faild answers a state write only once it is on disk. At a 5 ms poll timeout a 20 ms
/// fsync would make every healthy write count as failed (and `misses` of them stop an UP
/// service); a write is given at least WRITE_TIMEOUT_FLOOR_MS instead, while the polls of the
/// local faild still notice a dead one at the poll timeout.
#[test]
fn a_slow_disk_under_faild_does_not_stop_an_up_service_at_a_short_timeout() {
    let mut h = fast_pair(10, 3, 5);
    h.persist_ms = 20;
    h.run_for(2_000);
    assert_eq!(h.state("lukretia", SERVICE), Some(State::Up));
    assert_eq!(h.stored("lukretia", SERVICE), Some(State::Up));
    assert_eq!(h.procedures("lukretia"), vec![ProcedureKind::Start]);
    assert!(
        h.procedures("macbeth").is_empty(),
        "{:?}",
        h.procedures("macbeth")
    );
    assert_eq!(h.holders(), vec!["lukretia".to_string()]);
    let write_failures: Vec<_> = h
        .host("lukretia")
        .events
        .iter()
        .filter(|(_, e)| matches!(e, Event::WriteFailed { .. }))
        .collect();
    assert!(write_failures.is_empty(), "{write_failures:?}");

    // A faild that really is gone is still noticed at the poll timeout, not the write floor.
    h.cut("lukretia", "lukretia");
    h.run_for(100);
    assert_eq!(
        h.procedures("lukretia"),
        vec![ProcedureKind::Start, ProcedureKind::Stop]
    );
}

/// Found by the 5 ms bench setting: faild keeps the newest MAX_OUTSTANDING_CHALLENGES
/// challenges, which at 200 polls a second is 20 s of them, while failsh kept every challenge
/// for 25 s and used the oldest first. After 20 s every write presented a forgotten
/// challenge, was refused, and retried with the next-oldest: writes failed for seconds and
/// the slave stopped the service it had just started. failsh now uses the newest challenge.
#[test]
fn writes_succeed_at_once_after_a_long_run_at_a_5_ms_interval() {
    let mut h = fast_pair(5, 4, 5);
    h.run_for(30_000);
    assert_eq!(h.holders(), vec!["lukretia".to_string()]);
    h.cut("lukretia", "macbeth");
    h.cut("macbeth", "lukretia");
    h.run_for(200);
    assert_eq!(h.stored("macbeth", SERVICE), Some(State::Up));
    assert_eq!(h.procedures("macbeth"), vec![ProcedureKind::Start]);
    let refused: Vec<_> = h
        .host("macbeth")
        .events
        .iter()
        .filter(|(_, e)| matches!(e, Event::WriteFailed { .. }))
        .collect();
    assert!(
        refused.is_empty(),
        "{} failed writes: {:?}",
        refused.len(),
        refused.first()
    );
}

/// `failsvc S preempt off`: a master that comes back in RECOVER waits while the slave keeps
/// the service, until an operator moves it (FAIL on the slave).
#[test]
fn preempt_off_leaves_the_service_on_the_slave_until_an_operator_moves_it() {
    let mut h = Harness::new(21);
    let mut slave = macbeth();
    slave.services[0].preempt = false;
    let mut master = lukretia();
    master.services[0].preempt = false;
    h.add_host("lukretia", Some(master), record(State::Recover));
    h.add_host("macbeth", Some(slave), record(State::Recover));
    h.run_for(3 * INTERVAL_MS);
    assert_eq!(h.holders(), vec!["lukretia".to_string()]);
    h.host_mut("lukretia").holds_service = false;
    h.failc("lukretia", SERVICE, State::Fail);
    h.run_for(3 * INTERVAL_MS);
    assert_eq!(h.holders(), vec!["macbeth".to_string()]);
    h.failc("lukretia", SERVICE, State::Recover);
    for _ in 0..12 {
        h.run_for(INTERVAL_MS);
        assert_eq!(h.state("lukretia", SERVICE), Some(State::Recover));
        assert_eq!(h.holders(), vec!["macbeth".to_string()]);
    }
    // The operator moves it: fail it on the slave.
    h.host_mut("macbeth").holds_service = false;
    h.failc("macbeth", SERVICE, State::Fail);
    h.run_for(3 * INTERVAL_MS);
    assert_eq!(h.holders(), vec!["lukretia".to_string()]);
    assert_eq!(h.state("lukretia", SERVICE), Some(State::Up));
}

/// `failsvc S preempt_delay 5`: the slave steps down only once the master has been
/// RECOVER for 5 s.
#[test]
fn preempt_delay_hands_back_only_after_the_master_was_recover_that_long() {
    let mut h = Harness::new(22);
    let mut slave = macbeth();
    slave.services[0].preempt_delay_ms = 5_000;
    h.add_host("lukretia", Some(lukretia()), record(State::Recover));
    h.add_host("macbeth", Some(slave), record(State::Recover));
    h.run_for(3 * INTERVAL_MS);
    h.host_mut("lukretia").holds_service = false;
    h.failc("lukretia", SERVICE, State::Fail);
    h.run_for(3 * INTERVAL_MS);
    assert_eq!(h.holders(), vec!["macbeth".to_string()]);
    h.failc("lukretia", SERVICE, State::Recover);
    h.run_for(4 * INTERVAL_MS);
    assert_eq!(h.holders(), vec!["macbeth".to_string()]);
    assert_eq!(h.state("lukretia", SERVICE), Some(State::Recover));
    h.run_for(4 * INTERVAL_MS);
    assert_eq!(h.holders(), vec!["lukretia".to_string()]);
}

/// A reload that removes a service that is UP here stops it with its stop procedure and
/// leaves FAIL in the local faild, so that the slave takes over; the service is then
/// forgotten.
#[test]
fn a_reload_that_removes_an_up_service_stops_it_and_leaves_fail() {
    let mut h = Harness::new(23);
    h.add_host("lukretia", Some(lukretia()), record(State::Recover));
    h.add_host("macbeth", Some(macbeth()), record(State::Recover));
    h.run_for(3 * INTERVAL_MS);
    assert_eq!(h.holders(), vec!["lukretia".to_string()]);
    let mut without = lukretia();
    without.services.clear();
    let now = h.now;
    h.host_mut("lukretia")
        .shell
        .as_mut()
        .expect("failsh")
        .handle(now, failover_core::shell::Input::Reconfigure(without));
    h.run_for(3 * INTERVAL_MS);
    assert_eq!(h.procedures("lukretia").last(), Some(&ProcedureKind::Stop));
    assert_eq!(h.stored("lukretia", SERVICE), Some(State::Fail));
    assert_eq!(h.holders(), vec!["macbeth".to_string()]);
    let shell = h.host("lukretia").shell.as_ref().expect("failsh");
    assert!(
        shell.services_status().is_empty(),
        "the service is forgotten"
    );
}

/// A reload that adds a service and renames a procedure disturbs nothing of the service
/// that stays: no procedure runs, it stays UP, and its polls of the other host and of the
/// local faild never pause longer than one interval (plus the reply time).
#[test]
fn a_reload_leaves_an_unchanged_service_alone_and_its_polls_on_time() {
    let mut h = Harness::new(24);
    h.add_host("lukretia", Some(lukretia()), record(State::Recover));
    h.add_host("macbeth", Some(macbeth()), record(State::Recover));
    h.run_for(5 * INTERVAL_MS);
    assert_eq!(h.holders(), vec!["lukretia".to_string()]);
    let runs_before = h.procedures("lukretia").len();
    let mut reloaded = lukretia();
    reloaded.services[0].procedures.reclaim = Some("reclaim2".into());
    let mut second = service(&[], &["macbeth"]);
    second.name = "198.18.0.51".into();
    reloaded.services.push(second);
    let reloaded_at = h.now;
    h.host_mut("lukretia")
        .shell
        .as_mut()
        .expect("failsh")
        .handle(
            reloaded_at,
            failover_core::shell::Input::Reconfigure(reloaded),
        );
    h.run_for(5 * INTERVAL_MS);
    assert_eq!(
        h.procedures("lukretia").len(),
        runs_before,
        "a procedure ran"
    );
    assert_eq!(h.state("lukretia", SERVICE), Some(State::Up));
    let sends = |to: &str| -> Vec<u64> {
        h.host("lukretia")
            .actions
            .iter()
            .filter(|(at, action)| {
                at.as_ms() + 2 * INTERVAL_MS >= reloaded_at.as_ms()
                    && matches!(action, failover_core::shell::Action::Send { to: d, .. } if d.host.to_string() == to)
            })
            .map(|(at, _)| at.as_ms())
            .collect()
    };
    for to in ["macbeth", "localhost"] {
        let times = sends(to);
        assert!(times.len() >= 6, "polls of {to}: {times:?}");
        let longest = times.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0);
        assert!(
            longest <= INTERVAL_MS + 50,
            "polls of {to} paused {longest} ms around the reload: {times:?}"
        );
    }
    // A new host list and a new interval take effect without a stop.
    let mut relisted = lukretia();
    relisted.services[0].slaves = vec!["macbeth".into(), "banquo".into()];
    relisted.services[0].interval_ms = INTERVAL_MS / 2;
    relisted.hosts.push(host("banquo"));
    let now = h.now;
    h.host_mut("lukretia")
        .shell
        .as_mut()
        .expect("failsh")
        .handle(now, failover_core::shell::Input::Reconfigure(relisted));
    h.run_for(5 * INTERVAL_MS);
    assert!(
        !h.procedures("lukretia")[runs_before..].contains(&ProcedureKind::Stop),
        "a reload stopped the service: {:?}",
        h.procedures("lukretia")
    );
    assert_eq!(h.state("lukretia", SERVICE), Some(State::Up));
    assert_eq!(h.holders(), vec!["lukretia".to_string()]);
}
