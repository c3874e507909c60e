//! The faild store: the states of this host's services, served to pollers and changed by
//! failsh, failc and init scripts. It never acts on a service; it only remembers and answers.

use crate::community::{Access, Communities};
use crate::rng::Rng;
use crate::state::State;
use crate::time::Time;
use crate::wire::{self, DecodeError, Entry, Key, Reply, Request, RequestBody, Status};
use core::net::IpAddr;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::fmt;

/// How long a challenge handed out in a reply may be used for a Set.
pub const CHALLENGE_LIFETIME_MS: u64 = 30_000;
/// Outstanding challenges kept at most; the oldest is forgotten first, so a flood of
/// challenge requests costs bounded memory and only delays honest writers by one retry.
pub const MAX_OUTSTANDING_CHALLENGES: usize = 4096;

/// One service as faild stores and persists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceRecord {
    pub name: String,
    pub state: State,
    /// Purely informational: the host that backs this service up (`failc -b`).
    pub backup: Option<String>,
    /// When the state last changed, in the store's clock (faild: wall-clock milliseconds).
    pub changed_at: Time,
}

/// Who sent a request: its address (checked against community networks) and a token the
/// runtime uses to route the reply back (a UDP source, a TCP connection).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Peer {
    pub token: u64,
    pub address: IpAddr,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreConfig {
    /// Random per start (the runtime draws it), so pollers notice a restart.
    pub boot_id: u64,
    /// Seeds the challenge generator.
    pub seed: u64,
    pub communities: Communities,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreInput {
    Request {
        peer: Peer,
        bytes: Vec<u8>,
    },
    /// SIGHUP: a re-read community file.
    ReplaceCommunities(Communities),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreAction {
    /// Write these records to the state file (atomically) before sending the reply that
    /// follows, so an acknowledged change survives a crash.
    Persist {
        services: Vec<ServiceRecord>,
    },
    Reply {
        peer: Peer,
        bytes: Vec<u8>,
    },
    Event(StoreEvent),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreEvent {
    Changed {
        service: String,
        from: Option<State>,
        to: State,
        backup: Option<String>,
        by: IpAddr,
    },
    /// No community verified the request. The community is never logged: it never travels.
    Refused {
        from: IpAddr,
    },
    Forbidden {
        from: IpAddr,
        service: String,
        wanted: Access,
    },
    BadChallenge {
        from: IpAddr,
        service: String,
    },
    Malformed {
        from: IpAddr,
        error: DecodeError,
    },
}

impl fmt::Display for StoreEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreEvent::Changed {
                service,
                from,
                to,
                backup,
                by,
            } => {
                let from = from.map_or("(new)", State::as_str);
                write!(f, "service {service}: {from} -> {to} (set by {by}")?;
                if let Some(backup) = backup {
                    write!(f, ", backup {backup}")?;
                }
                f.write_str(")")
            }
            StoreEvent::Refused { from } => write!(
                f,
                "refused a request from {from}: no configured community verifies it"
            ),
            StoreEvent::Forbidden {
                from,
                service,
                wanted,
            } => {
                let wanted = match wanted {
                    Access::ReadOnly => "read",
                    Access::ReadWrite => "write",
                };
                write!(f, "forbidden: {from} may not {wanted} service {service}")
            }
            StoreEvent::BadChallenge { from, service } => write!(
                f,
                "set of {service} from {from} carried an unknown, used or expired challenge"
            ),
            StoreEvent::Malformed { from, error } => {
                write!(f, "malformed request from {from}: {error}")
            }
        }
    }
}

fn keys_of(communities: &Communities) -> Vec<(String, Key)> {
    communities
        .secrets()
        .into_iter()
        .map(|c| (c.to_string(), Key::new(c)))
        .collect()
}

#[derive(Debug)]
pub struct Store {
    boot_id: u64,
    communities: Communities,
    /// Each distinct community with its prepared MAC key, in file order.
    keys: Vec<(String, Key)>,
    services: BTreeMap<String, ServiceRecord>,
    /// challenge -> when it was handed out.
    challenges: BTreeMap<u64, Time>,
    /// Handed-out order, to forget the oldest when the table is full.
    challenge_order: VecDeque<u64>,
    rng: Rng,
    actions: VecDeque<StoreAction>,
}

