//! Real IP failover across network namespaces: the real faild and failsh on lukretia and
//! macbeth, started by the example init scripts, with the example service script moving
//! 198.18.0.50 (and 2001:db8::50) with `ip addr` and announcing it with `grarp`, and a
//! client that pings the address. The bed is described in `failover_tests::netns`.
//!
//! Root only (CI runs as root); without root each test prints `SKIPPED (needs root)` and
//! fails unless FAILOVER_ALLOW_SKIP=1. Needs the programs built first:
//! `cargo build -p failover-cli --bins`.
//!
//! Intervals are 0.2 s so that each test takes seconds; "within B" bounds below are the
//! promise of DESIGN §2 (`misses + 1` intervals) plus the time the procedures take, with a
//! margin for a loaded two-core machine.
#![cfg(target_os = "linux")]

use std::time::{Duration, Instant};

use failover_tests::netns::{
    both_held, largest_gap, ready, Bed, BedOptions, Capture, Sample, Sampler, SERVICE, VIP4, VIP6,
};

/// How often the two hosts are sampled for the address.
const SAMPLE_PERIOD: Duration = Duration::from_millis(10);
/// Upper bound for any one phase (takeover, handshake) to complete.
const PHASE_LIMIT: Duration = Duration::from_secs(10);

/// The bound after two hosts that both hold the address see each other again: `misses + 1`
/// intervals, plus a stop procedure and scheduling slack.
fn heal_bound(bed: &Bed) -> Duration {
    bed.interval() * 2 + Duration::from_millis(800)
}

fn describe(samples: &[Sample]) -> String {
    let mut out = String::new();
    let mut last: Option<(bool, bool)> = None;
    for s in samples {
        if last != Some((s.lukretia, s.macbeth)) {
            out.push_str(&format!(
                "  {:>7.3}s lukretia={} macbeth={}\n",
                s.at.as_secs_f64(),
                s.lukretia,
                s.macbeth
            ));
            last = Some((s.lukretia, s.macbeth));
        }
    }
    out
}

fn assert_dense(samples: &[Sample]) {
    let gap = largest_gap(samples);
    assert!(
        gap < Duration::from_millis(250),
        "the sampler fell behind ({gap:?} between two samples): the machine is too busy for a timing test"
    );
}

/// Heals a fault while sampling both hosts every 10 ms, waits until lukretia alone holds the
/// address and the client's neighbour entry points at it, watches ten more intervals (nothing
/// may flap) and asserts that both never held the address later than the bound after the
/// heal. Returns the samples and the heal's time in them.
fn heal_then_lukretia_alone(bed: &Bed, what: &str, heal: impl FnOnce()) -> (Vec<Sample>, Duration) {
    let sampler = Sampler::start(bed, SAMPLE_PERIOD, Duration::from_secs(30));
    let healed_at = sampler.now();
    heal();
    bed.wait_for("only lukretia holds the address", PHASE_LIMIT, || {
        bed.lukretia.holds() && !bed.macbeth.holds()
    });
    bed.wait_for(
        "the client's neighbour entry points at lukretia",
        PHASE_LIMIT,
        || bed.client_neighbour(VIP4).as_deref() == Some(bed.lukretia.mac),
    );
    std::thread::sleep(bed.interval() * 10);
    let samples = sampler.finish();
    assert_dense(&samples);
    let bound = heal_bound(bed);
    assert!(
        both_held(&samples, healed_at + bound).is_empty(),
        "both hosts held the address more than {bound:?} after {what}:\n{}",
        describe(&samples)
    );
    (samples, healed_at)
}

