//! Building and parsing the announcement frames (pure: no I/O, builds everywhere).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use pnet_packet::arp::{
    ArpHardwareTypes, ArpOperation, ArpOperations, ArpPacket, MutableArpPacket,
};
use pnet_packet::ethernet::{EtherType, EtherTypes, EthernetPacket, MutableEthernetPacket};
use pnet_packet::icmpv6::ndp::{MutableNeighborAdvertPacket, NeighborAdvertFlags};
use pnet_packet::icmpv6::{self, Icmpv6Packet, Icmpv6Types};
use pnet_packet::ip::IpNextHeaderProtocols;
use pnet_packet::ipv6::{Ipv6Packet, MutableIpv6Packet};

use crate::{Error, Form, MacAddr};

const ETH_HEADER: usize = 14;
const ARP_LEN: usize = 28;
const IPV6_HEADER: usize = 40;
/// ICMPv6 NA: type, code, checksum (4) + flags/reserved (4) + target (16) + TLLA option (8).
const NA_LEN: usize = 32;
/// ff02::1, all nodes on the link.
const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
/// NDP option type 2: Target Link-Layer Address.
const OPT_TARGET_LLA: u8 = 2;

/// Length of a gratuitous ARP frame as built here (Ethernet header + ARP, no padding).
pub const ARP_FRAME_LEN: usize = ETH_HEADER + ARP_LEN;
/// Length of an unsolicited neighbour advertisement frame as built here.
pub const NA_FRAME_LEN: usize = ETH_HEADER + IPV6_HEADER + NA_LEN;

/// The ARP operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArpOp {
    /// Operation 1.
    Request,
    /// Operation 2.
    Reply,
}

impl ArpOp {
    fn to_pnet(self) -> ArpOperation {
        match self {
            ArpOp::Request => ArpOperations::Request,
            ArpOp::Reply => ArpOperations::Reply,
        }
    }
}

fn pmac(m: MacAddr) -> pnet_base::MacAddr {
    pnet_base::MacAddr::from(m.0)
}

fn umac(m: pnet_base::MacAddr) -> MacAddr {
    MacAddr(m.octets())
}

/// Checks that `address` is one a host can hold and announce.
///
/// Refused: unspecified, broadcast, multicast and loopback addresses (nobody learns them from
/// ARP or NDP), and IPv4-mapped IPv6 addresses (announce the IPv4 address with ARP instead:
/// an [`Error::FamilyMismatch`]).
pub fn check_address(address: IpAddr) -> Result<(), Error> {
    let unusable = |reason| Err(Error::UnusableAddress { address, reason });
    match address {
        IpAddr::V4(a) => {
            if a.is_unspecified() {
                return unusable("it is the unspecified address");
            }
            if a.is_broadcast() {
                return unusable("it is the broadcast address");
            }
            if a.is_multicast() {
                return unusable("it is a multicast address");
            }
            if a.is_loopback() {
                return unusable("it is a loopback address, which never leaves the host");
            }
        }
        IpAddr::V6(a) => {
            if let Some(v4) = a.to_ipv4_mapped() {
                return Err(Error::FamilyMismatch(format!(
                    "{a} is an IPv4-mapped IPv6 address: announce {v4} (IPv4, with ARP) instead"
                )));
            }
            if a.is_unspecified() {
                return unusable("it is the unspecified address");
            }
            if a.is_multicast() {
                return unusable("it is a multicast address");
            }
            if a.is_loopback() {
                return unusable("it is the loopback address, which never leaves the host");
            }
        }
    }
    Ok(())
}

/// Builds a gratuitous ARP frame for `address` held by `mac`.
///
/// Ethernet destination broadcast, source `mac`; ARP Ethernet/IPv4, sender = target protocol
/// address = `address`, sender MAC = `mac`; target MAC 00:00:00:00:00:00 for a request and
/// `mac` for a reply (see the crate documentation for why). 42 bytes.
pub fn gratuitous_arp(mac: MacAddr, address: Ipv4Addr, op: ArpOp) -> Vec<u8> {
    let mut buf = vec![0u8; ARP_FRAME_LEN];
    {
        let mut eth = MutableEthernetPacket::new(&mut buf).expect("buffer sized for Ethernet");
        eth.set_destination(pmac(MacAddr::BROADCAST));
        eth.set_source(pmac(mac));
        eth.set_ethertype(EtherTypes::Arp);
    }
    {
        let mut arp = MutableArpPacket::new(&mut buf[ETH_HEADER..]).expect("buffer sized for ARP");
        arp.set_hardware_type(ArpHardwareTypes::Ethernet);
        arp.set_protocol_type(EtherTypes::Ipv4);
        arp.set_hw_addr_len(6);
        arp.set_proto_addr_len(4);
        arp.set_operation(op.to_pnet());
        arp.set_sender_hw_addr(pmac(mac));
        arp.set_sender_proto_addr(address);
        arp.set_target_hw_addr(pmac(match op {
            ArpOp::Request => MacAddr::ZERO,
            ArpOp::Reply => mac,
        }));
        arp.set_target_proto_addr(address);
    }
    buf
}

