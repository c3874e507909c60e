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
        match (reported, service.state) {
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
            .filter(|(_, s)| s.write.as_ref().is_some_and(|w| w.in_flight.is_none()))
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
                body: RequestBody::Set {
                    service: service.config.name.clone(),
                    state: write.state,
                    backup: None,
                    challenge,
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
            self.actions.push_back(Action::Send {
                host: local,
                nonce,
                bytes,
            });
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
                service.write = None;
                service.write_failures = 0;
                self.check_handover_done();
            }
            // A stale challenge: the reply carried a fresh one, which send_writes uses.
            Status::BadChallenge => {}
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
            service.write_failures = service.write_failures.saturating_add(1);
            let name = service.config.name.clone();
            self.event(Event::WriteFailed {
                service: name,
                reason,
            });
            if self.shutting_down {
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
        if from != Some(state) {
            self.event(Event::StateChanged {
                service: name,
                from,
                to: state,
                reason,
            });
        }
        if write {
            self.publish(now, id, state);
        }
    }

    /// Writes `state` into the local faild (a newer write replaces one not yet sent).
    pub(super) fn publish(&mut self, now: Time, id: ServiceId, state: State) {
        let service = self.service_mut(id);
        service.write_generation += 1;
        service.write = Some(Write {
            state,
            generation: service.write_generation,
            in_flight: None,
        });
        self.send_writes(now);
    }
}
