//! The client side of the faild protocol (failc, failstat, and anything else that asks a
//! faild): one request, one reply, over UDP or TCP, with blocking sockets.
//!
//! [`Exchange`] is the sans-IO half (build a signed request with a fresh nonce, check that
//! the reply answers it and is signed with our community); both runtimes use it around their
//! own transport, so their clients accept and reject exactly the same replies.

use failover_core::state::State;
use failover_core::wire::{
    self, EncodeError, Entry, Nonce, Reply, Request, RequestBody, Status, StreamDecoder,
    NONCE_BYTES,
};
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::ops::ControlFlow;
use std::str::FromStr;
use std::time::{Duration, Instant};

/// How long a client waits for a reply unless told otherwise.
pub const DEFAULT_TIMEOUT_MS: u64 = 3_000;
/// UDP requests are sent again after this long without a reply (a datagram may be lost).
pub const UDP_RETRY_MS: u64 = 500;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Protocol {
    Udp,
    Tcp,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Udp => "udp",
            Protocol::Tcp => "tcp",
        })
    }
}

impl FromStr for Protocol {
    type Err = String;

    fn from_str(text: &str) -> Result<Protocol, String> {
        match text.to_ascii_lowercase().as_str() {
            "udp" => Ok(Protocol::Udp),
            "tcp" => Ok(Protocol::Tcp),
            _ => Err(format!(
                "\"{text}\" is not a protocol (expected udp or tcp)"
            )),
        }
    }
}

/// Which faild to ask, and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub address: SocketAddr,
    pub protocol: Protocol,
    /// Send from this local address (`--source`): which of a host's addresses faild sees.
    pub source: Option<IpAddr>,
    pub timeout: Duration,
}

impl Target {
    pub fn new(address: SocketAddr, protocol: Protocol) -> Target {
        Target {
            address,
            protocol,
            source: None,
            timeout: Duration::from_millis(DEFAULT_TIMEOUT_MS),
        }
    }
}

#[derive(Debug)]
pub enum ClientError {
    /// Nothing listens there (connection refused, ICMP port or host unreachable).
    Unreachable { address: SocketAddr, reason: String },
    /// No reply within the timeout.
    TimedOut { address: SocketAddr, after_ms: u64 },
    /// No community of faild's verified the request (wrong community).
    Refused,
    /// The community is known but does not grant this access from this address.
    Forbidden,
    /// A Set's challenge was unknown, used or expired; carries a fresh one if faild sent it.
    BadChallenge { fresh: Option<u64> },
    /// The answer would not fit one message.
    TooLarge,
    /// faild could not write the change to its state file: nothing changed (the reason).
    NotStored(String),
    /// A reply that does not decode, answers another request, or is not signed with our
    /// community; or a TCP connection closed before the reply.
    BadReply(String),
    /// The request itself cannot be encoded (a name too long, no service).
    Encode(EncodeError),
    /// Any other local failure (no sockets left, no randomness).
    Io(io::Error),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Unreachable { address, reason } => {
                write!(f, "faild at {address} is unreachable: {reason}")
            }
            ClientError::TimedOut { address, after_ms } => {
                write!(f, "no reply from faild at {address} within {after_ms} ms")
            }
            ClientError::Refused => f.write_str(
                "refused: faild knows no such community (check -c and faild's community file)",
            ),
            ClientError::Forbidden => {
                f.write_str("forbidden: the community does not grant this access from this address")
            }
            ClientError::BadChallenge { .. } => {
                f.write_str("faild rejected the change's challenge twice")
            }
            ClientError::TooLarge => {
                f.write_str("the answer does not fit in one message: ask for fewer services")
            }
            ClientError::NotStored(why) => write!(
                f,
                "faild could not store the change, nothing changed: {why}"
            ),
            ClientError::BadReply(why) => write!(f, "bad reply: {why}"),
            ClientError::Encode(error) => write!(f, "cannot build the request: {error}"),
            ClientError::Io(error) => write!(f, "{error}"),
        }
    }
}

impl std::error::Error for ClientError {}

/// One request in flight: what its reply must answer.
#[derive(Debug)]
pub struct Exchange {
    nonce: Nonce,
    community: String,
}

impl Exchange {
    /// Builds the signed request bytes. The nonce comes from the operating system's random
    /// generator, so no two clients (or runs) ever reuse one.
    pub fn new(
        community: &str,
        body: RequestBody,
        want_challenge: bool,
    ) -> Result<(Exchange, Vec<u8>), ClientError> {
        let mut nonce = [0u8; NONCE_BYTES];
        getrandom::fill(&mut nonce)
            .map_err(|e| ClientError::Io(io::Error::other(format!("no randomness: {e}"))))?;
        let request = Request {
            nonce: Nonce(nonce),
            want_challenge,
            // Why a service is in its state: failstat shows it, failc reports it.
            want_details: true,
            body,
        };
        let bytes = wire::encode_request(&request, community).map_err(ClientError::Encode)?;
        Ok((
            Exchange {
                nonce: request.nonce,
                community: community.to_string(),
            },
            bytes,
        ))
    }

