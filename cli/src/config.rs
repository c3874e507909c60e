//! The Tcl commands that build failsh's configuration: `failsvc`, `failhost` and `failtrap`
//! (see `docs/tcl.md`). They fill the core's [`ShellConfig`] directly, the one model of a
//! configuration: the core takes it as it is, once failsh has resolved the hosts' addresses
//! (`crate::failsh::load`). Beside it, [`Locations`] keeps where each setting was given, for
//! messages that name the line and for what `failsh -t` shows as a default.
//!
//! Loading a configuration evaluates the whole Tcl file in an [`Interp`]
//! (parsed completely before anything runs). [`check_file`] loads and validates.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::{Arc, Mutex};

use failover_core::shell::{HostConfig, ServiceConfig, ShellConfig, DEFAULT_PROCEDURE_LIMIT_MS};
use failover_core::wire::Protocol;
use failover_tcl::{
    err, make_list, parse_list, wrong_args, Exception, Interp, TclError, TclResult,
};

// The defaults, all in one place (docs/tcl.md). The core's constructors hold the rest:
// `ServiceConfig::new` (misses 1, timeout = the interval, procedure limit 30 s, no reclaim or
// check procedure) and `HostConfig::new` (TCP, port 1291, community `public`).

/// Interval of a service that does not set one: 5 s, the seed's value.
pub const DEFAULT_INTERVAL_MS: u64 = 5000;
/// Time limit of a start, stop, reclaim or check procedure that does not set one
/// (`failsvc NAME limit SECONDS`): 30 s, the core's default.
pub const DEFAULT_LIMIT_MS: u64 = DEFAULT_PROCEDURE_LIMIT_MS;
/// The name under which the local faild is configured unless failsh is told otherwise
/// (`failsh -l`; the seed's configurations say `failhost localhost ...`).
pub const DEFAULT_LOCAL_HOST: &str = "localhost";
/// Where the local host's faild is asked unless `failhost LOCAL address ...` says otherwise.
pub const LOCAL_FAILD: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// A service as `failsvc NAME create` makes it.
fn new_service(name: &str) -> ServiceConfig {
    ServiceConfig::new(name, DEFAULT_INTERVAL_MS)
}

/// A host as a `failhost` or a masters or slaves list first names it.
fn new_host(name: &str) -> HostConfig {
    HostConfig::new(name)
}

/// A configuration before its file ran: no service, and the local host (its faild is asked
/// for the local states) with the defaults.
fn empty_config(local_host: &str) -> ShellConfig {
    ShellConfig {
        local_host: local_host.to_string(),
        hosts: vec![new_host(local_host)],
        services: Vec::new(),
    }
}

/// Where a host's faild is asked, before any name is resolved: the one rule for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaildAddress<'a> {
    /// `failhost HOST address VALUE`: a literal address, or a name to resolve.
    Configured(&'a str),
    /// The local host without an address: [`LOCAL_FAILD`].
    Local,
    /// Another host without an address: its own name, to resolve.
    HostName(&'a str),
}

/// Where `host`'s faild is asked, in a configuration whose local host is `local_host`.
pub fn faild_address<'a>(host: &'a HostConfig, local_host: &str) -> FaildAddress<'a> {
    match &host.configured_address {
        Some(address) => FaildAddress::Configured(address),
        None if host.name == local_host => FaildAddress::Local,
        None => FaildAddress::HostName(&host.name),
    }
}

/// `FILE:LINE` of a command.
pub type Location = (String, usize);

/// Where each setting of a configuration was given: the side table of the model. A setting
/// that is not here was left at its default. Locations are known while a file is loaded (a
/// `failsvc` run later by a procedure records none).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Locations {
    /// Per service, per `failsvc` subcommand (`create`, `start`, `misses`, ...; `trap` for
    /// `failtrap`): where it was last given.
    services: BTreeMap<String, BTreeMap<String, Option<Location>>>,
    /// The hosts the file names (`failhost`, masters and slaves lists); per `failhost` option,
    /// where it was last given.
    hosts: BTreeMap<String, BTreeMap<String, Option<Location>>>,
}

impl Locations {
    /// `FILE:LINE: ` of where `what` of `service` was given (else of its `create`), for the
    /// start of a message; empty when unknown.
    pub fn location(&self, service: &str, what: &str) -> String {
        let given = self.services.get(service);
        given
            .and_then(|at| at.get(what).or_else(|| at.get("create")))
            .and_then(Option::as_ref)
            .map_or(String::new(), |(file, line)| format!("{file}:{line}: "))
    }

    /// The line where `what` of `service` was last given.
    pub fn line(&self, service: &str, what: &str) -> Option<usize> {
        let at = self.services.get(service)?.get(what)?.as_ref()?;
        Some(at.1)
    }

