//! faild's server loop on smol: one thread, one executor.
//!
//! The loop owns the core's [`Driver`] (the store and the program's hooks) and races its
//! inputs: a datagram on the UDP socket, a message from a TCP connection task, a signal. The
//! winner is handed to the store and the store's actions are drained, exactly as in the
//! blocking runtime. Each TCP connection is a task that reads frames and writes the replies
//! the loop queues for it; which connections are served, and how long and large their frames
//! may be, is the core's policy (`failover_core::drive::faild_limits`).

use async_signal::{Signal, Signals};
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
use smol::channel::{self, Receiver, Sender};
use smol::future::FutureExt;
use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::stream::StreamExt;
use smol::{Async, LocalExecutor, Task, Timer};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::rc::Rc;
use std::time::Duration;

/// Replies queued for one TCP connection at most; a client that lets more pile up does not
/// read them and is disconnected.
const REPLIES_QUEUED_PER_CONNECTION: usize = 64;
/// A reply that cannot be written within this long means the client stopped reading.
const TCP_WRITE_TIMEOUT_MS: u64 = 5_000;
/// Connections accepted and not yet seen by the loop, at most.
const ACCEPT_QUEUE_LENGTH: usize = 8;

enum Input {
    Datagram {
        from: SocketAddr,
        length: usize,
    },
    /// A lease of the store may have run out.
    Timeout,
    UdpFailed,
    Tcp(TcpInput),
    Signal(Signal),
}

enum TcpInput {
    Accepted {
        stream: Async<TcpStream>,
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
}

/// The clock of the store and of TCP deadlines.
type Clock = fn() -> Time;

/// The loop's side of one TCP connection.
struct Open {
    /// The connection's task: dropping it (to close the connection) cancels the task at
    /// once, so its memory and socket are given back before the next connection is served.
    task: Task<()>,
    /// Shared with the connection's task.
    stream: Rc<Async<TcpStream>>,
    replies: Sender<Vec<u8>>,
    /// Set once faild sent an authenticated reply; the task then applies the authenticated
    /// limits.
    authenticated: Rc<Cell<bool>>,
    /// One message per frame of this connection faild handled: the task's credit.
    handled: Sender<()>,
}

impl Open {
    /// Closes the connection now: the socket is shut down and the task cancelled.
    fn close(self) {
        let _ = self.stream.get_ref().shutdown(std::net::Shutdown::Both);
        drop(self.task);
    }
}

/// Runs faild until SIGTERM or SIGINT. Installs its signal handlers first.
pub fn serve(
    bound: Bound<UdpSocket, TcpListener>,
    store: Store,
    hooks: FaildHooks,
) -> io::Result<ExitReason> {
    // Connection tasks own everything they use, so the executor can be 'static and shared.
    let executor = Rc::new(LocalExecutor::new());
    let (driver, clock) = Driver::new(store, hooks);
    smol::block_on(executor.run(serve_on(Rc::clone(&executor), bound, driver, clock)))
}

/// The TCP connections the loop serves: the shared policy's table and the sockets.
struct Tcp {
    executor: Rc<LocalExecutor<'static>>,
    table: Connections,
    open: BTreeMap<u64, Open>,
    /// For the tasks the loop starts.
    sender: Sender<TcpInput>,
    clock: Clock,
}

impl Tcp {
    /// A new connection: admitted (after closing the one the policy evicts) or refused.
    fn accepted(&mut self, driver: &mut Driver, stream: Async<TcpStream>, from: SocketAddr) {
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
        let _ = stream.get_ref().set_nodelay(true);
        let stream = Rc::new(stream);
        let authenticated = Rc::new(Cell::new(false));
        // Unbounded, and counted by the loop instead: a bounded channel would allocate all
        // its slots up front for every connection.
        let (replies, reply_receiver) = channel::unbounded();
        let (handled, credits) = channel::bounded(faild_limits::AUTHENTICATED_FRAMES_IN_FLIGHT);
        let task = Connection {
            id: connection,
            stream: Rc::clone(&stream),
            from: from.ip(),
            limits: *self.table.limits(),
            authenticated: Rc::clone(&authenticated),
            replies: reply_receiver,
            credits,
            sender: self.sender.clone(),
            clock: self.clock,
        };
        let task = self.executor.spawn(async move {
            let why = task.serve().await;
            let _ = task.sender.send(TcpInput::Closed { connection, why }).await;
        });
        self.open.insert(
            connection,
            Open {
                task,
                stream,
                replies,
                authenticated,
                handled,
            },
        );
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
                    connection.authenticated.set(true);
                }
                // A closed queue is a connection whose task has ended (the client hung up;
                // its Closed input is on its way): the reply has nowhere to go, and the
                // client is not to blame for not reading it.
                if connection.replies.len() >= REPLIES_QUEUED_PER_CONNECTION
                    || matches!(
                        connection.replies.try_send(bytes),
                        Err(channel::TrySendError::Full(_))
                    )
                {
                    not_reading.push(peer.token);
                }
            }
        });
        if let Some(open) = self.open.get(&connection) {
            // Never full: the task has at most that many frames in flight.
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
    }

    /// A push for the subscriber on `connection`, if it is still open; one its queue has no
    /// room for is dropped (its next poll repairs it).
    fn push(&mut self, connection: u64, bytes: Vec<u8>) {
        if let Some(open) = self.open.get(&connection) {
            if open.replies.len() < REPLIES_QUEUED_PER_CONNECTION {
                let _ = open.replies.try_send(bytes);
            }
        }
    }

    fn closed(&mut self, driver: &mut Driver, connection: u64, why: Close) {
        self.table.closed(connection, &why);
        driver.note(LoopNote::Closed(&why));
        // Connections faild closed itself (evicted, not reading) were logged then.
        if self.open.remove(&connection).is_some() {
            log::debug!(target: "net", "TCP connection {connection} closed: {why}");
        }
    }

    /// The summary of evictions, refusals and cut-off frames, when one is due.
    fn report(&mut self) {
        if let Some(line) = self.table.take_report((self.clock)().as_ms()) {
            log::warn!(target: "net", "{line}");
        }
    }
}

