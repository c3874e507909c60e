//! Poll rounds: one query per host for every service due, replies matched by nonce, silent
//! hosts counted as misses and probed until they answer, and reachability.

use super::*;
use crate::store::LEASE_EXPIRED;
use crate::wire::{self, Reply, Request, RequestBody, Status, NONCE_BYTES};

impl Shell {
    // ----- timers and rounds ---------------------------------------------------------------

    pub(super) fn handle_timeout(&mut self, now: Time) {
        let mut rounds = Vec::new();
        while let Some(timer) = self.timers.pop_due(now) {
            match timer {
                Timer::ReplyDeadline(s) => self.close_round(now, s),
                Timer::ProcedureLimit(s) => self.procedure_limit(now, s),
                Timer::Drain => self.end_drain(),
                Timer::Handover => self.finish_handover(false),
                Timer::Round(s) => rounds.push(s),
                Timer::Renew(s) => self.renew(now, s),
                Timer::Probe(h) => self.probe(now, h),
                Timer::Fence(s) => self.evaluate(now, s),
            }
        }
        self.expire_pending(now);
        if !rounds.is_empty() {
            self.start_rounds(now, &rounds);
        }
    }

    pub(super) fn expire_pending(&mut self, now: Time) {
        while let Some(&(at, nonce)) = self.pending_expiry.first() {
            if at > now {
                break;
            }
            self.pending_expiry.remove(&(at, nonce));
            if let Some(Pending::Write {
                service,
                generation,
            }) = self.pending.remove(&nonce)
            {
                self.write_failed(now, service, generation, "no answer in time".to_string());
            }
        }
    }

    pub(super) fn start_rounds(&mut self, now: Time, due: &[ServiceId]) {
        // One request per host for all services due at this instant keeps a thousand
        // services at one interval to a handful of datagrams per interval.
        let mut by_host: BTreeMap<HostId, Vec<(ServiceId, u64)>> = BTreeMap::new();
        let mut longest_timeout_ms: BTreeMap<HostId, u64> = BTreeMap::new();
        for &id in due {
            let local = self.local;
            let Some(service) = self.services.get_mut(&id) else {
                continue;
            };
            if service.round.is_some() {
                // The previous round outlived the interval (timeout > interval): close it so
                // that its silent hosts count as misses before polling again.
                self.close_round(now, id);
            }
            let Some(service) = self.services.get_mut(&id) else {
                continue;
            };
            let round_id = service.next_round_id;
            service.next_round_id += 1;
            let mut awaiting: BTreeSet<HostId> = service.peers().collect();
            awaiting.insert(local);
            let timeout_ms = service.config.timeout_ms();
            // Witnesses are asked in the same round, but the round does not wait for them:
            // their answers count by time (contact), not as a state.
            for host in awaiting.iter().chain(&service.witnesses) {
                by_host.entry(*host).or_default().push((id, round_id));
                let longest = longest_timeout_ms.entry(*host).or_default();
                *longest = (*longest).max(timeout_ms);
            }
            service.round = Some(Round {
                id: round_id,
                awaiting,
                reread: false,
            });
            self.timers
                .set(Timer::ReplyDeadline(id), now.plus_ms(timeout_ms));
            self.timers
                .set(Timer::Round(id), now.plus_ms(service.config.interval_ms));
        }
        for (host, services) in by_host {
            for chunk in services.chunks(MAX_SERVICES_PER_POLL) {
                self.send_poll(now, host, chunk.to_vec(), longest_timeout_ms[&host]);
            }
        }
    }

    pub(super) fn new_nonce(&mut self) -> Nonce {
        let mut bytes = [0u8; NONCE_BYTES];
        self.rng.fill(&mut bytes);
        Nonce(bytes)
    }

