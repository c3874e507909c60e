//! The decision rule of DESIGN §2 (`docs/design.md`, "The rule"), applied to one service
//! after each round or event: [`rule`] is a pure function from what the service looks like
//! ([`View`]) to what to do ([`Decision`]), so that each row of the table is a test;
//! [`Shell::evaluate`] reads the view from the machine and carries the decision out.

use super::*;

/// How the local faild is doing, for an UP service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum LocalFaild {
    Answers,
    /// It missed its last poll (fewer than `misses` in a row).
    Missed,
    /// It missed `misses` polls in a row.
    Silent,
    /// `misses` writes to it failed in a row.
    WritesFail,
}

/// The tracked interfaces of the service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Link {
    /// Every tracked interface has its carrier (or none is tracked).
    Up,
    /// This one has lost it (or does not exist).
    Down(String),
    /// The carrier of this one has not been reported yet.
    Unknown(String),
}

/// What the rule looks at: plain data read from the machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct View {
    pub now: Time,
    /// This host's state, as its faild says (or as we wrote it).
    pub local: State,
    pub local_faild: LocalFaild,
    /// The lease of an UP service was not renewed for half of it.
    pub lease_lapsing: bool,
    /// UP with a lease, but not written by this failsh (it found it when it started, after a
    /// `failsh -k`): nothing renews the addresses' lifetimes until it takes them over.
    pub lease_unowned: bool,
    pub link: Link,
    /// FAIL here is ours, for a tracked interface that went down.
    pub track_hold: bool,
    /// The first master (in configuration order) that is UP, else the first that is
    /// RECOVER, with when its unbroken run of RECOVER answers began.
    pub master: Option<(String, State, Option<Time>)>,
    /// `preempt on|off` and `preempt_delay`.
    pub preempt: bool,
    pub preempt_delay_ms: u64,
    /// `startup_delay`: until when nothing starts from RECOVER, and the first master or
    /// slave that has not answered since failsh started.
    pub startup_hold: Option<(Time, String)>,
    /// FAIL here is ours, for a health check that failed `fall` times; the passes in a
    /// row since, and how many lift it.
    pub check_hold: bool,
    pub check_passes: u32,
    pub check_rise: u32,
    /// The check ran in this round already.
    pub check_ran: bool,
    /// This decision closes a reread (a host pushed a change between rounds): the
    /// periodic health check waits for the next round.
    pub reread: bool,
    pub has_masters: bool,
    /// The first slave that is UP.
    pub slave_up: Option<String>,
    /// The first master or slave that did not answer within `misses` rounds.
    pub peer_unseen: Option<String>,
    /// The masters and slaves, for messages.
    pub peers: Vec<String>,
    /// Episode memory (see [`Service`]).
    pub peer_unseen_while_up: bool,
    pub reannounce: bool,
    pub conflict_since: Option<Time>,
    pub conflict_reclaimed: bool,
    /// A conflict that lasts this long means the slave did not step down.
    pub stuck_after_ms: u64,
    pub has_reclaim: bool,
    pub has_check: bool,
    /// The check passed in this round.
    pub checked: bool,
    /// `fence wait`: a silent master's address may live until then, and why.
    pub fence: Option<(Time, String)>,
    /// A master or slave not heard from since our own tracked link came back.
    pub waiting_for: Option<String>,
    /// With witnesses: who this host is in contact with (`None`: no witness).
    pub quorum: Option<super::quorum::Quorum>,
}

/// What to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Decision {
    /// Run a procedure; `then`: the state the service ends in once it has stopped,
    /// whatever stop returns.
    Run {
        kind: ProcedureKind,
        reason: String,
        then: Option<State>,
    },
    /// Write a state into the local faild without running anything.
    Publish {
        state: State,
        reason: String,
    },
    Stay(String),
    /// Nothing until `until` (then the rule runs again). The reason leaves out how long is
    /// left: the same wait, evaluated every round while `until` comes nearer or moves on (a
    /// witness still hearing the other host), is one decision, logged once with the time
    /// left then (at `interval 0.005` it was logged every round).
    Wait {
        until: Time,
        reason: String,
    },
}

/// The episode memory after the decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Episode {
    pub conflict_since: Option<Time>,
    pub conflict_reclaimed: bool,
    pub peer_unseen_while_up: bool,
    /// A re-announcement still owed (deferred while the local faild missed its last poll).
    pub reannounce: bool,
    /// `Some(true)`: FAIL is now held for a tracked interface; `Some(false)`: released.
    pub track_hold: Option<bool>,
}