async fn serve_on(
    executor: Rc<LocalExecutor<'static>>,
    bound: Bound<UdpSocket, TcpListener>,
    mut driver: Driver,
    clock: Clock,
) -> io::Result<ExitReason> {
    let mut signals = Signals::new([Signal::Term, Signal::Int, Signal::Hup])?;
    let udp = bound.udp.map(Async::new).transpose()?;
    let (tcp_sender, tcp_receiver) = channel::bounded::<TcpInput>(INPUT_QUEUE_LENGTH);
    // Accepted connections have a short queue of their own: beyond it they wait in the
    // kernel's backlog, not as sockets registered with the reactor in faild's memory.
    let (accept_sender, accepted) = channel::bounded::<TcpInput>(ACCEPT_QUEUE_LENGTH);
    if let Some(listener) = bound.tcp {
        let listener = Async::new(listener)?;
        executor
            .spawn(accept_loop(listener, accept_sender, clock))
            .detach();
    } else {
        drop(accept_sender);
    }
    let mut tcp = Tcp {
        executor,
        table: Connections::new(bound.options.limits),
        open: BTreeMap::new(),
        sender: tcp_sender,
        clock,
    };
    let mut buffer = vec![0u8; DATAGRAM_BUFFER_BYTES];
    let udp_v6 = udp
        .as_ref()
        .and_then(|s| s.get_ref().local_addr().ok())
        .is_some_and(|a| a.is_ipv6());
    loop {
        // What the last input changed, its subscribers hear of at once.
        for (peer, bytes) in driver.take_pushes() {
            match (udp_destination(&peer, udp_v6), &udp) {
                (Some(to), Some(socket)) => {
                    let _ = socket.get_ref().send_to(&bytes, to);
                }
                (Some(_), None) => {}
                (None, _) => tcp.push(peer.token, bytes),
            }
        }
        driver.tick(clock(), (tcp.table.len(), tcp.table.unauthenticated()));
        let wait = driver.wait(clock());
        let input = next_input(
            udp.as_ref(),
            &mut buffer,
            [&tcp_receiver, &accepted],
            &mut signals,
            wait,
        )
        .await;
        match input {
            Input::Timeout => driver.timeout(clock()),
            Input::Datagram { from, length } => {
                let peer = udp_peer(from);
                driver.request(clock(), peer, buffer[..length].to_vec(), &mut |_, bytes| {
                    if let Some(socket) = &udp {
                        // The socket is non-blocking: a full send buffer drops the reply
                        // like a lost datagram, and the client retries.
                        let _ = socket.get_ref().send_to(&bytes, from);
                    }
                });
            }
            Input::UdpFailed => {
                // ICMP errors of earlier replies: nothing to do but not to spin.
                Timer::after(Duration::from_millis(1)).await;
            }
            Input::Tcp(TcpInput::Accepted { stream, from }) => {
                tcp.accepted(&mut driver, stream, from);
                tcp.report();
            }
            Input::Tcp(TcpInput::Frame {
                connection,
                from,
                bytes,
            }) => tcp.frame(&mut driver, connection, from, bytes),
            Input::Tcp(TcpInput::Closed { connection, why }) => {
                tcp.closed(&mut driver, connection, why);
                tcp.report();
            }
            Input::Signal(Signal::Hup) => driver.reload(clock()),
            Input::Signal(Signal::Term) => return Ok(ExitReason::Signal("SIGTERM")),
            Input::Signal(_) => return Ok(ExitReason::Signal("SIGINT")),
        }
        // The connection tasks (which write the replies made above) run only while this
        // loop waits; with inputs always ready (a busy or starved machine: CI saw it at
        // `interval 0.005`) it would not wait, replies would pile up, and the clients would
        // be closed as not reading theirs. One turn for them after every input.
        smol::future::yield_now().await;
    }
}

