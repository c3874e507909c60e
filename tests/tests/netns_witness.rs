//! A witness for two-node groups (issue 15), on the network-namespace bed of
//! `failover_tests::netns` with a fourth host: dunsinane (198.18.0.3) runs only faild and is
//! the witness of 198.18.0.50. lukretia and macbeth run the fast example configurations
//! (`ipaddr`, `grarp`, `track eth0`, `lease 1`) with `failsvc 198.18.0.50 witness
//! dunsinane` added. Partitions are nftables rules in a host's namespace: its link and
//! carrier stay up, so `track` cannot see them.
//!
//! Who holds 198.18.0.50 comes from `ip monitor address` in each namespace (the kernel's
//! own timestamps of every add and delete): the tests assert zero time with both holding,
//! and print the takeover time each partition costs. Root only (CI runs as root); without
//! root each test prints `SKIPPED (needs root)` and fails unless FAILOVER_ALLOW_SKIP=1.
#![cfg(target_os = "linux")]

use std::time::Duration;

use failover_tests::netns::{
    describe_events, dual_holding, first_event, longest_silence, ready, AddressWatch, Bed,
    BedOptions, Probe, SERVICE, VIP4,
};

const PHASE_LIMIT: Duration = Duration::from_secs(20);
const TOOLS: &[(&str, &str)] = &[("nft", "nftables"), ("ss", "iproute2")];

/// The fastest documented setting (interval 0.005, misses 4, timeout 0.005), or interval 1.
fn bed(fast: bool, runtime: &'static str) -> Bed {
    let bed = Bed::new(BedOptions {
        fast_config: true,
        fast_timing: fast,
        interval: "1".into(),
        runtime: Some(runtime),
        ipv6: false,
        witness: true,
        ..BedOptions::default()
    });
    bed.start_witness();
    bed.boot_both();
    bed.ping_until_answered(VIP4, PHASE_LIMIT);
    bed
}

/// The deadline of `docs/design.md` ("Quorum with a witness") for the bed's setting.
fn deadline(fast: bool) -> Duration {
    let (interval_ms, misses, timeout_ms) = if fast { (5, 4, 5) } else { (1000, 1, 1000) };
    let base = 2 * timeout_ms + (misses + 1) * interval_ms + 1000 + 1250;
    Duration::from_millis(base + base / 20 + 50)
}

fn setting(fast: bool) -> &'static str {
    if fast {
        "fast"
    } else {
        "interval 1"
    }
}

/// lukretia cut off from macbeth and the witness: it drops the address (no majority)
/// before macbeth adds it (after the deadline); after the heal it takes the service back
/// through RECOVER. Never both, by the kernel's own events.
fn master_isolated(fast: bool, runtime: &'static str) {
    let bed = bed(fast, runtime);
    let watch = AddressWatch::start(&bed);
    let probe = Probe::start(&bed);
    std::thread::sleep(Duration::from_millis(300));
    let cut_at = watch.now();
    let cut_probe = probe.now();
    let witness = bed.witness.as_ref().expect("witness");
    bed.isolate(&bed.lukretia, &[&bed.macbeth, witness]);
    bed.wait_for("macbeth holds the address", PHASE_LIMIT, || {
        bed.macbeth.holds()
    });
    bed.ping_until_answered(VIP4, PHASE_LIMIT);
    let taken_probe = probe.now();
    std::thread::sleep(Duration::from_secs(2));
    let healed_at = watch.now();
    bed.heal_isolation(&bed.lukretia);
    bed.wait_for(
        "lukretia holds the address again, alone",
        PHASE_LIMIT,
        || bed.lukretia.holds() && !bed.macbeth.holds(),
    );
    std::thread::sleep(bed.interval() * 5 + Duration::from_millis(500));
    let end = watch.now();
    let answers = probe.finish();
    let events = watch.finish();
    let both = dual_holding((true, false), &events, end);
    let dropped =
        first_event(&events, "lukretia", false, Duration::ZERO).map(|t| t.saturating_sub(cut_at));
    let added =
        first_event(&events, "macbeth", true, Duration::ZERO).map(|t| t.saturating_sub(cut_at));
    let outage = longest_silence(&answers, cut_probe);
    let handback = events
        .iter()
        .find(|e| e.host == "lukretia" && e.added && e.at > healed_at)
        .map(|e| e.at - healed_at);
    eprintln!(
        "witness, master isolated ({}, {runtime}): lukretia dropped the address {dropped:?} after the cut, macbeth added it {added:?} after (deadline {:?}); client silent {outage:?} (answered again {:?} after the cut); handback {handback:?} after the heal; both held it {:?}",
        setting(fast),
        deadline(fast),
        taken_probe.saturating_sub(cut_probe),
        both
    );
    assert!(
        both.is_empty(),
        "both hosts held the address: {both:?}\n{}",
        describe_events(&events)
    );
    let (dropped, added) = (
        dropped.expect("lukretia dropped the address"),
        added.expect("macbeth added it"),
    );
    assert!(
        dropped < added,
        "macbeth added the address before lukretia dropped it:\n{}",
        describe_events(&events)
    );
    // The deadline, plus slack for a loaded two-core machine running debug builds.
    assert!(
        added <= deadline(fast) + Duration::from_secs(2),
        "macbeth took over {added:?} after the cut (deadline {:?})",
        deadline(fast)
    );
}

