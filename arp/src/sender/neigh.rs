//! Forgetting neighbour entries that are still being resolved when a link's carrier
//! returns, as `ip neigh flush dev IF nud incomplete nud failed` does.
//!
//! Why: a carrier loss makes the kernel drop the link's neighbour entries; a poll sent while
//! the link is down creates an INCOMPLETE entry whose ARP (or neighbour) solicitations cannot
//! leave. When the carrier returns, the next solicitation is only sent at the entry's next
//! retransmission, up to `retrans_time` (1 s by default) later, and every poll waits behind
//! it: the host whose link came back hears nobody for up to a second. Deleting those
//! entries makes the next poll create a new one, which the kernel resolves at once; the
//! peer learns our address from that solicitation too.

use std::io::{self, Read};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

use super::sys;

pub(super) const NLMSG_HDRLEN: usize = 16;
const NDMSG_LEN: usize = 12;
const RTA_HDRLEN: usize = 4;
pub(super) const NLMSG_ERROR: u16 = 2;
pub(super) const NLMSG_DONE: u16 = 3;
const RTM_NEWNEIGH: u16 = 28;
const RTM_DELNEIGH: u16 = 29;
const RTM_GETNEIGH: u16 = 30;
pub(super) const NLM_F_REQUEST: u16 = 0x001;
pub(super) const NLM_F_DUMP: u16 = 0x300;
const NDA_DST: u16 = 1;
const NUD_INCOMPLETE: u16 = 0x01;
const NUD_FAILED: u16 = 0x20;
/// The dump and the deletions together: a kernel that takes longer is not answering.
const TIMEOUT: Duration = Duration::from_millis(500);

const _: () = {
    assert!(RTM_NEWNEIGH == libc::RTM_NEWNEIGH);
    assert!(RTM_DELNEIGH == libc::RTM_DELNEIGH);
    assert!(RTM_GETNEIGH == libc::RTM_GETNEIGH);
    assert!(NDA_DST as libc::c_int == libc::NDA_DST as libc::c_int);
    assert!(NUD_INCOMPLETE == libc::NUD_INCOMPLETE);
    assert!(NUD_FAILED == libc::NUD_FAILED);
};

/// One entry of the kernel's neighbour table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Neighbour {
    pub family: u8,
    pub ifindex: u32,
    /// `NUD_*` bits.
    pub state: u16,
    /// The neighbour's address (4 or 16 bytes).
    pub destination: Vec<u8>,
}

impl Neighbour {
    fn unresolved(&self) -> bool {
        self.state & (NUD_INCOMPLETE | NUD_FAILED) != 0
    }
}

/// Deletes the INCOMPLETE and FAILED neighbour entries (IPv4 and IPv6) of `interface`;
/// returns how many were deleted. One that resolved meanwhile costs one more solicitation.
pub fn forget_unresolved_neighbours(interface: &str) -> io::Result<usize> {
    let ifindex = sys::if_nametoindex(interface)?;
    let socket = Socket::new(
        Domain::from(libc::AF_NETLINK),
        Type::RAW.cloexec(),
        Some(Protocol::from(libc::NETLINK_ROUTE)),
    )?;
    let deadline = Instant::now() + TIMEOUT;
    send(&socket, &dump_request(1))?;
    let mut unresolved = Vec::new();
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let n = read(&socket, &mut buf, deadline)?;
        let (entries, done) = parse_neighbours(&buf[..n], 1)
            .map_err(|why| io::Error::new(io::ErrorKind::InvalidData, why))?;
        unresolved.extend(
            entries
                .into_iter()
                .filter(|e| e.ifindex == ifindex && e.unresolved()),
        );
        if done {
            break;
        }
    }
    let mut deleted = 0;
    for (i, entry) in unresolved.iter().enumerate() {
        let seq = 2 + i as u32;
        send(&socket, &delete_request(seq, entry))?;
        // ENOENT: it went away by itself meanwhile, which is what we wanted.
        match wait_ack(&socket, &mut buf, seq, deadline)? {
            0 => deleted += 1,
            libc::ENOENT => {}
            errno => return Err(io::Error::from_raw_os_error(errno)),
        }
    }
    Ok(deleted)
}

pub(super) fn send(socket: &Socket, message: &[u8]) -> io::Result<()> {
    loop {
        match socket.send(message) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
            Ok(n) if n == message.len() => return Ok(()),
            Ok(n) => {
                return Err(io::Error::other(format!(
                    "sent {n} of {} bytes of a netlink request",
                    message.len()
                )))
            }
        }
    }
}

pub(super) fn read(socket: &Socket, buf: &mut [u8], deadline: Instant) -> io::Result<usize> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the kernel did not answer the netlink request in time",
            ));
        }
        socket.set_read_timeout(Some(left.max(Duration::from_millis(1))))?;
        match (&*socket).read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

