//! Frame building against exact, independently computed bytes, and build -> parse round trips.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use failover_arp::{
    announcement_frames, gratuitous_arp, parse_frame, unsolicited_na, Announcement, ArpOp, Form,
    MacAddr, ParseError, ARP_FRAME_LEN, NA_FRAME_LEN,
};
use proptest::prelude::*;

const MAC: MacAddr = MacAddr([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);

#[rustfmt::skip]
const ARP_REQUEST: [u8; 42] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff,             // Ethernet destination: broadcast
    0x52, 0x54, 0x00, 0x12, 0x34, 0x56,             // Ethernet source: our MAC
    0x08, 0x06,                                     // EtherType ARP
    0x00, 0x01, 0x08, 0x00, 0x06, 0x04,             // Ethernet, IPv4, 6, 4
    0x00, 0x01,                                     // operation 1: request
    0x52, 0x54, 0x00, 0x12, 0x34, 0x56,             // sender MAC
    198, 18, 0, 50,                                 // sender IP
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00,             // target MAC: zero
    198, 18, 0, 50,                                 // target IP = sender IP
];

#[rustfmt::skip]
const ARP_REPLY: [u8; 42] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0x52, 0x54, 0x00, 0x12, 0x34, 0x56,
    0x08, 0x06,
    0x00, 0x01, 0x08, 0x00, 0x06, 0x04,
    0x00, 0x02,                                     // operation 2: reply
    0x52, 0x54, 0x00, 0x12, 0x34, 0x56,
    198, 18, 0, 50,
    0x52, 0x54, 0x00, 0x12, 0x34, 0x56,             // target MAC = sender MAC (arping -A)
    198, 18, 0, 50,
];

/// Computed by hand (a separate script summing the pseudo-header and the message):
/// checksum 0x73d1.
#[rustfmt::skip]
const NA: [u8; 86] = [
    0x33, 0x33, 0x00, 0x00, 0x00, 0x01, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x86, 0xdd, // Ethernet
    0x60, 0x00, 0x00, 0x00, 0x00, 0x20, 0x3a, 0xff,  // IPv6: payload 32, ICMPv6, hop limit 255
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x50, // source 2001:db8::50
    0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x01,       // destination ff02::1
    0x88, 0x00, 0x73, 0xd1,                          // type 136, code 0, checksum
    0x20, 0x00, 0x00, 0x00,                          // flags: Override only
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x50, // target 2001:db8::50
    0x02, 0x01, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56,  // option 2 (target LLA), length 1, MAC
];