/// Builds an unsolicited neighbour advertisement for `address` held by `mac`.
///
/// Ethernet 33:33:00:00:00:01 from `mac`; IPv6 from `address` to ff02::1, hop limit 255;
/// ICMPv6 type 136 code 0, flags Override (Router and Solicited clear), target `address`,
/// Target Link-Layer Address option = `mac`, checksum over the IPv6 pseudo-header. 86 bytes.
pub fn unsolicited_na(mac: MacAddr, address: Ipv6Addr) -> Vec<u8> {
    let mut buf = vec![0u8; NA_FRAME_LEN];
    {
        let mut eth = MutableEthernetPacket::new(&mut buf).expect("buffer sized for Ethernet");
        eth.set_destination(pmac(MacAddr::IPV6_ALL_NODES));
        eth.set_source(pmac(mac));
        eth.set_ethertype(EtherTypes::Ipv6);
    }
    {
        let mut ip = MutableIpv6Packet::new(&mut buf[ETH_HEADER..]).expect("buffer sized for IPv6");
        ip.set_version(6);
        ip.set_traffic_class(0);
        ip.set_flow_label(0);
        ip.set_payload_length(NA_LEN as u16);
        ip.set_next_header(IpNextHeaderProtocols::Icmpv6);
        ip.set_hop_limit(255);
        ip.set_source(address);
        ip.set_destination(ALL_NODES);
    }
    let icmp_bytes = &mut buf[ETH_HEADER + IPV6_HEADER..];
    {
        let mut na = MutableNeighborAdvertPacket::new(icmp_bytes).expect("buffer sized for NA");
        na.set_icmpv6_type(Icmpv6Types::NeighborAdvert);
        na.set_icmpv6_code(icmpv6::ndp::Icmpv6Codes::NoCode);
        na.set_checksum(0);
        na.set_flags(NeighborAdvertFlags::Override);
        na.set_reserved(0);
        na.set_target_addr(address);
    }
    // The Target Link-Layer Address option: type 2, length 1 (in units of 8 bytes), the MAC.
    icmp_bytes[24] = OPT_TARGET_LLA;
    icmp_bytes[25] = 1;
    icmp_bytes[26..32].copy_from_slice(&mac.0);
    let sum = icmpv6::checksum(
        &Icmpv6Packet::new(icmp_bytes).expect("buffer sized for ICMPv6"),
        &address,
        &ALL_NODES,
    );
    icmp_bytes[2..4].copy_from_slice(&sum.to_be_bytes());
    buf
}

/// The frames of one round of a burst for `address`: one or two ARP frames for IPv4 (by
/// `form`), one neighbour advertisement for IPv6 (`form` must then be [`Form::Both`]).
///
/// Refuses a `mac` that is not unicast, an address [`check_address`] refuses, and
/// `Request`/`Reply` with an IPv6 address.
pub fn announcement_frames(
    mac: MacAddr,
    address: IpAddr,
    form: Form,
) -> Result<Vec<Vec<u8>>, Error> {
    if !mac.is_unicast() {
        return Err(Error::Usage(format!(
            "cannot announce with MAC {mac}: it is zero or a group address"
        )));
    }
    check_address(address)?;
    match address {
        IpAddr::V4(a) => Ok(form
            .ops()
            .iter()
            .map(|&op| gratuitous_arp(mac, a, op))
            .collect()),
        IpAddr::V6(a) => {
            if form != Form::Both {
                return Err(Error::FamilyMismatch(format!(
                    "{a} is an IPv6 address: the ARP request/reply forms do not apply to it"
                )));
            }
            Ok(vec![unsolicited_na(mac, a)])
        }
    }
}

/// A decoded ARP frame (Ethernet/IPv4 ARP only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArpFrame {
    /// Ethernet destination.
    pub eth_dst: MacAddr,
    /// Ethernet source.
    pub eth_src: MacAddr,
    /// Operation.
    pub op: ArpOp,
    /// Sender hardware address.
    pub sender_mac: MacAddr,
    /// Sender protocol address.
    pub sender_ip: Ipv4Addr,
    /// Target hardware address.
    pub target_mac: MacAddr,
    /// Target protocol address.
    pub target_ip: Ipv4Addr,
}

impl ArpFrame {
    /// Gratuitous: the sender announces its own address (sender IP = target IP).
    pub fn is_gratuitous(&self) -> bool {
        self.sender_ip == self.target_ip && !self.sender_ip.is_unspecified()
    }
}

