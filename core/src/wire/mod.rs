//! The wire protocol between failsh (and failc, failstat) and faild. `docs/protocol.md` is
//! its byte-by-byte specification; a test checks the worked example there.
//!
//! Every request carries a fresh 16-byte nonce and ends in an HMAC-SHA256 keyed by the
//! community, so the community never travels and a forged request is rejected. Every reply
//! repeats its request's nonce under the same key, so an old "UP" cannot be replayed to hide a
//! dead master. A state change must also carry a single-use challenge that faild handed out in
//! an earlier reply, so a captured "set" cannot be replayed either.

use crate::state::State;
mod mac;
use mac::Mac;
use serde::{Deserialize, Serialize};
use std::fmt;

pub const MAGIC: [u8; 2] = *b"FO";
pub const VERSION: u8 = 1;
/// Fits one UDP datagram on every path we care about (loopback, Ethernet with fragmentation).
pub const MAX_MESSAGE_BYTES: usize = 65_000;
pub const MAX_NAME_BYTES: usize = 255;
pub const NONCE_BYTES: usize = 16;
/// The port faild listens on unless told otherwise (the seed's example uses it).
pub const DEFAULT_PORT: u16 = 1291;

/// How a request travels to faild: a datagram, or a length-prefixed frame on a TCP
/// connection ([`frame`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Udp => "udp",
            Protocol::Tcp => "tcp",
        })
    }
}

impl std::str::FromStr for Protocol {
    type Err = String;

    fn from_str(text: &str) -> Result<Protocol, String> {
        match text.to_ascii_lowercase().as_str() {
            "udp" => Ok(Protocol::Udp),
            "tcp" => Ok(Protocol::Tcp),
            _ => Err(format!(
                "\"{text}\" is not a protocol (expected udp or tcp)"
            )),
        }
    }
}
pub const MAC_BYTES: usize = 32;
const REQUEST_HEADER_BYTES: usize = 5 + NONCE_BYTES;
const REPLY_HEADER_BYTES: usize = 5 + NONCE_BYTES + 1 + 8 + 8 + 2;
pub const MIN_REQUEST_BYTES: usize = REQUEST_HEADER_BYTES + MAC_BYTES;

const KIND_QUERY: u8 = 0x01;
const KIND_SET: u8 = 0x02;
const KIND_LIST: u8 = 0x03;
const KIND_REPLY: u8 = 0x81;
const KIND_PUSH: u8 = 0x82;
const FLAG_WANT_CHALLENGE: u8 = 0x01;
/// Set only: a lease (4 bytes, milliseconds) follows the challenge.
const FLAG_LEASE: u8 = 0x02;
/// Set only: a note (a name) follows the challenge and the lease.
const FLAG_NOTE: u8 = 0x04;
/// Set only: a renewal, applied only while the service is UP (an operator's change since
/// is never undone by a renewal that crossed it).
const FLAG_RENEW: u8 = 0x10;
/// Set only: the service was up on the writing host although its record did not say UP (a
/// procedure brought it up under an operator's change): faild counts two changes, so that
/// pollers know it may have announced the address.
const FLAG_WAS_UP: u8 = 0x20;
/// The reply's entries are to carry their details: each service's note and change count.
const FLAG_WANT_DETAILS: u8 = 0x08;
/// Query only: the name of the group member asking follows the services; faild records when
/// it heard that member for each of them and answers with what it recorded (a witness).
const FLAG_MEMBER: u8 = 0x40;
/// Query only: subscribe the sender to pushes about the services named ([`Push`]); its
/// subscription id (16 bytes) follows the services (and the member).
const FLAG_SUBSCRIBE: u8 = 0x80;
const REQUEST_FLAGS: u8 = FLAG_WANT_CHALLENGE
    | FLAG_SUBSCRIBE
    | FLAG_LEASE
    | FLAG_NOTE
    | FLAG_WANT_DETAILS
    | FLAG_RENEW
    | FLAG_WAS_UP
    | FLAG_MEMBER;
const FLAG_AUTHENTICATED: u8 = 0x01;
/// Every entry of the reply ends with its details: its note and its change count.
const FLAG_DETAILS: u8 = 0x02;
/// Every entry of the reply ends with what faild heard from the service's members.
const FLAG_HEARD: u8 = 0x04;
const REPLY_FLAGS: u8 = FLAG_AUTHENTICATED | FLAG_DETAILS | FLAG_HEARD;
/// At most this many members in one entry's record.
pub const MAX_HEARD_MEMBERS: usize = 32;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Nonce(pub [u8; NONCE_BYTES]);

