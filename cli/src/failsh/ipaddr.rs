//! The Tcl command `ipaddr` inside failsh: puts a service address on an interface or takes it
//! off through rtnetlink (`failover_arp::add_address` / `remove_address`), so a start or stop
//! procedure moves the address without forking `ip` (2-3 ms per fork).
//!
//! - `ipaddr add ADDRESS/PREFIX dev INTERFACE ?label LABEL?` returns "" — like `ip addr
//!   replace ... broadcast +` (IPv4) or `ip -6 addr replace ... nodad` (IPv6): adding an
//!   address that is there already is not an error.
//! - `ipaddr del ADDRESS/PREFIX dev INTERFACE` returns 1 when the address was removed, 0 when
//!   it was not there (with that prefix length).
//!
//! `dev` and `label` may come in either order after the address, as with `ip`. Errors are Tcl
//! errors with the arp crate's message and errorCode `IPADDR <class>`: `USAGE` (arguments),
//! `FAMILY` (a label with an IPv6 address), `NOINTERFACE`, `PERMISSION` (needs root or
//! CAP_NET_ADMIN), `ADDRESS` (anything else the kernel refused, or no answer within 1 s);
//! `UNSUPPORTED` on systems other than Linux (the arguments are still checked).
//!
//! With `failsvc S lease SECONDS`, an address a procedure of S adds gets that kernel lifetime
//! and is remembered in [`AddressLeases`], which renews it while the service is UP
//! (`failsh`'s core asks after each renewal of the lease in faild) and forgets it when a
//! procedure removes it: a failsh that dies or hangs leaves nothing behind for longer than
//! the lease.

use failover_tcl::{Exception, Interp, TclError, TclResult};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The usage line of `ipaddr`.
pub const USAGE: &str = "ipaddr add|del ADDRESS/PREFIX dev INTERFACE ?label LABEL?";

/// Registers `ipaddr` in `interp` (failsh's procedures and `failsh -t` both get it).
pub fn register(interp: &mut Interp) {
    interp.register("ipaddr", Arc::new(ipaddr));
}

/// One `ipaddr` call, parsed and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IpaddrCommand {
    /// `ipaddr add`.
    Add {
        address: IpAddr,
        prefix_len: u8,
        interface: String,
        label: Option<String>,
    },
    /// `ipaddr del`.
    Del {
        address: IpAddr,
        prefix_len: u8,
        interface: String,
    },
}

fn usage_error(message: impl Into<String>) -> Exception {
    TclError::with_code(message, "IPADDR USAGE").into()
}

fn wrong_args() -> Exception {
    usage_error(format!("wrong # args: should be \"{USAGE}\""))
}

fn arp_error(e: &failover_arp::Error) -> Exception {
    TclError::with_code(e.to_string(), format!("IPADDR {}", e.code_name())).into()
}

/// `ADDRESS/PREFIX`, e.g. `198.18.0.50/24` or `2001:db8::50/64`.
fn parse_prefix(text: &str) -> Result<(IpAddr, u8), Exception> {
    let Some((address, prefix)) = text.split_once('/') else {
        return Err(usage_error(format!(
            "missing prefix length in \"{text}\": write ADDRESS/PREFIX, e.g. \
             198.18.0.50/24 or 2001:db8::50/64"
        )));
    };
    let address: IpAddr = address.parse().map_err(|_| {
        usage_error(format!(
            "bad address \"{address}\" in \"{text}\": expected an IPv4 or IPv6 address"
        ))
    })?;
    let prefix_len: u8 = if !prefix.is_empty() && prefix.bytes().all(|b| b.is_ascii_digit()) {
        prefix.parse().ok()
    } else {
        None
    }
    .ok_or_else(|| {
        usage_error(format!(
            "bad prefix length \"{prefix}\" in \"{text}\": expected a number of bits"
        ))
    })?;
    failover_arp::check_address_prefix(address, prefix_len).map_err(|e| arp_error(&e))?;
    Ok((address, prefix_len))
}

