//! Subscriptions and pushes: a poller that asks with a subscription id is told at once, by a
//! doorbell ([`wire::Push`]), when one of the services it asked about changes, instead of at
//! its next poll. The doorbell carries no state: the poller reads the service again, so what
//! it decides on is still an answer to its own query.

use super::*;
use crate::wire::{Nonce, Push};

/// (subscriber, service) pairs kept at most: a flood of subscribing queries costs bounded
/// memory; past it new subscriptions are not taken (their pollers only lose the push).
pub const MAX_SUBSCRIPTIONS: usize = 4096;
/// A subscription that no subscribing query renewed for this long lapses; failsh renews
/// its own with every poll.
pub const SUBSCRIPTION_LIFETIME_MS: u64 = 600_000;

#[derive(Debug)]
pub(super) struct Subscription {
    id: Nonce,
    community: String,
    expires_at: Time,
}

#[derive(Debug, Default)]
pub(super) struct Subscriptions {
    by_peer: BTreeMap<(Peer, String), Subscription>,
    /// The sequence number of the last push sent (per boot: pollers reset on a new boot id).
    seq: u64,
}

impl Subscriptions {
    pub(super) fn len(&self) -> usize {
        self.by_peer.len()
    }

    /// An authenticated, permitted query with subscription `id`: pushes about `services`
    /// go to `peer` (as long as queries renew it).
    pub(super) fn subscribe(
        &mut self,
        now: Time,
        peer: Peer,
        id: Nonce,
        community: &str,
        services: &[String],
    ) {
        for service in services {
            let key = (peer, service.clone());
            if !self.by_peer.contains_key(&key) && self.by_peer.len() >= MAX_SUBSCRIPTIONS {
                self.by_peer.retain(|_, s| s.expires_at > now);
                if self.by_peer.len() >= MAX_SUBSCRIPTIONS {
                    return;
                }
            }
            self.by_peer.insert(
                key,
                Subscription {
                    id,
                    community: community.to_string(),
                    expires_at: now.plus_ms(SUBSCRIPTION_LIFETIME_MS),
                },
            );
        }
    }

    /// The pushes that `changed` calls for: one per subscription id, naming the changed
    /// services it subscribed to, with the next sequence number, sent to every peer the id
    /// subscribed from (a failsh that opened a new connection, or whose old one may still
    /// deliver after a partition healed: the copies share one number, so it reads once).
    pub(super) fn pushes(
        &mut self,
        now: Time,
        boot_id: u64,
        keys: &[(String, Key)],
        changed: &BTreeSet<String>,
    ) -> Vec<(Peer, Vec<u8>)> {
        if changed.is_empty() || self.by_peer.is_empty() {
            return Vec::new();
        }
        self.by_peer.retain(|_, s| s.expires_at > now);
        type Due<'a> = (&'a str, BTreeSet<Peer>, BTreeSet<String>);
        let mut due: BTreeMap<Nonce, Due<'_>> = BTreeMap::new();
        for ((peer, service), subscription) in &self.by_peer {
            if changed.contains(service) {
                let (_, peers, services) = due.entry(subscription.id).or_insert_with(|| {
                    (
                        subscription.community.as_str(),
                        BTreeSet::new(),
                        BTreeSet::new(),
                    )
                });
                peers.insert(*peer);
                services.insert(service.clone());
            }
        }
        let mut out = Vec::new();
        for (id, (community, peers, services)) in due {
            // A community removed by a reload: its subscribers hear nothing more.
            let Some((_, key)) = keys.iter().find(|(c, _)| c == community) else {
                continue;
            };
            self.seq += 1;
            let push = Push {
                nonce: id,
                boot_id,
                seq: self.seq,
                services: services.into_iter().collect(),
            };
            if let Ok(bytes) = wire::encode_push_keyed(&push, key) {
                for peer in peers {
                    out.push((peer, bytes.clone()));
                }
            }
        }
        out
    }
}
