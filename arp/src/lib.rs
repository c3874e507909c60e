//! Gratuitous ARP and IPv6 unsolicited neighbour advertisements.
//!
//! When a service address moves to this host, switches and clients still hold the old
//! holder's MAC in their tables. A *gratuitous ARP* (IPv4) or an *unsolicited neighbour
//! advertisement* (IPv6) tells them at once that the address is now reached through our MAC.
//!
//! The crate has two parts:
//!
//! - **Pure, portable**: [`gratuitous_arp`], [`unsolicited_na`] and [`announcement_frames`]
//!   build complete Ethernet frames; [`parse_frame`] decodes them back (the tests and the
//!   simulator's idea of a client use it); [`parse_grarp_args`] is the one argument parser of
//!   the `grarp` program and of failsh's Tcl `grarp` command. This part builds everywhere.
//! - **Linux sender** (cargo feature `sender`, on by default): [`Sender`] opens an `AF_PACKET`
//!   socket on an interface and [`send_burst`] sends a bounded burst. Enabling the feature on
//!   another operating system stops the build with a `compile_error!`: only Linux sends packets.
//! - **Linux address configuration** (same feature): [`add_address`] and [`remove_address`]
//!   put a service address on an interface or take it off through rtnetlink (`RTM_NEWADDR`,
//!   `RTM_DELADDR`), like `ip addr replace` / `ip addr del` without forking `ip`. Their
//!   argument checks ([`check_address_prefix`], [`check_address_label`]) build everywhere.
//! - **Linux connection reset** (same feature): [`reset_connections`] nudges the clients of
//!   the TCP connections on an address given up ([`nudge_segment`], pure) and destroys the
//!   local sockets, so that clients go to the new holder at once.
//!
//! ## Frame forms
//!
//! - ARP request form ([`Form::Request`]): Ethernet destination broadcast, operation 1,
//!   sender = target protocol address = the address, sender MAC = ours, target MAC
//!   00:00:00:00:00:00 (RFC 5227 "ARP announcement").
//! - ARP reply form ([`Form::Reply`]): Ethernet destination broadcast, operation 2, sender =
//!   target protocol address = the address, and **target MAC = sender MAC** (ours). This is what
//!   iputils `arping -A` sends, and it is the form Linux recognises as a gratuitous reply (its
//!   `arp_is_garp` requires the target MAC to equal the sender MAC for replies), so a Linux
//!   neighbour overrides its entry at once instead of waiting out `locktime`.
//! - IPv6 ([`unsolicited_na`]): ICMPv6 neighbour advertisement (type 136) from the address
//!   itself to ff02::1 (Ethernet 33:33:00:00:00:01), hop limit 255, Override set, Solicited and
//!   Router clear, target = the address, with a Target Link-Layer Address option carrying our
//!   MAC (RFC 4861 §7.2.6).
//!
//! Frames are not padded to the 60-byte Ethernet minimum: the kernel's own ARP frames are not
//! either; network drivers pad on the wire.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

mod args;
mod frame;
mod nudge;

#[cfg(feature = "sender")]
mod sender;

pub use args::{parse_grarp_args, GrarpArgs, GrarpCommand, USAGE};
pub use frame::{
    announcement_frames, check_address, gratuitous_arp, parse_frame, unsolicited_na, Announcement,
    ArpFrame, ArpOp, NeighborAdvertFrame, ParseError, ARP_FRAME_LEN, NA_FRAME_LEN,
};
pub use nudge::{nudge_segment, TCP_HEADER_LEN};
#[cfg(feature = "sender")]
pub use sender::{
    add_address, add_address_for, forget_unresolved_neighbours, parse_connections,
    parse_link_messages, parse_neighbours, remove_address, renew_address, reset_connections,
    send_burst, Connection, LinkEvent, LinkWatcher, Neighbour, ResetReport, Sender,
};

/// The largest burst count accepted: a burst is a short announcement, not a flood.
pub const MAX_COUNT: u32 = 100;
/// The largest interval between two rounds of a burst.
pub const MAX_INTERVAL: Duration = Duration::from_secs(10);