/// Parses the arguments after the command name; every check that needs no system call.
pub fn parse_ipaddr_args(args: &[String]) -> Result<IpaddrCommand, Exception> {
    let (sub, rest) = args.split_first().ok_or_else(wrong_args)?;
    let add = match sub.as_str() {
        "add" => true,
        "del" => false,
        other => {
            return Err(usage_error(format!(
                "bad subcommand \"{other}\": must be add or del; should be \"{USAGE}\""
            )))
        }
    };
    let (spec, mut pairs) = rest.split_first().ok_or_else(wrong_args)?;
    let (address, prefix_len) = parse_prefix(spec)?;
    let mut interface: Option<&String> = None;
    let mut label: Option<&String> = None;
    while let Some((keyword, after)) = pairs.split_first() {
        let slot = match keyword.as_str() {
            "dev" => &mut interface,
            "label" if add => &mut label,
            "label" => {
                return Err(usage_error(format!(
                    "\"label\" is for \"ipaddr add\" only: should be \"{USAGE}\""
                )))
            }
            _ => return Err(wrong_args()),
        };
        let (value, after) = after.split_first().ok_or_else(wrong_args)?;
        if slot.replace(value).is_some() {
            return Err(usage_error(format!(
                "\"{keyword}\" given twice: should be \"{USAGE}\""
            )));
        }
        pairs = after;
    }
    let interface = interface.ok_or_else(wrong_args)?.clone();
    failover_arp::check_interface_name(&interface).map_err(|e| arp_error(&e))?;
    if let Some(label) = label {
        if address.is_ipv6() {
            return Err(arp_error(&failover_arp::Error::FamilyMismatch(format!(
                "{address} is an IPv6 address: address labels ({label}) exist for IPv4 only"
            ))));
        }
        failover_arp::check_address_label(&interface, label).map_err(|e| arp_error(&e))?;
    }
    Ok(if add {
        IpaddrCommand::Add {
            address,
            prefix_len,
            interface,
            label: label.cloned(),
        }
    } else {
        IpaddrCommand::Del {
            address,
            prefix_len,
            interface,
        }
    })
}

/// One address a service's procedure added, with what renewing it needs.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct LeasedAddress {
    pub interface: String,
    pub address: IpAddr,
    pub prefix_len: u8,
    pub label: Option<String>,
}

/// The addresses each service's procedures added with `ipaddr` under a lease, to renew their
/// kernel lifetime while the service is UP, and when the local faild last acknowledged each
/// service's UP with its lease.
#[derive(Clone, Debug, Default)]
pub struct AddressLeases {
    added: Arc<Mutex<BTreeMap<String, BTreeSet<LeasedAddress>>>>,
    confirmed: Arc<Mutex<BTreeMap<String, Instant>>>,
}

impl AddressLeases {
    /// The local faild acknowledged `service`'s UP with its lease, now.
    pub fn confirmed(&self, service: &str) {
        let mut confirmed = self.confirmed.lock().unwrap_or_else(|e| e.into_inner());
        confirmed.insert(service.to_string(), Instant::now());
    }

    /// Whether a procedure of `service` may add an address under a lease of `lease_s`: not
    /// once faild's acknowledgement is older than the lease. Its UP may have lapsed in faild
    /// and another host taken over while this failsh was stopped (SIGSTOP, a frozen VM) in
    /// the middle of the procedure; an address added now would live a whole lease next to it
    /// (witness seed 56485).
    fn may_add(&self, service: &str, lease_s: u32) -> Result<(), String> {
        let confirmed = self.confirmed.lock().unwrap_or_else(|e| e.into_inner());
        match confirmed.get(service) {
            Some(at) if at.elapsed() > Duration::from_secs(u64::from(lease_s)) => Err(format!(
                "not adding the address: the local faild last acknowledged the lease of service {service} {} ms ago, longer than the lease ({lease_s} s); its UP may have lapsed and another host taken over",
                at.elapsed().as_millis()
            )),
            _ => Ok(()),
        }
    }

    fn added(&self, service: &str, address: LeasedAddress) {
        let mut leases = self.added.lock().unwrap_or_else(|e| e.into_inner());
        leases
            .entry(service.to_string())
            .or_default()
            .insert(address);
    }

    /// Removes an address (`del` runs the removal) and forgets it for every service, under
    /// the lock a renewal holds: a renewal on failsh's loop thread can then never put the
    /// address back after a procedure's `ipaddr del` (the core also never asks for one while
    /// a stop runs).
    fn remove(
        &self,
        interface: &str,
        address: IpAddr,
        prefix_len: u8,
        del: impl FnOnce() -> TclResult,
    ) -> TclResult {
        let mut leases = self.added.lock().unwrap_or_else(|e| e.into_inner());
        let result = del()?;
        for addresses in leases.values_mut() {
            addresses.retain(|a| {
                !(a.interface == interface && a.address == address && a.prefix_len == prefix_len)
            });
        }
        leases.retain(|_, addresses| !addresses.is_empty());
        Ok(result)
    }

