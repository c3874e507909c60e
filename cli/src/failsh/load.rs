//! What only the daemon adds to a configuration that `crate::config` loaded (the one loader
//! of `failsvc`, `failhost` and `failtrap`, which builds the core's [`ShellConfig`]): the
//! `grarp` and `ipaddr` commands in the interpreter, the core's own checks, and each host's
//! faild address ([`resolve_addresses`]).
//!
//! Name resolution is kept apart from checking: `failsh -t` never looks a name up (the
//! configuration itself is fine, the resolver may answer later), while the daemon refuses to
//! start, or a SIGHUP reload is rejected, until every name resolves.

use crate::config::{self, FaildAddress, LoadedConfig, LOCAL_FAILD};
use crate::failsh::{grarp, ipaddr};
use failover_core::shell::{ProcedureKind, ServiceConfig, ShellConfig};
use failover_tcl::Interp;
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::Path;

/// The interpreter of a loaded file and the configuration naming each service's procedures.
#[derive(Debug)]
pub struct Procedures {
    pub interp: Interp,
    pub config: ShellConfig,
    /// Services that reloads removed, with the interpreter of the file that last had them:
    /// the core still stops such a service if it runs here (and its trap reports that).
    pub retired: BTreeMap<String, (ServiceConfig, Interp)>,
}

impl Procedures {
    pub fn new(interp: Interp, config: ShellConfig) -> Procedures {
        Procedures {
            interp,
            config,
            retired: BTreeMap::new(),
        }
    }

    /// The procedures after a reload to `next`: the services it removed stay callable.
    pub fn reloaded(&self, mut next: Procedures) -> Procedures {
        let kept = |name: &str| next.config.service(name).is_none();
        let mut retired: BTreeMap<String, (ServiceConfig, Interp)> = self
            .retired
            .iter()
            .filter(|(name, _)| kept(name))
            .map(|(name, (config, interp))| (name.clone(), (config.clone(), interp.clone())))
            .collect();
        for service in self.config.services.iter().filter(|s| kept(&s.name)) {
            retired.insert(service.name.clone(), (service.clone(), self.interp.clone()));
        }
        next.retired = retired;
        next
    }

    fn service(&self, service: &str) -> Option<&ServiceConfig> {
        self.config
            .service(service)
            .or_else(|| self.retired.get(service).map(|(config, _)| config))
    }

    /// The interpreter that defines the procedures of `service`.
    pub fn interp_of(&self, service: &str) -> &Interp {
        match (self.config.service(service), self.retired.get(service)) {
            (None, Some((_, interp))) => interp,
            _ => &self.interp,
        }
    }

    /// The time limit of the procedures of `service` (`failsvc S limit`).
    pub fn limit_ms(&self, service: &str) -> u64 {
        self.service(service)
            .map_or(failover_core::shell::DEFAULT_PROCEDURE_LIMIT_MS, |s| {
                s.procedure_limit_ms
            })
    }

    /// The procedure of `service` for `kind`, if the configuration names one.
    pub fn procedure(&self, service: &str, kind: ProcedureKind) -> Option<String> {
        let names = &self.service(service)?.procedures;
        match kind {
            ProcedureKind::Start => Some(names.start.clone()).filter(|n| !n.is_empty()),
            ProcedureKind::Stop => Some(names.stop.clone()).filter(|n| !n.is_empty()),
            ProcedureKind::Reclaim => names.reclaim.clone(),
            ProcedureKind::Check => names.check.clone(),
        }
    }

    /// The `failtrap` procedure of `service`.
    pub fn trap(&self, service: &str) -> Option<String> {
        self.service(service)?.procedures.trap.clone()
    }