/// A 48-bit Ethernet (IEEE 802) MAC address.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// ff:ff:ff:ff:ff:ff
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);
    /// 00:00:00:00:00:00 (what `lo` reports: no real hardware address).
    pub const ZERO: MacAddr = MacAddr([0; 6]);
    /// 33:33:00:00:00:01, the Ethernet group of ff02::1 (all nodes).
    pub const IPV6_ALL_NODES: MacAddr = MacAddr([0x33, 0x33, 0, 0, 0, 1]);

    /// The six octets.
    pub fn octets(self) -> [u8; 6] {
        self.0
    }

    /// True for group (multicast or broadcast) addresses: the I/G bit is set.
    pub fn is_multicast(self) -> bool {
        self.0[0] & 1 == 1
    }

    /// True for 00:00:00:00:00:00.
    pub fn is_zero(self) -> bool {
        self == Self::ZERO
    }

    /// True for an address a host can own: neither zero nor a group address.
    pub fn is_unicast(self) -> bool {
        !self.is_zero() && !self.is_multicast()
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            o[0], o[1], o[2], o[3], o[4], o[5]
        )
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MacAddr({self})")
    }
}

/// The text is not a MAC address of the form `aa:bb:cc:dd:ee:ff`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MacParseError(pub String);

impl fmt::Display for MacParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid MAC address {:?}: expected six hexadecimal octets separated by ':'",
            self.0
        )
    }
}

impl std::error::Error for MacParseError {}

impl FromStr for MacAddr {
    type Err = MacParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || MacParseError(s.to_string());
        let mut out = [0u8; 6];
        let mut parts = s.trim().split(':');
        for slot in &mut out {
            let part = parts.next().ok_or_else(err)?;
            if part.is_empty() || part.len() > 2 {
                return Err(err());
            }
            *slot = u8::from_str_radix(part, 16).map_err(|_| err())?;
        }
        if parts.next().is_some() {
            return Err(err());
        }
        Ok(MacAddr(out))
    }
}

impl From<[u8; 6]> for MacAddr {
    fn from(o: [u8; 6]) -> Self {
        MacAddr(o)
    }
}

/// Which ARP forms a burst sends for an IPv4 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Form {
    /// Only the request form (operation 1).
    Request,
    /// Only the reply form (operation 2).
    Reply,
    /// Both, request first (the default: some switches and firewalls honour only one form).
    #[default]
    Both,
}

impl Form {
    /// The ARP operations of one round, in sending order.
    pub fn ops(self) -> &'static [ArpOp] {
        match self {
            Form::Request => &[ArpOp::Request],
            Form::Reply => &[ArpOp::Reply],
            Form::Both => &[ArpOp::Request, ArpOp::Reply],
        }
    }
}

/// How a burst is sent.
///
/// IPv4: every round sends the ARP form(s) chosen by `form`; IPv6: every round sends one
/// unsolicited neighbour advertisement, and `form` must be [`Form::Both`] (the default),
/// because `Request` and `Reply` are ARP notions (asking for them with an IPv6 address is an
/// [`Error::FamilyMismatch`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BurstOptions {
    /// Rounds to send, 1..=[`MAX_COUNT`]. Default 3.
    pub count: u32,
    /// Pause between two rounds (none after the last), at most [`MAX_INTERVAL`]. Default 200 ms.
    pub interval: Duration,
    /// ARP forms. Default [`Form::Both`].
    pub form: Form,
}

impl Default for BurstOptions {
    fn default() -> Self {
        BurstOptions {
            count: 3,
            interval: Duration::from_millis(200),
            form: Form::Both,
        }
    }
}

impl BurstOptions {
    /// Checks the bounds and that the form fits the address family.
    pub fn validate(&self, address: IpAddr) -> Result<(), Error> {
        if self.count == 0 || self.count > MAX_COUNT {
            return Err(Error::Usage(format!(
                "count must be between 1 and {MAX_COUNT}, not {}",
                self.count
            )));
        }
        if self.interval > MAX_INTERVAL {
            return Err(Error::Usage(format!(
                "interval must be at most {} ms, not {} ms",
                MAX_INTERVAL.as_millis(),
                self.interval.as_millis()
            )));
        }
        if address.is_ipv6() && self.form != Form::Both {
            return Err(Error::FamilyMismatch(format!(
                "{address} is an IPv6 address: --request and --reply choose ARP forms, which \
                 exist for IPv4 only; IPv6 announces with unsolicited neighbour advertisements \
                 (leave the form at its default)"
            )));
        }
        check_address(address)
    }