    /// Whether the file gave `what` for `service` (else it has its default).
    pub fn given(&self, service: &str, what: &str) -> bool {
        self.services
            .get(service)
            .is_some_and(|at| at.contains_key(what))
    }

    /// Whether the file names `host` (the local host is in every configuration).
    pub fn names_host(&self, host: &str) -> bool {
        self.hosts.contains_key(host)
    }

    fn set_service(&mut self, service: &str, what: &str, at: Option<Location>) {
        self.services
            .entry(service.to_string())
            .or_default()
            .insert(what.to_string(), at);
    }

    fn set_host(&mut self, host: &str, option: Option<&str>, at: Option<Location>) {
        let options = self.hosts.entry(host.to_string()).or_default();
        if let Some(option) = option {
            options.insert(option.to_string(), at);
        }
    }
}

/// The configuration while its file runs.
#[derive(Debug)]
struct Model {
    config: ShellConfig,
    locations: Locations,
    /// `failhost LOCAL name NAME`: this host's name in the groups of witnessed services.
    member: Option<String>,
}

impl Model {
    fn service_mut(&mut self, name: &str) -> Option<&mut ServiceConfig> {
        self.config.services.iter_mut().find(|s| s.name == name)
    }

    /// The host named `name`, added with the defaults if new. Hosts (and services) are kept
    /// in name order, as the core has always been given them.
    fn host_mut(&mut self, name: &str) -> &mut HostConfig {
        let hosts = &mut self.config.hosts;
        let index = match hosts.binary_search_by(|h| h.name.as_str().cmp(name)) {
            Ok(index) => index,
            Err(index) => {
                hosts.insert(index, new_host(name));
                index
            }
        };
        &mut hosts[index]
    }

    fn lock(model: &Mutex<Model>) -> std::sync::MutexGuard<'_, Model> {
        model.lock().unwrap_or_else(|p| p.into_inner())
    }
}

const SVC_SUBCOMMANDS: &[&str] = &[
    "check",
    "create",
    "fall",
    "fence",
    "interval",
    "lease",
    "limit",
    "masters",
    "misses",
    "preempt",
    "preempt_delay",
    "reclaim",
    "reset",
    "rise",
    "slaves",
    "start",
    "startup_delay",
    "stop",
    "timeout",
    "track",
    "witness",
];

fn one_of(words: &[&str]) -> String {
    match words {
        [] => String::new(),
        [one] => (*one).to_string(),
        [init @ .., last] => format!("{}, or {last}", init.join(", ")),
    }
}

/// Parse seconds (fractional allowed) into milliseconds, > 0.
fn seconds_ms(what: &str, v: &str) -> Result<u64, Exception> {
    let bad = || {
        err(format!(
            "bad {what} \"{v}\": must be a number of seconds greater than 0"
        ))
    };
    let t = v.trim();
    let Ok(secs) = t.parse::<f64>() else {
        return bad();
    };
    if !secs.is_finite() || secs <= 0.0 || t.contains(['x', 'X']) || secs > 86_400.0 * 365.0 {
        return bad();
    }
    let ms = (secs * 1000.0).round() as u64;
    if ms == 0 {
        return err(format!(
            "bad {what} \"{v}\": must be at least 0.001 seconds"
        ));
    }
    Ok(ms)
}

/// Parse a delay in seconds (fractional allowed, 0 for none) into milliseconds.
fn delay_ms(what: &str, v: &str) -> Result<u64, Exception> {
    let t = v.trim();
    match t.parse::<f64>() {
        Ok(secs)
            if secs.is_finite()
                && (0.0..=86_400.0).contains(&secs)
                && !t.contains(['x', 'X', 'e', 'E']) =>
        {
            Ok((secs * 1000.0).round() as u64)
        }
        _ => err(format!(
            "bad {what} \"{v}\": must be a number of seconds from 0 to 86400"
        )),
    }
}

/// Parse a count of at least 1.
fn count(what: &str, v: &str) -> Result<u32, Exception> {
    match v.trim().parse::<u32>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => err(format!(
            "bad {what} \"{v}\": must be an integer of at least 1"
        )),
    }
}

/// Hosts named in a masters or slaves list: in the configuration from now on.
fn add_hosts(model: &mut Model, names: &[String]) {
    for name in names {
        model.host_mut(name);
        model.locations.set_host(name, None, None);
    }
}