    /// Gives every address of `service` `lifetime_s` seconds from now. An address removed
    /// behind failsh's back is not put back but an error: the lease fails and the service
    /// stops here (whoever removed it may be handing it over). Every address is tried; the
    /// errors are joined.
    pub fn renew(&self, service: &str, lifetime_s: u32) -> Result<(), String> {
        let mut errors = Vec::new();
        // Held across the netlink calls: see `remove`.
        let leases = self.added.lock().unwrap_or_else(|e| e.into_inner());
        for leased in leases.get(service).into_iter().flatten() {
            if let Err(e) = renew(leased, lifetime_s) {
                errors.push(e);
            }
        }
        drop(leases);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }
}

/// What `ipaddr` inside a procedure of a leased service knows.
#[derive(Clone, Debug)]
pub struct ProcedureLease {
    pub service: String,
    pub lease_s: u32,
    pub leases: AddressLeases,
}

/// Registers, in a procedure's interpreter, an `ipaddr` that gives the addresses it adds the
/// service's lease as their kernel lifetime and remembers them for renewal.
pub fn register_leased(interp: &mut Interp, lease: ProcedureLease) {
    interp.register(
        "ipaddr",
        Arc::new(move |_interp: &mut Interp, args: &[String]| {
            let command = parse_ipaddr_args(&args[1..])?;
            match &command {
                IpaddrCommand::Add {
                    address,
                    prefix_len,
                    interface,
                    label,
                } => {
                    lease
                        .leases
                        .may_add(&lease.service, lease.lease_s)
                        .map_err(|message| TclError::with_code(message, "IPADDR LEASE"))?;
                    let result = run(&command, Some(lease.lease_s))?;
                    lease.leases.added(
                        &lease.service,
                        LeasedAddress {
                            interface: interface.clone(),
                            address: *address,
                            prefix_len: *prefix_len,
                            label: label.clone(),
                        },
                    );
                    Ok(result)
                }
                IpaddrCommand::Del {
                    address,
                    prefix_len,
                    interface,
                } => lease.leases.remove(interface, *address, *prefix_len, || {
                    run(&command, Some(lease.lease_s))
                }),
            }
        }),
    );
}

/// The command itself; `args[0]` is the command name.
pub fn ipaddr(_interp: &mut Interp, args: &[String]) -> TclResult {
    let command = parse_ipaddr_args(&args[1..])?;
    run(&command, None)
}

