//! faild's server loop on smol: one thread, one executor.
//!
//! The loop owns the [`Driver`] (the store and the program's hooks) and races its inputs: a
//! datagram on the UDP socket, a message from a TCP connection task, a signal. The winner is
//! handed to the store and the store's actions are drained, exactly as in the blocking
//! runtime, whose shared types this module re-exports. Each TCP connection is a task that
//! reads frames (with an idle timeout) and writes the replies the loop queues for it.

pub use failover_runtime_blocking::faild::{
    bind, client_address, wall_clock, Bound, Driver, ExitReason, FaildHooks, FaildOptions, LogHook,
    LogLevel, PersistHook, ReloadHook, Topic, DEFAULT_MAX_TCP_CONNECTIONS, DEFAULT_PORT,
    DEFAULT_TCP_IDLE_TIMEOUT_MS, INPUT_QUEUE_LENGTH, UDP_PEER_TOKEN,
};

use async_signal::{Signal, Signals};
use failover_core::store::{Peer, Store};
use failover_core::wire::{self, StreamDecoder};
use smol::channel::{self, Receiver, Sender, TrySendError};
use smol::future::FutureExt;
use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::stream::StreamExt;
use smol::{Async, LocalExecutor, Timer};
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
    Opened {
        connection: u64,
        replies: Sender<Vec<u8>>,
    },
    Frame {
        connection: u64,
        from: IpAddr,
        bytes: Vec<u8>,
    },
    Closed {
        connection: u64,
        why: String,
    },
    Log(LogLevel, Topic, String),
}

/// Runs faild until SIGTERM or SIGINT. Installs its signal handlers first.
pub fn serve(bound: Bound, store: Store, hooks: FaildHooks) -> io::Result<ExitReason> {
    // Connection tasks own everything they use, so the executor can be 'static and shared.
    let executor = Rc::new(LocalExecutor::new());
    let driver = Driver::new(store, hooks);
    smol::block_on(executor.run(serve_on(Rc::clone(&executor), bound, driver)))
}

async fn serve_on(
    executor: Rc<LocalExecutor<'static>>,
    bound: Bound,
    mut driver: Driver,
) -> io::Result<ExitReason> {
    let mut signals = Signals::new([Signal::Term, Signal::Int, Signal::Hup])?;
    let udp = bound.udp.map(Async::new).transpose()?;
    let (tcp_sender, tcp_receiver) = channel::bounded::<TcpInput>(INPUT_QUEUE_LENGTH);
    if let Some(listener) = bound.tcp {
        let listener = Async::new(listener)?;
        executor
            .spawn(accept_loop(
                Rc::clone(&executor),
                listener,
                bound.options.clone(),
                tcp_sender,
            ))
            .detach();
    } else {
        drop(tcp_sender);
    }
    let mut connections: BTreeMap<u64, Sender<Vec<u8>>> = BTreeMap::new();
    let mut buffer = vec![0u8; 65_536];
    loop {
        let wait = driver.wait();
        let input = next_input(udp.as_ref(), &mut buffer, &tcp_receiver, &mut signals, wait).await;
        match input {
            Input::Timeout => driver.timeout(),
            Input::Datagram { from, length } => {
                let peer = Peer {
                    token: UDP_PEER_TOKEN,
                    address: client_address(from.ip()),
                };
                driver.request(peer, buffer[..length].to_vec(), &mut |_, bytes| {
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
            Input::Tcp(TcpInput::Opened {
                connection,
                replies,
            }) => {
                connections.insert(connection, replies);
            }
            Input::Tcp(TcpInput::Frame {
                connection,
                from,
                bytes,
            }) => {
                let peer = Peer {
                    token: connection,
                    address: client_address(from),
                };
                let mut stalled = Vec::new();
                driver.request(peer, bytes, &mut |peer, bytes| {
                    if let Some(replies) = connections.get(&peer.token) {
                        if let Err(TrySendError::Full(_)) = replies.try_send(bytes) {
                            stalled.push(peer.token);
                        }
                    }
                });
                for connection in stalled {
                    // Dropping the sender ends the connection's task.
                    connections.remove(&connection);
                    driver.log(
                        LogLevel::Info,
                        Topic::Net,
                        &format!(
                            "closed TCP connection {connection}: client does not read its replies"
                        ),
                    );
                }
            }
            Input::Tcp(TcpInput::Closed { connection, why }) => {
                connections.remove(&connection);
                driver.log(
                    LogLevel::Debug,
                    Topic::Net,
                    &format!("TCP connection {connection} closed: {why}"),
                );
            }
            Input::Tcp(TcpInput::Log(level, topic, message)) => driver.log(level, topic, &message),
            Input::Signal(Signal::Hup) => driver.reload(),
            Input::Signal(Signal::Term) => return Ok(ExitReason::Signal("SIGTERM")),
            Input::Signal(_) => return Ok(ExitReason::Signal("SIGINT")),
        }
    }
}

/// Waits for the first of: a datagram, a TCP connection's message, a signal, the store's
/// deadline (`wait`). `race` picks fairly among ready inputs, so a datagram flood cannot
/// starve TCP clients, SIGTERM or a lease's expiry.
async fn next_input(
    udp: Option<&Async<UdpSocket>>,
    buffer: &mut [u8],
    tcp: &Receiver<TcpInput>,
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
        smol::future::race(connection, signal),
    )
    .await
}

async fn accept_loop(
    executor: Rc<LocalExecutor<'static>>,
    listener: Async<TcpListener>,
    options: FaildOptions,
    sender: Sender<TcpInput>,
) {
    let open = Rc::new(Cell::new(0usize));
    let mut next_connection: u64 = 1;
    loop {
        let (stream, from) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors, usually: wait instead of spinning.
                let message = format!("accept failed: {error}");
                if sender
                    .send(TcpInput::Log(LogLevel::Warning, Topic::Net, message))
                    .await
                    .is_err()
                {
                    return;
                }
                Timer::after(Duration::from_millis(100)).await;
                continue;
            }
        };
        if open.get() >= options.max_tcp_connections {
            drop(stream);
            let message = format!(
                "rejected a TCP connection from {from}: {} connections open",
                options.max_tcp_connections
            );
            if sender
                .send(TcpInput::Log(LogLevel::Warning, Topic::Net, message))
                .await
                .is_err()
            {
                return;
            }
            continue;
        }
        let connection = next_connection;
        next_connection += 1;
        open.set(open.get() + 1);
        let sender = sender.clone();
        let open = Rc::clone(&open);
        let idle = Duration::from_millis(options.tcp_idle_timeout_ms.max(1));
        executor
            .spawn(async move {
                let why = serve_connection(connection, stream, from.ip(), idle, &sender).await;
                open.set(open.get() - 1);
                let _ = sender.send(TcpInput::Closed { connection, why }).await;
            })
            .detach();
    }
}

