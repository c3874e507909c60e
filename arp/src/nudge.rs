//! The segment that tells a client its connection to a service address is gone.
//!
//! When a service moves, the client's TCP connections to the address still lead to the old
//! holder, which has dropped the address and discards what the client sends. A request in
//! flight then waits for the client's retransmission timer (200 ms and more) before the
//! segment reaches the new holder, which answers with a reset. The old holder cannot reset
//! those connections itself: the kernel routes nothing from an address that is no longer
//! local, so the reset `SOCK_DESTROY` would send never leaves.
//!
//! What the old holder can do is make the client speak at once: a SYN on an established
//! connection, from the service address, makes every TCP (RFC 5961 §4, and RFC 793 for an
//! unacceptable segment) answer with an ACK. That ACK goes to the address, which is now at
//! the new holder; the new holder has no such connection and answers with a reset whose
//! sequence number is the ACK's acknowledgement number, exactly what the client expects.
//! The client's request fails at once instead of after its timeout, and it reconnects to the
//! new holder. The SYN is sent only once the new holder has the address.

use std::net::{IpAddr, SocketAddr};

use pnet_packet::ip::IpNextHeaderProtocols;
use pnet_packet::ipv4::{self, MutableIpv4Packet};
use pnet_packet::ipv6::MutableIpv6Packet;
use pnet_packet::tcp::{self, MutableTcpPacket, TcpFlags};

/// A TCP header without options.
pub const TCP_HEADER_LEN: usize = 20;
const IPV4_HEADER_LEN: usize = 20;
const IPV6_HEADER_LEN: usize = 40;

/// The IP packet (IPv4 or IPv6 header and a TCP SYN) from `local`, the service address and
/// port of a connection, to `remote`, its client. `seq` is arbitrary: the client answers
/// whatever it is. `None` when the two addresses are of different families.
pub fn nudge_segment(local: SocketAddr, remote: SocketAddr, seq: u32) -> Option<Vec<u8>> {
    let mut segment = vec![0u8; TCP_HEADER_LEN];
    {
        let mut tcp = MutableTcpPacket::new(&mut segment)?;
        tcp.set_source(local.port());
        tcp.set_destination(remote.port());
        tcp.set_sequence(seq);
        tcp.set_data_offset((TCP_HEADER_LEN / 4) as u8);
        tcp.set_flags(TcpFlags::SYN);
        tcp.set_window(0);
    }
    match (local.ip(), remote.ip()) {
        (IpAddr::V4(source), IpAddr::V4(destination)) => {
            let checksum = tcp::ipv4_checksum(
                &pnet_packet::tcp::TcpPacket::new(&segment)?,
                &source,
                &destination,
            );
            MutableTcpPacket::new(&mut segment)?.set_checksum(checksum);
            let mut packet = vec![0u8; IPV4_HEADER_LEN + TCP_HEADER_LEN];
            let mut ip = MutableIpv4Packet::new(&mut packet)?;
            ip.set_version(4);
            ip.set_header_length((IPV4_HEADER_LEN / 4) as u8);
            ip.set_total_length((IPV4_HEADER_LEN + TCP_HEADER_LEN) as u16);
            ip.set_flags(ipv4::Ipv4Flags::DontFragment);
            ip.set_ttl(64);
            ip.set_next_level_protocol(IpNextHeaderProtocols::Tcp);
            ip.set_source(source);
            ip.set_destination(destination);
            let checksum = ipv4::checksum(&ip.to_immutable());
            ip.set_checksum(checksum);
            ip.set_payload(&segment);
            Some(packet)
        }
        (IpAddr::V6(source), IpAddr::V6(destination)) => {
            let checksum = tcp::ipv6_checksum(
                &pnet_packet::tcp::TcpPacket::new(&segment)?,
                &source,
                &destination,
            );
            MutableTcpPacket::new(&mut segment)?.set_checksum(checksum);
            let mut packet = vec![0u8; IPV6_HEADER_LEN + TCP_HEADER_LEN];
            let mut ip = MutableIpv6Packet::new(&mut packet)?;
            ip.set_version(6);
            ip.set_payload_length(TCP_HEADER_LEN as u16);
            ip.set_next_header(IpNextHeaderProtocols::Tcp);
            ip.set_hop_limit(64);
            ip.set_source(source);
            ip.set_destination(destination);
            ip.set_payload(&segment);
            Some(packet)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pnet_packet::ipv4::Ipv4Packet;
    use pnet_packet::ipv6::Ipv6Packet;
    use pnet_packet::tcp::TcpPacket;
    use pnet_packet::Packet;

    #[test]
    fn ipv4_syn_from_the_service_address_with_valid_checksums() {
        let local: SocketAddr = "198.18.0.50:8080".parse().unwrap();
        let remote: SocketAddr = "198.18.0.9:40000".parse().unwrap();
        let packet = nudge_segment(local, remote, 0x1234_5678).unwrap();
        assert_eq!(packet.len(), 40);
        let ip = Ipv4Packet::new(&packet).unwrap();
        assert_eq!(ip.get_version(), 4);
        assert_eq!(ip.get_total_length(), 40);
        assert_eq!(ip.get_source().to_string(), "198.18.0.50");
        assert_eq!(ip.get_destination().to_string(), "198.18.0.9");
        assert_eq!(ip.get_next_level_protocol(), IpNextHeaderProtocols::Tcp);
        assert_eq!(ip.get_checksum(), ipv4::checksum(&ip));
        let tcp = TcpPacket::new(ip.payload()).unwrap();
        assert_eq!(tcp.get_source(), 8080);
        assert_eq!(tcp.get_destination(), 40000);
        assert_eq!(tcp.get_sequence(), 0x1234_5678);
        assert_eq!(tcp.get_flags(), TcpFlags::SYN);
        assert_eq!(tcp.get_data_offset(), 5);
        assert_eq!(
            tcp.get_checksum(),
            tcp::ipv4_checksum(&tcp, &ip.get_source(), &ip.get_destination())
        );
    }

    #[test]
    fn ipv6_syn_from_the_service_address_with_a_valid_checksum() {
        let local: SocketAddr = "[2001:db8::50]:8080".parse().unwrap();
        let remote: SocketAddr = "[2001:db8::9]:40000".parse().unwrap();
        let packet = nudge_segment(local, remote, 7).unwrap();
        assert_eq!(packet.len(), 60);
        let ip = Ipv6Packet::new(&packet).unwrap();
        assert_eq!(ip.get_version(), 6);
        assert_eq!(ip.get_payload_length(), 20);
        assert_eq!(ip.get_next_header(), IpNextHeaderProtocols::Tcp);
        let tcp = TcpPacket::new(ip.payload()).unwrap();
        assert_eq!(tcp.get_flags(), TcpFlags::SYN);
        assert_eq!(
            tcp.get_checksum(),
            tcp::ipv6_checksum(&tcp, &ip.get_source(), &ip.get_destination())
        );
    }

    #[test]
    fn mixed_families_build_nothing() {
        let local: SocketAddr = "198.18.0.50:80".parse().unwrap();
        let remote: SocketAddr = "[2001:db8::9]:40000".parse().unwrap();
        assert_eq!(nudge_segment(local, remote, 1), None);
    }
}