fn failsvc(model: &Mutex<Model>, args: &[String]) -> TclResult {
    let cmd = &args[0];
    if args.len() < 3 {
        if args.len() == 2 && SVC_SUBCOMMANDS.contains(&args[1].as_str()) {
            return err(format!(
                "missing service name: should be \"{cmd} serviceName {} ...\"",
                args[1]
            ));
        }
        return wrong_args(&format!("{cmd} serviceName subcommand ?arg ...?"));
    }
    let name = &args[1];
    let sub = args[2].as_str();
    let rest = &args[3..];
    if !SVC_SUBCOMMANDS.contains(&sub) {
        if SVC_SUBCOMMANDS.contains(&name.as_str()) {
            return err(format!(
                "missing service name: should be \"{cmd} serviceName {name} ...\""
            ));
        }
        return err(format!(
            "bad subcommand \"{sub}\": must be {}",
            one_of(SVC_SUBCOMMANDS)
        ));
    }
    let mut model = Model::lock(model);
    if sub == "create" {
        if !rest.is_empty() {
            return wrong_args(&format!("{cmd} serviceName create"));
        }
        if SVC_SUBCOMMANDS.contains(&name.as_str()) {
            return err(format!(
                "missing service name: should be \"{cmd} serviceName {name} ...\""
            ));
        }
        let services = &mut model.config.services;
        match services.binary_search_by(|s| s.name.as_str().cmp(name)) {
            Ok(_) => return err(format!("service \"{name}\" already exists")),
            Err(index) => services.insert(index, new_service(name)),
        }
        return Ok(name.clone());
    }
    let usage = match sub {
        "interval" | "timeout" | "limit" | "lease" | "preempt_delay" | "startup_delay" => "seconds",
        "misses" | "rise" | "fall" => "count",
        "preempt" => "on|off",
        "masters" | "slaves" => "hostList",
        "track" => "interface ?interface ...?",
        "witness" => "host ?host ...?",
        "fence" => "wait|none",
        "reset" => "address ?address ...?|off",
        _ => "procName",
    };
    let variadic = matches!(sub, "track" | "witness" | "reset");
    if (rest.len() > 1 && !variadic)
        || (rest.is_empty() && !matches!(sub, "masters" | "slaves" | "track" | "witness" | "reset"))
    {
        return wrong_args(&format!("{cmd} serviceName {sub} {usage}"));
    }
    if model.service_mut(name).is_none() {
        if SVC_SUBCOMMANDS.contains(&name.as_str()) {
            return err(format!(
                "missing service name: should be \"{cmd} serviceName {name} ...\""
            ));
        }
        return err(format!(
            "no service \"{name}\": create it first with \"{cmd} {name} create\""
        ));
    }
    // reading a value: failsvc S masters (no argument)
    if rest.is_empty() && sub == "reset" {
        let addresses: Vec<String> = service(&mut model, name)
            .reset_addresses()
            .iter()
            .map(ToString::to_string)
            .collect();
        return Ok(make_list(&addresses));
    }
    if rest.is_empty() {
        let s = service(&mut model, name);
        let v = match sub {
            "masters" => &s.masters,
            "slaves" => &s.slaves,
            "witness" => &s.witnesses,
            _ => &s.track,
        };
        return Ok(make_list(v));
    }
    if sub == "track" {
        return track(&mut model, name, rest);
    }
    if sub == "witness" {
        return witness(&mut model, name, rest);
    }
    if sub == "reset" {
        return reset(&mut model, name, rest);
    }
    let v = &rest[0];
    match sub {
        "lease" => {
            let seconds = match v.trim().parse::<u64>() {
                Ok(s) if (1..=86_400).contains(&s) => s,
                _ => {
                    return err(format!(
                        "bad lease \"{v}\": must be a whole number of seconds from 1 to 86400 (the kernel counts address lifetimes in seconds)"
                    ))
                }
            };
            service(&mut model, name).lease_ms = Some(seconds * 1000);
        }
        "fence" => {
            let wait = match v.as_str() {
                "wait" => true,
                "none" => false,
                _ => return err(format!("bad fence \"{v}\": must be wait or none")),
            };
            service(&mut model, name).fence_wait = wait;
        }
        "preempt" => {
            let on = match v.as_str() {
                "on" | "yes" | "true" | "1" => true,
                "off" | "no" | "false" | "0" => false,
                _ => return err(format!("bad preempt \"{v}\": must be on or off")),
            };
            service(&mut model, name).preempt = on;
        }
        "preempt_delay" => {
            service(&mut model, name).preempt_delay_ms = delay_ms("preempt_delay", v)?
        }
        "startup_delay" => {
            service(&mut model, name).startup_delay_ms = delay_ms("startup_delay", v)?
        }
        "rise" => service(&mut model, name).check_rise = count("rise", v)?,
        "fall" => service(&mut model, name).check_fall = count("fall", v)?,
        "interval" => service(&mut model, name).interval_ms = seconds_ms("interval", v)?,
        "timeout" => service(&mut model, name).timeout_ms = Some(seconds_ms("timeout", v)?),
        "limit" => service(&mut model, name).procedure_limit_ms = seconds_ms("limit", v)?,
        "misses" => {
            let m = match v.trim().parse::<u32>() {
                Ok(m) if m >= 1 => m,
                _ => {
                    return err(format!(
                        "bad misses \"{v}\": must be an integer of at least 1"
                    ))
                }
            };
            service(&mut model, name).misses = m;
        }
        "masters" | "slaves" => {
            let hosts = parse_list(v).map_err(TclError::new)?;
            if let Some(h) = hosts.iter().find(|h| h.is_empty()) {
                return err(format!("bad host name \"{h}\" in {sub} list"));
            }
            add_hosts(&mut model, &hosts);
            let s = service(&mut model, name);
            if sub == "masters" {
                s.masters = hosts;
            } else {
                s.slaves = hosts;
            }
        }
        _ => {
            if v.is_empty() {
                return err(format!(
                    "bad {sub} procedure \"\": must be a procedure name"
                ));
            }
            let procedures = &mut service(&mut model, name).procedures;
            match sub {
                "start" => procedures.start = v.clone(),
                "stop" => procedures.stop = v.clone(),
                "reclaim" => procedures.reclaim = Some(v.clone()),
                _ => procedures.check = Some(v.clone()),
            }
        }
    }
    Ok(v.clone())
}

