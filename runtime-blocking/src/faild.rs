//! faild's server loop on std threads.
//!
//! Feeder threads (one UDP reader, one TCP acceptor, one reader per TCP connection, one signal
//! thread) turn every input into an [`Input`] on one bounded channel; the loop owns the
//! [`Store`] and does the same three things forever: wait for one input, hand it to the store,
//! drain the store's actions (persist, reply, log). The store never runs on two threads, so it
//! needs no lock, and a full channel makes the readers wait instead of faild growing.
//!
//! The types shared by both runtimes ([`FaildOptions`], [`FaildHooks`], [`Driver`], ...) live
//! here; `failover-runtime-smol` re-exports them, so programs switch runtimes by switching
//! one function call.

use crate::faild_limits::{
    self, Admission, Close, Connections, FrameReader, RefusalLog, TcpLimits, Throttle,
    READ_BUFFER_BYTES,
};
use failover_core::community::Communities;
use failover_core::store::{Peer, ServiceRecord, Store, StoreAction, StoreEvent, StoreInput};
use failover_core::time::Time;
use failover_core::wire;
use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Read};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use crate::faild_limits::{
    DEFAULT_MAX_PER_SOURCE, DEFAULT_MAX_TCP_CONNECTIONS, DEFAULT_MAX_UNAUTHENTICATED,
    DEFAULT_TCP_FRAME_TIMEOUT_MS, DEFAULT_TCP_IDLE_TIMEOUT_MS,
    DEFAULT_TCP_UNAUTHENTICATED_IDLE_TIMEOUT_MS,
};

/// The port faild listens on unless told otherwise (the seed's example uses it).
pub const DEFAULT_PORT: u16 = 1291;
/// Inputs waiting for the loop at most; readers block (and the kernel drops datagrams) beyond.
pub const INPUT_QUEUE_LENGTH: usize = 1024;
/// Largest datagram read; larger ones are truncated by the kernel and then rejected.
const DATAGRAM_BUFFER_BYTES: usize = 65_536;
/// The token bit that marks a UDP peer; TCP connections count up from 1 below it.
const UDP_TOKEN: u64 = 1 << 63;

/// Where faild listens and how it bounds TCP connections.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaildOptions {
    /// `None`: no UDP (`--no-udp`).
    pub udp: Option<SocketAddr>,
    /// `None`: no TCP (`--no-tcp`).
    pub tcp: Option<SocketAddr>,
    /// How many TCP connections, how long and how large (see [`faild_limits`]).
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

/// Sockets bound before faild detaches or drops privileges, so that a port in use or a port
/// below 1024 is reported to the operator and a non-root user can still serve port 1291.
#[derive(Debug)]
pub struct Bound {
    pub udp: Option<UdpSocket>,
    pub tcp: Option<TcpListener>,
    pub options: FaildOptions,
}

impl Bound {
    pub fn udp_address(&self) -> Option<SocketAddr> {
        self.udp.as_ref().and_then(|s| s.local_addr().ok())
    }

    pub fn tcp_address(&self) -> Option<SocketAddr> {
        self.tcp.as_ref().and_then(|s| s.local_addr().ok())
    }
}

/// Binds the sockets of `options`. A port of 0 picks a free port; with both protocols, the
/// TCP port then follows the UDP one so that one port number serves both.
pub fn bind(options: &FaildOptions) -> io::Result<Bound> {
    let udp = match options.udp {
        Some(address) => Some(bind_udp(address)?),
        None => None,
    };
    let tcp = match options.tcp {
        Some(mut address) => {
            if address.port() == 0 {
                if let Some(udp) = &udp {
                    address.set_port(udp.local_addr()?.port());
                }
            }
            Some(bind_tcp(address)?)
        }
        None => None,
    };
    Ok(Bound {
        udp,
        tcp,
        options: options.clone(),
    })
}