impl Store {
    pub fn new(config: StoreConfig, records: Vec<ServiceRecord>) -> Store {
        Store {
            boot_id: config.boot_id,
            keys: keys_of(&config.communities),
            communities: config.communities,
            services: records.into_iter().map(|r| (r.name.clone(), r)).collect(),
            challenges: BTreeMap::new(),
            challenge_order: VecDeque::new(),
            rng: Rng::new(config.seed, "store-challenge"),
            actions: VecDeque::new(),
        }
    }

    pub fn boot_id(&self) -> u64 {
        self.boot_id
    }

    pub fn service(&self, name: &str) -> Option<&ServiceRecord> {
        self.services.get(name)
    }

    pub fn services(&self) -> impl Iterator<Item = &ServiceRecord> {
        self.services.values()
    }

    pub fn records(&self) -> Vec<ServiceRecord> {
        self.services.values().cloned().collect()
    }

    pub fn handle(&mut self, now: Time, input: StoreInput) {
        match input {
            StoreInput::Request { peer, bytes } => self.handle_request(now, peer, &bytes),
            StoreInput::ReplaceCommunities(communities) => {
                self.keys = keys_of(&communities);
                self.communities = communities;
            }
        }
    }

    pub fn poll_action(&mut self) -> Option<StoreAction> {
        self.actions.pop_front()
    }

    fn handle_request(&mut self, now: Time, peer: Peer, bytes: &[u8]) {
        let signed = match wire::decode_request(bytes) {
            Ok(signed) => signed,
            Err(error) => {
                // No reply: answering garbage would make faild a reflector.
                self.event(StoreEvent::Malformed {
                    from: peer.address,
                    error,
                });
                return;
            }
        };
        let community = self
            .keys
            .iter()
            .find(|(_, key)| signed.verify_keyed(key))
            .map(|(community, _)| community.clone());
        let request = signed.message;
        let Some(community) = community else {
            self.event(StoreEvent::Refused { from: peer.address });
            self.reply(peer, &request, Status::Refused, Vec::new(), None, None);
            return;
        };
        let challenge = request.want_challenge.then(|| self.issue_challenge(now));
        match &request.body {
            RequestBody::Query { services } => {
                for service in services {
                    if self
                        .communities
                        .access(service, &community, peer.address)
                        .is_none()
                    {
                        self.forbidden(
                            peer,
                            &request,
                            service,
                            Access::ReadOnly,
                            &community,
                            challenge,
                        );
                        return;
                    }
                }
                let entries = services.iter().map(|s| self.entry(now, s)).collect();
                self.reply(
                    peer,
                    &request,
                    Status::Ok,
                    entries,
                    challenge,
                    Some(&community),
                );
            }
            RequestBody::List => {
                if !self.communities.may_list(&community, peer.address) {
                    self.forbidden(peer, &request, "*", Access::ReadOnly, &community, challenge);
                    return;
                }
                let entries = self
                    .services
                    .keys()
                    .filter(|s| {
                        self.communities
                            .access(s, &community, peer.address)
                            .is_some()
                    })
                    .map(|s| self.entry(now, s))
                    .collect();
                self.reply(
                    peer,
                    &request,
                    Status::Ok,
                    entries,
                    challenge,
                    Some(&community),
                );
            }
            RequestBody::Set {
                service,
                state,
                backup,
                challenge: presented,
            } => {
                if self.communities.access(service, &community, peer.address)
                    != Some(Access::ReadWrite)
                {
                    self.forbidden(
                        peer,
                        &request,
                        service,
                        Access::ReadWrite,
                        &community,
                        challenge,
                    );
                    return;
                }
                if !self.redeem_challenge(now, *presented) {
                    self.event(StoreEvent::BadChallenge {
                        from: peer.address,
                        service: service.clone(),
                    });
                    let fresh = Some(challenge.unwrap_or_else(|| self.issue_challenge(now)));
                    self.reply(
                        peer,
                        &request,
                        Status::BadChallenge,
                        Vec::new(),
                        fresh,
                        Some(&community),
                    );
                    return;
                }
                self.set(now, peer.address, service, *state, backup.clone());
                let entries = vec![self.entry(now, service)];
                self.reply(
                    peer,
                    &request,
                    Status::Ok,
                    entries,
                    challenge,
                    Some(&community),
                );
            }
        }
    }

