//! Running start, stop, reclaim and check procedures (one at a time per service, with a time
//! limit) and taking their results.

use super::*;

impl Shell {
    pub(super) fn run(&mut self, now: Time, id: ServiceId, kind: ProcedureKind, reason: String) {
        let procedure = ProcedureId(self.next_procedure_id);
        self.next_procedure_id += 1;
        let service = self.service_mut(id);
        let awaiting_up = kind == ProcedureKind::Start;
        service.procedure = Some(Running {
            id: procedure,
            kind,
            awaiting_up,
            confirming: None,
        });
        service.decision = format!("running {kind}: {reason}");
        let limit_ms = service.config.procedure_limit_ms;
        let name = service.config.name.clone();
        let service_reason = reason.clone();
        self.event(Event::ProcedureStarted {
            service: name,
            kind,
            id: procedure,
            reason,
        });
        if awaiting_up {
            // Other hosts must see that the service is being brought up here before it is:
            // a start takes time (an address, a gratuitous ARP burst), and a master that
            // turned RECOVER meanwhile would otherwise find no slave UP and start too. The
            // procedure runs once the local faild has stored UP ([`Shell::start_stored`]);
            // the local state stays RECOVER until start returns; a failed start is cleaned
            // up and ends FAIL.
            let note = format!("{STARTING_NOTE}{service_reason}");
            self.publish(now, id, State::Up, note);
        } else {
            self.timers
                .set(Timer::ProcedureLimit(id), now.plus_ms(limit_ms));
            self.actions.push_back(Action::RunProcedure {
                id: procedure,
                service: id,
                kind,
                limit_ms,
            });
        }
    }

    /// The local faild stored the UP of a start (or did not): the start runs now (or is
    /// given up, and RECOVER written back in case the UP was stored after all).
    pub(super) fn start_stored(&mut self, now: Time, id: ServiceId, stored: Result<(), String>) {
        let Some(service) = self.services.get_mut(&id) else {
            return;
        };
        if !service.procedure.as_ref().is_some_and(|p| p.awaiting_up) {
            return;
        }
        match stored {
            Ok(()) => {
                if service.witnesses.is_empty() {
                    if let Some(running) = service.procedure.as_mut() {
                        running.awaiting_up = false;
                    }
                    self.run_start(now, id);
                    return;
                }
                // W5: ask every master and slave that answers again, now that our UP is
                // there for them to see, and every faild whose record W3 relies on; the start
                // runs on their answers.
                let peers: Vec<HostId> = service.peers().filter(|h| answers(service, *h)).collect();
                let reporters: Vec<HostId> =
                    std::iter::once(self.local)
                        .chain(
                            service.witnesses.iter().copied().filter(|h| {
                                super::quorum::in_contact(&self.hosts, service, *h, now)
                            }),
                        )
                        .collect();
                let timeout_ms = service.config.timeout_ms();
                let round_id = service.round.as_ref().map_or(u64::MAX, |r| r.id);
                service.decision = "confirming the start: asking the group again now that our \
                                    UP is stored (W5)"
                    .to_string();
                let Some(running) = service.procedure.as_mut() else {
                    return;
                };
                running.awaiting_up = false;
                running.confirming = Some(Confirming {
                    since: now,
                    peers: peers.clone(),
                    reporters: reporters.clone(),
                });
                for host in peers.into_iter().chain(reporters) {
                    self.send_poll(now, host, vec![(id, round_id)], timeout_ms);
                }
            }
            Err(why) => {
                self.give_up_start(now, id, format!("the local faild did not store UP ({why})"))
            }
        }
    }

    fn run_start(&mut self, now: Time, id: ServiceId) {
        let service = self.service_mut(id);
        let Some(running) = service.procedure.as_mut() else {
            return;
        };
        running.confirming = None;
        let (procedure, limit_ms) = (running.id, service.config.procedure_limit_ms);
        // The limit is the procedure's: it counts from now (the wait for faild is bounded
        // by the write's timeout, a confirmation by the others' misses).
        self.timers
            .set(Timer::ProcedureLimit(id), now.plus_ms(limit_ms));
        self.actions.push_back(Action::RunProcedure {
            id: procedure,
            service: id,
            kind: ProcedureKind::Start,
            limit_ms,
        });
    }

