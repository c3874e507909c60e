//! faild's TCP policy against abuse, as plain data and decisions: which connections faild
//! keeps, which one it closes to make room, how long a frame and an idle connection may
//! take, how large a frame may be and how many frames a connection may have waiting.
//!
//! Both runtimes (`failover-runtime-blocking` with threads, `failover-runtime-smol` with one
//! executor) only do the I/O around it: they ask [`Connections::admit`] on every accepted socket and
//! close what it says, feed every read into a [`FrameReader`] and close the connection when
//! it returns a [`Close`] or its deadline passes, report every reply with
//! [`Connections::replied`] and every end with [`Connections::closed`]. No clock, socket or
//! thread here: times are milliseconds passed in.
//!
//! The policy (documented for operators in `docs/faild.md`, "Bounds"):
//! - A connection is *unauthenticated* until faild sent it an authenticated reply (a
//!   community verified one of its requests). Only unauthenticated connections are ever
//!   closed to make room; a stranger cannot take a slot an authenticated poller holds, and a
//!   poller's new connection always gets a slot (it closes a stranger's).
//! - At most [`TcpLimits::max_unauthenticated`] unauthenticated connections at once, at most
//!   [`TcpLimits::max_per_source`] of them from one source (an IPv4 address or an IPv6 /64).
//!   A new connection beyond the second closes its own source's oldest unauthenticated
//!   connection; beyond the first (or beyond all slots), the oldest unauthenticated
//!   connection of the source that holds the most of them. So a flood from a few sources,
//!   however fast it reconnects, only ever closes its own connections: a poller's new
//!   connection (one from its source) is closed to make room only when at least
//!   `max_unauthenticated` sources hold one each and it is the oldest of them.
//!   A source also gets at most `max_per_source` authenticated connections: beyond, its
//!   connections stay unauthenticated (and may be closed to make room).
//! - When all [`TcpLimits::max_connections`] slots are held by authenticated connections, a
//!   new connection is refused (closed right after accept).
//! - Every frame must arrive whole within [`TcpLimits::frame_timeout_ms`] of its first byte;
//!   between frames a connection may stay silent for
//!   [`TcpLimits::unauthenticated_idle_timeout_ms`], or [`TcpLimits::idle_timeout_ms`] once
//!   authenticated. Trickled bytes do not restart either timer.
//! - An unauthenticated connection's frames are at most [`UNAUTHENTICATED_FRAME_BYTES`] long
//!   and it may have one frame waiting for faild at a time; an authenticated one may send up
//!   to the protocol's 65,000 bytes and have [`AUTHENTICATED_FRAMES_IN_FLIGHT`] waiting. So
//!   the bytes faild buffers for strangers are at most `max_unauthenticated` ×
//!   (2 × 16 KiB + [`READ_BUFFER_BYTES`]).
//! - Evictions, refusals and frames cut off are counted and reported at most once every
//!   [`REPORT_INTERVAL_MS`] ([`Connections::take_report`]), and so are requests no
//!   community verifies ([`RefusalLog`]), so an attack cannot fill a disk with log lines.

use crate::wire::MAX_MESSAGE_BYTES;
use core::net::IpAddr;
use std::collections::BTreeMap;
use std::fmt;

/// An authenticated connection that sends nothing for this long is closed (this also reaps
/// half-open connections whose peer vanished).
pub const DEFAULT_TCP_IDLE_TIMEOUT_MS: u64 = 60_000;
/// An unauthenticated connection that sends nothing for this long is closed.
pub const DEFAULT_TCP_UNAUTHENTICATED_IDLE_TIMEOUT_MS: u64 = 5_000;
/// A frame must arrive whole within this long of its first byte.
pub const DEFAULT_TCP_FRAME_TIMEOUT_MS: u64 = 1_000;
/// Connections served at once.
pub const DEFAULT_MAX_TCP_CONNECTIONS: usize = 256;
/// Unauthenticated connections at once.
pub const DEFAULT_MAX_UNAUTHENTICATED: usize = 64;
/// Unauthenticated (and, separately, authenticated) connections of one source at once.
pub const DEFAULT_MAX_PER_SOURCE: usize = 16;
/// The largest frame an unauthenticated connection may send (a request naming dozens of
/// services fits; a poller's first request is a few hundred bytes).
pub const UNAUTHENTICATED_FRAME_BYTES: usize = 16 * 1024;
/// Frames an unauthenticated connection may have waiting for faild: its next frame is not
/// read before faild handled the previous one.
pub const UNAUTHENTICATED_FRAMES_IN_FLIGHT: usize = 1;
/// Frames an authenticated connection may have waiting (pipelined polls).
pub const AUTHENTICATED_FRAMES_IN_FLIGHT: usize = 8;
/// The most a connection reads from its socket at once. Small, since every connection
/// holds one (on its thread's stack, or in its task) and requests are a few hundred bytes:
/// 1 KiB keeps what hundreds of strangers' connections cost low.
pub const READ_BUFFER_BYTES: usize = 1024;
/// Evictions, refusals and cut-off frames are summed up in one log line at most this often.
pub const REPORT_INTERVAL_MS: u64 = 10_000;

