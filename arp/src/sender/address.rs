//! Putting a service address on an interface, and taking it off, through rtnetlink: what
//! `ip addr replace` and `ip addr del` do, without forking `ip`.
//!
//! Each call opens a `NETLINK_ROUTE` socket, sends one `RTM_NEWADDR` or `RTM_DELADDR`
//! request with `NLM_F_ACK`, and waits at most [`ACK_TIMEOUT`] for the kernel's
//! `NLMSG_ERROR` acknowledgement (error 0 is success). An unconnected, unbound netlink socket
//! sends to the kernel and binds itself on the first `send`, so no `sockaddr_nl` is needed.
//!
//! The request bytes are exactly what iproute2 6.1 sends (checked with `strace -e write=`):
//!
//! - `ip addr replace A/P dev IF [label L] broadcast +` (IPv4): `ifaddrmsg` {AF_INET, P,
//!   flags 0, scope universe (host for 127/8, as `ip` does), ifindex}, then `IFA_LOCAL` A,
//!   `IFA_LABEL` L (NUL-terminated, when given), `IFA_ADDRESS` A and, for P < 31,
//!   `IFA_BROADCAST` A | !mask.
//! - `ip -6 addr replace A/P dev IF nodad` (IPv6): `ifaddrmsg` {AF_INET6, P, IFA_F_NODAD,
//!   scope universe, ifindex}, then `IFA_LOCAL` A and `IFA_ADDRESS` A. No duplicate address
//!   detection: a failover address must work at once, and the peer that held it has let go.
//! - `ip addr del A/P dev IF`: `RTM_DELADDR` {family, P, 0, 0, ifindex}, `IFA_LOCAL` A,
//!   `IFA_ADDRESS` A.
//!
//! Adding uses `NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE`, so adding an
//! address that is already there succeeds (its label and broadcast are kept as they are:
//! the kernel's replace updates lifetimes only).

use std::io::{self, Read};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

use super::{neigh, sys};
use crate::{
    check_address_label, check_address_prefix, check_interface_name, AddressChange, AddressOp,
    Error,
};

/// The longest wait for the kernel's acknowledgement: a missing answer can never hang a
/// procedure (the kernel answers within microseconds).
pub(crate) const ACK_TIMEOUT: Duration = Duration::from_secs(1);

const NLMSG_HDRLEN: usize = 16;
const IFADDRMSG_LEN: usize = 8;
const RTA_HDRLEN: usize = 4;

const NLMSG_ERROR: u16 = 2;
const RTM_NEWADDR: u16 = 20;
const RTM_DELADDR: u16 = 21;
const RTM_GETADDR: u16 = 22;
const NLMSG_DONE: u16 = 3;
const NLM_F_DUMP: u16 = 0x300;
/// The multicast groups of address changes (`RTMGRP_IPV4_IFADDR`, `RTMGRP_IPV6_IFADDR`).
const RTMGRP_IPV4_IFADDR: u32 = 0x10;
const RTMGRP_IPV6_IFADDR: u32 = 0x100;

const NLM_F_REQUEST: u16 = 0x001;
const NLM_F_ACK: u16 = 0x004;
const NLM_F_REPLACE: u16 = 0x100;
const NLM_F_CREATE: u16 = 0x400;

const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_LABEL: u16 = 3;
const IFA_BROADCAST: u16 = 4;
const IFA_CACHEINFO: u16 = 6;

const IFA_F_NODAD: u8 = 0x02;
const RT_SCOPE_UNIVERSE: u8 = 0;
const RT_SCOPE_HOST: u8 = 254;

const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;

// The values above are the kernel's ABI; libc has them too, with assorted types.
const _: () = {
    assert!(NLMSG_ERROR as libc::c_int == libc::NLMSG_ERROR);
    assert!(RTM_NEWADDR == libc::RTM_NEWADDR);
    assert!(RTM_DELADDR == libc::RTM_DELADDR);
    assert!(RTM_GETADDR == libc::RTM_GETADDR);
    assert!(NLMSG_DONE as libc::c_int == libc::NLMSG_DONE);
    assert!(NLM_F_DUMP as libc::c_int == libc::NLM_F_DUMP);
    assert!(RTMGRP_IPV4_IFADDR as libc::c_int == libc::RTMGRP_IPV4_IFADDR);
    assert!(RTMGRP_IPV6_IFADDR as libc::c_int == libc::RTMGRP_IPV6_IFADDR);
    assert!(NLM_F_REQUEST as libc::c_int == libc::NLM_F_REQUEST);
    assert!(NLM_F_ACK as libc::c_int == libc::NLM_F_ACK);
    assert!(NLM_F_REPLACE as libc::c_int == libc::NLM_F_REPLACE);
    assert!(NLM_F_CREATE as libc::c_int == libc::NLM_F_CREATE);
    assert!(IFA_ADDRESS == libc::IFA_ADDRESS);
    assert!(IFA_LOCAL == libc::IFA_LOCAL);
    assert!(IFA_LABEL == libc::IFA_LABEL);
    assert!(IFA_BROADCAST == libc::IFA_BROADCAST);
    assert!(IFA_CACHEINFO == libc::IFA_CACHEINFO);
    assert!(IFA_F_NODAD as u32 == libc::IFA_F_NODAD);
    assert!(RT_SCOPE_UNIVERSE == libc::RT_SCOPE_UNIVERSE);
    assert!(RT_SCOPE_HOST == libc::RT_SCOPE_HOST);
    assert!(AF_INET as libc::c_int == libc::AF_INET);
    assert!(AF_INET6 as libc::c_int == libc::AF_INET6);
    assert!(NLMSG_HDRLEN == std::mem::size_of::<libc::nlmsghdr>());
    assert!(IFADDRMSG_LEN == std::mem::size_of::<libc::ifaddrmsg>());
};

