//! faild's loop, the part that is the same whatever a runtime waits with: hand one input to
//! the [`Store`], drain its actions in order (persist through the program's hook and feed the
//! result back, send the replies, log the events), and throttle what strangers can make it
//! log. Both runtimes call it, so they behave identically; they only do the I/O around it,
//! with the TCP policy of [`super::faild_limits`].

use super::faild_limits::{Close, Eviction, RefusalLog, TcpLimits};
use crate::community::Communities;
use crate::store::{Peer, ServiceRecord, Store, StoreAction, StoreEvent, StoreInput};
use crate::time::Time;
use core::net::{IpAddr, SocketAddr};
use std::fmt;
use std::io;
use std::time::Duration;

/// Inputs waiting for the loop at most; readers block (and the kernel drops datagrams) beyond.
pub const INPUT_QUEUE_LENGTH: usize = 1024;
/// Largest datagram read; larger ones are truncated by the kernel and then rejected.
pub const DATAGRAM_BUFFER_BYTES: usize = 65_536;
/// The bit that marks a UDP peer's token ([`udp_peer`]); TCP connections count up from 1
/// below it.
pub const UDP_PEER_TOKEN: u64 = 1 << 63;

/// The peer of a datagram from `from`: its token carries the source port, so that a push to
/// a UDP subscriber can go back to where its subscription came from ([`udp_destination`]).
pub fn udp_peer(from: SocketAddr) -> Peer {
    Peer {
        token: UDP_PEER_TOKEN | u64::from(from.port()),
        address: client_address(from.ip()),
    }
}

/// Where a push to `peer` goes on a UDP socket (`v6`: a dual-stack socket, which reaches
/// an IPv4 subscriber at its mapped address); `None` for a TCP peer.
pub fn udp_destination(peer: &Peer, v6: bool) -> Option<SocketAddr> {
    if peer.token & UDP_PEER_TOKEN == 0 {
        return None;
    }
    let port = (peer.token & 0xffff) as u16;
    let address = match peer.address {
        IpAddr::V4(v4) if v6 => IpAddr::V6(v4.to_ipv6_mapped()),
        other => other,
    };
    Some(SocketAddr::new(address, port))
}

/// Where faild listens and how it bounds TCP connections.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaildOptions {
    /// `None`: no UDP (`--no-udp`).
    pub udp: Option<SocketAddr>,
    /// `None`: no TCP (`--no-tcp`).
    pub tcp: Option<SocketAddr>,
    /// How many TCP connections, how long and how large (see [`super::faild_limits`]).
    pub limits: TcpLimits,
}

impl FaildOptions {
    /// UDP and TCP on the same address and port, with the default bounds.
    pub fn on(address: SocketAddr) -> FaildOptions {
        FaildOptions {
            udp: Some(address),
            tcp: Some(address),
            limits: TcpLimits::default(),
        }
    }
}

/// Sockets the program bound before it detached or dropped privileges (so that a port in
/// use or below 1024 is reported to the operator), with the options they were bound for.
/// Generic over the socket types, which the core never touches: the program binds them
/// and a runtime serves them.
#[derive(Debug)]
pub struct Bound<Udp, Tcp> {
    pub udp: Option<Udp>,
    pub tcp: Option<Tcp>,
    pub options: FaildOptions,
}

/// Why the loop ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitReason {
    /// SIGTERM or SIGINT: a clean stop.
    Signal(&'static str),
}

/// Writes the state file.
pub type PersistHook = Box<dyn FnMut(&[ServiceRecord]) -> io::Result<()>>;
/// Re-reads the community file.
pub type ReloadHook = Box<dyn FnMut() -> Result<Communities, String>>;

/// What the program supplies: the effects a runtime cannot know how to do, and the clock.
pub struct FaildHooks {
    /// Writes the whole state (atomically). The store shows and acknowledges a change only
    /// once this succeeded; an error leaves everything as it was and the writer is told why.
    pub persist: PersistHook,
    /// SIGHUP: re-read the community file. An error (already naming file and line) keeps
    /// the communities in force.
    pub reload: ReloadHook,
    /// The store's clock: faild's keeps wall-clock milliseconds so that "since the last
    /// change" survives restarts. Runtimes read it and pass the time in.
    pub clock: fn() -> Time,
    /// Watches the loop from inside it (faild's metrics and systemd watchdog); `None`: nobody.
    pub watcher: Option<Box<dyn LoopWatcher>>,
}

