//! The decision rule of DESIGN §2, applied to one service after each round.

use super::*;

impl Shell {
    // ----- the decision rule ---------------------------------------------------------------

    pub(super) fn evaluate(&mut self, now: Time, id: ServiceId) {
        if self.shutting_down {
            self.handover_step(now, id);
            return;
        }
        let Some(service) = self.services.get(&id) else {
            return;
        };
        if service.procedure.is_some() {
            return;
        }
        let Some(local) = service.state else {
            self.decide(id, "waiting for the local faild to answer".to_string());
            return;
        };
        let misses = service.config.misses;
        if local == State::Up
            && (service.local_misses >= misses || service.write_failures >= misses)
        {
            let reason = if service.local_misses >= misses {
                "the local faild does not answer"
            } else {
                "its state cannot be written to the local faild"
            };
            self.run(
                now,
                id,
                ProcedureKind::Stop,
                format!("{reason}: nobody can see that the service is UP here"),
            );
            return;
        }
        let master = service
            .masters
            .iter()
            .map(|h| (*h, effective(service, *h)))
            .find(|(_, state)| state.is_available());
        if let Some((master, master_state)) = master {
            let who = format!("master {} is {master_state}", self.host_name(master));
            if local == State::Up {
                self.run(now, id, ProcedureKind::Stop, who);
            } else {
                self.decide(id, format!("{who}: standing by"));
            }
            return;
        }
        let slave_up = service
            .slaves
            .iter()
            .copied()
            .find(|h| effective(service, *h) == State::Up);
        let has_reclaim = service.config.has_reclaim;
        let has_check = service.config.has_check;
        let current_round = service.next_round_id.saturating_sub(1);
        let checked = service.check_passed_round == Some(current_round);
        let conflict_since = service.conflict_since;
        let conflict_reclaimed = service.conflict_reclaimed;
        // The slave needs one of its polls to see us UP, then its stop.
        let stuck_after_ms = 2 * service.config.interval_ms + service.config.timeout_ms();
        let slave_unseen = service
            .slaves
            .iter()
            .find(|h| !answers(service, **h))
            .copied();
        let unseen_before = service.slave_unseen_while_up;
        let reannounce = service.reannounce;
        let entry = self.service_mut(id);
        entry.reannounce = false;
        if slave_up.is_none() {
            entry.conflict_since = None;
            entry.conflict_reclaimed = false;
        }
        entry.slave_unseen_while_up =
            local == State::Up && (unseen_before || slave_unseen.is_some());
        let answers_again = unseen_before && slave_unseen.is_none();
        if local == State::Up && slave_up.is_none() && (answers_again || reannounce) {
            entry.slave_unseen_while_up &= !answers_again;
            if has_reclaim {
                let slaves: Vec<String> = self.services[&id]
                    .slaves
                    .iter()
                    .map(|h| self.host_name(*h))
                    .collect();
                self.run(
                    now,
                    id,
                    ProcedureKind::Reclaim,
                    if answers_again {
                        format!(
                            "slave {} answers again: re-announcing in case it took over while it could not see us",
                            slaves.join(", ")
                        )
                    } else {
                        format!(
                            "slave {} stepped down or changed state since our last poll (it may have announced the address): re-announcing",
                            slaves.join(", ")
                        )
                    },
                );
                return;
            }
        }
        match (local, slave_up) {
            (State::Up, Some(slave)) => {
                let slave = self.host_name(slave);
                let since = conflict_since.unwrap_or(now);
                let entry = self.service_mut(id);
                entry.conflict_since = Some(since);
                entry.slave_unseen_while_up = false;
                let stuck = now.since_ms(since) >= stuck_after_ms;
                if stuck && !conflict_reclaimed && has_reclaim {
                    entry.conflict_reclaimed = true;
                    self.run(
                        now,
                        id,
                        ProcedureKind::Reclaim,
                        format!("slave {slave} is still UP after {} ms", now.since_ms(since)),
                    );
                } else {
                    self.decide(
                        id,
                        format!(
                            "slave {slave} is UP too: waiting for it to step down, then reclaiming"
                        ),
                    );
                }
            }
            (State::Up, None) => {
                if has_check {
                    self.run(
                        now,
                        id,
                        ProcedureKind::Check,
                        "periodic health check".to_string(),
                    );
                } else {
                    self.decide(id, "UP: no master available".to_string());
                }
            }
            (State::Recover, Some(slave)) => {
                let slave = self.host_name(slave);
                self.decide(
                    id,
                    format!("slave {slave} is UP: waiting for it to see RECOVER and step down"),
                );
            }
            (State::Recover, None) => {
                let why = if service_has_masters(self, id) {
                    "no master is UP or RECOVER and no slave is UP"
                } else {
                    "no slave is UP"
                };
                if has_check && !checked {
                    self.run(
                        now,
                        id,
                        ProcedureKind::Check,
                        format!("{why}: checking health before starting"),
                    );
                } else {
                    self.run(now, id, ProcedureKind::Start, why.to_string());
                }
            }
            (State::Fail, _) => {
                self.decide(id, "FAIL: left alone until set to RECOVER".to_string());
            }
        }
    }
}