static NEXT_SEQ: AtomicU32 = AtomicU32::new(1);

/// Puts `address`/`prefix_len` on `interface`, like `ip addr replace ADDRESS/PREFIX dev
/// INTERFACE [label LABEL] broadcast +` (IPv4) or `ip -6 addr replace ADDRESS/PREFIX dev
/// INTERFACE nodad` (IPv6). Replace semantics: an address that is already there is not an
/// error.
///
/// `label` (IPv4 only) must be the interface name or start with it and ':' (`eth0:1`), at
/// most 15 bytes. Waits at most one second for the kernel's answer.
///
/// Errors, all before any system call unless noted: [`Error::InvalidInterfaceName`],
/// [`Error::Usage`] (prefix longer than the family allows, unspecified or multicast address,
/// bad label), [`Error::FamilyMismatch`] (a label with an IPv6 address),
/// [`Error::UnknownInterface`] (no such interface in this network namespace),
/// [`Error::AddressPermissionDenied`] (needs root or CAP_NET_ADMIN) and [`Error::Address`]
/// (anything else the kernel says, e.g. `cannot add 198.18.0.50/24 to eth0: File exists (os
/// error 17)`, or no answer within the time limit).
pub fn add_address(
    interface: &str,
    address: IpAddr,
    prefix_len: u8,
    label: Option<&str>,
) -> Result<(), Error> {
    add_address_for(interface, address, prefix_len, label, None)
}

/// [`add_address`] with a lifetime: the kernel removes the address `lifetime_s` seconds from
/// now unless it is added again before (like `ip addr replace ... valid_lft N preferred_lft N`;
/// an address that is there gets the new lifetime). `None`: forever. The kernel checks
/// lifetimes about once a second, so the address goes up to a quarter second late (measured:
/// 2 to 218 ms after a renewal on Linux 6.18), or up to a second when another address of the
/// host changed in the last second.
pub fn add_address_for(
    interface: &str,
    address: IpAddr,
    prefix_len: u8,
    label: Option<&str>,
    lifetime_s: Option<u32>,
) -> Result<(), Error> {
    check_interface_name(interface)?;
    check_address_prefix(address, prefix_len)?;
    if let Some(label) = label {
        if address.is_ipv6() {
            return Err(Error::FamilyMismatch(format!(
                "{address} is an IPv6 address: address labels ({label}) exist for IPv4 only"
            )));
        }
        check_address_label(interface, label)?;
    }
    let change = AddressChange {
        op: AddressOp::Add,
        interface: interface.to_string(),
        address,
        prefix_len,
    };
    let ifindex = ifindex(&change)?;
    let seq = NEXT_SEQ.fetch_add(1, Ordering::Relaxed);
    let message = new_address_message(seq, ifindex, address, prefix_len, label, lifetime_s);
    match request(&change, &message, seq)? {
        0 => Ok(()),
        errno => Err(kernel_error(change, errno)),
    }
}

/// Takes `address`/`prefix_len` off `interface`, like `ip addr del ADDRESS/PREFIX dev
/// INTERFACE`. `Ok(true)`: removed; `Ok(false)`: the kernel says `EADDRNOTAVAIL`, the address
/// (with that prefix length) was not there, which is what a stop wants anyway.
///
/// Errors as for [`add_address`] (without the label ones).
pub fn remove_address(interface: &str, address: IpAddr, prefix_len: u8) -> Result<bool, Error> {
    check_interface_name(interface)?;
    check_address_prefix(address, prefix_len)?;
    let change = AddressChange {
        op: AddressOp::Remove,
        interface: interface.to_string(),
        address,
        prefix_len,
    };
    let ifindex = ifindex(&change)?;
    let seq = NEXT_SEQ.fetch_add(1, Ordering::Relaxed);
    let message = del_address_message(seq, ifindex, address, prefix_len);
    match request(&change, &message, seq)? {
        0 => Ok(true),
        libc::EADDRNOTAVAIL => Ok(false),
        errno => Err(kernel_error(change, errno)),
    }
}