    /// Frames one burst sends: `count` rounds of one or two frames.
    pub fn frames_total(&self, address: IpAddr) -> u32 {
        let per_round = match address {
            IpAddr::V4(_) => self.form.ops().len() as u32,
            IpAddr::V6(_) => 1,
        };
        self.count * per_round
    }
}

/// Everything that can go wrong when announcing an address, with text for an operator.
#[derive(Debug)]
pub enum Error {
    /// Bad options or arguments.
    Usage(String),
    /// The address family does not fit what was asked.
    FamilyMismatch(String),
    /// The address cannot be announced (unspecified, multicast, broadcast, loopback).
    UnusableAddress {
        /// The address given.
        address: IpAddr,
        /// Why not.
        reason: &'static str,
    },
    /// The interface name is not a valid Linux interface name.
    InvalidInterfaceName {
        /// The name given.
        name: String,
        /// Why not.
        reason: &'static str,
    },
    /// No interface of that name exists (in this network namespace).
    UnknownInterface(String),
    /// The interface has no Ethernet MAC address to announce.
    NoMac {
        /// The interface.
        name: String,
        /// What it has instead.
        reason: String,
    },
    /// Opening the raw socket was refused.
    PermissionDenied {
        /// The interface.
        interface: String,
        /// The system error (EPERM or EACCES).
        source: std::io::Error,
    },
    /// The interface is administratively or operationally down.
    InterfaceDown(String),
    /// Any other system error while opening the socket or sending.
    Io {
        /// What was being done.
        what: &'static str,
        /// The interface.
        interface: String,
        /// The system error.
        source: std::io::Error,
    },
    /// The kernel refused to add or remove an address (or did not answer in time).
    Address {
        /// What was being done.
        change: AddressChange,
        /// What the kernel said (its errno), or why its answer was not usable.
        source: std::io::Error,
    },
    /// The kernel refused an address change for lack of privilege (EPERM or EACCES). Same
    /// class as [`Error::PermissionDenied`] (code `PERMISSION`, exit status 4), but the
    /// capability it needs is another one.
    AddressPermissionDenied {
        /// What was being done.
        change: AddressChange,
        /// The system error (EPERM or EACCES).
        source: std::io::Error,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(text) => f.write_str(text),
            Error::FamilyMismatch(text) => write!(f, "address family mismatch: {text}"),
            Error::UnusableAddress { address, reason } => {
                write!(f, "{address} cannot be announced: {reason}")
            }
            Error::InvalidInterfaceName { name, reason } => {
                write!(f, "invalid interface name {name:?}: {reason}")
            }
            Error::UnknownInterface(name) => write!(
                f,
                "unknown interface {name:?}: there is no network interface of that name in this \
                 network namespace (see `ip link`)"
            ),
            Error::NoMac { name, reason } => write!(
                f,
                "interface {name} has no Ethernet MAC address ({reason}); gratuitous ARP and \
                 neighbour advertisements need an Ethernet-like interface such as a NIC, bridge, \
                 bond, VLAN or veth"
            ),
            Error::PermissionDenied { interface, source } => write!(
                f,
                "permission denied opening a raw packet socket on {interface}: sending \
                 gratuitous ARP needs root or the CAP_NET_RAW capability ({source})"
            ),
            Error::InterfaceDown(name) => write!(
                f,
                "interface {name} is down: bring it up (`ip link set {name} up`) and try again"
            ),
            Error::Io {
                what,
                interface,
                source,
            } => write!(f, "{what} on interface {interface} failed: {source}"),
            Error::Address { change, source } => write!(f, "cannot {change}: {source}"),
            Error::AddressPermissionDenied { change, source } => write!(
                f,
                "cannot {change}: {source}; configuring addresses needs root or the \
                 CAP_NET_ADMIN capability"
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::PermissionDenied { source, .. }
            | Error::Io { source, .. }
            | Error::Address { source, .. }
            | Error::AddressPermissionDenied { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Adding or removing an address, for [`add_address`] and [`remove_address`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressOp {
    /// `RTM_NEWADDR` (`ip addr replace`).
    Add,
    /// `RTM_DELADDR` (`ip addr del`).
    Remove,
}

/// One address change, as error messages name it: `add 198.18.0.50/24 to eth0`,
/// `remove 2001:db8::50/64 from eth0`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressChange {
    /// Add or remove.
    pub op: AddressOp,
    /// The interface.
    pub interface: String,
    /// The address.
    pub address: IpAddr,
    /// Its prefix length.
    pub prefix_len: u8,
}

impl fmt::Display for AddressChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (verb, preposition) = match self.op {
            AddressOp::Add => ("add", "to"),
            AddressOp::Remove => ("remove", "from"),
        };
        write!(
            f,
            "{verb} {}/{} {preposition} {}",
            self.address, self.prefix_len, self.interface
        )
    }
}

/// Exit status of `grarp`: all frames sent.
pub const EXIT_OK: u8 = 0;
/// Exit status: sending failed (system error, interface down).
pub const EXIT_SEND: u8 = 1;
/// Exit status: usage error (bad option, bad address, family mismatch).
pub const EXIT_USAGE: u8 = 2;
/// Exit status: unknown interface (or an invalid interface name).
pub const EXIT_UNKNOWN_INTERFACE: u8 = 3;
/// Exit status: no permission (needs root or CAP_NET_RAW).
pub const EXIT_PERMISSION: u8 = 4;
/// Exit status: the interface has no Ethernet MAC address (lo, tun, ...).
pub const EXIT_NO_MAC: u8 = 5;
/// Exit status: the kernel refused to add or remove an address ([`Error::Address`]; `grarp`
/// itself never changes addresses, failsh's Tcl `ipaddr` does).
pub const EXIT_ADDRESS: u8 = 6;

impl Error {
    /// The `grarp` exit status for this error (failsh's Tcl `grarp` uses it in `errorCode`).
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) | Error::FamilyMismatch(_) | Error::UnusableAddress { .. } => {
                EXIT_USAGE
            }
            Error::InvalidInterfaceName { .. } | Error::UnknownInterface(_) => {
                EXIT_UNKNOWN_INTERFACE
            }
            Error::PermissionDenied { .. } | Error::AddressPermissionDenied { .. } => {
                EXIT_PERMISSION
            }
            Error::NoMac { .. } => EXIT_NO_MAC,
            Error::InterfaceDown(_) | Error::Io { .. } => EXIT_SEND,
            Error::Address { .. } => EXIT_ADDRESS,
        }
    }

    /// A short machine-readable name of the error class (for Tcl's `errorCode`).
    pub fn code_name(&self) -> &'static str {
        match self {
            Error::Usage(_) => "USAGE",
            Error::FamilyMismatch(_) => "FAMILY",
            Error::UnusableAddress { .. } | Error::Address { .. } => "ADDRESS",
            Error::InvalidInterfaceName { .. } | Error::UnknownInterface(_) => "NOINTERFACE",
            Error::NoMac { .. } => "NOMAC",
            Error::PermissionDenied { .. } | Error::AddressPermissionDenied { .. } => "PERMISSION",
            Error::InterfaceDown(_) => "DOWN",
            Error::Io { .. } => "SEND",
        }
    }
}

