//! Leases that run out, and writing the state file before a change is shown or
//! acknowledged.

use super::*;

impl Store {
    pub(super) fn expire_leases(&mut self, now: Time) {
        let due: Vec<String> = self
            .lease_deadlines
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(name, _)| name.clone())
            .collect();
        let mut expired_names = BTreeSet::new();
        for name in due {
            self.lease_deadlines.remove(&name);
            let Some(record) = self.services.get_mut(&name) else {
                continue;
            };
            if record.state != State::Up {
                continue;
            }
            let lease_ms = record.lease_ms.unwrap_or(0);
            // Visible at once, whether or not the state file can be written: pollers must
            // see FAIL for a service whose failsh stopped renewing, or nobody takes over.
            record.state = State::Fail;
            record.lease_ms = None;
            record.note = Some(LEASE_EXPIRED.to_string());
            record.changed_at = now;
            let expired = record.clone();
            let count = self.changes.entry(name.clone()).or_default();
            *count = count.wrapping_add(1);
            if let Some(persisting) = self.persisting.as_mut() {
                if persisting
                    .next
                    .get(&name)
                    .is_some_and(|r| r.state == State::Up)
                {
                    persisting.next.insert(name.clone(), expired);
                }
            }
            self.dirty = true;
            expired_names.insert(name.clone());
            self.event(StoreEvent::LeaseExpired {
                service: name,
                lease_ms,
            });
        }
        self.push_changes(now, &expired_names);
        if self.dirty && self.persisting.is_none() && now >= self.retry_persist_at {
            self.start_persist(self.services.clone(), None);
        }
    }

    pub(super) fn start_persist(
        &mut self,
        next: BTreeMap<String, ServiceRecord>,
        set: Option<PendingSet>,
    ) {
        let token = self.next_token;
        self.next_token += 1;
        self.dirty = false;
        self.actions.push_back(StoreAction::Persist {
            token,
            services: next.values().cloned().collect(),
        });
        self.persisting = Some(Persisting { token, next, set });
    }

    pub(super) fn persisted(&mut self, now: Time, token: u64, result: Result<(), String>) {
        if self.persisting.as_ref().map(|p| p.token) != Some(token) {
            return;
        }
        let Some(persisting) = self.persisting.take() else {
            return;
        };
        match (result, persisting.set) {
            (Ok(()), set) => {
                // A write that says the service was up here meanwhile counts as the two
                // changes (through UP and back) that pollers would have seen.
                let was_up = set.as_ref().and_then(|s| match &s.request.body {
                    RequestBody::Set { was_up: true, .. } => Some(s.service.clone()),
                    _ => None,
                });
                // Leases follow the records that are now in force.
                let mut changed_names = BTreeSet::new();
                for (name, record) in &persisting.next {
                    let old = self.services.get(name);
                    if old != Some(record) {
                        changed_names.insert(name.clone());
                    }
                    let changed = if was_up.as_ref() == Some(name) {
                        2
                    } else {
                        u32::from(old.map(|r| r.state) != Some(record.state))
                    };
                    if changed > 0 {
                        let count = self.changes.entry(name.clone()).or_default();
                        *count = count.wrapping_add(changed);
                    }
                    let renewed = old != Some(record);
                    match (record.state, record.lease_ms) {
                        (State::Up, Some(ms)) if renewed => {
                            self.lease_deadlines.insert(name.clone(), now.plus_ms(ms));
                        }
                        (State::Up, Some(_)) => {}
                        _ => {
                            self.lease_deadlines.remove(name);
                        }
                    }
                }
                self.services = persisting.next;
                // Visible now, so subscribers may read it: told before the writer, since
                // a slave taking over is what a handover waits for.
                self.push_changes(now, &changed_names);
                if let Some(set) = set {
                    if let Some(event) = set.event.clone() {
                        self.event(event);
                    }
                    let entries = vec![self.entry(now, &set.service)];
                    self.reply(
                        set.peer,
                        &set.request,
                        Status::Ok,
                        entries,
                        set.challenge,
                        Some(&set.community),
                    );
                }
            }
            (Err(reason), Some(set)) => {
                self.event(StoreEvent::NotStored {
                    service: set.service.clone(),
                    by: set.peer.address,
                    reason: reason.clone(),
                });
                let mut entry = self.entry(now, &set.service);
                entry.note = Some(format!("not stored: {reason}"));
                let mut request = set.request;
                // The reason travels in the note, asked for or not.
                request.want_details = true;
                self.reply(
                    set.peer,
                    &request,
                    Status::NotStored,
                    vec![entry],
                    set.challenge,
                    Some(&set.community),
                );
            }
            (Err(reason), None) => {
                self.dirty = true;
                self.retry_persist_at = now.plus_ms(PERSIST_RETRY_MS);
                self.event(StoreEvent::PersistFailed { reason });
            }
        }
        // Sets that waited for this write, in their order, until the next write starts.
        while self.persisting.is_none() {
            let Some((peer, bytes)) = self.deferred.pop_front() else {
                break;
            };
            self.handle_request(now, peer, &bytes);
        }
        if self.dirty && self.persisting.is_none() && now >= self.retry_persist_at {
            self.start_persist(self.services.clone(), None);
        }
    }
}
