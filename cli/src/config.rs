//! The failsh configuration model and the Tcl commands that build it:
//! `failsvc`, `failhost` and `failtrap` (see `docs/tcl.md`).
//!
//! Loading a configuration evaluates the whole Tcl file in an [`Interp`]
//! (parsed completely before anything runs). [`check_file`] is what
//! `failsh -t -f FILE` calls.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex};

use failover_tcl::{
    err, make_list, parse_list, wrong_args, Exception, Interp, TclError, TclResult,
};

/// Interval of a service that does not set one: 5 s, the seed's value.
pub const DEFAULT_INTERVAL_MS: u64 = 5000;
/// Time limit of a start, stop, reclaim or check procedure that does not set one
/// (`failsvc NAME limit SECONDS`): 30 s, the core's default.
pub const DEFAULT_LIMIT_MS: u64 = failover_core::shell::DEFAULT_PROCEDURE_LIMIT_MS;
/// Default faild port.
pub const DEFAULT_PORT: u16 = 1291;
/// Default community.
pub const DEFAULT_COMMUNITY: &str = "public";

/// Transport used to talk to a host's faild.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    /// TCP (the default).
    #[default]
    Tcp,
    /// UDP.
    Udp,
}

impl Protocol {
    /// The Tcl spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

/// A host whose faild is polled.
#[derive(Debug, Clone, PartialEq)]
pub struct HostDef {
    /// Name as used in masters/slaves lists.
    pub name: String,
    /// Address to contact (None: resolve the name).
    pub address: Option<String>,
    /// faild port.
    pub port: u16,
    /// Transport.
    pub protocol: Protocol,
    /// Community presented to the host's faild.
    pub community: String,
}

impl HostDef {
    /// A host with the defaults.
    pub fn new(name: &str) -> Self {
        HostDef {
            name: name.to_string(),
            address: None,
            port: DEFAULT_PORT,
            protocol: Protocol::Tcp,
            community: DEFAULT_COMMUNITY.to_string(),
        }
    }
}

/// A service watched by failsh.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceDef {
    /// Service name (normally its address).
    pub name: String,
    /// Poll interval in milliseconds.
    pub interval_ms: u64,
    /// Poll reply timeout (None: the interval).
    pub timeout_ms: Option<u64>,
    /// Consecutive failed polls before a host counts as FAIL (None: 1).
    pub misses: Option<u32>,
    /// Time limit of each procedure run (None: [`DEFAULT_LIMIT_MS`]); past it the
    /// procedure is killed and counts as failed.
    pub limit_ms: Option<u64>,
    /// Master hosts.
    pub masters: Vec<String>,
    /// Slave hosts.
    pub slaves: Vec<String>,
    /// Procedure that starts the service.
    pub start: Option<String>,
    /// Procedure that stops the service.
    pub stop: Option<String>,
    /// Procedure that reclaims the service from an erratic slave.
    pub reclaim: Option<String>,
    /// Health check procedure.
    pub check: Option<String>,
    /// Procedure called on every state change (`failtrap`).
    pub trap: Option<String>,
    /// Interfaces whose carrier the service needs (`failsvc S track IF...`).
    pub track: Vec<String>,
    /// Kernel lifetime of its `ipaddr` addresses and faild's UP lease, in whole seconds.
    pub lease_s: Option<u64>,
    /// `failsvc S fence wait`: wait out a silent master's lease before taking over.
    pub fence_wait: bool,
    /// Where each subcommand (`create`, `start`, ..., and `trap` for `failtrap`) was last
    /// given: file and line, for messages that name them.
    pub at: BTreeMap<String, (String, usize)>,
}

impl ServiceDef {
    /// `FILE:LINE: ` of where `what` was given (else of `create`), for a message.
    pub fn location(&self, what: &str) -> String {
        self.at
            .get(what)
            .or_else(|| self.at.get("create"))
            .map_or(String::new(), |(file, line)| format!("{file}:{line}: "))
    }
}

impl ServiceDef {
    /// A service with the defaults.
    pub fn new(name: &str) -> Self {
        ServiceDef {
            name: name.to_string(),
            interval_ms: DEFAULT_INTERVAL_MS,
            timeout_ms: None,
            misses: None,
            limit_ms: None,
            masters: Vec::new(),
            slaves: Vec::new(),
            start: None,
            stop: None,
            reclaim: None,
            check: None,
            trap: None,
            track: Vec::new(),
            lease_s: None,
            fence_wait: false,
            at: BTreeMap::new(),
        }
    }
}

/// Everything a failsh configuration defines.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FailshConfig {
    /// Services by name.
    pub services: BTreeMap<String, ServiceDef>,
    /// Hosts by name.
    pub hosts: BTreeMap<String, HostDef>,
}

