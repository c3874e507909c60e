//! The browser's view (issue 14): a keep-alive HTTP client (`http-keepalive`: one persistent
//! connection to a web server on the service address, a GET every 10 ms, each given 200 ms)
//! through an operator's FAIL on lukretia, the RECOVER handback and a SIGTERM handover, at
//! `interval 1` and at the fastest documented setting. Each must cost the client at most one
//! failed request, and the client must not wait for a retransmission: less than the 200 ms
//! (the kernel's minimum retransmission timeout) that every transition cost before. The
//! issue's bar, 30 ms between two answered requests, is measured with the release programs
//! (`FAILOVER_BIN_DIR=target/release`, `bench/README.md`), not asserted on a shared 2-core
//! machine running debug builds.
//!
//! Without `failsvc S reset` the request in flight when the address moves goes to the old
//! holder, which has dropped the address and discards it: the client waits for its
//! retransmission (about 210 ms) before the new holder resets the connection. With it, the
//! old holder makes the client talk to the new holder as soon as that one answers UP.
//!
//! Root only (CI runs as root); without root each test prints `SKIPPED (needs root)` and
//! fails unless FAILOVER_ALLOW_SKIP=1. Needs the programs built first.
#![cfg(target_os = "linux")]

use std::time::Duration;

use failover_tests::netns::{
    browser_view, describe_events, dual_holding, ready, start_web_servers, AddressWatch, Bed,
    BedOptions, Browser, BrowserView, VIP4,
};

const PHASE_LIMIT: Duration = Duration::from_secs(10);
/// The kernel's minimum retransmission timeout: a client that waited this long was not told
/// its connection had gone.
const MAX_GAP: Duration = Duration::from_millis(200);
const MAX_FAILED: usize = 1;

fn settle() {
    std::thread::sleep(Duration::from_millis(1500));
}

fn check(setting: &str, phase: &str, view: &BrowserView, new_holder: &str) {
    eprintln!(
        "browser, {setting}, {phase}: {} failed request(s) {:?}, longest gap between answers {:?}, answered by {:?} then {:?}",
        view.failed.len(),
        view.failed,
        view.longest_gap,
        view.first,
        view.last
    );
    assert_eq!(
        view.last.as_deref(),
        Some(new_holder),
        "{setting}, {phase}: the browser should end up at {new_holder}: {view:?}"
    );
    assert!(
        view.failed.len() <= MAX_FAILED,
        "{setting}, {phase}: {} requests failed (bar {MAX_FAILED}): {view:?}",
        view.failed.len()
    );
    assert!(
        view.longest_gap <= MAX_GAP,
        "{setting}, {phase}: {:?} between two answered requests (bar {MAX_GAP:?}): {view:?}",
        view.longest_gap
    );
}

fn browser_story(setting: &str, options: BedOptions) {
    if !ready(&format!("netns_browser::{setting}"), &[]) {
        return;
    }
    let bed = Bed::new(options);
    bed.boot_both();
    bed.ping_until_answered(VIP4, PHASE_LIMIT);
    let _servers = start_web_servers(&bed);
    std::thread::sleep(Duration::from_millis(300));
    let watch = AddressWatch::start(&bed);
    let browser = Browser::start(&bed);
    settle();

    let fail_from = browser.now();
    bed.lukretia.script(failover_tests::netns::SERVICE, "fail");
    bed.wait_for("macbeth holds the address", PHASE_LIMIT, || {
        bed.macbeth.holds()
    });
    settle();
    let recover_from = browser.now();
    bed.lukretia
        .script(failover_tests::netns::SERVICE, "recover");
    bed.wait_for("only lukretia holds the address", PHASE_LIMIT, || {
        bed.lukretia.holds() && !bed.macbeth.holds()
    });
    settle();
    let term_from = browser.now();
    bed.lukretia.signal("failsh", "TERM");
    bed.wait_for("macbeth holds the address", PHASE_LIMIT, || {
        bed.macbeth.holds()
    });
    bed.wait_for("lukretia's failsh has exited", PHASE_LIMIT, || {
        !bed.lukretia.alive("failsh")
    });
    settle();
    let end = browser.now();
    let requests = browser.finish();
    let watch_end = watch.now();
    let events = watch.finish();
    let both = dual_holding((true, false), &events, watch_end);
    assert!(
        both.is_empty(),
        "{setting}: both hosts held the address: {both:?}\n{}",
        describe_events(&events)
    );
    let logs = || format!("{}{}", bed.lukretia.logs(), bed.macbeth.logs());
    assert!(
        requests.len() > 300,
        "the browser made only {} requests: {}",
        requests.len(),
        logs()
    );
    let phases = [
        ("operator fail", fail_from, recover_from, "macbeth"),
        ("recover handback", recover_from, term_from, "lukretia"),
        ("SIGTERM handover", term_from, end, "macbeth"),
    ];
    let views: Vec<(&str, BrowserView, &str)> = phases
        .iter()
        .map(|(phase, from, to, holder)| (*phase, browser_view(&requests, *from, *to), *holder))
        .collect();
    // From the whole failsh logs: at the fastest setting a loaded machine's poll warnings
    // push the reset lines out of the last 40 lines that `logs()` shows.
    let failsh_logs = [&bed.lukretia, &bed.macbeth]
        .iter()
        .map(|h| std::fs::read_to_string(h.log_dir().join("failsh.log")).unwrap_or_default())
        .collect::<String>();
    let resets = failsh_logs
        .lines()
        .filter(|l| l.contains("connections on 198.18.0.50"))
        .map(str::to_string)
        .collect::<Vec<_>>();
    eprintln!("{setting}: resets logged:\n{}", resets.join("\n"));
    assert_eq!(
        resets.len(),
        3,
        "{setting}: one reset of the connections per transition, by the host that let go:\n{}",
        logs()
    );
    for (phase, view, holder) in &views {
        check(setting, phase, view, holder);
    }
}

/// `interval 1` with the example procedures that move the address with `ipaddr` and the
/// built-in grarp (`lukretia-fast.tcl` at the seed's interval, one miss).
#[test]
fn a_keepalive_browser_loses_at_most_one_request_at_interval_1_blocking() {
    browser_story(
        "interval_1",
        BedOptions {
            interval: "1".into(),
            fast_config: true,
            ipv6: false,
            runtime: Some("blocking"),
            ..BedOptions::default()
        },
    );
}

/// The fastest documented setting (interval 5 ms, 4 misses, timeout 5 ms), on smol.
#[test]
fn a_keepalive_browser_loses_at_most_one_request_at_the_fastest_setting_smol() {
    browser_story(
        "fastest",
        BedOptions {
            fast_config: true,
            fast_timing: true,
            ipv6: false,
            runtime: Some("smol"),
            ..BedOptions::default()
        },
    );
}

/// The seed's own story at `interval 1`: the service script (`ip`, `grarp -b` and `failc` as
/// processes) moves the address.
#[test]
fn a_keepalive_browser_loses_at_most_one_request_with_the_service_script_blocking() {
    browser_story(
        "service_script",
        BedOptions {
            interval: "1".into(),
            ipv6: false,
            runtime: Some("blocking"),
            ..BedOptions::default()
        },
    );
}
