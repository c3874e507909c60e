//! The client side of the faild protocol on smol: the same functions as the blocking
//! runtime's `client`, as futures. Request building, reply checking and failc's flow are the
//! core's ([`failover_core::client`]), so both accept and reject exactly the same replies.

pub use failover_core::client::{
    closed_by_faild, entry_of, is_unreachable, query_body, set_body, transport_error, ClientError,
    Exchange, SetFlow, SetNext, Target, CLOSED_BEFORE_REPLY, DEFAULT_TIMEOUT_MS, UDP_RETRY_MS,
};
pub use failover_core::wire::Protocol;

use failover_core::state::State;
use failover_core::wire::{self, Entry, Nonce, Reply, RequestBody, StreamDecoder, NONCE_BYTES};
use smol::future::FutureExt;
use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::{Async, Timer};
use std::io;
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

/// A nonce from the operating system's random generator.
fn fresh_nonce() -> Result<Nonce, ClientError> {
    // /dev/urandom, as the blocking runtime reads it: it never blocks once the kernel has
    // seeded it, shortly after boot.
    let mut nonce = [0u8; NONCE_BYTES];
    std::io::Read::read_exact(
        &mut std::fs::File::open("/dev/urandom").map_err(ClientError::Io)?,
        &mut nonce,
    )
    .map_err(|e| ClientError::Io(io::Error::other(format!("no randomness: {e}"))))?;
    Ok(Nonce(nonce))
}

/// What is left of the target's timeout since `started`; TimedOut when nothing is.
fn remaining(target: &Target, started: Instant) -> io::Result<Duration> {
    target
        .timeout
        .checked_sub(started.elapsed())
        .filter(|d| !d.is_zero())
        .ok_or_else(|| io::Error::from(io::ErrorKind::TimedOut))
}

/// `future`, or a TimedOut error after `limit`.
async fn within<T>(
    limit: Duration,
    future: impl std::future::Future<Output = io::Result<T>>,
) -> io::Result<T> {
    future
        .or(async {
            Timer::after(limit).await;
            Err(io::ErrorKind::TimedOut.into())
        })
        .await
}

/// A non-blocking UDP (`DGRAM`) or TCP (`STREAM`) socket for `target`, bound to its
/// `--source` if any.
fn new_socket(target: &Target, kind: socket2::Type) -> io::Result<socket2::Socket> {
    let protocol = if kind == socket2::Type::DGRAM {
        socket2::Protocol::UDP
    } else {
        socket2::Protocol::TCP
    };
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(target.address),
        kind,
        Some(protocol),
    )?;
    if let Some(source) = target.source {
        socket.bind(&SocketAddr::new(source, 0).into())?;
    }
    socket.set_nonblocking(true)?;
    Ok(socket)
}

/// Sends one request and returns the first reply (raw bytes, not yet checked).
pub async fn request(target: &Target, bytes: &[u8]) -> Result<Vec<u8>, ClientError> {
    let started = Instant::now();
    match target.protocol {
        Protocol::Udp => request_udp(target, bytes, started).await,
        Protocol::Tcp => request_tcp(target, bytes, started).await,
    }
    .map_err(|e| {
        let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        transport_error(target, e, elapsed_ms)
    })
}

async fn request_udp(target: &Target, bytes: &[u8], started: Instant) -> io::Result<Vec<u8>> {
    let socket: UdpSocket = new_socket(target, socket2::Type::DGRAM)?.into();
    // Connected, so that an ICMP port unreachable comes back as ECONNREFUSED at once.
    socket.connect(target.address)?;
    let socket = Async::new(socket)?;
    let mut buffer = vec![0u8; wire::MAX_MESSAGE_BYTES + 1];
    loop {
        socket.send(bytes).await?;
        let wait = remaining(target, started)?.min(Duration::from_millis(UDP_RETRY_MS));
        match within(wait, socket.recv(&mut buffer)).await {
            Ok(length) => return Ok(buffer[..length].to_vec()),
            Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                remaining(target, started)?;
            }
            Err(e) => return Err(e),
        }
    }
}

async fn request_tcp(target: &Target, bytes: &[u8], started: Instant) -> io::Result<Vec<u8>> {
    let socket = new_socket(target, socket2::Type::STREAM)?;
    match socket.connect(&target.address.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    let stream = Async::new(TcpStream::from(socket))?;
    within(remaining(target, started)?, stream.writable()).await?;
    if let Some(error) = stream.get_ref().take_error()? {
        return Err(error);
    }
    stream.get_ref().set_nodelay(true)?;
    let mut stream = stream;
    within(
        remaining(target, started)?,
        stream.write_all(&wire::frame(bytes)),
    )
    .await
    .map_err(closed_by_faild)?;
    let mut decoder = StreamDecoder::new();
    let mut buffer = [0u8; 16 * 1024];
    loop {
        match decoder.next_message() {
            Ok(Some(message)) => return Ok(message),
            Ok(None) => {}
            Err(error) => return Err(io::Error::new(io::ErrorKind::InvalidData, error)),
        }
        let n = within(remaining(target, started)?, stream.read(&mut buffer))
            .await
            .map_err(closed_by_faild)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                CLOSED_BEFORE_REPLY,
            ));
        }
        decoder.push(&buffer[..n]);
    }
}

/// One checked round trip.
pub async fn exchange(
    target: &Target,
    community: &str,
    body: RequestBody,
    want_challenge: bool,
) -> Result<Reply, ClientError> {
    let (exchange, bytes) = Exchange::new(fresh_nonce()?, community, body, want_challenge)?;
    let reply = request(target, &bytes).await?;
    exchange.finish(&reply)
}

/// The states of `services`, or of every service faild lets `community` see when the list is
/// empty. An unknown service comes back as an entry whose state is `None`.
pub async fn query(
    target: &Target,
    community: &str,
    services: &[String],
) -> Result<Reply, ClientError> {
    exchange(target, community, query_body(services), false).await
}

/// Sets a service's state (and backup name) with [`SetFlow`]: a query fetches a single-use
/// challenge, the Set carries it; a stale challenge is retried once with the fresh one.
pub async fn set(
    target: &Target,
    community: &str,
    service: &str,
    state: State,
    backup: Option<&str>,
) -> Result<Entry, ClientError> {
    let (mut flow, mut bytes) = SetFlow::start(fresh_nonce()?, community, service, state, backup)?;
    loop {
        let reply = request(target, &bytes).await?;
        let nonce = fresh_nonce()?;
        match flow.answer(&reply, || nonce)? {
            SetNext::Send(next) => bytes = next,
            SetNext::Done(entry) => return Ok(entry),
        }
    }
}
