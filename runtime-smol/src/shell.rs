//! The failsh loop on smol: drain the core's actions, race one input against the core's
//! deadline (`Timer::at`), hand it to the core, repeat. The loop itself is the core's
//! [`ShellDriver`]; this module only does the waiting and the sockets, as tasks on one
//! thread.

use failover_core::drive::shell::{
    connect_timeout, DueDeadline, InFlight, Message, ProcedureCompletion, ShellDriver, ShellHandle,
    ShellHooks, ShellOptions,
};
use failover_core::shell::{Destination, Input, ProcedureId, Protocol};
use failover_core::time::Time;
use failover_core::wire::{self, Nonce, StreamDecoder};
use smol::channel::{self, Receiver, Sender};
use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::{future, Async, LocalExecutor, Task, Timer};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The requests in flight on one transport; its tasks run on the loop's thread.
type Requests = Rc<RefCell<InFlight<Instant>>>;

/// The failsh loop, built but not yet running.
#[derive(Debug)]
pub struct ShellRunner {
    options: ShellOptions,
    tx: Sender<Message>,
    rx: Receiver<Message>,
}

impl ShellRunner {
    pub fn new(options: ShellOptions) -> ShellRunner {
        let (tx, rx) = channel::unbounded();
        ShellRunner { options, tx, rx }
    }

    pub fn handle(&self) -> ShellHandle {
        let tx = self.tx.clone();
        ShellHandle::new(move |control| tx.try_send(Message::Control(control)).is_ok())
    }

    /// Runs until the core says Exit (after a Shutdown). Fails only if the configuration is
    /// refused by the core.
    pub fn run<H: ShellHooks>(self, hooks: H) -> io::Result<()> {
        let executor = Rc::new(LocalExecutor::new());
        let inner = executor.clone();
        smol::block_on(executor.run(async move { self.run_loop(hooks, inner).await }))
    }