    /// Sends a query to `host`, keeps what waits for its answer, and lets it expire.
    fn send_query(
        &mut self,
        now: Time,
        host: HostId,
        names: Vec<String>,
        timeout_ms: u64,
        pending: Pending,
    ) {
        let nonce = self.new_nonce();
        // For a witnessed service the query says who asks, so that every faild records when
        // it heard this host (what a majority needs to know before it takes over from us).
        let member = names
            .iter()
            .filter_map(|name| self.service_names.get(name))
            .filter_map(|id| self.services.get(id))
            .find(|service| !service.witnesses.is_empty())
            .and_then(|service| service.config.member.clone());
        let request = Request {
            nonce,
            want_challenge: host == self.local,
            // Why a host is FAIL (`lease expired`), and whether the local FAIL is ours.
            want_details: true,
            // Its faild rings as soon as one of these services changes (an operator's
            // FAIL, a handover, a RECOVER), so that we read it then, not an interval later.
            subscription: Some(self.hosts[&host].subscription),
            body: RequestBody::Query {
                services: names,
                member,
            },
        };
        match wire::encode_request_keyed(&request, &self.hosts[&host].key) {
            Ok(bytes) => {
                self.pending.insert(nonce, pending);
                self.pending_expiry.insert((now.plus_ms(timeout_ms), nonce));
                self.send(host, nonce, bytes, timeout_ms);
            }
            Err(error) => {
                // Validation keeps names short, so this is a bug; the round's deadline will
                // count the host as silent.
                let host_name = self.host_name(host);
                self.event(Event::BadReply {
                    host: host_name,
                    error: format!("cannot encode poll: {error}"),
                });
            }
        }
    }

    pub(super) fn send_poll(
        &mut self,
        now: Time,
        host: HostId,
        services: Vec<(ServiceId, u64)>,
        timeout_ms: u64,
    ) {
        if services.is_empty() {
            return;
        }
        let names: Vec<String> = services
            .iter()
            .map(|(id, _)| self.services[id].config.name.clone())
            .collect();
        let generation = services
            .iter()
            .map(|(id, _)| self.services[id].write_generation)
            .collect();
        let pending = Pending::Poll {
            host,
            services,
            generation,
            sent_at: now,
        };
        self.send_query(now, host, names, timeout_ms, pending);
    }

    /// The round's silent hosts count one miss each; then the rule is applied.
    pub(super) fn close_round(&mut self, now: Time, id: ServiceId) {
        self.timers.stop(Timer::ReplyDeadline(id));
        let local = self.local;
        let Some(service) = self.services.get_mut(&id) else {
            return;
        };
        let Some(round) = service.round.take() else {
            return;
        };
        let timeout_ms = service.config.timeout_ms();
        let mut silent = Vec::new();
        if !round.reread {
            for host in round.awaiting {
                if host == local {
                    service.local_misses = service.local_misses.saturating_add(1);
                } else {
                    service.count_miss(now, host);
                }
                silent.push(host);
            }
        }
        for host in silent {
            self.host_silent(now, host, format!("no answer within {timeout_ms} ms"));
        }
        self.confirm_start(now, id);
        if let Some(service) = self.services.get_mut(&id) {
            service.deciding_reread = round.reread;
        }
        self.evaluate(now, id);
        let Some(service) = self.services.get_mut(&id) else {
            return;
        };
        service.deciding_reread = false;
        if service.round.is_none() && !service.reread_pending.is_empty() {
            let hosts = std::mem::take(&mut service.reread_pending);
            self.reread(now, id, hosts);
        }
    }

    /// Reads `hosts` again for service `id` now, between its rounds (they pushed a change);
    /// during a round, once it closes.
    pub(super) fn reread(&mut self, now: Time, id: ServiceId, hosts: BTreeSet<HostId>) {
        let Some(service) = self.services.get_mut(&id) else {
            return;
        };
        if service.round.is_some() {
            service.reread_pending.extend(hosts);
            return;
        }
        // Before the first round there is nothing to read again: it comes at once.
        let Some(round_id) = service.next_round_id.checked_sub(1) else {
            return;
        };
        let timeout_ms = service.config.timeout_ms();
        service.round = Some(Round {
            id: round_id,
            awaiting: hosts.clone(),
            reread: true,
        });
        self.timers
            .set(Timer::ReplyDeadline(id), now.plus_ms(timeout_ms));
        for host in hosts {
            self.send_poll(now, host, vec![(id, round_id)], timeout_ms);
        }
    }

