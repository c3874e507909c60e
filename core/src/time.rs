//! Core-owned time: monotonic milliseconds passed into every call.
//!
//! `Instant` cannot be serialized or constructed in a simulation, so the core uses its own type;
//! runtimes map their clock onto it (faild's store uses wall-clock milliseconds so that the time
//! of a state's last change survives a restart; failsh uses milliseconds since it started).

use serde::{Deserialize, Serialize};
use std::fmt;

/// A point in time, in milliseconds since an epoch the runtime chooses.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Time(pub u64);

impl Time {
    pub const ZERO: Time = Time(0);

    pub fn from_ms(ms: u64) -> Time {
        Time(ms)
    }

    pub fn as_ms(self) -> u64 {
        self.0
    }

    /// `self + delay_ms`, saturating instead of wrapping so that a huge configured interval
    /// parks a timer at the end of time rather than in the past.
    pub fn plus_ms(self, delay_ms: u64) -> Time {
        Time(self.0.saturating_add(delay_ms))
    }

    /// Milliseconds from `earlier` to `self`, zero if `earlier` is later.
    pub fn since_ms(self, earlier: Time) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:03}s", self.0 / 1000, self.0 % 1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates_instead_of_wrapping() {
        assert_eq!(Time(u64::MAX - 1).plus_ms(5), Time(u64::MAX));
        assert_eq!(Time(5).since_ms(Time(9)), 0);
        assert_eq!(Time(9).since_ms(Time(5)), 4);
        assert_eq!(Time(12_345).to_string(), "12.345s");
    }
}