/// Checks that every frame in a capture of macbeth's announcements says the failover
/// address is at macbeth's MAC, and that the grarp bursts for both addresses are there.
fn check_announcements(records: &[String], mac: &str) {
    let (mut gratuitous_requests, mut gratuitous_replies, mut advertisements) = (0, 0, 0);
    for r in records {
        assert!(r.contains(&format!("{mac} > ")), "not from {mac}: {r}");
        if r.contains("ethertype ARP") {
            assert!(r.contains("Ethernet (len 6), IPv4 (len 4)"), "{r}");
            if r.contains(&format!("Request who-has {VIP4} tell {VIP4}")) {
                gratuitous_requests += 1;
            } else if r.contains(&format!("Reply {VIP4} is-at {mac}")) {
                gratuitous_replies += 1;
            } else {
                // An ordinary request sent from the address also binds it to our MAC.
                assert!(
                    r.contains(&format!("tell {VIP4}")),
                    "unexpected ARP frame: {r}"
                );
            }
        } else {
            assert!(r.contains("ethertype IPv6"), "{r}");
            assert!(r.contains("[icmp6 sum ok]"), "{r}");
            assert!(
                r.contains(&format!("neighbor advertisement, length 32, tgt is {VIP6}")),
                "{r}"
            );
            assert!(r.contains("override"), "{r}");
            assert!(
                r.contains(&format!("link-address option (2), length 8 (1): {mac}")),
                "{r}"
            );
            advertisements += 1;
        }
    }
    // GRARP_OPTS "-c 3": three rounds of a request and a reply, three advertisements.
    assert!(
        gratuitous_requests >= 3 && gratuitous_replies >= 3 && advertisements >= 3,
        "expected the grarp bursts (3 requests, 3 replies, 3 advertisements), got {gratuitous_requests}/{gratuitous_replies}/{advertisements}: {records:#?}"
    );
}

/// Cuts lukretia's link and waits until macbeth holds the address, the client's neighbour
/// entries point at macbeth and its pings (IPv4 and IPv6) are answered again; then checks
/// macbeth's announcements, captured on the client into `capture_name`.
fn cut_lukretia_and_follow_macbeth(bed: &Bed, capture_name: &str) {
    let capture = Capture::start(
        &bed.client,
        capture_name,
        &format!(
            "ether src {} and ((arp host {VIP4}) or (icmp6 and ip6[40] == 136 and ip6 src {VIP6}))",
            bed.macbeth.mac
        ),
    );
    let cut_at = Instant::now();
    bed.cut(&bed.lukretia);
    let took = bed.wait_for("macbeth holds the address", PHASE_LIMIT, || {
        bed.macbeth.holds()
    });
    eprintln!("link cut: macbeth holds the address after {took:?}");
    bed.wait_for(
        "the client's neighbour entry points at macbeth",
        PHASE_LIMIT,
        || bed.client_neighbour(VIP4).as_deref() == Some(bed.macbeth.mac),
    );
    bed.ping_until_answered(VIP4, PHASE_LIMIT);
    bed.ping_until_answered(VIP6, PHASE_LIMIT);
    assert_eq!(bed.client_neighbour(VIP6).as_deref(), Some(bed.macbeth.mac));
    eprintln!(
        "link cut: the client reaches the address again {:?} after the cut",
        cut_at.elapsed()
    );
    // The grarp bursts are over (3 rounds 100 ms apart) well before this.
    std::thread::sleep(Duration::from_millis(500));
    check_announcements(&capture.finish(), bed.macbeth.mac);
}

#[test]
fn the_client_follows_the_address_when_lukretia_s_link_is_cut_and_comes_back() {
    if !ready("netns_failover::link_cut", &[("tcpdump", "tcpdump")]) {
        return;
    }
    let bed = Bed::new(BedOptions::default());
    bed.boot_both();

    // The client reaches the address on lukretia, over IPv4 and IPv6.
    bed.ping_until_answered(VIP4, PHASE_LIMIT);
    bed.ping_until_answered(VIP6, PHASE_LIMIT);
    assert_eq!(
        bed.client_neighbour(VIP4).as_deref(),
        Some(bed.lukretia.mac)
    );
    assert_eq!(
        bed.client_neighbour(VIP6).as_deref(),
        Some(bed.lukretia.mac)
    );

    // Cut: macbeth takes over, the client's neighbour entries follow, pings work again.
    cut_lukretia_and_follow_macbeth(&bed, "takeover.pcap");

    // lukretia never learned of the cut (it is the master and kept the address): when the
    // link comes back both hold it, and within the bound exactly one does, lukretia, for good.
    assert!(
        bed.lukretia.holds(),
        "lukretia dropped the address during the cut"
    );
    let (samples, restored_at) =
        heal_then_lukretia_alone(&bed, "the link came back", || bed.restore(&bed.lukretia));
    let last_both = both_held(&samples, restored_at)
        .last()
        .map(|s| s.at - restored_at);
    eprintln!("link back: both held the address until {last_both:?} after the restore");
    let end = samples.last().expect("samples");
    assert!(end.lukretia && !end.macbeth, "{}", describe(&samples));
    bed.ping_until_answered(VIP4, PHASE_LIMIT);
}