/// Renews the lifetime of `address`/`prefix_len` on `interface` (`lifetime_s` seconds from
/// now), and never puts back an address that is not there. `Ok(true)`: renewed;
/// `Ok(false)`: the address was not on the interface, or went while it was being renewed, and
/// is not on it now.
///
/// An address that went was taken off by someone (the service script's `fail` before its
/// `failc`, an administrator, the kernel at the end of its lifetime), and another host may be
/// about to take it over: a renewal that put it back would leave two holders. Netlink has no
/// "change only if present" for addresses (the kernel creates a missing address even without
/// `NLM_F_CREATE`), so the renewal is made exact this way: a socket subscribed to address
/// changes asks for the addresses, renews only one it saw, and if a removal of that address
/// reaches the socket before the renewal's acknowledgement, the renewal may have created it
/// anew, so it is taken off again.
///
/// Errors as for [`add_address_for`]; a lost change notification (an overrun of the socket)
/// is an error too, since whether the address went cannot be known then.
pub fn renew_address(
    interface: &str,
    address: IpAddr,
    prefix_len: u8,
    label: Option<&str>,
    lifetime_s: u32,
) -> Result<bool, Error> {
    check_interface_name(interface)?;
    check_address_prefix(address, prefix_len)?;
    let change = AddressChange {
        op: AddressOp::Add,
        interface: interface.to_string(),
        address,
        prefix_len,
    };
    let ifindex = ifindex(&change)?;
    let fail = |what: &str, source: io::Error| Error::Address {
        change: change.clone(),
        source: context(what, source),
    };
    let socket = Socket::new(
        Domain::from(libc::AF_NETLINK),
        Type::RAW.cloexec(),
        Some(Protocol::from(libc::NETLINK_ROUTE)),
    )
    .map_err(|e| fail("opening a netlink socket", e))?;
    // Subscribed before the dump: a removal after the dump's look is then a message here.
    socket
        .bind(&sys::netlink_addr(RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR))
        .map_err(|e| fail("subscribing to address changes", e))?;
    let _ = socket.set_recv_buffer_size(1 << 20);
    let deadline = Instant::now() + ACK_TIMEOUT;
    let wanted = WantedAddress::new(address, prefix_len, ifindex);
    let mut buf = vec![0u8; 64 * 1024];

    let dump_seq = NEXT_SEQ.fetch_add(1, Ordering::Relaxed);
    let (family, _) = family_and_octets(address);
    let mut dump = neigh::header(
        NLMSG_HDRLEN + IFADDRMSG_LEN,
        RTM_GETADDR,
        NLM_F_REQUEST | NLM_F_DUMP,
        dump_seq,
    );
    dump.extend_from_slice(&[family, 0, 0, 0]);
    dump.extend_from_slice(&0u32.to_ne_bytes());
    neigh::send(&socket, &dump).map_err(|e| fail("asking for the addresses", e))?;
    let mut seen = AddressWatch::default();
    while !seen.dump_done {
        let n = read_changes(&socket, &mut buf, deadline)
            .map_err(|e| fail("reading the addresses", e))?;
        seen.take(&buf[..n], &wanted, dump_seq, None)
            .map_err(|why| {
                fail(
                    "reading the addresses",
                    io::Error::new(io::ErrorKind::InvalidData, why),
                )
            })?;
    }
    if !seen.present || seen.removed {
        return Ok(false);
    }

    let renew_seq = NEXT_SEQ.fetch_add(1, Ordering::Relaxed);
    let message = new_address_message(
        renew_seq,
        ifindex,
        address,
        prefix_len,
        label,
        Some(lifetime_s),
    );
    let errno = send_watched(
        &socket, &mut buf, &mut seen, &wanted, dump_seq, &message, renew_seq, deadline,
    )
    .map_err(|e| fail("renewing the address", e))?;
    if errno != 0 {
        return Err(kernel_error(change, errno));
    }
    if !seen.removed {
        return Ok(true);
    }
    // Removed before the renewal reached it (or just after): not ours to put back.
    let del_seq = NEXT_SEQ.fetch_add(1, Ordering::Relaxed);
    let message = del_address_message(del_seq, ifindex, address, prefix_len);
    let errno = send_watched(
        &socket, &mut buf, &mut seen, &wanted, dump_seq, &message, del_seq, deadline,
    )
    .map_err(|e| fail("taking the address off again", e))?;
    match errno {
        0 | libc::EADDRNOTAVAIL => Ok(false),
        errno => Err(kernel_error(
            AddressChange {
                op: AddressOp::Remove,
                ..change
            },
            errno,
        )),
    }
}

/// Sends request `seq` on the subscribed socket and returns the errno of its
/// acknowledgement, taking the change notifications that come before it into `seen`.
#[allow(clippy::too_many_arguments)]
fn send_watched(
    socket: &Socket,
    buf: &mut [u8],
    seen: &mut AddressWatch,
    wanted: &WantedAddress,
    dump_seq: u32,
    message: &[u8],
    seq: u32,
    deadline: Instant,
) -> io::Result<i32> {
    neigh::send(socket, message)?;
    loop {
        let n = read_changes(socket, buf, deadline)?;
        if let Some(errno) = seen
            .take(&buf[..n], wanted, dump_seq, Some(seq))
            .map_err(|why| io::Error::new(io::ErrorKind::InvalidData, why))?
        {
            return Ok(errno);
        }
    }
}

/// A read of the subscribed socket; an overrun (`ENOBUFS`: notifications were lost) is an
/// error like any other.
fn read_changes(socket: &Socket, buf: &mut [u8], deadline: Instant) -> io::Result<usize> {
    neigh::read(socket, buf, deadline).map_err(|e| {
        if e.raw_os_error() == Some(libc::ENOBUFS) {
            io::Error::other("address change notifications were lost (socket overrun)")
        } else {
            e
        }
    })
}

/// The address a renewal is about: family, prefix length, interface and octets.
struct WantedAddress {
    family: u8,
    prefix_len: u8,
    ifindex: u32,
    octets: Vec<u8>,
}

impl WantedAddress {
    fn new(address: IpAddr, prefix_len: u8, ifindex: u32) -> WantedAddress {
        let (family, octets) = family_and_octets(address);
        WantedAddress {
            family,
            prefix_len,
            ifindex,
            octets,
        }
    }