/// The service `name`, which the caller found.
fn service<'a>(model: &'a mut Model, name: &str) -> &'a mut ServiceConfig {
    model.service_mut(name).expect("checked by the caller")
}

/// `failsvc S track IF ...` (or one list of interfaces): interfaces whose carrier the service
/// needs. failsh watches them through rtnetlink, which exists on Linux only.
/// `failsvc S reset ADDRESS...` replaces the addresses whose connections are reset when the
/// service moves away (by default the service's name, when it is an address); `off` none.
fn reset(model: &mut Model, name: &str, args: &[String]) -> TclResult {
    let mut words = Vec::new();
    for arg in args {
        words.extend(parse_list(arg).map_err(TclError::new)?);
    }
    let addresses = if words.len() == 1 && words[0] == "off" {
        Vec::new()
    } else {
        let mut addresses: Vec<std::net::IpAddr> = Vec::new();
        for word in &words {
            let address = word.parse().map_err(|_| {
                TclError::new(format!(
                    "bad reset address \"{word}\": must be an IPv4 or IPv6 address (no prefix length), or off"
                ))
            })?;
            if !addresses.contains(&address) {
                addresses.push(address);
            }
        }
        if addresses.is_empty() {
            return err("reset needs at least one address, or off");
        }
        addresses
    };
    let s = service(model, name);
    s.reset = Some(addresses);
    let shown: Vec<String> = s
        .reset_addresses()
        .iter()
        .map(ToString::to_string)
        .collect();
    Ok(make_list(&shown))
}

fn track(model: &mut Model, name: &str, args: &[String]) -> TclResult {
    let mut interfaces = Vec::new();
    for arg in args {
        interfaces.extend(parse_list(arg).map_err(TclError::new)?);
    }
    if !cfg!(target_os = "linux") {
        return err(
            "track needs Linux: failsh watches the carrier through rtnetlink, which this system does not have",
        );
    }
    for interface in &interfaces {
        if interface.is_empty()
            || interface.len() > failover_core::shell::MAX_INTERFACE_BYTES
            || interface.contains(['/', ' ', ':'])
        {
            return err(format!(
                "bad interface \"{interface}\": must be an interface name of 1 to 15 bytes, without '/', ':' or space"
            ));
        }
    }
    if interfaces.is_empty() {
        return err("track needs at least one interface");
    }
    let s = service(model, name);
    for interface in interfaces {
        if !s.track.contains(&interface) {
            s.track.push(interface);
        }
    }
    Ok(make_list(&s.track))
}

/// `failsvc S witness HOST ...` (or one list): hosts that run only faild and complete the
/// service's group to a majority (`docs/design.md`, "Quorum with a witness").
fn witness(model: &mut Model, name: &str, args: &[String]) -> TclResult {
    let mut hosts = Vec::new();
    for arg in args {
        hosts.extend(parse_list(arg).map_err(TclError::new)?);
    }
    if let Some(h) = hosts.iter().find(|h| h.is_empty()) {
        return err(format!("bad host name \"{h}\" in witness list"));
    }
    if hosts.is_empty() {
        return err("witness needs at least one host");
    }
    add_hosts(model, &hosts);
    let s = service(model, name);
    for host in hosts {
        if !s.witnesses.contains(&host) {
            s.witnesses.push(host);
        }
    }
    Ok(make_list(&s.witnesses))
}

