//! Writes to the local faild: the state failsh publishes, with single-use challenges, and what
//! the local faild's answers (or an operator's change there) mean for the service.

use super::*;
use crate::wire::{self, Reply, Request, RequestBody, Status};

impl Shell {
    /// The local faild is the source of truth: an operator's `failc -s FAIL` (the service
    /// script's `fail`) or `-s RECOVER` is taken over as it is.
    pub(super) fn adopt_local_state(&mut self, now: Time, id: ServiceId, reported: Option<State>) {
        let Some(service) = self.services.get_mut(&id) else {
            return;
        };
        if let Some(hold) = &service.track_hold {
            // Our FAIL for a tracked interface carries its note; a state or note of an
            // operator's (failc writes none) means the operator decides from now on.
            if reported != Some(State::Fail) || service.local_note.as_deref() != Some(hold) {
                service.track_hold = None;
            }
        }
        if let Some(hold) = &service.check_hold {
            // Likewise for a FAIL held by the health check.
            if reported != Some(State::Fail) || service.local_note.as_deref() != Some(hold) {
                service.check_hold = None;
                service.check_passes = 0;
                service.check_failures = 0;
            }
        }
        let changed_during_procedure = std::mem::take(&mut service.changed_during_procedure);
        let lease_expired = service.local_note.as_deref() == Some(crate::store::LEASE_EXPIRED);
        match (reported, service.state) {
            (Some(State::Fail), Some(State::Up)) if lease_expired => {
                // faild let our own UP lapse (this failsh did not renew it: frozen, starved),
                // not an operator's FAIL: the service is cleaned up here and comes back
                // through RECOVER, as when the lease is seen lapsing. Adopted as an
                // operator's FAIL it stayed FAIL for good (CI: a failsh resumed after
                // SIGSTOP read the expired lease before its own deadline fired).
                let why = "the local faild let its lease expire (this failsh did not renew it in time): stopping; RECOVER afterwards".to_string();
                let service = self.service_mut(id);
                service.end_in = Some((State::Recover, why.clone()));
                self.run(now, id, ProcedureKind::Stop, why);
            }
            (Some(state), Some(State::Up)) if state != State::Up && changed_during_procedure => {
                // The operator's script ran while the procedure did, and the procedure may
                // have brought the service up again after the script took it down: stop it,
                // and keep the operator's state.
                let why =
                    format!("an operator set {state} in the local faild while a procedure ran");
                self.change_state(now, id, State::Up, why.clone(), false);
                let service = self.service_mut(id);
                service.end_in = Some((state, why.clone()));
                service.was_up_unseen = true;
                self.run(now, id, ProcedureKind::Stop, why);
            }
            (Some(state), current) if Some(state) != current => {
                let reason = if current.is_none() {
                    "read from the local faild".to_string()
                } else {
                    "changed in the local faild (failc or a service script)".to_string()
                };
                self.change_state(now, id, state, reason, false);
            }
            (None, None) => {
                self.change_state(
                    now,
                    id,
                    State::Fail,
                    "not registered in the local faild: treated as FAIL until set to RECOVER"
                        .to_string(),
                    false,
                );
            }
            (None, Some(current)) => {
                // faild lost the service (a new state file?) while this host still runs it:
                // write our state back rather than forget that the service is up here.
                self.change_state(
                    now,
                    id,
                    current,
                    "the local faild forgot the service; writing it again".to_string(),
                    true,
                );
            }
            _ => {}
        }
    }

    // ----- writes to the local faild -------------------------------------------------------

    pub(super) fn send_writes(&mut self, now: Time) {
        let waiting: Vec<ServiceId> = self
            .services
            .iter()
            .filter(|(_, s)| {
                s.write
                    .as_ref()
                    .is_some_and(|w| w.in_flight.is_none() && w.retry_at.is_none_or(|at| at <= now))
            })
            .map(|(id, _)| *id)
            .collect();
        for id in waiting {
            let challenge = loop {
                // The newest first: faild forgets the oldest of its outstanding challenges.
                match self.challenges.pop_back() {
                    Some((c, at)) if now.since_ms(at) <= CHALLENGE_USABLE_MS => break Some(c),
                    Some(_) => continue,
                    None => break None,
                }
            };
            // Without a challenge the write waits for the next poll of the local faild,
            // whose reply brings one.
            let Some(challenge) = challenge else { return };
            let nonce = self.new_nonce();
            let local = self.local;
            let key = self.hosts[&local].key.clone();
            let service = self.services.get_mut(&id).expect("listed above");
            let write = service.write.as_mut().expect("listed above");
            let request = Request {
                nonce,
                want_challenge: true,
                want_details: false,
                subscription: None,
                body: RequestBody::Set {
                    service: service.config.name.clone(),
                    state: write.state,
                    backup: None,
                    challenge,
                    lease_ms: write
                        .lease_ms
                        .map(|ms| u32::try_from(ms).unwrap_or(u32::MAX)),
                    note: write.note.clone(),
                    renew: write.kind != WriteKind::Plain,
                    was_up: write.was_up,
                },
            };
            let Ok(bytes) = wire::encode_request_keyed(&request, &key) else {
                continue;
            };
            write.in_flight = Some(nonce);
            let generation = write.generation;
            let timeout_ms = service.config.write_timeout_ms();
            self.pending.insert(
                nonce,
                Pending::Write {
                    service: id,
                    generation,
                },
            );
            self.pending_expiry.insert((now.plus_ms(timeout_ms), nonce));
            self.send(local, nonce, bytes, timeout_ms);
        }
    }