    /// Whether an address message's body (`ifaddrmsg` and attributes) is about this
    /// address. Never panics, whatever the bytes.
    fn matches(&self, body: &[u8]) -> bool {
        if body.len() < IFADDRMSG_LEN {
            return false;
        }
        let index = u32::from_ne_bytes([body[4], body[5], body[6], body[7]]);
        if body[0] != self.family || body[1] != self.prefix_len || index != self.ifindex {
            return false;
        }
        let mut offset = IFADDRMSG_LEN;
        while offset + RTA_HDRLEN <= body.len() {
            let len = u16::from_ne_bytes([body[offset], body[offset + 1]]) as usize;
            let attr_type = u16::from_ne_bytes([body[offset + 2], body[offset + 3]]);
            if len < RTA_HDRLEN || offset + len > body.len() {
                return false;
            }
            let payload = &body[offset + RTA_HDRLEN..offset + len];
            // IPv4 names the address in IFA_LOCAL (IFA_ADDRESS is the peer's on a
            // point-to-point link); IPv6 in IFA_ADDRESS.
            let names_it = match self.family {
                AF_INET => attr_type == IFA_LOCAL,
                _ => attr_type == IFA_ADDRESS || attr_type == IFA_LOCAL,
            };
            if names_it && payload == self.octets.as_slice() {
                return true;
            }
            offset += align4(len);
        }
        false
    }
}

/// What a renewal's socket has seen of one address.
#[derive(Default, Debug)]
struct AddressWatch {
    /// The dump listed it.
    present: bool,
    dump_done: bool,
    /// A removal of it was announced.
    removed: bool,
}

impl AddressWatch {
    /// Takes one datagram: the dump's entries (`dump_seq`), change notifications, and the
    /// acknowledgement of request `ack_seq`, whose errno it returns once it comes.
    fn take(
        &mut self,
        datagram: &[u8],
        wanted: &WantedAddress,
        dump_seq: u32,
        ack_seq: Option<u32>,
    ) -> Result<Option<i32>, String> {
        let mut ack = None;
        for (msg_type, seq, body) in neigh::messages(datagram)? {
            match msg_type {
                RTM_NEWADDR if seq == dump_seq && !self.dump_done => {
                    self.present |= wanted.matches(body);
                }
                RTM_DELADDR => self.removed |= wanted.matches(body),
                NLMSG_DONE if seq == dump_seq => self.dump_done = true,
                NLMSG_ERROR if seq == dump_seq => {
                    let errno = body
                        .get(..4)
                        .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
                        .unwrap_or(0);
                    return Err(format!(
                        "the kernel refused the address dump (error {errno})"
                    ));
                }
                NLMSG_ERROR if Some(seq) == ack_seq && body.len() >= 4 => {
                    let error = i32::from_ne_bytes([body[0], body[1], body[2], body[3]]);
                    ack = Some(error.checked_neg().unwrap_or(i32::MAX).max(0));
                }
                _ => {}
            }
        }
        Ok(ack)
    }
}

fn ifindex(change: &AddressChange) -> Result<u32, Error> {
    sys::if_nametoindex(&change.interface).map_err(|e| match e.raw_os_error() {
        Some(libc::ENODEV) | Some(libc::ENXIO) => Error::UnknownInterface(change.interface.clone()),
        _ => Error::Address {
            change: change.clone(),
            source: context("looking up the interface", e),
        },
    })
}

/// The error for a negative acknowledgement carrying `errno`.
fn kernel_error(change: AddressChange, errno: i32) -> Error {
    let source = io::Error::from_raw_os_error(errno);
    match errno {
        libc::EPERM | libc::EACCES => Error::AddressPermissionDenied { change, source },
        // The interface went away between the lookup and the request.
        libc::ENODEV => Error::UnknownInterface(change.interface),
        _ => Error::Address { change, source },
    }
}

/// `e` with what was being done in front of its text (its kind is kept).
fn context(what: &str, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

/// Sends `message` (sequence number `seq`) to the kernel and returns the errno of its
/// acknowledgement (0: success). Socket failures, a timeout and a malformed answer are
/// [`Error::Address`].
fn request(change: &AddressChange, message: &[u8], seq: u32) -> Result<i32, Error> {
    let fail = |source: io::Error| Error::Address {
        change: change.clone(),
        source,
    };
    let socket = Socket::new(
        Domain::from(libc::AF_NETLINK),
        Type::RAW.cloexec(),
        Some(Protocol::from(libc::NETLINK_ROUTE)),
    )
    .map_err(|e| fail(context("opening a netlink socket", e)))?;
    // Unconnected and unbound: send() goes to the kernel (port 0) and binds the socket.
    let sent = loop {
        match socket.send(message) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => break other,
        }
    }
    .map_err(|e| fail(context("sending the netlink request", e)))?;
    if sent != message.len() {
        return Err(fail(io::Error::other(format!(
            "sent {sent} of {} bytes of the netlink request",
            message.len()
        ))));
    }
    let deadline = Instant::now() + ACK_TIMEOUT;
    let timed_out = || {
        fail(io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "no answer from the kernel within {} ms",
                ACK_TIMEOUT.as_millis()
            ),
        ))
    };
    // An error acknowledgement echoes the request: a few hundred bytes at most.
    let mut buf = [0u8; 8192];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(timed_out());
        }
        // A timeout that rounds down to 0 µs would mean "wait forever".
        socket
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .map_err(|e| fail(context("setting the answer timeout", e)))?;
        match (&socket).read(&mut buf) {
            Ok(n) => match parse_ack(&buf[..n], seq) {
                Ok(Some(errno)) => return Ok(errno),
                // Not the answer to this request (nothing else should arrive): keep waiting.
                Ok(None) => continue,
                Err(why) => {
                    return Err(fail(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("unusable answer from the kernel: {why}"),
                    )))
                }
            },
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(timed_out())
            }
            Err(e) => return Err(fail(context("reading the kernel's answer", e))),
        }
    }
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// A netlink message being built: header, `ifaddrmsg`, attributes.
struct Message(Vec<u8>);