    /// A start that has not run is given up: RECOVER is written back (the UP may be stored).
    fn give_up_start(&mut self, now: Time, id: ServiceId, why: String) {
        let service = self.service_mut(id);
        let Some(procedure) = service.procedure.take().map(|p| p.id) else {
            return;
        };
        let name = service.config.name.clone();
        self.timers.stop(Timer::ProcedureLimit(id));
        let reason = format!("not started: {why}");
        self.event(Event::ProcedureFinished {
            service: name,
            kind: ProcedureKind::Start,
            id: procedure,
            outcome: reason.clone(),
        });
        self.publish(now, id, State::Recover, reason.clone());
        self.decide(id, reason);
    }

    /// Rule row W5: a start waiting for fresh answers runs once every master and slave that
    /// answered has answered a query sent after our UP was stored, none of them UP; it is
    /// given up when one is UP (it decided to start too, or is up: it saw no UP of ours
    /// when it looked) or falls silent (the rule then waits for its deadline, W3).
    pub(super) fn confirm_start(&mut self, now: Time, id: ServiceId) {
        let Some(service) = self.services.get(&id) else {
            return;
        };
        let Some(confirming) = service
            .procedure
            .as_ref()
            .and_then(|p| p.confirming.as_ref())
        else {
            return;
        };
        let window_ms = service.config.contact_window_ms();
        if now.since_ms(confirming.since) > window_ms {
            // Answers that never come fresh (a faild that keeps no record, lost replies)
            // must not hold a start, and the service, forever: the rule decides again.
            let why = format!("the group did not answer afresh within {window_ms} ms (W5)");
            self.give_up_start(now, id, why);
            return;
        }
        let mut fresh = true;
        // Every master and slave, also one that was silent when the UP was stored and
        // answers now (it came back): UP is a start of its own, or the service up there.
        let peers: Vec<HostId> = service.peers().collect();
        for peer in peers {
            let view = service.views.get(&peer);
            let name = self.host_name(peer);
            if answers(service, peer) && view.is_some_and(|v| v.state == Some(State::Up)) {
                let why = format!("{name} is UP or starting too (W5): backing off");
                self.give_up_start(now, id, why);
                return;
            }
            if answers(service, peer) {
                fresh &= view.is_some_and(|v| v.asked_at >= confirming.since);
            } else if confirming.peers.contains(&peer) {
                let why = format!("{name} fell silent while the start was being confirmed (W5)");
                self.give_up_start(now, id, why);
                return;
            }
        }
        for &reporter in &confirming.reporters {
            if reporter != self.local
                && !super::quorum::in_contact(&self.hosts, service, reporter, now)
            {
                // Its record is what lets the start pass W3: without it, the rule decides
                // again (W2, W3) rather than a start running on an old one.
                let name = self.host_name(reporter);
                let why =
                    format!("{name} fell out of contact while the start was being confirmed (W5)");
                self.give_up_start(now, id, why);
                return;
            }
            fresh &= service
                .reports
                .get(&reporter)
                .is_some_and(|r| r.asked_at >= confirming.since);
        }
        if !fresh {
            return;
        }
        // The fresh records again: a master or slave silent to us that the group heard
        // since (it came back, and may have decided to start) is waited for (W3).
        let waits_for = match self.quorum(now, id).and_then(|q| q.deadline) {
            Some(Err(name)) => Some(format!("no record vouches for {name}")),
            Some(Ok((until, name))) if until > now => Some(format!(
                "{name} may hold the address until {} ms (heard by the group since)",
                until.as_ms()
            )),
            _ => None,
        };
        match waits_for {
            Some(why) => self.give_up_start(now, id, format!("{why} (W5, W3)")),
            None => self.run_start(now, id),
        }
    }

    pub(super) fn procedure_limit(&mut self, now: Time, id: ServiceId) {
        let Some(running) = self.services.get(&id).and_then(|s| s.procedure.as_ref()) else {
            return;
        };
        let procedure = running.id;
        let limit_ms = self.services[&id].config.procedure_limit_ms;
        self.actions
            .push_back(Action::KillProcedure { id: procedure });
        self.finish_procedure(
            now,
            id,
            procedure,
            Err(format!(
                "did not finish within its limit of {limit_ms} ms and was killed"
            )),
        );
    }

