//! failsh's monitor port: what failmon shows.
//!
//! failsh accepts TCP connections on its monitor port (default 1848) and writes one JSON
//! object per line: a full [`Snapshot`] at once, on every change and at least once per
//! second. Readers never write; a slow reader is disconnected rather than allowed to stall
//! failsh.
//!
//! Every time field names its unit and its clock: `_unix_ms` is wall-clock time (unix
//! milliseconds), `_uptime_ms` is failsh's own clock (milliseconds since it started, which
//! never jumps), `_ms` alone a duration. Version 2 renamed the fields of version 1 so
//! (`unix_ms`, `last_change`, `last_contact`, `lease_renewed`) and gave recent events their
//! times.

use failover_core::shell::{HostStatus, ProcedureKind, Protocol, QuorumStatus, ServiceStatus};
use failover_core::state::State;
use failover_core::time::Time;
use serde::{Deserialize, Serialize};

pub const DEFAULT_MONITOR_PORT: u16 = 1848;
pub const FORMAT: &str = "failover-monitor";
pub const VERSION: u32 = 2;

/// One of the recent events: its log line and when it happened on both clocks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecentEvent {
    pub wall_unix_ms: u64,
    pub uptime_ms: u64,
    pub text: String,
}

/// The monitor's names for [`ServiceStatus`]'s fields (the core's struct, named for Rust).
#[derive(Serialize, Deserialize)]
#[serde(remote = "ServiceStatus")]
struct ServiceJson {
    name: String,
    state: Option<State>,
    #[serde(rename = "last_change_uptime_ms")]
    last_change: Option<Time>,
    reason: String,
    decision: String,
    interval_ms: u64,
    masters: Vec<(String, State)>,
    slaves: Vec<(String, State)>,
    procedure: Option<ProcedureKind>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    track: Vec<(String, Option<bool>)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lease_ms: Option<u64>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        rename = "lease_renewed_uptime_ms"
    )]
    lease_renewed: Option<Time>,
}

#[derive(Serialize, Deserialize)]
#[serde(remote = "HostStatus")]
struct HostJson {
    name: String,
    protocol: Protocol,
    reachable: Option<bool>,
    #[serde(rename = "last_contact_uptime_ms")]
    last_contact: Option<Time>,
}

/// `Vec<T>` through a remote definition.
macro_rules! remote_vec {
    ($module:ident, $ty:ty, $remote:ident) => {
        mod $module {
            use super::*;
            struct Ser<'a>(&'a $ty);
            impl Serialize for Ser<'_> {
                fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                    $remote::serialize(self.0, s)
                }
            }
            struct De($ty);
            impl<'de> Deserialize<'de> for De {
                fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<De, D::Error> {
                    $remote::deserialize(d).map(De)
                }
            }
            pub fn serialize<S: serde::Serializer>(v: &[$ty], s: S) -> Result<S::Ok, S::Error> {
                s.collect_seq(v.iter().map(Ser))
            }
            pub fn deserialize<'de, D: serde::Deserializer<'de>>(
                d: D,
            ) -> Result<Vec<$ty>, D::Error> {
                Ok(Vec::<De>::deserialize(d)?
                    .into_iter()
                    .map(|De(v)| v)
                    .collect())
            }
        }
    };
}
remote_vec!(services_json, ServiceStatus, ServiceJson);
remote_vec!(hosts_json, HostStatus, HostJson);

/// One line on the monitor port.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Always [`FORMAT`].
    pub format: String,
    pub version: u32,
    /// The node name of the host failsh runs on.
    pub node: String,
    /// Wall-clock time of the snapshot, unix milliseconds (`wall_unix_ms` in JSON).
    #[serde(rename = "wall_unix_ms")]
    pub unix_ms: u64,
    /// failsh's own clock (milliseconds since it started), the clock of every
    /// `_uptime_ms` field.
    pub uptime_ms: u64,
    #[serde(with = "services_json")]
    pub services: Vec<ServiceStatus>,
    #[serde(with = "hosts_json")]
    pub hosts: Vec<HostStatus>,
    /// The witnessed services' quorum: which members are in contact, and whether that is a
    /// majority (absent without witnesses).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quorum: Vec<QuorumStatus>,
    /// The most recent events, oldest first (at most 50): log lines with their times.
    pub recent_events: Vec<RecentEvent>,
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
