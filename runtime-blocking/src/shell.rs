//! The failsh loop on std threads: drain the core's actions, wait for ONE input or the core's
//! deadline (feeder threads write into one channel, the loop waits with `recv_timeout`), hand
//! it to the core, repeat.
//!
//! Sockets live here; procedures, logs, traps, traces and the monitor belong to the program,
//! which plugs them in through [`ShellHooks`]. The smol runtime has the same API.

use crate::shell_loop::{self, connect_timeout, unspecified_local, InFlight, Message, ShellLoop};
use failover_core::shell::{
    Action, Event, Input, ProcedureId, ProcedureKind, Protocol, Shell, ShellConfig,
};
use failover_core::time::Time;
use failover_core::wire::{self, Nonce, StreamDecoder};
use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Reader threads look this often whether their transport was dropped.
const READER_POLL: Duration = Duration::from_millis(500);

/// What failsh starts with: the core's configuration, each host's faild address, and the
/// seed of the core's PRNG (recorded in traces).
#[derive(Clone, Debug)]
pub struct ShellOptions {
    pub config: ShellConfig,
    pub addresses: BTreeMap<String, SocketAddr>,
    pub seed: u64,
}

/// Commands from outside the loop (signal handlers).
#[derive(Clone, Debug)]
pub enum Control {
    /// SIGTERM: hand over (or with `keep_services`, leave services running) and exit.
    Shutdown { keep_services: bool },
    /// SIGHUP with a configuration that parsed and validated.
    Reconfigure {
        config: ShellConfig,
        addresses: BTreeMap<String, SocketAddr>,
    },
    /// SIGINT: call [`ShellHooks::dump`] with the current state.
    Dump,
    /// The kernel reported the carrier of an interface (at start, then every change).
    Link { interface: String, up: bool },
    /// Every existing interface has been reported once.
    LinksComplete,
}

/// The program's side of the loop. Every method runs on the loop's thread and must not block:
/// procedures run elsewhere and report through their [`ProcedureCompletion`].
pub trait ShellHooks: Send + 'static {
    /// Called with every input the core was given, at the time it was given, and the actions
    /// it answered with, before they are performed (for `--record`).
    fn handled(&mut self, now: Time, input: &Input, actions: &[Action]);
    /// Start a procedure; `done.finish(result)` must be called exactly once, from any thread.
    fn run_procedure(
        &mut self,
        now: Time,
        service: &str,
        kind: ProcedureKind,
        limit_ms: u64,
        done: ProcedureCompletion,
    );
    /// The core gave up on a procedure (past its limit); its late result will be ignored.
    fn kill_procedure(&mut self, now: Time, id: ProcedureId);
    /// Renews the kernel lifetime of every address the service's procedures added with
    /// `ipaddr` to `lifetime_s` seconds from now. An error stops the service.
    fn renew_addresses(&mut self, now: Time, service: &str, lifetime_s: u32) -> Result<(), String>;
    fn event(&mut self, now: Time, shell: &Shell, event: &Event);
    /// After every input has been handled and its actions performed.
    fn after_input(&mut self, now: Time, shell: &Shell);
    fn dump(&mut self, now: Time, shell: &Shell);
    /// Problems of the runtime itself (a socket that cannot be created, ...).
    fn log(&mut self, now: Time, message: &str);
}

type InputSink = Box<dyn FnOnce(Input) + Send>;
type ControlSink = Arc<dyn Fn(Control) -> bool + Send + Sync>;

/// Hands a procedure's result back to the loop (of either runtime).
pub struct ProcedureCompletion {
    id: ProcedureId,
    sink: InputSink,
}

impl std::fmt::Debug for ProcedureCompletion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ProcedureCompletion(#{})", self.id.0)
    }
}

impl ProcedureCompletion {
    /// For runtimes: `sink` delivers the [`Input::ProcedureDone`] into the loop.
    pub fn new(id: ProcedureId, sink: impl FnOnce(Input) + Send + 'static) -> ProcedureCompletion {
        ProcedureCompletion {
            id,
            sink: Box::new(sink),
        }
    }

    pub fn id(&self) -> ProcedureId {
        self.id
    }

    pub fn finish(self, result: Result<String, String>) {
        (self.sink)(Input::ProcedureDone {
            id: self.id,
            result,
        });
    }
}

/// Sends [`Control`] commands into a running loop (of either runtime), from any thread.
#[derive(Clone)]
pub struct ShellHandle {
    sink: ControlSink,
}

impl std::fmt::Debug for ShellHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ShellHandle")
    }
}

impl ShellHandle {
    /// For runtimes: `sink` delivers the command and says whether the loop still runs.
    pub fn new(sink: impl Fn(Control) -> bool + Send + Sync + 'static) -> ShellHandle {
        ShellHandle {
            sink: Arc::new(sink),
        }
    }

    /// False when the loop has ended.
    pub fn control(&self, control: Control) -> bool {
        (self.sink)(control)
    }
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
        let mut shell = ShellLoop::new(self.options)?;
        let mut transports = Transports::new(self.tx);
        loop {
            if shell.perform(&mut hooks, &mut transports) {
                return Ok(());
            }
            let now = shell.now();
            for error in transports.take_errors() {
                hooks.log(now, &error);
            }
            // Wait for one input, or exactly until the core's next deadline.
            let message = match shell.deadline() {
                Some(at) => {
                    let now = shell.now();
                    if at <= now {
                        Message::Input(Input::Timeout)
                    } else {
                        let wait = Duration::from_millis(at.since_ms(now));
                        match self.rx.recv_timeout(wait) {
                            Ok(message) => message,
                            Err(RecvTimeoutError::Timeout) => Message::Input(Input::Timeout),
                            Err(RecvTimeoutError::Disconnected) => return Ok(()),
                        }
                    }
                }
                None => match self.rx.recv() {
                    Ok(message) => message,
                    Err(_) => return Ok(()),
                },
            };
            shell.handle(message, &mut hooks, &mut transports);
        }
    }
}

