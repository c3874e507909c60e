//! Reading a failsh configuration: the Tcl file is run in a fresh interpreter whose `failsvc`,
//! `failhost` and `failtrap` commands collect the definitions; they are then mapped onto the
//! core's [`ShellConfig`] plus what only the runtime needs (each host's faild address) and
//! what only failsh needs (the interpreter and the procedure names).

use crate::tcl::{self, Interp, TclResult};
use failover_core::shell::{
    HostConfig, ProcedureKind, Protocol, ServiceConfig, ShellConfig, DEFAULT_PROCEDURE_LIMIT_MS,
};
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// faild's port when `failhost HOST port` does not say.
pub const DEFAULT_FAILD_PORT: u16 = 1291;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServiceDef {
    pub interval_s: Option<f64>,
    pub timeout_s: Option<f64>,
    pub misses: Option<u32>,
    pub limit_s: Option<f64>,
    pub masters: Vec<String>,
    pub slaves: Vec<String>,
    pub start: Option<String>,
    pub stop: Option<String>,
    pub reclaim: Option<String>,
    pub check: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct HostDef {
    pub address: Option<String>,
    pub port: Option<u16>,
    pub protocol: Option<Protocol>,
    pub community: Option<String>,
}

/// What `failsvc`, `failhost` and `failtrap` collected, in definition order by name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Definitions {
    pub services: BTreeMap<String, ServiceDef>,
    pub hosts: BTreeMap<String, HostDef>,
    pub traps: BTreeMap<String, String>,
}

/// The interpreter of a loaded file and the procedure names of each service.
#[derive(Debug)]
pub struct Procedures {
    pub interp: Interp,
    pub services: BTreeMap<String, ServiceDef>,
    pub traps: BTreeMap<String, String>,
}

impl Procedures {
    pub fn procedure(&self, service: &str, kind: ProcedureKind) -> Option<String> {
        let def = self.services.get(service)?;
        match kind {
            ProcedureKind::Start => def.start.clone(),
            ProcedureKind::Stop => def.stop.clone(),
            ProcedureKind::Reclaim => def.reclaim.clone(),
            ProcedureKind::Check => def.check.clone(),
        }
    }
}

/// A loaded configuration, ready for the core and the runtime.
#[derive(Debug)]
pub struct Loaded {
    pub core: ShellConfig,
    pub addresses: BTreeMap<String, SocketAddr>,
    pub procedures: Procedures,
}

/// Runs `path` and maps it. Errors read like Tcl's (file and line) or name the service or
/// host at fault.
pub fn load(path: &Path, local_host: &str) -> Result<Loaded, String> {
    let (interp, definitions) = run_file(path)?;
    let (core, addresses) = map(&definitions, local_host)?;
    Ok(Loaded {
        core,
        addresses,
        procedures: Procedures {
            interp,
            services: definitions.services,
            traps: definitions.traps,
        },
    })
}

/// Evaluates the file with the failsh commands registered.
pub fn run_file(path: &Path) -> Result<(Interp, Definitions), String> {
    let definitions = Arc::new(Mutex::new(Definitions::default()));
    let mut interp = Interp::new();
    let d = definitions.clone();
    interp.register(
        "failsvc",
        Arc::new(move |_: &mut Interp, args: &[String]| failsvc(&d, args)),
    );
    let d = definitions.clone();
    interp.register(
        "failhost",
        Arc::new(move |_: &mut Interp, args: &[String]| failhost(&d, args)),
    );
    let d = definitions.clone();
    interp.register(
        "failtrap",
        Arc::new(move |_: &mut Interp, args: &[String]| failtrap(&d, args)),
    );
    interp.eval_file(path).map_err(|e| e.info)?;
    // Procedures must not redefine the configuration at run time.
    let definitions = definitions
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    for (service, def) in &definitions.services {
        for name in [&def.start, &def.stop, &def.reclaim, &def.check]
            .into_iter()
            .flatten()
        {
            if !interp.has_command(name) {
                return Err(format!(
                    "{}: service {service}: procedure \"{name}\" is not defined",
                    path.display()
                ));
            }
        }
    }
    for (service, trap) in &definitions.traps {
        if !interp.has_command(trap) {
            return Err(format!(
                "{}: failtrap {service}: procedure \"{trap}\" is not defined",
                path.display()
            ));
        }
    }
    Ok((interp, definitions))
}

