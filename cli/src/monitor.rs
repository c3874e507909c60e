//! failsh's monitor port: what failmon shows.
//!
//! failsh accepts TCP connections on its monitor port (default 1848) and writes one JSON
//! object per line: a full [`Snapshot`] at once, on every change and at least once per
//! second. Readers never write; a slow reader is disconnected rather than allowed to stall
//! failsh.

use failover_core::shell::{HostStatus, QuorumStatus, ServiceStatus};
use serde::{Deserialize, Serialize};

pub const DEFAULT_MONITOR_PORT: u16 = 1848;
pub const FORMAT: &str = "failover-monitor";
pub const VERSION: u32 = 1;

/// One line on the monitor port.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Always [`FORMAT`].
    pub format: String,
    pub version: u32,
    /// The node name of the host failsh runs on.
    pub node: String,
    /// Wall-clock time of the snapshot, unix milliseconds.
    pub unix_ms: u64,
    /// failsh's own clock (milliseconds since it started), the clock of `last_change` and
    /// `last_contact` below.
    pub uptime_ms: u64,
    pub services: Vec<ServiceStatus>,
    pub hosts: Vec<HostStatus>,
    /// The witnessed services' quorum: which members are in contact, and whether that is a
    /// majority (absent without witnesses).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quorum: Vec<QuorumStatus>,
    /// The most recent events, oldest first (at most 50), as log lines.
    pub recent_events: Vec<String>,
}

impl Snapshot {
    pub fn to_line(&self) -> String {
        let mut line = serde_json::to_string(self).unwrap_or_default();
        line.push('\n');
        line
    }

    pub fn from_line(line: &str) -> Result<Snapshot, String> {
        let snapshot: Snapshot =
            serde_json::from_str(line.trim_end()).map_err(|e| format!("bad monitor line: {e}"))?;
        if snapshot.format != FORMAT || snapshot.version != VERSION {
            return Err(format!(
                "unsupported monitor format {} version {}",
                snapshot.format, snapshot.version
            ));
        }
        Ok(snapshot)
    }
}
