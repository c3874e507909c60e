//! Resetting the TCP connections of an address this host has given up (`failsvc S reset`).
//!
//! The kernel's socket diagnostics (`NETLINK_SOCK_DIAG`) list the connections whose local
//! address is the service address. For each, the client gets a nudge (a SYN from the
//! address, [`crate::nudge_segment`], sent through a raw socket), which makes it talk to the
//! new holder and get a reset from there; then the local socket is destroyed
//! (`SOCK_DESTROY`, as `ss -K` does), so the server program sees `ECONNABORTED` instead of
//! keeping a connection that can never deliver again.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::neigh::{
    dump_bodies, header, read, send, wait_ack, NLMSG_HDRLEN, NLM_F_DUMP, NLM_F_REQUEST,
};

const SOCK_DIAG_BY_FAMILY: u16 = 20;
const SOCK_DESTROY: u16 = 21;
const NLM_F_ACK: u16 = 0x004;
/// `struct inet_diag_sockid`: ports, addresses, interface, cookie.
const SOCKID_LEN: usize = 48;
/// `struct inet_diag_req_v2`.
const REQ_LEN: usize = 8 + SOCKID_LEN;
/// `struct inet_diag_msg`, without its attributes.
const MSG_LEN: usize = 4 + SOCKID_LEN + 20;
const IPPROTO_TCP: u8 = 6;
/// The states in which a peer may still be waiting on the connection: ESTABLISHED,
/// SYN_RECV, FIN_WAIT1, FIN_WAIT2, CLOSE_WAIT, LAST_ACK, CLOSING (not LISTEN, not
/// TIME_WAIT, whose peer has closed).
const WAITING_STATES: u32 =
    (1 << 1) | (1 << 3) | (1 << 4) | (1 << 5) | (1 << 8) | (1 << 9) | (1 << 11);
/// The dump, the nudges and the destructions together.
const TIMEOUT: Duration = Duration::from_millis(500);

const _: () = {
    assert!(IPPROTO_TCP as libc::c_int == libc::IPPROTO_TCP);
};

/// One TCP connection as the kernel lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connection {
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// `TCP_*` state number.
    pub state: u8,
    /// The socket's family: an IPv4 connection to a socket listening on `[::]` is an IPv6
    /// socket with IPv4-mapped addresses (shown here as IPv4).
    family: u8,
    /// The kernel's `inet_diag_sockid`, which names the socket to destroy.
    sockid: [u8; SOCKID_LEN],
}

/// What [`reset_connections`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResetReport {
    /// Connections found on the address.
    pub found: usize,
    /// Clients sent a nudge.
    pub nudged: usize,
    /// Local sockets destroyed.
    pub destroyed: usize,
    /// What went wrong with single connections (a nudge that could not be sent, a kernel
    /// without `CONFIG_INET_DIAG_DESTROY`): the others were still reset.
    pub errors: Vec<String>,
}

/// Nudges the client of every TCP connection whose local address is `address`, then
/// destroys the local socket. An error means no connection could be listed.
pub fn reset_connections(address: IpAddr) -> io::Result<ResetReport> {
    let socket = Socket::new(
        Domain::from(libc::AF_NETLINK),
        Type::RAW.cloexec(),
        Some(Protocol::from(libc::NETLINK_SOCK_DIAG)),
    )?;
    let deadline = Instant::now() + TIMEOUT;
    // IPv4 connections live in IPv6 sockets too, those accepted on `[::]`.
    let families: &[u8] = match address {
        IpAddr::V4(_) => &[libc::AF_INET as u8, libc::AF_INET6 as u8],
        IpAddr::V6(_) => &[libc::AF_INET6 as u8],
    };
    let mut connections = Vec::new();
    let mut buf = vec![0u8; 32 * 1024];
    for (seq, family) in (1u32..).zip(families) {
        send(&socket, &dump_request(seq, *family))?;
        loop {
            let n = read(&socket, &mut buf, deadline)?;
            let (found, done) = parse_connections(&buf[..n], seq)
                .map_err(|why| io::Error::new(io::ErrorKind::InvalidData, why))?;
            connections.extend(found.into_iter().filter(|c| c.local.ip() == address));
            if done {
                break;
            }
        }
    }
    let mut report = ResetReport {
        found: connections.len(),
        ..ResetReport::default()
    };
    if connections.is_empty() {
        return Ok(report);
    }
    // The nudges first: they are what the clients wait for.
    match raw_socket(address) {
        Ok(raw) => {
            for (i, c) in connections.iter().enumerate() {
                let seq =
                    u32::from_ne_bytes([c.sockid[40], c.sockid[41], c.sockid[42], c.sockid[43]])
                        ^ (i as u32).wrapping_mul(0x9e37_79b9);
                let Some(packet) = crate::nudge_segment(c.local, c.remote, seq) else {
                    continue;
                };
                let to = SockAddr::from(SocketAddr::new(c.remote.ip(), 0));
                match raw.send_to(&packet, &to) {
                    Ok(_) => report.nudged += 1,
                    Err(e) => report.errors.push(format!("nudge to {}: {e}", c.remote)),
                }
            }
        }
        Err(e) => report
            .errors
            .push(format!("no raw socket for the nudges: {e}")),
    }
    for (i, c) in connections.iter().enumerate() {
        let seq = 10 + i as u32;
        send(&socket, &destroy_request(seq, c.family, &c.sockid))?;
        match wait_ack(&socket, &mut buf, seq, deadline)? {
            0 => report.destroyed += 1,
            // Closed meanwhile: nothing left to destroy.
            libc::ENOENT => {}
            errno => {
                report.errors.push(format!(
                    "destroying {} -> {}: {}",
                    c.local,
                    c.remote,
                    io::Error::from_raw_os_error(errno)
                ));
                if errno == libc::EOPNOTSUPP {
                    // A kernel without CONFIG_INET_DIAG_DESTROY refuses every one alike.
                    break;
                }
            }
        }
    }
    Ok(report)
}