/// The TCP bounds of one faild (its `--tcp-*` and `--max-*` options).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpLimits {
    /// Silence allowed between frames of an authenticated connection.
    pub idle_timeout_ms: u64,
    /// Silence allowed between frames of an unauthenticated connection.
    pub unauthenticated_idle_timeout_ms: u64,
    /// Time allowed for a frame from its first byte to its last.
    pub frame_timeout_ms: u64,
    pub max_connections: usize,
    pub max_unauthenticated: usize,
    pub max_per_source: usize,
}

impl Default for TcpLimits {
    fn default() -> TcpLimits {
        TcpLimits {
            idle_timeout_ms: DEFAULT_TCP_IDLE_TIMEOUT_MS,
            unauthenticated_idle_timeout_ms: DEFAULT_TCP_UNAUTHENTICATED_IDLE_TIMEOUT_MS,
            frame_timeout_ms: DEFAULT_TCP_FRAME_TIMEOUT_MS,
            max_connections: DEFAULT_MAX_TCP_CONNECTIONS,
            max_unauthenticated: DEFAULT_MAX_UNAUTHENTICATED,
            max_per_source: DEFAULT_MAX_PER_SOURCE,
        }
    }
}

impl TcpLimits {
    /// The limits made consistent: every count at least 1, unauthenticated connections at
    /// most all of them, per source at most the unauthenticated ones, every time at least
    /// 1 ms. With these, one eviction always makes room for a new connection.
    pub fn normalized(self) -> TcpLimits {
        let max_connections = self.max_connections.max(1);
        let max_unauthenticated = self.max_unauthenticated.clamp(1, max_connections);
        TcpLimits {
            idle_timeout_ms: self.idle_timeout_ms.max(1),
            unauthenticated_idle_timeout_ms: self.unauthenticated_idle_timeout_ms.max(1),
            frame_timeout_ms: self.frame_timeout_ms.max(1),
            max_connections,
            max_unauthenticated,
            max_per_source: self.max_per_source.clamp(1, max_unauthenticated),
        }
    }

    /// Silence allowed between frames.
    pub fn idle_timeout(&self, authenticated: bool) -> u64 {
        if authenticated {
            self.idle_timeout_ms
        } else {
            self.unauthenticated_idle_timeout_ms
        }
    }
}

/// The largest frame a connection may send.
pub fn frame_limit(authenticated: bool) -> usize {
    if authenticated {
        MAX_MESSAGE_BYTES
    } else {
        UNAUTHENTICATED_FRAME_BYTES
    }
}

/// Frames a connection may have waiting for faild.
pub fn frames_in_flight(authenticated: bool) -> usize {
    if authenticated {
        AUTHENTICATED_FRAMES_IN_FLIGHT
    } else {
        UNAUTHENTICATED_FRAMES_IN_FLIGHT
    }
}

/// Whether faild's reply `bytes` is authenticated: a reply (kind `81`) with flag bit 0 set
/// (`docs/protocol.md`, "Replies"). Only then did a community verify the request.
pub fn reply_is_authenticated(bytes: &[u8]) -> bool {
    bytes.len() > 4 && bytes[..2] == crate::wire::MAGIC && bytes[3] == 0x81 && bytes[4] & 1 == 1
}

/// What limits a source: an IPv4 address, or the /64 of an IPv6 address (one host usually
/// holds a whole /64, so counting single IPv6 addresses would limit nothing).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct SourceKey(IpAddr);

impl SourceKey {
    pub fn of(address: IpAddr) -> SourceKey {
        match address {
            IpAddr::V4(_) => SourceKey(address),
            IpAddr::V6(v6) => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                SourceKey(IpAddr::V6(prefix.into()))
            }
        }
    }
}

impl fmt::Display for SourceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            IpAddr::V4(v4) => write!(f, "{v4}"),
            IpAddr::V6(v6) => write!(f, "{v6}/64"),
        }
    }
}

