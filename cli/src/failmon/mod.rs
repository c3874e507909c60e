//! failmon: reading failsh's monitor port and showing what it says.
//!
//! [`Connection`] reads [`Snapshot`] lines from the monitor port; [`text`] renders the
//! one-shot and line-mode text, [`html`] the HTML page (and `failmon.cgi`), [`screen`] the
//! curses screen. Rendering is pure (a snapshot in, text out) so that it is tested without a
//! socket or a terminal.

pub mod html;
#[cfg(feature = "screen")]
pub mod screen;
pub mod text;

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use failover_core::time::Time;

use crate::monitor::Snapshot;

/// A snapshot line longer than this is not a monitor line (1,000 services take ~400 KiB).
pub const MAX_LINE_BYTES: u64 = 16 * 1024 * 1024;

/// Why failmon could not show anything.
#[derive(Debug)]
pub enum MonitorError {
    /// Nothing listens there, the host is unknown or unreachable.
    Connect(String),
    /// The connection closed or timed out before a snapshot arrived.
    Closed(String),
    /// The other side is not a failsh monitor port (or another version).
    Protocol(String),
}

impl std::fmt::Display for MonitorError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MonitorError::Connect(why) => write!(f, "cannot connect: {why}"),
            MonitorError::Closed(why) => write!(f, "no snapshot: {why}"),
            MonitorError::Protocol(why) => write!(f, "not a failsh monitor port: {why}"),
        }
    }
}

impl std::error::Error for MonitorError {}

/// The address failmon contacts without a target: 127.0.0.1, where failsh's monitor port
/// listens unless failsh runs with `-a`. (The original contacted the address the local node
/// name resolves to; on Debian that is 127.0.1.1, or a LAN address, where failsh does not
/// listen by default.)
pub fn default_target() -> String {
    "127.0.0.1".to_string()
}

/// The local node name (`uname -n`), if it can be found.
pub fn node_name() -> Option<String> {
    let from_proc = std::fs::read_to_string("/proc/sys/kernel/hostname").ok();
    let name = match from_proc {
        Some(name) => name,
        None => {
            let output = std::process::Command::new("uname")
                .arg("-n")
                .output()
                .ok()?;
            String::from_utf8(output.stdout).ok()?
        }
    };
    let name = name.trim().to_string();
    (!name.is_empty()).then_some(name)
}

/// `host:port`, with brackets around an IPv6 literal.
pub fn address(target: &str, port: u16) -> String {
    if target.contains(':') && !target.starts_with('[') {
        format!("[{target}]:{port}")
    } else {
        format!("{target}:{port}")
    }
}

/// A reader of one monitor port connection.
#[derive(Debug)]
pub struct Connection {
    peer: SocketAddr,
    reader: BufReader<TcpStream>,
}

impl Connection {
    /// Connects to `address` (`host:port`), each attempt bounded by `timeout`; every later read
    /// waits at most `timeout` too (failsh writes at least once per second).
    pub fn open(address: &str, timeout: Duration) -> Result<Connection, MonitorError> {
        let candidates: Vec<SocketAddr> = address
            .to_socket_addrs()
            .map_err(|e| MonitorError::Connect(format!("{address}: {e}")))?
            .collect();
        let mut last_error = format!("{address}: no address");
        for candidate in candidates {
            match TcpStream::connect_timeout(&candidate, timeout) {
                Ok(stream) => {
                    stream
                        .set_read_timeout(Some(timeout))
                        .map_err(|e| MonitorError::Connect(e.to_string()))?;
                    return Ok(Connection {
                        peer: candidate,
                        reader: BufReader::new(stream),
                    });
                }
                Err(e) => last_error = format!("{candidate}: {e}"),
            }
        }
        Err(MonitorError::Connect(last_error))
    }

    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// The next snapshot, as parsed and as the raw line (without its newline).
    pub fn next_snapshot(&mut self) -> Result<(Snapshot, String), MonitorError> {
        let mut line = Vec::new();
        let read = (&mut self.reader)
            .take(MAX_LINE_BYTES + 1)
            .read_until(b'\n', &mut line);
        match read {
            Ok(0) => {
                return Err(MonitorError::Closed(format!(
                    "{} closed the connection",
                    self.peer
                )))
            }
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(MonitorError::Closed(format!(
                    "{} sent nothing in time",
                    self.peer
                )))
            }
            Err(e) => return Err(MonitorError::Closed(format!("{}: {e}", self.peer))),
        }
        if line.last() != Some(&b'\n') {
            return Err(if line.len() as u64 > MAX_LINE_BYTES {
                MonitorError::Protocol(format!("a line longer than {MAX_LINE_BYTES} bytes"))
            } else {
                MonitorError::Closed(format!("{} closed the connection mid-line", self.peer))
            });
        }
        let text = String::from_utf8(line)
            .map_err(|_| MonitorError::Protocol("a line that is not UTF-8".to_string()))?;
        let snapshot = Snapshot::from_line(&text).map_err(MonitorError::Protocol)?;
        Ok((snapshot, text.trim_end().to_string()))
    }
}

