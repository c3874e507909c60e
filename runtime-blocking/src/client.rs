//! The client side of the faild protocol (failc, failstat, and anything else that asks a
//! faild): one request, one reply, over UDP or TCP, with blocking sockets.
//!
//! [`Exchange`] is the sans-IO half (build a signed request with a fresh nonce, check that
//! the reply answers it and is signed with our community); both runtimes use it around their
//! own transport, so their clients accept and reject exactly the same replies.

//! The socket side is all that is here: [`failover_core::client`] builds the requests and
//! checks the replies (and walks failc's challenge-then-Set flow), so both runtimes' clients
//! accept and reject exactly the same replies.

pub use failover_core::client::{
    closed_by_faild, entry_of, is_unreachable, query_body, set_body, transport_error, ClientError,
    Exchange, SetFlow, SetNext, Target, CLOSED_BEFORE_REPLY, DEFAULT_TIMEOUT_MS, UDP_RETRY_MS,
};
pub use failover_core::wire::Protocol;

use failover_core::state::State;
use failover_core::wire::{self, Entry, Nonce, Reply, RequestBody, StreamDecoder, NONCE_BYTES};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

/// A nonce from the operating system's random generator, so that no two clients (or runs)
/// ever use the same one.
pub fn fresh_nonce() -> Result<Nonce, ClientError> {
    let mut nonce = [0u8; NONCE_BYTES];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut nonce))
        .map_err(|e| ClientError::Io(io::Error::other(format!("no randomness: {e}"))))?;
    Ok(Nonce(nonce))
}

/// A UDP (`DGRAM`) or TCP (`STREAM`) socket for `target`, bound to its `--source` if any.
pub fn new_socket(target: &Target, kind: socket2::Type) -> io::Result<socket2::Socket> {
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
    Ok(socket)
}

/// Sends one request and returns the first reply (raw bytes, not yet checked).
pub fn request(target: &Target, bytes: &[u8]) -> Result<Vec<u8>, ClientError> {
    let started = Instant::now();
    match target.protocol {
        Protocol::Udp => request_udp(target, bytes, started),
        Protocol::Tcp => request_tcp(target, bytes, started),
    }
    .map_err(|e| transport_error(target, e, elapsed_ms(started)))
}

/// What is left of the target's timeout since `started`; TimedOut when nothing is.
pub fn remaining(target: &Target, started: Instant) -> io::Result<Duration> {
    target
        .timeout
        .checked_sub(started.elapsed())
        .filter(|d| !d.is_zero())
        .ok_or_else(|| io::Error::from(io::ErrorKind::TimedOut))
}

fn request_udp(target: &Target, bytes: &[u8], started: Instant) -> io::Result<Vec<u8>> {
    let socket: UdpSocket = new_socket(target, socket2::Type::DGRAM)?.into();
    // Connected, so that an ICMP port unreachable comes back as ECONNREFUSED at once
    // instead of a silent timeout.
    socket.connect(target.address)?;
    let mut buffer = vec![0u8; wire::MAX_MESSAGE_BYTES + 1];
    loop {
        socket.send(bytes)?;
        let wait = remaining(target, started)?.min(Duration::from_millis(UDP_RETRY_MS));
        socket.set_read_timeout(Some(wait))?;
        match socket.recv(&mut buffer) {
            Ok(length) => return Ok(buffer[..length].to_vec()),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                remaining(target, started)?;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

fn request_tcp(target: &Target, bytes: &[u8], started: Instant) -> io::Result<Vec<u8>> {
    let socket = new_socket(target, socket2::Type::STREAM)?;
    socket.connect_timeout(&target.address.into(), remaining(target, started)?)?;
    let mut stream: TcpStream = socket.into();
    stream.set_nodelay(true)?;
    stream.set_write_timeout(Some(remaining(target, started)?))?;
    stream
        .write_all(&wire::frame(bytes))
        .map_err(closed_by_faild)?;
    read_frame(&mut stream, &mut StreamDecoder::new(), || {
        remaining(target, started)
    })
    .map_err(closed_by_faild)
}

/// Reads one length-prefixed message from `stream`, setting the read timeout from `wait`
/// before every read.
pub fn read_frame(
    stream: &mut TcpStream,
    decoder: &mut StreamDecoder,
    mut wait: impl FnMut() -> io::Result<Duration>,
) -> io::Result<Vec<u8>> {
    let mut buffer = [0u8; 16 * 1024];
    loop {
        match decoder.next_message() {
            Ok(Some(message)) => return Ok(message),
            Ok(None) => {}
            Err(error) => return Err(io::Error::new(io::ErrorKind::InvalidData, error)),
        }
        stream.set_read_timeout(Some(wait()?))?;
        match stream.read(&mut buffer) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    CLOSED_BEFORE_REPLY,
                ))
            }
            Ok(n) => decoder.push(&buffer[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// One checked round trip.
pub fn exchange(
    target: &Target,
    community: &str,
    body: RequestBody,
    want_challenge: bool,
) -> Result<Reply, ClientError> {
    let (exchange, bytes) = Exchange::new(fresh_nonce()?, community, body, want_challenge)?;
    let reply = request(target, &bytes)?;
    exchange.finish(&reply)
}

/// The states of `services`, or of every service faild lets `community` see when the list is
/// empty. An unknown service comes back as an entry whose state is `None`.
pub fn query(target: &Target, community: &str, services: &[String]) -> Result<Reply, ClientError> {
    exchange(target, community, query_body(services), false)
}

/// Sets a service's state (and backup name) with [`SetFlow`]: a query fetches a single-use
/// challenge, the Set carries it, once more with a fresh one if it went stale. Returns the
/// service's entry after the change.
pub fn set(
    target: &Target,
    community: &str,
    service: &str,
    state: State,
    backup: Option<&str>,
) -> Result<Entry, ClientError> {
    let (mut flow, mut bytes) = SetFlow::start(fresh_nonce()?, community, service, state, backup)?;
    loop {
        let reply = request(target, &bytes)?;
        let mut nonce_error = None;
        let next = flow.answer(&reply, || {
            fresh_nonce().unwrap_or_else(|e| {
                nonce_error = Some(e);
                Nonce([0; NONCE_BYTES])
            })
        })?;
        if let Some(error) = nonce_error {
            return Err(error);
        }
        match next {
            SetNext::Send(next) => bytes = next,
            SetNext::Done(entry) => return Ok(entry),
        }
    }
}

/// Milliseconds since `started`, for error messages.
pub fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}