const HOST_OPTIONS: &[&str] = &["address", "community", "name", "port", "protocol"];

fn failhost(model: &Mutex<Model>, args: &[String]) -> TclResult {
    let cmd = &args[0];
    if args.len() != 4 {
        if args.len() == 3 && HOST_OPTIONS.contains(&args[1].as_str()) {
            return err(format!(
                "missing host name: should be \"{cmd} hostName {} value\"",
                args[1]
            ));
        }
        return wrong_args(&format!("{cmd} hostName option value"));
    }
    let (name, opt, v) = (&args[1], args[2].as_str(), &args[3]);
    if !HOST_OPTIONS.contains(&opt) {
        return err(format!(
            "bad option \"{opt}\": must be {}",
            one_of(HOST_OPTIONS)
        ));
    }
    let mut model = Model::lock(model);
    if opt == "name" {
        // Only this host's name in its groups is ours to set: the others are called what
        // their failhost lines call them.
        if name != &model.config.local_host {
            return err(format!(
                "bad option \"name\" for host \"{name}\": only the local host ({}) has a name in the group to set; the others are called by their failhost names",
                model.config.local_host
            ));
        }
        if v.trim().is_empty() || v.contains(char::is_whitespace) {
            return err(format!(
                "bad name \"{v}\": must be this host's name as the other hosts' configurations call it"
            ));
        }
        model.member = Some(v.clone());
        return Ok(v.clone());
    }
    model.locations.set_host(name, None, None);
    let h = model.host_mut(name);
    match opt {
        "address" => {
            if v.trim().is_empty() || v.contains(char::is_whitespace) {
                return err(format!(
                    "bad address \"{v}\": must be a host name or an IP address"
                ));
            }
            h.configured_address = Some(v.clone());
        }
        "port" => match v.trim().parse::<u16>() {
            Ok(p) if p >= 1 => h.port = p,
            _ => {
                return err(format!(
                    "bad port \"{v}\": must be an integer from 1 to 65535"
                ))
            }
        },
        "protocol" => {
            h.protocol = match v.as_str() {
                "tcp" => Protocol::Tcp,
                "udp" => Protocol::Udp,
                _ => return err(format!("bad protocol \"{v}\": must be tcp or udp")),
            }
        }
        _ => {
            if v.is_empty() {
                return err("bad community \"\": must not be empty");
            }
            h.community = v.clone();
        }
    }
    Ok(v.clone())
}

fn failtrap(model: &Mutex<Model>, args: &[String]) -> TclResult {
    if args.len() != 3 {
        return wrong_args(&format!("{} serviceName procName", args[0]));
    }
    let mut model = Model::lock(model);
    let Some(s) = model.service_mut(&args[1]) else {
        return err(format!(
            "no service \"{}\": create it first with \"failsvc {} create\"",
            args[1], args[1]
        ));
    };
    s.procedures.trap = Some(args[2].clone());
    Ok(args[2].clone())
}

/// Records where `what` of `service` was given, so that a later check can name the line.
fn remember(model: &Mutex<Model>, interp: &Interp, service: &str, what: Option<&str>) {
    let Some(what) = what else {
        return;
    };
    let mut model = Model::lock(model);
    if model.service_mut(service).is_some() {
        let at = interp.current_location();
        model.locations.set_service(service, what, at);
    }
}

/// Records where option `option` of `host` was given.
fn remember_host(model: &Mutex<Model>, interp: &Interp, host: &str, option: &str) {
    let at = interp.current_location();
    Model::lock(model)
        .locations
        .set_host(host, Some(option), at);
}

/// `FILE:LINE: message` for an error while a configuration loads (the innermost file of
/// Tcl's trace: an error inside a sourced file names that file), then Tcl's trace.
pub fn located(error: &TclError, file: &str) -> String {
    let innermost = error.info.find("(file \"").and_then(|start| {
        let rest = &error.info[start + 7..];
        let (name, rest) = rest.split_once('"')?;
        let line = rest.trim_start().strip_prefix("line ")?;
        let digits: String = line.chars().take_while(char::is_ascii_digit).collect();
        Some((name.to_string(), digits.parse::<usize>().ok()?))
    });
    let (file, line) = match innermost {
        Some((name, line)) => (name, Some(line)),
        None => (file.to_string(), error.line),
    };
    let prefix = match line {
        Some(line) => format!("{file}:{line}: "),
        None => format!("{file}: "),
    };
    // The trace starts with the message itself.
    let trace = error
        .info
        .strip_prefix(error.message.as_str())
        .unwrap_or(&error.info)
        .trim_start_matches('\n');
    format!("{prefix}{}\n{trace}", error.message)
}