/// lukretia dies (link cut, daemons killed, the supervisor takes the address down) and
/// boots again as the seed's scripts do it; macbeth hands the address back. Returns the
/// samples from the moment the link came back and lukretia's boot time in them.
fn reboot_lukretia(bed: &Bed) -> (Vec<Sample>, Duration) {
    bed.boot_both();
    bed.cut(&bed.lukretia);
    bed.lukretia.signal("failsh", "KILL");
    bed.lukretia.signal("faild", "KILL");
    bed.wait_for("lukretia no longer holds the address", PHASE_LIMIT, || {
        !bed.lukretia.holds()
    });
    bed.wait_for("macbeth holds the address", PHASE_LIMIT, || {
        bed.macbeth.holds()
    });
    bed.ping_until_answered(VIP4, PHASE_LIMIT);
    // macbeth's start procedure has returned (a slave inside its start procedure still
    // shows RECOVER; see docs/deploy.md).
    bed.wait_for("macbeth's faild says UP", PHASE_LIMIT, || {
        bed.macbeth.state().as_deref() == Some("UP")
    });

    // lukretia boots again, its network first (failsh.service is ordered after
    // network-online.target): faild registers FAIL, the service script RECOVER, failsh
    // starts; macbeth sees its master in RECOVER and steps down, then lukretia starts.
    let sampler = Sampler::start(bed, SAMPLE_PERIOD, Duration::from_secs(30));
    bed.restore(&bed.lukretia);
    bed.wait_for("lukretia reaches macbeth", PHASE_LIMIT, || {
        bed.lukretia
            .run(
                "ping",
                &["-n", "-q", "-c", "1", "-W", "0.3", bed.macbeth.addr4],
            )
            .0
    });
    let booted_at = sampler.now();
    bed.boot(&bed.lukretia);
    let took = bed.wait_for("only lukretia holds the address", PHASE_LIMIT, || {
        bed.lukretia.holds() && !bed.macbeth.holds()
    });
    eprintln!("reboot: lukretia holds the address {took:?} after its boot");
    bed.wait_for(
        "the client's neighbour entry points at lukretia",
        PHASE_LIMIT,
        || bed.client_neighbour(VIP4).as_deref() == Some(bed.lukretia.mac),
    );
    std::thread::sleep(bed.interval() * 10);
    let samples = sampler.finish();
    assert_dense(&samples);
    let end = samples.last().expect("samples");
    assert!(end.lukretia && !end.macbeth, "{}", describe(&samples));
    bed.ping_until_answered(VIP4, PHASE_LIMIT);
    (samples, booted_at)
}

#[test]
fn a_rebooted_master_takes_the_address_back_within_the_bound() {
    if !ready("netns_failover::reboot", &[]) {
        return;
    }
    let bed = Bed::new(BedOptions::default());
    let (samples, booted_at) = reboot_lukretia(&bed);
    let bound = heal_bound(&bed);
    assert!(
        both_held(&samples, booted_at + bound).is_empty(),
        "both hosts held the address more than {bound:?} after lukretia booted:\n{}",
        describe(&samples)
    );
    eprintln!(
        "reboot: {} samples with both holding the address",
        both_held(&samples, Duration::ZERO).len()
    );
}

/// The RECOVER handshake's promise taken literally: never both, sampled every 10 ms. This
/// found a gap in the core (fixed): a slave inside its start procedure still showed RECOVER,
/// so a master that had just turned RECOVER started too; a start now publishes UP first.
#[test]
fn a_rebooted_master_takes_the_address_back_through_recover_never_both() {
    if !ready("netns_failover::reboot_strict", &[]) {
        return;
    }
    let bed = Bed::new(BedOptions::default());
    let (samples, _) = reboot_lukretia(&bed);
    assert!(
        both_held(&samples, Duration::ZERO).is_empty(),
        "the RECOVER handshake let both hosts hold the address:\n{}",
        describe(&samples)
    );
}