    /// The lease of `service` (`failsvc S lease`), in seconds.
    pub fn lease_s(&self, service: &str) -> Option<u32> {
        let lease_ms = self.service(service)?.lease_ms?;
        u32::try_from(lease_ms / 1000).ok()
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
/// the file. No address is resolved yet.
pub fn load_checked(path: &Path, local_host: &str) -> Result<LoadedConfig, String> {
    load_checked_mode(path, local_host, false)
}

/// [`load_checked`]; with `check_mode` the interpreter refuses file writes and `exit` (what
/// `failsh -t` must not do), and stays in that mode afterwards.
fn load_checked_mode(
    path: &Path,
    local_host: &str,
    check_mode: bool,
) -> Result<LoadedConfig, String> {
    let loaded = config::load_file_with(path, local_host, |interp| {
        interp.set_check_mode(check_mode);
        grarp::register(interp);
        ipaddr::register(interp);
    })
    .map_err(|e| config::located(&e, &path.display().to_string()))?;
    let errors = config::validate(&loaded);
    if !errors.is_empty() {
        return Err(errors.join("\n"));
    }
    // The core's own rules (e.g. the local faild listed as a master).
    loaded
        .config
        .validate()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(loaded)
}

/// The daemon's loader (start and SIGHUP): [`load_checked`], then every host's address; a host
/// that does not resolve is an error.
pub fn load(path: &Path, local_host: &str) -> Result<Loaded, String> {
    let LoadedConfig {
        mut config, interp, ..
    } = load_checked(path, local_host)?;
    resolve_addresses(&mut config).map_err(|unresolved| unresolved.join("\n"))?;
    Ok(Loaded {
        core: config.clone(),
        procedures: Procedures::new(interp, config),
    })
}

/// `failsh -t`: [`load_checked`] in check mode (no file writes, no `exit`) and the description,
/// without looking names up.
pub fn check(path: &Path, local_host: &str) -> Result<Checked, String> {
    let loaded = load_checked_mode(path, local_host, true)?;
    let config = &loaded.config;
    let mut description = config::describe(config, &loaded.locations);
    // No name is looked up here: a check must not depend on, or send queries to, the
    // resolver. Names are resolved when failsh starts (and on SIGHUP), where an unknown one
    // stops it with a message naming the host.
    for host in &config.hosts {
        let port = host.port;
        let line = match config::faild_address(host, &config.local_host) {
            FaildAddress::Configured(address) => match address.parse::<IpAddr>() {
                Ok(ip) => format!("{}", SocketAddr::new(ip, port)),
                Err(_) => format!("{address}:{port} (name resolved when failsh starts)"),
            },
            FaildAddress::Local => format!("{LOCAL_FAILD}:{port} (local faild)"),
            FaildAddress::HostName(name) => format!(
                "{name}:{port} (name resolved when failsh starts; or set `failhost {name} address ...`)"
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

/// Finds every host's faild ([`config::faild_address`]: `failhost HOST address`, else the
/// local faild on the loopback address, else the host's name) and sets its address. Err: one
/// message per host that did not resolve (the others are set).
pub fn resolve_addresses(config: &mut ShellConfig) -> Result<(), Vec<String>> {
    let local_host = config.local_host.clone();
    let mut unresolved = Vec::new();
    for host in &mut config.hosts {
        let (port, name) = (host.port, &host.name);
        let found = match config::faild_address(host, &local_host) {
            FaildAddress::Configured(address) => resolve(address, port).map_err(|e| {
                format!(
                    "host {name}: cannot resolve \"{address}\" (failhost {name} address {address}): {e}"
                )
            }),
            FaildAddress::Local => Ok(SocketAddr::new(LOCAL_FAILD, port)),
            FaildAddress::HostName(name) => resolve(name, port).map_err(|_| {
                format!(
                    "host {name}: cannot resolve \"{name}\" (no address given); failsh will fail to start until it resolves or `failhost {name} address ...` is set"
                )
            }),
        };
        match found {
            Ok(address) => host.address = Some(address),
            Err(message) => unresolved.push(message),
        }
    }
    if unresolved.is_empty() {
        Ok(())
    } else {
        Err(unresolved)
    }
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