    fn forbidden(
        &mut self,
        peer: Peer,
        request: &Request,
        service: &str,
        wanted: Access,
        community: &str,
        challenge: Option<u64>,
    ) {
        self.event(StoreEvent::Forbidden {
            from: peer.address,
            service: service.to_string(),
            wanted,
        });
        self.reply(
            peer,
            request,
            Status::Forbidden,
            Vec::new(),
            challenge,
            Some(community),
        );
    }

    fn set(&mut self, now: Time, by: IpAddr, service: &str, state: State, backup: Option<String>) {
        let previous = self.services.get(service);
        let from = previous.map(|r| r.state);
        // `failc -s` without `-b` keeps the recorded backup.
        let backup = backup.or_else(|| previous.and_then(|r| r.backup.clone()));
        if from == Some(state) && previous.map(|r| &r.backup) == Some(&backup) {
            return;
        }
        let changed_at = match previous {
            Some(r) if r.state == state => r.changed_at,
            _ => now,
        };
        self.services.insert(
            service.to_string(),
            ServiceRecord {
                name: service.to_string(),
                state,
                backup: backup.clone(),
                changed_at,
            },
        );
        self.actions.push_back(StoreAction::Persist {
            services: self.records(),
        });
        if from != Some(state) {
            self.event(StoreEvent::Changed {
                service: service.to_string(),
                from,
                to: state,
                backup,
                by,
            });
        }
    }

    fn entry(&self, now: Time, service: &str) -> Entry {
        match self.services.get(service) {
            Some(record) => Entry {
                name: service.to_string(),
                state: Some(record.state),
                backup: record.backup.clone(),
                since_change_ms: now.since_ms(record.changed_at),
            },
            None => Entry {
                name: service.to_string(),
                state: None,
                backup: None,
                since_change_ms: 0,
            },
        }
    }

    fn issue_challenge(&mut self, now: Time) -> u64 {
        let challenge = loop {
            let candidate = self.rng.next_u64();
            // Zero means "no challenge" on the wire.
            if candidate != 0 && !self.challenges.contains_key(&candidate) {
                break candidate;
            }
        };
        while self.challenge_order.len() >= MAX_OUTSTANDING_CHALLENGES {
            if let Some(old) = self.challenge_order.pop_front() {
                self.challenges.remove(&old);
            }
        }
        self.challenges.insert(challenge, now);
        self.challenge_order.push_back(challenge);
        challenge
    }

    fn redeem_challenge(&mut self, now: Time, challenge: u64) -> bool {
        match self.challenges.remove(&challenge) {
            Some(issued_at) => {
                self.challenge_order.retain(|c| *c != challenge);
                now.since_ms(issued_at) <= CHALLENGE_LIFETIME_MS
            }
            None => false,
        }
    }

    fn reply(
        &mut self,
        peer: Peer,
        request: &Request,
        status: Status,
        entries: Vec<Entry>,
        challenge: Option<u64>,
        community: Option<&str>,
    ) {
        let mut reply = Reply {
            nonce: request.nonce,
            authenticated: community.is_some(),
            status,
            boot_id: self.boot_id,
            challenge,
            entries,
        };
        let key =
            community.and_then(|c| self.keys.iter().find(|(k, _)| k == c).map(|(_, key)| key));
        let bytes = match wire::encode_reply_keyed(&reply, key) {
            Ok(bytes) => bytes,
            Err(_) => {
                reply.status = Status::TooLarge;
                reply.entries.clear();
                match wire::encode_reply_keyed(&reply, key) {
                    Ok(bytes) => bytes,
                    Err(_) => return,
                }
            }
        };
        self.actions.push_back(StoreAction::Reply { peer, bytes });
    }

    fn event(&mut self, event: StoreEvent) {
        self.actions.push_back(StoreAction::Event(event));
    }
}
