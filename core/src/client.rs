//! The client side of the faild protocol, sans IO: building a signed request, checking that a
//! reply answers it, and failc's change (a query that fetches a single-use challenge, then the
//! Set, retried once with the fresh challenge faild sends back for a stale one).
//!
//! failc and failstat (both runtimes), the simulator's operators and the test harness all go
//! through [`Exchange`] and [`SetFlow`], so they accept and reject exactly the same replies.
//! Nonces come from the caller: the programs take them from the operating system, the
//! simulator from its seeded generator.

use crate::state::State;
use crate::wire::{self, EncodeError, Entry, Nonce, Protocol, Reply, Request, RequestBody, Status};
use core::net::{IpAddr, SocketAddr};
use std::fmt;
use std::io;
use std::time::Duration;

/// How long a client waits for a reply unless told otherwise.
pub const DEFAULT_TIMEOUT_MS: u64 = 3_000;
/// UDP requests are sent again after this long without a reply (a datagram may be lost).
pub const UDP_RETRY_MS: u64 = 500;

#[derive(Debug)]
pub enum ClientError {
    /// Nothing listens there (connection refused, ICMP port or host unreachable), or faild
    /// closed the connection without replying.
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
pub fn transport_error(target: &Target, error: io::Error, elapsed_ms: u64) -> ClientError {
    if is_unreachable(&error) {
        ClientError::Unreachable {
            address: target.address,
            reason: error.to_string(),
        }
    } else if matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    ) {
        ClientError::TimedOut {
            address: target.address,
            after_ms: elapsed_ms,
        }
    } else {
        ClientError::Io(error)
    }
}

/// One request in flight: what its reply must answer.
#[derive(Debug)]
pub struct Exchange {
    nonce: Nonce,
    community: String,
}

impl Exchange {
    /// Builds the signed request bytes with `nonce`, which must never have been used before
    /// (the programs take it from the operating system's random generator).
    pub fn new(
        nonce: Nonce,
        community: &str,
        body: RequestBody,
        want_challenge: bool,
    ) -> Result<(Exchange, Vec<u8>), ClientError> {
        let request = Request {
            nonce,
            want_challenge,
            // Why a service is in its state: failstat shows it, failc reports it.
            want_details: true,
            subscription: None,
            body,
        };
        let bytes = wire::encode_request(&request, community).map_err(ClientError::Encode)?;
        Ok((
            Exchange {
                nonce,
                community: community.to_string(),
            },
            bytes,
        ))
    }

    pub fn nonce(&self) -> Nonce {
        self.nonce
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
            Status::NotStored => Err(ClientError::NotStored(
                reply
                    .entries
                    .into_iter()
                    .find_map(|e| e.note)
                    .unwrap_or_else(|| "no reason given".to_string()),
            )),
            // Clients never renew: a reply that says so answers something we did not send.
            Status::NotRenewed => Err(ClientError::BadReply(
                "faild answered a renewal, which this client did not send".into(),
            )),
        }
    }
}

/// The request body of a query: the named services, or all of them (List) when none is.
pub fn query_body(services: &[String]) -> RequestBody {
    if services.is_empty() {
        RequestBody::List
    } else {
        RequestBody::Query {
            services: services.to_vec(),
            member: None,
        }
    }
}

/// The body of an operator's Set (failc): no lease, no note, not conditional.
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

/// The entry of `service` in a reply.
pub fn entry_of(reply: Reply, service: &str) -> Result<Entry, ClientError> {
    reply
        .entries
        .into_iter()
        .find(|e| e.name == service)
        .ok_or_else(|| ClientError::BadReply(format!("the reply does not mention {service}")))
}

/// failc's change of one service, one request at a time: [`SetFlow::start`] gives the first
/// request (a query asking for a challenge), [`SetFlow::answer`] takes each reply and gives
/// the next request or the result.
#[derive(Debug)]
pub struct SetFlow {
    community: String,
    service: String,
    state: State,
    backup: Option<String>,
    exchange: Exchange,
    /// `None`: the challenge query is in flight; `Some(n)`: the n-th Set (from 0).
    attempt: Option<u32>,
}

/// What follows a reply of a [`SetFlow`].
#[derive(Debug)]
pub enum SetNext {
    /// Send these bytes (the Set) and hand its reply to [`SetFlow::answer`].
    Send(Vec<u8>),
    /// The change is done: the service's entry after it.
    Done(Entry),
}

impl SetFlow {
    pub fn start(
        nonce: Nonce,
        community: &str,
        service: &str,
        state: State,
        backup: Option<&str>,
    ) -> Result<(SetFlow, Vec<u8>), ClientError> {
        let (exchange, bytes) =
            Exchange::new(nonce, community, query_body(&[service.to_string()]), true)?;
        Ok((
            SetFlow {
                community: community.to_string(),
                service: service.to_string(),
                state,
                backup: backup.map(str::to_string),
                exchange,
                attempt: None,
            },
            bytes,
        ))
    }