const SVC_USAGE: &str = "failsvc service create|interval|timeout|misses|limit|masters|slaves|start|stop|reclaim|check ?arg ...?";
const SUBCOMMANDS: [&str; 11] = [
    "create", "interval", "timeout", "misses", "limit", "masters", "slaves", "start", "stop",
    "reclaim", "check",
];

fn seconds(what: &str, text: &str) -> Result<f64, tcl::Exception> {
    match text.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(tcl::TclError::new(format!(
            "failsvc: {what} must be a positive number of seconds, got \"{text}\""
        ))
        .into()),
    }
}

fn failsvc(definitions: &Mutex<Definitions>, args: &[String]) -> TclResult {
    let mut d = definitions.lock().unwrap_or_else(|e| e.into_inner());
    let Some(name) = args.get(1) else {
        return tcl::wrong_args(SVC_USAGE);
    };
    if SUBCOMMANDS.contains(&name.as_str()) {
        return tcl::err(format!(
            "failsvc: the service name is missing before \"{name}\" (usage: {SVC_USAGE})"
        ));
    }
    let Some(sub) = args.get(2) else {
        return tcl::wrong_args(SVC_USAGE);
    };
    let rest = &args[3..];
    if sub == "create" {
        d.services.entry(name.clone()).or_default();
        return Ok(String::new());
    }
    let Some(def) = d.services.get_mut(name) else {
        return tcl::err(format!(
            "failsvc: service \"{name}\" does not exist (create it first with \"failsvc {name} create\")"
        ));
    };
    let one = |what: &str| -> Result<String, tcl::Exception> {
        match rest {
            [value] => Ok(value.clone()),
            _ => tcl::wrong_args(&format!("failsvc {name} {what} value")),
        }
    };
    match sub.as_str() {
        "interval" => def.interval_s = Some(seconds("interval", &one("interval")?)?),
        "timeout" => def.timeout_s = Some(seconds("timeout", &one("timeout")?)?),
        "limit" => def.limit_s = Some(seconds("limit", &one("limit")?)?),
        "misses" => {
            let text = one("misses")?;
            match text.trim().parse::<u32>() {
                Ok(n) if n >= 1 => def.misses = Some(n),
                _ => {
                    return tcl::err(format!(
                        "failsvc: misses must be a whole number of at least 1, got \"{text}\""
                    ))
                }
            }
        }
        "masters" | "slaves" => {
            let mut hosts = Vec::new();
            for word in rest {
                hosts.extend(
                    tcl::parse_list(word)
                        .map_err(|e| tcl::Exception::from(tcl::TclError::new(e)))?,
                );
            }
            if sub == "masters" {
                def.masters = hosts;
            } else {
                def.slaves = hosts;
            }
        }
        "start" => def.start = Some(one("start")?),
        "stop" => def.stop = Some(one("stop")?),
        "reclaim" => def.reclaim = Some(one("reclaim")?),
        "check" => def.check = Some(one("check")?),
        other => {
            return tcl::err(format!(
                "failsvc: unknown subcommand \"{other}\" (usage: {SVC_USAGE})"
            ))
        }
    }
    Ok(String::new())
}

const HOST_USAGE: &str = "failhost host address|port|protocol|community value";

fn failhost(definitions: &Mutex<Definitions>, args: &[String]) -> TclResult {
    let mut d = definitions.lock().unwrap_or_else(|e| e.into_inner());
    let [_, host, option, value] = args else {
        return tcl::wrong_args(HOST_USAGE);
    };
    let def = d.hosts.entry(host.clone()).or_default();
    match option.as_str() {
        "address" => def.address = Some(value.clone()),
        "port" => match value.trim().parse::<u16>() {
            Ok(p) if p > 0 => def.port = Some(p),
            _ => {
                return tcl::err(format!(
                    "failhost: port must be 1 to 65535, got \"{value}\""
                ))
            }
        },
        "protocol" => {
            def.protocol = Some(match value.to_ascii_lowercase().as_str() {
                "tcp" => Protocol::Tcp,
                "udp" => Protocol::Udp,
                _ => {
                    return tcl::err(format!(
                        "failhost: protocol must be udp or tcp, got \"{value}\""
                    ))
                }
            })
        }
        "community" => def.community = Some(value.clone()),
        other => {
            return tcl::err(format!(
                "failhost: unknown option \"{other}\" (usage: {HOST_USAGE})"
            ))
        }
    }
    Ok(String::new())
}