/// lukretia and macbeth cannot reach each other, the witness reaches both: nothing moves,
/// and the client is answered throughout.
fn pair_partitioned(fast: bool, runtime: &'static str) {
    let bed = bed(fast, runtime);
    let watch = AddressWatch::start(&bed);
    let probe = Probe::start(&bed);
    std::thread::sleep(Duration::from_millis(300));
    let cut_probe = probe.now();
    bed.isolate(&bed.lukretia, &[&bed.macbeth]);
    // Longer than the deadline: a slave that ignored the witness would have started.
    let hold = deadline(fast) + Duration::from_secs(2);
    std::thread::sleep(hold);
    bed.heal_isolation(&bed.lukretia);
    std::thread::sleep(bed.interval() * 3 + Duration::from_millis(500));
    let end = watch.now();
    let answers = probe.finish();
    let events = watch.finish();
    let outage = longest_silence(&answers, cut_probe);
    eprintln!(
        "witness, master and slave partitioned ({}, {runtime}): macbeth added the address {} times in {hold:?}; the client's longest silence {outage:?}",
        setting(fast),
        events.iter().filter(|e| e.host == "macbeth" && e.added).count()
    );
    assert!(
        !events.iter().any(|e| e.host == "macbeth" && e.added),
        "macbeth took the address while the witness still heard lukretia:\n{}",
        describe_events(&events)
    );
    assert!(
        !events.iter().any(|e| e.host == "lukretia" && !e.added),
        "lukretia gave the address up although it had a majority:\n{}",
        describe_events(&events)
    );
    assert!(
        dual_holding((true, false), &events, end).is_empty(),
        "{}",
        describe_events(&events)
    );
    assert!(
        outage <= Duration::from_millis(500),
        "the client heard nothing for {outage:?}"
    );
}

/// macbeth cut off from lukretia and the witness: it has no majority and never starts;
/// lukretia keeps the service.
fn slave_isolated(fast: bool, runtime: &'static str) {
    let bed = bed(fast, runtime);
    let watch = AddressWatch::start(&bed);
    std::thread::sleep(Duration::from_millis(300));
    let witness = bed.witness.as_ref().expect("witness");
    bed.isolate(&bed.macbeth, &[&bed.lukretia, witness]);
    let hold = deadline(fast) + Duration::from_secs(2);
    std::thread::sleep(hold);
    bed.heal_isolation(&bed.macbeth);
    std::thread::sleep(bed.interval() * 3 + Duration::from_millis(500));
    let events = watch.finish();
    eprintln!(
        "witness, slave isolated ({}, {runtime}): macbeth added the address {} times in {hold:?}",
        setting(fast),
        events
            .iter()
            .filter(|e| e.host == "macbeth" && e.added)
            .count()
    );
    assert!(
        events.iter().all(|e| e.host != "macbeth"),
        "macbeth touched the address without a majority:\n{}",
        describe_events(&events)
    );
    assert!(bed.lukretia.holds() && !bed.macbeth.holds());
}