impl fmt::Display for Nonce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub nonce: Nonce,
    /// Ask faild to put a fresh single-use challenge into the reply, for a later Set.
    pub want_challenge: bool,
    /// Ask faild to give each entry of the reply its details: its note (why the state is
    /// what it is) and how often its state changed since faild started.
    pub want_details: bool,
    /// Query only: ask faild to push a doorbell ([`Push`]) to the sender whenever one of the
    /// named services changes, bound to this subscription id (failsh draws one per host
    /// it polls and keeps it: every query renews the same subscription, whichever
    /// connection or source port it came from).
    #[serde(default)]
    pub subscription: Option<Nonce>,
    pub body: RequestBody,
}

impl Request {
    /// A request that asks for neither a challenge nor notes.
    pub fn new(nonce: Nonce, body: RequestBody) -> Request {
        Request {
            nonce,
            want_challenge: false,
            want_details: false,
            subscription: None,
            body,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RequestBody {
    /// The states of the named services (at least one). With `member`, the request comes
    /// from that member of the services' groups: faild records when it heard it, per
    /// service, and each entry of the reply carries what faild heard ([`Heard`]).
    Query {
        services: Vec<String>,
        member: Option<String>,
    },
    /// Set a service's state (creating the service if faild does not know it yet, as the
    /// seed's start script does when it registers every service as FAIL).
    Set {
        service: String,
        state: State,
        backup: Option<String>,
        challenge: u64,
        /// UP only: faild answers FAIL ("lease expired") unless the same state is set again
        /// within this many milliseconds. failsh renews it while the service runs, so that a
        /// dead or hung failsh is replaced while faild itself is alive.
        lease_ms: Option<u32>,
        /// Why the state is what it is ("tracked interface eth0 down"); shown to pollers
        /// that ask for details. `None` clears the note.
        note: Option<String>,
        /// Renew an UP: applied only if the service is UP with a lease, else answered
        /// [`Status::NotRenewed`].
        renew: bool,
        /// The service was up here since its record last said so (a procedure brought it up
        /// under an operator's FAIL and was stopped again): faild counts the write as two
        /// changes (through UP and back) and restarts the change time, so that a host that
        /// holds the service re-announces after this one may have announced.
        was_up: bool,
    },
    /// Every service faild knows, with its state.
    List,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    Ok,
    /// No community of faild's verifies the request: the reply cannot be authenticated.
    Refused,
    /// The community verified but does not grant the access asked for (from that address).
    Forbidden,
    /// A Set whose challenge is unknown, used or expired; the reply carries a fresh one.
    BadChallenge,
    /// The answer would not fit in one message; ask for fewer services.
    TooLarge,
    /// A Set that faild could not write to its state file: nothing changed, on disk or for
    /// pollers. The entry's note says why.
    NotStored,
    /// A renewal of an UP that is no longer UP (an operator changed it, its lease expired):
    /// nothing changed; the entry says what the service is.
    NotRenewed,
}

impl Status {
    fn to_wire(self) -> u8 {
        match self {
            Status::Ok => 0,
            Status::Refused => 1,
            Status::Forbidden => 2,
            Status::BadChallenge => 3,
            Status::TooLarge => 4,
            Status::NotStored => 5,
            Status::NotRenewed => 6,
        }
    }

    fn from_wire(byte: u8) -> Option<Status> {
        Some(match byte {
            0 => Status::Ok,
            1 => Status::Refused,
            2 => Status::Forbidden,
            3 => Status::BadChallenge,
            4 => Status::TooLarge,
            5 => Status::NotStored,
            6 => Status::NotRenewed,
            _ => return None,
        })
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Ok => "ok",
            Status::Refused => "refused (no community of faild verifies the request)",
            Status::Forbidden => "forbidden (the community does not grant this access from here)",
            Status::BadChallenge => "bad challenge (unknown, used or expired)",
            Status::TooLarge => "answer too large for one message",
            Status::NotStored => {
                "not stored (faild could not write its state file; nothing changed)"
            }
            Status::NotRenewed => "not renewed (the service is no longer UP there)",
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub name: String,
    /// `None`: faild does not know this service.
    pub state: Option<State>,
    pub backup: Option<String>,
    pub since_change_ms: u64,
    /// Details, only in replies to requests that asked for them. Why the state is what it
    /// is (`lease expired`, what failsh wrote with it).
    pub note: Option<String>,
    /// How many times the state changed since faild started (with its boot id): a poller
    /// sees a change it missed between two answers (RECOVER -> UP -> RECOVER) exactly,
    /// whatever the clocks and delays.
    pub changes: Option<u32>,
    /// In replies to queries from a member: when faild last heard each member of the
    /// service's group. `None`: faild keeps no record of this service (its table is full),
    /// which proves nothing about anyone.
    pub heard: Option<Heard>,
}

/// What a faild heard from the members of one service's group, as ages at the moment it
/// answered: a receiver turns "age" into "no later than (received - age)" on its own clock.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heard {
    /// How long faild has recorded the service: a member never heard was not heard for at
    /// least this long (and maybe just before, by a faild that has since restarted).
    pub recorded_ms: u64,
    /// (member, milliseconds since faild last heard it), sorted by member.
    pub members: Vec<(String, u64)>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    /// The nonce of the request this answers.
    pub nonce: Nonce,
    /// False only for a Refused reply, which faild cannot sign because no community matched.
    pub authenticated: bool,
    pub status: Status,
    /// Random per faild start, so a restart is visible to pollers.
    pub boot_id: u64,
    pub challenge: Option<u64>,
    /// Whether the entries carry their details (the request asked for them).
    pub with_details: bool,
    /// Whether the entries carry what faild heard from the members (a member asked).
    pub with_heard: bool,
    pub entries: Vec<Entry>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    TooShort { length: usize },
    TooLarge { length: usize },
    BadMagic,
    UnsupportedVersion(u8),
    UnknownKind(u8),
    UnknownFlags(u8),
    Truncated,
    TrailingBytes(usize),
    BadName(&'static str),
    BadState(u8),
    BadStatus(u8),
    UnauthenticatedStatus,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::TooShort { length } => write!(f, "message of {length} bytes is too short"),
            DecodeError::TooLarge { length } => {
                write!(f, "message of {length} bytes exceeds {MAX_MESSAGE_BYTES}")
            }
            DecodeError::BadMagic => f.write_str("not a failover message (bad magic)"),
            DecodeError::UnsupportedVersion(v) => write!(f, "unsupported protocol version {v}"),
            DecodeError::UnknownKind(k) => write!(f, "unknown message kind 0x{k:02x}"),
            DecodeError::UnknownFlags(x) => write!(f, "unknown flags 0x{x:02x}"),
            DecodeError::Truncated => f.write_str("message ends inside a field"),
            DecodeError::TrailingBytes(n) => write!(f, "{n} bytes after the last field"),
            DecodeError::BadName(why) => write!(f, "bad name: {why}"),
            DecodeError::BadState(s) => write!(f, "bad state byte {s}"),
            DecodeError::BadStatus(s) => write!(f, "bad status byte {s}"),
            DecodeError::UnauthenticatedStatus => {
                f.write_str("an unauthenticated reply may only say Refused")
            }
        }
    }
}

impl std::error::Error for DecodeError {}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EncodeError {
    NameTooLong(String),
    EmptyName,
    NoServices,
    TooLarge { length: usize },
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::NameTooLong(name) => {
                write!(f, "name \"{name}\" is longer than {MAX_NAME_BYTES} bytes")
            }
            EncodeError::EmptyName => f.write_str("empty service name"),
            EncodeError::NoServices => f.write_str("a query names at least one service"),
            EncodeError::TooLarge { length } => {
                write!(f, "message of {length} bytes exceeds {MAX_MESSAGE_BYTES}")
            }
        }
    }
}

