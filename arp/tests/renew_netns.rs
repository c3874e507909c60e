//! `renew_address` against the kernel, in a network namespace of the test's own: a renewal
//! renews an address that is there and never puts back one that is not (issue 14: the
//! service script's `fail` removed the address, a renewal re-created it before the FAIL
//! reached failsh, and both hosts held it for a second).
//!
//! Each test runs in a thread that `unshare`s a new network namespace: the `ip` processes it
//! starts inherit it, and the namespace (with its interfaces) goes when the thread ends,
//! also on failure. Needs root; without it the tests say so loudly (and fail unless
//! FAILOVER_ALLOW_SKIP=1).

#![cfg(all(target_os = "linux", feature = "sender"))]
// unshare and geteuid: what a test in a namespace of its own needs.
#![allow(unsafe_code)]

use std::net::IpAddr;
use std::process::Command;

fn root_or_skip(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    let why = "not running as root: a network namespace needs it";
    eprintln!("SKIPPED (needs root): {test}: {why}");
    if std::env::var("FAILOVER_ALLOW_SKIP").as_deref() != Ok("1") {
        panic!("{test} could not run: {why} (set FAILOVER_ALLOW_SKIP=1 to allow skipping)");
    }
    false
}

fn ip(args: &[&str]) -> String {
    let output = Command::new("ip")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run ip {args:?}: {e}"));
    assert!(
        output.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Runs `body` in a thread of its own in a new network namespace with an interface `rn0`
/// that is up.
fn in_namespace(body: impl FnOnce() + Send + 'static) {
    std::thread::spawn(move || {
        // SAFETY: unshare(CLONE_NEWNET) moves only this thread to a new namespace.
        let unshared = unsafe { libc::unshare(libc::CLONE_NEWNET) };
        assert_eq!(unshared, 0, "unshare: {}", std::io::Error::last_os_error());
        // A veth pair (this kernel may have no dummy interfaces).
        ip(&["link", "add", "rn0", "type", "veth", "peer", "name", "rn1"]);
        ip(&["link", "set", "rn0", "up"]);
        ip(&["link", "set", "rn1", "up"]);
        body();
    })
    .join()
    .expect("the test's thread");
}

/// The valid lifetime `ip` reports for the address, or None when it is not on rn0.
fn valid_lifetime_s(address: &str) -> Option<String> {
    let shown = ip(&["-o", "addr", "show", "dev", "rn0"]);
    let line = shown
        .lines()
        .find(|l| l.contains(&format!(" {address}/")))?;
    let mut words = line.split_whitespace();
    words.find(|w| *w == "valid_lft")?;
    words.next().map(str::to_string)
}

#[test]
fn a_renewal_renews_an_address_that_is_there() {
    if !root_or_skip("a_renewal_renews_an_address_that_is_there") {
        return;
    }
    in_namespace(|| {
        for (address, prefix) in [("198.18.0.50", 24u8), ("2001:db8::50", 64)] {
            ip(&[
                "addr",
                "add",
                &format!("{address}/{prefix}"),
                "dev",
                "rn0",
                "valid_lft",
                "100",
                "preferred_lft",
                "100",
                "nodad",
            ]);
            let ip_address: IpAddr = address.parse().unwrap();
            let renewed =
                failover_arp::renew_address("rn0", ip_address, prefix, None, 7).expect("renewal");
            assert!(renewed, "{address}: not renewed although it is there");
            let lifetime = valid_lifetime_s(address).expect("still there");
            let seconds: u32 = lifetime.trim_end_matches("sec").parse().expect("seconds");
            assert!(
                seconds <= 7,
                "{address}: valid_lft {lifetime} after a renewal to 7 s"
            );
        }
    });
}

#[test]
fn a_renewal_never_puts_back_an_address_that_went() {
    if !root_or_skip("a_renewal_never_puts_back_an_address_that_went") {
        return;
    }
    in_namespace(|| {
        for (address, prefix) in [("198.18.0.50", 24u8), ("2001:db8::50", 64)] {
            ip(&[
                "addr",
                "add",
                &format!("{address}/{prefix}"),
                "dev",
                "rn0",
                "nodad",
            ]);
            // The service script's `fail`: the address goes before faild hears of it.
            ip(&["addr", "del", &format!("{address}/{prefix}"), "dev", "rn0"]);
            let ip_address: IpAddr = address.parse().unwrap();
            let renewed =
                failover_arp::renew_address("rn0", ip_address, prefix, None, 7).expect("renewal");
            assert!(!renewed, "{address}: renewed although it was gone");
            assert_eq!(valid_lifetime_s(address), None, "{address} was put back");
        }
    });
}

/// An administrator removes the address again and again while failsh renews it: whatever
/// the interleaving, a renewal that says it renewed found the address there, and once the
/// remover stops, a renewal never brings the address back.
#[test]
fn renewals_racing_a_remover_never_leave_the_address_behind() {
    if !root_or_skip("renewals_racing_a_remover_never_leave_the_address_behind") {
        return;
    }
    in_namespace(|| {
        let address: IpAddr = "198.18.0.50".parse().unwrap();
        let mut gone = 0;
        for _ in 0..200 {
            failover_arp::add_address_for("rn0", address, 24, None, Some(30)).expect("add");
            // The removal runs in another process while this thread renews.
            let mut remover = Command::new("ip")
                .args(["addr", "del", "198.18.0.50/24", "dev", "rn0"])
                .spawn()
                .expect("ip addr del");
            let mut results = Vec::new();
            for _ in 0..20 {
                results.push(
                    failover_arp::renew_address("rn0", address, 24, None, 30).expect("renewal"),
                );
            }
            assert!(remover.wait().expect("ip").success(), "the removal failed");
            // Once it has gone, no later renewal brings it back.
            let after = failover_arp::renew_address("rn0", address, 24, None, 30).expect("renewal");
            assert!(!after, "a renewal after the removal renewed");
            assert_eq!(
                valid_lifetime_s("198.18.0.50"),
                None,
                "the address was put back"
            );
            if let Some(first_gone) = results.iter().position(|r| !r) {
                assert!(
                    results[first_gone..].iter().all(|r| !r),
                    "a renewal renewed after one had found the address gone: {results:?}"
                );
                gone += 1;
            }
        }
        eprintln!("renewals saw the removal happen under them in {gone} of 200 rounds");
    });
}