#[test]
fn sigkill_of_lukretia_s_failsh_and_faild_leaves_the_address_on_macbeth_only() {
    if !ready("netns_failover::sigkill", &[]) {
        return;
    }
    let bed = Bed::new(BedOptions::default());
    bed.boot_both();
    bed.ping_until_answered(VIP4, PHASE_LIMIT);

    let sampler = Sampler::start(&bed, SAMPLE_PERIOD, Duration::from_secs(30));
    let killed_at = sampler.now();
    bed.lukretia.signal("failsh", "KILL");
    bed.lukretia.signal("faild", "KILL");
    bed.wait_for("only macbeth holds the address", PHASE_LIMIT, || {
        bed.macbeth.holds() && !bed.lukretia.holds()
    });
    bed.wait_for(
        "the client's neighbour entry points at macbeth",
        PHASE_LIMIT,
        || bed.client_neighbour(VIP4).as_deref() == Some(bed.macbeth.mac),
    );
    bed.ping_until_answered(VIP4, PHASE_LIMIT);
    std::thread::sleep(bed.interval() * 10);
    let samples = sampler.finish();
    assert_dense(&samples);
    let dropped = samples
        .iter()
        .find(|s| s.at >= killed_at && !s.lukretia)
        .map(|s| s.at - killed_at);
    let taken = samples
        .iter()
        .find(|s| s.at >= killed_at && s.macbeth)
        .map(|s| s.at - killed_at);
    eprintln!(
        "sigkill: lukretia dropped the address after {dropped:?}, macbeth took it after {taken:?}"
    );
    let both = both_held(&samples, killed_at);
    assert!(
        both.is_empty(),
        "both hosts held the address after lukretia's daemons were killed:\n{}",
        describe(&samples)
    );
    let end = samples.last().expect("samples");
    assert!(!end.lukretia && end.macbeth, "{}", describe(&samples));
    // The supervisor also marked the service FAIL where it could (faild was dead): the
    // address is gone, and nothing on lukretia brings it back.
    assert!(!bed.lukretia.alive("failsh") && !bed.lukretia.alive("faild"));
}

#[test]
fn sigterm_hands_over_and_recover_brings_the_address_back_never_both() {
    if !ready("netns_failover::sigterm", &[]) {
        return;
    }
    let bed = Bed::new(BedOptions::default());
    bed.boot_both();
    bed.ping_until_answered(VIP4, PHASE_LIMIT);

    let sampler = Sampler::start(&bed, SAMPLE_PERIOD, Duration::from_secs(40));
    let stopped_at = Instant::now();
    // failsh.init stop: SIGTERM, and it waits (bounded) until failsh has exited.
    bed.lukretia.script("failsh.init", "stop");
    assert!(
        !bed.lukretia.alive("failsh"),
        "failsh did not exit on SIGTERM"
    );
    assert!(
        !bed.lukretia.holds(),
        "failsh exited on SIGTERM without taking the address down"
    );
    let took = bed.wait_for("macbeth holds the address", PHASE_LIMIT, || {
        bed.macbeth.holds()
    });
    eprintln!(
        "sigterm: macbeth holds the address {:?} after the stop began",
        stopped_at.elapsed()
    );
    // Handover within about one interval after failsh is gone (plus the start procedure).
    assert!(
        took < bed.interval() * 2 + Duration::from_millis(800),
        "macbeth took {took:?} after the handover"
    );
    bed.wait_for(
        "the client's neighbour entry points at macbeth",
        PHASE_LIMIT,
        || bed.client_neighbour(VIP4).as_deref() == Some(bed.macbeth.mac),
    );
    bed.ping_until_answered(VIP4, PHASE_LIMIT);

    // macbeth's start procedure (address, then the grarp burst) has finished and its faild
    // says UP, so that what follows is the RECOVER handshake alone.
    bed.wait_for("macbeth's faild says UP", PHASE_LIMIT, || {
        bed.macbeth.state().as_deref() == Some("UP")
    });

    // The operator recovers lukretia: RECOVER in faild, failsh started again; macbeth steps
    // down when it sees its master in RECOVER, then lukretia starts.
    bed.lukretia.script(SERVICE, "recover");
    bed.lukretia.script("failsh.init", "start");
    bed.wait_for("only lukretia holds the address", PHASE_LIMIT, || {
        bed.lukretia.holds() && !bed.macbeth.holds()
    });
    bed.wait_for(
        "the client's neighbour entry points at lukretia",
        PHASE_LIMIT,
        || bed.client_neighbour(VIP4).as_deref() == Some(bed.lukretia.mac),
    );
    std::thread::sleep(bed.interval() * 10);
    let samples = sampler.finish();
    assert_dense(&samples);
    assert!(
        both_held(&samples, Duration::ZERO).is_empty(),
        "both hosts held the address during the handover or the RECOVER handshake:\n{}",
        describe(&samples)
    );
    bed.ping_until_answered(VIP4, PHASE_LIMIT);
}