/// One connection (TCP) or connected socket (UDP) per host, created on first use.
struct Transports {
    tx: Sender<Message>,
    udp: BTreeMap<String, UdpTransport>,
    tcp: BTreeMap<String, TcpTransport>,
    errors: Arc<Mutex<Vec<String>>>,
}

impl Transports {
    fn new(tx: Sender<Message>) -> Transports {
        Transports {
            tx,
            udp: BTreeMap::new(),
            tcp: BTreeMap::new(),
            errors: Arc::new(Mutex::new(Vec::new())),
        }
    }

    fn take_errors(&self) -> Vec<String> {
        std::mem::take(&mut *self.errors.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl shell_loop::Transports for Transports {
    fn input(&self, input: Input) {
        let _ = self.tx.send(Message::Input(input));
    }

    fn retain_hosts(&mut self, keep: &dyn Fn(&str) -> bool) {
        self.udp.retain(|name, _| keep(name));
        self.tcp.retain(|name, _| keep(name));
    }

    fn completion(&self, id: ProcedureId) -> ProcedureCompletion {
        let tx = self.tx.clone();
        ProcedureCompletion::new(id, move |input| {
            // Nobody waits for a result once failsh is exiting.
            let _ = tx.send(Message::Input(input));
        })
    }

    fn send(
        &mut self,
        host: &str,
        protocol: Protocol,
        address: SocketAddr,
        nonce: Nonce,
        bytes: Vec<u8>,
        timeout: Duration,
    ) {
        let deadline = Instant::now() + timeout;
        match protocol {
            Protocol::Udp => {
                if !self.udp.contains_key(host) {
                    match UdpTransport::open(address, self.tx.clone()) {
                        Ok(t) => {
                            self.udp.insert(host.to_string(), t);
                        }
                        Err(e) => return self.fail(nonce, format!("cannot open UDP socket: {e}")),
                    }
                }
                if let Some(t) = self.udp.get(host) {
                    t.in_flight.sent(nonce, deadline);
                    if let Err(e) = t.socket.send(&bytes) {
                        self.fail(nonce, e.to_string());
                    }
                }
            }
            Protocol::Tcp => {
                let t = self.tcp.entry(host.to_string()).or_insert_with(|| {
                    TcpTransport::start(address, self.tx.clone(), self.errors.clone())
                });
                if t.queue.send((nonce, bytes, deadline)).is_err() {
                    self.fail(nonce, "connection thread ended".into());
                }
            }
        }
    }
}

fn fail_all(in_flight: &InFlight, tx: &Sender<Message>, error: &str) {
    for input in in_flight.fail_all(error) {
        let _ = tx.send(Message::Input(input));
    }
}

/// A UDP socket connected to one faild, so that ICMP errors (port unreachable: faild is not
/// running) come back as errors and the host counts as silent at once.
struct UdpTransport {
    socket: UdpSocket,
    in_flight: Arc<InFlight>,
    closed: Arc<AtomicBool>,
}

impl UdpTransport {
    fn open(address: SocketAddr, tx: Sender<Message>) -> io::Result<UdpTransport> {
        let socket = UdpSocket::bind(unspecified_local(address))?;
        socket.connect(address)?;
        socket.set_read_timeout(Some(READER_POLL))?;
        let reader = socket.try_clone()?;
        let in_flight = Arc::new(InFlight::default());
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
                            r.answered(&bytes);
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
    fn start(
        address: SocketAddr,
        tx: Sender<Message>,
        errors: Arc<Mutex<Vec<String>>>,
    ) -> TcpTransport {
        let (queue, requests) = mpsc::channel::<(Nonce, Vec<u8>, Instant)>();
        let spawned = thread::Builder::new()
            .name(format!("tcp {address}"))
            .spawn(move || tcp_writer(address, requests, tx));
        if let Err(e) = spawned {
            errors
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(format!("cannot start connection thread for {address}: {e}"));
        }
        TcpTransport { queue }
    }
}

struct Connection {
    stream: TcpStream,
    in_flight: Arc<InFlight>,
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
        // A connection that left a request unanswered past its time has stopped delivering
        // (the peer's link was cut, its retransmissions back off for seconds): a new one
        // gets through as soon as the path is back.
        if connection
            .as_ref()
            .is_some_and(|c| c.dead.load(Ordering::Relaxed) || c.in_flight.overdue(now))
        {
            connection = None;
        }
        if connection.is_none() {
            let Some(timeout) = connect_timeout(deadline, now) else {
                fail(nonce, format!("no connection to {address} in time"));
                continue;
            };
            match tcp_connect(address, timeout, &tx) {
                Ok(c) => connection = Some(c),
                Err(e) => {
                    fail(nonce, format!("cannot connect to {address}: {e}"));
                    continue;
                }
            }
        }
        let Some(c) = connection.as_mut() else {
            continue;
        };
        c.in_flight.sent(nonce, deadline);
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
    let in_flight = Arc::new(InFlight::default());
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
                                    r.answered(&bytes);
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