    /// Checks a reply and turns a non-Ok status into its error.
    pub fn finish(&self, bytes: &[u8]) -> Result<Reply, ClientError> {
        let signed = wire::decode_reply(bytes)
            .map_err(|e| ClientError::BadReply(format!("cannot decode: {e}")))?;
        if signed.message.nonce != self.nonce {
            return Err(ClientError::BadReply(
                "the reply answers another request".into(),
            ));
        }
        // A Refused reply cannot be signed: faild found no community to sign it with. The
        // decoder only lets an unsigned reply say Refused, so it cannot lie about states.
        if signed.message.status == Status::Refused && !signed.message.authenticated {
            return Err(ClientError::Refused);
        }
        if !signed.verify(&self.community) {
            return Err(ClientError::BadReply(
                "the reply is not signed with our community".into(),
            ));
        }
        let reply = signed.message;
        match reply.status {
            Status::Ok => Ok(reply),
            Status::Refused => Err(ClientError::Refused),
            Status::Forbidden => Err(ClientError::Forbidden),
            Status::BadChallenge => Err(ClientError::BadChallenge {
                fresh: reply.challenge,
            }),
            Status::TooLarge => Err(ClientError::TooLarge),
            // Only a renewal (renew flag) gets it; clients never send one.
            Status::NotRenewed => Err(ClientError::BadReply(
                "faild answered a renewal, which this client did not send".into(),
            )),
            Status::NotStored => Err(ClientError::NotStored(
                reply
                    .entries
                    .into_iter()
                    .find_map(|e| e.note)
                    .unwrap_or_else(|| "no reason given".to_string()),
            )),
        }
    }
}

/// The request body for [`query`]: the named services, or all of them (List) when none is.
pub fn query_body(services: &[String]) -> RequestBody {
    if services.is_empty() {
        RequestBody::List
    } else {
        RequestBody::Query {
            services: services.to_vec(),
        }
    }
}

/// Whether an I/O error means "nobody there serves us" rather than a local problem: nothing
/// listens, or faild closed (or reset) the TCP connection without replying, which it does
/// when every connection slot is held by authenticated clients. Whether the close comes
/// as a reset or an end of stream depends on timing, so both are the same error (and the
/// same exit status of failc and failstat).
pub fn is_unreachable(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::HostUnreachable
            | io::ErrorKind::NetworkUnreachable
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof
            | io::ErrorKind::AddrNotAvailable
    )
}

/// The error of a TCP connection faild ended before its reply.
pub const CLOSED_BEFORE_REPLY: &str =
    "faild closed the connection before replying (no free connection slot, or stopping)";

/// An error on a TCP connection after it was established: a reset or a broken pipe means
/// faild closed it, and says so in the same words as an end of stream.
pub fn closed_by_faild(error: io::Error) -> io::Error {
    match error.kind() {
        kind @ (io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe) => io::Error::new(kind, CLOSED_BEFORE_REPLY),
        _ => error,
    }
}

/// Maps a transport error onto the client's error kinds.
pub fn transport_error(target: &Target, error: io::Error, started: Instant) -> ClientError {
    if is_unreachable(&error) {
        ClientError::Unreachable {
            address: target.address,
            reason: error.to_string(),
        }
    } else if matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    ) {
        timed_out(target, started)
    } else {
        ClientError::Io(error)
    }
}

fn timed_out(target: &Target, started: Instant) -> ClientError {
    ClientError::TimedOut {
        address: target.address,
        after_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    }
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
    .map_err(|e| transport_error(target, e, started))
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
    let (exchange, bytes) = Exchange::new(community, body, want_challenge)?;
    let reply = request(target, &bytes)?;
    exchange.finish(&reply)
}

/// The states of `services`, or of every service faild lets `community` see when the list is
/// empty. An unknown service comes back as an entry whose state is `None`.
pub fn query(target: &Target, community: &str, services: &[String]) -> Result<Reply, ClientError> {
    exchange(target, community, query_body(services), false)
}

/// Sets a service's state (and backup name): a query fetches a single-use challenge, the Set
/// carries it. A challenge that went stale in between is retried once with the fresh one
/// faild sends back. Returns the service's entry after the change.
pub fn set(
    target: &Target,
    community: &str,
    service: &str,
    state: State,
    backup: Option<&str>,
) -> Result<Entry, ClientError> {
    let first = exchange(target, community, query_body(&[service.to_string()]), true)?;
    let mut challenge = challenge_of(&first)?;
    for attempt in 0..2 {
        let result = exchange(
            target,
            community,
            set_body(service, state, backup, challenge),
            false,
        );
        match after_set(result, service, attempt) {
            ControlFlow::Break(done) => return done,
            ControlFlow::Continue(fresh) => challenge = fresh,
        }
    }
    Err(ClientError::BadChallenge { fresh: None })
}

/// The challenge a query with `want_challenge` brought back, for the Set that follows.
pub fn challenge_of(reply: &Reply) -> Result<u64, ClientError> {
    reply
        .challenge
        .ok_or_else(|| ClientError::BadReply("faild sent no challenge".into()))
}

/// What the `attempt`-th (from 0) Set's result means: done (the service's entry, or the
/// error), or try once more with the fresh challenge faild sent back for a stale one.
pub fn after_set(
    result: Result<Reply, ClientError>,
    service: &str,
    attempt: u32,
) -> ControlFlow<Result<Entry, ClientError>, u64> {
    match result {
        Ok(reply) => ControlFlow::Break(entry_of(reply, service)),
        Err(ClientError::BadChallenge { fresh: Some(fresh) }) if attempt == 0 => {
            ControlFlow::Continue(fresh)
        }
        Err(error) => ControlFlow::Break(Err(error)),
    }
}

/// The body of a Set.
pub fn set_body(service: &str, state: State, backup: Option<&str>, challenge: u64) -> RequestBody {
    RequestBody::Set {
        service: service.to_string(),
        state,
        backup: backup.map(str::to_string),
        challenge,
        lease_ms: None,
        note: None,
        renew: false,
        was_up: false,
    }
}

/// The entry of `service` in a Set's reply.
pub fn entry_of(reply: Reply, service: &str) -> Result<Entry, ClientError> {
    reply
        .entries
        .into_iter()
        .find(|e| e.name == service)
        .ok_or_else(|| ClientError::BadReply(format!("the reply does not mention {service}")))
}
