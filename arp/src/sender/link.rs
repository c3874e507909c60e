//! Watching the carrier of interfaces through rtnetlink, as `ip monitor link` does: a
//! `NETLINK_ROUTE` socket in the `RTMGRP_LINK` group gets an `RTM_NEWLINK` for every change
//! of a link (and `RTM_DELLINK` when one goes away); one `RTM_GETLINK` dump first reports
//! every link as it is. No polling: a carrier loss is known as soon as the kernel knows it.
//!
//! A link has its carrier when it is up (`IFF_UP`) and its lower layer is up
//! (`IFF_LOWER_UP`, what `ip link` shows as `LOWER_UP`, and `NO-CARRIER` when missing).

use std::io::{self, Read};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

use super::sys;

const NLMSG_HDRLEN: usize = 16;
const IFINFOMSG_LEN: usize = 16;
const RTA_HDRLEN: usize = 4;

const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;
const RTM_GETLINK: u16 = 18;
const NLM_F_REQUEST: u16 = 0x001;
const NLM_F_DUMP: u16 = 0x300;
const IFLA_IFNAME: u16 = 3;
const RTMGRP_LINK: u32 = 1;
const IFF_UP: u32 = 0x1;
const IFF_LOWER_UP: u32 = 0x1_0000;

const _: () = {
    assert!(NLMSG_DONE as libc::c_int == libc::NLMSG_DONE);
    assert!(RTM_NEWLINK == libc::RTM_NEWLINK);
    assert!(RTM_DELLINK == libc::RTM_DELLINK);
    assert!(RTM_GETLINK == libc::RTM_GETLINK);
    assert!(NLM_F_DUMP as libc::c_int == libc::NLM_F_DUMP);
    assert!(IFLA_IFNAME == libc::IFLA_IFNAME);
    assert!(RTMGRP_LINK as libc::c_int == libc::RTMGRP_LINK);
    assert!(IFF_UP as libc::c_int == libc::IFF_UP);
    assert!(IFF_LOWER_UP as libc::c_int == libc::IFF_LOWER_UP);
    assert!(IFINFOMSG_LEN == std::mem::size_of::<libc::ifinfomsg>());
};

/// What the kernel said about links.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkEvent {
    /// This link exists and has its carrier (`true`), or does not (`false`: down, no
    /// carrier, or gone).
    Carrier { interface: String, up: bool },
    /// The first report of every link is complete: a link not named in it does not exist.
    DumpDone,
    /// The kernel dropped reports (the socket's buffer overflowed): the next events start a
    /// new complete report.
    Overrun,
}

/// A subscription to the carrier of every link of this network namespace.
#[derive(Debug)]
pub struct LinkWatcher {
    socket: Socket,
    buffer: Vec<u8>,
    sequence: u32,
}

impl LinkWatcher {
    /// Subscribes, then asks for a report of every link: [`LinkWatcher::next_events`] returns that
    /// report first (ended by [`LinkEvent::DumpDone`]), then every change.
    pub fn open() -> io::Result<LinkWatcher> {
        let socket = Socket::new(
            Domain::from(libc::AF_NETLINK),
            Type::RAW.cloexec(),
            Some(Protocol::from(libc::NETLINK_ROUTE)),
        )?;
        socket.bind(&sys::netlink_addr(RTMGRP_LINK))?;
        // Bursts of changes (many links going down at once) must not be lost.
        let _ = socket.set_recv_buffer_size(1 << 20);
        let mut watcher = LinkWatcher {
            socket,
            buffer: vec![0u8; 64 * 1024],
            sequence: 1,
        };
        watcher.request_dump()?;
        Ok(watcher)
    }

    fn request_dump(&mut self) -> io::Result<()> {
        self.sequence = self.sequence.wrapping_add(1);
        let mut request = Vec::with_capacity(NLMSG_HDRLEN + IFINFOMSG_LEN);
        request.extend_from_slice(&((NLMSG_HDRLEN + IFINFOMSG_LEN) as u32).to_ne_bytes());
        request.extend_from_slice(&RTM_GETLINK.to_ne_bytes());
        request.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
        request.extend_from_slice(&self.sequence.to_ne_bytes());
        request.extend_from_slice(&0u32.to_ne_bytes());
        // ifinfomsg: any family, every link.
        request.extend_from_slice(&[0u8; IFINFOMSG_LEN]);
        let sent = self.socket.send(&request)?;
        if sent != request.len() {
            return Err(io::Error::other("short write of the link dump request"));
        }
        Ok(())
    }

    /// How long [`LinkWatcher::next_events`] waits at most (`None`: forever).
    pub fn set_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.socket.set_read_timeout(timeout)
    }

    /// Waits for the kernel's next report and returns what it says. After an overrun the
    /// watcher asks for a complete report again by itself.
    pub fn next_events(&mut self) -> io::Result<Vec<LinkEvent>> {
        let read = loop {
            match (&self.socket).read(&mut self.buffer) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other,
            }
        };
        match read {
            Ok(n) => parse_link_messages(&self.buffer[..n])
                .map_err(|why| io::Error::new(io::ErrorKind::InvalidData, why)),
            Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                self.request_dump()?;
                Ok(vec![LinkEvent::Overrun])
            }
            Err(e) => Err(e),
        }
    }
}

