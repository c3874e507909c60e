//! SIGTERM: hand every UP service over (stop it, publish FAIL) and exit, or with `-k` leave
//! the services running.

use super::*;

/// After the longest stop limit, how long SIGTERM waits for the local faild to confirm the
/// FAIL it publishes.
pub const HANDOVER_WRITE_GRACE_MS: u64 = 1_500;

impl Shell {
    // ----- SIGTERM handover ----------------------------------------------------------------

    pub(super) fn handle_shutdown(&mut self, now: Time, keep_services: bool) {
        if self.shutting_down {
            return;
        }
        self.shutting_down = true;
        self.keep_services = keep_services;
        // The stops get their limit; the FAIL written after them gets a short grace, so
        // that SIGTERM ends within `limit` + 2 s whatever the local faild does (a dead one
        // fails the write at once, see `settled`).
        let longest_ms = self
            .services
            .values()
            .map(|s| s.config.procedure_limit_ms + HANDOVER_WRITE_GRACE_MS)
            .max()
            .unwrap_or(0);
        self.timers
            .set(Timer::Handover, now.plus_ms(longest_ms.max(1)));
        let ids: Vec<ServiceId> = self.services.keys().copied().collect();
        if !keep_services {
            // A service that left before SIGTERM may still wait for its new holder.
            for &id in &ids {
                self.start_drain(now, id);
            }
        }
        for id in ids {
            self.handover_step(now, id);
        }
        self.check_handover_done();
    }

    pub(super) fn handover_step(&mut self, now: Time, id: ServiceId) {
        let Some(service) = self.services.get(&id) else {
            return;
        };
        if service.procedure.is_some() {
            return;
        }
        if self.keep_services {
            self.check_handover_done();
            return;
        }
        match (service.handover, service.state) {
            (Handover::None, Some(State::Up)) => {
                self.service_mut(id).handover = Handover::Stopping;
                self.run(
                    now,
                    id,
                    ProcedureKind::Stop,
                    "failsh is shutting down: handing over".to_string(),
                );
            }
            (Handover::Published | Handover::Abandoned, _) => {}
            (Handover::Stopping, Some(State::Up)) => {
                // The handover's stop failed: publishing FAIL would let a slave start the
                // service while it may still run here.
                self.service_mut(id).handover = Handover::Abandoned;
            }
            _ => {
                self.service_mut(id).handover = Handover::Published;
                self.change_state(now, id, State::Fail, "failsh shut down".to_string(), true);
                self.start_drain(now, id);
            }
        }
        self.check_handover_done();
    }

    pub(super) fn check_handover_done(&mut self) {
        if !self.shutting_down || self.exited {
            return;
        }
        if self.keep_services {
            if self
                .services
                .values()
                .all(|s| s.procedure.is_none() && s.write.is_none())
            {
                self.finish_with(true, "services left running (-k)".to_string());
            }
            return;
        }
        // A FAIL whose write failed, or that waits for a challenge from a local faild that
        // missed its last poll, is not waited for: that faild is dead or refuses it, and a
        // slave learns nothing more from our waiting (it sees that faild silent).
        // And a service that left waits for its new holder, to reset its connections then
        // (`release`), until the drain ends.
        let settled = |s: &Service| {
            s.procedure.is_none()
                && s.released_at.is_none()
                && (s.handover == Handover::Abandoned
                    || (s.handover == Handover::Published
                        && s.write.as_ref().is_none_or(|w| {
                            w.in_flight.is_none() && (w.retry_at.is_some() || s.local_misses > 0)
                        })))
        };
        if self.services.values().all(settled) {
            let abandoned = self
                .services
                .values()
                .any(|s| s.handover == Handover::Abandoned);
            self.finish_handover(!abandoned);
        }
    }

    pub(super) fn finish_handover(&mut self, complete: bool) {
        if self.exited {
            return;
        }
        if self.keep_services {
            self.finish_with(
                complete,
                "services left running (-k); a procedure or a write did not finish in time"
                    .to_string(),
            );
            return;
        }
        let unfinished: Vec<String> = self
            .services
            .values()
            .filter(|s| !(s.handover == Handover::Published && s.write.is_none()))
            .map(|s| {
                if s.handover == Handover::Abandoned {
                    format!("{} (its stop failed: left UP)", s.config.name)
                } else {
                    s.config.name.clone()
                }
            })
            .collect();
        let detail = if unfinished.is_empty() {
            format!("{} services published FAIL", self.services.len())
        } else {
            format!("not confirmed for {}", unfinished.join(", "))
        };
        self.finish_with(complete, detail);
    }

    pub(super) fn finish_with(&mut self, complete: bool, detail: String) {
        if !self.keep_services {
            self.reset_unclaimed("failsh exits before any host took it over");
        }
        for service in self.services.values() {
            if let Some(procedure) = &service.procedure {
                self.actions
                    .push_back(Action::KillProcedure { id: procedure.id });
            }
        }
        self.event(Event::HandoverComplete { complete, detail });
        self.actions.push_back(Action::Exit);
        self.exited = true;
    }
}