pub(super) fn wait_ack(
    socket: &Socket,
    buf: &mut [u8],
    seq: u32,
    deadline: Instant,
) -> io::Result<i32> {
    loop {
        let n = read(socket, buf, deadline)?;
        for (msg_type, msg_seq, body) in
            messages(&buf[..n]).map_err(|why| io::Error::new(io::ErrorKind::InvalidData, why))?
        {
            if msg_type == NLMSG_ERROR && msg_seq == seq && body.len() >= 4 {
                let error = i32::from_ne_bytes([body[0], body[1], body[2], body[3]]);
                return Ok(error.checked_neg().unwrap_or(i32::MAX).max(0));
            }
        }
    }
}

pub(super) fn header(len: usize, msg_type: u16, flags: u16, seq: u32) -> Vec<u8> {
    let mut b = Vec::with_capacity(len);
    b.extend_from_slice(&(len as u32).to_ne_bytes());
    b.extend_from_slice(&msg_type.to_ne_bytes());
    b.extend_from_slice(&flags.to_ne_bytes());
    b.extend_from_slice(&seq.to_ne_bytes());
    b.extend_from_slice(&0u32.to_ne_bytes());
    b
}

/// RTM_GETNEIGH dump of every family.
fn dump_request(seq: u32) -> Vec<u8> {
    let mut b = header(
        NLMSG_HDRLEN + NDMSG_LEN,
        RTM_GETNEIGH,
        NLM_F_REQUEST | NLM_F_DUMP,
        seq,
    );
    b.extend_from_slice(&[0u8; NDMSG_LEN]);
    b
}

/// RTM_DELNEIGH of one entry: its family, interface and destination.
fn delete_request(seq: u32, entry: &Neighbour) -> Vec<u8> {
    let attr_len = RTA_HDRLEN + entry.destination.len();
    let len = NLMSG_HDRLEN + NDMSG_LEN + align4(attr_len);
    let mut b = header(len, RTM_DELNEIGH, NLM_F_REQUEST | 0x004, seq); // NLM_F_ACK
    b.push(entry.family);
    b.extend_from_slice(&[0, 0, 0]);
    b.extend_from_slice(&entry.ifindex.to_ne_bytes());
    b.extend_from_slice(&0u16.to_ne_bytes()); // state
    b.extend_from_slice(&[0, 0]); // flags, type
    b.extend_from_slice(&(attr_len as u16).to_ne_bytes());
    b.extend_from_slice(&NDA_DST.to_ne_bytes());
    b.extend_from_slice(&entry.destination);
    b.resize(len, 0);
    b
}

pub(super) fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// One netlink message: its type, sequence number and body.
pub(super) type Message<'a> = (u16, u32, &'a [u8]);

/// The netlink messages of one datagram. Never panics.
pub(super) fn messages(datagram: &[u8]) -> Result<Vec<Message<'_>>, String> {
    let mut out = Vec::new();
    let mut offset = 0;
    while offset < datagram.len() {
        let left = datagram.len() - offset;
        if left < NLMSG_HDRLEN {
            return Err(format!("{left} bytes left, shorter than a netlink header"));
        }
        let at = |o: usize| &datagram[offset + o..];
        let len = u32::from_ne_bytes([at(0)[0], at(0)[1], at(0)[2], at(0)[3]]) as usize;
        if len < NLMSG_HDRLEN || len > left {
            return Err(format!(
                "a netlink message of length {len} with {left} bytes left"
            ));
        }
        let msg_type = u16::from_ne_bytes([at(4)[0], at(4)[1]]);
        let seq = u32::from_ne_bytes([at(8)[0], at(8)[1], at(8)[2], at(8)[3]]);
        out.push((
            msg_type,
            seq,
            &datagram[offset + NLMSG_HDRLEN..offset + len],
        ));
        offset += align4(len).min(left);
    }
    Ok(out)
}

/// Message bodies by type, and whether the dump is complete.
pub(super) type DumpBodies<'a> = (Vec<(u16, &'a [u8])>, bool);

/// The bodies of one datagram of a dump answering `seq`, by message type, and whether the
/// dump is complete; an error message in the dump is an error naming `what`. Never panics.
pub(super) fn dump_bodies<'a>(
    datagram: &'a [u8],
    seq: u32,
    what: &str,
) -> Result<DumpBodies<'a>, String> {
    let mut bodies = Vec::new();
    let mut done = false;
    for (msg_type, msg_seq, body) in messages(datagram)? {
        if msg_seq != seq {
            continue;
        }
        match msg_type {
            NLMSG_DONE => done = true,
            NLMSG_ERROR => {
                let errno = body
                    .get(..4)
                    .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
                    .unwrap_or(0);
                return Err(format!(
                    "the kernel refused the {what} dump (error {errno})"
                ));
            }
            _ => bodies.push((msg_type, body)),
        }
    }
    Ok((bodies, done))
}