/// A raw socket that sends whole IP packets (`IPPROTO_RAW` implies the header is ours), so
/// that the source can be an address that is no longer local.
fn raw_socket(address: IpAddr) -> io::Result<Socket> {
    let domain = match address {
        IpAddr::V4(_) => Domain::IPV4,
        IpAddr::V6(_) => Domain::IPV6,
    };
    let socket = Socket::new(
        domain,
        Type::RAW.cloexec(),
        Some(Protocol::from(libc::IPPROTO_RAW)),
    )?;
    socket.set_write_timeout(Some(TIMEOUT))?;
    Ok(socket)
}

fn request(
    seq: u32,
    msg_type: u16,
    flags: u16,
    family: u8,
    states: u32,
    sockid: &[u8; SOCKID_LEN],
) -> Vec<u8> {
    let len = NLMSG_HDRLEN + REQ_LEN;
    let mut b = header(len, msg_type, flags, seq);
    b.push(family);
    b.push(IPPROTO_TCP);
    b.extend_from_slice(&[0, 0]); // idiag_ext, pad
    b.extend_from_slice(&states.to_ne_bytes());
    b.extend_from_slice(sockid);
    b
}

/// SOCK_DIAG_BY_FAMILY dump of the TCP sockets of `family` in [`WAITING_STATES`].
fn dump_request(seq: u32, family: u8) -> Vec<u8> {
    request(
        seq,
        SOCK_DIAG_BY_FAMILY,
        NLM_F_REQUEST | NLM_F_DUMP,
        family,
        WAITING_STATES,
        &[0; SOCKID_LEN],
    )
}

/// SOCK_DESTROY of the socket the kernel listed as `sockid` (its cookie included, so that a
/// new socket on the same ports is not hit).
fn destroy_request(seq: u32, family: u8, sockid: &[u8; SOCKID_LEN]) -> Vec<u8> {
    request(
        seq,
        SOCK_DESTROY,
        NLM_F_REQUEST | NLM_F_ACK,
        family,
        u32::MAX,
        sockid,
    )
}

/// An IPv4-mapped IPv6 address comes out as the IPv4 address it is.
fn address_at(family: u8, bytes: &[u8]) -> Option<IpAddr> {
    if family == libc::AF_INET as u8 {
        Some(IpAddr::V4(Ipv4Addr::new(
            bytes[0], bytes[1], bytes[2], bytes[3],
        )))
    } else if family == libc::AF_INET6 as u8 {
        let octets: [u8; 16] = bytes.get(..16)?.try_into().ok()?;
        let v6 = Ipv6Addr::from(octets);
        Some(v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4))
    } else {
        None
    }
}

/// The connections of one datagram of the dump answering `seq`, and whether the dump is
/// complete. An error message in the dump is an error. Never panics.
pub fn parse_connections(datagram: &[u8], seq: u32) -> Result<(Vec<Connection>, bool), String> {
    let mut found = Vec::new();
    let (bodies, done) = dump_bodies(datagram, seq, "socket")?;
    for (_, body) in bodies
        .into_iter()
        .filter(|(t, _)| *t == SOCK_DIAG_BY_FAMILY)
    {
        if body.len() < MSG_LEN {
            return Err(format!("a socket message of {} bytes", body.len()));
        }
        let family = body[0];
        let state = body[1];
        let sockid: [u8; SOCKID_LEN] = body[4..4 + SOCKID_LEN]
            .try_into()
            .map_err(|_| "a short socket id".to_string())?;
        let local_port = u16::from_be_bytes([sockid[0], sockid[1]]);
        let remote_port = u16::from_be_bytes([sockid[2], sockid[3]]);
        let (Some(local), Some(remote)) = (
            address_at(family, &sockid[4..20]),
            address_at(family, &sockid[20..36]),
        ) else {
            continue;
        };
        found.push(Connection {
            local: SocketAddr::new(local, local_port),
            remote: SocketAddr::new(remote, remote_port),
            state,
            family,
            sockid,
        });
    }
    Ok((found, done))
}