fn failtrap(definitions: &Mutex<Definitions>, args: &[String]) -> TclResult {
    let mut d = definitions.lock().unwrap_or_else(|e| e.into_inner());
    let [_, service, procedure] = args else {
        return tcl::wrong_args("failtrap service procedure");
    };
    d.traps.insert(service.clone(), procedure.clone());
    Ok(String::new())
}

fn to_ms(seconds: f64) -> u64 {
    ((seconds * 1000.0).round() as u64).max(1)
}

/// Definitions -> the core's configuration and every host's faild address. A host without
/// `address` is its name, resolved by the system resolver now (and again on SIGHUP).
pub fn map(
    definitions: &Definitions,
    local_host: &str,
) -> Result<(ShellConfig, BTreeMap<String, SocketAddr>), String> {
    let mut services = Vec::new();
    for (name, def) in &definitions.services {
        let interval_s = def.interval_s.ok_or_else(|| {
            format!("service {name}: no interval (add \"failsvc {name} interval SECONDS\")")
        })?;
        let mut service = ServiceConfig::new(name, to_ms(interval_s));
        service.timeout_ms = def.timeout_s.map(to_ms);
        service.misses = def.misses.unwrap_or(1);
        service.masters = def.masters.clone();
        service.slaves = def.slaves.clone();
        service.has_reclaim = def.reclaim.is_some();
        service.has_check = def.check.is_some();
        service.procedure_limit_ms = def.limit_s.map_or(DEFAULT_PROCEDURE_LIMIT_MS, to_ms);
        services.push(service);
    }
    let mut names: Vec<String> = vec![local_host.to_string()];
    for def in definitions.services.values() {
        names.extend(def.masters.iter().cloned());
        names.extend(def.slaves.iter().cloned());
    }
    names.extend(definitions.hosts.keys().cloned());
    names.sort();
    names.dedup();
    let mut hosts = Vec::new();
    let mut addresses = BTreeMap::new();
    for name in names {
        let def = definitions.hosts.get(&name).cloned().unwrap_or_default();
        hosts.push(HostConfig {
            name: name.clone(),
            community: def
                .community
                .clone()
                .unwrap_or_else(|| "public".to_string()),
            protocol: def.protocol.unwrap_or(Protocol::Tcp),
        });
        let port = def.port.unwrap_or(DEFAULT_FAILD_PORT);
        let address = match (&def.address, name == local_host) {
            (Some(address), _) => resolve(&name, address, port)?,
            // The local faild listens on the loopback address unless told otherwise.
            (None, true) => SocketAddr::new(IpAddr::from([127, 0, 0, 1]), port),
            (None, false) => resolve(&name, &name, port)?,
        };
        addresses.insert(name, address);
    }
    let config = ShellConfig {
        local_host: local_host.to_string(),
        hosts,
        services,
    };
    config.validate().map_err(|e| e.0)?;
    Ok((config, addresses))
}

fn resolve(host: &str, address: &str, port: u16) -> Result<SocketAddr, String> {
    if let Ok(ip) = address.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    let mut found: Vec<SocketAddr> = (address, port)
        .to_socket_addrs()
        .map_err(|e| format!("host {host}: cannot resolve \"{address}\": {e}"))?
        .collect();
    // IPv4 first: the order of the resolver is not stable across reloads otherwise.
    found.sort_by_key(|a| (a.is_ipv6(), *a));
    found
        .into_iter()
        .next()
        .ok_or_else(|| format!("host {host}: \"{address}\" has no address"))
}