    /// A push from some faild: verified against the subscription it names, taken once and
    /// in order, it makes every service it names that involves that host read it again now.
    /// What is decided rests on that answer, as ever; the push only saves the wait.
    fn handle_push(&mut self, now: Time, bytes: &[u8]) {
        let signed = match wire::decode_push(bytes) {
            Ok(signed) => signed,
            Err(error) => {
                self.event(Event::BadReply {
                    host: "?".to_string(),
                    error: format!("push: {error}"),
                });
                return;
            }
        };
        let push = &signed.message;
        // Bound to a subscription we no longer hold (a replaced host, or a copy of an old
        // push): nothing to read again, and nothing worth a log line.
        let Some((&host, entry)) = self
            .hosts
            .iter()
            .find(|(_, h)| h.subscription == push.nonce)
        else {
            return;
        };
        if !signed.verify_keyed(&entry.key) {
            let name = entry.config.name.clone();
            self.event(Event::BadReply {
                host: name,
                error: "push does not verify under the host's community".to_string(),
            });
            return;
        }
        // From a faild boot we have not had an answer from yet, a replay, or one that was
        // overtaken: the answers to our polls say more.
        if entry.boot_id != Some(push.boot_id) || push.seq <= entry.push_seq {
            return;
        }
        let name = entry.config.name.clone();
        if let Some(entry) = self.hosts.get_mut(&host) {
            entry.push_seq = push.seq;
        }
        let local = self.local;
        let ids: Vec<ServiceId> = push
            .services
            .iter()
            .filter_map(|s| self.service_names.get(s).copied())
            .filter(|id| {
                self.services
                    .get(id)
                    .is_some_and(|service| host == local || service.peers().any(|h| h == host))
            })
            .collect();
        if ids.is_empty() {
            return;
        }
        self.event(Event::Pushed {
            host: name,
            services: ids
                .iter()
                .map(|id| self.services[id].config.name.clone())
                .collect(),
        });
        for id in ids {
            self.reread(now, id, BTreeSet::from([host]));
        }
    }

    pub(super) fn host_silent(&mut self, now: Time, host: HostId, reason: String) {
        let local = self.local;
        let Some(entry) = self.hosts.get_mut(&host) else {
            return;
        };
        entry.unconfirmed_since = None;
        if entry.reachable != Some(false) {
            entry.reachable = Some(false);
            let name = entry.config.name.clone();
            self.event(Event::HostUnreachable { host: name, reason });
            // Its services poll it at their interval; a heal is seen sooner by probing.
            let slowest_poll_ms = self
                .services
                .values()
                .filter(|s| s.peers().any(|h| h == host))
                .map(|s| s.config.interval_ms)
                .min();
            if host != local && slowest_poll_ms.is_some_and(|ms| ms > PROBE_INTERVAL_MS) {
                self.timers
                    .set(Timer::Probe(host), now.plus_ms(PROBE_INTERVAL_MS));
            }
        }
    }

    pub(super) fn host_answered(&mut self, now: Time, host: HostId, boot_id: u64) {
        let Some(entry) = self.hosts.get_mut(&host) else {
            return;
        };
        entry.last_contact = Some(now);
        let name = entry.config.name.clone();
        let restarted = entry.boot_id.is_some_and(|b| b != boot_id);
        if entry.boot_id != Some(boot_id) {
            // A new faild numbers its pushes from 1 again.
            entry.push_seq = 0;
        }
        entry.boot_id = Some(boot_id);
        if entry.reachable != Some(true) {
            entry.reachable = Some(true);
            self.timers.stop(Timer::Probe(host));
            self.event(Event::HostReachable { host: name.clone() });
        }
        if restarted {
            self.event(Event::HostRestarted { host: name });
            // A slave that restarted may have started and announced the address before, and
            // its start may have gone unseen: the master re-announces.
            for service in self.services.values_mut() {
                if service.peers().any(|h| h == host) && service.state == Some(State::Up) {
                    service.reannounce = true;
                }
            }
        }
    }

    /// A silent host is asked again, more often than its services poll it.
    fn probe(&mut self, now: Time, host: HostId) {
        let reachable = self.hosts.get(&host).and_then(|h| h.reachable);
        if reachable != Some(false) {
            return;
        }
        let Some(name) = self
            .services
            .values()
            .find(|s| s.peers().any(|h| h == host))
            .map(|s| s.config.name.clone())
        else {
            return;
        };
        self.send_query(
            now,
            host,
            vec![name],
            PROBE_INTERVAL_MS,
            Pending::Probe { host, sent_at: now },
        );
        self.timers
            .set(Timer::Probe(host), now.plus_ms(PROBE_INTERVAL_MS));
    }

