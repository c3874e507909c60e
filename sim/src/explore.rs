//! Random exploration: one seed expands into a whole scenario (topology, timings, network,
//! faults), TigerBeetle-VOPR style. Faults happen in a first phase; then everything is repaired
//! (partitions heal, the network is clean, frozen hosts resume, dead ones boot, broken
//! procedures work again, an operator recovers FAIL services) and the group must settle.

use crate::check::Bounds;
use crate::scenario::{
    EventAction, Expectations, HostSpec, Network, Procedure, Procedures, Scenario, TimedEvent,
    DEFAULT_SERVICE, FORMAT, VERSION,
};
use failover_core::rng::Rng;
use failover_core::shell::ProcedureKind;
use std::collections::BTreeSet;

const NAMES: [&str; 3] = ["lukretia", "macbeth", "banquo"];

/// A clock 2 % fast or slow at most, on 30 % of the hosts.
fn drift_ppm(rng: &mut Rng) -> i64 {
    if rng.chance(0.3) {
        rng.below(40_001) as i64 - 20_000
    } else {
        0
    }
}

/// Procedures that work and take up to `work_ms` each.
fn procedures(rng: &mut Rng, work_ms: u64, stop_returns: &str) -> Procedures {
    Procedures {
        start: Some(Procedure::returning("UP", rng.below(work_ms + 1))),
        stop: Some(Procedure::returning(stop_returns, rng.below(work_ms + 1))),
        reclaim: Some(Procedure::returning("UP", rng.below(work_ms + 1))),
        check: None,
        has_reclaim: true,
    }
}

/// The command that reproduces a seed.
pub fn reproduce_line(seed: u64) -> String {
    format!("cargo run -p failover-sim --bin failsim -- seed {seed}")
}

fn pick<T: Copy>(rng: &mut Rng, items: &[T]) -> T {
    items[rng.below(items.len() as u64) as usize]
}

