//! The client side of the faild protocol on smol: the same functions as the blocking
//! runtime's `client`, as futures. Request building and reply checking are shared
//! ([`Exchange`]), so both accept and reject exactly the same replies.

pub use failover_runtime_blocking::client::{
    entry_of, is_unreachable, query_body, set_body, transport_error, ClientError, Exchange,
    Protocol, Target, CLOSED_BEFORE_REPLY, DEFAULT_TIMEOUT_MS,
};

use failover_runtime_blocking::client::{
    after_set, challenge_of, closed_by_faild, remaining, UDP_RETRY_MS,
};

use failover_core::state::State;
use failover_core::wire::{self, Entry, Reply, RequestBody, StreamDecoder};
use smol::future::FutureExt;
use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::{Async, Timer};
use std::io;
use std::net::{TcpStream, UdpSocket};
use std::ops::ControlFlow;
use std::time::{Duration, Instant};

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

/// The blocking runtime's socket for `target`, made non-blocking for smol.
fn new_socket(target: &Target, kind: socket2::Type) -> io::Result<socket2::Socket> {
    let socket = failover_runtime_blocking::client::new_socket(target, kind)?;
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
    .map_err(|e| transport_error(target, e, started))
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
    let (exchange, bytes) = Exchange::new(community, body, want_challenge)?;
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

/// Sets a service's state (and backup name): a query fetches a single-use challenge, the Set
/// carries it; a stale challenge is retried once with the fresh one faild sends back.
pub async fn set(
    target: &Target,
    community: &str,
    service: &str,
    state: State,
    backup: Option<&str>,
) -> Result<Entry, ClientError> {
    let first = exchange(target, community, query_body(&[service.to_string()]), true).await?;
    let mut challenge = challenge_of(&first)?;
    for attempt in 0..2 {
        let body = set_body(service, state, backup, challenge);
        let result = exchange(target, community, body, false).await;
        match after_set(result, service, attempt) {
            ControlFlow::Break(done) => return done,
            ControlFlow::Continue(fresh) => challenge = fresh,
        }
    }
    Err(ClientError::BadChallenge { fresh: None })
}
