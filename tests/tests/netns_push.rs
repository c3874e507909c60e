//! The seed's story at `interval 1`, with the example service script, on the network-namespace
//! bed (`failover_tests::netns`): since faild pushes every change to the failsh that polls it
//! (`docs/protocol.md`, "Push"), an operator's FAIL on lukretia is taken over by macbeth
//! within 50 ms, and the RECOVER handback leaves the client (an ICMP echo every 10 ms) at
//! most 50 ms without an answer, instead of up to an interval each; never do both hosts hold
//! the address. Without pushes the same story took ~630 ms and ~1,010 ms (issue 14).
//!
//! Root only (CI runs as root); without root each test prints `SKIPPED (needs root)` and
//! fails unless FAILOVER_ALLOW_SKIP=1. Needs the programs built first.
#![cfg(target_os = "linux")]

use std::time::Duration;

use failover_tests::netns::{
    describe_events, dual_holding, first_event, longest_silence, ready, AddressWatch, Bed,
    BedOptions, Probe, SERVICE, VIP4,
};

const PHASE_LIMIT: Duration = Duration::from_secs(10);
/// The bar for both: the slave answering after an operator's FAIL, and the client's
/// longest silence through the RECOVER handback.
const BAR: Duration = Duration::from_millis(50);

fn seed_story_at_interval_1(runtime: &'static str, protocol: &'static str) {
    if !ready(&format!("netns_push::{runtime}_{protocol}"), &[]) {
        return;
    }
    // The seed's story: one IPv4 address (the bed moves an IPv6 one too by default, one more
    // `ip` process in each script before FAIL is set).
    let bed = Bed::new(BedOptions {
        interval: "1".into(),
        runtime: Some(runtime),
        protocol: Some(protocol),
        ipv6: false,
        ..BedOptions::default()
    });
    bed.boot_both();
    bed.ping_until_answered(VIP4, PHASE_LIMIT);
    let watch = AddressWatch::start(&bed);
    let probe = Probe::start(&bed);
    std::thread::sleep(Duration::from_millis(300));

    // The operator on lukretia: the service script's `fail` takes the address down and sets
    // FAIL in the local faild, which pushes the change to macbeth's failsh.
    let failed_at = watch.now();
    let failed_probe = probe.now();
    bed.lukretia.script(SERVICE, "fail");
    bed.wait_for("macbeth holds the address", PHASE_LIMIT, || {
        bed.macbeth.holds()
    });
    bed.wait_for(
        "the client's neighbour entry points at macbeth",
        PHASE_LIMIT,
        || bed.client_neighbour(VIP4).as_deref() == Some(bed.macbeth.mac),
    );
    bed.wait_for("macbeth's faild says UP", PHASE_LIMIT, || {
        bed.macbeth.state().as_deref() == Some("UP")
    });
    // Two rounds with nothing to do: what follows is the handback alone.
    std::thread::sleep(Duration::from_secs(2));

    // The operator's `recover`: RECOVER in lukretia's faild, pushed to macbeth, which stops
    // and writes RECOVER, pushed back to lukretia, which starts.
    let recovered_at = watch.now();
    let recovered_probe = probe.now();
    bed.lukretia.script(SERVICE, "recover");
    bed.wait_for("only lukretia holds the address", PHASE_LIMIT, || {
        bed.lukretia.holds() && !bed.macbeth.holds()
    });
    bed.wait_for(
        "the client's neighbour entry points at lukretia",
        PHASE_LIMIT,
        || bed.client_neighbour(VIP4).as_deref() == Some(bed.lukretia.mac),
    );
    std::thread::sleep(Duration::from_secs(2));
    let end = watch.now();
    let answers = probe.finish();
    let events = watch.finish();

    let gone = first_event(&events, "lukretia", false, failed_at).expect("lukretia let go");
    let taken = first_event(&events, "macbeth", true, failed_at).expect("macbeth took over");
    let takeover = taken.saturating_sub(gone);
    let fail_silence = longest_silence(&answers, failed_probe);
    let released = first_event(&events, "macbeth", false, recovered_at).expect("macbeth let go");
    let back = first_event(&events, "lukretia", true, recovered_at).expect("lukretia took back");
    let handback_silence = longest_silence(&answers, recovered_probe);
    let both = dual_holding((true, false), &events, end);
    eprintln!(
        "seed story, interval 1, {runtime}, {protocol}: operator fail: macbeth added the address {takeover:?} after lukretia removed it ({:?} after the script began), client's longest silence {fail_silence:?}; recover: lukretia added it {:?} after macbeth removed it ({:?} after the script began), client's longest silence {handback_silence:?}; both held: {both:?}",
        taken.saturating_sub(failed_at),
        back.saturating_sub(released),
        back.saturating_sub(recovered_at),
    );
    assert!(
        both.is_empty(),
        "both hosts held the address:\n{}",
        describe_events(&events)
    );
    assert!(
        takeover <= BAR,
        "macbeth took the address {takeover:?} after lukretia let it go (bar {BAR:?}):\n{}",
        describe_events(&events)
    );
    assert!(
        handback_silence <= BAR,
        "the client heard nothing for {handback_silence:?} during the handback (bar {BAR:?}):\n{}",
        describe_events(&events)
    );
}

#[test]
fn operator_fail_and_recover_at_interval_1_are_pushed_blocking_tcp() {
    seed_story_at_interval_1("blocking", "tcp");
}

/// Pushes over UDP: a datagram to the source port the subscribing query came from.
#[test]
fn operator_fail_and_recover_at_interval_1_are_pushed_smol_udp() {
    seed_story_at_interval_1("smol", "udp");
}