impl Message {
    fn new(msg_type: u16, flags: u16, seq: u32, ifa: [u8; 4], ifindex: u32) -> Message {
        let mut b = Vec::with_capacity(64);
        b.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_len, set by finish()
        b.extend_from_slice(&msg_type.to_ne_bytes());
        b.extend_from_slice(&flags.to_ne_bytes());
        b.extend_from_slice(&seq.to_ne_bytes());
        // nlmsg_pid 0: the kernel fills it in.
        b.extend_from_slice(&0u32.to_ne_bytes());
        // ifaddrmsg: family, prefixlen, flags, scope, index.
        b.extend_from_slice(&ifa);
        b.extend_from_slice(&ifindex.to_ne_bytes());
        Message(b)
    }

    fn attr(mut self, attr_type: u16, payload: &[u8]) -> Message {
        let len = RTA_HDRLEN + payload.len();
        self.0.extend_from_slice(&(len as u16).to_ne_bytes());
        self.0.extend_from_slice(&attr_type.to_ne_bytes());
        self.0.extend_from_slice(payload);
        self.0.resize(align4(self.0.len()), 0);
        self
    }

    fn finish(mut self) -> Vec<u8> {
        let len = self.0.len() as u32;
        self.0[..4].copy_from_slice(&len.to_ne_bytes());
        self.0
    }
}

fn family_and_octets(address: IpAddr) -> (u8, Vec<u8>) {
    match address {
        IpAddr::V4(a) => (AF_INET, a.octets().to_vec()),
        IpAddr::V6(a) => (AF_INET6, a.octets().to_vec()),
    }
}

/// The `RTM_NEWADDR` request of [`add_address`] (the arguments checked already).
fn new_address_message(
    seq: u32,
    ifindex: u32,
    address: IpAddr,
    prefix_len: u8,
    label: Option<&str>,
    lifetime_s: Option<u32>,
) -> Vec<u8> {
    let (family, octets) = family_and_octets(address);
    let flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_REPLACE | NLM_F_CREATE;
    // `struct ifa_cacheinfo`: preferred and valid lifetime (seconds), then two time stamps
    // the kernel ignores on input; what `ip ... valid_lft N preferred_lft N` sends.
    let cacheinfo = lifetime_s.map(|s| {
        let mut info = Vec::with_capacity(16);
        info.extend_from_slice(&s.to_ne_bytes());
        info.extend_from_slice(&s.to_ne_bytes());
        info.extend_from_slice(&[0u8; 8]);
        info
    });
    let message = match address {
        IpAddr::V4(a) => {
            let scope = if a.octets()[0] == 127 {
                RT_SCOPE_HOST
            } else {
                RT_SCOPE_UNIVERSE
            };
            let mut m = Message::new(
                RTM_NEWADDR,
                flags,
                seq,
                [family, prefix_len, 0, scope],
                ifindex,
            )
            .attr(IFA_LOCAL, &octets);
            if let Some(label) = label {
                let mut text = label.as_bytes().to_vec();
                text.push(0);
                m = m.attr(IFA_LABEL, &text);
            }
            m = m.attr(IFA_ADDRESS, &octets);
            if prefix_len < 31 {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(prefix_len))
                    .unwrap_or(0);
                let broadcast = u32::from(a) | !mask;
                m = m.attr(IFA_BROADCAST, &broadcast.to_be_bytes());
            }
            m
        }
        IpAddr::V6(_) => Message::new(
            RTM_NEWADDR,
            flags,
            seq,
            [family, prefix_len, IFA_F_NODAD, RT_SCOPE_UNIVERSE],
            ifindex,
        )
        .attr(IFA_LOCAL, &octets)
        .attr(IFA_ADDRESS, &octets),
    };
    match cacheinfo {
        Some(info) => message.attr(IFA_CACHEINFO, &info).finish(),
        None => message.finish(),
    }
}

/// The `RTM_DELADDR` request of [`remove_address`].
fn del_address_message(seq: u32, ifindex: u32, address: IpAddr, prefix_len: u8) -> Vec<u8> {
    let (family, octets) = family_and_octets(address);
    Message::new(
        RTM_DELADDR,
        NLM_F_REQUEST | NLM_F_ACK,
        seq,
        [family, prefix_len, 0, RT_SCOPE_UNIVERSE],
        ifindex,
    )
    .attr(IFA_LOCAL, &octets)
    .attr(IFA_ADDRESS, &octets)
    .finish()
}