/// The scenario of `seed`. The same seed gives the same scenario on every machine and after
/// every dependency bump (the PRNG is the core's own).
pub fn scenario_for_seed(seed: u64) -> Scenario {
    let mut rng = Rng::new(seed, "explore");
    let host_count = 2 + rng.below(2) as usize;
    let interval_ms = pick(&mut rng, &[100, 200, 250, 500, 1000]);
    let misses = 1 + rng.below(3) as u32;
    let timeout_ms = pick(
        &mut rng,
        &[interval_ms, interval_ms * 3 / 4, interval_ms / 2],
    );
    // Network delay stays well inside the timeout so that a clean network is a working one.
    let latency_ms = rng.below(timeout_ms / 10 + 1);
    let jitter_ms = rng.below(timeout_ms / 10 + 1);
    let work_ms = interval_ms / 2;
    let limit_ms = (interval_ms * 4).max(500);

    let mut hosts = Vec::new();
    for i in 0..host_count {
        let masters: Vec<&str> = NAMES[..i].to_vec();
        let slaves: Vec<&str> = NAMES[i + 1..host_count].to_vec();
        let mut host = HostSpec::new(NAMES[i], &masters, &slaves, interval_ms);
        host.misses = misses;
        host.timeout_ms = (timeout_ms != interval_ms).then_some(timeout_ms);
        host.procedure_limit_ms = limit_ms;
        host.drift_ppm = drift_ppm(&mut rng);
        // Hosts boot within a couple of intervals of each other.
        host.boot_at_ms = Some(rng.below(interval_ms * 2));
        let stop_returns = if masters.is_empty() {
            "FAIL"
        } else {
            "RECOVER"
        };
        host.procedures = procedures(&mut rng, work_ms, stop_returns);
        hosts.push(host);
    }
    let network = Network {
        latency_ms,
        jitter_ms,
        ..Network::default()
    };
    // A third of the seeds give every host `track` and `lease` (some slaves `fence wait`) and
    // draw only faults those promise a dual-holding bound for, which the checker then holds
    // (a separate stream, so the other draws stay as they were).
    let mut lease_rng = Rng::new(seed, "explore-lease");
    let leased = lease_rng.chance(0.35);
    if leased {
        let lease_ms = pick(&mut lease_rng, &[1_000, 2_000]);
        for host in &mut hosts {
            host.track = true;
            host.lease_ms = Some(lease_ms);
            host.fence_wait = !host.masters.is_empty() && lease_rng.chance(0.3);
        }
    }

    let faults_end_ms = interval_ms * (8 + rng.below(13));
    let mut events = Vec::new();
    let mut needs_boot = BTreeSet::new();
    let mut needs_resume = BTreeSet::new();
    let mut broken_procedures = BTreeSet::new();
    let mut needs_link = BTreeSet::new();
    let mut needs_failsh = BTreeSet::new();
    let mut needs_faild = BTreeSet::new();
    let mut needs_disk = BTreeSet::new();
    // Hosts whose faild cannot store (disk full) or answer (stalled), and hosts that boot
    // again or whose operator runs `fail` during the faults: a host that boots with a full disk cannot register RECOVER (its faild says
    // what its state file said), and an operator's `fail` takes the address down but cannot
    // store FAIL; both are reported (the init script, failc's exit 7) and left to the
    // operator, not to failsh.
    let mut disk_hosts = BTreeSet::new();
    let mut boot_hosts = BTreeSet::new();
    let fault_count = 1 + rng.below(5);
    for _ in 0..fault_count {
        let at_ms = interval_ms * 2 + rng.below(faults_end_ms - interval_ms * 2);
        let until_ms = (at_ms + interval_ms + rng.below(interval_ms * 12)).min(faults_end_ms);
        let host = rng.below(host_count as u64) as usize;
        let name = NAMES[host].to_string();
        let mut add = |at_ms: u64, action: EventAction| events.push(TimedEvent { at_ms, action });
        // With leases, only the faults they promise a bound for: no pause, partition or lossy
        // network (their kinds are replaced by carrier loss, SIGKILL and a hung failsh).
        let kind = match (leased, rng.below(12)) {
            (true, 1) => 9,
            (true, 2) => 12,
            (true, 3) => 13,
            (true, 4) => 14,
            (_, kind) => kind,
        };
        let boots = matches!(kind, 0 | 5 | 7 | 8 | 12);
        // A faild that cannot store (full disk) or does not answer (stalled).
        let faild_unavailable = matches!(kind, 10 | 11 | 14);
        if (boots && disk_hosts.contains(&host))
            || (faild_unavailable && boot_hosts.contains(&host))
        {
            continue;
        }
        if boots {
            boot_hosts.insert(host);
        }
        if faild_unavailable {
            disk_hosts.insert(host);
        }
        match kind {
            0 => {
                add(at_ms, EventAction::Crash { host: name.clone() });
                add(until_ms, EventAction::Restart { host: name });
            }
            1 => {
                add(at_ms, EventAction::Pause { host: name.clone() });
                add(until_ms, EventAction::Resume { host: name });
                needs_resume.insert(host);
            }
            2 | 3 => {
                let other = (host + 1 + rng.below(host_count as u64 - 1) as usize) % host_count;
                add(
                    at_ms,
                    EventAction::Partition {
                        from: vec![name],
                        to: vec![NAMES[other].to_string()],
                        one_way: rng.chance(0.4),
                    },
                );
                add(until_ms, EventAction::Heal);
            }
            4 => {
                let lossy = Network {
                    latency_ms,
                    jitter_ms,
                    loss: rng.below(11) as f64 / 100.0,
                    duplicate: rng.below(6) as f64 / 100.0,
                    reorder: rng.below(11) as f64 / 100.0,
                    reorder_ms: rng.below(interval_ms / 2 + 1),
                };
                add(at_ms, EventAction::Network(lossy));
                add(until_ms, EventAction::Network(network.clone()));
            }
            5 => {
                add(at_ms, EventAction::Fail { host: name.clone() });
                // The operator recovers only what failsh left FAIL (see the regression
                // operator_fail_during_start.json for why an unconditional recover can break).
                add(
                    until_ms,
                    EventAction::Recover {
                        host: name,
                        if_fail: true,
                    },
                );
            }
            6 => {
                // Only start misbehaves: a stop that fails for good keeps its host counted as
                // UP and the service stuck there until an operator acts (by design, see
                // docs/design.md), which is not what random exploration is about.
                let broken = match rng.below(3) {
                    0 => Procedure {
                        duration_ms: rng.below(work_ms + 1),
                        returns: None,
                        fails: Some("exit status 1".to_string()),
                        hangs: false,
                        fails_times: None,
                        effect_on_failure: false,
                    },
                    1 => Procedure {
                        duration_ms: 0,
                        returns: None,
                        fails: None,
                        hangs: true,
                        fails_times: None,
                        effect_on_failure: false,
                    },
                    _ => Procedure::returning("ifconfig: SIOCSIFFLAGS: busy", 5),
                };
                add(
                    at_ms,
                    EventAction::SetProcedure {
                        host: name,
                        kind: ProcedureKind::Start,
                        procedure: broken,
                    },
                );
                broken_procedures.insert(host);
            }
            7 => {
                add(
                    at_ms,
                    EventAction::Shutdown {
                        host: name,
                        keep_services: rng.chance(0.2),
                    },
                );
                needs_boot.insert(host);
            }
            8 => {
                add(at_ms, EventAction::Restart { host: name });
            }
            9 => {
                add(at_ms, EventAction::LinkDown { host: name.clone() });
                add(until_ms, EventAction::LinkUp { host: name });
                needs_link.insert(host);
            }
            10 => {
                add(at_ms, EventAction::StallFaild { host: name.clone() });
                add(until_ms, EventAction::ResumeFaild { host: name });
                needs_faild.insert(host);
            }
            11 => {
                add(at_ms, EventAction::DiskFull { host: name.clone() });
                add(until_ms, EventAction::DiskOk { host: name });
                needs_disk.insert(host);
            }
            12 => {
                add(at_ms, EventAction::KillDaemons { host: name.clone() });
                add(until_ms, EventAction::Restart { host: name });
                needs_boot.insert(host);
            }
            13 => {
                add(at_ms, EventAction::HangFailsh { host: name.clone() });
                add(until_ms, EventAction::ResumeFailsh { host: name });
                needs_failsh.insert(host);
            }
            _ => {
                add(at_ms, EventAction::StallFaild { host: name.clone() });
                add(until_ms, EventAction::ResumeFaild { host: name });
                needs_faild.insert(host);
            }
        }
    }
    // A third of the seeds give every host the operator controls of `failsvc` (preempt,
    // preempt_delay, startup_delay) and a health check with rise and fall, which fails for
    // a while on one host (a separate stream, so the other draws stay as they were).
    let mut controls_rng = Rng::new(seed, "explore-controls");
    if controls_rng.chance(0.3) {
        let preempt = !controls_rng.chance(0.4);
        let preempt_delay_ms = pick(&mut controls_rng, &[0, interval_ms * 2, interval_ms * 5]);
        let startup_delay_ms = pick(&mut controls_rng, &[0, interval_ms * 3]);
        let check_rise = 1 + controls_rng.below(3) as u32;
        let check_fall = 1 + controls_rng.below(3) as u32;
        for host in &mut hosts {
            host.preempt = preempt;
            host.preempt_delay_ms = preempt_delay_ms;
            host.startup_delay_ms = startup_delay_ms;
            host.check_rise = check_rise;
            host.check_fall = check_fall;
            host.procedures.check = Some(Procedure::returning(
                "1",
                controls_rng.below(work_ms / 2 + 1),
            ));
        }
        if controls_rng.chance(0.6) {
            let host = controls_rng.below(host_count as u64) as usize;
            let at_ms = interval_ms * 2 + controls_rng.below(faults_end_ms - interval_ms * 2);
            let until_ms = (at_ms + interval_ms * (1 + controls_rng.below(10))).min(faults_end_ms);
            let check = |returns: &str| EventAction::SetProcedure {
                host: NAMES[host].to_string(),
                kind: ProcedureKind::Check,
                procedure: Procedure::returning(returns, 5),
            };
            events.push(TimedEvent {
                at_ms,
                action: check("0"),
            });
            events.push(TimedEvent {
                at_ms: until_ms,
                action: check("1"),
            });
        }
    }
    // The repair: every fault ends at faults_end_ms.
    let mut repair = |action: EventAction| {
        events.push(TimedEvent {
            at_ms: faults_end_ms,
            action,
        })
    };
    if !leased {
        repair(EventAction::Heal);
        repair(EventAction::Network(network.clone()));
    }
    for host in needs_link {
        repair(EventAction::LinkUp {
            host: NAMES[host].to_string(),
        });
    }
    for host in needs_failsh {
        repair(EventAction::ResumeFailsh {
            host: NAMES[host].to_string(),
        });
    }
    for host in needs_faild {
        repair(EventAction::ResumeFaild {
            host: NAMES[host].to_string(),
        });
    }
    for host in needs_disk {
        repair(EventAction::DiskOk {
            host: NAMES[host].to_string(),
        });
    }
    for host in needs_resume {
        repair(EventAction::Resume {
            host: NAMES[host].to_string(),
        });
    }
    for host in &broken_procedures {
        repair(EventAction::SetProcedure {
            host: NAMES[*host].to_string(),
            kind: ProcedureKind::Start,
            procedure: hosts[*host].procedures.start.clone().expect("set above"),
        });
    }
    for host in needs_boot {
        repair(EventAction::Restart {
            host: NAMES[host].to_string(),
        });
    }
    // An operator looks at failstat and recovers what is FAIL, once the hosts are back (and
    // a procedure that still hung when its behaviour was repaired has been killed).
    for name in NAMES.iter().take(host_count) {
        events.push(TimedEvent {
            at_ms: faults_end_ms + interval_ms + limit_ms,
            action: EventAction::Recover {
                host: name.to_string(),
                if_fail: true,
            },
        });
    }
    events.sort_by_key(|e| e.at_ms);

    let mut scenario = Scenario {
        format: FORMAT.to_string(),
        version: VERSION,
        name: format!("seed {seed}"),
        description: format!(
            "generated from seed {seed}; reproduce: {}",
            reproduce_line(seed)
        ),
        seed,
        duration_ms: 0,
        service: DEFAULT_SERVICE.to_string(),
        network,
        hosts,
        events,
        expect: Expectations::default(),
        known_core_bug: None,
    };
    let bounds = Bounds::for_scenario(&scenario);
    scenario.duration_ms = bounds.settled_from_ms + interval_ms * 3;
    scenario
}