    pub(super) fn write_answered(
        &mut self,
        now: Time,
        id: ServiceId,
        generation: u64,
        reply: &Reply,
    ) {
        let Some(service) = self.services.get_mut(&id) else {
            return;
        };
        let Some(write) = service
            .write
            .as_mut()
            .filter(|w| w.generation == generation)
        else {
            return;
        };
        write.in_flight = None;
        match reply.status {
            Status::Ok => {
                let leased = write.state == State::Up && write.lease_ms.is_some();
                let was_up = write.state == State::Up;
                service.write = None;
                service.write_failures = 0;
                if leased && service.lease_active() {
                    // faild holds the UP for its lease from now: the addresses' kernel
                    // lifetime is renewed after it, never before, so that it always ends
                    // first (a failsh that hangs here leaves the shorter one behind).
                    service.lease_confirmed_at = Some(now);
                    self.actions
                        .push_back(Action::LeaseConfirmed { service: id });
                    // Only once start has returned: before, the addresses are start's to add
                    // (one an operator's script removed must not come back ahead of it).
                    // Never while stop runs: failsh renews on its own thread, and a renewal
                    // landing after the stop's `ipaddr del` put the address back until its
                    // kernel lifetime ended, next to the host that took over (484 ms, CI
                    // 2026-12-07; regressions/no_renewal_during_stop.json).
                    // And only with a majority: the host may have lost it while the write
                    // was under way, and then its fence must not be undone.
                    let running = service.state == Some(State::Up)
                        && service.procedure.as_ref().is_none_or(|p| {
                            matches!(p.kind, ProcedureKind::Reclaim | ProcedureKind::Check)
                        })
                        && super::quorum::has_majority(&self.hosts, service, now);
                    if let (Some(lease_ms), true) = (service.config.lease_ms, running) {
                        self.actions.push_back(Action::RenewAddresses {
                            service: id,
                            lifetime_s: u32::try_from(lease_ms / 1000).unwrap_or(u32::MAX),
                        });
                    }
                }
                if was_up {
                    self.start_stored(now, id, Ok(()));
                }
                self.check_handover_done();
            }
            // A stale challenge: the reply carried a fresh one, which send_writes uses.
            Status::BadChallenge => {}
            // The UP was changed under us (an operator's FAIL, an expired lease): nothing to
            // renew; the next poll of the local faild brings the state that is in force.
            Status::NotRenewed => {
                let confirmation = write.kind == WriteKind::Confirmation;
                service.changed_during_procedure |= confirmation;
                service.write = None;
                service.write_failures = 0;
                self.check_handover_done();
                if confirmation && !self.shutting_down {
                    // Read what the operator wrote now, not at the next round: until then
                    // this host believes an UP that may be gone.
                    self.start_rounds(now, &[id]);
                }
            }
            Status::NotStored => {
                let why = reply
                    .entries
                    .first()
                    .and_then(|e| e.note.clone())
                    .unwrap_or_else(|| Status::NotStored.to_string());
                self.write_failed(now, id, generation, why)
            }
            other => self.write_failed(now, id, generation, other.to_string()),
        }
    }

    pub(super) fn write_failed(
        &mut self,
        now: Time,
        id: ServiceId,
        generation: u64,
        reason: String,
    ) {
        let Some(service) = self.services.get_mut(&id) else {
            return;
        };
        if let Some(write) = service
            .write
            .as_mut()
            .filter(|w| w.generation == generation)
        {
            write.in_flight = None;
            write.retry_at = Some(now.plus_ms(service.config.interval_ms));
            service.write_failures = service.write_failures.saturating_add(1);
            let name = service.config.name.clone();
            self.event(Event::WriteFailed {
                service: name,
                reason: reason.clone(),
            });
            if self.services[&id]
                .procedure
                .as_ref()
                .is_some_and(|p| p.awaiting_up)
            {
                self.start_stored(now, id, Err(reason));
            }
            if self.shutting_down {
                self.check_handover_done();
                return;
            }
            self.evaluate(now, id);
        }
    }

    pub(super) fn change_state(
        &mut self,
        now: Time,
        id: ServiceId,
        state: State,
        reason: String,
        write: bool,
    ) {
        let service = self.service_mut(id);
        let from = service.state;
        service.state = Some(state);
        if from != Some(state) {
            service.last_change = Some(now);
        }
        service.reason = reason.clone();
        let name = service.config.name.clone();
        self.note_release(now, id, from, state);
        if from != Some(state) {
            self.event(Event::StateChanged {
                service: name,
                from,
                to: state,
                reason,
            });
        }
        if write {
            let note = self.services[&id].reason.clone();
            self.publish(now, id, state, note);
        }
    }