fn run(kind: ProcedureKind, reason: impl Into<String>) -> Decision {
    Decision::Run {
        kind,
        reason: reason.into(),
        then: None,
    }
}

/// The rule. The rows of `docs/design.md` in order of precedence.
pub(super) fn rule(v: &View) -> (Decision, Episode) {
    let mut episode = Episode {
        conflict_since: v.conflict_since,
        conflict_reclaimed: v.conflict_reclaimed,
        peer_unseen_while_up: v.peer_unseen_while_up,
        reannounce: false,
        track_hold: None,
    };
    let stop_then = |reason: String, then: State| Decision::Run {
        kind: ProcedureKind::Stop,
        reason,
        then: Some(then),
    };
    // Nobody can see that the service is UP here: a slave is about to take over.
    if v.local == State::Up {
        match v.local_faild {
            LocalFaild::Silent => {
                let why =
                    "the local faild does not answer: nobody can see that the service is UP here";
                return (run(ProcedureKind::Stop, why), episode);
            }
            LocalFaild::WritesFail => {
                let why = "its state cannot be written to the local faild: nobody can see that the service is UP here";
                return (run(ProcedureKind::Stop, why), episode);
            }
            LocalFaild::Answers | LocalFaild::Missed => {}
        }
        if v.lease_lapsing {
            let why = "its lease could not be renewed in the local faild for half of it: stopping before faild and the kernel let it go; RECOVER afterwards".to_string();
            return (stop_then(why, State::Recover), episode);
        }
    }
    // A tracked interface without carrier: nothing here can serve, and a slave must not
    // wait for us. FAIL is held until every tracked interface is up again.
    match &v.link {
        Link::Down(interface) => {
            let why = format!("tracked interface {interface} down");
            let decision = match v.local {
                State::Up => {
                    episode.track_hold = Some(true);
                    stop_then(why, State::Fail)
                }
                State::Recover => {
                    episode.track_hold = Some(true);
                    Decision::Publish {
                        state: State::Fail,
                        reason: why,
                    }
                }
                State::Fail => Decision::Stay(format!("{why}: FAIL until it is up again")),
            };
            return (decision, episode);
        }
        Link::Unknown(interface) if v.local == State::Recover => {
            let why = format!("waiting for the carrier of tracked interface {interface}");
            return (Decision::Stay(why), episode);
        }
        _ => {}
    }
    if v.track_hold && v.local == State::Fail && v.link == Link::Up {
        episode.track_hold = Some(false);
        let why = "every tracked interface is up again".to_string();
        return (
            Decision::Publish {
                state: State::Recover,
                reason: why,
            },
            episode,
        );
    }
    // A witnessed service is held only by a host in contact with a majority of its group:
    // without one, it fences itself (and stops renewing its addresses' lifetimes, see
    // renew), and never starts.
    if let Some(quorum) = v.quorum.as_ref().filter(|q| !q.majority()) {
        let why = format!(
            "no majority: in contact with {} of the {} hosts of the group ({} silent)",
            quorum.in_contact,
            quorum.group,
            quorum.silent.join(", ")
        );
        let decision = match v.local {
            State::Up => stop_then(
                format!(
                    "{why}: stopping before the majority starts it elsewhere; RECOVER afterwards"
                ),
                State::Recover,
            ),
            _ => Decision::Stay(format!("{why}: not starting")),
        };
        return (decision, episode);
    }
    // The seed's rule: any master UP or RECOVER keeps the service off here. A master UP
    // is never left next to us; one in RECOVER waits for us if preemption is off or
    // delayed.
    // While it keeps the service, the rest of the rule still applies (re-announcing after a
    // master that was unseen, the periodic check): the returning master may have announced
    // the address while it could not see us.
    let mut keeping = None;
    if let Some((master, state, recover_since)) = &v.master {
        let who = format!("master {master} is {state}");
        let until = recover_since.unwrap_or(v.now).plus_ms(v.preempt_delay_ms);
        keeping = match v.local {
            State::Up if *state == State::Recover && !v.preempt => Some(Decision::Stay(format!(
                "{who}, but preempt is off: keeping the service until it fails here or an operator moves it (failc -s FAIL here)"
            ))),
            State::Up if *state == State::Recover && until > v.now => Some(Decision::Wait {
                until,
                reason: format!(
                    "{who}: preempt_delay, stepping down once it has been RECOVER for {} ms",
                    v.preempt_delay_ms
                ),
            }),
            _ => None,
        };
        if keeping.is_none() {
            let decision = if v.local == State::Up {
                run(ProcedureKind::Stop, who)
            } else {
                Decision::Stay(format!("{who}: standing by"))
            };
            return (decision, episode);
        }
    }
    if v.slave_up.is_none() {
        episode.conflict_since = None;
        episode.conflict_reclaimed = false;
    }
    episode.peer_unseen_while_up =
        v.local == State::Up && (v.peer_unseen_while_up || v.peer_unseen.is_some());
    let answers_again = v.peer_unseen_while_up && v.peer_unseen.is_none();
    // A slave that stops answering may have started just before (it could not see us) and
    // cannot step down any more (dead, its daemons killed): clients that followed its
    // announcement come back now, not only when it answers again.
    let fell_silent = v.local == State::Up && !v.peer_unseen_while_up && v.peer_unseen.is_some();
    if v.local == State::Up
        && v.slave_up.is_none()
        && (answers_again || fell_silent || v.reannounce)
    {
        // An announcement now could be the last one clients hear from a host that is about
        // to stop (its faild stopped answering): wait until the local faild answers again,
        // and owe it until then.
        if v.has_reclaim && v.local_faild != LocalFaild::Answers {
            episode.reannounce = v.reannounce;
        } else {
            episode.peer_unseen_while_up &= !answers_again;
        }
        if v.has_reclaim && v.local_faild == LocalFaild::Answers {
            let peers = v.peers.join(", ");
            let why = if answers_again {
                format!("{peers} answers again: re-announcing in case it took over while it could not see us")
            } else if fell_silent {
                format!(
                    "{} does not answer: re-announcing in case it took over and announced before",
                    v.peer_unseen.as_deref().unwrap_or("?")
                )
            } else {
                format!("{peers} stepped down, changed state, restarted, may have taken over while we did not run, or did not hear our last announcement (it may have announced the address, or ours was lost): re-announcing")
            };
            return (run(ProcedureKind::Reclaim, why), episode);
        }
    }
    let decision = match (v.local, &v.slave_up) {
        (State::Up, Some(slave)) => {
            episode.peer_unseen_while_up = false;
            match v.conflict_since {
                // A new episode (a partition healed): clients that followed the slave come
                // back at once; the slave steps down when it sees us UP, and we announce
                // once more after that.
                None if v.has_reclaim => {
                    episode.conflict_since = Some(v.now);
                    run(
                        ProcedureKind::Reclaim,
                        format!("slave {slave} is UP too: re-announcing now, and again when it has stepped down"),
                    )
                }
                since => {
                    let since = since.unwrap_or(v.now);
                    episode.conflict_since = Some(since);
                    let stuck = v.now.since_ms(since) >= v.stuck_after_ms;
                    if stuck && !v.conflict_reclaimed && v.has_reclaim {
                        episode.conflict_reclaimed = true;
                        run(
                            ProcedureKind::Reclaim,
                            format!(
                                "slave {slave} is still UP after {} ms",
                                v.now.since_ms(since)
                            ),
                        )
                    } else {
                        Decision::Stay(format!(
                            "slave {slave} is UP too: waiting for it to step down, then reclaiming"
                        ))
                    }
                }
            }
        }
        // Found UP when this failsh started (`-k` before): start runs again (adding an
        // address that is there is no error) so that its addresses live under this failsh's
        // lease; otherwise the kernel and faild would let them lapse.
        (State::Up, None) if v.lease_unowned && v.local_faild == LocalFaild::Answers => run(
            ProcedureKind::Start,
            "UP from before this failsh started: starting again to take its addresses under this failsh's lease",
        ),
        (State::Up, None) => {
            if v.has_check && !v.reread {
                run(ProcedureKind::Check, "periodic health check")
            } else if let Some(keeping) = keeping {
                keeping
            } else {
                Decision::Stay("UP: no master available".to_string())
            }
        }
        (State::Recover, Some(slave)) if !v.preempt => Decision::Stay(format!(
            "slave {slave} is UP and preempt is off: waiting until it fails there or an operator moves the service"
        )),
        (State::Recover, Some(slave)) => Decision::Stay(format!(
            "slave {slave} is UP: waiting for it to see RECOVER and step down"
        )),
        (State::Recover, None) => {
            let why = if v.has_masters {
                "no master is UP or RECOVER and no slave is UP"
            } else {
                "no slave is UP"
            };
            let witnessed = v.quorum.as_ref().and_then(|q| q.deadline.as_ref());
            match &v.fence {
                // Nobody could see that it is UP here: a master would start next to it.
                _ if v.local_faild != LocalFaild::Answers => Decision::Stay(format!(
                    "{why}, but the local faild does not answer: not starting what nobody could see"
                )),
                _ if v.startup_hold.as_ref().is_some_and(|(until, _)| *until > v.now) => {
                    let (until, name) = v.startup_hold.clone().unwrap_or((v.now, String::new()));
                    Decision::Wait {
                        until,
                        reason: format!(
                            "{why}, but {name} has not answered since failsh started: startup_delay, not starting yet"
                        ),
                    }
                }
                _ if v.waiting_for.is_some() => Decision::Stay(format!(
                    "{why}, but {} has not answered since our tracked link came back or this failsh resumed: waiting for it",
                    v.waiting_for.as_deref().unwrap_or("?")
                )),
                _ if matches!(witnessed, Some(Err(_))) => Decision::Stay(format!(
                    "{why}, but no faild in contact has a record of {}: it may hold the address, not starting",
                    match witnessed {
                        Some(Err(name)) => name.as_str(),
                        _ => "?",
                    }
                )),
                _ if matches!(witnessed, Some(Ok((until, _))) if *until > v.now) => {
                    let (until, name) = match witnessed {
                        Some(Ok((until, name))) => (*until, name.as_str()),
                        _ => (v.now, "?"),
                    };
                    Decision::Wait {
                        until,
                        reason: format!(
                            "{why}, but the majority heard {name} too recently: it may still hold the address"
                        ),
                    }
                }
                Some((until, whose)) if *until > v.now => Decision::Wait {
                    until: *until,
                    reason: format!(
                        "{why}, but {whose}: fence wait until its address has expired"
                    ),
                },
                _ if v.has_check && !v.checked => run(
                    ProcedureKind::Check,
                    format!("{why}: checking health before starting"),
                ),
                _ => run(ProcedureKind::Start, why),
            }
        }
        (State::Fail, _) if v.check_hold && v.has_check && !v.check_ran => run(
            ProcedureKind::Check,
            format!(
                "FAIL held by the health check: checking again ({} of {} passes in a row)",
                v.check_passes, v.check_rise
            ),
        ),
        (State::Fail, _) if v.check_hold => Decision::Stay(format!(
            "FAIL held by the health check until it passes {} times in a row ({} so far)",
            v.check_rise, v.check_passes
        )),
        (State::Fail, _) => Decision::Stay("FAIL: left alone until set to RECOVER".to_string()),
    };
    (decision, episode)
}