#[cfg(target_os = "linux")]
fn renew(leased: &LeasedAddress, lifetime_s: u32) -> Result<(), String> {
    // Never put back: an address taken off by someone else (the service script's `fail`
    // before its `failc`, an administrator, the kernel when its lifetime ran out) may be
    // about to be taken over elsewhere. The lease fails instead, and the service stops here.
    match failover_arp::renew_address(
        &leased.interface,
        leased.address,
        leased.prefix_len,
        leased.label.as_deref(),
        lifetime_s,
    ) {
        Ok(true) => Ok(()),
        Ok(false) => Err(format!(
            "{}/{} is no longer on {}: taken off outside failsh (not put back)",
            leased.address, leased.prefix_len, leased.interface
        )),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(not(target_os = "linux"))]
fn renew(leased: &LeasedAddress, _lifetime_s: u32) -> Result<(), String> {
    Err(format!(
        "cannot renew {}/{} on {}: address lifetimes need Linux",
        leased.address, leased.prefix_len, leased.interface
    ))
}

#[cfg(target_os = "linux")]
fn run(command: &IpaddrCommand, lifetime_s: Option<u32>) -> TclResult {
    match command {
        IpaddrCommand::Add {
            address,
            prefix_len,
            interface,
            label,
        } => failover_arp::add_address_for(
            interface,
            *address,
            *prefix_len,
            label.as_deref(),
            lifetime_s,
        )
        .map(|()| String::new()),
        IpaddrCommand::Del {
            address,
            prefix_len,
            interface,
        } => failover_arp::remove_address(interface, *address, *prefix_len)
            .map(|removed| if removed { "1" } else { "0" }.to_string()),
    }
    .map_err(|e| arp_error(&e))
}

#[cfg(not(target_os = "linux"))]
fn run(command: &IpaddrCommand, _lifetime_s: Option<u32>) -> TclResult {
    let (verb, address, prefix_len, interface) = match command {
        IpaddrCommand::Add {
            address,
            prefix_len,
            interface,
            ..
        } => ("add", address, prefix_len, interface),
        IpaddrCommand::Del {
            address,
            prefix_len,
            interface,
        } => ("remove", address, prefix_len, interface),
    };
    Err(TclError::with_code(
        format!(
            "cannot {verb} {address}/{prefix_len} on {interface}: ipaddr (rtnetlink) is \
             supported on Linux only; use exec with the system's tools"
        ),
        "IPADDR UNSUPPORTED",
    )
    .into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_added_only_while_faild_vouches_for_the_lease() {
        let leases = AddressLeases::default();
        // Never confirmed (no lease known yet): not refused here; the core runs a start only
        // after faild stored its UP.
        assert!(leases.may_add("198.18.0.50", 1).is_ok());
        leases.confirmed("198.18.0.50");
        assert!(leases.may_add("198.18.0.50", 1).is_ok());
        // A failsh resumed 2 s after faild last acknowledged a 1 s lease.
        let long_ago = Instant::now()
            .checked_sub(Duration::from_secs(2))
            .expect("the clock runs long enough");
        leases
            .confirmed
            .lock()
            .expect("lock")
            .insert("198.18.0.50".to_string(), long_ago);
        let refused = leases.may_add("198.18.0.50", 1).expect_err("refused");
        assert!(refused.contains("longer than the lease (1 s)"), "{refused}");
        assert!(leases.may_add("198.18.0.50", 3).is_ok());
    }

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    fn parse(s: &str) -> Result<IpaddrCommand, (String, String)> {
        parse_ipaddr_args(&words(s)).map_err(|e| match e {
            Exception::Error(e) => (e.message, e.code),
            other => panic!("not an error: {other:?}"),
        })
    }

    /// Evaluates `script` with `ipaddr` registered; returns (message, errorCode).
    fn tcl_error(script: &str) -> (String, String) {
        let mut interp = Interp::new();
        register(&mut interp);
        let e = interp
            .eval_source(script, "x.tcl")
            .expect_err("ipaddr must fail");
        (e.message, e.code)
    }

    #[test]
    fn add_and_del_parse() {
        assert_eq!(
            parse("add 198.18.0.50/24 dev eth0 label eth0:1"),
            Ok(IpaddrCommand::Add {
                address: "198.18.0.50".parse().unwrap(),
                prefix_len: 24,
                interface: "eth0".into(),
                label: Some("eth0:1".into()),
            })
        );
        assert_eq!(
            parse("add 198.18.0.50/32 label eth0:vip dev eth0"),
            Ok(IpaddrCommand::Add {
                address: "198.18.0.50".parse().unwrap(),
                prefix_len: 32,
                interface: "eth0".into(),
                label: Some("eth0:vip".into()),
            })
        );
        assert_eq!(
            parse("add 2001:db8::50/64 dev eth0"),
            Ok(IpaddrCommand::Add {
                address: "2001:db8::50".parse().unwrap(),
                prefix_len: 64,
                interface: "eth0".into(),
                label: None,
            })
        );
        assert_eq!(
            parse("del 198.18.0.50/24 dev bond0.12"),
            Ok(IpaddrCommand::Del {
                address: "198.18.0.50".parse().unwrap(),
                prefix_len: 24,
                interface: "bond0.12".into(),
            })
        );
    }

    #[test]
    fn usage_errors() {
        let wrong = format!("wrong # args: should be \"{USAGE}\"");
        for bad in [
            "",
            "add",
            "del 198.18.0.50/24",
            "add 198.18.0.50/24 dev",
            "add 198.18.0.50/24 eth0",
            "add 198.18.0.50/24 dev eth0 label",
            "add 198.18.0.50/24 dev eth0 eth1",
            "add 198.18.0.50/24 label eth0:1",
        ] {
            assert_eq!(
                parse(bad),
                Err((wrong.clone(), "IPADDR USAGE".into())),
                "{bad:?}"
            );
        }
        for (bad, message, code) in [
            (
                "replace 198.18.0.50/24 dev eth0",
                "bad subcommand \"replace\": must be add or del",
                "IPADDR USAGE",
            ),
            (
                "add 198.18.0.50 dev eth0",
                "missing prefix length in \"198.18.0.50\": write ADDRESS/PREFIX",
                "IPADDR USAGE",
            ),
            (
                "del 2001:db8::50 dev eth0",
                "missing prefix length in \"2001:db8::50\"",
                "IPADDR USAGE",
            ),
            (
                "add 198.18.0.50/ dev eth0",
                "bad prefix length \"\" in \"198.18.0.50/\"",
                "IPADDR USAGE",
            ),
            (
                "add 198.18.0.50/+24 dev eth0",
                "bad prefix length \"+24\"",
                "IPADDR USAGE",
            ),
            (
                "add 198.18.0.50/24/1 dev eth0",
                "bad prefix length \"24/1\"",
                "IPADDR USAGE",
            ),
            (
                "add 198.18.0.50/33 dev eth0",
                "bad prefix length 33 for 198.18.0.50: an IPv4 prefix is 0 to 32 bits",
                "IPADDR USAGE",
            ),
            (
                "add 2001:db8::50/129 dev eth0",
                "an IPv6 prefix is 0 to 128 bits",
                "IPADDR USAGE",
            ),
            (
                "add 198.18.0.50/999 dev eth0",
                "bad prefix length \"999\"",
                "IPADDR USAGE",
            ),
            (
                "add service.example/24 dev eth0",
                "bad address \"service.example\"",
                "IPADDR USAGE",
            ),
            (
                "add 0.0.0.0/0 dev eth0",
                "0.0.0.0 is the unspecified address",
                "IPADDR USAGE",
            ),
            (
                "add 198.18.0.50/24 dev eth0 dev eth1",
                "\"dev\" given twice",
                "IPADDR USAGE",
            ),
            (
                "del 198.18.0.50/24 dev eth0 label eth0:1",
                "\"label\" is for \"ipaddr add\" only",
                "IPADDR USAGE",
            ),
            (
                "add 198.18.0.50/24 dev eth0 label eth1:1",
                "label \"eth1:1\" must be the interface name eth0 or start with \"eth0:\"",
                "IPADDR USAGE",
            ),
            (
                "add 198.18.0.50/24 dev eth0 label eth0:0123456789a",
                "labels are at most 15 bytes",
                "IPADDR USAGE",
            ),
            (
                "add 2001:db8::50/64 dev eth0 label eth0:1",
                "address labels (eth0:1) exist for IPv4 only",
                "IPADDR FAMILY",
            ),
            (
                "add 198.18.0.50/24 dev eth0:1",
                "invalid interface name \"eth0:1\"",
                "IPADDR NOINTERFACE",
            ),
            (
                "add 198.18.0.50/24 dev 0123456789abcdef",
                "invalid interface name",
                "IPADDR NOINTERFACE",
            ),
        ] {
            let (m, c) = parse(bad).expect_err(bad);
            assert!(m.contains(message), "{bad:?}: {m}");
            assert_eq!(c, code, "{bad:?}: {m}");
        }
    }

    #[test]
    fn tcl_errors_carry_the_class_and_can_be_caught() {
        let (m, c) = tcl_error("ipaddr add 198.18.0.50 dev eth0");
        assert!(m.starts_with("missing prefix length"), "{m}");
        assert_eq!(c, "IPADDR USAGE");
        let (m, c) = tcl_error("ipaddr");
        assert_eq!(m, format!("wrong # args: should be \"{USAGE}\""));
        assert_eq!(c, "IPADDR USAGE");
        let mut interp = Interp::new();
        register(&mut interp);
        let out = interp
            .eval_source(
                "proc stopservice {} {\n    if {[catch {ipaddr del 198.18.0.50/40 dev eth0} msg]} {\n        return \"$::errorCode: $msg\"\n    }\n    return FAIL\n}\nstopservice\n",
                "x.tcl",
            )
            .unwrap();
        assert_eq!(
            out,
            "IPADDR USAGE: bad prefix length 40 for 198.18.0.50: an IPv4 prefix is 0 to 32 bits"
        );
    }

    /// An interface that does not exist fails before any change, naming it, without root.
    #[cfg(target_os = "linux")]
    #[test]
    fn unknown_interface_names_it() {
        let (m, c) = tcl_error("ipaddr add 198.18.0.50/24 dev fo-nosuch-if0");
        assert!(m.contains("unknown interface \"fo-nosuch-if0\""), "{m}");
        assert_eq!(c, "IPADDR NOINTERFACE");
        let (m, c) = tcl_error("ipaddr del 2001:db8::50/64 dev fo-nosuch-if0");
        assert!(m.contains("fo-nosuch-if0"), "{m}");
        assert_eq!(c, "IPADDR NOINTERFACE");
    }
}
