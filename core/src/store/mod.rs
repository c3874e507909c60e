//! The faild store: the states of this host's services, served to pollers and changed by
//! failsh, failc and init scripts. It never acts on a service; it only remembers and answers.

use crate::community::{Access, Communities};
use crate::rng::Rng;
use crate::state::State;
use crate::time::Time;
use crate::wire::{self, DecodeError, Entry, Key, Reply, Request, RequestBody, Status};
use core::net::IpAddr;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;

pub mod heard;
mod persist;
mod push;
pub use push::{MAX_SUBSCRIPTIONS, SUBSCRIPTION_LIFETIME_MS};

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
    /// UP only: the lease failsh set with the state; unless it is renewed within this long,
    /// the service turns FAIL ("lease expired"). After a restart the lease runs from the
    /// start of faild.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_ms: Option<u64>,
    /// Why the state is what it is: what the writer said with it, or `lease expired`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl ServiceRecord {
    /// A record without lease or note.
    pub fn new(
        name: &str,
        state: State,
        backup: Option<String>,
        changed_at: Time,
    ) -> ServiceRecord {
        ServiceRecord {
            name: name.to_string(),
            state,
            backup,
            changed_at,
            lease_ms: None,
            note: None,
        }
    }
}

/// The note faild gives a service whose UP lease ran out.
pub const LEASE_EXPIRED: &str = "lease expired";