#[test]
fn a_partition_between_the_hosts_heals_with_lukretia_reclaiming() {
    if !ready("netns_failover::partition", &[]) {
        return;
    }
    let bed = Bed::new(BedOptions::default());
    bed.boot_both();
    bed.ping_until_answered(VIP4, PHASE_LIMIT);

    // The two hosts cannot see each other; the client sees both.
    bed.partition(true);
    bed.wait_for("macbeth holds the address too", PHASE_LIMIT, || {
        bed.macbeth.holds()
    });
    assert!(
        bed.lukretia.holds(),
        "lukretia (the master) gave the address up while partitioned"
    );
    // macbeth announced it last: the client follows macbeth meanwhile.
    bed.wait_for(
        "the client's neighbour entry points at macbeth",
        PHASE_LIMIT,
        || bed.client_neighbour(VIP4).as_deref() == Some(bed.macbeth.mac),
    );
    bed.ping_until_answered(VIP4, PHASE_LIMIT);
    // The client still reaches both hosts' own addresses.
    bed.ping_until_answered(bed.lukretia.addr4, PHASE_LIMIT);
    bed.ping_until_answered(bed.macbeth.addr4, PHASE_LIMIT);

    // Heal: lukretia sees its slave UP and reclaims (re-announces), macbeth steps down.
    let (samples, _) =
        heal_then_lukretia_alone(&bed, "the partition healed", || bed.partition(false));
    let end = samples.last().expect("samples");
    assert!(end.lukretia && !end.macbeth, "{}", describe(&samples));
    assert_eq!(
        bed.client_neighbour(VIP4).as_deref(),
        Some(bed.lukretia.mac)
    );
    bed.ping_until_answered(VIP4, PHASE_LIMIT);
}

/// The fast example configurations (`lukretia-fast.tcl`, `macbeth-fast.tcl`), whose
/// procedures move the address with `ip` and the built-in `grarp` instead of the service
/// script, do the same job: IPv4 and IPv6 addresses up, announced and down on both hosts
/// through a link cut, its heal and a SIGTERM handover. At the bed's 0.2 s interval: the
/// fast timing itself is measured by `bench/failover.sh`, not asserted here.
#[test]
fn the_fast_example_configurations_move_the_address_without_the_service_script() {
    if !ready("netns_failover::fast_config", &[("tcpdump", "tcpdump")]) {
        return;
    }
    let bed = Bed::new(BedOptions {
        fast_config: true,
        ..BedOptions::default()
    });
    bed.boot_both();
    bed.ping_until_answered(VIP4, PHASE_LIMIT);
    bed.ping_until_answered(VIP6, PHASE_LIMIT);

    // The built-in grarp, one round for both addresses at a time, sends the same frames as
    // the service script's grarp bursts.
    cut_lukretia_and_follow_macbeth(&bed, "fast-takeover.pcap");

    // Heal: macbeth's stopservice takes both addresses down, lukretia reclaims.
    let (samples, _) =
        heal_then_lukretia_alone(&bed, "the link came back", || bed.restore(&bed.lukretia));
    let end = samples.last().expect("samples");
    assert!(end.lukretia && !end.macbeth, "{}", describe(&samples));
    assert!(
        !bed.macbeth.holds_v6(),
        "macbeth's stopservice left the IPv6 address up"
    );
    bed.ping_until_answered(VIP6, PHASE_LIMIT);

    // SIGTERM: lukretia's stopservice takes both addresses down before macbeth starts.
    bed.lukretia.script("failsh.init", "stop");
    assert!(
        !bed.lukretia.holds() && !bed.lukretia.holds_v6(),
        "lukretia's stopservice left an address up on SIGTERM"
    );
    bed.wait_for("macbeth holds the address", PHASE_LIMIT, || {
        bed.macbeth.holds()
    });
    bed.ping_until_answered(VIP4, PHASE_LIMIT);
    bed.ping_until_answered(VIP6, PHASE_LIMIT);
}