impl Shell {
    /// What [`rule`] sees of service `id`, whose local state is `local`.
    fn view(&self, now: Time, id: ServiceId, local: State) -> View {
        let service = &self.services[&id];
        let misses = service.config.misses;
        let local_faild = if service.local_misses >= misses {
            LocalFaild::Silent
        } else if service.write_failures >= misses {
            LocalFaild::WritesFail
        } else if service.local_misses > 0 {
            LocalFaild::Missed
        } else {
            LocalFaild::Answers
        };
        let link = service
            .config
            .track
            .iter()
            .find_map(|i| match self.links.get(i) {
                Some(true) => None,
                Some(false) => Some(Link::Down(i.clone())),
                None if self.links_complete => Some(Link::Down(i.clone())),
                None => Some(Link::Unknown(i.clone())),
            });
        // A down interface weighs more than one not reported yet.
        let link = match link {
            Some(Link::Unknown(first)) => service
                .config
                .track
                .iter()
                .find(|i| {
                    self.links.get(*i) == Some(&false)
                        || (self.links_complete && !self.links.contains_key(*i))
                })
                .map_or(Link::Unknown(first), |i| Link::Down(i.clone())),
            Some(other) => other,
            None => Link::Up,
        };
        let master_in = |wanted: State| {
            service
                .masters
                .iter()
                .find(|h| effective(service, **h) == wanted)
                .map(|h| {
                    let since = service.views.get(h).and_then(|v| v.recover_since);
                    (self.host_name(*h), wanted, since)
                })
        };
        let master = master_in(State::Up).or_else(|| master_in(State::Recover));
        let startup_hold = (service.config.startup_delay_ms > 0)
            .then(|| self.started_at.plus_ms(service.config.startup_delay_ms))
            .filter(|until| *until > now)
            .and_then(|until| {
                service
                    .peers()
                    .find(|h| !service.views.get(h).is_some_and(|v| v.answered))
                    .map(|h| (until, self.host_name(h)))
            });
        let slave_up = service
            .slaves
            .iter()
            .find(|h| effective(service, **h) == State::Up)
            .map(|h| self.host_name(*h));
        let peer_unseen = service
            .peers()
            .find(|h| !answers(service, *h))
            .map(|h| self.host_name(h));
        let current_round = service.next_round_id.saturating_sub(1);
        View {
            now,
            local,
            local_faild,
            lease_lapsing: local == State::Up && self.lease_lapsing(now, id),
            lease_unowned: local == State::Up
                && service.config.lease_ms.is_some()
                && service.published != Some(State::Up),
            link,
            track_hold: service.track_hold.is_some(),
            master,
            preempt: service.config.preempt,
            preempt_delay_ms: service.config.preempt_delay_ms,
            startup_hold,
            check_hold: service.check_hold.is_some(),
            check_passes: service.check_passes,
            check_rise: service.config.check_rise,
            check_ran: service.check_ran_round == Some(current_round),
            reread: service.deciding_reread,
            has_masters: !service.masters.is_empty(),
            slave_up,
            peer_unseen,
            peers: service.peers().map(|h| self.host_name(h)).collect(),
            peer_unseen_while_up: service.peer_unseen_while_up,
            reannounce: service.reannounce,
            conflict_since: service.conflict_since,
            conflict_reclaimed: service.conflict_reclaimed,
            // The slave needs one of its polls to see us UP, then its stop.
            stuck_after_ms: 2 * service.config.interval_ms + service.config.timeout_ms(),
            has_reclaim: service.config.has_reclaim(),
            has_check: service.config.has_check(),
            checked: service.check_passed_round == Some(current_round),
            fence: self.fence(id),
            waiting_for: service
                .peers()
                .find(|h| service.views.get(h).is_some_and(|v| v.fresh_needed))
                .map(|h| self.host_name(h)),
            quorum: self.quorum(now, id),
        }
    }

