//! The failsh loop on std threads: drain the core's actions, wait for ONE input or the core's
//! deadline (feeder threads write into one channel, the loop waits with `recv_timeout`), hand
//! it to the core, repeat. The loop itself is the core's [`ShellDriver`]; this module only
//! does the waiting and the sockets.

use failover_core::drive::shell::{
    connect_timeout, DueDeadline, InFlight, Message, ProcedureCompletion, ShellDriver, ShellHandle,
    ShellHooks, ShellOptions,
};
use failover_core::shell::{Destination, Input, ProcedureId, Protocol};
use failover_core::time::Time;
use failover_core::wire::{self, Nonce, StreamDecoder};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Reader threads look this often whether their transport was dropped.
const READER_POLL: Duration = Duration::from_millis(500);

type Requests = Arc<Mutex<InFlight<Instant>>>;

fn lock(in_flight: &Requests) -> std::sync::MutexGuard<'_, InFlight<Instant>> {
    in_flight.lock().unwrap_or_else(|e| e.into_inner())
}

/// The failsh loop, built but not yet running.
#[derive(Debug)]
pub struct ShellRunner {
    options: ShellOptions,
    tx: Sender<Message>,
    rx: Receiver<Message>,
}

impl ShellRunner {
    pub fn new(options: ShellOptions) -> ShellRunner {
        let (tx, rx) = mpsc::channel();
        ShellRunner { options, tx, rx }
    }

    pub fn handle(&self) -> ShellHandle {
        let tx = Mutex::new(self.tx.clone());
        ShellHandle::new(move |control| {
            tx.lock()
                .unwrap_or_else(|e| e.into_inner())
                .send(Message::Control(control))
                .is_ok()
        })
    }

    /// Runs until the core says Exit (after a Shutdown). Fails only if the configuration is
    /// refused by the core.
    pub fn run<H: ShellHooks>(self, mut hooks: H) -> io::Result<()> {
        let start = Instant::now();
        let now = || Time(u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX));
        let mut shell = ShellDriver::new(self.options, now())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.0))?;
        let mut transports = Transports::new(self.tx);
        let mut due = DueDeadline::default();
        loop {
            if shell.perform(now(), &mut hooks, &mut transports) {
                return Ok(());
            }
            // Wait for one input, or exactly until the core's next deadline (or the hooks').
            // Inputs already received go before a due deadline (`DueDeadline`).
            let message = match shell.wake_at(now(), &hooks) {
                Some((at, for_core)) => {
                    let wait = at.as_ms().saturating_sub(now().as_ms());
                    let woke = if wait == 0 {
                        due.first(|| self.rx.try_recv().ok())
                    } else {
                        match self.rx.recv_timeout(Duration::from_millis(wait)) {
                            Ok(message) => Some(message),
                            Err(RecvTimeoutError::Timeout) => due.first(|| self.rx.try_recv().ok()),
                            Err(RecvTimeoutError::Disconnected) => return Ok(()),
                        }
                    };
                    match (woke, for_core) {
                        (Some(message), _) => message,
                        (None, true) => Message::Input(Input::Timeout),
                        (None, false) => {
                            shell.idle(now(), &mut hooks);
                            continue;
                        }
                    }
                }
                None => match self.rx.recv() {
                    Ok(message) => message,
                    Err(_) => return Ok(()),
                },
            };
            shell.handle(now(), message, &mut hooks, &mut transports);
        }
    }
}

/// One connection (TCP) or connected socket (UDP) per destination, created on first use.
struct Transports {
    tx: Sender<Message>,
    udp: BTreeMap<Destination, UdpTransport>,
    tcp: BTreeMap<Destination, TcpTransport>,
}

impl Transports {
    fn new(tx: Sender<Message>) -> Transports {
        Transports {
            tx,
            udp: BTreeMap::new(),
            tcp: BTreeMap::new(),
        }
    }
}

impl failover_core::drive::shell::Transports for Transports {
    fn input(&self, input: Input) {
        let _ = self.tx.send(Message::Input(input));
    }

    fn retain(&mut self, keep: &BTreeSet<Destination>) {
        self.udp.retain(|to, _| keep.contains(to));
        self.tcp.retain(|to, _| keep.contains(to));
    }