/// Looks for the acknowledgement of request `seq` in one datagram from the kernel.
/// `Ok(Some(0))`: success; `Ok(Some(errno))`: the kernel refused with that (positive) errno;
/// `Ok(None)`: the datagram holds no acknowledgement of `seq`; `Err`: the datagram is
/// truncated or not netlink at all. Never panics, whatever the bytes.
fn parse_ack(datagram: &[u8], seq: u32) -> Result<Option<i32>, String> {
    if datagram.is_empty() {
        return Err("an empty datagram".to_string());
    }
    let u16_at = |o: usize| u16::from_ne_bytes([datagram[o], datagram[o + 1]]);
    let u32_at = |o: usize| {
        u32::from_ne_bytes([
            datagram[o],
            datagram[o + 1],
            datagram[o + 2],
            datagram[o + 3],
        ])
    };
    let mut offset = 0;
    while offset < datagram.len() {
        let left = datagram.len() - offset;
        if left < NLMSG_HDRLEN {
            return Err(format!(
                "{left} bytes at offset {offset}, shorter than a netlink header ({NLMSG_HDRLEN})"
            ));
        }
        let len = u32_at(offset) as usize;
        if len < NLMSG_HDRLEN || len > left {
            return Err(format!(
                "a netlink message of length {len} at offset {offset} in {} bytes",
                datagram.len()
            ));
        }
        let msg_type = u16_at(offset + 4);
        let msg_seq = u32_at(offset + 8);
        if msg_type == NLMSG_ERROR && msg_seq == seq {
            if len < NLMSG_HDRLEN + 4 {
                return Err(format!(
                    "an error message of {len} bytes, too short for its error code"
                ));
            }
            let error = u32_at(offset + NLMSG_HDRLEN) as i32;
            return match error {
                0 => Ok(Some(0)),
                e if e < 0 && e != i32::MIN => Ok(Some(-e)),
                e => Err(format!("error code {e} is not a negative errno")),
            };
        }
        offset += align4(len).min(left);
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEQ: u32 = 0x6b06_645a;

    fn hex(s: &str) -> Vec<u8> {
        s.split_whitespace()
            .map(|b| u8::from_str_radix(b, 16).unwrap())
            .collect()
    }

    /// iproute2 6.1's bytes (x86_64, little endian), from `strace -e trace=sendmsg -e write=3`
    /// of `ip addr ...` on eth0 (ifindex 3), sequence number 0x6b06645a.
    #[cfg(target_endian = "little")]
    #[test]
    fn requests_are_byte_for_byte_what_ip_sends() {
        let v4: IpAddr = "198.18.0.50".parse().unwrap();
        let v6: IpAddr = "2001:db8::50".parse().unwrap();
        // ip addr replace 198.18.0.50/24 dev eth0 label eth0:1 broadcast +
        assert_eq!(
            new_address_message(SEQ, 3, v4, 24, Some("eth0:1"), None),
            hex("3c 00 00 00 14 00 05 05 5a 64 06 6b 00 00 00 00
                 02 18 00 00 03 00 00 00 08 00 02 00 c6 12 00 32
                 0b 00 03 00 65 74 68 30 3a 31 00 00 08 00 01 00
                 c6 12 00 32 08 00 04 00 c6 12 00 ff")
        );
        // ip -6 addr replace 2001:db8::50/64 dev eth0 nodad
        assert_eq!(
            new_address_message(SEQ, 3, v6, 64, None, None),
            hex("40 00 00 00 14 00 05 05 5a 64 06 6b 00 00 00 00
                 0a 40 02 00 03 00 00 00 14 00 02 00 20 01 0d b8
                 00 00 00 00 00 00 00 00 00 00 00 50 14 00 01 00
                 20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 50")
        );
        // ip addr del 198.18.0.50/24 dev eth0
        assert_eq!(
            del_address_message(SEQ, 3, v4, 24),
            hex("28 00 00 00 15 00 05 00 5a 64 06 6b 00 00 00 00
                 02 18 00 00 03 00 00 00 08 00 02 00 c6 12 00 32
                 08 00 01 00 c6 12 00 32")
        );
        // ip -6 addr del 2001:db8::50/64 dev eth0
        assert_eq!(
            del_address_message(SEQ, 3, v6, 64),
            hex("40 00 00 00 15 00 05 00 5a 64 06 6b 00 00 00 00
                 0a 40 00 00 03 00 00 00 14 00 02 00 20 01 0d b8
                 00 00 00 00 00 00 00 00 00 00 00 50 14 00 01 00
                 20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 50")
        );
        // ip addr replace 198.18.0.51/31 dev eth0: no broadcast for /31 and /32
        assert_eq!(
            new_address_message(SEQ, 3, "198.18.0.51".parse().unwrap(), 31, None, None),
            hex("28 00 00 00 14 00 05 05 5a 64 06 6b 00 00 00 00
                 02 1f 00 00 03 00 00 00 08 00 02 00 c6 12 00 33
                 08 00 01 00 c6 12 00 33")
        );
    }

    /// The attributes of an IPv4 request as (type, payload).
    fn attrs(message: &[u8]) -> Vec<(u16, Vec<u8>)> {
        let mut out = Vec::new();
        let mut o = NLMSG_HDRLEN + IFADDRMSG_LEN;
        while o < message.len() {
            let len = u16::from_ne_bytes([message[o], message[o + 1]]) as usize;
            let t = u16::from_ne_bytes([message[o + 2], message[o + 3]]);
            out.push((t, message[o + 4..o + len].to_vec()));
            o += align4(len);
        }
        out
    }

    #[test]
    fn a_lifetime_is_ifa_cacheinfo_at_the_end_as_ip_sends_it() {
        // `ip addr replace 198.18.0.50/24 dev eth0 valid_lft 1 preferred_lft 1`: the same
        // request, then IFA_CACHEINFO {preferred 1, valid 1, 0, 0}.
        let v4: IpAddr = "198.18.0.50".parse().unwrap();
        let plain = new_address_message(SEQ, 3, v4, 24, None, None);
        let leased = new_address_message(SEQ, 3, v4, 24, None, Some(1));
        assert_eq!(leased.len(), plain.len() + 4 + 16);
        assert_eq!(&leased[4..plain.len()], &plain[4..]);
        let (attr_type, payload) = attrs(&leased).pop().unwrap();
        assert_eq!(attr_type, IFA_CACHEINFO);
        let mut expected = Vec::new();
        expected.extend_from_slice(&1u32.to_ne_bytes());
        expected.extend_from_slice(&1u32.to_ne_bytes());
        expected.extend_from_slice(&[0u8; 8]);
        assert_eq!(payload, expected);
        let v6: IpAddr = "2001:db8::50".parse().unwrap();
        let (attr_type, _) = attrs(&new_address_message(SEQ, 3, v6, 64, None, Some(30)))
            .pop()
            .unwrap();
        assert_eq!(attr_type, IFA_CACHEINFO);
    }

    #[test]
    fn header_length_and_alignment_in_native_order() {
        for label in [None, Some("e"), Some("eth0:12"), Some("eth0:123456789a")] {
            let m =
                new_address_message(7, 0x0102_0304, "10.1.2.3".parse().unwrap(), 8, label, None);
            assert_eq!(m.len() % 4, 0);
            assert_eq!(
                u32::from_ne_bytes(m[..4].try_into().unwrap()) as usize,
                m.len()
            );
            assert_eq!(u16::from_ne_bytes([m[4], m[5]]), RTM_NEWADDR);
            assert_eq!(u16::from_ne_bytes([m[6], m[7]]), 0x0505);
            assert_eq!(u32::from_ne_bytes(m[8..12].try_into().unwrap()), 7);
            assert_eq!(
                u32::from_ne_bytes(m[20..24].try_into().unwrap()),
                0x0102_0304
            );
            if let Some(label) = label {
                let mut text = label.as_bytes().to_vec();
                text.push(0);
                assert!(attrs(&m).contains(&(IFA_LABEL, text)));
            }
        }
    }

    #[test]
    fn broadcast_and_scope() {
        let brd = |a: &str, p: u8| {
            attrs(&new_address_message(
                1,
                1,
                a.parse().unwrap(),
                p,
                None,
                None,
            ))
            .into_iter()
            .find(|(t, _)| *t == IFA_BROADCAST)
            .map(|(_, v)| v)
        };
        assert_eq!(brd("198.18.0.50", 24), Some(vec![198, 18, 0, 255]));
        assert_eq!(brd("198.18.0.50", 15), Some(vec![198, 19, 255, 255]));
        assert_eq!(brd("198.18.0.50", 30), Some(vec![198, 18, 0, 51]));
        assert_eq!(brd("198.18.0.50", 0), Some(vec![255, 255, 255, 255]));
        assert_eq!(brd("198.18.0.50", 31), None);
        assert_eq!(brd("198.18.0.50", 32), None);
        // Scope universe, except 127/8 (host), as `ip` chooses.
        assert_eq!(
            new_address_message(1, 1, "198.18.0.50".parse().unwrap(), 24, None, None)[19],
            RT_SCOPE_UNIVERSE
        );
        assert_eq!(
            new_address_message(1, 1, "127.0.0.2".parse().unwrap(), 8, None, None)[19],
            RT_SCOPE_HOST
        );
    }

    fn ack(seq: u32, error: i32, echo: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        let len = (NLMSG_HDRLEN + 4 + echo.len()) as u32;
        b.extend_from_slice(&len.to_ne_bytes());
        b.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
        b.extend_from_slice(&0x100u16.to_ne_bytes());
        b.extend_from_slice(&seq.to_ne_bytes());
        b.extend_from_slice(&4242u32.to_ne_bytes());
        b.extend_from_slice(&error.to_ne_bytes());
        b.extend_from_slice(echo);
        b
    }

    #[test]
    fn acks_success_refusal_and_other_sequence_numbers() {
        let request = del_address_message(9, 3, "198.18.0.50".parse().unwrap(), 24);
        // Success: the kernel echoes the request header only.
        assert_eq!(parse_ack(&ack(9, 0, &request[..16]), 9), Ok(Some(0)));
        // Refusal: the whole request is echoed.
        assert_eq!(
            parse_ack(&ack(9, -libc::EADDRNOTAVAIL, &request), 9),
            Ok(Some(libc::EADDRNOTAVAIL))
        );
        assert_eq!(
            parse_ack(&ack(9, -libc::EEXIST, &request[..16]), 9),
            Ok(Some(libc::EEXIST))
        );
        // Another request's answer is not ours; a second message in the datagram may be.
        assert_eq!(parse_ack(&ack(8, 0, &request[..16]), 9), Ok(None));
        let mut two = ack(8, -1, &request[..16]);
        two.extend(ack(9, -libc::EPERM, &request[..16]));
        assert_eq!(parse_ack(&two, 9), Ok(Some(libc::EPERM)));
    }

    #[test]
    fn truncated_or_garbage_acks_are_errors_never_panics() {
        let good = ack(9, 0, &[0u8; 16]);
        assert!(parse_ack(&[], 9).is_err());
        // Every truncation of a good answer.
        for n in 1..good.len() {
            assert!(parse_ack(&good[..n], 9).is_err(), "{n} bytes");
        }
        // A length that claims more than the datagram, or less than a header.
        let mut long = good.clone();
        long[..4].copy_from_slice(&1000u32.to_ne_bytes());
        assert!(parse_ack(&long, 9).is_err());
        let mut short = good.clone();
        short[..4].copy_from_slice(&3u32.to_ne_bytes());
        assert!(parse_ack(&short, 9).is_err());
        // An error message too short for its code.
        let mut no_code = good[..16].to_vec();
        no_code[..4].copy_from_slice(&16u32.to_ne_bytes());
        assert!(parse_ack(&no_code, 9).is_err());
        // A positive "errno" or i32::MIN is not an answer.
        assert!(parse_ack(&ack(9, 17, &[]), 9).is_err());
        assert!(parse_ack(&ack(9, i32::MIN, &[]), 9).is_err());
        // Arbitrary bytes: some answer or an error, but no panic.
        let mut x: u32 = 0x1234_5678;
        for _ in 0..5000 {
            let len = (x % 80) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x as u8
                })
                .collect();
            let _ = parse_ack(&bytes, 9);
        }
    }

    /// A kernel message about an address: `msg_type` with `seq`, the address's ifaddrmsg
    /// and its IFA_LOCAL / IFA_ADDRESS.
    fn address_message(
        msg_type: u16,
        seq: u32,
        address: IpAddr,
        prefix_len: u8,
        ifindex: u32,
    ) -> Vec<u8> {
        let (family, octets) = family_and_octets(address);
        Message::new(msg_type, 0, seq, [family, prefix_len, 0, 0], ifindex)
            .attr(IFA_ADDRESS, &octets)
            .attr(IFA_LOCAL, &octets)
            .finish()
    }

    fn done(seq: u32) -> Vec<u8> {
        let mut m = neigh::header(NLMSG_HDRLEN + 4, NLMSG_DONE, 0, seq);
        m.extend_from_slice(&0i32.to_ne_bytes());
        m
    }

    #[test]
    fn the_watch_sees_the_address_in_the_dump_and_a_removal_before_the_ack() {
        let a: IpAddr = "198.18.0.50".parse().unwrap();
        let other: IpAddr = "198.18.0.51".parse().unwrap();
        let wanted = WantedAddress::new(a, 24, 3);
        let mut watch = AddressWatch::default();
        // The dump: another address, ours on another interface and with another prefix, then ours.
        let mut dump = address_message(RTM_NEWADDR, 7, other, 24, 3);
        dump.extend(address_message(RTM_NEWADDR, 7, a, 24, 4));
        dump.extend(address_message(RTM_NEWADDR, 7, a, 32, 3));
        assert_eq!(watch.take(&dump, &wanted, 7, None), Ok(None));
        assert!(!watch.present && !watch.dump_done);
        let mut rest = address_message(RTM_NEWADDR, 7, a, 24, 3);
        rest.extend(done(7));
        assert_eq!(watch.take(&rest, &wanted, 7, None), Ok(None));
        assert!(watch.present && watch.dump_done && !watch.removed);
        // After the dump: a change notification of ours (seq 0) is not the dump.
        assert_eq!(
            watch.take(
                &address_message(RTM_DELADDR, 0, other, 24, 3),
                &wanted,
                7,
                Some(8)
            ),
            Ok(None)
        );
        assert!(!watch.removed, "another address's removal counted");
        // Our address removed, then the renewal's acknowledgement.
        let mut datagram = address_message(RTM_DELADDR, 0, a, 24, 3);
        datagram.extend(address_message(RTM_NEWADDR, 8, a, 24, 3));
        datagram.extend(ack(8, 0, &[]));
        assert_eq!(watch.take(&datagram, &wanted, 7, Some(8)), Ok(Some(0)));
        assert!(watch.removed);
    }

    #[test]
    fn the_watch_reports_a_refused_request_and_a_refused_dump() {
        let a: IpAddr = "2001:db8::50".parse().unwrap();
        let wanted = WantedAddress::new(a, 64, 3);
        let mut watch = AddressWatch::default();
        assert_eq!(
            watch.take(&ack(9, -libc::EPERM, &[]), &wanted, 7, Some(9)),
            Ok(Some(libc::EPERM))
        );
        assert!(watch
            .take(&ack(7, -libc::EINVAL, &[]), &wanted, 7, None)
            .is_err());
        // IPv6 names the address in IFA_ADDRESS.
        assert!(wanted.matches(&address_message(RTM_NEWADDR, 7, a, 64, 3)[NLMSG_HDRLEN..]));
    }

    #[test]
    fn matching_never_panics_on_garbage() {
        let wanted = WantedAddress::new("198.18.0.50".parse().unwrap(), 24, 3);
        let message = address_message(RTM_NEWADDR, 7, "198.18.0.50".parse().unwrap(), 24, 3);
        let body = &message[NLMSG_HDRLEN..];
        assert!(wanted.matches(body));
        for cut in 0..body.len() {
            let _ = wanted.matches(&body[..cut]);
        }
        let mut bad_len = body.to_vec();
        bad_len[IFADDRMSG_LEN] = 0xff;
        assert!(!wanted.matches(&bad_len));
        let mut watch = AddressWatch::default();
        for cut in 0..message.len() {
            let _ = watch.take(&message[..cut], &wanted, 7, Some(8));
        }
    }
}