/// Reads frames and writes replies until the peer closes, idles out, breaks the framing or
/// stops reading; returns why it ended.
async fn serve_connection(
    connection: u64,
    stream: Async<TcpStream>,
    from: IpAddr,
    idle: Duration,
    sender: &Sender<TcpInput>,
) -> String {
    let _ = stream.get_ref().set_nodelay(true);
    let (reply_sender, reply_receiver) = channel::bounded(REPLIES_QUEUED_PER_CONNECTION);
    if sender
        .send(TcpInput::Opened {
            connection,
            replies: reply_sender,
        })
        .await
        .is_err()
    {
        return "faild is stopping".into();
    }
    let reading = async {
        let mut decoder = StreamDecoder::new();
        let mut buffer = [0u8; 16 * 1024];
        let mut reader = &stream;
        loop {
            let read = reader
                .read(&mut buffer)
                .or(async {
                    Timer::after(idle).await;
                    Err(io::ErrorKind::TimedOut.into())
                })
                .await;
            match read {
                Ok(0) => return "closed by the client".to_string(),
                Ok(n) => decoder.push(&buffer[..n]),
                Err(error) if error.kind() == io::ErrorKind::TimedOut => {
                    return format!("idle for {} ms", idle.as_millis())
                }
                Err(error) => return format!("read failed: {error}"),
            }
            loop {
                match decoder.next_message() {
                    Ok(Some(bytes)) => {
                        let frame = TcpInput::Frame {
                            connection,
                            from,
                            bytes,
                        };
                        if sender.send(frame).await.is_err() {
                            return "faild is stopping".into();
                        }
                    }
                    Ok(None) => break,
                    Err(error) => return format!("bad frame: {error}"),
                }
            }
        }
    };
    let writing = async {
        let mut writer = &stream;
        while let Ok(reply) = reply_receiver.recv().await {
            let written = writer
                .write_all(&wire::frame(&reply))
                .or(async {
                    Timer::after(Duration::from_millis(TCP_WRITE_TIMEOUT_MS)).await;
                    Err(io::ErrorKind::TimedOut.into())
                })
                .await;
            if let Err(error) = written {
                return format!("write failed: {error}");
            }
        }
        "client does not read its replies".to_string()
    };
    let why = reading.or(writing).await;
    let _ = stream.get_ref().shutdown(std::net::Shutdown::Both);
    why
}