#[cfg(test)]
mod tests {
    use super::super::neigh::NLMSG_DONE;
    use super::*;

    fn diag_msg(seq: u32, family: u8, local: SocketAddr, remote: SocketAddr) -> Vec<u8> {
        let len = NLMSG_HDRLEN + MSG_LEN;
        let mut b = header(len, SOCK_DIAG_BY_FAMILY, 0x2, seq);
        b.extend_from_slice(&[family, 1, 0, 0]);
        b.extend_from_slice(&local.port().to_be_bytes());
        b.extend_from_slice(&remote.port().to_be_bytes());
        for a in [local.ip(), remote.ip()] {
            let mut raw = [0u8; 16];
            match a {
                IpAddr::V4(v4) => raw[..4].copy_from_slice(&v4.octets()),
                IpAddr::V6(v6) => raw.copy_from_slice(&v6.octets()),
            }
            b.extend_from_slice(&raw);
        }
        b.extend_from_slice(&3u32.to_ne_bytes()); // interface
        b.extend_from_slice(&[0xab; 8]); // cookie
        b.resize(len, 0);
        b
    }

    #[test]
    fn a_dump_yields_both_ends_of_each_connection() {
        let local: SocketAddr = "198.18.0.50:8080".parse().unwrap();
        let remote: SocketAddr = "198.18.0.9:40000".parse().unwrap();
        let mut datagram = diag_msg(1, libc::AF_INET as u8, local, remote);
        let v6l: SocketAddr = "[2001:db8::50]:80".parse().unwrap();
        let v6r: SocketAddr = "[2001:db8::9]:5000".parse().unwrap();
        datagram.extend(diag_msg(1, libc::AF_INET6 as u8, v6l, v6r));
        datagram.extend(diag_msg(2, libc::AF_INET as u8, remote, local));
        let mapped_l: SocketAddr = "[::ffff:198.18.0.50]:8080".parse().unwrap();
        let mapped_r: SocketAddr = "[::ffff:198.18.0.9]:40001".parse().unwrap();
        datagram.extend(diag_msg(1, libc::AF_INET6 as u8, mapped_l, mapped_r));
        let (found, done) = parse_connections(&datagram, 1).unwrap();
        assert!(!done);
        assert_eq!(found.len(), 3, "the other sequence number is not ours");
        assert_eq!((found[0].local, found[0].remote), (local, remote));
        assert_eq!((found[1].local, found[1].remote), (v6l, v6r));
        assert_eq!(
            (found[2].local, found[2].remote),
            (local, "198.18.0.9:40001".parse().unwrap()),
            "an IPv4 connection in an IPv6 socket is an IPv4 connection"
        );
        assert_eq!(
            found[2].family,
            libc::AF_INET6 as u8,
            "destroyed as the socket it is"
        );
        assert_eq!(found[0].state, 1);
        let done_msg: Vec<u8> = header(NLMSG_HDRLEN + 4, NLMSG_DONE, 0x2, 1)
            .into_iter()
            .chain([0u8; 4])
            .collect();
        assert_eq!(parse_connections(&done_msg, 1).unwrap(), (Vec::new(), true));
    }

    #[test]
    fn the_destroy_request_carries_the_listed_socket_id() {
        let local: SocketAddr = "198.18.0.50:8080".parse().unwrap();
        let remote: SocketAddr = "198.18.0.9:40000".parse().unwrap();
        let datagram = diag_msg(1, libc::AF_INET as u8, local, remote);
        let (found, _) = parse_connections(&datagram, 1).unwrap();
        let b = destroy_request(5, libc::AF_INET as u8, &found[0].sockid);
        assert_eq!(b.len(), NLMSG_HDRLEN + REQ_LEN);
        assert_eq!(
            u32::from_ne_bytes(b[0..4].try_into().unwrap()) as usize,
            b.len()
        );
        assert_eq!(u16::from_ne_bytes([b[4], b[5]]), SOCK_DESTROY);
        assert_eq!(u16::from_ne_bytes([b[6], b[7]]), NLM_F_REQUEST | NLM_F_ACK);
        assert_eq!(b[16], libc::AF_INET as u8);
        assert_eq!(b[17], IPPROTO_TCP);
        assert_eq!(&b[24..], &found[0].sockid[..]);
    }

    #[test]
    fn truncated_or_garbage_datagrams_are_errors_never_panics() {
        let local: SocketAddr = "198.18.0.50:8080".parse().unwrap();
        let remote: SocketAddr = "198.18.0.9:40000".parse().unwrap();
        let good = diag_msg(1, libc::AF_INET as u8, local, remote);
        for cut in 0..good.len() {
            let _ = parse_connections(&good[..cut], 1);
        }
        let mut bad = good.clone();
        bad[0] = 0xff;
        assert!(parse_connections(&bad, 1).is_err());
        let mut unknown_family = good;
        unknown_family[NLMSG_HDRLEN] = 99;
        assert_eq!(parse_connections(&unknown_family, 1).unwrap().0, Vec::new());
    }
}