fn bind_udp(address: SocketAddr) -> io::Result<UdpSocket> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(address),
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )?;
    if address.is_ipv6() {
        // `-a ::` serves IPv4 clients too, as mapped addresses.
        socket.set_only_v6(false)?;
    }
    // A bigger receive buffer absorbs bursts of polls instead of dropping them.
    let _ = socket.set_recv_buffer_size(1 << 20);
    socket
        .bind(&address.into())
        .map_err(|e| annotate(e, "UDP", address))?;
    Ok(socket.into())
}

fn bind_tcp(address: SocketAddr) -> io::Result<TcpListener> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(address),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    if address.is_ipv6() {
        socket.set_only_v6(false)?;
    }
    // A restarted faild must get its port back while old connections sit in TIME_WAIT.
    socket.set_reuse_address(true)?;
    socket
        .bind(&address.into())
        .map_err(|e| annotate(e, "TCP", address))?;
    socket.listen(128)?;
    Ok(socket.into())
}

fn annotate(error: io::Error, protocol: &str, address: SocketAddr) -> io::Error {
    io::Error::new(
        error.kind(),
        format!("cannot bind {protocol} {address}: {error}"),
    )
}

/// Severity of a log line, in syslog's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Error,
    Warning,
    Notice,
    Info,
    Debug,
}

/// What a log line is about. The names are the facilities of `-d facility` and faildebug
/// (failover-cli's `logging::FACILITIES`), so one facility raises faild's and failsh's lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Topic {
    /// State changes and state file writes.
    Store,
    /// Requests refused, forbidden or malformed; TCP connections; socket errors.
    Net,
    /// Re-reading the community file, signals.
    Config,
}

impl Topic {
    pub const ALL: [Topic; 3] = [Topic::Store, Topic::Net, Topic::Config];

    pub fn name(self) -> &'static str {
        match self {
            Topic::Store => "store",
            Topic::Net => "net",
            Topic::Config => "config",
        }
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
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
/// Writes one log line.
pub type LogHook = Box<dyn FnMut(LogLevel, Topic, &str)>;

/// What the program supplies: the effects the runtime cannot know how to do.
pub struct FaildHooks {
    /// Writes the whole state (atomically) before the reply that acknowledges a change goes
    /// out. An error withholds that reply, so the client sees no acknowledgement.
    pub persist: PersistHook,
    /// SIGHUP: re-read the community file. An error (already naming file and line) keeps
    /// the communities in force.
    pub reload: ReloadHook,
    pub log: LogHook,
    /// The store's clock: faild uses [`wall_clock`] so that "since change" survives restarts.
    pub clock: fn() -> Time,
}

impl fmt::Debug for FaildHooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FaildHooks { .. }")
    }
}

/// Wall-clock milliseconds since the Unix epoch as read at the first call, advanced by the
/// monotonic clock since: "since the last change" survives a restart (the state file holds
/// wall-clock times), and a wall clock stepped while faild runs (NTP, an operator) cannot
/// shorten or stretch a lease.
pub fn wall_clock() -> Time {
    static ANCHOR: std::sync::OnceLock<(std::time::Instant, u64)> = std::sync::OnceLock::new();
    let (start, wall_ms) = *ANCHOR.get_or_init(|| {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        (std::time::Instant::now(), ms)
    });
    let elapsed_ms = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
    Time::from_ms(wall_ms.saturating_add(elapsed_ms))
}

/// The runtime-independent half of the loop: hands one input to the store and drains its
/// actions in order. Both runtimes call it, so they behave identically.
#[derive(Debug)]
pub struct Driver {
    store: Store,
    hooks: FaildHooks,
    refusals: RefusalLog,
}