/// Waits for the first of: a datagram, a TCP connection's message, a signal, the store's
/// deadline (`wait`). `race` picks fairly among ready inputs, so a datagram flood cannot
/// starve TCP clients, SIGTERM or a lease's expiry.
async fn next_input(
    udp: Option<&Async<UdpSocket>>,
    buffer: &mut [u8],
    [tcp, accepted]: [&Receiver<TcpInput>; 2],
    signals: &mut Signals,
    wait: Option<Duration>,
) -> Input {
    let datagram = async {
        match udp {
            Some(socket) => match socket.recv_from(buffer).await {
                Ok((length, from)) => Input::Datagram { from, length },
                Err(_) => Input::UdpFailed,
            },
            None => smol::future::pending().await,
        }
    };
    let connection = async {
        match tcp.recv().await {
            Ok(input) => Input::Tcp(input),
            Err(_) => smol::future::pending().await,
        }
    };
    let accept = async {
        match accepted.recv().await {
            Ok(input) => Input::Tcp(input),
            Err(_) => smol::future::pending().await,
        }
    };
    let signal = async {
        loop {
            match signals.next().await {
                Some(Ok(signal)) => return Input::Signal(signal),
                Some(Err(_)) => continue,
                None => smol::future::pending::<()>().await,
            }
        }
    };
    let deadline = async {
        match wait {
            Some(wait) => {
                Timer::after(wait).await;
                Input::Timeout
            }
            None => smol::future::pending().await,
        }
    };
    smol::future::race(
        smol::future::race(datagram, deadline),
        smol::future::race(smol::future::race(connection, accept), signal),
    )
    .await
}