    /// A host answered after it had counted as silent. Its answer is not acted on: it may
    /// have been queued in a faild that stalled, and be older than what we know. Every
    /// service that involves the host asks it again now (a service between rounds starts
    /// one), and the answers to those count.
    fn confirm(&mut self, now: Time, host: HostId) {
        if let Some(entry) = self.hosts.get_mut(&host) {
            entry.unconfirmed_since.get_or_insert(now);
        }
        let mut in_round = Vec::new();
        let mut idle = Vec::new();
        let mut timeout_ms = 0;
        for (id, service) in &self.services {
            if !service.peers().any(|h| h == host) {
                continue;
            }
            timeout_ms = timeout_ms.max(service.config.timeout_ms());
            match &service.round {
                Some(round) if round.awaiting.contains(&host) => in_round.push((*id, round.id)),
                Some(_) => {}
                None => idle.push(*id),
            }
        }
        for chunk in in_round.chunks(MAX_SERVICES_PER_POLL) {
            self.send_poll(now, host, chunk.to_vec(), timeout_ms);
        }
        if !idle.is_empty() {
            self.start_rounds(now, &idle);
        }
    }

    // ----- replies -------------------------------------------------------------------------

    pub(super) fn handle_received(&mut self, now: Time, bytes: &[u8]) {
        if wire::is_push(bytes) {
            self.handle_push(now, bytes);
            return;
        }
        let signed = match wire::decode_reply(bytes) {
            Ok(signed) => signed,
            Err(error) => {
                self.event(Event::BadReply {
                    host: "?".to_string(),
                    error: error.to_string(),
                });
                return;
            }
        };
        let nonce = signed.message.nonce;
        let host = match self.pending.get(&nonce) {
            Some(Pending::Poll { host, .. }) | Some(Pending::Probe { host, .. }) => *host,
            Some(Pending::Write { .. }) => self.local,
            // Late, duplicated or replayed: nothing is waiting for it.
            None => return,
        };
        let Some(key) = self.hosts.get(&host).map(|h| &h.key) else {
            return;
        };
        let reply = signed.message.clone();
        if reply.authenticated && !signed.verify_keyed(key) {
            // Not removed from pending: a forgery must not cancel the genuine answer.
            let name = self.host_name(host);
            self.event(Event::BadReply {
                host: name,
                error: "reply does not verify under the host's community".to_string(),
            });
            return;
        }
        let Some(pending) = self.pending.remove(&nonce) else {
            return;
        };
        self.pending_expiry.retain(|(_, n)| *n != nonce);
        if reply.authenticated && reply.status == Status::Ok {
            // Contact, and what that faild heard, count whenever the answer came: it
            // answered our nonce, so it heard us after we asked.
            if let Some(entry) = self.hosts.get_mut(&host) {
                entry.last_answer_at = Some(now);
            }
            match &pending {
                Pending::Poll { sent_at, .. } | Pending::Probe { sent_at, .. }
                    if reply.with_heard =>
                {
                    self.record_reports(now, *sent_at, host, &reply);
                }
                _ => {}
            }
        }
        if host != self.local && reply.authenticated && reply.status == Status::Ok {
            let sent_at = match &pending {
                Pending::Poll { sent_at, .. } | Pending::Probe { sent_at, .. } => *sent_at,
                Pending::Write { .. } => now,
            };
            let entry = &self.hosts[&host];
            let first_after_silence = match entry.unconfirmed_since {
                // Asked before the first answer after the silence: as old as that one.
                Some(since) => sent_at < since,
                None => entry.reachable == Some(false) || matches!(pending, Pending::Probe { .. }),
            };
            if first_after_silence {
                if entry.unconfirmed_since.is_none() {
                    self.confirm(now, host);
                }
                return;
            }
            if let Some(entry) = self.hosts.get_mut(&host) {
                entry.unconfirmed_since = None;
            }
        }
        if reply.authenticated {
            self.host_answered(now, host, reply.boot_id);
        }
        if host == self.local {
            if let Some(challenge) = reply.challenge.filter(|_| reply.authenticated) {
                // A few in hand let several services write at once; more would only be
                // older ones, which faild may already have forgotten (it keeps a bounded
                // number, and a 5 ms interval hands out 200 a second).
                if self.challenges.len() >= HELD_CHALLENGES {
                    self.challenges.pop_front();
                }
                self.challenges.push_back((challenge, now));
            }
        }
        match pending {
            Pending::Poll {
                host,
                services,
                generation,
                sent_at,
            } => self.poll_answered(now, host, services, generation, sent_at, &reply),
            Pending::Probe { .. } => {}
            Pending::Write {
                service,
                generation,
            } => self.write_answered(now, service, generation, &reply),
        }
        self.send_writes(now);
    }

