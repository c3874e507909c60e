//! What a faild heard from the members of each service's group (`failsvc S witness`): the
//! evidence a member needs before it takes over from a silent one (`docs/design.md`,
//! "Quorum with a witness"). Kept in memory only: a faild that restarts knows nothing, and
//! says how long it has been recording, so its silence proves no more than that.

use crate::time::Time;
use crate::wire::{Heard, MAX_HEARD_MEMBERS};
use std::collections::BTreeMap;

/// (service, member) pairs recorded at most, over all services: a community holder that
/// invents members cannot grow faild (names are at most 255 bytes: a few hundred KB).
pub const MAX_HEARD_PAIRS: usize = 1024;

#[derive(Debug, Default)]
pub struct HeardTable {
    services: BTreeMap<String, Record>,
    pairs: usize,
}

#[derive(Debug)]
struct Record {
    /// When recording began.
    since: Time,
    members: BTreeMap<String, Time>,
    /// A member could not be recorded (the table was full): a member missing from the
    /// record may have been heard, so the record proves nothing any more.
    incomplete: bool,
}

impl HeardTable {
    /// `member` asked about `service` at `now`.
    pub fn heard(&mut self, now: Time, service: &str, member: &str) {
        if !self.services.contains_key(service) {
            if self.pairs >= MAX_HEARD_PAIRS {
                // Not recorded: answered without a record, which proves nothing.
                return;
            }
            self.services.insert(
                service.to_string(),
                Record {
                    since: now,
                    members: BTreeMap::new(),
                    incomplete: false,
                },
            );
        }
        let Some(record) = self.services.get_mut(service) else {
            return;
        };
        if let Some(at) = record.members.get_mut(member) {
            *at = now;
            return;
        }
        if self.pairs >= MAX_HEARD_PAIRS || record.members.len() >= MAX_HEARD_MEMBERS {
            record.incomplete = true;
            return;
        }
        record.members.insert(member.to_string(), now);
        self.pairs += 1;
    }

    /// What to answer about `service`: `None` when nothing it says could be trusted.
    pub fn report(&self, now: Time, service: &str) -> Option<Heard> {
        let record = self.services.get(service)?;
        if record.incomplete {
            return None;
        }
        Some(Heard {
            recorded_ms: now.since_ms(record.since),
            members: record
                .members
                .iter()
                .map(|(member, at)| (member.clone(), now.since_ms(*at)))
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_and_the_recording_window() {
        let mut table = HeardTable::default();
        assert_eq!(table.report(Time(0), "s"), None);
        table.heard(Time(1_000), "s", "lukretia");
        table.heard(Time(1_500), "s", "macbeth");
        table.heard(Time(2_000), "s", "lukretia");
        let heard = table.report(Time(2_600), "s").expect("a record");
        assert_eq!(heard.recorded_ms, 1_600);
        assert_eq!(
            heard.members,
            vec![
                ("lukretia".to_string(), 600),
                ("macbeth".to_string(), 1_100)
            ]
        );
        assert_eq!(table.report(Time(2_600), "other"), None);
    }

    #[test]
    fn a_full_table_records_nothing_new_and_says_so() {
        let mut table = HeardTable::default();
        for n in 0..MAX_HEARD_MEMBERS {
            table.heard(Time(1), "s", &format!("m{n}"));
        }
        assert!(table.report(Time(2), "s").is_some());
        // One member too many: the record can no longer prove that anyone was silent.
        table.heard(Time(3), "s", "one-more");
        assert_eq!(table.report(Time(4), "s"), None);
        for n in 0..MAX_HEARD_PAIRS {
            table.heard(Time(5), &format!("service{n}"), "m");
        }
        assert_eq!(table.pairs, MAX_HEARD_PAIRS);
        table.heard(Time(6), "not-recorded", "m");
        assert_eq!(table.report(Time(7), "not-recorded"), None);
    }
}