const SVC_SUBCOMMANDS: &[&str] = &[
    "check", "create", "fence", "interval", "lease", "limit", "masters", "misses", "reclaim",
    "slaves", "start", "stop", "timeout", "track",
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

fn add_hosts(cfg: &mut FailshConfig, names: &[String]) {
    for n in names {
        cfg.hosts
            .entry(n.clone())
            .or_insert_with(|| HostDef::new(n));
    }
}

fn failsvc(cfg: &Mutex<FailshConfig>, args: &[String]) -> TclResult {
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
    let mut cfg = cfg.lock().unwrap_or_else(|p| p.into_inner());
    if sub == "create" {
        if !rest.is_empty() {
            return wrong_args(&format!("{cmd} serviceName create"));
        }
        if SVC_SUBCOMMANDS.contains(&name.as_str()) {
            return err(format!(
                "missing service name: should be \"{cmd} serviceName {name} ...\""
            ));
        }
        if cfg.services.contains_key(name) {
            return err(format!("service \"{name}\" already exists"));
        }
        cfg.services.insert(name.clone(), ServiceDef::new(name));
        return Ok(name.clone());
    }
    let usage = match sub {
        "interval" | "timeout" | "limit" | "lease" => "seconds",
        "misses" => "count",
        "masters" | "slaves" => "hostList",
        "track" => "interface ?interface ...?",
        "fence" => "wait|none",
        _ => "procName",
    };
    let variadic = sub == "track";
    if (rest.len() > 1 && !variadic)
        || (rest.is_empty() && !matches!(sub, "masters" | "slaves" | "track"))
    {
        return wrong_args(&format!("{cmd} serviceName {sub} {usage}"));
    }
    if !cfg.services.contains_key(name) {
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
    if rest.is_empty() {
        let s = &cfg.services[name];
        let v = match sub {
            "masters" => &s.masters,
            "slaves" => &s.slaves,
            _ => &s.track,
        };
        return Ok(make_list(v));
    }
    if sub == "track" {
        return track(&mut cfg, name, rest);
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
            if let Some(s) = cfg.services.get_mut(name) {
                s.lease_s = Some(seconds);
            }
        }
        "fence" => {
            let wait = match v.as_str() {
                "wait" => true,
                "none" => false,
                _ => return err(format!("bad fence \"{v}\": must be wait or none")),
            };
            if let Some(s) = cfg.services.get_mut(name) {
                s.fence_wait = wait;
            }
        }
        "interval" => {
            let ms = seconds_ms("interval", v)?;
            if let Some(s) = cfg.services.get_mut(name) {
                s.interval_ms = ms;
            }
        }
        "timeout" => {
            let ms = seconds_ms("timeout", v)?;
            if let Some(s) = cfg.services.get_mut(name) {
                s.timeout_ms = Some(ms);
            }
        }
        "limit" => {
            let ms = seconds_ms("limit", v)?;
            if let Some(s) = cfg.services.get_mut(name) {
                s.limit_ms = Some(ms);
            }
        }
        "misses" => {
            let m = match v.trim().parse::<u32>() {
                Ok(m) if m >= 1 => m,
                _ => {
                    return err(format!(
                        "bad misses \"{v}\": must be an integer of at least 1"
                    ))
                }
            };
            if let Some(s) = cfg.services.get_mut(name) {
                s.misses = Some(m);
            }
        }
        "masters" | "slaves" => {
            let hosts = parse_list(v).map_err(TclError::new)?;
            if let Some(h) = hosts.iter().find(|h| h.is_empty()) {
                return err(format!("bad host name \"{h}\" in {sub} list"));
            }
            add_hosts(&mut cfg, &hosts);
            let s = cfg.services.get_mut(name).expect("checked above");
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
            let s = cfg.services.get_mut(name).expect("checked above");
            let slot = match sub {
                "start" => &mut s.start,
                "stop" => &mut s.stop,
                "reclaim" => &mut s.reclaim,
                _ => &mut s.check,
            };
            *slot = Some(v.clone());
        }
    }
    Ok(v.clone())
}

/// `failsvc S track IF ...` (or one list of interfaces): interfaces whose carrier the service
/// needs. failsh watches them through rtnetlink, which exists on Linux only.
fn track(cfg: &mut FailshConfig, name: &str, args: &[String]) -> TclResult {
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
    let s = cfg.services.get_mut(name).expect("checked by the caller");
    for interface in interfaces {
        if !s.track.contains(&interface) {
            s.track.push(interface);
        }
    }
    Ok(make_list(&s.track))
}

const HOST_OPTIONS: &[&str] = &["address", "community", "port", "protocol"];

fn failhost(cfg: &Mutex<FailshConfig>, args: &[String]) -> TclResult {
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
    let mut cfg = cfg.lock().unwrap_or_else(|p| p.into_inner());
    let h = cfg
        .hosts
        .entry(name.clone())
        .or_insert_with(|| HostDef::new(name));
    match opt {
        "address" => {
            if v.trim().is_empty() || v.contains(char::is_whitespace) {
                return err(format!(
                    "bad address \"{v}\": must be a host name or an IP address"
                ));
            }
            h.address = Some(v.clone());
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

fn failtrap(cfg: &Mutex<FailshConfig>, args: &[String]) -> TclResult {
    if args.len() != 3 {
        return wrong_args(&format!("{} serviceName procName", args[0]));
    }
    let mut cfg = cfg.lock().unwrap_or_else(|p| p.into_inner());
    let Some(s) = cfg.services.get_mut(&args[1]) else {
        return err(format!(
            "no service \"{}\": create it first with \"failsvc {} create\"",
            args[1], args[1]
        ));
    };
    s.trap = Some(args[2].clone());
    Ok(args[2].clone())
}

/// Records where `what` of `service` was given, so that a later check can name the line.
fn remember(cfg: &Mutex<FailshConfig>, interp: &Interp, service: &str, what: Option<&str>) {
    let (Some(what), Some(location)) = (what, interp.current_location()) else {
        return;
    };
    let mut cfg = cfg.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(s) = cfg.services.get_mut(service) {
        s.at.insert(what.to_string(), location);
    }
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

/// Register `failsvc`, `failhost` and `failtrap` in `interp`, recording into `cfg`.
pub fn register_commands(interp: &mut Interp, cfg: Arc<Mutex<FailshConfig>>) {
    let c = cfg.clone();
    interp.register(
        "failsvc",
        Arc::new(move |it: &mut Interp, a: &[String]| {
            let result = failsvc(&c, a)?;
            remember(&c, it, &a[1], a.get(2).map(String::as_str));
            Ok(result)
        }),
    );
    let c = cfg.clone();
    interp.register(
        "failhost",
        Arc::new(move |_it: &mut Interp, a: &[String]| failhost(&c, a)),
    );
    interp.register(
        "failtrap",
        Arc::new(move |it: &mut Interp, a: &[String]| {
            let result = failtrap(&cfg, a)?;
            remember(&cfg, it, &a[1], Some("trap"));
            Ok(result)
        }),
    );
}

/// A loaded configuration: the model and the interpreter that holds its
/// procedures (failsh calls them with [`Interp::call_proc`]).
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    /// The services and hosts.
    pub config: FailshConfig,
    /// The interpreter after evaluating the file.
    pub interp: Interp,
}

/// Load a configuration from text; `file` names it in error traces.
/// `setup` may register further host commands (e.g. `grarp`) first.
pub fn load_str_with(
    text: &str,
    file: &str,
    setup: impl FnOnce(&mut Interp),
) -> Result<LoadedConfig, TclError> {
    let cfg = Arc::new(Mutex::new(FailshConfig::default()));
    let mut interp = Interp::new();
    register_commands(&mut interp, cfg.clone());
    setup(&mut interp);
    interp.eval_source(text, file)?;
    let config = cfg.lock().unwrap_or_else(|p| p.into_inner()).clone();
    Ok(LoadedConfig { config, interp })
}

/// Load a configuration from text.
pub fn load_str(text: &str, file: &str) -> Result<LoadedConfig, TclError> {
    load_str_with(text, file, |_| {})
}

/// Load a configuration file.
pub fn load_file(path: &Path) -> Result<LoadedConfig, TclError> {
    load_file_with(path, |_| {})
}

/// Load a configuration file; `setup` may register further host commands
/// (failsh registers `grarp`) before the file runs.
pub fn load_file_with(
    path: &Path,
    setup: impl FnOnce(&mut Interp),
) -> Result<LoadedConfig, TclError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| TclError::new(format!("couldn't read file \"{}\": {e}", path.display())))?;
    load_str_with(&text, &path.display().to_string(), setup)
}

/// Problems that make a loaded configuration unusable: services without
/// start/stop procedures, or naming procedures that are not defined.
pub fn validate(loaded: &LoadedConfig) -> Vec<String> {
    let mut errs = Vec::new();
    for (name, s) in &loaded.config.services {
        for (what, p, required) in [
            ("start", &s.start, true),
            ("stop", &s.stop, true),
            ("reclaim", &s.reclaim, false),
            ("check", &s.check, false),
            ("trap", &s.trap, false),
        ] {
            match p {
                None if required => errs.push(format!(
                    "{}service \"{name}\" has no {what} procedure (failsvc {name} {what} procName)",
                    s.location("create")
                )),
                Some(p) if !loaded.interp.has_command(p) => errs.push(format!(
                    "{}service \"{name}\": {what} procedure \"{p}\" is not defined",
                    s.location(what)
                )),
                _ => {}
            }
        }
        if let Some(h) = s.masters.iter().find(|h| s.slaves.contains(h)) {
            // The later of the two lists is the one that made the clash.
            let later = ["masters", "slaves"]
                .into_iter()
                .max_by_key(|w| s.at.get(*w).map(|(_, line)| *line))
                .unwrap_or("slaves");
            errs.push(format!(
                "{}service \"{name}\": host \"{h}\" is both a master and a slave",
                s.location(later)
            ));
        }
        if s.fence_wait && s.lease_s.is_none() {
            errs.push(format!(
                "{}service \"{name}\": fence wait needs a lease (failsvc {name} lease SECONDS): it waits the master's lease out",
                s.location("fence")
            ));
        }
    }
    errs
}

/// What is allowed but probably not meant: a tracked interface that this host does not
/// have (yet), a lease whose procedures never add an address with `ipaddr`. `failsh -t`
/// prints them; the daemon logs them.
pub fn warnings(loaded: &LoadedConfig) -> Vec<String> {
    let mut warnings = Vec::new();
    for (name, s) in &loaded.config.services {
        for interface in &s.track {
            if cfg!(target_os = "linux") && !Path::new("/sys/class/net").join(interface).exists() {
                warnings.push(format!(
                    "{}warning: service \"{name}\": tracked interface \"{interface}\" does not exist on this host: the service counts as FAIL here until it appears with its carrier",
                    s.location("track")
                ));
            }
        }
        if s.lease_s.is_some() {
            let procedures = [&s.start, &s.reclaim, &s.stop];
            let calls_ipaddr = procedures
                .iter()
                .filter_map(|p| p.as_deref())
                .any(|p| calls_command(&loaded.interp, p, "ipaddr"));
            if !calls_ipaddr {
                warnings.push(format!(
                    "{}warning: service \"{name}\": lease {}: its procedures never call ipaddr, so no address gets a kernel lifetime (only faild's UP record has a lease); add addresses with `ipaddr add`",
                    s.location("lease"),
                    s.lease_s.unwrap_or(0)
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

/// Describe a configuration for operators (communities are masked as `***`).
pub fn describe(cfg: &FailshConfig) -> String {
    let mut o = String::new();
    let opt = |p: &Option<String>| p.clone().unwrap_or_else(|| "-".into());
    let hosts = |v: &[String]| {
        if v.is_empty() {
            "(none)".to_string()
        } else {
            v.join(" ")
        }
    };
    for s in cfg.services.values() {
        let _ = writeln!(
            o,
            "service {}: interval {}, timeout {}, misses {}, limit {}",
            s.name,
            secs(s.interval_ms),
            s.timeout_ms
                .map(secs)
                .unwrap_or_else(|| format!("{} (interval)", secs(s.interval_ms))),
            s.misses
                .map(|m| m.to_string())
                .unwrap_or_else(|| "1 (default)".into()),
            s.limit_ms
                .map(secs)
                .unwrap_or_else(|| format!("{} (default)", secs(DEFAULT_LIMIT_MS))),
        );
        let _ = writeln!(o, "  masters: {}", hosts(&s.masters));
        let _ = writeln!(o, "  slaves: {}", hosts(&s.slaves));
        if !s.track.is_empty() || s.lease_s.is_some() || s.fence_wait {
            let _ = writeln!(
                o,
                "  track: {}; lease: {}; fence: {}",
                if s.track.is_empty() {
                    "(none)".to_string()
                } else {
                    s.track.join(" ")
                },
                s.lease_s.map_or("(none)".to_string(), |l| format!("{l}s")),
                if s.fence_wait { "wait" } else { "none" }
            );
        }
        let _ = writeln!(
            o,
            "  procedures: start {}, stop {}, reclaim {}, check {}, trap {}",
            opt(&s.start),
            opt(&s.stop),
            opt(&s.reclaim),
            opt(&s.check),
            opt(&s.trap)
        );
    }
    for h in cfg.hosts.values() {
        let _ = writeln!(
            o,
            "host {}: address {}, port {}, protocol {}, community ***",
            h.name,
            h.address.as_deref().unwrap_or("(name)"),
            h.port,
            h.protocol.as_str()
        );
    }
    o
}

/// What `failsh -t -f FILE` does: load and validate. Ok: the description to
/// print. Err: the error texts (Tcl traces with file and line).
pub fn check_file(path: &Path) -> Result<(LoadedConfig, String), Vec<String>> {
    check_file_with(path, |_| {})
}

/// [`check_file`] with further host commands registered by `setup` first.
pub fn check_file_with(
    path: &Path,
    setup: impl FnOnce(&mut Interp),
) -> Result<(LoadedConfig, String), Vec<String>> {
    let loaded = load_file_with(path, setup).map_err(|e| vec![e.info])?;
    let errs = validate(&loaded);
    if !errs.is_empty() {
        return Err(errs);
    }
    let d = describe(&loaded.config);
    Ok((loaded, d))
}