/// How long ago `at` was on failsh's clock, or `None` for never.
pub fn age_ms(snapshot: &Snapshot, at: Option<Time>) -> Option<u64> {
    at.map(|at| snapshot.uptime_ms.saturating_sub(at.0))
}

/// The wall-clock time of `at` (failsh's clock), unix milliseconds.
pub fn wall_ms(snapshot: &Snapshot, at: Option<Time>) -> Option<u64> {
    age_ms(snapshot, at).map(|age| snapshot.unix_ms.saturating_sub(age))
}

/// `850 ms`, `12.3 s`, `4 min 5 s`, `3 h 2 min`, `2 d 4 h`.
pub fn human_duration(ms: u64) -> String {
    let seconds = ms / 1000;
    if ms < 1000 {
        format!("{ms} ms")
    } else if seconds < 60 {
        format!("{}.{} s", seconds, (ms % 1000) / 100)
    } else if seconds < 3600 {
        format!("{} min {} s", seconds / 60, seconds % 60)
    } else if seconds < 86_400 {
        format!("{} h {} min", seconds / 3600, (seconds / 60) % 60)
    } else {
        format!("{} d {} h", seconds / 86_400, (seconds / 3600) % 24)
    }
}

/// An interval as configured: `5 s`, `0.2 s`, `20 ms`.
pub fn human_interval(interval_ms: u64) -> String {
    if interval_ms < 100 {
        format!("{interval_ms} ms")
    } else if interval_ms.rem_euclid(1000) == 0 {
        format!("{} s", interval_ms / 1000)
    } else {
        let text = format!("{:.3}", interval_ms as f64 / 1000.0);
        format!("{} s", text.trim_end_matches('0'))
    }
}

/// A recent event's time: `2024-01-02T03:04:05.678Z, 12.3 s ago` (wall clock as failsh saw
/// it, age on failsh's clock at the snapshot).
pub fn event_time(snapshot: &Snapshot, event: &crate::monitor::RecentEvent) -> String {
    format!(
        "{}, {} ago",
        crate::logging::utc_timestamp_ms(event.wall_unix_ms),
        human_duration(snapshot.uptime_ms.saturating_sub(event.uptime_ms))
    )
}

/// `12.3 s ago (2024-01-02T03:04:05.678Z)` or `never`.
pub fn when(snapshot: &Snapshot, at: Option<Time>) -> String {
    match (age_ms(snapshot, at), wall_ms(snapshot, at)) {
        (Some(age), Some(wall)) => format!(
            "{} ago ({})",
            human_duration(age),
            crate::logging::utc_timestamp_ms(wall)
        ),
        _ => "never".to_string(),
    }
}

/// A state for display: `UP`, `RECOVER`, `FAIL`, or `unknown` before the first answer.
pub fn state_text(state: Option<failover_core::state::State>) -> &'static str {
    state.map_or("unknown", |state| state.as_str())
}

/// `yes`, `no` or `unknown` (not polled yet).
pub fn reachable_text(reachable: Option<bool>) -> &'static str {
    match reachable {
        Some(true) => "yes",
        Some(false) => "no",
        None => "unknown",
    }
}