/// A decoded ICMPv6 neighbour advertisement (checksum verified).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeighborAdvertFrame {
    /// Ethernet destination.
    pub eth_dst: MacAddr,
    /// Ethernet source.
    pub eth_src: MacAddr,
    /// IPv6 source.
    pub src_ip: Ipv6Addr,
    /// IPv6 destination.
    pub dst_ip: Ipv6Addr,
    /// IPv6 hop limit (255 for a valid NDP message).
    pub hop_limit: u8,
    /// R flag.
    pub router: bool,
    /// S flag.
    pub solicited: bool,
    /// O flag.
    pub override_flag: bool,
    /// Target address.
    pub target: Ipv6Addr,
    /// The Target Link-Layer Address option, if present.
    pub target_mac: Option<MacAddr>,
    /// The ICMPv6 checksum (already verified).
    pub checksum: u16,
}

impl NeighborAdvertFrame {
    /// Unsolicited and valid per RFC 4861 §7.1.2 / §7.2.6: hop limit 255, Solicited clear.
    pub fn is_unsolicited(&self) -> bool {
        self.hop_limit == 255 && !self.solicited
    }
}

/// A decoded announcement frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Announcement {
    /// An ARP frame.
    Arp(ArpFrame),
    /// An ICMPv6 neighbour advertisement.
    NeighborAdvert(NeighborAdvertFrame),
}

impl Announcement {
    /// What a neighbour that honours gratuitous announcements learns from this frame: the
    /// address and the MAC now holding it. `None` for a frame that announces nothing (a
    /// non-gratuitous ARP, an NA without Override or without a link-layer address, or a
    /// solicited NA).
    pub fn announced(&self) -> Option<(IpAddr, MacAddr)> {
        match self {
            Announcement::Arp(a) if a.is_gratuitous() && a.sender_mac.is_unicast() => {
                Some((IpAddr::V4(a.sender_ip), a.sender_mac))
            }
            Announcement::NeighborAdvert(n) if n.is_unsolicited() && n.override_flag => n
                .target_mac
                .filter(|m| m.is_unicast())
                .map(|m| (IpAddr::V6(n.target), m)),
            _ => None,
        }
    }
}

/// Why a frame could not be decoded as an ARP frame or a neighbour advertisement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// Too short for what it claims to be.
    Truncated {
        /// Which layer.
        what: &'static str,
        /// Bytes there.
        len: usize,
        /// Bytes needed.
        need: usize,
    },
    /// Neither ARP nor IPv6.
    OtherEtherType(u16),
    /// An ARP frame for something other than Ethernet/IPv4, or with a bad field.
    Arp(&'static str),
    /// An IPv6 frame that is not a well-formed neighbour advertisement.
    NotNeighborAdvert(&'static str),
    /// The ICMPv6 checksum is wrong.
    BadChecksum {
        /// In the frame.
        found: u16,
        /// Computed.
        expected: u16,
    },
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParseError::Truncated { what, len, need } => {
                write!(f, "truncated {what}: {len} bytes, need {need}")
            }
            ParseError::OtherEtherType(t) => {
                write!(f, "not an ARP or IPv6 frame (EtherType {t:#06x})")
            }
            ParseError::Arp(why) => write!(f, "unsupported ARP frame: {why}"),
            ParseError::NotNeighborAdvert(why) => write!(f, "not a neighbour advertisement: {why}"),
            ParseError::BadChecksum { found, expected } => {
                write!(
                    f,
                    "bad ICMPv6 checksum {found:#06x}, expected {expected:#06x}"
                )
            }
        }
    }
}

impl std::error::Error for ParseError {}

fn need(what: &'static str, bytes: &[u8], n: usize) -> Result<(), ParseError> {
    if bytes.len() < n {
        Err(ParseError::Truncated {
            what,
            len: bytes.len(),
            need: n,
        })
    } else {
        Ok(())
    }
}

/// Decodes an Ethernet frame carrying ARP or an ICMPv6 neighbour advertisement. Trailing
/// bytes (Ethernet padding) are ignored. Never panics, whatever the input.
pub fn parse_frame(frame: &[u8]) -> Result<Announcement, ParseError> {
    need("Ethernet header", frame, ETH_HEADER)?;
    let eth = EthernetPacket::new(frame).ok_or(ParseError::Truncated {
        what: "Ethernet header",
        len: frame.len(),
        need: ETH_HEADER,
    })?;
    let eth_dst = umac(eth.get_destination());
    let eth_src = umac(eth.get_source());
    let payload = &frame[ETH_HEADER..];
    match eth.get_ethertype() {
        EtherTypes::Arp => parse_arp(eth_dst, eth_src, payload).map(Announcement::Arp),
        EtherTypes::Ipv6 => parse_na(eth_dst, eth_src, payload).map(Announcement::NeighborAdvert),
        EtherType(other) => Err(ParseError::OtherEtherType(other)),
    }
}