/// Register `failsvc`, `failhost` and `failtrap` in `interp`, building into `model`.
fn register_commands(interp: &mut Interp, model: Arc<Mutex<Model>>) {
    let m = model.clone();
    interp.register(
        "failsvc",
        Arc::new(move |it: &mut Interp, a: &[String]| {
            let result = failsvc(&m, a)?;
            remember(&m, it, &a[1], a.get(2).map(String::as_str));
            Ok(result)
        }),
    );
    let m = model.clone();
    interp.register(
        "failhost",
        Arc::new(move |it: &mut Interp, a: &[String]| {
            let result = failhost(&m, a)?;
            remember_host(&m, it, &a[1], &a[2]);
            Ok(result)
        }),
    );
    interp.register(
        "failtrap",
        Arc::new(move |it: &mut Interp, a: &[String]| {
            let result = failtrap(&model, a)?;
            remember(&model, it, &a[1], Some("trap"));
            Ok(result)
        }),
    );
}

/// A loaded configuration: the model, where its settings were given, and the interpreter
/// that holds its procedures (failsh calls them with [`Interp::call_proc`]).
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    /// The services and hosts with every default applied; no address resolved yet.
    pub config: ShellConfig,
    /// Where each setting was given.
    pub locations: Locations,
    /// The interpreter after evaluating the file.
    pub interp: Interp,
}

/// Load a configuration from text; `file` names it in error traces, `local_host` is the name
/// under which the local faild is configured. `setup` may register further host commands
/// (e.g. `grarp`) first.
pub fn load_str_with(
    text: &str,
    file: &str,
    local_host: &str,
    setup: impl FnOnce(&mut Interp),
) -> Result<LoadedConfig, TclError> {
    let model = Arc::new(Mutex::new(Model {
        config: empty_config(local_host),
        locations: Locations::default(),
        member: None,
    }));
    let mut interp = Interp::new();
    register_commands(&mut interp, model.clone());
    setup(&mut interp);
    interp.eval_source(text, file)?;
    let mut model = Model::lock(&model);
    // Witnessed services ask under this host's name in the group: as set, or the host name
    // up to its first dot (what the others' configurations usually call it).
    let member = model.member.clone().or_else(short_host_name);
    for service in &mut model.config.services {
        if !service.witnesses.is_empty() {
            service.member = member.clone();
        }
    }
    Ok(LoadedConfig {
        config: model.config.clone(),
        locations: model.locations.clone(),
        interp,
    })
}

/// This machine's node name up to its first dot (`uname -n`).
fn short_host_name() -> Option<String> {
    let name = nix::unistd::gethostname().ok()?.into_string().ok()?;
    let short = name.split('.').next().unwrap_or("").trim().to_string();
    (!short.is_empty()).then_some(short)
}

/// Load a configuration from text.
pub fn load_str(text: &str, file: &str, local_host: &str) -> Result<LoadedConfig, TclError> {
    load_str_with(text, file, local_host, |_| {})
}

/// Load a configuration file.
pub fn load_file(path: &Path, local_host: &str) -> Result<LoadedConfig, TclError> {
    load_file_with(path, local_host, |_| {})
}

/// Load a configuration file; `setup` may register further host commands
/// (failsh registers `grarp`) before the file runs.
pub fn load_file_with(
    path: &Path,
    local_host: &str,
    setup: impl FnOnce(&mut Interp),
) -> Result<LoadedConfig, TclError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| TclError::new(format!("couldn't read file \"{}\": {e}", path.display())))?;
    load_str_with(&text, &path.display().to_string(), local_host, setup)
}

