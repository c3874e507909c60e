//! `failsvc S startup_delay` (issue 16) on the network-namespace bed of
//! `failover_tests::netns`, with the seed's configurations: macbeth boots while its link does
//! not forward yet (nftables drops everything between it and lukretia, its carrier is up, as
//! on a switch port still in STP learning) and forwards 3 s after failsh started. With
//! `startup_delay 5` it never holds the address while lukretia does; without it, the same
//! boot puts the address on both (the control that shows the test can fail).
//!
//! Root only (CI runs as root); without root each test prints `SKIPPED (needs root)` and
//! fails unless FAILOVER_ALLOW_SKIP=1.
#![cfg(target_os = "linux")]

use std::time::{Duration, Instant};

use failover_tests::netns::{ready, Bed, BedOptions, SERVICE};

const FORWARDS_AFTER: Duration = Duration::from_secs(3);
const WATCHED: Duration = Duration::from_secs(8);

/// How long macbeth held the address while lukretia did, within `WATCHED` of its boot.
fn boot_behind_a_link_that_does_not_forward(delay: bool, runtime: &'static str) -> Duration {
    let bed = Bed::new(BedOptions {
        runtime: Some(runtime),
        ipv6: false,
        ..BedOptions::default()
    });
    if delay {
        let config = bed.macbeth.dir.join("etc/macbeth.tcl");
        let mut text = std::fs::read_to_string(&config).expect("macbeth.tcl");
        text.push_str(&format!("failsvc {SERVICE} startup_delay 5\n"));
        std::fs::write(&config, text).expect("macbeth.tcl");
    }
    bed.boot(&bed.lukretia);
    bed.wait_for(
        "lukretia holds the address",
        Duration::from_secs(15),
        || bed.lukretia.holds(),
    );
    bed.isolate(&bed.macbeth, &[&bed.lukretia]);
    let booted = Instant::now();
    bed.boot(&bed.macbeth);
    let mut both = Duration::ZERO;
    let mut healed = false;
    let mut last = Instant::now();
    while booted.elapsed() < WATCHED {
        if !healed && booted.elapsed() >= FORWARDS_AFTER {
            bed.heal_isolation(&bed.macbeth);
            healed = true;
            eprintln!(
                "[{runtime}] macbeth's link forwards {:?} after its boot",
                booted.elapsed()
            );
        }
        let step = last.elapsed();
        last = Instant::now();
        if bed.macbeth.holds() && bed.lukretia.holds() {
            both += step;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(bed.lukretia.holds(), "lukretia lost the address");
    let log = bed.macbeth.logs();
    if delay {
        assert!(log.contains("startup_delay"), "no startup_delay in:\n{log}");
    }
    both
}

fn with_delay(runtime: &'static str) {
    if !ready("startup_delay", &[("nft", "nftables")]) {
        return;
    }
    let both = boot_behind_a_link_that_does_not_forward(true, runtime);
    eprintln!("[{runtime}] startup_delay 5: both held the address for {both:?}");
    assert_eq!(
        both,
        Duration::ZERO,
        "macbeth held the address next to lukretia"
    );
}

fn without_delay(runtime: &'static str) {
    if !ready("startup_delay control", &[("nft", "nftables")]) {
        return;
    }
    let both = boot_behind_a_link_that_does_not_forward(false, runtime);
    eprintln!("[{runtime}] no startup_delay: both held the address for {both:?}");
    assert!(
        both > Duration::from_millis(500),
        "without startup_delay macbeth was expected to start next to lukretia (both {both:?}): the bed no longer hides the master"
    );
}

#[test]
fn a_slave_with_startup_delay_never_holds_while_the_master_does_smol() {
    with_delay("smol");
}

#[test]
fn a_slave_with_startup_delay_never_holds_while_the_master_does_blocking() {
    with_delay("blocking");
}

#[test]
fn without_startup_delay_the_same_slave_starts_next_to_the_master_blocking() {
    without_delay("blocking");
}