    /// The reply to the last request. `next_nonce` is asked for a nonce only if another
    /// request follows.
    pub fn answer(
        &mut self,
        reply: &[u8],
        next_nonce: impl FnOnce() -> Nonce,
    ) -> Result<SetNext, ClientError> {
        let result = self.exchange.finish(reply);
        let challenge = match (self.attempt, result) {
            (None, Ok(reply)) => reply
                .challenge
                .ok_or_else(|| ClientError::BadReply("faild sent no challenge".into()))?,
            (Some(_), Ok(reply)) => return entry_of(reply, &self.service).map(SetNext::Done),
            // A challenge that went stale between the query and the Set: once more with the
            // fresh one faild sent back.
            (Some(0), Err(ClientError::BadChallenge { fresh: Some(fresh) })) => fresh,
            (Some(_), Err(ClientError::BadChallenge { .. })) => {
                return Err(ClientError::BadChallenge { fresh: None })
            }
            (_, Err(error)) => return Err(error),
        };
        let body = set_body(&self.service, self.state, self.backup.as_deref(), challenge);
        let (exchange, bytes) = Exchange::new(next_nonce(), &self.community, body, false)?;
        self.exchange = exchange;
        self.attempt = Some(self.attempt.map_or(0, |a| a + 1));
        Ok(SetNext::Send(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::community::Communities;
    use crate::store::{Peer, ServiceRecord, Store, StoreAction, StoreConfig, StoreInput};
    use crate::time::Time;

    fn store() -> Store {
        Store::new(
            StoreConfig {
                boot_id: 1,
                seed: 1,
                communities: Communities::parse("* public RW\n").unwrap(),
            },
            vec![ServiceRecord::new("198.18.0.50", State::Up, None, Time(0))],
        )
    }

    /// One request through the store (persisting succeeds); its reply.
    fn round_trip(store: &mut Store, bytes: Vec<u8>) -> Vec<u8> {
        let peer = Peer {
            token: 1,
            address: "127.0.0.1".parse().unwrap(),
        };
        store.handle(Time(10), StoreInput::Request { peer, bytes });
        let mut reply = Vec::new();
        while let Some(action) = store.poll_action() {
            match action {
                StoreAction::Persist { token, .. } => store.handle(
                    Time(10),
                    StoreInput::Persisted {
                        token,
                        result: Ok(()),
                    },
                ),
                StoreAction::Reply { bytes, .. } => reply = bytes,
                StoreAction::Push { .. } | StoreAction::Event(_) => {}
            }
        }
        reply
    }

    #[test]
    fn a_set_fetches_a_challenge_then_changes_the_state() {
        let mut store = store();
        let (mut flow, query) =
            SetFlow::start(Nonce([1; 16]), "public", "198.18.0.50", State::Fail, None).unwrap();
        let reply = round_trip(&mut store, query);
        let SetNext::Send(set) = flow.answer(&reply, || Nonce([2; 16])).unwrap() else {
            panic!("a Set follows the challenge")
        };
        let reply = round_trip(&mut store, set);
        let SetNext::Done(entry) = flow.answer(&reply, || Nonce([3; 16])).unwrap() else {
            panic!("the Set is the last request")
        };
        assert_eq!(entry.state, Some(State::Fail));
        assert_eq!(store.service("198.18.0.50").unwrap().state, State::Fail);
    }

    #[test]
    fn a_reply_to_another_request_or_community_is_refused() {
        let mut store = store();
        let (_, query) =
            SetFlow::start(Nonce([1; 16]), "public", "198.18.0.50", State::Fail, None).unwrap();
        let reply = round_trip(&mut store, query);
        let (mut other, _) =
            SetFlow::start(Nonce([9; 16]), "public", "198.18.0.50", State::Fail, None).unwrap();
        assert!(matches!(
            other.answer(&reply, || Nonce([2; 16])),
            Err(ClientError::BadReply(_))
        ));
        let (mut wrong, _) =
            SetFlow::start(Nonce([1; 16]), "secret", "198.18.0.50", State::Fail, None).unwrap();
        assert!(matches!(
            wrong.answer(&reply, || Nonce([2; 16])),
            Err(ClientError::BadReply(_))
        ));
    }

    #[test]
    fn a_stale_challenge_is_retried_once_with_the_fresh_one() {
        let mut store = store();
        let (mut flow, query) =
            SetFlow::start(Nonce([1; 16]), "public", "198.18.0.50", State::Fail, None).unwrap();
        let reply = round_trip(&mut store, query);
        let challenge = wire::decode_reply(&reply)
            .unwrap()
            .message
            .challenge
            .unwrap();
        let SetNext::Send(set) = flow.answer(&reply, || Nonce([2; 16])).unwrap() else {
            panic!()
        };
        // Another client uses the challenge first.
        let body = set_body("198.18.0.50", State::Recover, None, challenge);
        let (_, theirs) = Exchange::new(Nonce([7; 16]), "public", body, false).unwrap();
        let _ = round_trip(&mut store, theirs);
        let reply = round_trip(&mut store, set);
        let SetNext::Send(retry) = flow.answer(&reply, || Nonce([3; 16])).unwrap() else {
            panic!("retried with the fresh challenge")
        };
        let reply = round_trip(&mut store, retry);
        assert!(matches!(
            flow.answer(&reply, || Nonce([4; 16])),
            Ok(SetNext::Done(_))
        ));
    }
}
