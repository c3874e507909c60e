//! What only the daemon adds to a configuration that `crate::config` loaded (the one loader
//! of `failsvc`, `failhost` and `failtrap`): the `grarp` and `ipaddr` commands in the
//! interpreter, the mapping onto the core's [`ShellConfig`], and each host's faild address.
//!
//! Name resolution is kept apart from checking: `failsh -t` reports a host name that does not
//! resolve as a warning (the configuration itself is fine, the resolver may answer later),
//! while the daemon refuses to start, or a SIGHUP reload is rejected, until it resolves.

use crate::config::{self, FailshConfig, HostDef, LoadedConfig};
use crate::failsh::{grarp, ipaddr};
use failover_core::shell::{
    HostConfig, ProcedureKind, ProcedureNames, Protocol, ServiceConfig, ShellConfig,
    DEFAULT_PROCEDURE_LIMIT_MS,
};
use failover_tcl::Interp;
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::Path;

/// The interpreter of a loaded file and the model naming each service's procedures.
#[derive(Debug)]
pub struct Procedures {
    pub interp: Interp,
    pub config: FailshConfig,
}

impl Procedures {
    /// The procedure of `service` for `kind`, if the configuration names one.
    pub fn procedure(&self, service: &str, kind: ProcedureKind) -> Option<String> {
        let def = self.config.services.get(service)?;
        match kind {
            ProcedureKind::Start => def.start.clone(),
            ProcedureKind::Stop => def.stop.clone(),
            ProcedureKind::Reclaim => def.reclaim.clone(),
            ProcedureKind::Check => def.check.clone(),
        }
    }

    /// The `failtrap` procedure of `service`.
    pub fn trap(&self, service: &str) -> Option<String> {
        self.config.services.get(service)?.trap.clone()
    }

    /// The lease of `service` (`failsvc S lease`), in seconds.
    pub fn lease_s(&self, service: &str) -> Option<u32> {
        let seconds = self.config.services.get(service)?.lease_s?;
        u32::try_from(seconds).ok()
    }
}

/// A loaded configuration, ready for the core and the runtime.
#[derive(Debug)]
pub struct Loaded {
    /// With every host's faild address resolved.
    pub core: ShellConfig,
    pub procedures: Procedures,
}

/// What `failsh -t` found: the description for standard output, and what is allowed but
/// probably not meant (for standard error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub description: String,
    pub warnings: Vec<String>,
}

/// Runs the file (with `grarp` and `ipaddr` registered) and checks it: syntax, commands,
/// procedures that are missing or undefined, bad values, and the core's own rules. Errors name
/// the file.
pub fn load_checked(path: &Path, local_host: &str) -> Result<(LoadedConfig, ShellConfig), String> {
    load_checked_mode(path, local_host, false)
}

/// [`load_checked`]; with `check_mode` the interpreter refuses file writes and `exit` (what
/// `failsh -t` must not do), and stays in that mode afterwards.
fn load_checked_mode(
    path: &Path,
    local_host: &str,
    check_mode: bool,
) -> Result<(LoadedConfig, ShellConfig), String> {
    let loaded = config::load_file_with(path, |interp| {
        interp.set_check_mode(check_mode);
        grarp::register(interp);
        ipaddr::register(interp);
    })
    .map_err(|e| config::located(&e, &path.display().to_string()))?;
    let errors = config::validate(&loaded);
    if !errors.is_empty() {
        return Err(errors.join("\n"));
    }
    let core =
        to_core(&loaded.config, local_host).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((loaded, core))
}

/// The daemon's loader (start and SIGHUP): [`load_checked`], then every host's address; a host
/// that does not resolve is an error.
pub fn load(path: &Path, local_host: &str) -> Result<Loaded, String> {
    let (loaded, mut core) = load_checked(path, local_host)?;
    let (addresses, unresolved) = resolve_addresses(&loaded.config, &core, local_host);
    if !unresolved.is_empty() {
        return Err(unresolved.join("\n"));
    }
    for host in &mut core.hosts {
        host.address = addresses.get(&host.name).copied();
    }
    Ok(Loaded {
        core,
        procedures: Procedures {
            interp: loaded.interp,
            config: loaded.config,
        },
    })
}

/// `failsh -t`: [`load_checked`] in check mode (no file writes, no `exit`) and the description,
/// without looking names up.
pub fn check(path: &Path, local_host: &str) -> Result<Checked, String> {
    let (loaded, core) = load_checked_mode(path, local_host, true)?;
    let mut description = config::describe(&loaded.config);
    // No name is looked up here: a check must not depend on, or send queries to, the
    // resolver. Names are resolved when failsh starts (and on SIGHUP), where an unknown one
    // stops it with a message naming the host.
    let defs = host_defs(&loaded.config, local_host);
    for host in &core.hosts {
        let def = defs
            .get(&host.name)
            .cloned()
            .unwrap_or_else(|| HostDef::new(&host.name));
        let line = match (&def.address, host.name == local_host) {
            (Some(address), _) => match address.parse::<IpAddr>() {
                Ok(ip) => format!("{}", SocketAddr::new(ip, def.port)),
                Err(_) => format!("{address}:{} (name resolved when failsh starts)", def.port),
            },
            (None, true) => format!("127.0.0.1:{} (local faild)", def.port),
            (None, false) => format!(
                "{}:{} (name resolved when failsh starts; or set `failhost {} address ...`)",
                def.name, def.port, def.name
            ),
        };
        description.push_str(&format!("faild of {}: {line}\n", host.name));
    }
    let warnings = config::warnings(&loaded);
    Ok(Checked {
        description,
        warnings,
    })
}