    fn completion(&self, id: ProcedureId) -> ProcedureCompletion {
        let tx = self.tx.clone();
        ProcedureCompletion::new(id, move |input| {
            // Nobody waits for a result once failsh is exiting.
            let _ = tx.send(Message::Input(input));
        })
    }

    fn send(&mut self, to: &Destination, nonce: Nonce, bytes: Vec<u8>, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        match to.protocol {
            Protocol::Udp => {
                if !self.udp.contains_key(to) {
                    match UdpTransport::open(to.address, self.tx.clone()) {
                        Ok(t) => {
                            self.udp.insert(to.clone(), t);
                        }
                        Err(e) => return self.fail(nonce, format!("cannot open UDP socket: {e}")),
                    }
                }
                if let Some(t) = self.udp.get(to) {
                    lock(&t.in_flight).sent(nonce, deadline);
                    if let Err(e) = t.socket.send(&bytes) {
                        self.fail(nonce, e.to_string());
                    }
                }
            }
            Protocol::Tcp => {
                if !self.tcp.contains_key(to) {
                    match TcpTransport::start(to.address, self.tx.clone()) {
                        Ok(t) => {
                            self.tcp.insert(to.clone(), t);
                        }
                        Err(e) => {
                            let error = format!("cannot start the connection thread: {e}");
                            log::error!(target: "net", "{}: {error}", to.address);
                            return self.fail(nonce, error);
                        }
                    }
                }
                if let Some(t) = self.tcp.get(to) {
                    if t.queue.send((nonce, bytes, deadline)).is_err() {
                        self.fail(nonce, "connection thread ended".into());
                    }
                }
            }
        }
    }
}

fn fail_all(in_flight: &Requests, tx: &Sender<Message>, error: &str) {
    for input in lock(in_flight).fail_all(error) {
        let _ = tx.send(Message::Input(input));
    }
}

/// A UDP socket connected to one faild, so that ICMP errors (port unreachable: faild is not
/// running) come back as errors and the host counts as silent at once.
struct UdpTransport {
    socket: UdpSocket,
    in_flight: Requests,
    closed: Arc<AtomicBool>,
}

impl UdpTransport {
    fn open(address: SocketAddr, tx: Sender<Message>) -> io::Result<UdpTransport> {
        let socket = UdpSocket::bind(unspecified_local(address))?;
        socket.connect(address)?;
        socket.set_read_timeout(Some(READER_POLL))?;
        let reader = socket.try_clone()?;
        let in_flight = Requests::default();
        let closed = Arc::new(AtomicBool::new(false));
        let (r, c) = (in_flight.clone(), closed.clone());
        thread::Builder::new()
            .name(format!("udp {address}"))
            .spawn(move || {
                let mut buffer = vec![0u8; 65_536];
                while !c.load(Ordering::Relaxed) {
                    match reader.recv(&mut buffer) {
                        Ok(n) => {
                            let bytes = buffer[..n].to_vec();
                            lock(&r).answered(&bytes);
                            if tx.send(Message::Input(Input::Received { bytes })).is_err() {
                                return;
                            }
                        }
                        Err(e)
                            if matches!(
                                e.kind(),
                                io::ErrorKind::WouldBlock
                                    | io::ErrorKind::TimedOut
                                    | io::ErrorKind::Interrupted
                            ) => {}
                        Err(e) => fail_all(&r, &tx, &e.to_string()),
                    }
                }
            })?;
        Ok(UdpTransport {
            socket,
            in_flight,
            closed,
        })
    }
}

impl Drop for UdpTransport {
    fn drop(&mut self) {
        self.closed.store(true, Ordering::Relaxed);
    }
}

/// A persistent TCP connection to one faild, owned by a writer thread that (re)connects on
/// demand; a reader thread per connection forwards the reply frames.
struct TcpTransport {
    queue: Sender<(Nonce, Vec<u8>, Instant)>,
}

impl TcpTransport {
    fn start(address: SocketAddr, tx: Sender<Message>) -> io::Result<TcpTransport> {
        let (queue, requests) = mpsc::channel::<(Nonce, Vec<u8>, Instant)>();
        thread::Builder::new()
            .name(format!("tcp {address}"))
            .spawn(move || tcp_writer(address, requests, tx))?;
        Ok(TcpTransport { queue })
    }
}