/// The neighbour entries of one datagram of the dump answering `seq`, and whether the dump
/// is complete. An error message in the dump is an error.
pub fn parse_neighbours(datagram: &[u8], seq: u32) -> Result<(Vec<Neighbour>, bool), String> {
    let mut entries = Vec::new();
    let (bodies, done) = dump_bodies(datagram, seq, "neighbour")?;
    for (_, body) in bodies.into_iter().filter(|(t, _)| *t == RTM_NEWNEIGH) {
        if body.len() < NDMSG_LEN {
            return Err(format!("a neighbour message of {} bytes", body.len()));
        }
        let family = body[0];
        let ifindex = i32::from_ne_bytes([body[4], body[5], body[6], body[7]]) as u32;
        let state = u16::from_ne_bytes([body[8], body[9]]);
        let mut destination = None;
        let mut attrs = &body[NDMSG_LEN..];
        while attrs.len() >= RTA_HDRLEN {
            let len = usize::from(u16::from_ne_bytes([attrs[0], attrs[1]]));
            let kind = u16::from_ne_bytes([attrs[2], attrs[3]]);
            if len < RTA_HDRLEN || len > attrs.len() {
                return Err(format!("an attribute of length {len}"));
            }
            if kind == NDA_DST {
                destination = Some(attrs[RTA_HDRLEN..len].to_vec());
            }
            attrs = &attrs[align4(len).min(attrs.len())..];
        }
        if let Some(destination) = destination.filter(|d| matches!(d.len(), 4 | 16)) {
            entries.push(Neighbour {
                family,
                ifindex,
                state,
                destination,
            });
        }
    }
    Ok((entries, done))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_neigh(seq: u32, family: u8, ifindex: u32, state: u16, dst: &[u8]) -> Vec<u8> {
        let attr_len = RTA_HDRLEN + dst.len();
        let len = NLMSG_HDRLEN + NDMSG_LEN + align4(attr_len);
        let mut b = header(len, RTM_NEWNEIGH, 0x2, seq);
        b.push(family);
        b.extend_from_slice(&[0, 0, 0]);
        b.extend_from_slice(&ifindex.to_ne_bytes());
        b.extend_from_slice(&state.to_ne_bytes());
        b.extend_from_slice(&[0, 1]);
        b.extend_from_slice(&(attr_len as u16).to_ne_bytes());
        b.extend_from_slice(&NDA_DST.to_ne_bytes());
        b.extend_from_slice(dst);
        b.resize(len, 0);
        b
    }

    #[test]
    fn a_dump_yields_its_entries_and_says_when_it_is_done() {
        let mut datagram = new_neigh(7, 2, 3, NUD_INCOMPLETE, &[198, 18, 0, 2]);
        datagram.extend(new_neigh(
            7,
            10,
            3,
            0x02,
            &[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
        ));
        datagram.extend(new_neigh(8, 2, 3, NUD_FAILED, &[198, 18, 0, 9]));
        let (entries, done) = parse_neighbours(&datagram, 7).unwrap();
        assert!(!done);
        assert_eq!(entries.len(), 2, "the other sequence number is not ours");
        assert!(entries[0].unresolved());
        assert!(!entries[1].unresolved(), "REACHABLE stays");
        assert_eq!(entries[1].destination.len(), 16);
        let done_msg = header(NLMSG_HDRLEN + 4, NLMSG_DONE, 0x2, 7)
            .into_iter()
            .chain([0u8; 4])
            .collect::<Vec<u8>>();
        assert_eq!(parse_neighbours(&done_msg, 7).unwrap(), (Vec::new(), true));
    }

    #[test]
    fn the_delete_request_names_family_interface_and_destination() {
        let entry = Neighbour {
            family: 2,
            ifindex: 5,
            state: NUD_FAILED,
            destination: vec![198, 18, 0, 2],
        };
        let b = delete_request(9, &entry);
        assert_eq!(b.len(), NLMSG_HDRLEN + NDMSG_LEN + 8);
        assert_eq!(
            u32::from_ne_bytes(b[0..4].try_into().unwrap()) as usize,
            b.len()
        );
        assert_eq!(u16::from_ne_bytes([b[4], b[5]]), RTM_DELNEIGH);
        assert_eq!(b[16], 2);
        assert_eq!(u32::from_ne_bytes(b[20..24].try_into().unwrap()), 5);
        assert_eq!(&b[32..36], &[198, 18, 0, 2]);
    }

    #[test]
    fn truncated_or_garbage_datagrams_are_errors_never_panics() {
        let good = new_neigh(1, 2, 3, NUD_FAILED, &[198, 18, 0, 2]);
        for cut in 0..good.len() {
            let _ = parse_neighbours(&good[..cut], 1);
        }
        let mut bad = good.clone();
        bad[0] = 0xff;
        assert!(parse_neighbours(&bad, 1).is_err());
        // An attribute that claims more than there is.
        let mut bad = good;
        let at = NLMSG_HDRLEN + NDMSG_LEN;
        bad[at] = 200;
        assert!(parse_neighbours(&bad, 1).is_err());
    }
}
