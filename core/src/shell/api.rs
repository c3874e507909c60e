//! What goes into the decision machine and what comes out: inputs, actions, events, and the
//! status the monitor shows.

use crate::state::State;
use crate::time::Time;
use serde::{Deserialize, Serialize};
use std::fmt;

use super::config::{Protocol, ShellConfig};
use crate::wire::Nonce;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct HostId(pub u32);

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ServiceId(pub u32);

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ProcedureId(pub u64);

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProcedureKind {
    Start,
    Stop,
    Reclaim,
    Check,
}

impl ProcedureKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProcedureKind::Start => "start",
            ProcedureKind::Stop => "stop",
            ProcedureKind::Reclaim => "reclaim",
            ProcedureKind::Check => "check",
        }
    }
}

impl fmt::Display for ProcedureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Serializes byte vectors as hex in traces, which keeps them short and readable.
mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        // Traces and the simulator's decision hash serialize every request: no format! per
        // byte.
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut text = String::with_capacity(bytes.len() * 2);
        for b in bytes {
            text.push(char::from(DIGITS[usize::from(b >> 4)]));
            text.push(char::from(DIGITS[usize::from(b & 0x0f)]));
        }
        s.serialize_str(&text)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        if text.len() % 2 != 0 {
            return Err(serde::de::Error::custom("odd number of hex digits"));
        }
        (0..text.len())
            .step_by(2)
            .map(|i| {
                text.get(i..i + 2)
                    .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                    .ok_or_else(|| serde::de::Error::custom("bad hex digit"))
            })
            .collect()
    }
}

/// Everything that can happen to the decision machine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Input {
    /// A deadline from [`Shell::poll_timeout`] may have passed; spurious calls are harmless.
    Timeout,
    /// A reply arrived from some faild (UDP datagram or TCP frame payload).
    Received {
        #[serde(with = "hex_bytes")]
        bytes: Vec<u8>,
    },
    /// A request could not be sent or its connection failed (for example refused): the host
    /// counts as not answering at once instead of at the deadline.
    SendFailed { nonce: Nonce, error: String },
    /// A procedure finished: its returned text, or its error.
    ProcedureDone {
        id: ProcedureId,
        result: Result<String, String>,
    },
    /// SIGTERM: hand services over (stop what is UP, publish FAIL), or with `keep_services`
    /// (`-k`) leave them running as the original did.
    Shutdown { keep_services: bool },
    /// SIGHUP with a configuration that parsed and validated.
    Reconfigure(ShellConfig),
    /// The carrier of an interface (its state when failsh starts, then every change the
    /// kernel reports): `up` is IFF_LOWER_UP (and the interface exists).
    Link { interface: String, up: bool },
    /// Every interface that exists has been reported ([`Input::Link`]): one never reported
    /// does not exist, and counts as down.
    LinksComplete,
    /// The kernel refused to renew the lifetime of a service's addresses
    /// ([`Action::RenewAddresses`]): they expire, so the service must stop here.
    LeaseFailed { service: ServiceId, error: String },
}

/// Where a request goes: a host's faild, how, and at which address. A runtime keeps one
/// transport (a connected UDP socket, a TCP connection) per destination.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Destination {
    /// Shared with the host's entry in the core, so that a send does not copy the name.
    pub host: std::sync::Arc<str>,
    pub protocol: Protocol,
    pub address: core::net::SocketAddr,
}

/// Everything the decision machine asks its runtime to do, in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Send a request to a host's faild, at `to`. The answer is of no use after
    /// `timeout_ms`: a TCP connection that has left a request unanswered that long has
    /// stopped delivering and is replaced, rather than waited behind.
    Send {
        host: HostId,
        to: Destination,
        nonce: Nonce,
        #[serde(with = "hex_bytes")]
        bytes: Vec<u8>,
        #[serde(default)]
        timeout_ms: u64,
    },
    /// Run a procedure of a service; answer with [`Input::ProcedureDone`]. At most one runs
    /// per service at a time.
    RunProcedure {
        id: ProcedureId,
        service: ServiceId,
        kind: ProcedureKind,
        limit_ms: u64,
    },
    /// A procedure ran past its limit: kill it (and its children). Its late result is ignored.
    KillProcedure {
        id: ProcedureId,
    },
    /// Renew, to `lifetime_s` seconds from now, the kernel lifetime of every address the
    /// service's procedures added with `ipaddr` (and have not removed). A failure comes back
    /// as [`Input::LeaseFailed`].
    RenewAddresses {
        service: ServiceId,
        lifetime_s: u32,
    },
    /// The local faild acknowledged the service's UP with its lease, now. A procedure may
    /// add an address under the lease only while the last of these is younger than the
    /// lease: a failsh that was stopped (SIGSTOP, a frozen VM) in the middle of a start must
    /// not add the address after faild let the UP lapse and another host took over.
    LeaseConfirmed {
        service: ServiceId,
    },
    /// The service left this host and another host has it now (or a SIGTERM handover
    /// stops waiting for one): reset the TCP connections whose local address is one of
    /// `addresses`, so that their clients reconnect to the new holder at once. The address
    /// is no longer here: the runtime makes each client speak (to the new holder, which
    /// resets the connection) and destroys the local socket.
    ResetConnections {
        service: ServiceId,
        addresses: Vec<core::net::IpAddr>,
        reason: String,
    },
    Event(Event),
    /// The handover is done (or gave up): the program may exit.
    Exit,
}