/// Why a connection was closed to make room for a new one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Eviction {
    /// Its source already had `max_per_source` unauthenticated connections.
    SourceFull,
    /// There were `max_unauthenticated` unauthenticated connections.
    UnauthenticatedFull,
    /// Every slot was taken.
    TableFull,
}

impl Eviction {
    fn short(self) -> &'static str {
        match self {
            Eviction::SourceFull => "source full",
            Eviction::UnauthenticatedFull => "unauthenticated full",
            Eviction::TableFull => "table full",
        }
    }
}

impl fmt::Display for Eviction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Eviction::SourceFull => "its source has the most unauthenticated connections allowed",
            Eviction::UnauthenticatedFull => {
                "the most unauthenticated connections allowed are open"
            }
            Eviction::TableFull => "every connection slot is taken",
        })
    }
}

/// Why a connection ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Close {
    /// The client closed it.
    ClosedByClient,
    /// No frame began within the idle timeout (`ms`).
    Idle { ms: u64, authenticated: bool },
    /// A frame did not arrive whole within the frame timeout.
    FrameTimeout {
        ms: u64,
        received: usize,
        length: Option<usize>,
    },
    /// A frame length above what the connection may send.
    FrameTooLarge { length: usize, limit: usize },
    /// A frame length of 0.
    EmptyFrame,
    /// Closed to make room for a new connection.
    Evicted(Eviction),
    /// The client does not read its replies.
    NotReading,
    /// A socket error.
    Failed(String),
    /// faild is stopping.
    Stopping,
}

impl Close {
    /// A close that points at a client misbehaving (counted in the report).
    fn is_abuse(&self) -> bool {
        matches!(
            self,
            Close::FrameTimeout { .. } | Close::FrameTooLarge { .. } | Close::EmptyFrame
        )
    }
}

impl fmt::Display for Close {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Close::ClosedByClient => f.write_str("closed by the client"),
            Close::Idle { ms, authenticated } => write!(
                f,
                "idle for {ms} ms ({})",
                if *authenticated {
                    "authenticated"
                } else {
                    "unauthenticated"
                }
            ),
            Close::FrameTimeout {
                ms,
                received,
                length,
            } => match length {
                Some(length) => write!(
                    f,
                    "frame not complete {ms} ms after its first byte ({received} of {length} bytes)"
                ),
                None => write!(
                    f,
                    "frame not complete {ms} ms after its first byte ({received} of 4 length bytes)"
                ),
            },
            Close::FrameTooLarge { length, limit } => {
                write!(f, "bad frame: length {length} above {limit}")
            }
            Close::EmptyFrame => f.write_str("bad frame: length 0"),
            Close::Evicted(why) => write!(f, "closed to make room: {why}"),
            Close::NotReading => f.write_str("client does not read its replies"),
            Close::Failed(why) => f.write_str(why),
            Close::Stopping => f.write_str("faild is stopping"),
        }
    }
}

/// What to do with a connection just accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Serve it as `connection`, after closing `evicted` (if any) to make room.
    Admitted {
        connection: u64,
        evicted: Option<(u64, Eviction)>,
    },
    /// Close it: every slot is held by an authenticated connection.
    Refused,
}

#[derive(Clone, Copy, Debug)]
struct Slot {
    source: SourceKey,
    authenticated: bool,
}

#[derive(Clone, Copy, Debug, Default)]
struct SourceCount {
    unauthenticated: usize,
    authenticated: usize,
}

#[derive(Clone, Debug, Default)]
struct Report {
    last_ms: Option<u64>,
    evicted: BTreeMap<Eviction, u64>,
    refused: u64,
    cut_off: u64,
    /// The source with the most evictions, refusals and cut-off frames since the last
    /// report, and how many: the likely attacker.
    by_source: BTreeMap<SourceKey, u64>,
}

/// The table of open TCP connections of one faild: admission, eviction, authentication,
/// per-source counts. Owned by the runtime's loop.
#[derive(Debug)]
pub struct Connections {
    limits: TcpLimits,
    next_id: u64,
    /// By id: ids only grow, so this is oldest first.
    open: BTreeMap<u64, Slot>,
    sources: BTreeMap<SourceKey, SourceCount>,
    unauthenticated: usize,
    report: Report,
}

impl Connections {
    pub fn new(limits: TcpLimits) -> Connections {
        Connections {
            limits: limits.normalized(),
            next_id: 1,
            open: BTreeMap::new(),
            sources: BTreeMap::new(),
            unauthenticated: 0,
            report: Report::default(),
        }
    }

    pub fn limits(&self) -> &TcpLimits {
        &self.limits
    }

