//! The decision machine's configuration, its validation, and how a new one is applied to a
//! running machine without disturbing what did not change.

use super::{Destination, Host, HostId, ProcedureKind, Service, ServiceId, Shell};
use crate::state::State;
use crate::time::Time;
use crate::timer::Timer;
use crate::wire::{Key, MAX_NAME_BYTES};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;

/// Procedures are given this long unless the service says otherwise.
pub const DEFAULT_PROCEDURE_LIMIT_MS: u64 = 30_000;
/// The shortest time a state write to the local faild is given before it counts as failed
/// (see [`ServiceConfig::write_timeout_ms`]).
pub const WRITE_TIMEOUT_FLOOR_MS: u64 = 1_000;
/// How much longer faild's UP lease is than the kernel lifetime of the addresses
/// (`failsvc S lease`). The kernel removes an expired address up to 250 ms late (its lifetime
/// worker rounds to a whole second when that is within a quarter second; measured lag after
/// a renewal: 2 to 218 ms), so a slave that sees the lease expire finds the address gone.
pub const LEASE_MARGIN_MS: u64 = 400;
/// The latest the kernel removes an address after its lifetime: its lifetime worker never
/// runs sooner than a second after it last ran, so an unrelated address change on the host
/// in the lease's last second can push the removal to a second late. `failsvc S fence wait`
/// waits this out.
pub const KERNEL_LEASE_LAG_MS: u64 = 1_250;

/// Added to the witness deadline for the time between a timer and what it causes.
pub const WITNESS_SLACK_MS: u64 = 50;
/// A host that does not answer is probed this often (when its services poll less often),
/// so that a heal is seen within this time instead of one interval.
pub const PROBE_INTERVAL_MS: u64 = 20;
/// After a tracked link comes back, another host counts as silent (and may be taken over
/// from) only once it has missed its polls and this long has passed: a path that just came
/// back (a switch port, a neighbour entry, a new TCP connection) needs a moment.
pub const LINK_SETTLE_MS: u64 = 1_000;
/// Longest interface name (IFNAMSIZ - 1 on Linux).
pub const MAX_INTERFACE_BYTES: usize = 15;

pub use crate::wire::Protocol;

/// Community of a host that does not set one (`failhost HOST community`), as in the original.
pub const DEFAULT_COMMUNITY: &str = "public";

/// A host whose faild is asked: what `failhost` sets, and where its faild was found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostConfig {
    pub name: String,
    pub community: String,
    pub protocol: Protocol,
    /// The port of its faild (`failhost HOST port`); [`address`](Self::address) carries it
    /// once resolved.
    #[serde(default = "default_port")]
    pub port: u16,
    /// `failhost HOST address VALUE` as written: a literal address or a name to resolve.
    /// `None`: the host's own name (for the local host: its faild on the loopback address).
    /// The program resolves it; the core only ever uses [`address`](Self::address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configured_address: Option<String>,
    /// Where its faild listens, resolved by the program from `failhost HOST address` or the
    /// host's name; `None`: not resolved, and every request to it fails at once.
    #[serde(default)]
    pub address: Option<core::net::SocketAddr>,
}

fn default_port() -> u16 {
    crate::wire::DEFAULT_PORT
}

impl HostConfig {
    /// Whether `other` is polled the same way: the same faild (resolved address), community
    /// and protocol. A reload keeps what is known about such a host, even when the address
    /// is written differently.
    pub fn polled_alike(&self, other: &HostConfig) -> bool {
        self.name == other.name
            && self.community == other.community
            && self.protocol == other.protocol
            && self.address == other.address
    }

    /// A host with the original's defaults: TCP, port 1291, community `public`, its address
    /// not configured and not resolved.
    pub fn new(name: &str) -> HostConfig {
        HostConfig {
            name: name.to_string(),
            community: DEFAULT_COMMUNITY.to_string(),
            protocol: Protocol::Tcp,
            port: crate::wire::DEFAULT_PORT,
            configured_address: None,
            address: None,
        }
    }
}