impl std::error::Error for EncodeError {}

/// A decoded message whose MAC is not yet checked: decoding needs no key, so a receiver can
/// first find out which key applies (faild: each community; failsh: the polled host's).
#[derive(Debug)]
pub struct Signed<'a, T> {
    pub message: T,
    signed: &'a [u8],
    mac: &'a [u8],
}

impl<T> Signed<'_, T> {
    /// Constant-time check of the MAC under `community`.
    pub fn verify(&self, community: &str) -> bool {
        self.verify_keyed(&Key::new(community))
    }

    /// [`Signed::verify`] with a prepared key, which saves hashing the community each time.
    pub fn verify_keyed(&self, key: &Key) -> bool {
        let Ok(expected) = <&[u8; MAC_BYTES]>::try_from(self.mac) else {
            return false;
        };
        let mut mac = key.0.clone();
        mac.update(self.signed);
        mac.verify(expected)
    }
}

/// A community prepared as an HMAC key. HMAC hashes its key into two pad blocks before the
/// message; doing that once per community instead of once per message halves the cost of a
/// small message's MAC on the polling hot path.
#[derive(Clone)]
pub struct Key(Mac);

impl Key {
    pub fn new(community: &str) -> Key {
        Key(new_mac(community))
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print key material.
        f.write_str("Key(..)")
    }
}

