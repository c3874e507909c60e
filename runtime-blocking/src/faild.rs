//! faild's server loop on std threads.
//!
//! Feeder threads (one UDP reader, one TCP acceptor, one reader per TCP connection, one signal
//! thread) turn every input into an [`Input`] on one bounded channel; the loop owns the
//! [`Store`] and does the same three things forever: wait for one input, hand it to the store,
//! drain the store's actions (persist, reply, log). The store never runs on two threads, so it
//! needs no lock, and a full channel makes the readers wait instead of faild growing.
//!
//! What both runtimes share (the [`Driver`] around the store, the TCP policy of
//! `faild_limits`, the options and hooks) is the core's `drive` module: this file only waits
//! and does the I/O.

use failover_core::drive::faild::{
    accept_failed, client_address, udp_destination, udp_peer, Bound, Driver, ExitReason,
    FaildHooks, LoopNote, DATAGRAM_BUFFER_BYTES, INPUT_QUEUE_LENGTH,
};
use failover_core::drive::faild_limits::{
    self, Admission, Close, Connections, FrameReader, TcpLimits, Throttle, READ_BUFFER_BYTES,
};
use failover_core::store::{Peer, Store};
use failover_core::time::Time;
use failover_core::wire;
use std::collections::BTreeMap;
use std::io::{self, Read};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// The clock of TCP deadlines: the store's, in milliseconds (it only moves forward).
type Clock = fn() -> Time;

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
pub fn serve(
    bound: Bound<UdpSocket, TcpListener>,
    store: Store,
    hooks: FaildHooks,
) -> io::Result<ExitReason> {
    share_one_heap();
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
    let (driver, clock) = Driver::new(store, hooks);
    let readers = Arc::new(Readers::default());
    if let Some(listener) = bound.tcp {
        let readers = Arc::clone(&readers);
        let sender = sender.clone();
        thread::Builder::new()
            .name("faild-accept".into())
            .spawn(move || tcp_acceptor(listener, sender, &readers, clock))?;
    }
    let tcp = Tcp {
        table: Connections::new(bound.options.limits),
        open: BTreeMap::new(),
        sender,
        readers,
        clock,
    };
    run_loop(receiver, driver, clock, udp_reply, tcp)
}

/// glibc gives threads that allocate at once heaps of their own (up to eight per core) and
/// rarely hands their freed memory back: with a reader thread per connection, a stranger
/// churning connections that send large frames grew faild by 2.6 MB for good (1.7 MB with
/// one heap, bench/faild_abuse.sh --large-frames). faild allocates little and rarely, so
/// one heap costs it nothing measurable.
#[allow(unsafe_code)]
fn share_one_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a tunable of the C allocator; called before faild starts
    // its threads, and any value is valid for M_ARENA_MAX.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// The TCP connections the loop serves: the shared policy's table and the sockets.
struct Tcp {
    table: Connections,
    open: BTreeMap<u64, Open>,
    /// For the readers the loop starts.
    sender: SyncSender<Input>,
    readers: Arc<Readers>,
    clock: Clock,
}

