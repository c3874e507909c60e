//! Operator-facing errors of the Linux sender that need no privileges and no namespace.
#![cfg(all(target_os = "linux", feature = "sender"))]

use failover_arp::{send_burst, BurstOptions, Error, Sender, EXIT_NO_MAC, EXIT_UNKNOWN_INTERFACE};

#[test]
fn unknown_interface() {
    let e = Sender::open("nonexistent0").unwrap_err();
    assert!(
        matches!(e, Error::UnknownInterface(ref n) if n == "nonexistent0"),
        "{e}"
    );
    assert_eq!(e.exit_code(), EXIT_UNKNOWN_INTERFACE);
    assert!(
        e.to_string().contains("no network interface of that name"),
        "{e}"
    );
    let e = send_burst(
        "nonexistent0",
        "198.18.0.1".parse().unwrap(),
        BurstOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(e, Error::UnknownInterface(_)), "{e}");
}

#[test]
fn loopback_has_no_mac() {
    // lo exists in every network namespace; its hardware type is loopback and its MAC zero.
    let e = Sender::open("lo").unwrap_err();
    assert!(matches!(e, Error::NoMac { .. }), "{e}");
    assert_eq!(e.exit_code(), EXIT_NO_MAC);
    assert!(
        e.to_string()
            .contains("interface lo has no Ethernet MAC address"),
        "{e}"
    );
    assert!(e.to_string().contains("loopback"), "{e}");
}

#[test]
fn options_are_checked_before_the_interface() {
    // An IPv6 address with an ARP form is refused even on an interface that does not exist.
    let opts = BurstOptions {
        form: failover_arp::Form::Reply,
        ..BurstOptions::default()
    };
    let e = send_burst("nonexistent0", "2001:db8::1".parse().unwrap(), opts).unwrap_err();
    assert!(matches!(e, Error::FamilyMismatch(_)), "{e}");
    let e = send_burst(
        "nonexistent0",
        "198.18.0.1".parse().unwrap(),
        BurstOptions {
            count: 0,
            ..BurstOptions::default()
        },
    )
    .unwrap_err();
    assert!(matches!(e, Error::Usage(_)), "{e}");
}