/// The link events in one datagram from the kernel. Never panics, whatever the bytes: a
/// truncated or malformed message is an error naming what is wrong.
pub fn parse_link_messages(datagram: &[u8]) -> Result<Vec<LinkEvent>, String> {
    let mut events = Vec::new();
    let mut offset = 0;
    while offset + NLMSG_HDRLEN <= datagram.len() {
        let word = |at: usize| -> u32 {
            let mut b = [0u8; 4];
            b.copy_from_slice(&datagram[at..at + 4]);
            u32::from_ne_bytes(b)
        };
        let length = word(offset) as usize;
        let msg_type = u16::from_ne_bytes([datagram[offset + 4], datagram[offset + 5]]);
        if length < NLMSG_HDRLEN || offset + length > datagram.len() {
            return Err(format!(
                "netlink message of {length} bytes at offset {offset} does not fit the {} bytes read",
                datagram.len()
            ));
        }
        let body = &datagram[offset + NLMSG_HDRLEN..offset + length];
        match msg_type {
            NLMSG_DONE => events.push(LinkEvent::DumpDone),
            NLMSG_ERROR => {
                let errno = body
                    .get(..4)
                    .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
                    .unwrap_or(0);
                if errno != 0 {
                    return Err(format!(
                        "the kernel refused the link report: {}",
                        io::Error::from_raw_os_error(-errno)
                    ));
                }
            }
            RTM_NEWLINK | RTM_DELLINK => {
                if body.len() < IFINFOMSG_LEN {
                    return Err(format!("link message of {} bytes is too short", body.len()));
                }
                let flags = u32::from_ne_bytes([body[8], body[9], body[10], body[11]]);
                let mut name = None;
                let mut at = IFINFOMSG_LEN;
                while at + RTA_HDRLEN <= body.len() {
                    let attr_len = usize::from(u16::from_ne_bytes([body[at], body[at + 1]]));
                    let attr_type = u16::from_ne_bytes([body[at + 2], body[at + 3]]);
                    if attr_len < RTA_HDRLEN || at + attr_len > body.len() {
                        return Err(format!("link attribute of {attr_len} bytes is cut short"));
                    }
                    if attr_type == IFLA_IFNAME {
                        let raw = &body[at + RTA_HDRLEN..at + attr_len];
                        let raw = raw.split(|b| *b == 0).next().unwrap_or(raw);
                        name = Some(String::from_utf8_lossy(raw).into_owned());
                    }
                    at += (attr_len + 3) & !3;
                }
                if let Some(interface) = name {
                    let up =
                        msg_type == RTM_NEWLINK && flags & IFF_UP != 0 && flags & IFF_LOWER_UP != 0;
                    events.push(LinkEvent::Carrier { interface, up });
                }
            }
            _ => {}
        }
        offset += (length + 3) & !3;
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link_message(msg_type: u16, flags: u32, name: &str) -> Vec<u8> {
        let mut attr = Vec::new();
        let mut text = name.as_bytes().to_vec();
        text.push(0);
        attr.extend_from_slice(&((RTA_HDRLEN + text.len()) as u16).to_ne_bytes());
        attr.extend_from_slice(&IFLA_IFNAME.to_ne_bytes());
        attr.extend_from_slice(&text);
        attr.resize((attr.len() + 3) & !3, 0);
        let mut info = vec![0u8; IFINFOMSG_LEN];
        info[8..12].copy_from_slice(&flags.to_ne_bytes());
        let length = NLMSG_HDRLEN + info.len() + attr.len();
        let mut m = Vec::new();
        m.extend_from_slice(&(length as u32).to_ne_bytes());
        m.extend_from_slice(&msg_type.to_ne_bytes());
        m.extend_from_slice(&[0u8; 10]);
        m.extend_from_slice(&info);
        m.extend_from_slice(&attr);
        m
    }

    #[test]
    fn carrier_is_up_and_lower_up_and_a_deleted_link_has_none() {
        let mut datagram = link_message(RTM_NEWLINK, IFF_UP | IFF_LOWER_UP, "eth0");
        datagram.extend(link_message(RTM_NEWLINK, IFF_UP, "eth1"));
        datagram.extend(link_message(RTM_DELLINK, IFF_UP | IFF_LOWER_UP, "veth7"));
        let mut done = vec![0u8; NLMSG_HDRLEN + 4];
        done[..4].copy_from_slice(&((NLMSG_HDRLEN + 4) as u32).to_ne_bytes());
        done[4..6].copy_from_slice(&NLMSG_DONE.to_ne_bytes());
        datagram.extend(done);
        assert_eq!(
            parse_link_messages(&datagram).unwrap(),
            vec![
                LinkEvent::Carrier {
                    interface: "eth0".into(),
                    up: true
                },
                LinkEvent::Carrier {
                    interface: "eth1".into(),
                    up: false
                },
                LinkEvent::Carrier {
                    interface: "veth7".into(),
                    up: false
                },
                LinkEvent::DumpDone,
            ]
        );
    }

    #[test]
    fn truncated_or_garbage_reports_are_errors_never_panics() {
        let message = link_message(RTM_NEWLINK, IFF_UP | IFF_LOWER_UP, "eth0");
        for cut in 0..message.len() {
            // Whatever comes back, it must not panic; a cut message is never a carrier.
            let events = parse_link_messages(&message[..cut]).unwrap_or_default();
            assert!(events.is_empty(), "cut at {cut}: {events:?}");
        }
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..2_000 {
            let mut bytes = vec![0u8; (state % 200) as usize];
            for b in &mut bytes {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                *b = state as u8;
            }
            let _ = parse_link_messages(&bytes);
        }
    }
}
