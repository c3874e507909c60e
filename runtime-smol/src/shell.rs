//! The failsh loop on smol: drain the core's actions, race one input against the core's
//! deadline (`Timer::at`), hand it to the core, repeat.
//!
//! The program-facing types are those of the blocking runtime, so that failsh plugs the same
//! hooks into either loop; only [`ShellRunner`] differs.

pub use failover_runtime_blocking::shell::{
    Control, ProcedureCompletion, ShellHandle, ShellHooks, ShellOptions,
};

use failover_core::shell::{Action, Input, Protocol, Shell};
use failover_core::time::Time;
use failover_core::wire::{self, Nonce, StreamDecoder};
use smol::channel::{self, Receiver, Sender};
use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::{future, Async, LocalExecutor, Task, Timer};
use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a TCP connect may take before the request counts as failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Nonces remembered per transport, to report them failed when the connection breaks; the
/// core ignores the ones already answered.
const RECENT_NONCES: usize = 64;

enum Message {
    Input(Input),
    Control(Control),
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
        let clock = move || Time(start.elapsed().as_millis() as u64);
        let ShellOptions {
            config,
            mut addresses,
            seed,
        } = self.options;
        let mut shell = Shell::new(config, seed, clock())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.0))?;
        let mut actions: Vec<Action> = Vec::new();
        while let Some(action) = shell.poll_action() {
            actions.push(action);
        }
        let mut transports = Transports {
            tx: self.tx.clone(),
            executor,
            udp: BTreeMap::new(),
            tcp: BTreeMap::new(),
        };
        loop {
            let now = clock();
            let mut exit = false;
            for action in std::mem::take(&mut actions) {
                match action {
                    Action::Send { host, nonce, bytes } => {
                        let target = shell
                            .host(host)
                            .map(|h| (h.name.clone(), h.protocol))
                            .and_then(|(name, protocol)| {
                                addresses.get(&name).map(|a| (name, protocol, *a))
                            });
                        match target {
                            Some((name, protocol, address)) => {
                                transports.send(&name, protocol, address, nonce, bytes)
                            }
                            None => transports.fail(nonce, "no address for this host".into()),
                        }
                    }
                    Action::RunProcedure {
                        id,
                        service,
                        kind,
                        limit_ms,
                    } => {
                        let name = shell.service_name(service).unwrap_or("?").to_string();
                        let tx = self.tx.clone();
                        let done = ProcedureCompletion::new(id, move |input| {
                            // Nobody waits for a result once failsh is exiting.
                            let _ = tx.try_send(Message::Input(input));
                        });
                        hooks.run_procedure(now, &name, kind, limit_ms, done);
                    }
                    Action::KillProcedure { id } => hooks.kill_procedure(now, id),
                    Action::Event(event) => hooks.event(now, &shell, &event),
                    Action::Exit => exit = true,
                }
            }
            hooks.after_input(now, &shell);
            if exit {
                return Ok(());
            }
            // Wait for one input, or exactly until the core's next deadline.
            let message = match shell.poll_timeout() {
                Some((at, _)) => {
                    let deadline = start + Duration::from_millis(at.as_ms());
                    if at <= clock() {
                        Message::Input(Input::Timeout)
                    } else {
                        let received = async { self.rx.recv().await.ok() };
                        let timer = async {
                            Timer::at(deadline).await;
                            Some(Message::Input(Input::Timeout))
                        };
                        match future::or(received, timer).await {
                            Some(message) => message,
                            None => return Ok(()),
                        }
                    }
                }
                None => match self.rx.recv().await {
                    Ok(message) => message,
                    Err(_) => return Ok(()),
                },
            };
            let now = clock();
            let input = match message {
                Message::Input(input) => input,
                Message::Control(Control::Shutdown { keep_services }) => {
                    Input::Shutdown { keep_services }
                }
                Message::Control(Control::Reconfigure {
                    config,
                    addresses: new,
                }) => {
                    let keep = |name: &String| addresses.get(name) == new.get(name);
                    transports.udp.retain(|name, _| keep(name));
                    transports.tcp.retain(|name, _| keep(name));
                    addresses = new;
                    Input::Reconfigure(config)
                }
                Message::Control(Control::Dump) => {
                    hooks.dump(now, &shell);
                    continue;
                }
            };
            shell.handle(now, input.clone());
            while let Some(action) = shell.poll_action() {
                actions.push(action);
            }
            hooks.handled(now, &input, &actions);
        }
    }
}

/// One connected UDP socket or persistent TCP connection per host, with its reader task;
/// dropping a transport cancels its tasks.
struct Transports {
    tx: Sender<Message>,
    executor: Rc<LocalExecutor<'static>>,
    udp: BTreeMap<String, UdpTransport>,
    tcp: BTreeMap<String, TcpTransport>,
}

struct UdpTransport {
    socket: Arc<Async<UdpSocket>>,
    recent: Arc<Mutex<VecDeque<Nonce>>>,
    _reader: Task<()>,
}

struct TcpTransport {
    queue: Sender<(Nonce, Vec<u8>)>,
    _writer: Task<()>,
}

fn remember(recent: &Mutex<VecDeque<Nonce>>, nonce: Nonce) {
    let mut recent = recent.lock().unwrap_or_else(|e| e.into_inner());
    if recent.len() >= RECENT_NONCES {
        recent.pop_front();
    }
    recent.push_back(nonce);
}