/// Who sent a request: its address (checked against community networks) and a token the
/// runtime uses to route the reply back (a UDP source, a TCP connection).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
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
    /// The [`StoreAction::Persist`] with this token is done: the records are on disk, or
    /// could not be written (the reason). Only then is a change acknowledged and seen by
    /// pollers; a failed write changes nothing.
    Persisted {
        token: u64,
        result: Result<(), String>,
    },
    /// A deadline of [`Store::poll_timeout`] may have passed; spurious calls are harmless.
    Timeout,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreAction {
    /// Write these records to the state file (atomically) and answer with
    /// [`StoreInput::Persisted`] carrying the token. Until then the change is neither
    /// acknowledged nor visible.
    Persist {
        token: u64,
        services: Vec<ServiceRecord>,
    },
    Reply {
        peer: Peer,
        bytes: Vec<u8>,
    },
    /// A doorbell for a subscriber (`docs/protocol.md`, "Push"): send it to `peer` if it
    /// is still there (its TCP connection, or the UDP source its subscription came from);
    /// a push that cannot be sent is dropped, the subscriber's next poll repairs it.
    Push {
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
        note: Option<String>,
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
    /// The UP record was not renewed in time: the service now counts as FAIL.
    LeaseExpired {
        service: String,
        lease_ms: u64,
    },
    /// A change could not be written to the state file: it was not made, and the writer
    /// was told so.
    NotStored {
        service: String,
        by: IpAddr,
        reason: String,
    },
    /// The state file could not be written for a change faild made itself (a lease that
    /// expired): pollers see it, the file does not hold it yet; the next write retries.
    PersistFailed {
        reason: String,
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
                note,
            } => {
                let from = from.map_or("(new)", State::as_str);
                write!(f, "service {service}: {from} -> {to} (set by {by}")?;
                if let Some(backup) = backup {
                    write!(f, ", backup {backup}")?;
                }
                f.write_str(")")?;
                if let Some(note) = note {
                    write!(f, ": {note}")?;
                }
                Ok(())
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
            StoreEvent::LeaseExpired { service, lease_ms } => write!(
                f,
                "service {service}: UP -> FAIL: {LEASE_EXPIRED} (not renewed within {lease_ms} ms: its failsh is dead or hung)"
            ),
            StoreEvent::NotStored {
                service,
                by,
                reason,
            } => write!(
                f,
                "cannot write the state file, change of {service} from {by} refused (nothing changed): {reason}"
            ),
            StoreEvent::PersistFailed { reason } => write!(
                f,
                "cannot write the state file (the next change retries): {reason}"
            ),
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

/// A change waiting for the state file: what the records become, and whom to tell.
#[derive(Debug)]
struct Persisting {
    token: u64,
    next: BTreeMap<String, ServiceRecord>,
    /// The Set that made the change (None: a change faild made itself, a lease expiry).
    set: Option<PendingSet>,
}

#[derive(Debug)]
struct PendingSet {
    peer: Peer,
    request: Request,
    service: String,
    community: String,
    challenge: Option<u64>,
    event: Option<StoreEvent>,
}

#[derive(Debug)]
pub struct Store {
    boot_id: u64,
    communities: Communities,
    /// Each distinct community with its prepared MAC key, in file order.
    keys: Vec<(String, Key)>,
    /// What pollers see: on disk, except for leases that expired since the last write.
    services: BTreeMap<String, ServiceRecord>,
    /// When each UP lease runs out.
    lease_deadlines: BTreeMap<String, Time>,
    /// How many times each service's state changed since this faild started.
    changes: BTreeMap<String, u32>,
    /// challenge -> when it was handed out.
    challenges: BTreeMap<u64, Time>,
    /// Handed-out order, to forget the oldest when the table is full.
    challenge_order: VecDeque<u64>,
    /// The change being written; Sets that arrive meanwhile wait in `deferred`.
    persisting: Option<Persisting>,
    deferred: VecDeque<(Peer, Vec<u8>)>,
    /// `services` holds something the state file does not (an expiry whose write failed),
    /// and when to try writing it again (a second later: a full disk is not fixed sooner).
    dirty: bool,
    retry_persist_at: Time,
    next_token: u64,
    rng: Rng,
    actions: VecDeque<StoreAction>,
    /// When each member of a witnessed service's group last queried this faild.
    heard: heard::HeardTable,
    /// Who is told at once when a service changes.
    subscriptions: push::Subscriptions,
}

/// A change faild made itself (an expiry) whose write failed is tried again this much later.
pub const PERSIST_RETRY_MS: u64 = 1_000;

/// Sets waiting behind a write at most; more are dropped like lost datagrams (the writer
/// retries), so a flood of Sets cannot grow faild.
pub const MAX_DEFERRED_SETS: usize = 256;

impl Store {
    /// A store with the records of the state file. Leases of UP records run from `now`.
    pub fn new(config: StoreConfig, records: Vec<ServiceRecord>) -> Store {
        Store::new_at(config, records, Time(0))
    }

    /// [`Store::new`] whose leases run from `now` (faild: its start).
    pub fn new_at(config: StoreConfig, records: Vec<ServiceRecord>, now: Time) -> Store {
        let lease_deadlines = records
            .iter()
            .filter(|r| r.state == State::Up)
            .filter_map(|r| r.lease_ms.map(|ms| (r.name.clone(), now.plus_ms(ms))))
            .collect();
        Store {
            boot_id: config.boot_id,
            keys: keys_of(&config.communities),
            communities: config.communities,
            services: records.into_iter().map(|r| (r.name.clone(), r)).collect(),
            lease_deadlines,
            changes: BTreeMap::new(),
            challenges: BTreeMap::new(),
            challenge_order: VecDeque::new(),
            persisting: None,
            deferred: VecDeque::new(),
            dirty: false,
            retry_persist_at: Time(0),
            next_token: 1,
            rng: Rng::new(config.seed, "store-challenge"),
            actions: VecDeque::new(),
            heard: heard::HeardTable::default(),
            subscriptions: push::Subscriptions::default(),
        }
    }

    /// (subscriber, service) pairs that are pushed to.
    pub fn subscriptions(&self) -> usize {
        self.subscriptions.len()
    }

    /// Tells the subscribers of `changed` services, after the change became visible.
    pub(super) fn push_changes(&mut self, now: Time, changed: &BTreeSet<String>) {
        let pushes = self
            .subscriptions
            .pushes(now, self.boot_id, &self.keys, changed);
        for (peer, bytes) in pushes {
            self.actions.push_back(StoreAction::Push { peer, bytes });
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

    /// When the store wants [`StoreInput::Timeout`]: the next lease to run out.
    pub fn poll_timeout(&self) -> Option<Time> {
        self.lease_deadlines.values().min().copied()
    }

    pub fn handle(&mut self, now: Time, input: StoreInput) {
        // Leases first, so that no answer at `now` shows an UP that has run out.
        self.expire_leases(now);
        match input {
            StoreInput::Request { peer, bytes } => self.handle_request(now, peer, &bytes),
            StoreInput::ReplaceCommunities(communities) => {
                self.keys = keys_of(&communities);
                self.communities = communities;
            }
            StoreInput::Persisted { token, result } => self.persisted(now, token, result),
            StoreInput::Timeout => {}
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
        if self.persisting.is_some() && matches!(signed.message.body, RequestBody::Set { .. }) {
            // A Set builds on the change being written: it waits for it.
            if self.deferred.len() < MAX_DEFERRED_SETS {
                self.deferred.push_back((peer, bytes.to_vec()));
            }
            return;
        }
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
            RequestBody::Query { services, member } => {
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
                if let Some(member) = member {
                    for service in services {
                        self.heard.heard(now, service, member);
                    }
                }
                if let Some(id) = request.subscription {
                    self.subscriptions
                        .subscribe(now, peer, id, &community, services);
                }
                let mut entries: Vec<Entry> = services.iter().map(|s| self.entry(now, s)).collect();
                if member.is_some() {
                    for entry in &mut entries {
                        entry.heard = self.heard.report(now, &entry.name);
                    }
                }
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
                challenge: presented,
                ..
            } => {
                let service = service.clone();
                if self.communities.access(&service, &community, peer.address)
                    != Some(Access::ReadWrite)
                {
                    self.forbidden(
                        peer,
                        &request,
                        &service,
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
                self.set(now, peer, request, community, challenge);
            }
        }
    }

    /// A verified, permitted Set: renews a lease at once, or writes the change and answers
    /// once it is on disk.
    fn set(
        &mut self,
        now: Time,
        peer: Peer,
        request: Request,
        community: String,
        challenge: Option<u64>,
    ) {
        let RequestBody::Set {
            service,
            state,
            backup,
            lease_ms,
            note,
            renew,
            was_up,
            ..
        } = &request.body
        else {
            return;
        };
        let service = service.clone();
        let previous = self.services.get(&service);
        let renewable = previous
            .is_some_and(|r| r.state == State::Up && (lease_ms.is_none() || r.lease_ms.is_some()));
        if *renew && !renewable {
            // The renewal (or failsh's confirmation of an UP it wrote before a procedure ran)
            // crossed a change (an operator's FAIL, an expiry): it must not undo it.
            let entries = vec![self.entry(now, &service)];
            self.reply(
                peer,
                &request,
                Status::NotRenewed,
                entries,
                challenge,
                Some(&community),
            );
            return;
        }
        let from = previous.map(|r| r.state);
        // `failc -s` without `-b` keeps the recorded backup.
        let backup = backup
            .clone()
            .or_else(|| previous.and_then(|r| r.backup.clone()));
        let lease_ms = lease_ms.filter(|_| *state == State::Up).map(u64::from);
        let changed_at = match previous {
            Some(r) if r.state == *state && !*was_up => r.changed_at,
            _ => now,
        };
        let record = ServiceRecord {
            name: service.clone(),
            state: *state,
            backup: backup.clone(),
            changed_at,
            lease_ms,
            note: note.clone(),
        };
        if previous == Some(&record) {
            // Nothing to write: a renewal of the lease, or the same state again.
            match lease_ms {
                Some(ms) => {
                    self.lease_deadlines
                        .insert(service.clone(), now.plus_ms(ms));
                }
                None => {
                    self.lease_deadlines.remove(&service);
                }
            }
            let entries = vec![self.entry(now, &service)];
            self.reply(
                peer,
                &request,
                Status::Ok,
                entries,
                challenge,
                Some(&community),
            );
            return;
        }
        let event = (from != Some(*state)).then(|| StoreEvent::Changed {
            service: service.clone(),
            from,
            to: *state,
            backup,
            by: peer.address,
            note: note.clone(),
        });
        let mut next = self.services.clone();
        next.insert(service.clone(), record);
        self.start_persist(
            next,
            Some(PendingSet {
                peer,
                request,
                service,
                community,
                challenge,
                event,
            }),
        );
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

    fn entry(&self, now: Time, service: &str) -> Entry {
        match self.services.get(service) {
            Some(record) => Entry {
                name: service.to_string(),
                state: Some(record.state),
                backup: record.backup.clone(),
                since_change_ms: now.since_ms(record.changed_at),
                note: record.note.clone(),
                changes: Some(self.changes.get(service).copied().unwrap_or(0)),
                heard: None,
            },
            None => Entry {
                name: service.to_string(),
                state: None,
                backup: None,
                since_change_ms: 0,
                note: None,
                changes: Some(0),
                heard: None,
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
            with_details: request.want_details,
            with_heard: matches!(
                request.body,
                RequestBody::Query {
                    member: Some(_),
                    ..
                }
            ),
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