/// The model -> the core's configuration. Every host a service names, every `failhost` and
/// the local host are in it; undefined ones with the defaults.
pub fn to_core(cfg: &FailshConfig, local_host: &str) -> Result<ShellConfig, String> {
    let services = cfg
        .services
        .values()
        .map(|def| {
            let mut service = ServiceConfig::new(&def.name, def.interval_ms);
            service.timeout_ms = def.timeout_ms;
            service.misses = def.misses.unwrap_or(1);
            service.masters = def.masters.clone();
            service.slaves = def.slaves.clone();
            service.procedures = ProcedureNames {
                start: def.start.clone().unwrap_or_default(),
                stop: def.stop.clone().unwrap_or_default(),
                reclaim: def.reclaim.clone(),
                check: def.check.clone(),
                trap: def.trap.clone(),
            };
            service.procedure_limit_ms = def.limit_ms.unwrap_or(DEFAULT_PROCEDURE_LIMIT_MS);
            service.track = def.track.clone();
            service.lease_ms = def.lease_s.map(|s| s * 1000);
            service.fence_wait = def.fence_wait;
            service
        })
        .collect();
    let hosts = host_defs(cfg, local_host)
        .into_values()
        .map(|def| HostConfig {
            name: def.name.clone(),
            community: def.community.clone(),
            protocol: match def.protocol {
                config::Protocol::Tcp => Protocol::Tcp,
                config::Protocol::Udp => Protocol::Udp,
            },
            port: def.port,
            configured_address: def.address.clone(),
            // Resolved by `load` (the check does not look names up).
            address: None,
        })
        .collect();
    let core = ShellConfig {
        local_host: local_host.to_string(),
        hosts,
        services,
    };
    core.validate().map_err(|e| e.0)?;
    Ok(core)
}

/// The defined hosts plus the local one with the defaults when it has no `failhost`.
fn host_defs(cfg: &FailshConfig, local_host: &str) -> BTreeMap<String, HostDef> {
    let mut hosts = cfg.hosts.clone();
    hosts
        .entry(local_host.to_string())
        .or_insert_with(|| HostDef::new(local_host));
    hosts
}

/// Every host's faild address: `failhost HOST address`, else the local faild on the loopback
/// address, else the host's name through the system resolver. Returns the addresses found
/// and one message per host that did not resolve.
pub fn resolve_addresses(
    cfg: &FailshConfig,
    core: &ShellConfig,
    local_host: &str,
) -> (BTreeMap<String, SocketAddr>, Vec<String>) {
    let defs = host_defs(cfg, local_host);
    let mut addresses = BTreeMap::new();
    let mut unresolved = Vec::new();
    for host in &core.hosts {
        let def = defs
            .get(&host.name)
            .cloned()
            .unwrap_or_else(|| HostDef::new(&host.name));
        let found = match (&def.address, host.name == local_host) {
            (Some(address), _) => resolve(address, def.port).map_err(|e| {
                format!(
                    "host {}: cannot resolve \"{address}\" (failhost {} address {address}): {e}",
                    def.name, def.name
                )
            }),
            // The local faild listens on the loopback address unless told otherwise.
            (None, true) => Ok(SocketAddr::new(IpAddr::from([127, 0, 0, 1]), def.port)),
            (None, false) => resolve(&def.name, def.port).map_err(|_| {
                format!(
                    "host {name}: cannot resolve \"{name}\" (no address given); failsh will fail to start until it resolves or `failhost {name} address ...` is set",
                    name = def.name
                )
            }),
        };
        match found {
            Ok(address) => {
                addresses.insert(host.name.clone(), address);
            }
            Err(message) => unresolved.push(message),
        }
    }
    (addresses, unresolved)
}

fn resolve(address: &str, port: u16) -> Result<SocketAddr, String> {
    if let Ok(ip) = address.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    let mut found: Vec<SocketAddr> = (address, port)
        .to_socket_addrs()
        .map_err(|e| e.to_string())?
        .collect();
    // IPv4 first: the order of the resolver is not stable across reloads otherwise.
    found.sort_by_key(|a| (a.is_ipv6(), *a));
    found
        .into_iter()
        .next()
        .ok_or_else(|| "the resolver returned no address".to_string())
}