fn fail_all(recent: &Mutex<VecDeque<Nonce>>, tx: &Sender<Message>, error: &str) {
    let nonces: Vec<Nonce> = recent
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .drain(..)
        .collect();
    for nonce in nonces {
        let _ = tx.try_send(Message::Input(Input::SendFailed {
            nonce,
            error: error.to_string(),
        }));
    }
}

impl Transports {
    fn fail(&self, nonce: Nonce, error: String) {
        let _ = self
            .tx
            .try_send(Message::Input(Input::SendFailed { nonce, error }));
    }

    fn send(
        &mut self,
        host: &str,
        protocol: Protocol,
        address: SocketAddr,
        nonce: Nonce,
        bytes: Vec<u8>,
    ) {
        match protocol {
            Protocol::Udp => {
                if !self.udp.contains_key(host) {
                    match self.open_udp(address) {
                        Ok(t) => {
                            self.udp.insert(host.to_string(), t);
                        }
                        Err(e) => return self.fail(nonce, format!("cannot open UDP socket: {e}")),
                    }
                }
                if let Some(t) = self.udp.get(host) {
                    remember(&t.recent, nonce);
                    // A datagram either fits the socket buffer now or is lost like on the wire.
                    if let Err(e) = t.socket.get_ref().send(&bytes) {
                        self.fail(nonce, e.to_string());
                    }
                }
            }
            Protocol::Tcp => {
                if !self.tcp.contains_key(host) {
                    let (queue, requests) = channel::unbounded();
                    let writer =
                        self.executor
                            .spawn(tcp_writer(address, requests, self.tx.clone()));
                    self.tcp.insert(
                        host.to_string(),
                        TcpTransport {
                            queue,
                            _writer: writer,
                        },
                    );
                }
                if let Some(t) = self.tcp.get(host) {
                    if t.queue.try_send((nonce, bytes)).is_err() {
                        self.fail(nonce, "connection task ended".into());
                    }
                }
            }
        }
    }

    /// A UDP socket connected to one faild, so that ICMP errors (port unreachable: faild is
    /// not running) come back as errors and the host counts as silent at once.
    fn open_udp(&self, address: SocketAddr) -> io::Result<UdpTransport> {
        let local: SocketAddr = if address.is_ipv4() {
            "0.0.0.0:0".parse().expect("literal address")
        } else {
            "[::]:0".parse().expect("literal address")
        };
        let socket = UdpSocket::bind(local)?;
        socket.connect(address)?;
        let socket = Arc::new(Async::new(socket)?);
        let recent = Arc::new(Mutex::new(VecDeque::new()));
        let (reader, r, tx) = (socket.clone(), recent.clone(), self.tx.clone());
        let task = self.executor.spawn(async move {
            let mut buffer = vec![0u8; 65_536];
            loop {
                match reader.recv(&mut buffer).await {
                    Ok(n) => {
                        let bytes = buffer[..n].to_vec();
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
            recent,
            _reader: task,
        })
    }
}

struct Connection {
    stream: Arc<Async<TcpStream>>,
    recent: Arc<Mutex<VecDeque<Nonce>>>,
    reader: Task<()>,
}

/// Owns the connection to one faild: (re)connects on demand, writes frames, and keeps a
/// reader task per connection that forwards the replies and reports a broken connection.
async fn tcp_writer(
    address: SocketAddr,
    requests: Receiver<(Nonce, Vec<u8>)>,
    tx: Sender<Message>,
) {
    let mut connection: Option<Connection> = None;
    while let Ok((nonce, bytes)) = requests.recv().await {
        if connection.as_ref().is_some_and(|c| c.reader.is_finished()) {
            connection = None;
        }
        if connection.is_none() {
            let connect = async { Async::<TcpStream>::connect(address).await };
            let timeout = async {
                Timer::after(CONNECT_TIMEOUT).await;
                Err(io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))
            };
            match future::or(connect, timeout).await {
                Ok(stream) => {
                    // A poll is one small frame: send it now rather than wait for Nagle.
                    let _ = stream.get_ref().set_nodelay(true);
                    let stream = Arc::new(stream);
                    let recent = Arc::new(Mutex::new(VecDeque::new()));
                    let reader = smol::spawn(tcp_reader(
                        address,
                        stream.clone(),
                        recent.clone(),
                        tx.clone(),
                    ));
                    connection = Some(Connection {
                        stream,
                        recent,
                        reader,
                    });
                }
                Err(e) => {
                    let _ = tx.try_send(Message::Input(Input::SendFailed {
                        nonce,
                        error: format!("cannot connect to {address}: {e}"),
                    }));
                    continue;
                }
            }
        }
        let Some(c) = connection.as_ref() else {
            continue;
        };
        remember(&c.recent, nonce);
        if let Err(e) = (&*c.stream).write_all(&wire::frame(&bytes)).await {
            fail_all(
                &c.recent,
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
    recent: Arc<Mutex<VecDeque<Nonce>>>,
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
                            fail_all(&recent, &tx, &format!("bad frame: {e}"));
                            return;
                        }
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => break e.to_string(),
        }
    };
    fail_all(&recent, &tx, &format!("connection to {address}: {error}"));
}