impl Tcp {
    /// A new connection: admitted (after closing the one the policy evicts) or refused.
    fn accepted(&mut self, driver: &mut Driver, stream: TcpStream, from: SocketAddr) {
        let source = client_address(from.ip());
        let (connection, evicted) = match self.table.admit(source) {
            Admission::Refused => {
                // Closed right away: every slot is held by an authenticated connection.
                drop(stream);
                driver.note(LoopNote::Refused);
                log::debug!(
                    target: "net",
                    "refused a TCP connection from {from}: every slot is held by an authenticated connection"
                );
                return;
            }
            Admission::Admitted {
                connection,
                evicted,
            } => (connection, evicted),
        };
        driver.note(LoopNote::Admitted);
        if let Some((_, why)) = evicted {
            driver.note(LoopNote::Evicted(why));
        }
        if let Some((victim, why)) = evicted {
            if let Some(open) = self.open.remove(&victim) {
                open.close();
            }
            log::debug!(
                target: "net",
                "closed TCP connection {victim} for one from {from}: {}",
                Close::Evicted(why)
            );
        }
        if let Err(error) = self.start_reader(connection, stream, from) {
            self.table
                .closed(connection, &Close::Failed(error.to_string()));
            self.open.remove(&connection);
            log::warn!(target: "net", "cannot serve a TCP connection from {from}: {error}");
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
        let clock = self.clock;
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
                    clock,
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

    /// A push for the subscriber on `connection`, if it is still open; one that does not
    /// fit its send buffer now is dropped (its next poll repairs it).
    fn push(&mut self, connection: u64, bytes: &[u8]) {
        if let Some(open) = self.open.get(&connection) {
            let _ = send_without_blocking(&open.stream, &wire::frame(bytes));
        }
    }

    /// A frame of `connection` (from `from`) for the store; replies go to their connections.
    fn frame(&mut self, driver: &mut Driver, connection: u64, from: IpAddr, bytes: Vec<u8>) {
        let now = (self.clock)();
        let peer = Peer {
            token: connection,
            address: client_address(from),
        };
        let mut not_reading = Vec::new();
        let (table, open) = (&mut self.table, &self.open);
        driver.request(now, peer, bytes, &mut |peer, bytes| {
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
                driver.note(LoopNote::Closed(&Close::NotReading));
                log::info!(
                    target: "net",
                    "closed TCP connection {connection}: {}",
                    Close::NotReading
                );
            }
        }
        self.publish();
    }

    fn closed(&mut self, driver: &mut Driver, connection: u64, why: Close) {
        self.table.closed(connection, &why);
        driver.note(LoopNote::Closed(&why));
        // Connections faild closed itself (evicted, not reading) were logged then.
        if self.open.remove(&connection).is_some() {
            log::debug!(target: "net", "TCP connection {connection} closed: {why}");
        }
        self.publish();
    }

    /// The summary of evictions, refusals and cut-off frames, when one is due.
    fn report(&mut self) {
        if let Some(line) = self.table.take_report((self.clock)().as_ms()) {
            log::warn!(target: "net", "{line}");
        }
    }
}

fn run_loop(
    receiver: Receiver<Input>,
    mut driver: Driver,
    clock: Clock,
    udp: Option<UdpSocket>,
    mut tcp: Tcp,
) -> io::Result<ExitReason> {
    let udp_v6 = udp
        .as_ref()
        .and_then(|s| s.local_addr().ok())
        .is_some_and(|a| a.is_ipv6());
    loop {
        // What the last input changed, its subscribers hear of at once.
        for (peer, bytes) in driver.take_pushes() {
            match (udp_destination(&peer, udp_v6), &udp) {
                (Some(to), Some(socket)) => {
                    let _ = socket.send_to(&bytes, to);
                }
                (Some(_), None) => {}
                (None, _) => tcp.push(peer.token, &bytes),
            }
        }
        driver.tick(clock(), (tcp.table.len(), tcp.table.unauthenticated()));
        // Wait for one input, or until a lease runs out (or the watcher's tick is due).
        let input = match driver.wait(clock()) {
            Some(wait) => match receiver.recv_timeout(wait) {
                Ok(input) => input,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    driver.timeout(clock());
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
                let peer = udp_peer(from);
                driver.request(clock(), peer, bytes, &mut |_, bytes| {
                    if let Some(socket) = &udp {
                        // A lost reply is a lost datagram: the client retries.
                        let _ = socket.send_to(&bytes, from);
                    }
                });
            }
            Input::Accepted { stream, from } => {
                tcp.readers.queued.fetch_sub(1, Ordering::SeqCst);
                tcp.accepted(&mut driver, stream, from);
                tcp.report();
            }
            Input::Frame {
                connection,
                from,
                bytes,
            } => tcp.frame(&mut driver, connection, from, bytes),
            Input::Closed { connection, why } => {
                tcp.closed(&mut driver, connection, why);
                tcp.report();
            }
            Input::Signal(signal) => match signal {
                signal_hook::consts::SIGHUP => driver.reload(clock()),
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
fn tcp_acceptor(listener: TcpListener, sender: SyncSender<Input>, readers: &Readers, clock: Clock) {
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
                if let Some(held_back) = throttle.allow(clock().as_ms()) {
                    log::warn!(target: "net", "{}", accept_failed(&error, held_back));
                }
                thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// Reads frames until the peer closes, faild closes the socket, a frame is bad or late or
/// the connection idles out; returns why it ended. Every frame goes to the loop; past the
/// frames in flight allowed, the reader waits for the loop's credit before reading on.
#[allow(clippy::too_many_arguments)]
fn tcp_reader(
    connection: u64,
    mut stream: TcpStream,
    from: IpAddr,
    limits: TcpLimits,
    authenticated: &AtomicBool,
    credits: &Receiver<()>,
    sender: &SyncSender<Input>,
    clock: Clock,
) -> Close {
    let tcp_clock_ms = || clock().as_ms();
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