    /// What `host`'s faild heard from the members of the witnessed services it answered for.
    fn record_reports(&mut self, now: Time, asked_at: Time, host: HostId, reply: &Reply) {
        for entry in &reply.entries {
            let Some(id) = self.service_names.get(&entry.name) else {
                continue;
            };
            let Some(service) = self.services.get_mut(id) else {
                continue;
            };
            if service.witnesses.is_empty() {
                continue;
            }
            service
                .reports
                .insert(host, Report::new(now, asked_at, entry.heard.as_ref()));
        }
    }

    pub(super) fn poll_answered(
        &mut self,
        now: Time,
        host: HostId,
        services: Vec<(ServiceId, u64)>,
        generation: Vec<u64>,
        sent_at: Time,
        reply: &Reply,
    ) {
        if reply.status != Status::Ok {
            let name = self.host_name(host);
            self.event(Event::BadReply {
                host: name,
                error: reply.status.to_string(),
            });
            // Counted as silence: the round deadline turns it into a miss.
            return;
        }
        for ((id, round_id), sent_generation) in services.into_iter().zip(generation) {
            let local = self.local;
            let Some(service) = self.services.get_mut(&id) else {
                continue;
            };
            let Some(entry) = reply.entries.iter().find(|e| e.name == service.config.name) else {
                continue;
            };
            if service.witnesses.contains(&host) && host != local {
                // A witness has no state for the service; its answer counted as contact, and
                // its record of who it heard may be what a start waits for (W5).
                self.confirm_start(now, id);
                continue;
            }
            if host == local {
                service.local_misses = 0;
                // A write that failed and waits to be retried is dropped if the local faild
                // changed after it was made: an operator decided since, and a retry must not
                // undo that (an operator's RECOVER after a stalled faild came back).
                let overtaken = service.write.as_ref().is_some_and(|w| {
                    w.in_flight.is_none()
                        && w.retry_at.is_some()
                        && sent_generation == service.write_generation
                        && entry.state != Some(w.state)
                        && entry.since_change_ms < now.since_ms(w.made_at)
                });
                if overtaken {
                    service.write = None;
                    service.write_failures = 0;
                }
                let current =
                    sent_generation == service.write_generation && service.write.is_none();
                if current {
                    service.local_note = entry.note.clone();
                }
                // A health check changes nothing here: what an operator wrote meanwhile is
                // taken over at once. Otherwise a periodic check that overlaps every answer
                // of the local faild (a slow check at a short interval) hid an operator's
                // FAIL until the lease lapsed (seed 5737 with controls).
                let adoptable = service
                    .procedure
                    .as_ref()
                    .is_none_or(|p| p.kind == ProcedureKind::Check);
                if current && adoptable {
                    self.adopt_local_state(now, id, entry.state);
                } else if current
                    && entry.state == Some(State::Fail)
                    && service.state != Some(State::Fail)
                    && service.end_in.is_none()
                {
                    // An operator's FAIL (the service script's `fail`) landed while a
                    // procedure runs; it must not be overwritten by that procedure's result.
                    service.end_in = Some((
                        State::Fail,
                        "an operator set FAIL in the local faild".to_string(),
                    ));
                }
            } else {
                // Answers travel with delays up to a timeout, more on a loaded host: a change
                // time that moved by less than this is noise, not a new change.
                let tolerance_ms = service.config.timeout_ms().max(100);
                let local_up = service.state == Some(State::Up);
                let view = service.views.entry(host).or_default();
                // A slave whose state changed between two polls without our seeing it UP
                // may have started and announced the address meanwhile (and stepped down
                // again): the master must re-announce. Its faild's "since the last change"
                // shows it, whatever the slave's clock says about absolute time.
                // Only paths that can pass through UP count: the same state with a newer
                // change (RECOVER -> UP -> RECOVER), or RECOVER -> FAIL (a start that failed
                // after announcing). FAIL -> RECOVER is a registration, not an announcement.
                let moved = entry.since_change_ms.saturating_add(tolerance_ms)
                    < view
                        .since_change_ms
                        .saturating_add(now.since_ms(view.seen_at));
                let by_time = (view.state == entry.state && moved)
                    || (view.state == Some(State::Recover) && entry.state == Some(State::Fail));
                // A faild that counts its changes says exactly: two or more since our last
                // poll between two states other than UP may have passed through UP.
                let by_count = match (view.changes, entry.changes) {
                    (Some((boot, before)), Some(after)) if boot == reply.boot_id => {
                        Some(after.wrapping_sub(before) >= 2)
                    }
                    _ => None,
                };
                let unseen_change = view.answered
                    && view.state != Some(State::Up)
                    && entry.state != Some(State::Up)
                    && by_count.unwrap_or(by_time);
                // A slave we saw UP steps down: the end of a conflict episode. Its start
                // announced the address, so ours must come after it.
                let left_up = view.answered
                    && view.state == Some(State::Up)
                    && entry.state != Some(State::Up);
                let expired = entry.state == Some(State::Fail)
                    && entry.note.as_deref() == Some(LEASE_EXPIRED);
                view.expired_seen_at = if expired {
                    Some(view.expired_seen_at.unwrap_or(now))
                } else {
                    None
                };
                // It could not hear us around our announcement, nor we it: the announcement
                // may have been lost with our link (one that `track` does not watch).
                let missed_announcement = std::mem::take(&mut view.missed_around_announcement);
                view.recover_since = match entry.state {
                    Some(State::Recover) if view.state == Some(State::Recover) && view.answered => {
                        view.recover_since.or(Some(sent_at))
                    }
                    Some(State::Recover) => Some(sent_at),
                    _ => None,
                };
                view.state = entry.state;
                view.note = entry.note.clone();
                view.changes = entry.changes.map(|c| (reply.boot_id, c));
                view.answered = true;
                view.misses = 0;
                view.fresh_needed = false;
                view.since_change_ms = entry.since_change_ms;
                view.seen_at = now;
                view.asked_at = sent_at;
                // Whoever holds the service here (master or slave) re-announces after another
                // host that may have announced later than we did.
                if local_up && (unseen_change || left_up || missed_announcement) {
                    service.reannounce = true;
                }
                if entry.state == Some(State::Up) {
                    self.taken_over(now, id, host);
                }
            }
            self.confirm_start(now, id);
            let Some(service) = self.services.get_mut(&id) else {
                continue;
            };
            let round_complete = match &mut service.round {
                Some(round) if round.id == round_id => {
                    round.awaiting.remove(&host);
                    round.awaiting.is_empty()
                }
                _ => false,
            };
            if round_complete {
                // Everybody answered: decide now rather than at the deadline, which is what
                // makes a clean handover take one round trip instead of one timeout.
                self.close_round(now, id);
            }
        }
    }

    pub(super) fn handle_send_failed(&mut self, now: Time, nonce: Nonce, error: &str) {
        let Some(pending) = self.pending.remove(&nonce) else {
            return;
        };
        self.pending_expiry.retain(|(_, n)| *n != nonce);
        match pending {
            Pending::Poll { host, services, .. } => {
                self.host_silent(now, host, error.to_string());
                let local = self.local;
                for (id, round_id) in services {
                    let Some(service) = self.services.get_mut(&id) else {
                        continue;
                    };
                    let Some(round) = service.round.as_mut().filter(|r| r.id == round_id) else {
                        continue;
                    };
                    if !round.awaiting.remove(&host) {
                        continue;
                    }
                    // It will not answer: count the miss now rather than at the deadline.
                    let complete = round.awaiting.is_empty();
                    // A reread counts no misses; the next round does.
                    let counts = !round.reread;
                    if counts && host == local {
                        service.local_misses = service.local_misses.saturating_add(1);
                    } else if counts {
                        service.count_miss(now, host);
                    }
                    if complete {
                        self.close_round(now, id);
                    }
                }
            }
            Pending::Probe { .. } => {}
            Pending::Write {
                service,
                generation,
            } => self.write_failed(now, service, generation, error.to_string()),
        }
    }
}
