//! The Linux `AF_PACKET` sender, and address configuration through rtnetlink (`address`).

#[cfg(not(target_os = "linux"))]
compile_error!(
    "failover-arp: the `sender` feature sends raw Ethernet frames through AF_PACKET sockets, \
     which exist on Linux only: only Linux sends gratuitous ARP and neighbour advertisements. \
     On other platforms depend on failover-arp with `default-features = false` (frame building, \
     parsing and the grarp argument parser) and announce addresses with the system's tools."
);

#[cfg(target_os = "linux")]
mod address;
#[cfg(target_os = "linux")]
mod link;
#[cfg(target_os = "linux")]
mod neigh;
#[cfg(target_os = "linux")]
mod sockets;
#[cfg(target_os = "linux")]
mod sys;

#[cfg(target_os = "linux")]
pub use address::{add_address, add_address_for, remove_address, renew_address};
#[cfg(target_os = "linux")]
pub use link::{parse_link_messages, LinkEvent, LinkWatcher};
#[cfg(target_os = "linux")]
pub use linux::{send_burst, Sender};
#[cfg(target_os = "linux")]
pub use neigh::{forget_unresolved_neighbours, parse_neighbours, Neighbour};
#[cfg(target_os = "linux")]
pub use sockets::{parse_connections, reset_connections, Connection, ResetReport};

#[cfg(target_os = "linux")]
mod linux {
    use std::fmt;
    use std::io;
    use std::net::IpAddr;
    use std::time::Duration;

    use socket2::{Domain, Socket, Type};

    use super::sys;
    use crate::{announcement_frames, check_interface_name, BurstOptions, Error, Form, MacAddr};

    const ARPHRD_ETHER: u16 = 1;

    /// An `AF_PACKET` socket bound to one Ethernet interface, ready to send announcements.
    pub struct Sender {
        socket: Socket,
        interface: String,
        ifindex: u32,
        mac: MacAddr,
    }