struct Connection {
    stream: TcpStream,
    in_flight: Requests,
    dead: Arc<AtomicBool>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        // Wakes the reader, which then reports what was still in flight.
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}

fn tcp_writer(
    address: SocketAddr,
    requests: Receiver<(Nonce, Vec<u8>, Instant)>,
    tx: Sender<Message>,
) {
    let mut connection: Option<Connection> = None;
    let fail = |nonce: Nonce, error: String| {
        let _ = tx.send(Message::Input(Input::SendFailed { nonce, error }));
    };
    // Ends when the transport is dropped (reconfiguration or exit).
    while let Ok((nonce, bytes, deadline)) = requests.recv() {
        let now = Instant::now();
        // A connection that left a request unanswered well past its time (`STALL_GRACE`)
        // has stopped delivering (the peer's link was cut, its retransmissions back off for
        // seconds): a new one gets through as soon as the path is back.
        if connection
            .as_ref()
            .is_some_and(|c| c.dead.load(Ordering::Relaxed) || lock(&c.in_flight).stalled(now))
        {
            connection = None;
        }
        // Short attempts until the request's deadline (see CONNECT_TIMEOUT); a refusal or
        // an unreachable host is an answer, not a reason to try again.
        while connection.is_none() {
            let left = deadline.checked_duration_since(Instant::now());
            let Some(timeout) = connect_timeout(left) else {
                fail(nonce, format!("no connection to {address} in time"));
                break;
            };
            match tcp_connect(address, timeout, &tx) {
                Ok(c) => connection = Some(c),
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {}
                Err(e) => {
                    fail(nonce, format!("cannot connect to {address}: {e}"));
                    break;
                }
            }
        }
        let Some(c) = connection.as_mut() else {
            continue;
        };
        lock(&c.in_flight).sent(nonce, deadline);
        if let Err(e) = c.stream.write_all(&wire::frame(&bytes)) {
            c.dead.store(true, Ordering::Relaxed);
            fail_all(
                &c.in_flight,
                &tx,
                &format!("connection to {address} failed: {e}"),
            );
            connection = None;
        }
    }
}

fn tcp_connect(
    address: SocketAddr,
    timeout: Duration,
    tx: &Sender<Message>,
) -> io::Result<Connection> {
    let stream = TcpStream::connect_timeout(&address, timeout)?;
    // A poll is one small frame: send it now rather than wait for Nagle.
    stream.set_nodelay(true)?;
    let mut reader = stream.try_clone()?;
    let in_flight = Requests::default();
    let dead = Arc::new(AtomicBool::new(false));
    let (r, d, tx) = (in_flight.clone(), dead.clone(), tx.clone());
    thread::Builder::new()
        .name(format!("tcp reader {address}"))
        .spawn(move || {
            let mut decoder = StreamDecoder::new();
            let mut buffer = vec![0u8; 16_384];
            let error = loop {
                match reader.read(&mut buffer) {
                    Ok(0) => break "connection closed by faild".to_string(),
                    Ok(n) => {
                        decoder.push(&buffer[..n]);
                        loop {
                            match decoder.next_message() {
                                Ok(Some(bytes)) => {
                                    lock(&r).answered(&bytes);
                                    if tx.send(Message::Input(Input::Received { bytes })).is_err() {
                                        return;
                                    }
                                }
                                Ok(None) => break,
                                Err(e) => {
                                    d.store(true, Ordering::Relaxed);
                                    fail_all(&r, &tx, &format!("bad frame: {e}"));
                                    return;
                                }
                            }
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => break e.to_string(),
                }
            };
            d.store(true, Ordering::Relaxed);
            fail_all(&r, &tx, &format!("connection to {address}: {error}"));
        })?;
    Ok(Connection {
        stream,
        in_flight,
        dead,
    })
}

/// The wildcard address of `address`'s family, to bind a socket that then connects to it.
fn unspecified_local(address: SocketAddr) -> SocketAddr {
    if address.is_ipv4() {
        SocketAddr::from(([0, 0, 0, 0], 0))
    } else {
        SocketAddr::from(([0u16; 8], 0))
    }
}
