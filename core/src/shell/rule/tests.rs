//! One test per row of the rule table in `docs/design.md`, in the table's order. Each starts
//! from a quiet view (nothing wrong anywhere) and changes only what its row is about.

use super::*;

const NOW: Time = Time(10_000);

fn quiet(local: State) -> View {
    View {
        now: NOW,
        local,
        local_faild: LocalFaild::Answers,
        lease_lapsing: false,
        lease_unowned: false,
        link: Link::Up,
        track_hold: false,
        master: None,
        preempt: true,
        preempt_delay_ms: 0,
        startup_hold: None,
        check_hold: false,
        check_passes: 0,
        check_rise: 1,
        check_ran: false,
        reread: false,
        has_masters: true,
        slave_up: None,
        peer_unseen: None,
        peers: vec!["macbeth".to_string()],
        peer_unseen_while_up: false,
        reannounce: false,
        conflict_since: None,
        conflict_reclaimed: false,
        stuck_after_ms: 3_000,
        has_reclaim: true,
        has_check: false,
        checked: false,
        fence: None,
        waiting_for: None,
        quorum: None,
    }
}

fn decision(view: &View) -> Decision {
    rule(view).0
}

fn kind(view: &View) -> Option<(ProcedureKind, Option<State>)> {
    match decision(view) {
        Decision::Run { kind, then, .. } => Some((kind, then)),
        _ => None,
    }
}

fn stays(view: &View) -> bool {
    matches!(decision(view), Decision::Stay(_))
}

#[test]
fn row_01_up_with_a_silent_local_faild_stops() {
    let view = View {
        local_faild: LocalFaild::Silent,
        ..quiet(State::Up)
    };
    assert_eq!(kind(&view), Some((ProcedureKind::Stop, None)));
}

#[test]
fn row_02_up_whose_writes_fail_stops() {
    let view = View {
        local_faild: LocalFaild::WritesFail,
        ..quiet(State::Up)
    };
    assert_eq!(kind(&view), Some((ProcedureKind::Stop, None)));
}

#[test]
fn row_03_up_with_a_lapsing_lease_stops_then_recovers() {
    let view = View {
        lease_lapsing: true,
        ..quiet(State::Up)
    };
    assert_eq!(
        kind(&view),
        Some((ProcedureKind::Stop, Some(State::Recover)))
    );
}

#[test]
fn row_04_up_with_a_tracked_interface_down_stops_then_holds_fail() {
    let view = View {
        link: Link::Down("eth0".into()),
        ..quiet(State::Up)
    };
    let (decision, episode) = rule(&view);
    assert!(
        matches!(&decision, Decision::Run { kind: ProcedureKind::Stop, then: Some(State::Fail), reason } if reason == "tracked interface eth0 down")
    );
    assert_eq!(episode.track_hold, Some(true));
    // Even a master UP elsewhere, or a slave UP, does not change that.
    let view = View {
        master: Some(("lukretia".into(), State::Up, None)),
        slave_up: Some("macbeth".into()),
        ..view
    };
    assert_eq!(kind(&view), Some((ProcedureKind::Stop, Some(State::Fail))));
}

#[test]
fn row_05_recover_with_a_tracked_interface_down_publishes_fail_and_never_takes_over() {
    let view = View {
        link: Link::Down("eth0".into()),
        ..quiet(State::Recover)
    };
    let (decision, episode) = rule(&view);
    assert_eq!(
        decision,
        Decision::Publish {
            state: State::Fail,
            reason: "tracked interface eth0 down".into()
        }
    );
    assert_eq!(episode.track_hold, Some(true));
}

#[test]
fn row_06_fail_with_a_tracked_interface_down_stays() {
    let view = View {
        link: Link::Down("eth0".into()),
        track_hold: true,
        ..quiet(State::Fail)
    };
    let (decision, episode) = rule(&view);
    assert!(matches!(decision, Decision::Stay(_)));
    assert_eq!(episode.track_hold, None, "the hold stays as it is");
}

#[test]
fn row_07_recover_waits_until_every_tracked_carrier_is_known() {
    let view = View {
        link: Link::Unknown("eth1".into()),
        ..quiet(State::Recover)
    };
    assert!(stays(&view));
    // An UP service is not stopped for a carrier not yet reported.
    let view = View {
        link: Link::Unknown("eth1".into()),
        ..quiet(State::Up)
    };
    assert!(stays(&view));
}