    /// Open connections.
    pub fn len(&self) -> usize {
        self.open.len()
    }

    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }

    /// Open unauthenticated connections.
    pub fn unauthenticated(&self) -> usize {
        self.unauthenticated
    }

    pub fn is_authenticated(&self, connection: u64) -> bool {
        self.open.get(&connection).is_some_and(|s| s.authenticated)
    }

    /// A connection from `source` was accepted: serve it (closing the connection named in
    /// the answer first, if any) or refuse it.
    pub fn admit(&mut self, source: IpAddr) -> Admission {
        let key = SourceKey::of(source);
        let counts = self.sources.get(&key).copied().unwrap_or_default();
        let eviction = if counts.unauthenticated >= self.limits.max_per_source {
            Some(Eviction::SourceFull)
        } else if self.unauthenticated >= self.limits.max_unauthenticated {
            Some(Eviction::UnauthenticatedFull)
        } else if self.open.len() >= self.limits.max_connections {
            Some(Eviction::TableFull)
        } else {
            None
        };
        let evicted = match eviction {
            None => None,
            Some(why) => {
                // Its own source's for SourceFull, else the heaviest source's; oldest first.
                let from = match why {
                    Eviction::SourceFull => Some(counts.unauthenticated),
                    _ => self.sources.values().map(|c| c.unauthenticated).max(),
                };
                let victim = self
                    .open
                    .iter()
                    .find(|(_, slot)| {
                        !slot.authenticated
                            && match why {
                                Eviction::SourceFull => slot.source == key,
                                _ => {
                                    self.sources.get(&slot.source).map(|c| c.unauthenticated)
                                        == from
                                }
                            }
                    })
                    .map(|(id, _)| *id);
                match victim {
                    Some(victim) => {
                        self.remove(victim);
                        *self.report.evicted.entry(why).or_default() += 1;
                        *self.report.by_source.entry(key).or_default() += 1;
                        Some((victim, why))
                    }
                    None => {
                        // Only TableFull can find no unauthenticated connection: the other
                        // two count unauthenticated connections that exist.
                        self.report.refused += 1;
                        *self.report.by_source.entry(key).or_default() += 1;
                        return Admission::Refused;
                    }
                }
            }
        };
        let connection = self.next_id;
        self.next_id += 1;
        self.open.insert(
            connection,
            Slot {
                source: key,
                authenticated: false,
            },
        );
        self.sources.entry(key).or_default().unauthenticated += 1;
        self.unauthenticated += 1;
        Admission::Admitted {
            connection,
            evicted,
        }
    }

    /// faild sends `reply` on `connection`. Returns true when this makes the connection
    /// authenticated (its first authenticated reply, and its source holds fewer than
    /// `max_per_source` authenticated connections): the runtime then gives it the longer
    /// idle timeout, the larger frame limit and more frames in flight.
    pub fn replied(&mut self, connection: u64, reply: &[u8]) -> bool {
        if !reply_is_authenticated(reply) {
            return false;
        }
        let Some(slot) = self.open.get_mut(&connection) else {
            return false;
        };
        if slot.authenticated {
            return false;
        }
        let counts = self.sources.entry(slot.source).or_default();
        if counts.authenticated >= self.limits.max_per_source {
            return false;
        }
        counts.authenticated += 1;
        counts.unauthenticated -= 1;
        slot.authenticated = true;
        self.unauthenticated -= 1;
        true
    }

    /// `connection` ended (`why`). Closing an evicted or unknown connection again is fine.
    pub fn closed(&mut self, connection: u64, why: &Close) {
        if why.is_abuse() {
            self.report.cut_off += 1;
            if let Some(slot) = self.open.get(&connection) {
                *self.report.by_source.entry(slot.source).or_default() += 1;
            }
        }
        self.remove(connection);
    }

    fn remove(&mut self, connection: u64) {
        let Some(slot) = self.open.remove(&connection) else {
            return;
        };
        if let Some(counts) = self.sources.get_mut(&slot.source) {
            if slot.authenticated {
                counts.authenticated -= 1;
            } else {
                counts.unauthenticated -= 1;
                self.unauthenticated -= 1;
            }
            if counts.authenticated == 0 && counts.unauthenticated == 0 {
                self.sources.remove(&slot.source);
            }
        }
    }

    /// One log line summing up the evictions, refusals and cut-off frames since the last
    /// one, at most once every [`REPORT_INTERVAL_MS`]: the first at once, the next when
    /// something happens after the interval.
    pub fn take_report(&mut self, now_ms: u64) -> Option<String> {
        let report = &mut self.report;
        let evicted: u64 = report.evicted.values().sum();
        if evicted == 0 && report.refused == 0 && report.cut_off == 0 {
            return None;
        }
        if report
            .last_ms
            .is_some_and(|last| now_ms.saturating_sub(last) < REPORT_INTERVAL_MS)
        {
            return None;
        }
        let mut parts = Vec::new();
        if evicted > 0 {
            let reasons: Vec<String> = report
                .evicted
                .iter()
                .map(|(why, n)| format!("{n} {}", why.short()))
                .collect();
            parts.push(format!(
                "closed {evicted} unauthenticated connections to make room ({})",
                reasons.join(", ")
            ));
        }
        if report.refused > 0 {
            parts.push(format!(
                "refused {} connections (every slot held by authenticated clients)",
                report.refused
            ));
        }
        if report.cut_off > 0 {
            parts.push(format!(
                "closed {} connections for frames too slow, too large or empty",
                report.cut_off
            ));
        }
        let top = report
            .by_source
            .iter()
            .max_by_key(|(source, n)| (**n, std::cmp::Reverse(**source)))
            .map(|(source, n)| format!("; most from {source} ({n})"))
            .unwrap_or_default();
        let since = match report.last_ms {
            Some(last) => format!(" in the last {} s", now_ms.saturating_sub(last) / 1000),
            None => String::new(),
        };
        let line = format!(
            "TCP{since}: {}{top}; {} connections open, {} unauthenticated",
            parts.join("; "),
            self.open.len(),
            self.unauthenticated
        );
        *report = Report {
            last_ms: Some(now_ms),
            ..Report::default()
        };
        Some(line)
    }
}