/// The three hosts of a witnessed group: master, slave, witness (faild only).
const WITNESS_NAMES: [&str; 3] = ["lukretia", "macbeth", "dunsinane"];

/// The scenario of witness seed `seed`: a master, a slave and a witness with `lease`, and
/// every kind of fault a witness must make harmless (partitions of any host from any others,
/// one or both ways; lost, duplicated and reordered messages; frozen VMs, crashes, hung or
/// killed daemons, clock drift). The checker holds it to the strict promise: never two
/// holders, whatever the faults (a frozen VM's address answers nobody, see check.rs).
pub fn scenario_for_witness_seed(seed: u64) -> Scenario {
    let mut rng = Rng::new(seed, "explore-witness");
    let interval_ms = pick(&mut rng, &[100, 200, 250, 500, 1000]);
    let misses = 1 + rng.below(3) as u32;
    let timeout_ms = pick(
        &mut rng,
        &[interval_ms, interval_ms * 3 / 4, interval_ms / 2],
    );
    let latency_ms = rng.below(timeout_ms / 10 + 1);
    let jitter_ms = rng.below(timeout_ms / 10 + 1);
    let work_ms = interval_ms / 2;
    let limit_ms = (interval_ms * 4).max(500);
    let lease_ms = pick(&mut rng, &[1_000, 2_000]);
    let track = rng.chance(0.5);
    let witness = WITNESS_NAMES[2].to_string();
    let mut hosts = Vec::new();
    for (i, (masters, slaves)) in [(vec![], vec!["macbeth"]), (vec!["lukretia"], vec![])]
        .into_iter()
        .enumerate()
    {
        let mut host = HostSpec::new(WITNESS_NAMES[i], &masters, &slaves, interval_ms);
        host.misses = misses;
        host.timeout_ms = (timeout_ms != interval_ms).then_some(timeout_ms);
        host.procedure_limit_ms = limit_ms;
        host.lease_ms = Some(lease_ms);
        host.track = track;
        host.witnesses = vec![witness.clone()];
        host.drift_ppm = drift_ppm(&mut rng);
        host.boot_at_ms = Some(rng.below(interval_ms * 2));
        let stop_returns = if masters.is_empty() {
            "FAIL"
        } else {
            "RECOVER"
        };
        host.procedures = procedures(&mut rng, work_ms, stop_returns);
        hosts.push(host);
    }
    let mut witness_host = HostSpec::new(&witness, &[], &[], interval_ms);
    witness_host.witness = true;
    witness_host.boot_at_ms = Some(0);
    witness_host.drift_ppm = drift_ppm(&mut rng);
    hosts.push(witness_host);
    let network = Network {
        latency_ms,
        jitter_ms,
        ..Network::default()
    };

    let faults_end_ms = interval_ms * (8 + rng.below(13)) + 4 * lease_ms;
    let mut events = Vec::new();
    let mut needs = BTreeSet::new();
    let fault_count = 1 + rng.below(5);
    for _ in 0..fault_count {
        let at_ms = interval_ms * 2 + rng.below(faults_end_ms - interval_ms * 2);
        let until_ms =
            (at_ms + interval_ms + rng.below(interval_ms * 12 + 2 * lease_ms)).min(faults_end_ms);
        let host = rng.below(3) as usize;
        let name = WITNESS_NAMES[host].to_string();
        let mut add = |at_ms: u64, action: EventAction| events.push(TimedEvent { at_ms, action });
        // The witness runs no failsh: failsh faults hit a member.
        let member = WITNESS_NAMES[rng.below(2) as usize].to_string();
        match rng.below(9) {
            0 => {
                add(at_ms, EventAction::Crash { host: name.clone() });
                add(until_ms, EventAction::Restart { host: name });
            }
            1 => {
                add(at_ms, EventAction::Pause { host: name.clone() });
                add(until_ms, EventAction::Resume { host: name.clone() });
                needs.insert(("resume", name));
            }
            2 | 3 => {
                // One host from one or both of the others.
                let others: Vec<String> = (0..3)
                    .filter(|i| *i != host)
                    .map(|i| WITNESS_NAMES[i].to_string())
                    .collect();
                let to = match rng.below(3) {
                    0 => others,
                    n => vec![others[n as usize - 1].clone()],
                };
                add(
                    at_ms,
                    EventAction::Partition {
                        from: vec![name],
                        to,
                        one_way: rng.chance(0.4),
                    },
                );
                add(until_ms, EventAction::Heal);
            }
            4 => {
                let lossy = Network {
                    latency_ms,
                    jitter_ms,
                    loss: rng.below(11) as f64 / 100.0,
                    duplicate: rng.below(6) as f64 / 100.0,
                    reorder: rng.below(11) as f64 / 100.0,
                    reorder_ms: rng.below(interval_ms / 2 + 1),
                };
                add(at_ms, EventAction::Network(lossy));
                add(until_ms, EventAction::Network(network.clone()));
            }
            5 => {
                add(
                    at_ms,
                    EventAction::HangFailsh {
                        host: member.clone(),
                    },
                );
                add(
                    until_ms,
                    EventAction::ResumeFailsh {
                        host: member.clone(),
                    },
                );
                needs.insert(("failsh", member));
            }
            6 => {
                add(
                    at_ms,
                    EventAction::KillDaemons {
                        host: member.clone(),
                    },
                );
                add(
                    until_ms,
                    EventAction::Restart {
                        host: member.clone(),
                    },
                );
                needs.insert(("boot", member));
            }
            7 if track => {
                add(at_ms, EventAction::LinkDown { host: name.clone() });
                add(until_ms, EventAction::LinkUp { host: name.clone() });
                needs.insert(("link", name));
            }
            _ => {
                add(
                    at_ms,
                    EventAction::Shutdown {
                        host: member.clone(),
                        keep_services: false,
                    },
                );
                needs.insert(("boot", member));
            }
        }
    }
    let mut repair = |action: EventAction| {
        events.push(TimedEvent {
            at_ms: faults_end_ms,
            action,
        })
    };
    repair(EventAction::Heal);
    repair(EventAction::Network(network.clone()));
    for (what, host) in needs {
        repair(match what {
            "resume" => EventAction::Resume { host },
            "failsh" => EventAction::ResumeFailsh { host },
            "link" => EventAction::LinkUp { host },
            _ => EventAction::Restart { host },
        });
    }
    for name in WITNESS_NAMES.iter().take(2) {
        events.push(TimedEvent {
            at_ms: faults_end_ms + interval_ms + limit_ms,
            action: EventAction::Recover {
                host: name.to_string(),
                if_fail: true,
            },
        });
    }
    events.sort_by_key(|e| e.at_ms);
    let mut expect = Expectations::default();
    // The strict promise of a witness: never two holders, whatever the faults.
    expect.always.dual_ms = Some(0);
    let mut scenario = Scenario {
        format: FORMAT.to_string(),
        version: VERSION,
        name: format!("witness seed {seed}"),
        description: format!(
            "generated from witness seed {seed}; reproduce: cargo run -p failover-sim --bin failsim -- seed {seed} --witness"
        ),
        seed,
        duration_ms: 0,
        service: DEFAULT_SERVICE.to_string(),
        network,
        hosts,
        events,
        expect,
        known_core_bug: None,
    };
    let bounds = Bounds::for_scenario(&scenario);
    scenario.duration_ms = bounds.settled_from_ms + interval_ms * 3;
    scenario
}
