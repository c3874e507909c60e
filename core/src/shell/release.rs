//! Connections left behind when a service moves away (`failsvc S reset`).
//!
//! When the service leaves this host, the TCP connections of its clients still lead here,
//! where the address is gone: a client's request in flight is dropped, and the client waits
//! for its retransmission timer (200 ms and more) before the new holder resets the
//! connection. Once another host answers UP, its start has announced the address, and this
//! host asks its runtime to reset those connections ([`Action::ResetConnections`]): each
//! client then reconnects to the new holder at once. Not earlier: a client that reconnects
//! while nobody holds the address sends its SYN into the void and waits a second for the
//! next one. Nothing here decides who holds the address.

use super::*;

/// The longest a SIGTERM handover waits, after its FAIL is published, for another host to
/// be seen UP, before it resets the connections anyway and exits. A push brings the new
/// holder's UP within milliseconds; a failsh that gets no pushes sees it at a round.
pub const HANDOVER_DRAIN_MAX_MS: u64 = 2_000;
/// The shortest: at a 5 ms interval, two intervals and a timeout are over before the new
/// holder's start has run, and a reset then sends the clients' SYNs into the void (a
/// second each) instead of to the new holder.
pub const HANDOVER_DRAIN_MIN_MS: u64 = 1_000;

impl Shell {
    /// Every change of the local state: leaving UP leaves connections to reset; UP again
    /// (the service came back before anybody took it) keeps them, they work again.
    pub(super) fn note_release(
        &mut self,
        now: Time,
        id: ServiceId,
        from: Option<State>,
        to: State,
    ) {
        let service = self.service_mut(id);
        if to == State::Up {
            service.released_at = None;
        } else if from == Some(State::Up) && !service.config.reset_addresses().is_empty() {
            service.released_at = Some(now);
        }
    }

    /// `host` answered with the service UP: if the service left here and is not coming back
    /// (no start running), its connections go, once that host's start has announced the
    /// address (its UP no longer says "starting").
    pub(super) fn taken_over(&mut self, now: Time, id: ServiceId, host: HostId) {
        let Some(service) = self.services.get(&id) else {
            return;
        };
        let announced = service.views.get(&host).is_some_and(|v| {
            v.state == Some(State::Up)
                && !v
                    .note
                    .as_deref()
                    .is_some_and(|n| n.starts_with(STARTING_NOTE))
        });
        if !announced {
            return;
        }
        let Some(released_at) = service.released_at else {
            return;
        };
        let starting = service
            .procedure
            .as_ref()
            .is_some_and(|p| p.kind != ProcedureKind::Check);
        if service.state == Some(State::Up) || starting {
            return;
        }
        let reason = format!(
            "{} has the service now ({} ms after it left here)",
            self.host_name(host),
            now.since_ms(released_at)
        );
        self.reset_connections(id, reason);
    }

    pub(super) fn reset_connections(&mut self, id: ServiceId, reason: String) {
        let service = self.service_mut(id);
        service.released_at = None;
        let addresses = service.config.reset_addresses();
        self.actions.push_back(Action::ResetConnections {
            service: id,
            addresses,
            reason,
        });
    }

    /// How long a SIGTERM handover waits for a new holder of `id` after publishing FAIL: a
    /// round of the other hosts and one of ours, within [`HANDOVER_DRAIN_MIN_MS`] and
    /// [`HANDOVER_DRAIN_MAX_MS`].
    fn drain_ms(&self, id: ServiceId) -> u64 {
        self.services.get(&id).map_or(0, |s| {
            (2 * s.config.interval_ms + s.config.timeout_ms())
                .clamp(HANDOVER_DRAIN_MIN_MS, HANDOVER_DRAIN_MAX_MS)
        })
    }

    /// A SIGTERM handover waits for a new holder of `id` until at least `drain_ms` from now
    /// (never past the handover's deadline).
    pub(super) fn start_drain(&mut self, now: Time, id: ServiceId) {
        if self
            .services
            .get(&id)
            .is_none_or(|s| s.released_at.is_none())
        {
            return;
        }
        let mut end = now.plus_ms(self.drain_ms(id));
        if let Some(deadline) = self.timers.get(Timer::Handover) {
            end = end.min(deadline);
        }
        if self.timers.get(Timer::Drain).is_none_or(|at| at < end) {
            self.timers.set(Timer::Drain, end);
        }
    }

    /// The wait is over: what nobody took over is reset all the same (this failsh goes
    /// away, and the address with it), and the handover may finish.
    pub(super) fn end_drain(&mut self) {
        self.reset_unclaimed("no host took it over within the handover's wait");
        self.check_handover_done();
    }

    pub(super) fn reset_unclaimed(&mut self, why: &str) {
        let waiting: Vec<ServiceId> = self
            .services
            .iter()
            .filter(|(_, s)| s.released_at.is_some())
            .map(|(id, _)| *id)
            .collect();
        for id in waiting {
            self.reset_connections(id, why.to_string());
        }
    }
}