/// Lets a recurring log line (accept failing, out of file descriptors) through at most once
/// every [`REPORT_INTERVAL_MS`], and says how many were held back in between.
#[derive(Clone, Copy, Debug, Default)]
pub struct Throttle {
    last_ms: Option<u64>,
    held_back: u64,
}

impl Throttle {
    /// `Some(n)`: log now, mentioning the `n` occurrences held back since the last line.
    pub fn allow(&mut self, now_ms: u64) -> Option<u64> {
        if self
            .last_ms
            .is_some_and(|last| now_ms.saturating_sub(last) < REPORT_INTERVAL_MS)
        {
            self.held_back += 1;
            return None;
        }
        self.last_ms = Some(now_ms);
        Some(std::mem::take(&mut self.held_back))
    }
}

/// Sources a [`RefusalLog`] counts one by one at most; more are only counted.
const REFUSAL_SOURCES: usize = 64;

/// The log of refused requests (no community verifies them). Anybody can send those, as
/// fast as they like: the first after a quiet [`REPORT_INTERVAL_MS`] is logged as a
/// warning with its source, the others only at debug level, and summed up in one warning
/// at most every interval.
#[derive(Clone, Debug, Default)]
pub struct RefusalLog {
    last_ms: Option<u64>,
    held_back: u64,
    by_source: BTreeMap<IpAddr, u64>,
}

impl RefusalLog {
    /// A request from `from` was refused at `now_ms`: whether its line is a warning (else
    /// it is logged at debug level and counted).
    pub fn refused(&mut self, now_ms: u64, from: IpAddr) -> bool {
        if self
            .last_ms
            .is_some_and(|last| now_ms.saturating_sub(last) < REPORT_INTERVAL_MS)
        {
            self.held_back += 1;
            if self.by_source.len() < REFUSAL_SOURCES || self.by_source.contains_key(&from) {
                *self.by_source.entry(from).or_default() += 1;
            }
            return false;
        }
        self.last_ms = Some(now_ms);
        true
    }

    /// The summary of the refusals held back, once the interval since the last warning
    /// has passed.
    pub fn take_summary(&mut self, now_ms: u64) -> Option<String> {
        let last = self.last_ms?;
        if self.held_back == 0 || now_ms.saturating_sub(last) < REPORT_INTERVAL_MS {
            return None;
        }
        let top = self
            .by_source
            .iter()
            .max_by_key(|(source, n)| (**n, std::cmp::Reverse(**source)))
            .map(|(source, n)| format!(", most from {source} ({n})"))
            .unwrap_or_default();
        let line = format!(
            "refused {} more requests in the last {} s (no configured community verifies them){top}",
            self.held_back,
            now_ms.saturating_sub(last) / 1000
        );
        *self = RefusalLog {
            last_ms: Some(now_ms),
            ..RefusalLog::default()
        };
        Some(line)
    }
}

mod frames;
pub use frames::FrameReader;

#[cfg(test)]
mod tests;