/// What happened and why, for logs, failtrap and monitors.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    StateChanged {
        service: String,
        from: Option<State>,
        to: State,
        reason: String,
    },
    ProcedureStarted {
        service: String,
        kind: ProcedureKind,
        id: ProcedureId,
        reason: String,
    },
    ProcedureFinished {
        service: String,
        kind: ProcedureKind,
        id: ProcedureId,
        outcome: String,
    },
    /// The reason the service is left as it is changed (logged once, not every interval).
    Decision {
        service: String,
        reason: String,
    },
    HostReachable {
        host: String,
    },
    HostUnreachable {
        host: String,
        reason: String,
    },
    HostRestarted {
        host: String,
    },
    /// A host's faild pushed a change of these services (verified, in order): they are
    /// read from it now rather than at their next round.
    Pushed {
        host: String,
        services: Vec<String>,
    },
    BadReply {
        host: String,
        error: String,
    },
    WriteFailed {
        service: String,
        reason: String,
    },
    HandoverComplete {
        complete: bool,
        detail: String,
    },
    /// A tracked interface's carrier changed.
    Link {
        interface: String,
        up: bool,
    },
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::StateChanged {
                service,
                from,
                to,
                reason,
            } => {
                let from = from.map_or("UNKNOWN", State::as_str);
                write!(f, "service {service}: {from} -> {to}: {reason}")
            }
            Event::ProcedureStarted {
                service,
                kind,
                id,
                reason,
            } => write!(f, "service {service}: running {kind} (#{}): {reason}", id.0),
            Event::ProcedureFinished {
                service,
                kind,
                id,
                outcome,
            } => write!(f, "service {service}: {kind} (#{}) {outcome}", id.0),
            Event::Decision { service, reason } => write!(f, "service {service}: {reason}"),
            Event::HostReachable { host } => write!(f, "host {host} answers"),
            Event::HostUnreachable { host, reason } => {
                write!(f, "host {host} does not answer: {reason}")
            }
            Event::HostRestarted { host } => write!(f, "host {host}: its faild restarted"),
            Event::Pushed { host, services } => write!(
                f,
                "host {host} pushed a change of {}: reading it now",
                services.join(", ")
            ),
            Event::BadReply { host, error } => write!(f, "host {host}: bad reply: {error}"),
            Event::WriteFailed { service, reason } => write!(
                f,
                "service {service}: cannot write its state to the local faild: {reason}"
            ),
            Event::Link { interface, up } => {
                let state = if *up { "up" } else { "down" };
                write!(f, "tracked interface {interface} is {state}")
            }
            Event::HandoverComplete { complete, detail } => {
                if *complete {
                    write!(f, "handover complete: {detail}")
                } else {
                    write!(f, "handover incomplete: {detail}")
                }
            }
        }
    }
}

/// A host as the monitor shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostStatus {
    pub name: String,
    pub protocol: Protocol,
    pub reachable: Option<bool>,
    pub last_contact: Option<Time>,
}

/// A service as the monitor shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceStatus {
    pub name: String,
    pub state: Option<State>,
    pub last_change: Option<Time>,
    pub reason: String,
    pub decision: String,
    pub interval_ms: u64,
    /// Each master with the state it counts as now.
    pub masters: Vec<(String, State)>,
    pub slaves: Vec<(String, State)>,
    pub procedure: Option<ProcedureKind>,
    /// Each tracked interface with its carrier (`None`: not reported yet).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub track: Vec<(String, Option<bool>)>,
    /// The lease (kernel lifetime of the addresses) and when it was last renewed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_renewed: Option<Time>,
}

/// One other member of a witnessed service's group, as the monitor and the metrics show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberContact {
    pub name: String,
    /// `master`, `slave` or `witness`.
    pub role: String,
    /// Its faild answered us within the contact window (`misses × interval + timeout`).
    pub in_contact: bool,
}

/// The quorum of a witnessed service (`failsvc S witness`), as the monitor shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuorumStatus {
    pub service: String,
    /// This host, its masters and slaves, and the witnesses.
    pub group: usize,
    pub members: Vec<MemberContact>,
    /// In contact with more than half of the group, this host included: it may hold the
    /// service (rules W1, W2).
    pub majority: bool,
}
