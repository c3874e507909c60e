//! The only unsafe code of the crate: thin wrappers around libc for `AF_PACKET` and netlink
//! addresses. socket2 opens, binds and sends safely, but a `sockaddr_ll` (or `sockaddr_nl`)
//! can only be put into or read out of its `SockAddr` through `unsafe`, and `if_nametoindex`
//! takes a C string.
#![allow(unsafe_code)]

use std::ffi::CString;
use std::io;
use std::mem::size_of;

use socket2::{SockAddr, SockAddrStorage};

/// The kernel's index of interface `name` in the caller's network namespace.
pub(super) fn if_nametoindex(name: &str) -> io::Result<u32> {
    let c = CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: `c` is a valid NUL-terminated C string that outlives the call, and
    // if_nametoindex(3) only reads it.
    let index = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if index == 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(index)
    }
}

/// A `sockaddr_ll` for interface `ifindex`, EtherType `protocol` (host order) and, when
/// sending, the Ethernet destination `dst`.
pub(super) fn packet_addr(ifindex: u32, protocol: u16, dst: Option<[u8; 6]>) -> SockAddr {
    let mut storage = SockAddrStorage::zeroed();
    // SAFETY: `sockaddr_ll` is one of this platform's `sockaddr_*` types (view_as asserts that
    // it fits), and all-zero bytes are a valid `sockaddr_ll`.
    let ll: &mut libc::sockaddr_ll = unsafe { storage.view_as() };
    ll.sll_family = libc::AF_PACKET as libc::c_ushort;
    ll.sll_protocol = protocol.to_be();
    ll.sll_ifindex = ifindex as libc::c_int;
    if let Some(mac) = dst {
        ll.sll_halen = 6;
        ll.sll_addr[..6].copy_from_slice(&mac);
    }
    let len = size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    // SAFETY: the storage holds a fully initialised `sockaddr_ll` of family AF_PACKET and `len`
    // is exactly its size.
    unsafe { SockAddr::new(storage, len) }
}

/// The hardware type (ARPHRD_*) and hardware address of a bound packet socket's address, as
/// returned by getsockname(2). `None` when `addr` is not an `AF_PACKET` address.
pub(super) fn link_info(addr: &SockAddr) -> Option<(u16, Vec<u8>)> {
    if i32::from(addr.family()) != libc::AF_PACKET {
        return None;
    }
    let mut storage = addr.clone().as_storage();
    // SAFETY: `sockaddr_ll` is one of this platform's `sockaddr_*` types and fits in the
    // storage; the storage is zero-initialised beyond what the kernel wrote, so every field is
    // initialised, and the family was checked to be AF_PACKET.
    let ll: &mut libc::sockaddr_ll = unsafe { storage.view_as() };
    let halen = usize::from(ll.sll_halen).min(ll.sll_addr.len());
    Some((ll.sll_hatype, ll.sll_addr[..halen].to_vec()))
}

/// A `sockaddr_nl` for binding a netlink socket: the kernel picks the port id, and the
/// socket joins the multicast `groups` (a bit mask of `RTMGRP_*`).
pub(super) fn netlink_addr(groups: u32) -> SockAddr {
    let mut storage = SockAddrStorage::zeroed();
    // SAFETY: `sockaddr_nl` is one of this platform's `sockaddr_*` types (view_as asserts that
    // it fits), and all-zero bytes are a valid `sockaddr_nl`.
    let nl: &mut libc::sockaddr_nl = unsafe { storage.view_as() };
    nl.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    nl.nl_groups = groups;
    let len = size_of::<libc::sockaddr_nl>() as libc::socklen_t;
    // SAFETY: the storage holds a fully initialised `sockaddr_nl` of family AF_NETLINK and
    // `len` is exactly its size.
    unsafe { SockAddr::new(storage, len) }
}
