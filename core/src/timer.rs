//! The timer table: every pending wake-up of the decision machine, by reason.
//!
//! quinn-proto keeps a fixed array because a connection has a closed set of timers; failsh
//! has a few per service, so this is an ordered index instead: `next()` is the earliest
//! deadline and its reason, and setting a timer replaces that timer's previous deadline.

use crate::shell::{HostId, ServiceId};
use crate::time::Time;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// Why the machine wants to be woken. The order matters at equal times: a round's reply
/// deadline closes it before the next round of the same instant starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Timer {
    /// The replies of a service's current round are due.
    ReplyDeadline(ServiceId),
    /// A service's procedure has run for its whole time limit.
    ProcedureLimit(ServiceId),
    /// The SIGTERM handover stops waiting for another host to take over what it stopped
    /// (its connections are reset then): before the deadline of the same instant.
    Drain,
    /// The SIGTERM handover gives up waiting.
    Handover,
    /// A service's next poll round starts.
    Round(ServiceId),
    /// A service's lease (kernel address lifetime and faild's UP record) is renewed.
    Renew(ServiceId),
    /// A host that does not answer is probed, so that a heal is seen at once.
    Probe(HostId),
    /// A slave with `fence wait` has waited out a silent master's lease.
    Fence(ServiceId),
}

impl fmt::Display for Timer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Timer::ReplyDeadline(s) => write!(f, "reply deadline of service #{}", s.0),
            Timer::ProcedureLimit(s) => write!(f, "procedure time limit of service #{}", s.0),
            Timer::Drain => f.write_str("end of the handover's wait for a new holder"),
            Timer::Handover => f.write_str("handover deadline"),
            Timer::Round(s) => write!(f, "poll round of service #{}", s.0),
            Timer::Renew(s) => write!(f, "lease renewal of service #{}", s.0),
            Timer::Probe(h) => write!(f, "probe of silent host #{}", h.0),
            Timer::Fence(s) => write!(f, "end of the fence wait of service #{}", s.0),
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct TimerTable {
    by_time: BTreeSet<(Time, Timer)>,
    by_timer: BTreeMap<Timer, Time>,
}

impl TimerTable {
    pub fn set(&mut self, timer: Timer, at: Time) {
        if let Some(old) = self.by_timer.insert(timer, at) {
            self.by_time.remove(&(old, timer));
        }
        self.by_time.insert((at, timer));
    }

    pub fn stop(&mut self, timer: Timer) {
        if let Some(old) = self.by_timer.remove(&timer) {
            self.by_time.remove(&(old, timer));
        }
    }

    pub fn get(&self, timer: Timer) -> Option<Time> {
        self.by_timer.get(&timer).copied()
    }

    pub fn next(&self) -> Option<(Time, Timer)> {
        self.by_time.first().copied()
    }

    /// Removes and returns the earliest timer if it is due at `now`.
    pub fn pop_due(&mut self, now: Time) -> Option<Timer> {
        let (at, timer) = *self.by_time.first()?;
        if at > now {
            return None;
        }
        self.by_time.remove(&(at, timer));
        self.by_timer.remove(&timer);
        Some(timer)
    }

    pub fn is_empty(&self) -> bool {
        self.by_time.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setting_a_timer_again_moves_it() {
        let mut table = TimerTable::default();
        let (one, two) = (ServiceId(1), ServiceId(2));
        table.set(Timer::Round(one), Time(50));
        table.set(Timer::Round(two), Time(30));
        table.set(Timer::Round(two), Time(70));
        assert_eq!(table.next(), Some((Time(50), Timer::Round(one))));
        assert_eq!(table.pop_due(Time(49)), None);
        assert_eq!(table.pop_due(Time(50)), Some(Timer::Round(one)));
        assert_eq!(table.next(), Some((Time(70), Timer::Round(two))));
        table.stop(Timer::Round(two));
        assert!(table.is_empty());
    }

    #[test]
    fn a_deadline_sorts_before_a_round_at_the_same_time() {
        let mut table = TimerTable::default();
        table.set(Timer::Round(ServiceId(0)), Time(10));
        table.set(Timer::ReplyDeadline(ServiceId(0)), Time(10));
        assert_eq!(
            table.pop_due(Time(10)),
            Some(Timer::ReplyDeadline(ServiceId(0)))
        );
        assert_eq!(table.pop_due(Time(10)), Some(Timer::Round(ServiceId(0))));
    }
}