/// What a [`LoopWatcher`] is told, from the loop's own thread, as it happens.
#[derive(Debug)]
pub enum LoopNote<'a> {
    /// A request arrived; `kind` is `query`, `set`, `list` or `malformed` (it did not
    /// decode). Whether it verified shows in the events that follow.
    Request { kind: &'static str },
    /// Every store event, after it was logged.
    Event(&'a StoreEvent),
    /// The state file was written (`ok`), or writing it failed.
    Persisted { ok: bool },
    /// A TCP connection was admitted.
    Admitted,
    /// A TCP connection was closed right after accept: every slot is authenticated.
    Refused,
    /// A TCP connection was closed to make room for a new one.
    Evicted(Eviction),
    /// A TCP connection ended (not counting evictions, noted as such).
    Closed(&'a Close),
    /// A push to a subscriber was handed to the runtime (`docs/protocol.md`, "Push").
    Pushed,
    /// SIGHUP: the community file is about to be re-read.
    Reloading,
    /// The re-read finished; `ok` is false when the file was rejected.
    Reloaded { ok: bool },
}

/// Sees the loop from inside: a loop that hangs stops calling it, which is what a watchdog
/// wants to notice. Every call must return at once.
pub trait LoopWatcher {
    /// How often [`LoopWatcher::tick`] is due at least, even when nothing arrives.
    fn every(&self) -> Duration;
    /// Called by the loop at least every [`LoopWatcher::every`], with the store and the TCP
    /// connections open (all, unauthenticated).
    fn tick(&mut self, now: Time, store: &Store, tcp: (usize, usize));
    fn note(&mut self, note: LoopNote<'_>);
}

impl fmt::Debug for FaildHooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FaildHooks { .. }")
    }
}

/// Sees every store event as it is logged (the simulator's timeline; faild passes none).
pub type EventObserver = Box<dyn FnMut(&StoreEvent)>;

/// The store and the program's effects; every method takes the time it happens at.
pub struct Driver {
    store: Store,
    persist: PersistHook,
    reload: ReloadHook,
    refusals: RefusalLog,
    observer: Option<EventObserver>,
    watcher: Option<Box<dyn LoopWatcher>>,
    next_tick: Option<Time>,
    /// Pushes to subscribers not yet taken by the runtime ([`Driver::take_pushes`]).
    pushes: Vec<(Peer, Vec<u8>)>,
}

impl fmt::Debug for Driver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Driver")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl Driver {
    /// The driver, and the clock the runtime is to pass the time from.
    pub fn new(store: Store, hooks: FaildHooks) -> (Driver, fn() -> Time) {
        let FaildHooks {
            persist,
            reload,
            clock,
            watcher,
        } = hooks;
        (
            Driver {
                store,
                persist,
                reload,
                refusals: RefusalLog::default(),
                observer: None,
                watcher,
                next_tick: None,
                pushes: Vec::new(),
            },
            clock,
        )
    }

    /// The pushes to subscribers that the last calls produced, in order: the runtime sends
    /// each to its peer's TCP connection or UDP source ([`udp_destination`]) after every
    /// call, and drops one it cannot send.
    pub fn take_pushes(&mut self) -> Vec<(Peer, Vec<u8>)> {
        std::mem::take(&mut self.pushes)
    }

    /// Also hands every store event to `observer`, after logging it.
    pub fn observe(&mut self, observer: EventObserver) {
        self.observer = Some(observer);
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// A request from `peer`; `reply` is called for each reply to send.
    pub fn request(
        &mut self,
        now: Time,
        peer: Peer,
        bytes: Vec<u8>,
        reply: &mut dyn FnMut(Peer, Vec<u8>),
    ) {
        if let Some(watcher) = self.watcher.as_mut() {
            let kind = match crate::wire::decode_request(&bytes) {
                Ok(signed) => match signed.message.body {
                    crate::wire::RequestBody::Query { .. } => "query",
                    crate::wire::RequestBody::Set { .. } => "set",
                    crate::wire::RequestBody::List => "list",
                },
                Err(_) => "malformed",
            };
            watcher.note(LoopNote::Request { kind });
        }
        self.store.handle(now, StoreInput::Request { peer, bytes });
        self.drain(now, reply);
        if let Some(summary) = self.refusals.take_summary(now.as_ms()) {
            log::warn!(target: "net", "{summary}");
        }
    }

    /// How long after `now` the store wants [`Driver::timeout`] (a lease runs out), or the
    /// watcher its tick (then `timeout` is harmless); `None`: never.
    pub fn wait(&self, now: Time) -> Option<Duration> {
        let store = self
            .store
            .poll_timeout()
            .map(|deadline| Duration::from_millis(deadline.since_ms(now)));
        let tick = self
            .next_tick
            .map(|at| Duration::from_millis(at.since_ms(now)));
        match (store, tick) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Tells the watcher (if any, when due) how the loop is; runtimes call it after every
    /// input and timeout, with their TCP connections (open, unauthenticated).
    pub fn tick(&mut self, now: Time, tcp: (usize, usize)) {
        let Some(watcher) = self.watcher.as_mut() else {
            return;
        };
        let every = u64::try_from(watcher.every().as_millis()).unwrap_or(u64::MAX);
        // Not due yet (a due time further away than `every` is a clock that went back).
        if self
            .next_tick
            .is_some_and(|at| now < at && at.since_ms(now) <= every)
        {
            return;
        }
        watcher.tick(now, &self.store, tcp);
        self.next_tick = Some(Time(now.as_ms().saturating_add(every.max(1))));
    }

    /// Tells the watcher of something the runtime saw (TCP admissions and closes).
    pub fn note(&mut self, note: LoopNote<'_>) {
        if let Some(watcher) = self.watcher.as_mut() {
            watcher.note(note);
        }
    }

    /// The store's deadline may have passed: leases that ran out turn FAIL.
    pub fn timeout(&mut self, now: Time) {
        self.store.handle(now, StoreInput::Timeout);
        self.drain(now, &mut |_, _| {});
    }

    /// SIGHUP: re-read the communities; a broken file is reported and changes nothing.
    pub fn reload(&mut self, now: Time) {
        self.note(LoopNote::Reloading);
        let result = (self.reload)();
        let ok = result.is_ok();
        match result {
            Ok(communities) => {
                self.store
                    .handle(now, StoreInput::ReplaceCommunities(communities));
                log::info!(target: "config", "SIGHUP: community file re-read");
                self.drain(now, &mut |_, _| {});
            }
            Err(message) => log::error!(
                target: "config",
                "SIGHUP: {message}; keeping the communities in force"
            ),
        }
        self.note(LoopNote::Reloaded { ok });
    }

    fn drain(&mut self, now: Time, reply: &mut dyn FnMut(Peer, Vec<u8>)) {
        while let Some(action) = self.store.poll_action() {
            match action {
                // The store shows and acknowledges a change only once it is on disk; a
                // failed write leaves everything as it was and the writer is told why.
                StoreAction::Persist { token, services } => {
                    let result = (self.persist)(&services).map_err(|e| e.to_string());
                    if let Some(watcher) = self.watcher.as_mut() {
                        watcher.note(LoopNote::Persisted { ok: result.is_ok() });
                    }
                    self.store
                        .handle(now, StoreInput::Persisted { token, result });
                }
                StoreAction::Reply { peer, bytes } => reply(peer, bytes),
                StoreAction::Push { peer, bytes } => {
                    log::debug!(
                        target: "net",
                        "push to {} (connection {})",
                        peer.address,
                        peer.token
                    );
                    self.pushes.push((peer, bytes));
                    if let Some(watcher) = self.watcher.as_mut() {
                        watcher.note(LoopNote::Pushed);
                    }
                }
                StoreAction::Event(event) => {
                    let (mut level, target) = event_level(&event);
                    if let StoreEvent::Refused { from } = event {
                        // Anybody can send these: one warning, then a summary per interval.
                        if let Some(summary) = self.refusals.take_summary(now.as_ms()) {
                            log::warn!(target: "net", "{summary}");
                        }
                        if !self.refusals.refused(now.as_ms(), from) {
                            level = log::Level::Debug;
                        }
                    }
                    log::log!(target: target, level, "{event}");
                    if let Some(observer) = self.observer.as_mut() {
                        observer(&event);
                    }
                    if let Some(watcher) = self.watcher.as_mut() {
                        watcher.note(LoopNote::Event(&event));
                    }
                }
            }
        }
    }
}

/// How much a store event matters, and its facility.
fn event_level(event: &StoreEvent) -> (log::Level, &'static str) {
    match event {
        StoreEvent::Changed { .. } => (log::Level::Info, "store"),
        StoreEvent::Refused { .. } | StoreEvent::Forbidden { .. } => (log::Level::Warn, "net"),
        StoreEvent::BadChallenge { .. } => (log::Level::Info, "net"),
        StoreEvent::LeaseExpired { .. } => (log::Level::Warn, "store"),
        StoreEvent::NotStored { .. } | StoreEvent::PersistFailed { .. } => {
            (log::Level::Error, "store")
        }
        // Anyone can send garbage; logging it by default would let them fill the disk.
        StoreEvent::Malformed { .. } => (log::Level::Debug, "net"),
    }
}

/// The address communities are checked against: an IPv4 client of a dual-stack socket
/// arrives as `::ffff:a.b.c.d` and is shown and matched as `a.b.c.d`.
pub fn client_address(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

/// The log line for a failed accept, with the failures held back since the last one.
pub fn accept_failed(error: &io::Error, held_back: u64) -> String {
    if held_back == 0 {
        format!("accept failed: {error}")
    } else {
        format!("accept failed: {error} ({held_back} more failures since the last report)")
    }
}