/// The witness dies: lukretia and macbeth are two of three and work as before; a SIGTERM
/// handover moves the service at once (lukretia answers, no deadline), never both; the log
/// says the witness does not answer.
fn witness_down(fast: bool, runtime: &'static str) {
    let bed = bed(fast, runtime);
    bed.stop_witness();
    std::thread::sleep(bed.interval() * 3 + Duration::from_millis(300));
    assert!(
        bed.lukretia.holds() && !bed.macbeth.holds(),
        "the witness's death moved the service"
    );
    // Loud where operators look: failmon and the metrics of both hosts.
    let member = format!(
        "failsh_quorum_member_in_contact{{service=\"{SERVICE}\",member=\"dunsinane\",role=\"witness\"}} 0"
    );
    let majority = format!("failsh_quorum_majority{{service=\"{SERVICE}\"}} 1");
    for host in [&bed.lukretia, &bed.macbeth] {
        // The monitor refreshes at least once a second: bounded waits, not one look.
        let (mut failmon, mut metrics) = (String::new(), String::new());
        let shown = |failmon: &str, metrics: &str| {
            failmon.contains("quorum:      majority (2 of 3)")
                && failmon.contains("dunsinane (witness) OUT OF CONTACT")
                && metrics.contains(&member)
                && metrics.contains(&majority)
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !shown(&failmon, &metrics) && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
            failmon = host.failmon();
            metrics = host.metrics();
        }
        assert!(
            shown(&failmon, &metrics),
            "{}: failmon and the metrics do not both show the witness gone:\n{failmon}\n{metrics}",
            host.name
        );
    }
    let watch = AddressWatch::start(&bed);
    std::thread::sleep(Duration::from_millis(300));
    let stopped_at = watch.now();
    bed.lukretia.signal("failsh", "TERM");
    bed.wait_for("macbeth holds the address", PHASE_LIMIT, || {
        bed.macbeth.holds()
    });
    std::thread::sleep(Duration::from_millis(500));
    let end = watch.now();
    let events = watch.finish();
    let added =
        first_event(&events, "macbeth", true, Duration::ZERO).map(|t| t.saturating_sub(stopped_at));
    eprintln!(
        "witness down ({}, {runtime}): after lukretia's SIGTERM macbeth added the address {added:?} later",
        setting(fast)
    );
    assert!(
        dual_holding((true, false), &events, end).is_empty(),
        "{}",
        describe_events(&events)
    );
    let added = added.expect("macbeth added the address");
    assert!(
        added <= bed.interval() * 2 + Duration::from_secs(1),
        "the handover took {added:?} without the witness"
    );
    let log = std::fs::read_to_string(bed.macbeth.log_dir().join("failsh.log")).unwrap_or_default();
    assert!(
        log.contains("host dunsinane does not answer"),
        "macbeth's log does not say the witness is gone:\n{log}"
    );
    // The heal: the witness returns; macbeth sees it again and nothing moves.
    let watch = AddressWatch::start(&bed);
    bed.start_witness();
    let back = format!(
        "failsh_quorum_member_in_contact{{service=\"{SERVICE}\",member=\"dunsinane\",role=\"witness\"}} 1"
    );
    bed.wait_for(
        "macbeth's metrics show the witness again",
        PHASE_LIMIT,
        || bed.macbeth.metrics().contains(&back),
    );
    std::thread::sleep(bed.interval() * 3 + Duration::from_millis(300));
    let events = watch.finish();
    // macbeth's lease renewals show as "added/renewed": what must not happen is lukretia
    // adding it or macbeth losing it.
    let moved = events
        .iter()
        .any(|e| (e.host == "lukretia" && e.added) || (e.host == "macbeth" && !e.added));
    assert!(
        !moved && bed.macbeth.holds() && !bed.lukretia.holds(),
        "the witness's return moved the address:\n{}",
        describe_events(&events)
    );
}

#[test]
fn witness_master_isolated_fast_smol() {
    if ready("netns_witness::master_isolated_fast", TOOLS) {
        master_isolated(true, "smol");
    }
}

#[test]
fn witness_master_isolated_interval_1_blocking() {
    if ready("netns_witness::master_isolated_slow", TOOLS) {
        master_isolated(false, "blocking");
    }
}

#[test]
fn witness_pair_partitioned_fast_blocking() {
    if ready("netns_witness::pair_partitioned", TOOLS) {
        pair_partitioned(true, "blocking");
    }
}

#[test]
fn witness_slave_isolated_fast_smol() {
    if ready("netns_witness::slave_isolated", TOOLS) {
        slave_isolated(true, "smol");
    }
}

#[test]
fn witness_down_fast_blocking() {
    if ready("netns_witness::witness_down", TOOLS) {
        witness_down(true, "blocking");
    }
}

#[test]
fn witness_pair_partitioned_interval_1_smol() {
    if ready("netns_witness::pair_partitioned_slow", TOOLS) {
        pair_partitioned(false, "smol");
    }
}

#[test]
fn witness_slave_isolated_interval_1_blocking() {
    if ready("netns_witness::slave_isolated_slow", TOOLS) {
        slave_isolated(false, "blocking");
    }
}

#[test]
fn witness_down_interval_1_smol() {
    if ready("netns_witness::witness_down_slow", TOOLS) {
        witness_down(false, "smol");
    }
}