    /// `fence wait`: until when the address of a master that went silent (or whose UP lease
    /// expired) may still be configured on it, the latest of all masters.
    fn fence(&self, id: ServiceId) -> Option<(Time, String)> {
        let service = &self.services[&id];
        let fence_ms = service.config.fence_ms()?;
        service
            .masters
            .iter()
            .filter(|h| effective(service, **h) == State::Fail)
            .filter_map(|h| {
                let name = self.host_name(*h);
                match service.views.get(h) {
                    Some(view) if view.answered && view.misses < service.config.misses => {
                        view.expired_seen_at.map(|at| {
                            (
                                at.plus_ms(KERNEL_LEASE_LAG_MS),
                                format!("master {name}'s lease expired"),
                            )
                        })
                    }
                    Some(view) if view.answered => Some((
                        view.seen_at.plus_ms(fence_ms),
                        format!("master {name} went silent"),
                    )),
                    _ => Some((
                        self.started_at.plus_ms(fence_ms),
                        format!("master {name} has not answered since failsh started"),
                    )),
                }
            })
            .max_by_key(|(at, _)| *at)
    }

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
            if service.retiring {
                self.forget_service(id);
                return;
            }
            self.decide(id, "waiting for the local faild to answer".to_string());
            return;
        };
        if service.retiring {
            self.retire(now, id);
            return;
        }
        if service.changed_during_procedure && service.local_misses < service.config.misses {
            // faild refused the UP the last procedure returned: nothing more is run on the
            // strength of an UP that someone changed, until its answer says what it is now
            // (a local faild that falls silent meanwhile still stops the service: row 01).
            self.decide(
                id,
                "the local faild changed while a procedure ran: reading it".to_string(),
            );
            return;
        }
        let view = self.view(now, id, local);
        let (decision, episode) = rule(&view);
        let service = self.service_mut(id);
        service.conflict_since = episode.conflict_since;
        service.conflict_reclaimed = episode.conflict_reclaimed;
        service.peer_unseen_while_up = episode.peer_unseen_while_up;
        service.reannounce = episode.reannounce;
        match (&decision, episode.track_hold) {
            (Decision::Run { reason, .. } | Decision::Publish { reason, .. }, Some(true)) => {
                service.track_hold = Some(reason.clone());
            }
            (_, Some(false)) => service.track_hold = None,
            _ => {}
        }
        match decision {
            Decision::Run { kind, reason, then } => {
                if let Some(state) = then {
                    service.end_in = Some((state, reason.clone()));
                }
                self.run(now, id, kind, reason);
            }
            Decision::Publish { state, reason } => {
                self.change_state(now, id, state, reason.clone(), true);
                self.hold_written_note(id);
                self.decide(id, reason);
            }
            Decision::Stay(reason) => self.decide(id, reason),
            Decision::Wait { until, reason } => {
                self.timers.set(Timer::Fence(id), until);
                let left_ms = until.since_ms(now);
                self.decide_with(id, reason, |reason| format!("{reason} ({left_ms} ms more)"));
            }
        }
    }
}

#[cfg(test)]
mod tests;