#[test]
fn row_08_a_held_fail_returns_to_recover_when_every_tracked_interface_is_up() {
    let view = View {
        track_hold: true,
        ..quiet(State::Fail)
    };
    let (decision, episode) = rule(&view);
    assert!(matches!(
        decision,
        Decision::Publish {
            state: State::Recover,
            ..
        }
    ));
    assert_eq!(episode.track_hold, Some(false));
    // A FAIL that is not ours (an operator's) stays.
    assert!(stays(&quiet(State::Fail)));
}

#[test]
fn row_09_up_with_a_master_up_or_recover_stops() {
    for master in [State::Up, State::Recover] {
        let view = View {
            master: Some(("lukretia".into(), master, None)),
            ..quiet(State::Up)
        };
        assert_eq!(kind(&view), Some((ProcedureKind::Stop, None)));
    }
}

#[test]
fn row_10_recover_or_fail_with_a_master_up_or_recover_stands_by() {
    for local in [State::Recover, State::Fail] {
        let view = View {
            master: Some(("lukretia".into(), State::Recover, None)),
            ..quiet(local)
        };
        assert!(stays(&view));
    }
}

#[test]
fn row_11_up_finding_a_slave_up_announces_at_once() {
    let view = View {
        slave_up: Some("macbeth".into()),
        ..quiet(State::Up)
    };
    let (decision, episode) = rule(&view);
    assert!(matches!(
        decision,
        Decision::Run {
            kind: ProcedureKind::Reclaim,
            ..
        }
    ));
    assert_eq!(episode.conflict_since, Some(NOW));
    // Without a reclaim procedure it can only wait.
    let view = View {
        has_reclaim: false,
        ..view
    };
    assert!(stays(&view));
}

#[test]
fn row_12_up_while_the_slave_is_still_up_waits_for_it_to_step_down() {
    let view = View {
        slave_up: Some("macbeth".into()),
        conflict_since: Some(Time(9_000)),
        ..quiet(State::Up)
    };
    assert!(stays(&view));
}

#[test]
fn row_13_up_with_a_slave_up_past_the_bound_reclaims_once() {
    let view = View {
        slave_up: Some("macbeth".into()),
        conflict_since: Some(Time(6_000)),
        ..quiet(State::Up)
    };
    let (decision, episode) = rule(&view);
    assert!(matches!(
        decision,
        Decision::Run {
            kind: ProcedureKind::Reclaim,
            ..
        }
    ));
    assert!(episode.conflict_reclaimed);
    let again = View {
        conflict_reclaimed: true,
        ..view
    };
    assert!(stays(&again));
}

#[test]
fn row_14_up_when_an_unseen_slave_answers_again_reclaims() {
    let view = View {
        peer_unseen_while_up: true,
        ..quiet(State::Up)
    };
    let (decision, episode) = rule(&view);
    assert!(matches!(
        decision,
        Decision::Run {
            kind: ProcedureKind::Reclaim,
            ..
        }
    ));
    assert!(!episode.peer_unseen_while_up);
    // While it is still unseen, the episode goes on and nothing runs.
    let view = View {
        peer_unseen: Some("macbeth".into()),
        ..view
    };
    let (decision, episode) = rule(&view);
    assert!(matches!(decision, Decision::Stay(_)));
    assert!(episode.peer_unseen_while_up);
}

#[test]
fn row_15b_no_announcement_while_the_local_faild_missed_its_last_poll() {
    let view = View {
        reannounce: true,
        local_faild: LocalFaild::Missed,
        ..quiet(State::Up)
    };
    assert!(stays(&view));
    // Owed, not forgotten: it is made once the local faild answers again.
    let (_, episode) = rule(&view);
    assert!(episode.reannounce);
    let unseen = View {
        peer_unseen_while_up: true,
        local_faild: LocalFaild::Missed,
        ..quiet(State::Up)
    };
    let (_, episode) = rule(&unseen);
    assert!(
        episode.peer_unseen_while_up,
        "an answer again still calls for it"
    );
    let (decision, episode) = rule(&View {
        local_faild: LocalFaild::Answers,
        ..unseen
    });
    assert!(matches!(
        decision,
        Decision::Run {
            kind: ProcedureKind::Reclaim,
            ..
        }
    ));
    assert!(!episode.reannounce && !episode.peer_unseen_while_up);
}