/// Problems that make a loaded configuration unusable: services without
/// start/stop procedures, or naming procedures that are not defined. (The core's own rules,
/// [`ShellConfig::validate`], are checked after these.)
pub fn validate(loaded: &LoadedConfig) -> Vec<String> {
    let at = &loaded.locations;
    let mut errs = Vec::new();
    for s in &loaded.config.services {
        let name = &s.name;
        let p = &s.procedures;
        let named = |n: &String| Some(n.clone()).filter(|n| !n.is_empty());
        for (what, p, required) in [
            ("start", named(&p.start), true),
            ("stop", named(&p.stop), true),
            ("reclaim", p.reclaim.clone(), false),
            ("check", p.check.clone(), false),
            ("trap", p.trap.clone(), false),
        ] {
            match p {
                None if required => errs.push(format!(
                    "{}service \"{name}\" has no {what} procedure (failsvc {name} {what} procName)",
                    at.location(name, "create")
                )),
                Some(p) if !loaded.interp.has_command(&p) => errs.push(format!(
                    "{}service \"{name}\": {what} procedure \"{p}\" is not defined",
                    at.location(name, what)
                )),
                _ => {}
            }
        }
        if let Some(h) = s.masters.iter().find(|h| s.slaves.contains(h)) {
            // The later of the two lists is the one that made the clash.
            let later = ["masters", "slaves"]
                .into_iter()
                .max_by_key(|w| at.line(name, w))
                .unwrap_or("slaves");
            errs.push(format!(
                "{}service \"{name}\": host \"{h}\" is both a master and a slave",
                at.location(name, later)
            ));
        }
        if s.fence_wait && s.lease_ms.is_none() {
            errs.push(format!(
                "{}service \"{name}\": fence wait needs a lease (failsvc {name} lease SECONDS): it waits the master's lease out",
                at.location(name, "fence")
            ));
        }
        if !s.witnesses.is_empty() && s.lease_ms.is_none() {
            errs.push(format!(
                "{}service \"{name}\": a witness needs a lease (failsvc {name} lease SECONDS): a failsh that hangs while UP cannot fence itself, only the kernel's lifetime of the address can",
                at.location(name, "witness")
            ));
        }
        if let Some(h) = s
            .witnesses
            .iter()
            .find(|h| s.masters.contains(h) || s.slaves.contains(h))
        {
            errs.push(format!(
                "{}service \"{name}\": host \"{h}\" is both a witness and a master or slave",
                at.location(name, "witness")
            ));
        }
    }
    errs
}

/// What is allowed but probably not meant: a tracked interface that this host does not
/// have (yet), a lease whose procedures never add an address with `ipaddr`. `failsh -t`
/// prints them; the daemon logs them.
pub fn warnings(loaded: &LoadedConfig) -> Vec<String> {
    let at = &loaded.locations;
    let mut warnings = Vec::new();
    for s in &loaded.config.services {
        let name = &s.name;
        for interface in &s.track {
            if cfg!(target_os = "linux") && !Path::new("/sys/class/net").join(interface).exists() {
                warnings.push(format!(
                    "{}warning: service \"{name}\": tracked interface \"{interface}\" does not exist on this host: the service counts as FAIL here until it appears with its carrier",
                    at.location(name, "track")
                ));
            }
        }
        if let Some(lease_ms) = s.lease_ms {
            let p = &s.procedures;
            let calls_ipaddr = [Some(&p.start), p.reclaim.as_ref(), Some(&p.stop)]
                .into_iter()
                .flatten()
                .filter(|p| !p.is_empty())
                .any(|p| calls_command(&loaded.interp, p, "ipaddr"));
            if !calls_ipaddr {
                warnings.push(format!(
                    "{}warning: service \"{name}\": lease {}: its procedures never call ipaddr, so no address gets a kernel lifetime (only faild's UP record has a lease); add addresses with `ipaddr add`",
                    at.location(name, "lease"),
                    lease_ms / 1000
                ));
            }
        }
    }
    warnings
}

/// Whether procedure `name`, or a procedure it names, uses the word `command`: a look at the
/// procedure bodies as text, which is what can be known without running them.
fn calls_command(interp: &Interp, name: &str, command: &str) -> bool {
    let mut interp = interp.clone();
    let mut seen = std::collections::BTreeSet::new();
    let mut todo = vec![name.to_string()];
    while let Some(proc_name) = todo.pop() {
        if !seen.insert(proc_name.clone()) {
            continue;
        }
        let words = ["info".to_string(), "body".to_string(), proc_name];
        let Ok(body) = interp.invoke(&words) else {
            continue;
        };
        let words: Vec<&str> = body
            .split(|c: char| c.is_whitespace() || "[]{};\"".contains(c))
            .filter(|w| !w.is_empty())
            .collect();
        if words.contains(&command) {
            return true;
        }
        todo.extend(
            words
                .iter()
                .filter(|w| interp.has_proc(w))
                .map(|w| w.to_string()),
        );
    }
    false
}

fn secs(ms: u64) -> String {
    if ms.checked_rem(1000) == Some(0) {
        format!("{}s", ms / 1000)
    } else {
        let s = format!("{:.3}", ms as f64 / 1000.0);
        format!("{}s", s.trim_end_matches('0'))
    }
}