    pub(super) fn handle_procedure_done(
        &mut self,
        now: Time,
        procedure: ProcedureId,
        result: Result<String, String>,
    ) {
        let owner = self
            .services
            .iter()
            .find(|(_, s)| s.procedure.as_ref().is_some_and(|p| p.id == procedure))
            .map(|(id, _)| *id);
        // A result for a procedure that was killed at its limit, or of a removed service.
        let Some(id) = owner else { return };
        self.timers.stop(Timer::ProcedureLimit(id));
        self.finish_procedure(now, id, procedure, result);
    }

    pub(super) fn finish_procedure(
        &mut self,
        now: Time,
        id: ServiceId,
        procedure: ProcedureId,
        result: Result<String, String>,
    ) {
        let service = self.service_mut(id);
        let Some(running) = service.procedure.take() else {
            return;
        };
        let kind = running.kind;
        let name = service.config.name.clone();
        let round = service.next_round_id.saturating_sub(1);
        if kind == ProcedureKind::Check {
            let healthy = match &result {
                Ok(text) => check_passes(text),
                Err(_) => false,
            };
            let outcome = match &result {
                Ok(text) if healthy => format!("passed ({})", text.trim()),
                Ok(text) => format!("failed: returned {:?}", text.trim()),
                Err(error) => format!("failed: {error}"),
            };
            self.event(Event::ProcedureFinished {
                service: name,
                kind,
                id: procedure,
                outcome: outcome.clone(),
            });
            if self.shutting_down {
                self.handover_step(now, id);
                return;
            }
            let service = self.service_mut(id);
            service.check_ran_round = Some(round);
            let (fall, rise) = (service.config.check_fall, service.config.check_rise);
            if healthy {
                service.check_passed_round = Some(round);
                service.check_failures = 0;
                if service.check_hold.is_some() {
                    service.check_passes = service.check_passes.saturating_add(1);
                    let passes = service.check_passes;
                    if passes < rise {
                        self.decide(
                            id,
                            format!("health check {outcome}: {passes} of {rise} passes in a row, FAIL until then"),
                        );
                        return;
                    }
                    let service = self.service_mut(id);
                    service.check_hold = None;
                    service.check_passes = 0;
                    if service.state == Some(State::Fail) {
                        let why = format!("health check passed {rise} times in a row");
                        self.change_state(now, id, State::Recover, why.clone(), true);
                        self.decide(id, why);
                    }
                }
                if self.services[&id].state == Some(State::Recover) {
                    self.evaluate(now, id);
                }
            } else {
                service.check_passed_round = None;
                service.check_passes = 0;
                service.check_failures = service.check_failures.saturating_add(1);
                let failures = service.check_failures;
                if failures < fall || service.check_hold.is_some() {
                    let why = if service.check_hold.is_some() {
                        format!(
                            "health check {outcome}: FAIL until it passes {rise} times in a row"
                        )
                    } else {
                        format!(
                            "health check {outcome} ({failures} of {fall} in a row before it acts)"
                        )
                    };
                    self.decide(id, why);
                    return;
                }
                // `fall` failures in a row: the service goes to FAIL here, whatever its stop
                // returns, so that a slave takes over (a master left in RECOVER would keep
                // every slave off, and nobody would serve). It returns to RECOVER by
                // itself after `rise` passes in a row.
                let why = if fall > 1 {
                    format!("health check {outcome} ({failures} times in a row)")
                } else {
                    format!("health check {outcome}")
                };
                service.check_hold = Some(why.clone());
                service.check_passes = 0;
                match service.state {
                    Some(State::Up) => {
                        service.end_in = Some((State::Fail, why.clone()));
                        self.run(now, id, ProcedureKind::Stop, why);
                    }
                    Some(State::Recover) => {
                        self.change_state(now, id, State::Fail, why.clone(), true);
                        self.hold_written_note(id);
                        self.decide(
                            id,
                            format!("{why}: FAIL so that another host may take over"),
                        );
                    }
                    _ => self.decide(id, format!("{why}: not taking over")),
                }
            }
            return;
        }
        // A clean result is a state; an error, a kill or garbage is not, and then the
        // service may be half up: nobody knows.
        let (result_state, outcome) = match result {
            Ok(text) => match text.parse::<State>() {
                Ok(state) => (Some(state), format!("returned {state}")),
                Err(_) => (
                    None,
                    format!(
                        "returned {:?}, which is not UP, RECOVER or FAIL",
                        text.trim()
                    ),
                ),
            },
            Err(error) => (None, format!("failed: {error}")),
        };
        self.event(Event::ProcedureFinished {
            service: name,
            kind,
            id: procedure,
            outcome: outcome.clone(),
        });
        let end_in = self.service_mut(id).end_in.clone();
        match (kind, result_state) {
            (ProcedureKind::Stop, None) => {
                // Like a failed stop in Pacemaker, this is the dangerous case: the service
                // may still run here. Publishing FAIL would let another host start it, so
                // it keeps counting as UP and stop is retried every interval until it works.
                let reason = format!(
                    "stop {outcome}; still counted as UP so that no other host starts it, retrying every interval"
                );
                self.change_state(now, id, State::Up, reason.clone(), false);
                self.decide(id, reason);
            }
            (ProcedureKind::Stop, Some(state)) => {
                if let (Some((end, why)), true) = (end_in, state != State::Up) {
                    self.service_mut(id).end_in = None;
                    self.change_state(now, id, end, format!("{why}; stop {outcome}"), true);
                    self.hold_written_note(id);
                } else {
                    self.change_state(now, id, state, format!("stop {outcome}"), true);
                }
            }
            (_, None) => {
                // start or reclaim failed: clean up with stop before publishing FAIL, so a
                // half-configured address does not stay up here while a slave takes over.
                let why = format!("{kind} {outcome}");
                if self.shutting_down {
                    // No new procedure during a shutdown: say what is known.
                    self.change_state(now, id, State::Fail, why, true);
                } else {
                    self.service_mut(id).end_in = Some((State::Fail, why.clone()));
                    self.run(
                        now,
                        id,
                        ProcedureKind::Stop,
                        format!("{why}: stopping to clean up"),
                    );
                    return;
                }
            }
            (_, Some(State::Up)) if end_in.is_some() => {
                // The operator's FAIL arrived while start ran (or the lease could not be
                // renewed): it wins, so the service that start just brought up is stopped
                // again.
                let why = end_in.map(|(_, why)| why).unwrap_or_default();
                self.change_state(now, id, State::Up, format!("{kind} {outcome}"), false);
                // It announced the address, and its faild never said UP since the FAIL:
                // the FAIL after the stop counts as two changes, so that whoever holds the
                // service re-announces after us (a VM frozen while it started, whose start
                // ends after the other host's; witness seed 31334).
                self.service_mut(id).was_up_unseen = true;
                if !self.shutting_down {
                    self.run(
                        now,
                        id,
                        ProcedureKind::Stop,
                        format!("{why} while {kind} ran"),
                    );
                    return;
                }
            }
            (_, Some(state)) => {
                // A start that returned RECOVER or FAIL by itself: an operator's FAIL that
                // arrived meanwhile still wins.
                let state = match self.service_mut(id).end_in.take() {
                    Some((end, _)) => end,
                    None => state,
                };
                // start wrote UP before it ran and reclaim runs while UP: an UP now only
                // confirms it, and must not undo an operator's FAIL written meanwhile that
                // the next poll has yet to bring.
                let confirm = state == State::Up && self.services[&id].published == Some(State::Up);
                self.change_state(now, id, state, format!("{kind} {outcome}"), !confirm);
                if confirm {
                    self.confirm_up(now, id);
                }
                if state == State::Up {
                    // Our announcement came after the silence of whoever is silent now: only
                    // its answering again (or a later silence) calls for another.
                    let service = &self.services[&id];
                    let unseen = service.peers().any(|h| !answers(service, h));
                    let service = self.service_mut(id);
                    service.peer_unseen_while_up = unseen;
                    service.announced_at = Some(now);
                }
            }
        }
        if self.shutting_down {
            self.handover_step(now, id);
            return;
        }
        // A tracked interface that went down while the procedure ran stops the service now,
        // not at the next round.
        let link_down = self.services[&id]
            .config
            .track
            .iter()
            .any(|i| self.links.get(i) == Some(&false));
        if link_down {
            self.evaluate(now, id);
        }
    }
}

/// A check passes unless it fails or says no: an error, `0`, `false`, `no`, `off`, `FAIL` or
/// `RECOVER` (so a check may return a state or a Tcl boolean).
pub fn check_passes(text: &str) -> bool {
    let word = text.trim();
    !["0", "false", "no", "off", "fail", "recover"]
        .iter()
        .any(|bad| word.eq_ignore_ascii_case(bad))
}