impl Driver {
    pub fn new(store: Store, hooks: FaildHooks) -> Driver {
        Driver {
            store,
            hooks,
            refusals: RefusalLog::default(),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn log(&mut self, level: LogLevel, topic: Topic, message: &str) {
        (self.hooks.log)(level, topic, message);
    }

    /// A request from `peer`; `reply` is called for each reply to send.
    pub fn request(&mut self, peer: Peer, bytes: Vec<u8>, reply: &mut dyn FnMut(Peer, Vec<u8>)) {
        let now = (self.hooks.clock)();
        self.store.handle(now, StoreInput::Request { peer, bytes });
        self.drain(reply);
        if let Some(summary) = self.refusals.take_summary(now.as_ms()) {
            self.log(LogLevel::Warning, Topic::Net, &summary);
        }
    }

    /// How long until the store wants [`Driver::timeout`] (a lease runs out); `None`: never.
    pub fn wait(&self) -> Option<Duration> {
        let deadline = self.store.poll_timeout()?;
        let now = (self.hooks.clock)();
        Some(Duration::from_millis(deadline.since_ms(now)))
    }

    /// The store's deadline may have passed: leases that ran out turn FAIL.
    pub fn timeout(&mut self) {
        let now = (self.hooks.clock)();
        self.store.handle(now, StoreInput::Timeout);
        self.drain(&mut |_, _| {});
    }

    /// SIGHUP: re-read the communities; a broken file is reported and changes nothing.
    pub fn reload(&mut self) {
        match (self.hooks.reload)() {
            Ok(communities) => {
                let now = (self.hooks.clock)();
                self.store
                    .handle(now, StoreInput::ReplaceCommunities(communities));
                self.log(
                    LogLevel::Notice,
                    Topic::Config,
                    "SIGHUP: community file re-read",
                );
                self.drain(&mut |_, _| {});
            }
            Err(message) => self.log(
                LogLevel::Error,
                Topic::Config,
                &format!("SIGHUP: {message}; keeping the communities in force"),
            ),
        }
    }

    fn drain(&mut self, reply: &mut dyn FnMut(Peer, Vec<u8>)) {
        while let Some(action) = self.store.poll_action() {
            match action {
                // The store shows and acknowledges a change only once it is on disk; a
                // failed write leaves everything as it was and the writer is told why.
                StoreAction::Persist { token, services } => {
                    let result = (self.hooks.persist)(&services).map_err(|e| e.to_string());
                    let now = (self.hooks.clock)();
                    self.store
                        .handle(now, StoreInput::Persisted { token, result });
                }
                StoreAction::Reply { peer, bytes } => reply(peer, bytes),
                StoreAction::Event(event) => {
                    let (mut level, topic) = event_level(&event);
                    if let StoreEvent::Refused { from } = event {
                        // Anybody can send these: one warning, then a summary per
                        // interval (faild_limits::RefusalLog).
                        let now = (self.hooks.clock)().as_ms();
                        if let Some(summary) = self.refusals.take_summary(now) {
                            (self.hooks.log)(LogLevel::Warning, Topic::Net, &summary);
                        }
                        if !self.refusals.refused(now, from) {
                            level = LogLevel::Debug;
                        }
                    }
                    (self.hooks.log)(level, topic, &event.to_string());
                }
            }
        }
    }
}

fn event_level(event: &StoreEvent) -> (LogLevel, Topic) {
    match event {
        StoreEvent::Changed { .. } => (LogLevel::Notice, Topic::Store),
        StoreEvent::Refused { .. } | StoreEvent::Forbidden { .. } => {
            (LogLevel::Warning, Topic::Net)
        }
        StoreEvent::BadChallenge { .. } => (LogLevel::Info, Topic::Net),
        StoreEvent::LeaseExpired { .. } => (LogLevel::Warning, Topic::Store),
        StoreEvent::NotStored { .. } | StoreEvent::PersistFailed { .. } => {
            (LogLevel::Error, Topic::Store)
        }
        // Anyone can send garbage; logging it by default would let them fill the disk.
        StoreEvent::Malformed { .. } => (LogLevel::Debug, Topic::Net),
    }
}

/// The token of every UDP peer: a datagram's reply always goes back to its source, which
/// the loop still holds when the store answers, so the token needs to carry nothing.
pub const UDP_PEER_TOKEN: u64 = UDP_TOKEN;

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

/// The clock of TCP deadlines: milliseconds that only move forward (see [`wall_clock`]).
pub fn tcp_clock_ms() -> u64 {
    wall_clock().as_ms()
}

enum Input {
    Datagram {
        from: SocketAddr,
        bytes: Vec<u8>,
    },
    Accepted {
        stream: TcpStream,
        from: SocketAddr,
    },
    Frame {
        connection: u64,
        from: IpAddr,
        bytes: Vec<u8>,
    },
    Closed {
        connection: u64,
        why: Close,
    },
    Log(LogLevel, Topic, String),
    Signal(i32),
}

/// The loop's side of one TCP connection.
struct Open {
    /// A clone of the reader's socket: replies are written here, and shutting it down ends
    /// the reader.
    stream: TcpStream,
    shared: Arc<Shared>,
    /// One message per frame of this connection faild handled: the reader's credit.
    handled: SyncSender<()>,
}

impl Open {
    /// Closes the connection from the loop: the reader sees the shutdown and ends without
    /// reporting back (the loop has forgotten the connection already).
    fn close(self) {
        self.shared.dropped.store(true, Ordering::SeqCst);
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

/// What the loop and a connection's reader share.
#[derive(Debug, Default)]
struct Shared {
    /// Set once faild sent an authenticated reply; the reader then applies the
    /// authenticated limits.
    authenticated: AtomicBool,
    /// The loop closed the connection (to make room, or the client does not read).
    dropped: AtomicBool,
}

/// Connections accepted but not yet seen by the loop, plus reader threads beyond the open
/// connections (ending ones), before the acceptor waits: a flood of connections closed to
/// make room must not pile up threads (and their stacks, which the C library keeps for
/// reuse, so the most ever alive at once stays resident) faster than they end.
const ENDING_READERS: usize = 8;

/// Reader threads alive, connections open in the loop's table, connections accepted and
/// not yet handed to the table.
#[derive(Debug, Default)]
struct Readers {
    live: AtomicUsize,
    open: AtomicUsize,
    queued: AtomicUsize,
}

impl Readers {
    /// Threads the loop may yet start, or that are ending, beyond the open connections.
    fn pending(&self) -> usize {
        self.live
            .load(Ordering::SeqCst)
            .saturating_sub(self.open.load(Ordering::SeqCst))
            + self.queued.load(Ordering::SeqCst)
    }
}

/// Runs faild until SIGTERM or SIGINT. Installs its signal handlers first.
pub fn serve(bound: Bound, store: Store, hooks: FaildHooks) -> io::Result<ExitReason> {
    let (sender, receiver) = sync_channel::<Input>(INPUT_QUEUE_LENGTH);
    spawn_signal_thread(sender.clone())?;
    let udp_reply = match &bound.udp {
        Some(socket) => Some(socket.try_clone()?),
        None => None,
    };
    if let Some(socket) = bound.udp {
        let sender = sender.clone();
        thread::Builder::new()
            .name("faild-udp".into())
            .spawn(move || udp_reader(socket, sender))?;
    }
    let readers = Arc::new(Readers::default());
    if let Some(listener) = bound.tcp {
        let sender = sender.clone();
        let readers = Arc::clone(&readers);
        thread::Builder::new()
            .name("faild-accept".into())
            .spawn(move || tcp_acceptor(listener, sender, &readers))?;
    }
    let tcp = Tcp {
        table: Connections::new(bound.options.limits),
        open: BTreeMap::new(),
        sender,
        readers,
    };
    run_loop(receiver, Driver::new(store, hooks), udp_reply, tcp)
}

/// The TCP connections the loop serves: the shared policy's table and the sockets.
struct Tcp {
    table: Connections,
    open: BTreeMap<u64, Open>,
    /// For the readers the loop starts.
    sender: SyncSender<Input>,
    readers: Arc<Readers>,
}

impl Tcp {
    /// A new connection: admitted (after closing the one the policy evicts) or refused.
    fn accepted(&mut self, driver: &mut Driver, stream: TcpStream, from: SocketAddr) {
        let source = client_address(from.ip());
        let (connection, evicted) = match self.table.admit(source) {
            Admission::Refused => {
                // Closed right away: every slot is held by an authenticated connection.
                drop(stream);
                driver.log(
                    LogLevel::Debug,
                    Topic::Net,
                    &format!("refused a TCP connection from {from}: every slot is held by an authenticated connection"),
                );
                return;
            }
            Admission::Admitted {
                connection,
                evicted,
            } => (connection, evicted),
        };
        if let Some((victim, why)) = evicted {
            if let Some(open) = self.open.remove(&victim) {
                open.close();
            }
            driver.log(
                LogLevel::Debug,
                Topic::Net,
                &format!(
                    "closed TCP connection {victim} for one from {from}: {}",
                    Close::Evicted(why)
                ),
            );
        }
        if let Err(error) = self.start_reader(connection, stream, from) {
            self.table
                .closed(connection, &Close::Failed(error.to_string()));
            self.open.remove(&connection);
            driver.log(
                LogLevel::Warning,
                Topic::Net,
                &format!("cannot serve a TCP connection from {from}: {error}"),
            );
        }
        self.publish();
    }

    /// Tells the acceptor how many connections are open.
    fn publish(&self) {
        self.readers.open.store(self.open.len(), Ordering::SeqCst);
    }

    fn start_reader(
        &mut self,
        connection: u64,
        stream: TcpStream,
        from: SocketAddr,
    ) -> io::Result<()> {
        let _ = stream.set_nodelay(true);
        let writer = stream.try_clone()?;
        let shared = Arc::new(Shared::default());
        let (handled, credits) = sync_channel(faild_limits::AUTHENTICATED_FRAMES_IN_FLIGHT);
        let limits = *self.table.limits();
        let sender = self.sender.clone();
        let theirs = Arc::clone(&shared);
        let readers = Arc::clone(&self.readers);
        readers.live.fetch_add(1, Ordering::SeqCst);
        let spawned = thread::Builder::new()
            .name(format!("faild-tcp-{connection}"))
            // Readers hold one small buffer each: a small stack keeps many connections cheap.
            .stack_size(128 * 1024)
            .spawn(move || {
                let why = tcp_reader(
                    connection,
                    stream,
                    from.ip(),
                    limits,
                    &theirs.authenticated,
                    &credits,
                    &sender,
                );
                if !theirs.dropped.load(Ordering::SeqCst) {
                    let _ = sender.send(Input::Closed { connection, why });
                }
                readers.live.fetch_sub(1, Ordering::SeqCst);
            });
        if let Err(error) = spawned {
            self.readers.live.fetch_sub(1, Ordering::SeqCst);
            return Err(error);
        }
        self.open.insert(
            connection,
            Open {
                stream: writer,
                shared,
                handled,
            },
        );
        Ok(())
    }

    /// A frame of `connection` (from `from`) for the store; replies go to their connections.
    fn frame(&mut self, driver: &mut Driver, connection: u64, from: IpAddr, bytes: Vec<u8>) {
        let peer = Peer {
            token: connection,
            address: client_address(from),
        };
        let mut not_reading = Vec::new();
        let (table, open) = (&mut self.table, &self.open);
        driver.request(peer, bytes, &mut |peer, bytes| {
            if let Some(connection) = open.get(&peer.token) {
                if table.replied(peer.token, &bytes) {
                    connection
                        .shared
                        .authenticated
                        .store(true, Ordering::SeqCst);
                }
                if !send_without_blocking(&connection.stream, &wire::frame(&bytes)) {
                    not_reading.push(peer.token);
                }
            }
        });
        if let Some(open) = self.open.get(&connection) {
            // Never full: the reader has at most that many frames in flight.
            let _ = open.handled.try_send(());
        }
        for connection in not_reading {
            if let Some(open) = self.open.remove(&connection) {
                open.close();
                self.table.closed(connection, &Close::NotReading);
                driver.log(
                    LogLevel::Info,
                    Topic::Net,
                    &format!("closed TCP connection {connection}: {}", Close::NotReading),
                );
            }
        }
        self.publish();
    }

    fn closed(&mut self, driver: &mut Driver, connection: u64, why: Close) {
        self.table.closed(connection, &why);
        // Connections faild closed itself (evicted, not reading) were logged then.
        if self.open.remove(&connection).is_some() {
            driver.log(
                LogLevel::Debug,
                Topic::Net,
                &format!("TCP connection {connection} closed: {why}"),
            );
        }
        self.publish();
    }

    /// The summary of evictions, refusals and cut-off frames, when one is due.
    fn report(&mut self, driver: &mut Driver) {
        if let Some(line) = self.table.take_report(tcp_clock_ms()) {
            driver.log(LogLevel::Warning, Topic::Net, &line);
        }
    }
}

fn run_loop(
    receiver: Receiver<Input>,
    mut driver: Driver,
    udp: Option<UdpSocket>,
    mut tcp: Tcp,
) -> io::Result<ExitReason> {
    loop {
        // Wait for one input, or until a lease runs out.
        let input = match driver.wait() {
            Some(wait) => match receiver.recv_timeout(wait) {
                Ok(input) => input,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    driver.timeout();
                    continue;
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(io::Error::other("every input of faild closed"))
                }
            },
            None => receiver
                .recv()
                .map_err(|_| io::Error::other("every input of faild closed"))?,
        };
        match input {
            Input::Datagram { from, bytes } => {
                let peer = Peer {
                    token: UDP_PEER_TOKEN,
                    address: client_address(from.ip()),
                };
                driver.request(peer, bytes, &mut |_, bytes| {
                    if let Some(socket) = &udp {
                        // A lost reply is a lost datagram: the client retries.
                        let _ = socket.send_to(&bytes, from);
                    }
                });
            }
            Input::Accepted { stream, from } => {
                tcp.readers.queued.fetch_sub(1, Ordering::SeqCst);
                tcp.accepted(&mut driver, stream, from);
                tcp.report(&mut driver);
            }
            Input::Frame {
                connection,
                from,
                bytes,
            } => tcp.frame(&mut driver, connection, from, bytes),
            Input::Closed { connection, why } => {
                tcp.closed(&mut driver, connection, why);
                tcp.report(&mut driver);
            }
            Input::Log(level, topic, message) => driver.log(level, topic, &message),
            Input::Signal(signal) => match signal {
                signal_hook::consts::SIGHUP => driver.reload(),
                signal_hook::consts::SIGTERM => return Ok(ExitReason::Signal("SIGTERM")),
                _ => return Ok(ExitReason::Signal("SIGINT")),
            },
        }
    }
}

/// Writes a whole reply or reports failure, never waiting: a client whose receive window is
/// full does not read its replies and must not stall faild for everyone else.
fn send_without_blocking(stream: &TcpStream, bytes: &[u8]) -> bool {
    let socket = socket2::SockRef::from(stream);
    matches!(
        socket.send_with_flags(bytes, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL),
        Ok(n) if n == bytes.len()
    )
}

fn spawn_signal_thread(sender: SyncSender<Input>) -> io::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGHUP])?;
    thread::Builder::new()
        .name("faild-signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                if sender.send(Input::Signal(signal)).is_err() {
                    return;
                }
            }
        })?;
    Ok(())
}