/// Checks an address and prefix length for [`add_address`] / [`remove_address`] before any
/// system call: the prefix fits the family (at most 32 for IPv4, 128 for IPv6), and the
/// address is neither unspecified nor multicast. Errors are [`Error::Usage`].
pub fn check_address_prefix(address: IpAddr, prefix_len: u8) -> Result<(), Error> {
    let (max, family) = match address {
        IpAddr::V4(_) => (32, "IPv4"),
        IpAddr::V6(_) => (128, "IPv6"),
    };
    if prefix_len > max {
        return Err(Error::Usage(format!(
            "bad prefix length {prefix_len} for {address}: an {family} prefix is 0 to {max} bits"
        )));
    }
    if address.is_unspecified() {
        return Err(Error::Usage(format!(
            "{address} is the unspecified address: it cannot be put on an interface"
        )));
    }
    if address.is_multicast() {
        return Err(Error::Usage(format!(
            "{address} is a multicast address: it cannot be put on an interface as a local \
             address"
        )));
    }
    Ok(())
}

/// Checks an IPv4 address label for [`add_address`], as `ip` does: the interface name itself
/// or the interface name, ':' and more (`eth0:1`), at most 15 bytes, no '/', whitespace or
/// NUL. Errors are [`Error::Usage`].
pub fn check_address_label(interface: &str, label: &str) -> Result<(), Error> {
    if label.len() > 15 {
        return Err(Error::Usage(format!(
            "label {label:?} is {} bytes long: labels are at most 15 bytes",
            label.len()
        )));
    }
    if label
        .chars()
        .any(|c| c == '/' || c == '\0' || c.is_whitespace())
    {
        return Err(Error::Usage(format!(
            "label {label:?} contains '/', whitespace or NUL"
        )));
    }
    match label.strip_prefix(interface) {
        Some(rest) if rest.is_empty() || rest.starts_with(':') => Ok(()),
        _ => Err(Error::Usage(format!(
            "label {label:?} must be the interface name {interface} or start with \
             \"{interface}:\" (e.g. {interface}:1)"
        ))),
    }
}

