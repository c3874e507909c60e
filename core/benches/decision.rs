//! Events per second of the decision machine and the store, through the real codec.
//!
//! `cargo bench -p failover-core --bench decision` prints the median of 5 runs for: a
//! lukretia/macbeth group at a 10 ms interval (the fast path: polls, replies, HMACs, decisions)
//! and one failsh with 1,000 services against one master (batched polls). The bar is
//! 1,000,000 events per second; an event is one input handed to a Shell or a Store.

use failover_core::harness::{Harness, COMMUNITY};
use failover_core::shell::{HostConfig, ProcedureNames, Protocol, ServiceConfig, ShellConfig};
use failover_core::state::State;
use failover_core::store::ServiceRecord;
use failover_core::time::Time;
use std::time::Instant;

fn host(name: &str) -> HostConfig {
    HostConfig {
        name: name.into(),
        community: COMMUNITY.into(),
        protocol: Protocol::Udp,
        address: "198.18.0.1:1291".parse().ok(),
        ..HostConfig::new(name)
    }
}

fn records(names: &[String], state: State) -> Vec<ServiceRecord> {
    names
        .iter()
        .map(|n| ServiceRecord::new(n, state, None, Time(0)))
        .collect()
}

fn group(services: usize, interval_ms: u64, with_slave_shell: bool) -> Harness {
    let names: Vec<String> = (0..services)
        .map(|i| format!("198.18.{}.{}", i / 250, i % 250 + 1))
        .collect();
    let config = |masters: &[&str], slaves: &[&str], peer: &str| ShellConfig {
        local_host: "localhost".into(),
        hosts: vec![host(peer), host("localhost")],
        services: names
            .iter()
            .map(|n| ServiceConfig {
                masters: masters.iter().map(|s| s.to_string()).collect(),
                slaves: slaves.iter().map(|s| s.to_string()).collect(),
                procedures: ProcedureNames {
                    reclaim: Some("reclaimservice".into()),
                    ..ProcedureNames::default()
                },
                ..ServiceConfig::new(n, interval_ms)
            })
            .collect(),
    };
    let mut h = Harness::new(1);
    h.add_host(
        "lukretia",
        Some(config(&[], &["macbeth"], "macbeth")),
        records(&names, State::Recover),
    );
    let slave = with_slave_shell.then(|| config(&["lukretia"], &[], "lukretia"));
    h.add_host("macbeth", slave, records(&names, State::Recover));
    h
}

fn measure(label: &str, make: impl Fn() -> Harness, simulated_ms: u64) {
    let mut rates = Vec::new();
    let mut events = 0;
    for _ in 0..5 {
        let mut h = make();
        #[allow(clippy::disallowed_methods)] // the benchmark, not the core, reads the clock
        let started = Instant::now();
        h.run_until(Time(simulated_ms));
        let seconds = started.elapsed().as_secs_f64();
        events = h.inputs_handled;
        rates.push(events as f64 / seconds);
    }
    rates.sort_by(|a, b| a.total_cmp(b));
    println!(
        "{label}: {events} events per run, median {:.0} events/s (min {:.0}, max {:.0})",
        rates[2], rates[0], rates[4]
    );
}

fn main() {
    measure(
        "two hosts, 10 ms interval, 60 s simulated",
        || group(1, 10, true),
        60_000,
    );
    measure(
        "two hosts, 1 s interval, 1 h simulated",
        || group(1, 1_000, true),
        3_600_000,
    );
    measure(
        "1,000 services, 1 s interval, 60 s simulated",
        || group(1_000, 1_000, false),
        60_000,
    );
}