/// Describe a configuration for operators (communities are masked as `***`): its services,
/// and the hosts the file names. A setting the file did not give is marked as a default.
pub fn describe(config: &ShellConfig, locations: &Locations) -> String {
    let mut o = String::new();
    let opt = |p: Option<&String>| {
        p.filter(|p| !p.is_empty())
            .cloned()
            .unwrap_or_else(|| "-".into())
    };
    let hosts = |v: &[String]| {
        if v.is_empty() {
            "(none)".to_string()
        } else {
            v.join(" ")
        }
    };
    for s in &config.services {
        let given = |what: &str| locations.given(&s.name, what);
        let _ = writeln!(
            o,
            "service {}: interval {}, timeout {}, misses {}, limit {}",
            s.name,
            secs(s.interval_ms),
            s.timeout_ms
                .map(secs)
                .unwrap_or_else(|| format!("{} (interval)", secs(s.interval_ms))),
            if given("misses") {
                s.misses.to_string()
            } else {
                format!("{} (default)", s.misses)
            },
            if given("limit") {
                secs(s.procedure_limit_ms)
            } else {
                format!("{} (default)", secs(s.procedure_limit_ms))
            },
        );
        let _ = writeln!(o, "  masters: {}", hosts(&s.masters));
        let _ = writeln!(o, "  slaves: {}", hosts(&s.slaves));
        if !s.witnesses.is_empty() {
            let group = s.group_size();
            let _ = writeln!(
                o,
                "  witnesses: {}; this host asks as {}; held only with {} of the {group} hosts; a silent member is replaced {} after the majority last heard it",
                s.witnesses.join(" "),
                s.member.as_deref().unwrap_or("(no name: set failhost localhost name NAME)"),
                group / 2 + 1,
                s.witness_deadline_ms().map_or("(needs a lease)".to_string(), secs),
            );
        }
        if !s.track.is_empty() || s.lease_ms.is_some() || s.fence_wait {
            let _ = writeln!(
                o,
                "  track: {}; lease: {}; fence: {}",
                if s.track.is_empty() {
                    "(none)".to_string()
                } else {
                    s.track.join(" ")
                },
                s.lease_ms
                    .map_or("(none)".to_string(), |ms| format!("{}s", ms / 1000)),
                if s.fence_wait { "wait" } else { "none" }
            );
        }
        if s.reset.is_some() {
            let addresses: Vec<String> = s
                .reset_addresses()
                .iter()
                .map(ToString::to_string)
                .collect();
            let _ = writeln!(
                o,
                "  reset: {}",
                if addresses.is_empty() {
                    "off".to_string()
                } else {
                    addresses.join(" ")
                }
            );
        }
        if !s.preempt || s.preempt_delay_ms > 0 || s.startup_delay_ms > 0 {
            let _ = writeln!(
                o,
                "  preempt: {}; preempt_delay: {}; startup_delay: {}",
                if s.preempt { "on" } else { "off" },
                secs(s.preempt_delay_ms),
                secs(s.startup_delay_ms)
            );
        }
        if s.procedures.check.is_some() {
            let _ = writeln!(
                o,
                "  check: acts after {} failures in a row (fall), back to RECOVER after {} passes in a row (rise)",
                s.check_fall, s.check_rise
            );
        }
        let p = &s.procedures;
        let _ = writeln!(
            o,
            "  procedures: start {}, stop {}, reclaim {}, check {}, trap {}",
            opt(Some(&p.start)),
            opt(Some(&p.stop)),
            opt(p.reclaim.as_ref()),
            opt(p.check.as_ref()),
            opt(p.trap.as_ref())
        );
    }
    // The local host is in every configuration; it is described when the file names it.
    for h in config
        .hosts
        .iter()
        .filter(|h| locations.names_host(&h.name))
    {
        let _ = writeln!(
            o,
            "host {}: address {}, port {}, protocol {}, community ***",
            h.name,
            h.configured_address.as_deref().unwrap_or("(name)"),
            h.port,
            h.protocol
        );
    }
    o
}

/// Load and validate (without the core's rules and failsh's own commands: `failsh -t` is
/// `crate::failsh::load::check`). Ok: the description to print. Err: the error texts (Tcl
/// traces with file and line).
pub fn check_file(path: &Path, local_host: &str) -> Result<(LoadedConfig, String), Vec<String>> {
    check_file_with(path, local_host, |_| {})
}

/// [`check_file`] with further host commands registered by `setup` first.
pub fn check_file_with(
    path: &Path,
    local_host: &str,
    setup: impl FnOnce(&mut Interp),
) -> Result<(LoadedConfig, String), Vec<String>> {
    let loaded = load_file_with(path, local_host, setup).map_err(|e| vec![e.info])?;
    let errs = validate(&loaded);
    if !errs.is_empty() {
        return Err(errs);
    }
    let d = describe(&loaded.config, &loaded.locations);
    Ok((loaded, d))
}