    /// The packet socket, for a program that hands it to a child process: the last close
    /// of a packet socket waits for the kernel's RCU grace period (`synchronize_net`).
    impl std::os::fd::AsFd for Sender {
        fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
            self.socket.as_fd()
        }
    }

    impl fmt::Debug for Sender {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("Sender")
                .field("interface", &self.interface)
                .field("ifindex", &self.ifindex)
                .field("mac", &self.mac)
                .finish()
        }
    }

    fn describe_hatype(hatype: u16) -> String {
        match hatype {
            772 => "it is a loopback device".to_string(),
            65534 => "it has no link-layer address at all (hardware type \"none\", e.g. a tun \
                      or WireGuard device)"
                .to_string(),
            768 | 769 | 776 | 778 | 823 => {
                format!("it is an IP tunnel (hardware type {hatype}), not Ethernet")
            }
            other => format!("its hardware type is {other}, not Ethernet (1)"),
        }
    }

    fn no_mac(name: &str, reason: String) -> Error {
        Error::NoMac {
            name: name.to_string(),
            reason,
        }
    }

    /// The hardware type from sysfs, if sysfs shows this network namespace's interface of
    /// that name (a process that changed namespace itself may see another one's sysfs).
    fn sysfs_hatype(name: &str, ifindex: u32) -> Option<u16> {
        let read = |f: &str| std::fs::read_to_string(format!("/sys/class/net/{name}/{f}")).ok();
        let idx: u32 = read("ifindex")?.trim().parse().ok()?;
        if idx != ifindex {
            return None;
        }
        read("type")?.trim().parse().ok()
    }

    fn io_error(what: &'static str, interface: &str, e: io::Error) -> Error {
        match e.raw_os_error() {
            Some(libc::EPERM) | Some(libc::EACCES) => Error::PermissionDenied {
                interface: interface.to_string(),
                source: e,
            },
            Some(libc::ENETDOWN) => Error::InterfaceDown(interface.to_string()),
            Some(libc::ENODEV) | Some(libc::ENXIO) => {
                Error::UnknownInterface(interface.to_string())
            }
            _ => Error::Io {
                what,
                interface: interface.to_string(),
                source: e,
            },
        }
    }

    impl Sender {
        /// Opens a raw packet socket on `interface` and reads its MAC address.
        ///
        /// Errors: [`Error::InvalidInterfaceName`], [`Error::UnknownInterface`],
        /// [`Error::NoMac`] (lo, tun, tunnels, a zero MAC), [`Error::PermissionDenied`]
        /// (needs root or CAP_NET_RAW), [`Error::Io`].
        pub fn open(interface: &str) -> Result<Sender, Error> {
            check_interface_name(interface)?;
            let ifindex = sys::if_nametoindex(interface).map_err(|e| match e.raw_os_error() {
                Some(libc::ENODEV) | Some(libc::ENXIO) => {
                    Error::UnknownInterface(interface.to_string())
                }
                _ => Error::Io {
                    what: "looking up the interface",
                    interface: interface.to_string(),
                    source: e,
                },
            })?;
            // Tell an operator "lo has no MAC" even when they also lack the privilege.
            if let Some(hatype) = sysfs_hatype(interface, ifindex) {
                if hatype != ARPHRD_ETHER {
                    return Err(no_mac(interface, describe_hatype(hatype)));
                }
            }
            // Protocol 0: this socket sends only and never receives a frame.
            let socket = Socket::new(Domain::PACKET, Type::RAW, None)
                .map_err(|e| io_error("opening a raw packet socket", interface, e))?;
            socket
                .bind(&sys::packet_addr(ifindex, 0, None))
                .map_err(|e| io_error("binding the packet socket", interface, e))?;
            let local = socket
                .local_addr()
                .map_err(|e| io_error("reading the interface address", interface, e))?;
            let (hatype, hwaddr) = sys::link_info(&local).ok_or_else(|| Error::Io {
                what: "reading the interface address",
                interface: interface.to_string(),
                source: io::Error::other("getsockname did not return an AF_PACKET address"),
            })?;
            if hatype != ARPHRD_ETHER {
                return Err(no_mac(interface, describe_hatype(hatype)));
            }
            let octets: [u8; 6] = hwaddr.as_slice().try_into().map_err(|_| {
                no_mac(
                    interface,
                    format!("its hardware address is {} bytes long, not 6", hwaddr.len()),
                )
            })?;
            let mac = MacAddr(octets);
            if mac.is_zero() {
                return Err(no_mac(
                    interface,
                    "its MAC address is 00:00:00:00:00:00".into(),
                ));
            }
            if mac.is_multicast() {
                return Err(no_mac(
                    interface,
                    format!("its MAC address {mac} is a group address"),
                ));
            }
            Ok(Sender {
                socket,
                interface: interface.to_string(),
                ifindex,
                mac,
            })
        }

        /// The interface name.
        pub fn interface(&self) -> &str {
            &self.interface
        }

        /// The interface index.
        pub fn ifindex(&self) -> u32 {
            self.ifindex
        }

        /// The interface's MAC address (the one announced).
        pub fn mac(&self) -> MacAddr {
            self.mac
        }

        /// Sends one complete Ethernet frame (destination and EtherType are taken from it).
        pub fn send_frame(&self, frame: &[u8]) -> Result<(), Error> {
            if frame.len() < 14 {
                return Err(Error::Usage(format!(
                    "a frame of {} bytes is shorter than an Ethernet header",
                    frame.len()
                )));
            }
            let mut dst = [0u8; 6];
            dst.copy_from_slice(&frame[..6]);
            let ethertype = u16::from_be_bytes([frame[12], frame[13]]);
            let addr = sys::packet_addr(self.ifindex, ethertype, Some(dst));
            let n = self
                .socket
                .send_to(frame, &addr)
                .map_err(|e| io_error("sending", &self.interface, e))?;
            if n != frame.len() {
                return Err(Error::Io {
                    what: "sending",
                    interface: self.interface.clone(),
                    source: io::Error::other(format!("sent {n} of {} bytes", frame.len())),
                });
            }
            Ok(())
        }

        /// Sends one round for `address`: the ARP form(s) of `form` for IPv4, one neighbour
        /// advertisement for IPv6. Returns the frames sent.
        pub fn announce(&self, address: IpAddr, form: Form) -> Result<u32, Error> {
            let frames = announcement_frames(self.mac, address, form)?;
            for f in &frames {
                self.send_frame(f)?;
            }
            Ok(frames.len() as u32)
        }

        /// Sends `options.count` rounds, `options.interval` apart (no pause after the last).
        /// Returns the frames sent. Bounded by [`crate::MAX_COUNT`] and
        /// [`crate::MAX_INTERVAL`]; blocks the calling thread for
        /// `(count - 1) * interval`.
        pub fn burst(&self, address: IpAddr, options: BurstOptions) -> Result<u32, Error> {
            options.validate(address)?;
            let frames = announcement_frames(self.mac, address, options.form)?;
            let mut sent = 0;
            for round in 0..options.count {
                if round > 0 && options.interval > Duration::ZERO {
                    std::thread::sleep(options.interval);
                }
                for f in &frames {
                    self.send_frame(f)?;
                    sent += 1;
                }
            }
            Ok(sent)
        }
    }

    /// Announces `address` on `interface`: opens a [`Sender`] and sends a burst (by default 3
    /// rounds of an ARP request and an ARP reply for IPv4, 3 neighbour advertisements for IPv6,
    /// 200 ms apart). Returns the frames sent.
    pub fn send_burst(
        interface: &str,
        address: IpAddr,
        options: BurstOptions,
    ) -> Result<u32, Error> {
        options.validate(address)?;
        Sender::open(interface)?.burst(address, options)
    }
}