fn new_mac(community: &str) -> Mac {
    Mac::new(community.as_bytes())
}

fn seal(mut bytes: Vec<u8>, key: Option<&Key>) -> Vec<u8> {
    match key {
        Some(key) => {
            let mut mac = key.0.clone();
            mac.update(&bytes);
            bytes.extend_from_slice(&mac.finalize());
        }
        None => bytes.extend_from_slice(&[0u8; MAC_BYTES]),
    }
    bytes
}

fn put_name(out: &mut Vec<u8>, name: &str) -> Result<(), EncodeError> {
    if name.len() > MAX_NAME_BYTES {
        return Err(EncodeError::NameTooLong(name.to_string()));
    }
    out.push(name.len() as u8);
    out.extend_from_slice(name.as_bytes());
    Ok(())
}

fn put_required_name(out: &mut Vec<u8>, name: &str) -> Result<(), EncodeError> {
    if name.is_empty() {
        return Err(EncodeError::EmptyName);
    }
    put_name(out, name)
}

pub fn encode_request(request: &Request, community: &str) -> Result<Vec<u8>, EncodeError> {
    encode_request_keyed(request, &Key::new(community))
}

pub fn encode_request_keyed(request: &Request, key: &Key) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(&MAGIC);
    out.push(VERSION);
    out.push(match request.body {
        RequestBody::Query { .. } => KIND_QUERY,
        RequestBody::Set { .. } => KIND_SET,
        RequestBody::List => KIND_LIST,
    });
    let mut flags = 0;
    if request.want_challenge {
        flags |= FLAG_WANT_CHALLENGE;
    }
    if request.want_details {
        flags |= FLAG_WANT_DETAILS;
    }
    if request.subscription.is_some() && matches!(request.body, RequestBody::Query { .. }) {
        flags |= FLAG_SUBSCRIBE;
    }
    if let RequestBody::Query {
        member: Some(_), ..
    } = &request.body
    {
        flags |= FLAG_MEMBER;
    }
    if let RequestBody::Set {
        lease_ms,
        note,
        renew,
        was_up,
        ..
    } = &request.body
    {
        if *was_up {
            flags |= FLAG_WAS_UP;
        }
        if lease_ms.is_some() {
            flags |= FLAG_LEASE;
        }
        if note.is_some() {
            flags |= FLAG_NOTE;
        }
        if *renew {
            flags |= FLAG_RENEW;
        }
    }
    out.push(flags);
    out.extend_from_slice(&request.nonce.0);
    match &request.body {
        RequestBody::Query { services, member } => {
            if services.is_empty() {
                return Err(EncodeError::NoServices);
            }
            let count = u16::try_from(services.len())
                .map_err(|_| EncodeError::TooLarge { length: usize::MAX })?;
            out.extend_from_slice(&count.to_be_bytes());
            for service in services {
                put_required_name(&mut out, service)?;
            }
            if let Some(member) = member {
                put_required_name(&mut out, member)?;
            }
            if let Some(subscription) = &request.subscription {
                out.extend_from_slice(&subscription.0);
            }
        }
        RequestBody::Set {
            service,
            state,
            backup,
            challenge,
            lease_ms,
            note,
            ..
        } => {
            put_required_name(&mut out, service)?;
            out.push(state.to_wire());
            put_name(&mut out, backup.as_deref().unwrap_or(""))?;
            out.extend_from_slice(&challenge.to_be_bytes());
            if let Some(lease_ms) = lease_ms {
                out.extend_from_slice(&lease_ms.to_be_bytes());
            }
            if let Some(note) = note {
                put_name(&mut out, note)?;
            }
        }
        RequestBody::List => {}
    }
    if out.len() + MAC_BYTES > MAX_MESSAGE_BYTES {
        return Err(EncodeError::TooLarge {
            length: out.len() + MAC_BYTES,
        });
    }
    Ok(seal(out, Some(key)))
}

/// Encodes a reply, signed under `community`; `None` only for a Refused reply.
pub fn encode_reply(reply: &Reply, community: Option<&str>) -> Result<Vec<u8>, EncodeError> {
    encode_reply_keyed(reply, community.map(Key::new).as_ref())
}