/// Accepts connections and hands them to the loop, which decides (with the policy) whether
/// to serve them.
async fn accept_loop(listener: Async<TcpListener>, sender: Sender<TcpInput>, clock: Clock) {
    let mut throttle = Throttle::default();
    loop {
        match listener.accept().await {
            Ok((stream, from)) => {
                if sender
                    .send(TcpInput::Accepted { stream, from })
                    .await
                    .is_err()
                {
                    return;
                }
            }
            Err(error) => {
                // Out of file descriptors, usually: wait instead of spinning, and say so
                // once in a while only.
                if let Some(held_back) = throttle.allow(clock().as_ms()) {
                    log::warn!(target: "net", "{}", accept_failed(&error, held_back));
                }
                Timer::after(Duration::from_millis(100)).await;
            }
        }
    }
}

/// A connection's task: what it needs to read frames and write replies.
struct Connection {
    id: u64,
    stream: Rc<Async<TcpStream>>,
    from: IpAddr,
    limits: TcpLimits,
    authenticated: Rc<Cell<bool>>,
    replies: Receiver<Vec<u8>>,
    credits: Receiver<()>,
    sender: Sender<TcpInput>,
    clock: Clock,
}

impl Connection {
    /// Reads frames and writes replies until the peer closes, faild closes the socket, a
    /// frame is bad or late, the connection idles out or stops reading; returns why it
    /// ended.
    async fn serve(&self) -> Close {
        let why = self.read().or(self.write()).await;
        let _ = self.stream.get_ref().shutdown(std::net::Shutdown::Both);
        why
    }

    /// Every frame goes to the loop; past the frames in flight allowed, the task waits for
    /// the loop's credit before reading on.
    async fn read(&self) -> Close {
        let tcp_clock_ms = || (self.clock)().as_ms();
        let mut reader = FrameReader::new(self.limits, tcp_clock_ms());
        let mut buffer = [0u8; READ_BUFFER_BYTES];
        let mut frames = Vec::new();
        let mut stream = &*self.stream;
        loop {
            while self.credits.try_recv().is_ok() {
                reader.handled(tcp_clock_ms());
            }
            let now = tcp_clock_ms();
            let trusted = self.authenticated.get();
            if let Some(why) = reader.expired(now, trusted) {
                return why;
            }
            let wait = Duration::from_millis(reader.wait_ms(now, trusted));
            let read = stream
                .read(&mut buffer)
                .or(async {
                    Timer::after(wait).await;
                    Err(io::ErrorKind::TimedOut.into())
                })
                .await;
            let length = match read {
                Ok(0) => return Close::ClosedByClient,
                Ok(length) => length,
                Err(error)
                    if matches!(
                        error.kind(),
                        io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
                    ) =>
                {
                    continue
                }
                Err(error) => return Close::Failed(format!("read failed: {error}")),
            };
            if let Err(why) = reader.push(tcp_clock_ms(), &buffer[..length], trusted, &mut frames) {
                return why;
            }
            for bytes in frames.drain(..) {
                while !reader.may_send(self.authenticated.get()) {
                    match self.credits.recv().await {
                        Ok(()) => reader.handled(tcp_clock_ms()),
                        // The loop dropped this connection (closed it to make room).
                        Err(_) => return Close::Stopping,
                    }
                }
                let frame = TcpInput::Frame {
                    connection: self.id,
                    from: self.from,
                    bytes,
                };
                if self.sender.send(frame).await.is_err() {
                    return Close::Stopping;
                }
                reader.sent(tcp_clock_ms(), self.authenticated.get());
            }
        }
    }

    async fn write(&self) -> Close {
        let mut writer = &*self.stream;
        while let Ok(reply) = self.replies.recv().await {
            let written = writer
                .write_all(&wire::frame(&reply))
                .or(async {
                    Timer::after(Duration::from_millis(TCP_WRITE_TIMEOUT_MS)).await;
                    Err(io::ErrorKind::TimedOut.into())
                })
                .await;
            if let Err(error) = written {
                return if error.kind() == io::ErrorKind::TimedOut {
                    Close::NotReading
                } else {
                    Close::Failed(format!("write failed: {error}"))
                };
            }
        }
        // The loop dropped this connection.
        Close::Stopping
    }
}