#[test]
fn row_14b_up_when_a_slave_falls_silent_reclaims_once() {
    let view = View {
        peer_unseen: Some("macbeth".into()),
        ..quiet(State::Up)
    };
    let (decision, episode) = rule(&view);
    assert_eq!(kind(&view), Some((ProcedureKind::Reclaim, None)));
    assert!(matches!(decision, Decision::Run { .. }));
    assert!(episode.peer_unseen_while_up, "the silence episode starts");
}

#[test]
fn row_15_up_when_another_host_may_have_announced_last_reclaims() {
    let view = View {
        reannounce: true,
        ..quiet(State::Up)
    };
    assert_eq!(kind(&view), Some((ProcedureKind::Reclaim, None)));
}

#[test]
fn row_16b_an_up_found_at_start_with_a_lease_is_started_again_to_own_its_addresses() {
    let view = View {
        lease_unowned: true,
        ..quiet(State::Up)
    };
    assert_eq!(kind(&view), Some((ProcedureKind::Start, None)));
}

#[test]
fn row_16_up_alone_stays_or_checks() {
    assert!(stays(&quiet(State::Up)));
    let view = View {
        has_check: true,
        ..quiet(State::Up)
    };
    assert_eq!(kind(&view), Some((ProcedureKind::Check, None)));
}

#[test]
fn row_17_recover_with_a_slave_up_waits_for_it_to_step_down() {
    let view = View {
        slave_up: Some("banquo".into()),
        ..quiet(State::Recover)
    };
    assert!(stays(&view));
}

#[test]
fn row_18_recover_with_a_fence_in_force_waits_it_out() {
    let until = NOW.plus_ms(1_500);
    let view = View {
        fence: Some((until, "master lukretia went silent".into())),
        ..quiet(State::Recover)
    };
    assert!(matches!(decision(&view), Decision::Wait { until: u, .. } if u == until));
    // A fence that has passed does not hold anything up.
    let view = View {
        fence: Some((NOW, "master lukretia went silent".into())),
        ..quiet(State::Recover)
    };
    assert_eq!(kind(&view), Some((ProcedureKind::Start, None)));
}

#[test]
fn row_18b_recover_waits_to_hear_from_every_host_after_its_link_came_back() {
    let view = View {
        waiting_for: Some("lukretia".into()),
        ..quiet(State::Recover)
    };
    assert!(stays(&view));
}

#[test]
fn row_18c_recover_does_not_start_while_its_local_faild_is_silent() {
    for local_faild in [LocalFaild::Silent, LocalFaild::WritesFail] {
        let view = View {
            local_faild,
            ..quiet(State::Recover)
        };
        assert!(stays(&view));
    }
}

#[test]
fn row_19_recover_with_a_check_runs_it_before_starting() {
    let view = View {
        has_check: true,
        ..quiet(State::Recover)
    };
    assert_eq!(kind(&view), Some((ProcedureKind::Check, None)));
    let view = View {
        checked: true,
        ..view
    };
    assert_eq!(kind(&view), Some((ProcedureKind::Start, None)));
}

#[test]
fn row_20_recover_with_no_master_and_no_slave_up_starts() {
    assert_eq!(
        kind(&quiet(State::Recover)),
        Some((ProcedureKind::Start, None))
    );
}

#[test]
fn row_21_fail_stays() {
    let view = View {
        slave_up: Some("macbeth".into()),
        ..quiet(State::Fail)
    };
    assert!(stays(&view));
    assert!(stays(&quiet(State::Fail)));
}

// ----- with a witness (docs/design.md, "Quorum with a witness") ------------------------------

fn witnessed(
    in_contact: usize,
    deadline: Option<Result<(Time, String), String>>,
) -> Option<super::super::quorum::Quorum> {
    Some(super::super::quorum::Quorum {
        in_contact,
        group: 3,
        silent: vec!["witness".to_string()],
        deadline,
    })
}