/// RFC 1071 one's complement sum over the IPv6 pseudo-header and an ICMPv6 message, written
/// here without the crate: a message with a correct checksum sums to 0xffff.
fn ones_complement_sum(src: &[u8; 16], dst: &[u8; 16], icmp: &[u8]) -> u16 {
    let mut data = Vec::new();
    data.extend_from_slice(src);
    data.extend_from_slice(dst);
    data.extend_from_slice(&(icmp.len() as u32).to_be_bytes());
    data.extend_from_slice(&[0, 0, 0, 58]);
    data.extend_from_slice(icmp);
    if data.len() % 2 == 1 {
        data.push(0);
    }
    let mut sum: u32 = data
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

#[test]
fn arp_request_exact_bytes() {
    let f = gratuitous_arp(MAC, Ipv4Addr::new(198, 18, 0, 50), ArpOp::Request);
    assert_eq!(f.len(), ARP_FRAME_LEN);
    assert_eq!(f, ARP_REQUEST);
}

#[test]
fn arp_reply_exact_bytes() {
    let f = gratuitous_arp(MAC, Ipv4Addr::new(198, 18, 0, 50), ArpOp::Reply);
    assert_eq!(f, ARP_REPLY);
}

#[test]
fn na_exact_bytes_and_checksum() {
    let addr: Ipv6Addr = "2001:db8::50".parse().unwrap();
    let f = unsolicited_na(MAC, addr);
    assert_eq!(f.len(), NA_FRAME_LEN);
    assert_eq!(f, NA);
    let icmp = &f[54..];
    assert_eq!(
        ones_complement_sum(
            &addr.octets(),
            &"ff02::1".parse::<Ipv6Addr>().unwrap().octets(),
            icmp
        ),
        0xffff
    );
}

#[test]
fn parse_known_frames() {
    let a = parse_frame(&ARP_REQUEST).unwrap();
    let Announcement::Arp(arp) = &a else {
        panic!("{a:?}")
    };
    assert_eq!(arp.op, ArpOp::Request);
    assert_eq!(arp.eth_dst, MacAddr::BROADCAST);
    assert_eq!(arp.target_mac, MacAddr::ZERO);
    assert!(arp.is_gratuitous());
    assert_eq!(a.announced(), Some(("198.18.0.50".parse().unwrap(), MAC)));

    let Announcement::Arp(reply) = parse_frame(&ARP_REPLY).unwrap() else {
        panic!()
    };
    assert_eq!((reply.op, reply.target_mac), (ArpOp::Reply, MAC));

    let n = parse_frame(&NA).unwrap();
    let Announcement::NeighborAdvert(na) = &n else {
        panic!("{n:?}")
    };
    assert!(na.override_flag && !na.solicited && !na.router);
    assert_eq!(na.hop_limit, 255);
    assert_eq!(na.checksum, 0x73d1);
    assert_eq!(na.target_mac, Some(MAC));
    assert_eq!(na.dst_ip, "ff02::1".parse::<Ipv6Addr>().unwrap());
    assert_eq!(na.eth_dst, MacAddr::IPV6_ALL_NODES);
    assert_eq!(n.announced(), Some(("2001:db8::50".parse().unwrap(), MAC)));
}

#[test]
fn parse_accepts_ethernet_padding() {
    let mut padded = ARP_REQUEST.to_vec();
    padded.resize(60, 0);
    assert_eq!(
        parse_frame(&padded).unwrap(),
        parse_frame(&ARP_REQUEST).unwrap()
    );
    let mut padded = NA.to_vec();
    padded.extend_from_slice(&[0xaa; 10]);
    assert_eq!(parse_frame(&padded).unwrap(), parse_frame(&NA).unwrap());
}

#[test]
fn parse_rejects_broken_frames() {
    let mut bad = NA;
    bad[60] ^= 1; // a target address byte: the checksum no longer matches
    assert!(matches!(
        parse_frame(&bad),
        Err(ParseError::BadChecksum { .. })
    ));
    let mut bad = NA;
    bad[54] = 135; // a neighbour solicitation
    assert!(matches!(
        parse_frame(&bad),
        Err(ParseError::NotNeighborAdvert(_))
    ));
    let mut bad = NA;
    bad[85 - 6] = 0; // option length 0 is invalid
    assert!(parse_frame(&bad).is_err());
    let mut bad = ARP_REQUEST;
    bad[21] = 3; // RARP request
    assert!(matches!(parse_frame(&bad), Err(ParseError::Arp(_))));
    let mut bad = ARP_REQUEST;
    bad[12..14].copy_from_slice(&[0x08, 0x00]);
    assert_eq!(parse_frame(&bad), Err(ParseError::OtherEtherType(0x0800)));
    for n in 0..ARP_REQUEST.len() {
        assert!(matches!(
            parse_frame(&ARP_REQUEST[..n]),
            Err(ParseError::Truncated { .. })
        ));
    }
    for n in 0..NA.len() {
        assert!(
            matches!(parse_frame(&NA[..n]), Err(ParseError::Truncated { .. })),
            "{n}"
        );
    }
}

#[test]
fn a_solicited_or_non_override_na_announces_nothing() {
    let addr: Ipv6Addr = "2001:db8::50".parse().unwrap();
    let mut f = unsolicited_na(MAC, addr);
    f[58] = 0; // clear Override, then fix the checksum
    f[56] = 0;
    f[57] = 0;
    let pnet_sum = !ones_complement_sum(
        &addr.octets(),
        &[0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
        &f[54..],
    );
    f[56..58].copy_from_slice(&pnet_sum.to_be_bytes());
    let a = parse_frame(&f).unwrap();
    assert_eq!(a.announced(), None);
}

#[test]
fn rounds_by_form() {
    let v4: IpAddr = "198.18.0.50".parse().unwrap();
    assert_eq!(
        announcement_frames(MAC, v4, Form::Both).unwrap(),
        vec![ARP_REQUEST.to_vec(), ARP_REPLY.to_vec()]
    );
    assert_eq!(
        announcement_frames(MAC, v4, Form::Request).unwrap(),
        vec![ARP_REQUEST.to_vec()]
    );
    assert_eq!(
        announcement_frames(MAC, v4, Form::Reply).unwrap(),
        vec![ARP_REPLY.to_vec()]
    );
    let v6: IpAddr = "2001:db8::50".parse().unwrap();
    assert_eq!(
        announcement_frames(MAC, v6, Form::Both).unwrap(),
        vec![NA.to_vec()]
    );
    assert!(announcement_frames(MAC, v6, Form::Request).is_err());
    assert!(announcement_frames(MacAddr::ZERO, v4, Form::Both).is_err());
    assert!(announcement_frames(MacAddr::BROADCAST, v4, Form::Both).is_err());
    assert!(announcement_frames(MAC, "224.0.0.1".parse().unwrap(), Form::Both).is_err());
}

fn unicast_mac() -> impl Strategy<Value = MacAddr> {
    any::<[u8; 6]>()
        .prop_map(|mut o| {
            o[0] &= 0xfe;
            MacAddr(o)
        })
        .prop_filter("non-zero", |m| !m.is_zero())
}

proptest! {
    #[test]
    fn arp_round_trip(mac in unicast_mac(), ip in any::<u32>(), reply in any::<bool>()) {
        let ip = Ipv4Addr::from(ip);
        let op = if reply { ArpOp::Reply } else { ArpOp::Request };
        let f = gratuitous_arp(mac, ip, op);
        let Announcement::Arp(a) = parse_frame(&f).unwrap() else { panic!() };
        prop_assert_eq!(a.op, op);
        prop_assert_eq!(a.eth_src, mac);
        prop_assert_eq!(a.eth_dst, MacAddr::BROADCAST);
        prop_assert_eq!(a.sender_mac, mac);
        prop_assert_eq!(a.sender_ip, ip);
        prop_assert_eq!(a.target_ip, ip);
        prop_assert_eq!(a.target_mac, if reply { mac } else { MacAddr::ZERO });
    }

    #[test]
    fn na_round_trip(mac in unicast_mac(), ip in any::<u128>()) {
        let ip = Ipv6Addr::from(ip);
        prop_assume!(!ip.is_multicast());
        let f = unsolicited_na(mac, ip);
        prop_assert_eq!(ones_complement_sum(&ip.octets(), &[0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], &f[54..]), 0xffff);
        let parsed = parse_frame(&f).unwrap();
        let Announcement::NeighborAdvert(n) = &parsed else { panic!() };
        prop_assert_eq!(n.target, ip);
        prop_assert_eq!(n.src_ip, ip);
        prop_assert_eq!(n.target_mac, Some(mac));
        prop_assert_eq!(n.eth_src, mac);
        prop_assert!(n.override_flag && !n.solicited && !n.router);
        prop_assert_eq!(parsed.announced(), Some((IpAddr::V6(ip), mac)));
    }

    #[test]
    fn na_any_single_bit_flip_in_icmp_is_caught(mac in unicast_mac(), ip in any::<u128>(), bit in 0usize..(32 * 8)) {
        let ip = Ipv6Addr::from(ip);
        prop_assume!(!ip.is_multicast());
        let mut f = unsolicited_na(mac, ip);
        f[54 + bit / 8] ^= 1 << (bit % 8);
        // Whatever the flip hits (type, checksum, flags, reserved bits, target, option), the
        // checksum or a field check catches it: it never decodes as the same announcement.
        let same = parse_frame(&f).ok().and_then(|a| a.announced()) == Some((IpAddr::V6(ip), mac));
        prop_assert!(!same, "flip of bit {} went unnoticed", bit);
    }

    #[test]
    fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = parse_frame(&bytes);
    }

    #[test]
    fn parse_never_panics_on_mutated_frames(idx in 0usize..86, val in any::<u8>(), cut in 0usize..=86) {
        let mut f = NA.to_vec();
        f[idx] = val;
        f.truncate(cut);
        let _ = parse_frame(&f);
        let mut a = ARP_REQUEST.to_vec();
        a[idx % 42] = val;
        let _ = parse_frame(&a[..cut.min(42)]);
    }
}