    /// Writes `state` into the local faild, with `note` (why) for pollers; an UP of a
    /// service with a lease carries faild's lease and starts renewing it. A newer write
    /// replaces one not yet sent.
    pub(super) fn publish(&mut self, now: Time, id: ServiceId, state: State, note: String) {
        self.write(now, id, state, note, WriteKind::Plain);
    }

    /// Writes UP again (with the reason as its note) only if the local faild still holds
    /// the UP failsh wrote: a renewal, which faild refuses once anything changed it.
    pub(super) fn confirm_up(&mut self, now: Time, id: ServiceId) {
        let note = self.services[&id].reason.clone();
        self.write(now, id, State::Up, note, WriteKind::Confirmation);
    }

    /// [`Shell::publish`], a renewal of the UP lease or a confirmation of an UP.
    fn write(&mut self, now: Time, id: ServiceId, state: State, note: String, kind: WriteKind) {
        let note = truncate_note(note);
        let service = self.service_mut(id);
        if state == State::Up {
            service.write_note = Some(note.clone());
        }
        service.write_generation += 1;
        // A replaced write that was to say so passes it on (unless the new one is an UP).
        let carried = service.write.as_ref().is_some_and(|w| w.was_up);
        let was_up = state != State::Up && (std::mem::take(&mut service.was_up_unseen) || carried);
        let lease_ms = service
            .config
            .faild_lease_ms()
            .filter(|_| state == State::Up);
        service.write = Some(Write {
            state,
            generation: service.write_generation,
            in_flight: None,
            retry_at: None,
            made_at: now,
            lease_ms,
            note: Some(note),
            kind,
            was_up,
        });
        let was_up = service.published == Some(State::Up);
        service.published = Some(state);
        match service.config.renew_every_ms() {
            Some(every_ms) if state == State::Up => {
                if !was_up {
                    service.lease_confirmed_at = None;
                    service.lease_published_at = Some(now);
                    self.timers.set(Timer::Renew(id), now.plus_ms(every_ms));
                }
            }
            _ => {
                service.lease_confirmed_at = None;
                service.lease_published_at = None;
                self.timers.stop(Timer::Renew(id));
            }
        }
        self.send_writes(now);
    }

    /// A FAIL held for a tracked interface remembers the note written with it: the local
    /// faild showing another state or note means an operator took over.
    pub(super) fn hold_written_note(&mut self, id: ServiceId) {
        let service = self.service_mut(id);
        if service.track_hold.is_some() {
            service.track_hold = service.write.as_ref().and_then(|w| w.note.clone());
        }
        if service.check_hold.is_some() {
            service.check_hold = service.write.as_ref().and_then(|w| w.note.clone());
        }
    }

    /// Renews the lease of an UP service: the same UP again, which faild answers without
    /// writing its state file. A lease that could not be renewed for half its time stops the
    /// service (the rule's `lease_lapsing`), before the kernel or faild lets it go.
    pub(super) fn renew(&mut self, now: Time, id: ServiceId) {
        let Some(service) = self.services.get(&id) else {
            return;
        };
        let (Some(every_ms), true) = (service.config.renew_every_ms(), service.lease_active())
        else {
            return;
        };
        self.timers.set(Timer::Renew(id), now.plus_ms(every_ms));
        if self.lease_lapsing(now, id)
            || !super::quorum::has_majority(&self.hosts, &self.services[&id], now)
        {
            // Without a majority the addresses must lapse: the rule stops the service.
            self.evaluate(now, id);
            return;
        }
        let service = &self.services[&id];
        if service.write.is_none() {
            let note = service
                .write_note
                .clone()
                .unwrap_or_else(|| service.reason.clone());
            self.write(now, id, State::Up, note, WriteKind::Renewal);
        }
    }

    /// Whether faild has not acknowledged the UP lease for half of it: the service must stop
    /// before faild (and the kernel) let it go.
    pub(super) fn lease_lapsing(&self, now: Time, id: ServiceId) -> bool {
        let Some(service) = self.services.get(&id) else {
            return false;
        };
        let (Some(lease_ms), true) = (service.config.lease_ms, service.lease_active()) else {
            return false;
        };
        service
            .lease_confirmed_at
            .or(service.lease_published_at)
            .is_some_and(|at| now.since_ms(at) >= lease_ms / 2)
    }
}

/// A note is a name on the wire: at most 255 bytes, cut at a character boundary.
fn truncate_note(mut note: String) -> String {
    if note.len() > crate::wire::MAX_NAME_BYTES {
        let mut end = crate::wire::MAX_NAME_BYTES;
        while !note.is_char_boundary(end) {
            end -= 1;
        }
        note.truncate(end);
    }
    note.retain(|c| !c.is_control());
    note
}