#[test]
fn w1_up_without_a_majority_fences_itself_then_recover() {
    let mut v = quiet(State::Up);
    v.quorum = witnessed(1, None);
    assert_eq!(kind(&v), Some((ProcedureKind::Stop, Some(State::Recover))));
    // With a majority (two of three) nothing changes.
    v.quorum = witnessed(2, None);
    assert!(matches!(decision(&v), Decision::Stay(_)));
}

#[test]
fn w2_without_a_majority_nothing_starts() {
    for local in [State::Recover, State::Fail] {
        let mut v = quiet(local);
        v.quorum = witnessed(1, None);
        match decision(&v) {
            Decision::Stay(why) => assert!(why.contains("no majority"), "{why}"),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn w3_a_silent_master_is_replaced_only_after_its_deadline_by_every_reporter() {
    let mut v = quiet(State::Recover);
    let until = NOW.plus_ms(1_200);
    v.quorum = witnessed(2, Some(Ok((until, "lukretia".to_string()))));
    match decision(&v) {
        Decision::Wait { until: at, reason } => {
            assert_eq!(at, until);
            assert!(reason.contains("lukretia"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    // Past the deadline: the usual start.
    v.quorum = witnessed(2, Some(Ok((NOW, "lukretia".to_string()))));
    assert_eq!(kind(&v), Some((ProcedureKind::Start, None)));
    // A reporter without a record cannot vouch for it: never start.
    v.quorum = witnessed(2, Some(Err("lukretia".to_string())));
    match decision(&v) {
        Decision::Stay(why) => assert!(why.contains("no faild in contact has a record"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn preempt_off_keeps_the_service_from_a_master_in_recover() {
    let view = View {
        master: Some(("lukretia".into(), State::Recover, Some(NOW))),
        preempt: false,
        ..quiet(State::Up)
    };
    assert!(stays(&view), "{:?}", decision(&view));
}

#[test]
fn preempt_off_still_stops_for_a_master_that_is_up() {
    let view = View {
        master: Some(("lukretia".into(), State::Up, None)),
        preempt: false,
        ..quiet(State::Up)
    };
    assert_eq!(kind(&view), Some((ProcedureKind::Stop, None)));
}

#[test]
fn preempt_off_a_master_in_recover_waits_for_the_slave() {
    let view = View {
        slave_up: Some("macbeth".into()),
        preempt: false,
        ..quiet(State::Recover)
    };
    assert!(stays(&view), "{:?}", decision(&view));
}

#[test]
fn preempt_delay_waits_until_the_master_has_been_recover_that_long() {
    let since = Time::from_ms(NOW.as_ms() - 2_000);
    let view = View {
        master: Some(("lukretia".into(), State::Recover, Some(since))),
        preempt_delay_ms: 5_000,
        ..quiet(State::Up)
    };
    match decision(&view) {
        Decision::Wait { until, .. } => assert_eq!(until, since.plus_ms(5_000)),
        other => panic!("expected a wait, got {other:?}"),
    }
    let view = View {
        master: Some(("lukretia".into(), State::Recover, Some(since))),
        preempt_delay_ms: 2_000,
        ..quiet(State::Up)
    };
    assert_eq!(kind(&view), Some((ProcedureKind::Stop, None)));
}

#[test]
fn startup_delay_holds_a_start_until_every_peer_answered_or_it_ends() {
    let until = NOW.plus_ms(3_000);
    let view = View {
        startup_hold: Some((until, "lukretia".into())),
        ..quiet(State::Recover)
    };
    match decision(&view) {
        Decision::Wait { until: at, .. } => assert_eq!(at, until),
        other => panic!("expected a wait, got {other:?}"),
    }
    let view = View {
        startup_hold: Some((NOW, "lukretia".into())),
        ..quiet(State::Recover)
    };
    assert_eq!(kind(&view), Some((ProcedureKind::Start, None)));
}

#[test]
fn a_fail_held_by_the_check_checks_once_per_round() {
    let view = View {
        check_hold: true,
        has_check: true,
        ..quiet(State::Fail)
    };
    assert_eq!(kind(&view), Some((ProcedureKind::Check, None)));
    let view = View {
        check_ran: true,
        ..view
    };
    assert!(stays(&view));
    // An operator's FAIL is left alone.
    let view = View {
        has_check: true,
        ..quiet(State::Fail)
    };
    assert!(stays(&view));
}