/// Checks that `name` can be a Linux interface name (1..=15 bytes, no '/', ':' is allowed for
/// labels but not sent on, no whitespace or NUL).
pub fn check_interface_name(name: &str) -> Result<(), Error> {
    let bad = |reason| {
        Err(Error::InvalidInterfaceName {
            name: name.to_string(),
            reason,
        })
    };
    if name.is_empty() {
        return bad("it is empty");
    }
    if name.len() > 15 {
        return bad("interface names are at most 15 bytes long");
    }
    if name == "." || name == ".." {
        return bad("'.' and '..' are not interface names");
    }
    if name
        .chars()
        .any(|c| c == '/' || c == '\0' || c.is_whitespace())
    {
        return bad("it contains '/', whitespace or NUL");
    }
    if name.contains(':') {
        return bad(
            "it contains ':'; an address label such as eth0:1 is not an interface, \
             name the interface (eth0)",
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_display_and_parse() {
        let m: MacAddr = "02:0A:ff:00:01:9".parse().unwrap();
        assert_eq!(m, MacAddr([2, 0x0a, 0xff, 0, 1, 9]));
        assert_eq!(m.to_string(), "02:0a:ff:00:01:09");
        for bad in [
            "",
            "02:00:00:00:00",
            "02:00:00:00:00:00:00",
            "0g:00:00:00:00:00",
            "002:0:0:0:0:0",
        ] {
            assert!(bad.parse::<MacAddr>().is_err(), "{bad}");
        }
        assert!(MacAddr::BROADCAST.is_multicast());
        assert!(!MacAddr::ZERO.is_unicast());
        assert!(m.is_unicast());
    }

    #[test]
    fn options_bounds_and_family() {
        let v4: IpAddr = "198.18.0.1".parse().unwrap();
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        let d = BurstOptions::default();
        assert_eq!(
            (d.count, d.interval, d.form),
            (3, Duration::from_millis(200), Form::Both)
        );
        assert!(d.validate(v4).is_ok());
        assert!(d.validate(v6).is_ok());
        assert_eq!(d.frames_total(v4), 6);
        assert_eq!(d.frames_total(v6), 3);
        let zero = BurstOptions { count: 0, ..d };
        assert_eq!(zero.validate(v4).unwrap_err().exit_code(), EXIT_USAGE);
        let many = BurstOptions {
            count: MAX_COUNT + 1,
            ..d
        };
        assert!(many.validate(v4).is_err());
        let slow = BurstOptions {
            interval: MAX_INTERVAL + Duration::from_millis(1),
            ..d
        };
        assert!(slow.validate(v4).is_err());
        let req = BurstOptions {
            form: Form::Request,
            ..d
        };
        assert_eq!(req.frames_total(v4), 3);
        let e = req.validate(v6).unwrap_err();
        assert!(matches!(e, Error::FamilyMismatch(_)), "{e}");
        assert_eq!(e.exit_code(), EXIT_USAGE);
        assert!(e.to_string().contains("IPv6"));
    }

    #[test]
    fn interface_names() {
        assert!(check_interface_name("eth0").is_ok());
        assert!(check_interface_name("fo-ga-123456-a").is_ok());
        for bad in ["", "a/b", "eth0:1", "a b", "0123456789abcdef", ".."] {
            let e = check_interface_name(bad).unwrap_err();
            assert_eq!(e.exit_code(), EXIT_UNKNOWN_INTERFACE, "{bad}");
        }
    }

    #[test]
    fn address_prefix_and_label_checks() {
        let v4: IpAddr = "198.18.0.50".parse().unwrap();
        let v6: IpAddr = "2001:db8::50".parse().unwrap();
        for (a, p) in [(v4, 0), (v4, 24), (v4, 32), (v6, 64), (v6, 128)] {
            assert!(check_address_prefix(a, p).is_ok(), "{a}/{p}");
        }
        let e = check_address_prefix(v4, 33).unwrap_err();
        assert_eq!(
            e.to_string(),
            "bad prefix length 33 for 198.18.0.50: an IPv4 prefix is 0 to 32 bits"
        );
        assert_eq!((e.code_name(), e.exit_code()), ("USAGE", EXIT_USAGE));
        assert!(check_address_prefix(v6, 129)
            .unwrap_err()
            .to_string()
            .contains("0 to 128 bits"));
        for bad in ["0.0.0.0", "::", "224.0.0.1", "ff02::1"] {
            let e = check_address_prefix(bad.parse().unwrap(), 24).unwrap_err();
            assert_eq!(e.code_name(), "USAGE", "{bad}");
        }
        assert!(check_address_label("eth0", "eth0").is_ok());
        assert!(check_address_label("eth0", "eth0:1").is_ok());
        assert!(check_address_label("eth0", "eth0:vip-50").is_ok());
        for bad in [
            "eth1:1",
            "eth01",
            "eth0:1234567890a",
            "eth0: x",
            "xeth0",
            "",
        ] {
            let e = check_address_label("eth0", bad).unwrap_err();
            assert_eq!(e.code_name(), "USAGE", "{bad}");
        }
        assert!(check_address_label("eth0", "eth1:1")
            .unwrap_err()
            .to_string()
            .contains("must be the interface name eth0 or start with \"eth0:\""));
    }

    #[test]
    fn address_errors_name_the_change_and_the_kernel_answer() {
        let change = AddressChange {
            op: AddressOp::Add,
            interface: "eth0".into(),
            address: "198.18.0.50".parse().unwrap(),
            prefix_len: 24,
        };
        let e = Error::Address {
            change: change.clone(),
            source: std::io::Error::from_raw_os_error(17),
        };
        assert_eq!(
            e.to_string(),
            "cannot add 198.18.0.50/24 to eth0: File exists (os error 17)"
        );
        assert_eq!((e.code_name(), e.exit_code()), ("ADDRESS", EXIT_ADDRESS));
        let e = Error::AddressPermissionDenied {
            change: AddressChange {
                op: AddressOp::Remove,
                ..change
            },
            source: std::io::Error::from_raw_os_error(1),
        };
        assert_eq!(
            e.to_string(),
            "cannot remove 198.18.0.50/24 from eth0: Operation not permitted (os error 1); \
             configuring addresses needs root or the CAP_NET_ADMIN capability"
        );
        assert_eq!(
            (e.code_name(), e.exit_code()),
            ("PERMISSION", EXIT_PERMISSION)
        );
    }

    #[test]
    fn error_messages_speak_to_operators() {
        let e = Error::PermissionDenied {
            interface: "eth0".into(),
            source: std::io::Error::from_raw_os_error(1),
        };
        assert!(e.to_string().contains("root or the CAP_NET_RAW capability"));
        assert_eq!(e.exit_code(), EXIT_PERMISSION);
        let e = Error::UnknownInterface("nonexistent0".into());
        assert!(e.to_string().contains("unknown interface \"nonexistent0\""));
        let e = Error::NoMac {
            name: "lo".into(),
            reason: "it is a loopback device".into(),
        };
        assert!(e
            .to_string()
            .contains("interface lo has no Ethernet MAC address"));
        assert_eq!(e.exit_code(), EXIT_NO_MAC);
    }
}