#[cfg(test)]
pub(crate) mod sample {
    //! A snapshot like the seed's lukretia shows it, for the renderers' tests.
    use failover_core::shell::{
        HostStatus, MemberContact, ProcedureKind, Protocol, QuorumStatus, ServiceStatus,
    };
    use failover_core::state::State;
    use failover_core::time::Time;

    use crate::monitor::{Snapshot, FORMAT, VERSION};

    pub fn snapshot() -> Snapshot {
        Snapshot {
            format: FORMAT.to_string(),
            version: VERSION,
            node: "lukretia".to_string(),
            unix_ms: 1_700_000_000_000,
            uptime_ms: 60_000,
            services: vec![
                ServiceStatus {
                    name: "198.18.0.50".to_string(),
                    state: Some(State::Up),
                    last_change: Some(Time(47_700)),
                    reason: "start returned UP".to_string(),
                    decision: "no master available and no slave UP: start".to_string(),
                    interval_ms: 5000,
                    masters: vec![],
                    slaves: vec![("macbeth".to_string(), State::Recover)],
                    procedure: None,
                    track: vec![("eth0".to_string(), Some(true))],
                    lease_ms: Some(1_000),
                    lease_renewed: Some(Time(59_800)),
                },
                ServiceStatus {
                    name: "<script>alert(1)</script>".to_string(),
                    state: None,
                    last_change: None,
                    reason: "waiting for the first poll & \"its\" answer".to_string(),
                    decision: String::new(),
                    interval_ms: 200,
                    masters: vec![("macbeth".to_string(), State::Fail)],
                    slaves: vec![],
                    procedure: Some(ProcedureKind::Start),
                    track: Vec::new(),
                    lease_ms: None,
                    lease_renewed: None,
                },
            ],
            hosts: vec![
                HostStatus {
                    name: "localhost".to_string(),
                    protocol: Protocol::Tcp,
                    reachable: Some(true),
                    last_contact: Some(Time(59_900)),
                },
                HostStatus {
                    name: "macbeth".to_string(),
                    protocol: Protocol::Udp,
                    reachable: Some(false),
                    last_contact: None,
                },
            ],
            quorum: vec![QuorumStatus {
                service: "198.18.0.50".to_string(),
                group: 3,
                members: vec![
                    MemberContact {
                        name: "macbeth".to_string(),
                        role: "slave".to_string(),
                        in_contact: false,
                    },
                    MemberContact {
                        name: "dunsinane".to_string(),
                        role: "witness".to_string(),
                        in_contact: true,
                    },
                ],
                majority: true,
            }],
            recent_events: vec![crate::monitor::RecentEvent {
                wall_unix_ms: 1_700_000_000_000 - 2_500,
                uptime_ms: 57_500,
                text: "198.18.0.50: RECOVER -> UP (start returned UP)".to_string(),
            }],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_intervals_read_like_an_operator_writes_them() {
        assert_eq!(human_duration(850), "850 ms");
        assert_eq!(human_duration(12_345), "12.3 s");
        assert_eq!(human_duration(245_000), "4 min 5 s");
        assert_eq!(human_interval(5000), "5 s");
        assert_eq!(human_interval(200), "0.2 s");
        assert_eq!(human_interval(20), "20 ms");
        assert_eq!(human_interval(1250), "1.25 s");
    }

    #[test]
    fn times_on_failsh_clock_become_ages_and_wall_times() {
        let snapshot = sample::snapshot();
        assert_eq!(age_ms(&snapshot, Some(Time(47_700))), Some(12_300));
        assert_eq!(
            wall_ms(&snapshot, Some(Time(47_700))),
            Some(1_700_000_000_000 - 12_300)
        );
        assert_eq!(when(&snapshot, None), "never");
        assert_eq!(
            event_time(&snapshot, &snapshot.recent_events[0]),
            "2023-11-14T22:13:17.500Z, 2.5 s ago"
        );
    }

    #[test]
    fn ipv6_targets_get_brackets() {
        assert_eq!(address("::1", 1848), "[::1]:1848");
        assert_eq!(address("lukretia", 1848), "lukretia:1848");
    }
}
