//! Quorum with a witness (`docs/design.md`, "Quorum with a witness"): which hosts of a
//! service's group this host is in contact with, whether that is a majority, and until when
//! a silent master or slave may still hold the address.

use super::*;

/// What the rule needs to know about the group of a witnessed service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Quorum {
    /// Hosts of the group in contact, this one included.
    pub in_contact: usize,
    pub group: usize,
    /// The hosts out of contact, for messages.
    pub silent: Vec<String>,
    /// For the silent masters and slaves: the latest time one of them may still hold the
    /// address and its name, or the name of one that no reporter can vouch for.
    pub deadline: Option<Result<(Time, String), String>>,
}

impl Quorum {
    pub fn majority(&self) -> bool {
        self.in_contact * 2 > self.group
    }
}

/// Whether `host`'s faild answered us within the service's contact window.
pub(super) fn in_contact(
    hosts: &BTreeMap<HostId, Host>,
    service: &Service,
    host: HostId,
    now: Time,
) -> bool {
    let window_ms = service.config.contact_window_ms();
    hosts
        .get(&host)
        .and_then(|h| h.last_answer_at)
        .is_some_and(|at| now >= at && now.since_ms(at) <= window_ms)
}

/// Whether this host may hold the service: always without witnesses; with them, while in
/// contact with a majority of the group.
pub(super) fn has_majority(hosts: &BTreeMap<HostId, Host>, service: &Service, now: Time) -> bool {
    if service.witnesses.is_empty() {
        return true;
    }
    let others = service
        .peers()
        .chain(service.witnesses.iter().copied())
        .filter(|h| in_contact(hosts, service, *h, now))
        .count();
    (1 + others) * 2 > service.config.group_size()
}

impl Shell {
    /// The quorum of every witnessed service at `now`, for the monitor and the metrics.
    pub fn quorum_status(&self, now: Time) -> Vec<QuorumStatus> {
        self.service_names
            .values()
            .filter_map(|id| self.services.get(id))
            .filter(|s| !s.witnesses.is_empty())
            .map(|service| {
                let roles = [
                    ("master", &service.masters),
                    ("slave", &service.slaves),
                    ("witness", &service.witnesses),
                ];
                let members = roles
                    .iter()
                    .flat_map(|(role, hosts)| {
                        hosts.iter().map(move |h| MemberContact {
                            name: self.host_name(*h),
                            role: role.to_string(),
                            in_contact: in_contact(&self.hosts, service, *h, now),
                        })
                    })
                    .collect();
                QuorumStatus {
                    service: service.config.name.clone(),
                    group: service.config.group_size(),
                    members,
                    majority: has_majority(&self.hosts, service, now),
                }
            })
            .collect()
    }

    /// The quorum of a witnessed service; `None` without witnesses.
    pub(super) fn quorum(&self, now: Time, id: ServiceId) -> Option<Quorum> {
        let service = self.services.get(&id)?;
        if service.witnesses.is_empty() {
            return None;
        }
        let window_ms = service.config.contact_window_ms();
        let others: Vec<HostId> = service
            .peers()
            .chain(service.witnesses.iter().copied())
            .collect();
        let (contacted, silent): (Vec<HostId>, Vec<HostId>) = others
            .iter()
            .partition(|h| in_contact(&self.hosts, service, **h, now));
        // What this host's faild and every faild in contact said they heard, if recent.
        let reporters: Vec<(HostId, Option<&Report>)> = std::iter::once(self.local)
            .chain(contacted.iter().copied())
            .map(|h| {
                let report = service
                    .reports
                    .get(&h)
                    .filter(|r| now >= r.received_at && now.since_ms(r.received_at) <= window_ms);
                (h, report)
            })
            .collect();
        let deadline_ms = service.config.witness_deadline_ms().unwrap_or(0);
        let mut deadline: Option<Result<(Time, String), String>> = None;
        // Every master or slave the rule counts as silent (its misses) or that is out of
        // contact (by time): either way, only the majority's records can clear it.
        for host in service
            .peers()
            .filter(|h| silent.contains(h) || !answers(service, *h))
        {
            let name = self.host_name(host);
            let mut last: Option<Time> = None;
            let mut vouched = true;
            for (_, report) in &reporters {
                match report.and_then(|r| r.last_heard(&name)) {
                    Some(at) => last = Some(last.map_or(at, |l| l.max(at))),
                    None => vouched = false,
                }
            }
            match (vouched, last) {
                (true, Some(at)) => {
                    let until = at.plus_ms(deadline_ms);
                    let later = match &deadline {
                        Some(Ok((current, _))) => until > *current,
                        Some(Err(_)) => false,
                        None => true,
                    };
                    if later {
                        deadline = Some(Ok((until, name)));
                    }
                }
                _ => deadline = Some(Err(name)),
            }
        }
        Some(Quorum {
            in_contact: 1 + contacted.len(),
            group: service.config.group_size(),
            silent: silent.iter().map(|h| self.host_name(*h)).collect(),
            deadline,
        })
    }
}