fn parse_arp(eth_dst: MacAddr, eth_src: MacAddr, payload: &[u8]) -> Result<ArpFrame, ParseError> {
    need("ARP packet", payload, ARP_LEN)?;
    let arp = ArpPacket::new(&payload[..ARP_LEN]).ok_or(ParseError::Truncated {
        what: "ARP packet",
        len: payload.len(),
        need: ARP_LEN,
    })?;
    if arp.get_hardware_type() != ArpHardwareTypes::Ethernet {
        return Err(ParseError::Arp("hardware type is not Ethernet (1)"));
    }
    if arp.get_protocol_type() != EtherTypes::Ipv4 {
        return Err(ParseError::Arp("protocol type is not IPv4 (0x0800)"));
    }
    if arp.get_hw_addr_len() != 6 || arp.get_proto_addr_len() != 4 {
        return Err(ParseError::Arp("address lengths are not 6 and 4"));
    }
    let op = match arp.get_operation() {
        ArpOperations::Request => ArpOp::Request,
        ArpOperations::Reply => ArpOp::Reply,
        _ => {
            return Err(ParseError::Arp(
                "operation is neither request (1) nor reply (2)",
            ))
        }
    };
    Ok(ArpFrame {
        eth_dst,
        eth_src,
        op,
        sender_mac: umac(arp.get_sender_hw_addr()),
        sender_ip: arp.get_sender_proto_addr(),
        target_mac: umac(arp.get_target_hw_addr()),
        target_ip: arp.get_target_proto_addr(),
    })
}

fn parse_na(
    eth_dst: MacAddr,
    eth_src: MacAddr,
    payload: &[u8],
) -> Result<NeighborAdvertFrame, ParseError> {
    need("IPv6 header", payload, IPV6_HEADER)?;
    let ip = Ipv6Packet::new(&payload[..IPV6_HEADER]).ok_or(ParseError::Truncated {
        what: "IPv6 header",
        len: payload.len(),
        need: IPV6_HEADER,
    })?;
    if ip.get_version() != 6 {
        return Err(ParseError::NotNeighborAdvert("IP version is not 6"));
    }
    if ip.get_next_header() != IpNextHeaderProtocols::Icmpv6 {
        return Err(ParseError::NotNeighborAdvert("next header is not ICMPv6"));
    }
    let plen = usize::from(ip.get_payload_length());
    let rest = &payload[IPV6_HEADER..];
    need("IPv6 payload", rest, plen)?;
    let icmp = &rest[..plen];
    need("neighbour advertisement", icmp, 24)?;
    if icmp[0] != Icmpv6Types::NeighborAdvert.0 {
        return Err(ParseError::NotNeighborAdvert("ICMPv6 type is not 136"));
    }
    if icmp[1] != 0 {
        return Err(ParseError::NotNeighborAdvert("ICMPv6 code is not 0"));
    }
    let src_ip = ip.get_source();
    let dst_ip = ip.get_destination();
    let found = u16::from_be_bytes([icmp[2], icmp[3]]);
    let expected = icmpv6::checksum(
        &Icmpv6Packet::new(icmp).ok_or(ParseError::NotNeighborAdvert("short ICMPv6"))?,
        &src_ip,
        &dst_ip,
    );
    if found != expected {
        return Err(ParseError::BadChecksum { found, expected });
    }
    let flags = icmp[4];
    let mut t = [0u8; 16];
    t.copy_from_slice(&icmp[8..24]);
    let target = Ipv6Addr::from(t);
    if target.is_multicast() {
        return Err(ParseError::NotNeighborAdvert(
            "target is a multicast address",
        ));
    }
    // Options: (type, length in 8-byte units, data); a zero length is invalid (RFC 4861 §4.6).
    let mut target_mac = None;
    let mut opts = &icmp[24..];
    while !opts.is_empty() {
        need("NDP option", opts, 2)?;
        let len = usize::from(opts[1]) * 8;
        if len == 0 {
            return Err(ParseError::NotNeighborAdvert("NDP option of length 0"));
        }
        need("NDP option", opts, len)?;
        if opts[0] == OPT_TARGET_LLA && len >= 8 {
            let mut m = [0u8; 6];
            m.copy_from_slice(&opts[2..8]);
            target_mac = Some(MacAddr(m));
        }
        opts = &opts[len..];
    }
    Ok(NeighborAdvertFrame {
        eth_dst,
        eth_src,
        src_ip,
        dst_ip,
        hop_limit: ip.get_hop_limit(),
        router: flags & NeighborAdvertFlags::Router != 0,
        solicited: flags & NeighborAdvertFlags::Solicited != 0,
        override_flag: flags & NeighborAdvertFlags::Override != 0,
        target,
        target_mac,
        checksum: found,
    })
}