fn udp_reader(socket: UdpSocket, sender: SyncSender<Input>) {
    let mut buffer = vec![0u8; DATAGRAM_BUFFER_BYTES];
    loop {
        match socket.recv_from(&mut buffer) {
            Ok((length, from)) => {
                let input = Input::Datagram {
                    from,
                    bytes: buffer[..length].to_vec(),
                };
                if sender.send(input).is_err() {
                    return;
                }
            }
            // ICMP errors of earlier replies and interrupted calls: nothing to do.
            Err(_) => thread::sleep(Duration::from_millis(1)),
        }
    }
}

/// Accepts connections and hands them to the loop, which decides (with the policy) whether
/// to serve them. While more than [`ENDING_READERS`] connections wait for the loop or
/// readers of closed connections have not ended yet, it waits (up to 100 ms) and new
/// connections stay in the kernel's backlog.
fn tcp_acceptor(listener: TcpListener, sender: SyncSender<Input>, readers: &Readers) {
    let mut throttle = Throttle::default();
    loop {
        for _ in 0..100 {
            if readers.pending() <= ENDING_READERS {
                break;
            }
            thread::sleep(Duration::from_millis(1));
        }
        match listener.accept() {
            Ok((stream, from)) => {
                readers.queued.fetch_add(1, Ordering::SeqCst);
                if sender.send(Input::Accepted { stream, from }).is_err() {
                    return;
                }
            }
            Err(error) => {
                // Out of file descriptors, usually: wait instead of spinning, and say so
                // once in a while only.
                if let Some(held_back) = throttle.allow(tcp_clock_ms()) {
                    let message = accept_failed(&error, held_back);
                    if sender
                        .send(Input::Log(LogLevel::Warning, Topic::Net, message))
                        .is_err()
                    {
                        return;
                    }
                }
                thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// The log line for a failed accept (shared with the smol runtime).
pub fn accept_failed(error: &io::Error, held_back: u64) -> String {
    if held_back == 0 {
        format!("accept failed: {error}")
    } else {
        format!("accept failed: {error} ({held_back} more failures since the last report)")
    }
}

/// Reads frames until the peer closes, faild closes the socket, a frame is bad or late or
/// the connection idles out; returns why it ended. Every frame goes to the loop; past the
/// frames in flight allowed, the reader waits for the loop's credit before reading on.
fn tcp_reader(
    connection: u64,
    mut stream: TcpStream,
    from: IpAddr,
    limits: TcpLimits,
    authenticated: &AtomicBool,
    credits: &Receiver<()>,
    sender: &SyncSender<Input>,
) -> Close {
    let mut reader = FrameReader::new(limits, tcp_clock_ms());
    let mut buffer = [0u8; READ_BUFFER_BYTES];
    let mut frames = Vec::new();
    let why = 'connection: loop {
        while credits.try_recv().is_ok() {
            reader.handled(tcp_clock_ms());
        }
        let now = tcp_clock_ms();
        let trusted = authenticated.load(Ordering::SeqCst);
        if let Some(why) = reader.expired(now, trusted) {
            break why;
        }
        let wait = Duration::from_millis(reader.wait_ms(now, trusted));
        if let Err(error) = stream.set_read_timeout(Some(wait)) {
            break Close::Failed(format!("cannot set the read timeout: {error}"));
        }
        let length = match stream.read(&mut buffer) {
            Ok(0) => break Close::ClosedByClient,
            Ok(length) => length,
            Err(error)
                if matches!(
                    error.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) =>
            {
                continue
            }
            Err(error) => break Close::Failed(format!("read failed: {error}")),
        };
        if let Err(why) = reader.push(tcp_clock_ms(), &buffer[..length], trusted, &mut frames) {
            break why;
        }
        for bytes in frames.drain(..) {
            while !reader.may_send(authenticated.load(Ordering::SeqCst)) {
                match credits.recv() {
                    Ok(()) => reader.handled(tcp_clock_ms()),
                    // The loop dropped this connection (closed it to make room).
                    Err(_) => break 'connection Close::Stopping,
                }
            }
            let frame = Input::Frame {
                connection,
                from,
                bytes,
            };
            if sender.send(frame).is_err() {
                break 'connection Close::Stopping;
            }
            reader.sent(tcp_clock_ms(), authenticated.load(Ordering::SeqCst));
        }
    };
    let _ = stream.shutdown(Shutdown::Both);
    why
}
