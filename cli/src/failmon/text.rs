//! The readable text of `failmon -1` and of line mode (`-l`).

use std::fmt::Write;

use crate::monitor::Snapshot;

use super::{human_interval, reachable_text, state_text, when};

/// Services (state, the masters and slaves with the state each counts as, interval, last
/// change and its reason), then hosts (reachability and last contact), then recent events.
pub fn render(snapshot: &Snapshot) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "failsh on {} at {} (up {})",
        snapshot.node,
        crate::logging::utc_timestamp_ms(snapshot.unix_ms),
        super::human_duration(snapshot.uptime_ms)
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "Services ({}):", snapshot.services.len());
    if snapshot.services.is_empty() {
        let _ = writeln!(out, "  (none configured)");
    }
    for service in &snapshot.services {
        let _ = writeln!(
            out,
            "  {:<24} {:<8} every {}",
            service.name,
            state_text(service.state),
            human_interval(service.interval_ms)
        );
        let _ = writeln!(
            out,
            "      last change: {}",
            when(snapshot, service.last_change)
        );
        if !service.reason.is_empty() {
            let _ = writeln!(out, "      reason:      {}", service.reason);
        }
        if !service.decision.is_empty() {
            let _ = writeln!(out, "      decision:    {}", service.decision);
        }
        let _ = writeln!(out, "      masters:     {}", peers(&service.masters));
        let _ = writeln!(out, "      slaves:      {}", peers(&service.slaves));
        if let Some(kind) = service.procedure {
            let _ = writeln!(out, "      running:     {} procedure", kind.as_str());
        }
        if let Some(quorum) = snapshot.quorum.iter().find(|q| q.service == service.name) {
            let _ = writeln!(out, "      quorum:      {}", quorum_text(quorum));
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "Hosts ({}):", snapshot.hosts.len());
    for host in &snapshot.hosts {
        let protocol = match host.protocol {
            failover_core::shell::Protocol::Tcp => "tcp",
            failover_core::shell::Protocol::Udp => "udp",
        };
        let _ = writeln!(
            out,
            "  {:<24} {protocol}  reachable: {:<7}  last contact: {}",
            host.name,
            reachable_text(host.reachable),
            when(snapshot, host.last_contact)
        );
    }
    if !snapshot.recent_events.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "Recent events:");
        for event in &snapshot.recent_events {
            let _ = writeln!(
                out,
                "  {}  {}",
                super::event_time(snapshot, event),
                event.text
            );
        }
    }
    out
}

/// `lukretia UP, macbeth FAIL` or `none`.
pub fn peers(peers: &[(String, failover_core::state::State)]) -> String {
    if peers.is_empty() {
        return "none".to_string();
    }
    peers
        .iter()
        .map(|(name, state)| format!("{name} {state}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `majority (3 of 3): macbeth (slave) in contact, dunsinane (witness) in contact`, or
/// `NO MAJORITY (1 of 3): ... dunsinane (witness) OUT OF CONTACT` — loud, since a host without
/// a majority neither starts nor keeps the service.
pub fn quorum_text(quorum: &failover_core::shell::QuorumStatus) -> String {
    let in_contact = 1 + quorum.members.iter().filter(|m| m.in_contact).count();
    let members: Vec<String> = quorum
        .members
        .iter()
        .map(|m| {
            let contact = if m.in_contact {
                "in contact"
            } else {
                "OUT OF CONTACT"
            };
            format!("{} ({}) {contact}", m.name, m.role)
        })
        .collect();
    format!(
        "{} ({in_contact} of {}): {}",
        if quorum.majority {
            "majority"
        } else {
            "NO MAJORITY"
        },
        quorum.group,
        members.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::failmon::sample;

    #[test]
    fn the_text_shows_every_service_host_and_their_states() {
        let text = render(&sample::snapshot());
        for expected in [
            "failsh on lukretia",
            "198.18.0.50              UP       every 5 s",
            "last change: 12.3 s ago",
            "reason:      start returned UP",
            "slaves:      macbeth RECOVER",
            "masters:     none",
            "<script>alert(1)</script> unknown",
            "masters:     macbeth FAIL",
            "running:     start procedure",
            "macbeth                  udp  reachable: no       last contact: never",
            "localhost                tcp  reachable: yes      last contact: 100 ms ago",
            "198.18.0.50: RECOVER -> UP",
            "quorum:      majority (2 of 3): macbeth (slave) OUT OF CONTACT, dunsinane (witness) in contact",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in\n{text}");
        }
    }
}