/// The Tcl procedures a service names (`failsvc S start|stop|reclaim|check PROC`, `failtrap
/// S PROC`). The core runs none of them: it asks the program to run a [`ProcedureKind`], and
/// looks only at whether a reclaim or check procedure exists.
///
/// [`ProcedureKind`]: super::ProcedureKind
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProcedureNames {
    /// Empty: not named yet (a configuration that stays so is refused by the program).
    pub start: String,
    /// Empty: not named yet.
    pub stop: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reclaim: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check: Option<String>,
    /// Called on every state change (`failtrap`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trap: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "RecordedServiceConfig")]
pub struct ServiceConfig {
    pub name: String,
    pub interval_ms: u64,
    /// How long to wait for a poll reply; `None`: the interval.
    pub timeout_ms: Option<u64>,
    /// Consecutive failed polls before a host counts as FAIL.
    pub misses: u32,
    pub masters: Vec<String>,
    pub slaves: Vec<String>,
    /// The procedures' names; the core looks only at [`has_reclaim`](Self::has_reclaim) and
    /// [`has_check`](Self::has_check).
    pub procedures: ProcedureNames,
    pub procedure_limit_ms: u64,
    /// `failsvc S track IF...`: interfaces whose carrier the service needs. One of them
    /// down stops the service here and holds it FAIL until every one is up again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub track: Vec<String>,
    /// `failsvc S lease SECONDS`, in milliseconds (whole seconds): the kernel lifetime of the
    /// addresses the service's procedures add with `ipaddr`, renewed while UP; faild's UP
    /// record lives [`LEASE_MARGIN_MS`] longer unless renewed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_ms: Option<u64>,
    /// `failsvc S fence wait`: before taking over from a master that went silent (or whose
    /// lease expired), wait until its address has surely expired in its kernel.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fence_wait: bool,
    /// `failsvc S witness HOST...`: hosts that run only faild and complete the group to an
    /// odd number: a host holds the service only while in contact with a majority of the
    /// group (`docs/design.md`, "Quorum with a witness").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub witnesses: Vec<String>,
    /// The name this host has in the group (what the others call it in their `masters`
    /// and `slaves`): its queries carry it so that every faild records when it heard it.
    /// Needed with witnesses; the program takes it from `failhost localhost name NAME` or
    /// the host name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<String>,
    /// `failsvc S preempt on|off`: whether a host holding the service stops for a master
    /// that comes back in RECOVER (the seed's rule, on), or keeps it until it fails or an
    /// operator moves it (off). A master that is UP is never left next to another holder.
    #[serde(default = "yes", skip_serializing_if = "is_yes")]
    pub preempt: bool,
    /// `failsvc S preempt_delay SECONDS`: a holder stops for a returning master only once
    /// that master has been RECOVER this long without a break.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub preempt_delay_ms: u64,
    /// `failsvc S startup_delay SECONDS`: for this long after failsh starts, nothing is
    /// started from RECOVER unless every master and slave has answered (a link that is not
    /// yet forwarding hides a master that holds the service).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub startup_delay_ms: u64,
    /// `failsvc S fall N`: the health check acts after this many failures in a row.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub check_fall: u32,
    /// `failsvc S rise N`: a service held FAIL by its health check returns to RECOVER after
    /// this many passes in a row.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub check_rise: u32,
    /// `failsvc S reset ADDRESS...` (or `off`): the addresses whose TCP connections are reset
    /// here once the service has left this host and another host is seen UP with it, so that
    /// clients reconnect to the new holder at once instead of waiting out a retransmission.
    /// `None`: the service's name when it is an address (the seed's convention), else none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset: Option<Vec<core::net::IpAddr>>,
}

fn yes() -> bool {
    true
}

fn is_yes(value: &bool) -> bool {
    *value
}

fn is_zero(value: &u64) -> bool {
    *value == 0
}

fn one() -> u32 {
    1
}

fn is_one(value: &u32) -> bool {
    *value == 1
}

/// A [`ServiceConfig`] as traces hold it. Traces recorded before the procedures' names were
/// kept have `has_reclaim` and `has_check` instead: such a procedure gets its kind's name, so
/// that the trace replays as it was recorded.
#[derive(Deserialize)]
struct RecordedServiceConfig {
    name: String,
    interval_ms: u64,
    timeout_ms: Option<u64>,
    misses: u32,
    masters: Vec<String>,
    slaves: Vec<String>,
    #[serde(default)]
    procedures: ProcedureNames,
    #[serde(default)]
    has_reclaim: bool,
    #[serde(default)]
    has_check: bool,
    procedure_limit_ms: u64,
    #[serde(default)]
    track: Vec<String>,
    #[serde(default)]
    lease_ms: Option<u64>,
    #[serde(default)]
    fence_wait: bool,
    #[serde(default)]
    witnesses: Vec<String>,
    #[serde(default)]
    member: Option<String>,
    #[serde(default = "yes")]
    preempt: bool,
    #[serde(default)]
    preempt_delay_ms: u64,
    #[serde(default)]
    startup_delay_ms: u64,
    #[serde(default = "one")]
    check_fall: u32,
    #[serde(default = "one")]
    check_rise: u32,
    #[serde(default)]
    reset: Option<Vec<core::net::IpAddr>>,
}

impl From<RecordedServiceConfig> for ServiceConfig {
    fn from(recorded: RecordedServiceConfig) -> ServiceConfig {
        let mut procedures = recorded.procedures;
        if recorded.has_reclaim && procedures.reclaim.is_none() {
            procedures.reclaim = Some("reclaim".to_string());
        }
        if recorded.has_check && procedures.check.is_none() {
            procedures.check = Some("check".to_string());
        }
        ServiceConfig {
            name: recorded.name,
            interval_ms: recorded.interval_ms,
            timeout_ms: recorded.timeout_ms,
            misses: recorded.misses,
            masters: recorded.masters,
            slaves: recorded.slaves,
            procedures,
            procedure_limit_ms: recorded.procedure_limit_ms,
            track: recorded.track,
            lease_ms: recorded.lease_ms,
            fence_wait: recorded.fence_wait,
            witnesses: recorded.witnesses,
            member: recorded.member,
            preempt: recorded.preempt,
            preempt_delay_ms: recorded.preempt_delay_ms,
            startup_delay_ms: recorded.startup_delay_ms,
            check_fall: recorded.check_fall,
            check_rise: recorded.check_rise,
            reset: recorded.reset,
        }
    }
}

impl ServiceConfig {
    /// A service with the original's defaults: one miss, timeout = interval, procedures
    /// given [`DEFAULT_PROCEDURE_LIMIT_MS`], none named (so no reclaim or check procedure).
    pub fn new(name: &str, interval_ms: u64) -> ServiceConfig {
        ServiceConfig {
            name: name.to_string(),
            interval_ms,
            timeout_ms: None,
            misses: 1,
            masters: Vec::new(),
            slaves: Vec::new(),
            procedures: ProcedureNames::default(),
            procedure_limit_ms: DEFAULT_PROCEDURE_LIMIT_MS,
            track: Vec::new(),
            lease_ms: None,
            fence_wait: false,
            witnesses: Vec::new(),
            member: None,
            preempt: true,
            preempt_delay_ms: 0,
            startup_delay_ms: 0,
            check_fall: 1,
            check_rise: 1,
            reset: None,
        }
    }

    /// The addresses whose connections are reset when the service has moved away from here
    /// (see [`reset`](Self::reset)).
    pub fn reset_addresses(&self) -> Vec<core::net::IpAddr> {
        match &self.reset {
            Some(addresses) => addresses.clone(),
            None => self.name.parse().map(|a| vec![a]).unwrap_or_default(),
        }
    }

    /// Whether the service names a reclaim procedure (run once after a partition heals).
    pub fn has_reclaim(&self) -> bool {
        self.procedures.reclaim.is_some()
    }

    /// Whether the service names a health check procedure.
    pub fn has_check(&self) -> bool {
        self.procedures.check.is_some()
    }

    /// faild's lease on the UP record: the kernel's plus [`LEASE_MARGIN_MS`].
    pub fn faild_lease_ms(&self) -> Option<u64> {
        self.lease_ms.map(|ms| ms + LEASE_MARGIN_MS)
    }

    /// How often a lease is renewed: four times per lease, so that one lost renewal (or a
    /// slow one) is harmless.
    pub fn renew_every_ms(&self) -> Option<u64> {
        self.lease_ms.map(|ms| (ms / 4).max(1))
    }

    /// How long a slave with `fence wait` waits after the master's last answer before it
    /// may start: the master may renew until its next poll was due, then its address lives
    /// for the lease plus the kernel's lag.
    pub fn fence_ms(&self) -> Option<u64> {
        self.lease_ms
            .filter(|_| self.fence_wait)
            .map(|ms| self.interval_ms + ms + KERNEL_LEASE_LAG_MS)
    }

    pub fn timeout_ms(&self) -> u64 {
        self.timeout_ms.unwrap_or(self.interval_ms)
    }

    /// With witnesses: a host is in contact with another while its last answer is at most
    /// this old (what `misses` rounds allow, by time, so that a host that did not run for a
    /// while has no contact left when it resumes).
    pub fn contact_window_ms(&self) -> u64 {
        u64::from(self.misses) * self.interval_ms + self.timeout_ms()
    }

    /// With witnesses: a member last heard by a reporter at `h` holds no address after
    /// `h` plus this (`docs/design.md`, "The fence deadline"): its answer from that
    /// reporter arrived by `h + T`, its fence ran an interval after its contact window at the
    /// latest (the rule runs at the end of rounds), its kernel dropped the address `L + K`
    /// after its last renewal, and 5 % plus 50 ms covers clocks running 2 % apart.
    pub fn witness_deadline_ms(&self) -> Option<u64> {
        if self.witnesses.is_empty() {
            return None;
        }
        let lease_ms = self.lease_ms?;
        let base_ms = self.timeout_ms()
            + self.contact_window_ms()
            + self.interval_ms
            + lease_ms
            + KERNEL_LEASE_LAG_MS;
        Some(base_ms + base_ms / 20 + WITNESS_SLACK_MS)
    }

    /// The hosts of the service's group, this one included.
    pub fn group_size(&self) -> usize {
        1 + self.masters.len() + self.slaves.len() + self.witnesses.len()
    }

    /// How long a state write to the local faild may take: the poll timeout, but at least
    /// [`WRITE_TIMEOUT_FLOOR_MS`]. faild answers a Set only once the state is on disk
    /// (fsync of the file and its directory), which on a busy disk takes far longer than a
    /// poll's answer; a 5 ms poll timeout made healthy writes fail and UP services stop.
    /// A dead local faild is still noticed at the poll timeout, by the polls of it.
    pub fn write_timeout_ms(&self) -> u64 {
        self.timeout_ms().max(WRITE_TIMEOUT_FLOOR_MS)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShellConfig {
    /// The host name under which the local faild is configured (the seed: `localhost`).
    pub local_host: String,
    /// Hosts with their community and protocol. A host a service names but that is not
    /// listed here is polled with [`HostConfig::new`]'s defaults, as in the original.
    pub hosts: Vec<HostConfig>,
    pub services: Vec<ServiceConfig>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

impl ShellConfig {
    /// The service named `name`.
    pub fn service(&self, name: &str) -> Option<&ServiceConfig> {
        self.services.iter().find(|s| s.name == name)
    }

    /// The host named `name`.
    pub fn host(&self, name: &str) -> Option<&HostConfig> {
        self.hosts.iter().find(|h| h.name == name)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let fail = |message: String| Err(ConfigError(message));
        let mut names = BTreeSet::new();
        for service in &self.services {
            let name = &service.name;
            if name.is_empty() || name.len() > MAX_NAME_BYTES {
                return fail(format!("service name \"{name}\" must be 1 to 255 bytes"));
            }
            if !names.insert(name) {
                return fail(format!("service {name} is defined twice"));
            }
            if service.interval_ms == 0 {
                return fail(format!("service {name}: interval must be greater than 0"));
            }
            if service.timeout_ms == Some(0) {
                return fail(format!("service {name}: timeout must be greater than 0"));
            }
            if service.misses == 0 {
                return fail(format!("service {name}: misses must be at least 1"));
            }
            if service.procedure_limit_ms == 0 {
                return fail(format!(
                    "service {name}: procedure limit must be greater than 0"
                ));
            }
            if let Some(lease_ms) = service.lease_ms {
                if lease_ms < 1000 || lease_ms % 1000 != 0 || lease_ms > u64::from(u32::MAX / 2) {
                    return fail(format!(
                        "service {name}: lease must be a whole number of seconds, at least 1"
                    ));
                }
            }
            if service.check_fall == 0 || service.check_rise == 0 {
                return fail(format!("service {name}: rise and fall must be at least 1"));
            }
            if service.fence_wait && service.lease_ms.is_none() {
                return fail(format!(
                    "service {name}: fence wait needs a lease (failsvc {name} lease SECONDS): it waits the lease out"
                ));
            }
            for interface in &service.track {
                if interface.is_empty()
                    || interface.len() > MAX_INTERFACE_BYTES
                    || interface.contains(['/', ' '])
                {
                    return fail(format!(
                        "service {name}: \"{interface}\" is not an interface name (1 to {MAX_INTERFACE_BYTES} bytes, no '/' or space)"
                    ));
                }
            }
            if !service.witnesses.is_empty() {
                if service.lease_ms.is_none() {
                    return fail(format!(
                        "service {name}: a witness needs a lease (failsvc {name} lease SECONDS): a failsh that hangs while UP cannot fence itself, only the kernel's lifetime of the address can"
                    ));
                }
                match service.member.as_deref() {
                    None | Some("") => {
                        return fail(format!(
                            "service {name}: a witness needs this host's name in the group (failhost {} name NAME)",
                            self.local_host
                        ))
                    }
                    Some(member) if member.len() > crate::wire::MAX_NAME_BYTES => {
                        return fail(format!(
                            "service {name}: the member name \"{member}\" is longer than {} bytes",
                            crate::wire::MAX_NAME_BYTES
                        ))
                    }
                    Some(member)
                        if service
                            .masters
                            .iter()
                            .chain(&service.slaves)
                            .chain(&service.witnesses)
                            .any(|h| h == member) =>
                    {
                        return fail(format!(
                            "service {name}: this host's member name \"{member}\" is also the name of another host of the group"
                        ))
                    }
                    Some(_) => {}
                }
                if service.masters.is_empty() && service.slaves.is_empty() {
                    return fail(format!(
                        "service {name}: a witness needs masters or slaves to watch"
                    ));
                }
            }
            let mut seen = BTreeSet::new();
            for host in service
                .masters
                .iter()
                .chain(&service.slaves)
                .chain(&service.witnesses)
            {
                if host == &self.local_host {
                    return fail(format!(
                        "service {name}: {host} is the local faild; list only the other hosts as masters, slaves and witnesses"
                    ));
                }
                if !seen.insert(host) {
                    return fail(format!(
                        "service {name}: host {host} is listed twice among masters, slaves and witnesses"
                    ));
                }
            }
        }
        let mut hosts = BTreeSet::new();
        for host in &self.hosts {
            if !hosts.insert(&host.name) {
                return fail(format!("host {} is defined twice", host.name));
            }
        }
        Ok(())
    }
}

impl Shell {
    pub(super) fn ensure_host(&mut self, name: &str, config: &ShellConfig) -> HostId {
        if let Some(id) = self.host_names.get(name) {
            return *id;
        }
        let host_config = config
            .hosts
            .iter()
            .find(|h| h.name == name)
            .cloned()
            .unwrap_or_else(|| HostConfig::new(name));
        let id = HostId(self.next_host_id);
        self.next_host_id += 1;
        let subscription = self.new_nonce();
        self.hosts.insert(
            id,
            Host {
                destination: destination_of(&host_config),
                key: Key::new(&host_config.community),
                config: host_config,
                reachable: None,
                last_contact: None,
                last_answer_at: None,
                boot_id: None,
                unconfirmed_since: None,
                subscription,
                push_seq: 0,
            },
        );
        self.host_names.insert(name.to_string(), id);
        id
    }

    /// Applies a (validated) configuration, keeping what is known about unchanged hosts and
    /// services: states come from the local faild anyway, and a reload must not restart them.
    pub(super) fn apply_config(&mut self, config: ShellConfig, now: Time) {
        // Hosts: keep ids and reachability of hosts whose settings did not change.
        let mut wanted: BTreeSet<String> = BTreeSet::new();
        wanted.insert(config.local_host.clone());
        for service in &config.services {
            wanted.extend(service.masters.iter().cloned());
            wanted.extend(service.slaves.iter().cloned());
            wanted.extend(service.witnesses.iter().cloned());
        }
        wanted.extend(config.hosts.iter().map(|h| h.name.clone()));
        // A service about to be retired (see below) still polls its group until it is
        // forgotten: its hosts stay.
        for service in self.services.values() {
            let removed = !config
                .services
                .iter()
                .any(|s| s.name == service.config.name);
            if removed && (service.state.is_some() || service.procedure.is_some()) {
                wanted.extend(service.config.masters.iter().cloned());
                wanted.extend(service.config.slaves.iter().cloned());
                wanted.extend(service.config.witnesses.iter().cloned());
            }
        }
        let stale: Vec<(String, HostId)> = self
            .host_names
            .iter()
            .filter(|(name, id)| {
                let new = config.hosts.iter().find(|h| &h.name == *name);
                let current = &self.hosts[id].config;
                !wanted.contains(*name) || new.is_some_and(|n| !n.polled_alike(current))
            })
            .map(|(n, id)| (n.clone(), *id))
            .collect();
        for (name, id) in stale {
            self.host_names.remove(&name);
            self.hosts.remove(&id);
            self.timers.stop(Timer::Probe(id));
        }
        for name in &wanted {
            let id = self.ensure_host(name, &config);
            // A kept host takes the new settings the core does not use (as written).
            if let (Some(new), Some(host)) = (config.host(name), self.hosts.get_mut(&id)) {
                host.destination = destination_of(new);
                host.config = new.clone();
            }
        }
        self.local = self.host_names[&config.local_host];

        let removed: Vec<(String, ServiceId)> = self
            .service_names
            .iter()
            .filter(|(name, _)| !config.services.iter().any(|s| &s.name == *name))
            .map(|(n, id)| (n.clone(), *id))
            .collect();
        for (name, id) in removed {
            // Nobody manages it here any more: it is stopped if it runs, and FAIL is left in
            // the local faild so that no slave waits for this host (its RECOVER would keep
            // them off). It is forgotten once faild has that FAIL (see `retire`).
            let service = &self.services[&id];
            let known = service.state.is_some() || service.procedure.is_some();
            if known && !self.shutting_down {
                // Its hosts were kept (above), possibly under new ids.
                let ids = |names: &[String]| -> Vec<HostId> {
                    names
                        .iter()
                        .filter_map(|n| self.host_names.get(n).copied())
                        .collect()
                };
                let (masters, slaves, witnesses) = (
                    ids(&service.config.masters),
                    ids(&service.config.slaves),
                    ids(&service.config.witnesses),
                );
                let service = self.service_mut(id);
                service.masters = masters;
                service.slaves = slaves;
                service.witnesses = witnesses;
                if !service.retiring {
                    self.service_mut(id).retiring = true;
                    self.timers.set(Timer::Round(id), now);
                    self.decide(
                        id,
                        format!("service {name} was removed from the configuration: retiring it"),
                    );
                }
                continue;
            }
            self.forget_service(id);
        }
        for service_config in &config.services {
            let masters: Vec<HostId> = service_config
                .masters
                .iter()
                .map(|h| self.host_names[h])
                .collect();
            let slaves: Vec<HostId> = service_config
                .slaves
                .iter()
                .map(|h| self.host_names[h])
                .collect();
            let witnesses: Vec<HostId> = service_config
                .witnesses
                .iter()
                .map(|h| self.host_names[h])
                .collect();
            match self.service_names.get(&service_config.name).copied() {
                Some(id) => {
                    let service = self.services.get_mut(&id).expect("named service exists");
                    // Added back while it was being retired: managed again from here.
                    service.retiring = false;
                    let interval_changed = service.config.interval_ms != service_config.interval_ms;
                    service
                        .views
                        .retain(|h, _| masters.contains(h) || slaves.contains(h));
                    let group: BTreeSet<HostId> = masters
                        .iter()
                        .chain(&slaves)
                        .chain(&witnesses)
                        .copied()
                        .chain([self.local])
                        .collect();
                    service.reports.retain(|h, _| group.contains(h));
                    service.config = service_config.clone();
                    service.masters = masters;
                    service.slaves = slaves;
                    service.witnesses = witnesses;
                    if interval_changed && service.round.is_none() {
                        self.timers.set(Timer::Round(id), now);
                    }
                }
                None => {
                    let id = ServiceId(self.next_service_id);
                    self.next_service_id += 1;
                    self.services
                        .insert(id, Service::new(service_config.clone(), masters, slaves));
                    if let Some(service) = self.services.get_mut(&id) {
                        service.witnesses = witnesses;
                    }
                    self.service_names.insert(service_config.name.clone(), id);
                    self.timers.set(Timer::Round(id), now);
                }
            }
        }
        self.config = config;
    }

    /// Drops service `id` and its timers.
    pub(super) fn forget_service(&mut self, id: ServiceId) {
        if let Some(service) = self.services.remove(&id) {
            self.service_names.remove(&service.config.name);
        }
        self.timers.stop(Timer::Round(id));
        self.timers.stop(Timer::ReplyDeadline(id));
        self.timers.stop(Timer::ProcedureLimit(id));
        self.timers.stop(Timer::Renew(id));
        self.timers.stop(Timer::Fence(id));
    }

    /// A service removed by a reload: stop it if it runs here, publish FAIL, and forget it
    /// once the local faild has the FAIL.
    pub(super) fn retire(&mut self, now: Time, id: ServiceId) {
        let service = &self.services[&id];
        let why = "removed from the configuration by a reload".to_string();
        match service.state {
            Some(State::Up) => {
                self.service_mut(id).end_in = Some((State::Fail, why.clone()));
                self.run(now, id, ProcedureKind::Stop, format!("{why}: stopping it"));
            }
            Some(State::Fail) if service.write.is_none() => {
                self.decide(
                    id,
                    format!("{why}: FAIL stored in the local faild, forgotten"),
                );
                self.forget_service(id);
            }
            Some(State::Fail) => self.decide(
                id,
                format!("{why}: waiting for the local faild to store FAIL"),
            ),
            _ => {
                self.change_state(now, id, State::Fail, why.clone(), true);
                self.decide(
                    id,
                    format!("{why}: FAIL so that no other host waits for this one"),
                );
            }
        }
    }

    pub(super) fn host_name(&self, id: HostId) -> String {
        self.hosts
            .get(&id)
            .map_or_else(|| format!("#{}", id.0), |h| h.config.name.clone())
    }
}

/// Where a host's requests go, when its name resolved.
fn destination_of(config: &HostConfig) -> Option<Destination> {
    config.address.map(|address| Destination {
        host: config.name.as_str().into(),
        protocol: config.protocol,
        address,
    })
}