    async fn run_loop<H: ShellHooks>(
        self,
        mut hooks: H,
        executor: Rc<LocalExecutor<'static>>,
    ) -> io::Result<()> {
        let start = Instant::now();
        let now = || Time(u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX));
        let mut shell = ShellDriver::new(self.options, now())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.0))?;
        let mut transports = Transports {
            tx: self.tx.clone(),
            executor,
            udp: BTreeMap::new(),
            tcp: BTreeMap::new(),
        };
        let mut due = DueDeadline::default();
        loop {
            if shell.perform(now(), &mut hooks, &mut transports) {
                return Ok(());
            }
            // Wait for one input, or exactly until the core's next deadline (or the hooks').
            // Inputs already received go before a due deadline (`DueDeadline`).
            let message = match shell.wake_at(now(), &hooks) {
                Some((at, for_core)) => {
                    let woke = if at <= now() {
                        due.first(|| self.rx.try_recv().ok())
                    } else {
                        let deadline = start + Duration::from_millis(at.as_ms());
                        let received = async { Some(self.rx.recv().await.ok()) };
                        let timer = async {
                            Timer::at(deadline).await;
                            None
                        };
                        match future::or(received, timer).await {
                            Some(Some(message)) => Some(message),
                            Some(None) => return Ok(()),
                            None => {
                                // The reactor may have woken the timer and a reader in the
                                // same turn, the timer first: the reader forwards its answer
                                // before the deadline is handled.
                                smol::future::yield_now().await;
                                due.first(|| self.rx.try_recv().ok())
                            }
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
                None => match self.rx.recv().await {
                    Ok(message) => message,
                    Err(_) => return Ok(()),
                },
            };
            shell.handle(now(), message, &mut hooks, &mut transports);
            // The reader and writer tasks run only while this loop waits; when deadlines are
            // always due (a starved machine at `interval 0.005`) it would not, and answers
            // would wait in the sockets until they counted as misses. One turn for them
            // after every input.
            smol::future::yield_now().await;
        }
    }
}

/// One connected UDP socket or persistent TCP connection per destination, with its reader
/// task; dropping a transport cancels its tasks.
struct Transports {
    tx: Sender<Message>,
    executor: Rc<LocalExecutor<'static>>,
    udp: BTreeMap<Destination, UdpTransport>,
    tcp: BTreeMap<Destination, TcpTransport>,
}

struct UdpTransport {
    socket: Arc<Async<UdpSocket>>,
    in_flight: Requests,
    _reader: Task<()>,
}

struct TcpTransport {
    queue: Sender<(Nonce, Vec<u8>, Instant)>,
    _writer: Task<()>,
}

fn fail_all(in_flight: &Requests, tx: &Sender<Message>, error: &str) {
    for input in in_flight.borrow_mut().fail_all(error) {
        let _ = tx.try_send(Message::Input(input));
    }
}

impl failover_core::drive::shell::Transports for Transports {
    fn input(&self, input: Input) {
        let _ = self.tx.try_send(Message::Input(input));
    }

    fn retain(&mut self, keep: &BTreeSet<Destination>) {
        self.udp.retain(|to, _| keep.contains(to));
        self.tcp.retain(|to, _| keep.contains(to));
    }

    fn completion(&self, id: ProcedureId) -> ProcedureCompletion {
        let tx = self.tx.clone();
        ProcedureCompletion::new(id, move |input| {
            // Nobody waits for a result once failsh is exiting.
            let _ = tx.try_send(Message::Input(input));
        })
    }

    fn send(&mut self, to: &Destination, nonce: Nonce, bytes: Vec<u8>, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        match to.protocol {
            Protocol::Udp => {
                if !self.udp.contains_key(to) {
                    match self.open_udp(to.address) {
                        Ok(t) => {
                            self.udp.insert(to.clone(), t);
                        }
                        Err(e) => return self.fail(nonce, format!("cannot open UDP socket: {e}")),
                    }
                }
                if let Some(t) = self.udp.get(to) {
                    t.in_flight.borrow_mut().sent(nonce, deadline);
                    // A datagram either fits the socket buffer now or is lost like on the wire.
                    if let Err(e) = t.socket.get_ref().send(&bytes) {
                        self.fail(nonce, e.to_string());
                    }
                }
            }
            Protocol::Tcp => {
                if !self.tcp.contains_key(to) {
                    let (queue, requests) = channel::unbounded();
                    let writer = self.executor.spawn(tcp_writer(
                        to.address,
                        requests,
                        self.tx.clone(),
                        self.executor.clone(),
                    ));
                    self.tcp.insert(
                        to.clone(),
                        TcpTransport {
                            queue,
                            _writer: writer,
                        },
                    );
                }
                if let Some(t) = self.tcp.get(to) {
                    if t.queue.try_send((nonce, bytes, deadline)).is_err() {
                        self.fail(nonce, "connection task ended".into());
                    }
                }
            }
        }
    }
}

impl Transports {
    /// A UDP socket connected to one faild, so that ICMP errors (port unreachable: faild is
    /// not running) come back as errors and the host counts as silent at once.
    fn open_udp(&self, address: SocketAddr) -> io::Result<UdpTransport> {
        let socket = UdpSocket::bind(unspecified_local(address))?;
        socket.connect(address)?;
        let socket = Arc::new(Async::new(socket)?);
        let in_flight = Requests::default();
        let (reader, r, tx) = (socket.clone(), in_flight.clone(), self.tx.clone());
        let task = self.executor.spawn(async move {
            let mut buffer = vec![0u8; 65_536];
            loop {
                match reader.recv(&mut buffer).await {
                    Ok(n) => {
                        let bytes = buffer[..n].to_vec();
                        r.borrow_mut().answered(&bytes);
                        if tx
                            .send(Message::Input(Input::Received { bytes }))
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => fail_all(&r, &tx, &e.to_string()),
                }
            }
        });
        Ok(UdpTransport {
            socket,
            in_flight,
            _reader: task,
        })
    }
}

struct Connection {
    stream: Arc<Async<TcpStream>>,
    in_flight: Requests,
    reader: Task<()>,
}

/// Owns the connection to one faild: (re)connects on demand, writes frames, and keeps a
/// reader task per connection that forwards the replies and reports a broken connection.
/// A connection that left a request unanswered well past its time (`STALL_GRACE`) has
/// stopped delivering (the peer's link was cut, its retransmissions back off for seconds)
/// and is replaced; a connect never takes longer than the request it is for may wait.
async fn tcp_writer(
    address: SocketAddr,
    requests: Receiver<(Nonce, Vec<u8>, Instant)>,
    tx: Sender<Message>,
    executor: Rc<LocalExecutor<'static>>,
) {
    let mut connection: Option<Connection> = None;
    let fail = |nonce: Nonce, error: String| {
        let _ = tx.try_send(Message::Input(Input::SendFailed { nonce, error }));
    };
    while let Ok((nonce, bytes, deadline)) = requests.recv().await {
        let now = Instant::now();
        if connection
            .as_ref()
            .is_some_and(|c| c.reader.is_finished() || c.in_flight.borrow().stalled(now))
        {
            // Dropping the reader task and the stream ends the old connection.
            if let Some(old) = connection.take() {
                fail_all(
                    &old.in_flight,
                    &tx,
                    &format!("connection to {address} stopped delivering"),
                );
                let _ = old.stream.get_ref().shutdown(std::net::Shutdown::Both);
            }
        }
        // Short attempts until the request's deadline (see CONNECT_TIMEOUT); a refusal or
        // an unreachable host is an answer, not a reason to try again.
        while connection.is_none() {
            let left = deadline.checked_duration_since(Instant::now());
            let Some(timeout) = connect_timeout(left) else {
                fail(nonce, format!("no connection to {address} in time"));
                break;
            };
            let connect = async { Async::<TcpStream>::connect(address).await };
            let timer = async {
                Timer::after(timeout).await;
                Err(io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))
            };
            match future::or(connect, timer).await {
                Ok(stream) => {
                    // A poll is one small frame: send it now rather than wait for Nagle.
                    let _ = stream.get_ref().set_nodelay(true);
                    let stream = Arc::new(stream);
                    let in_flight = Requests::default();
                    let reader = executor.spawn(tcp_reader(
                        address,
                        stream.clone(),
                        in_flight.clone(),
                        tx.clone(),
                    ));
                    connection = Some(Connection {
                        stream,
                        in_flight,
                        reader,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {}
                Err(e) => {
                    fail(nonce, format!("cannot connect to {address}: {e}"));
                    break;
                }
            }
        }
        let Some(c) = connection.as_ref() else {
            continue;
        };
        c.in_flight.borrow_mut().sent(nonce, deadline);
        if let Err(e) = (&*c.stream).write_all(&wire::frame(&bytes)).await {
            fail_all(
                &c.in_flight,
                &tx,
                &format!("connection to {address} failed: {e}"),
            );
            connection = None;
        }
    }
}

async fn tcp_reader(
    address: SocketAddr,
    stream: Arc<Async<TcpStream>>,
    in_flight: Requests,
    tx: Sender<Message>,
) {
    let mut decoder = StreamDecoder::new();
    let mut buffer = vec![0u8; 16_384];
    let error = loop {
        match (&*stream).read(&mut buffer).await {
            Ok(0) => break "connection closed by faild".to_string(),
            Ok(n) => {
                decoder.push(&buffer[..n]);
                loop {
                    match decoder.next_message() {
                        Ok(Some(bytes)) => {
                            in_flight.borrow_mut().answered(&bytes);
                            if tx
                                .send(Message::Input(Input::Received { bytes }))
                                .await
                                .is_err()
                            {
                                return;
                            }
                        }
                        Ok(None) => break,
                        Err(e) => {
                            fail_all(&in_flight, &tx, &format!("bad frame: {e}"));
                            return;
                        }
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => break e.to_string(),
        }
    };
    fail_all(
        &in_flight,
        &tx,
        &format!("connection to {address}: {error}"),
    );
}

/// The wildcard address of `address`'s family, to bind a socket that then connects to it.
fn unspecified_local(address: SocketAddr) -> SocketAddr {
    if address.is_ipv4() {
        SocketAddr::from(([0, 0, 0, 0], 0))
    } else {
        SocketAddr::from(([0u16; 8], 0))
    }
}