/// [`encode_reply`] with a prepared key; `None` only for a Refused reply.
pub fn encode_reply_keyed(reply: &Reply, key: Option<&Key>) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::with_capacity(64 + reply.entries.len() * 32);
    out.extend_from_slice(&MAGIC);
    out.push(VERSION);
    out.push(KIND_REPLY);
    let mut flags = if key.is_some() { FLAG_AUTHENTICATED } else { 0 };
    if reply.with_details {
        flags |= FLAG_DETAILS;
    }
    if reply.with_heard {
        flags |= FLAG_HEARD;
    }
    out.push(flags);
    out.extend_from_slice(&reply.nonce.0);
    out.push(reply.status.to_wire());
    out.extend_from_slice(&reply.boot_id.to_be_bytes());
    out.extend_from_slice(&reply.challenge.unwrap_or(0).to_be_bytes());
    let count = u16::try_from(reply.entries.len())
        .map_err(|_| EncodeError::TooLarge { length: usize::MAX })?;
    out.extend_from_slice(&count.to_be_bytes());
    for entry in &reply.entries {
        put_required_name(&mut out, &entry.name)?;
        out.push(entry.state.map_or(0, State::to_wire));
        put_name(&mut out, entry.backup.as_deref().unwrap_or(""))?;
        out.extend_from_slice(&entry.since_change_ms.to_be_bytes());
        if reply.with_details {
            put_name(&mut out, entry.note.as_deref().unwrap_or(""))?;
            out.extend_from_slice(&entry.changes.unwrap_or(0).to_be_bytes());
        }
        if reply.with_heard {
            put_heard(&mut out, entry.heard.as_ref())?;
        }
        if out.len() + MAC_BYTES > MAX_MESSAGE_BYTES {
            return Err(EncodeError::TooLarge {
                length: out.len() + MAC_BYTES,
            });
        }
    }
    Ok(seal(out, key))
}

/// A record: 0 (none), or 1, how long it was kept, the member count and (name, age) pairs.
fn put_heard(out: &mut Vec<u8>, heard: Option<&Heard>) -> Result<(), EncodeError> {
    let Some(heard) = heard else {
        out.push(0);
        return Ok(());
    };
    out.push(1);
    out.extend_from_slice(&heard.recorded_ms.to_be_bytes());
    let members = &heard.members[..heard.members.len().min(MAX_HEARD_MEMBERS)];
    out.push(members.len() as u8);
    for (member, age_ms) in members {
        put_required_name(out, member)?;
        out.extend_from_slice(&age_ms.to_be_bytes());
    }
    Ok(())
}

/// A doorbell faild pushes, unasked, to a subscriber when services it subscribed to change
/// (`docs/protocol.md`, "Push"). It says only which services changed, never their state: the
/// receiver polls them, so every decision still rests on answers to its own queries. It is
/// bound to the subscription (`nonce`: the id the subscribing queries carried) and signed
/// under their community; `seq` grows with every push this faild (`boot_id`) sends, so a
/// copy or an older push is recognised and dropped.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Push {
    pub nonce: Nonce,
    pub boot_id: u64,
    pub seq: u64,
    pub services: Vec<String>,
}

const PUSH_HEADER_BYTES: usize = 5 + NONCE_BYTES + 8 + 8 + 2;

pub fn encode_push_keyed(push: &Push, key: &Key) -> Result<Vec<u8>, EncodeError> {
    if push.services.is_empty() {
        return Err(EncodeError::NoServices);
    }
    let mut out = Vec::with_capacity(PUSH_HEADER_BYTES + MAC_BYTES + push.services.len() * 16);
    out.extend_from_slice(&MAGIC);
    out.push(VERSION);
    out.push(KIND_PUSH);
    out.push(0);
    out.extend_from_slice(&push.nonce.0);
    out.extend_from_slice(&push.boot_id.to_be_bytes());
    out.extend_from_slice(&push.seq.to_be_bytes());
    let count = u16::try_from(push.services.len())
        .map_err(|_| EncodeError::TooLarge { length: usize::MAX })?;
    out.extend_from_slice(&count.to_be_bytes());
    for service in &push.services {
        put_required_name(&mut out, service)?;
    }
    if out.len() + MAC_BYTES > MAX_MESSAGE_BYTES {
        return Err(EncodeError::TooLarge {
            length: out.len() + MAC_BYTES,
        });
    }
    Ok(seal(out, Some(key)))
}

/// Whether a message received from faild is a [`Push`] rather than a reply (its kind byte).
pub fn is_push(bytes: &[u8]) -> bool {
    bytes.len() > 3 && bytes[..2] == MAGIC && bytes[3] == KIND_PUSH
}

mod decode;
pub use decode::{decode_push, decode_reply, decode_request, frame, reply_nonce, StreamDecoder};
