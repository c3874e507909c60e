//! failsh: the failover shell. Reads a Tcl configuration, drives the core's decision machine
//! with the chosen runtime, runs the service procedures, writes states into the local faild,
//! serves the monitor (and debug) port, and reacts to SIGTERM, SIGHUP and SIGINT.

pub mod dump;
pub mod grarp;
pub mod hooks;
pub mod ipaddr;
pub mod load;
pub mod metrics;
pub mod monitor;
pub mod notify;
pub mod trace;

use crate::logging::{self, Level, Output};
use failover_core::drive::shell::{Control, ShellHandle, ShellOptions};
use hooks::{FailshHooks, SharedProcedures};
use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

pub const DEFAULT_DUMP_FILE: &str = "/var/tmp/failsh.dump";

/// Where the monitor and debug ports listen without `-a`: loopback only.
pub const DEFAULT_LISTEN_ADDRESS: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuntimeKind {
    Smol,
    Blocking,
}

impl RuntimeKind {
    /// smol when this build has it, else the blocking runtime.
    pub const DEFAULT: RuntimeKind = if cfg!(feature = "runtime-smol") {
        RuntimeKind::Smol
    } else {
        RuntimeKind::Blocking
    };
}

/// The command line of failsh, parsed.
#[derive(Clone, Debug)]
pub struct Options {
    pub tclfile: PathBuf,
    pub foreground: bool,
    /// `-d facility` or `-d facility=level` (level debug when not given).
    pub debug_facilities: Vec<String>,
    /// Community for faildebug clients; `None`: `public`, with a warning.
    pub community: Option<String>,
    pub dumpfile: PathBuf,
    /// `-a ADDR`: the address the monitor and debug ports listen on (default 127.0.0.1, so
    /// that they are not reachable from other hosts unless asked for).
    pub listen_address: IpAddr,
    /// 0: no monitor port.
    pub monitor_port: u16,
    pub debug_port: Option<u16>,
    /// `--metrics ADDR:PORT`: the Prometheus endpoint (default: none).
    pub metrics: Option<std::net::SocketAddr>,
    /// `--notify PATH`: one line per change of state there (a file or FIFO).
    pub notify: Option<PathBuf>,
    pub pidfile: Option<PathBuf>,
    pub keep_services: bool,
    pub runtime: RuntimeKind,
    pub record: Option<PathBuf>,
    pub local_host: String,
    pub seed: Option<u64>,
}

impl Options {
    pub fn new(tclfile: PathBuf) -> Options {
        Options {
            tclfile,
            foreground: false,
            debug_facilities: Vec::new(),
            community: None,
            dumpfile: PathBuf::from(DEFAULT_DUMP_FILE),
            listen_address: DEFAULT_LISTEN_ADDRESS,
            monitor_port: crate::monitor::DEFAULT_MONITOR_PORT,
            debug_port: None,
            metrics: None,
            notify: None,
            pidfile: None,
            keep_services: false,
            runtime: RuntimeKind::DEFAULT,
            record: None,
            local_host: crate::config::DEFAULT_LOCAL_HOST.to_string(),
            seed: None,
        }
    }
}

/// Runs failsh until SIGTERM's handover ends. `Err` is a message for standard error (the
/// configuration, a port or a file that cannot be used).
pub fn run(options: Options) -> Result<(), String> {
    let levels = logging::global("failsh");
    let sink = logging::init(levels.clone(), Output::stderr());
    for spec in &options.debug_facilities {
        let (facility, level) = match spec.split_once('=') {
            Some((f, l)) => (f, l.parse::<Level>()?),
            None => (spec.as_str(), Level::Debug),
        };
        levels.set(facility, level)?;
    }
    let loaded = load::load(&options.tclfile, &options.local_host)?;
    let foreground = options.foreground || !options.debug_facilities.is_empty();
    // First of all the ports and files, so that a second failsh with this pid file says
    // why it cannot start, whatever else it shares; before detaching, so that this reaches
    // the terminal. The detached child keeps the lock (see crate::lock).
    let mut pid_lock = match &options.pidfile {
        None => None,
        Some(path) => Some(
            crate::lock::Lock::acquire(path).map_err(|error| match error {
                crate::lock::LockError::Busy { .. } => format!(
                    "{} is in use by {} (another failsh runs with this pid file)",
                    path.display(),
                    error.holder()
                ),
                crate::lock::LockError::Io(e) => {
                    format!("cannot write pid file {}: {e}", path.display())
                }
            })?,
        ),
    };
    // Ports and files are opened before detaching, so that their errors reach the terminal.
    let monitor_listener = match options.monitor_port {
        0 => None,
        port => Some(
            TcpListener::bind((options.listen_address, port)).map_err(|e| {
                format!(
                    "cannot listen on monitor port {port} of {}: {e}",
                    options.listen_address
                )
            })?,
        ),
    };
    let debug_listener = match options.debug_port {
        None => None,
        Some(port) => Some(
            TcpListener::bind((options.listen_address, port)).map_err(|e| {
                format!(
                    "cannot listen on debug port {port} of {}: {e}",
                    options.listen_address
                )
            })?,
        ),
    };
    let metrics_listener = match options.metrics {
        None => None,
        Some(address) => Some(
            TcpListener::bind(address)
                .map_err(|e| format!("cannot listen on metrics address {address}: {e}"))?,
        ),
    };
    let seed = match options.seed {
        Some(seed) => seed,
        None => crate::faild::system::random_u64().map_err(|e| format!("no random seed: {e}"))?,
    };
    let recorder = match &options.record {
        None => None,
        Some(path) => Some(
            trace::Recorder::create(path, &loaded.core, seed)
                .map_err(|e| format!("cannot write trace {}: {e}", path.display()))?,
        ),
    };
    if !foreground {
        // Before any thread exists: fork keeps only the calling thread.
        nix::unistd::daemon(false, false).map_err(|e| format!("cannot detach: {e}"))?;
    }
    if !foreground {
        sink.set_output(Output::Syslog);
    }
    if let Some(lock) = pid_lock.as_mut() {
        lock.write_pid()
            .map_err(|e| format!("cannot write pid file {}: {e}", lock.path().display()))?;
    }
    let started = Instant::now();
    let monitor = match monitor_listener {
        None => None,
        Some(listener) => Some(
            monitor::MonitorServer::start(listener, started)
                .map_err(|e| format!("cannot start the monitor port: {e}"))?,
        ),
    };
    let _debug_port = match debug_listener {
        None => None,
        Some(listener) => {
            let community = options.community.clone().unwrap_or_else(|| {
                log::warn!(
                    target: "debug",
                    "debug port community is \"public\": anybody can raise log levels (use -c)"
                );
                "public".to_string()
            });
            Some(
                crate::debugport::serve(listener, community, levels.applier())
                    .map_err(|e| format!("cannot start the debug port: {e}"))?,
            )
        }
    };
    let procedures: SharedProcedures = Arc::new(Mutex::new(Arc::new(loaded.procedures)));
    let node = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|n| n.trim().to_string())
        .ok()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "localhost".to_string());
    let mut hooks = FailshHooks::new(
        procedures.clone(),
        recorder,
        monitor,
        dump::Dumper::new(options.dumpfile.clone()),
        node,
    );
    if let Some(listener) = metrics_listener {
        let metrics = metrics::Metrics::start(listener)
            .map_err(|e| format!("cannot start the metrics endpoint: {e}"))?;
        log::info!(target: "monitor", "metrics on http://{}/metrics", metrics.local_addr());
        hooks.metrics = Some(metrics);
    }
    hooks.notify_file = options.notify.clone().map(notify::Notifier::new);
    let shell_options = ShellOptions {
        config: loaded.core,
        seed,
    };
    log::info!(
        target: "config",
        "failsh {} started with {} ({:?} runtime, seed {seed})",
        env!("CARGO_PKG_VERSION"),
        options.tclfile.display(),
        options.runtime
    );
    // Configuration loaded: tell systemd (Type=notify) we are ready; a no-op outside systemd.
    let _ = crate::sdnotify::notify_ready();
    let reload = Reload {
        path: options.tclfile.clone(),
        local_host: options.local_host.clone(),
        procedures,
    };
    crate::resident::release_startup_code();
    crate::resident::release_when_settled();
    let result = match options.runtime {
        #[cfg(feature = "runtime-smol")]
        RuntimeKind::Smol => {
            let runner = failover_runtime_smol::shell::ShellRunner::new(shell_options);
            watch_links(runner.handle())?;
            watch_signals(runner.handle(), options.keep_services, reload)?;
            runner.run(hooks)
        }
        _ => {
            let runner = failover_runtime_blocking::shell::ShellRunner::new(shell_options);
            watch_links(runner.handle())?;
            watch_signals(runner.handle(), options.keep_services, reload)?;
            runner.run(hooks)
        }
    };
    if let Some(lock) = pid_lock {
        lock.remove();
    }
    result.map_err(|e| e.to_string())?;
    log::info!(target: "config", "failsh exits");
    Ok(())
}

/// What SIGHUP needs to re-read the configuration.
struct Reload {
    path: PathBuf,
    local_host: String,
    procedures: SharedProcedures,
}

impl Reload {
    /// A broken file is rejected with its error and the running configuration stays; a good
    /// one replaces the procedures and goes to the core, which keeps unchanged services.
    fn reload(&self, handle: &ShellHandle) {
        // systemd (Type=notify-reload): READY=1 follows once the loop has the new
        // configuration (the hooks see it arrive), or at once when it is rejected.
        let _ = crate::sdnotify::notify_reloading();
        match load::load(&self.path, &self.local_host) {
            Err(e) => {
                log::error!(
                    target: "config",
                    "SIGHUP: new configuration rejected, the old one keeps running: {e}"
                );
                let _ = crate::sdnotify::notify_ready();
            }
            Ok(loaded) => {
                let mut procedures = self.procedures.lock().unwrap_or_else(|e| e.into_inner());
                *procedures = Arc::new(procedures.reloaded(loaded.procedures));
                drop(procedures);
                log::info!(
                    target: "config",
                    "SIGHUP: configuration {} reloaded",
                    self.path.display()
                );
                handle.control(Control::Reconfigure(loaded.core));
            }
        }
    }
}

/// Reports the carrier of every interface to the loop: all of them first, then each change,
/// as the kernel announces it (`track`; a reload may track new interfaces, so every one is
/// reported). Linux only; elsewhere the configuration cannot track.
#[cfg(target_os = "linux")]
fn watch_links(handle: ShellHandle) -> Result<(), String> {
    use failover_arp::{LinkEvent, LinkWatcher};
    let mut watcher = match LinkWatcher::open() {
        Ok(watcher) => watcher,
        Err(e) => {
            // Without it a tracked interface is never known: its services stay RECOVER
            // ("waiting for the carrier"). Said loudly rather than failing the start.
            log::error!(target: "net", "cannot watch link carriers (rtnetlink): {e}");
            return Ok(());
        }
    };
    // Which links had no carrier: a carrier that returns is a link that comes back.
    let mut down = std::collections::BTreeSet::new();
    std::thread::Builder::new()
        .name("links".into())
        .spawn(move || loop {
            match watcher.next_events() {
                Ok(events) => {
                    for event in events {
                        let running = match event {
                            LinkEvent::Carrier { interface, up } => {
                                if up && down.remove(&interface) {
                                    // Polls sent while it was down wait in neighbour entries
                                    // whose next solicitation may be a second away: forget
                                    // them so that the next poll resolves its peer at once.
                                    match failover_arp::forget_unresolved_neighbours(&interface) {
                                        Ok(0) => {}
                                        Ok(n) => log::info!(target: "net", "{interface} is back: forgot {n} unresolved neighbour entries so that peers are resolved at once"),
                                        Err(e) => log::warn!(target: "net", "{interface} is back, but its unresolved neighbour entries could not be forgotten ({e}): peers may be heard only after the kernel's next solicitation, up to a second"),
                                    }
                                } else if !up {
                                    down.insert(interface.clone());
                                }
                                handle.control(Control::Link { interface, up })
                            }
                            LinkEvent::DumpDone => handle.control(Control::LinksComplete),
                            LinkEvent::Overrun => {
                                log::warn!(target: "net", "link reports were lost (kernel buffer overrun): asked for all of them again");
                                true
                            }
                        };
                        if !running {
                            return;
                        }
                    }
                }
                Err(e) => {
                    log::error!(target: "net", "link watcher: {e}");
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
            }
        })
        .map_err(|e| format!("cannot start the link watcher: {e}"))?;
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn watch_links(_handle: ShellHandle) -> Result<(), String> {
    Ok(())
}

fn watch_signals(handle: ShellHandle, keep_services: bool, reload: Reload) -> Result<(), String> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGHUP, SIGINT])
        .map_err(|e| format!("cannot install signal handlers: {e}"))?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                match signal {
                    SIGTERM => {
                        let _ = crate::sdnotify::notify_stopping();
                        log::info!(
                            target: "config",
                            "{}",
                            if keep_services {
                                "SIGTERM: exiting, services keep running (-k)"
                            } else {
                                "SIGTERM: handing services over"
                            }
                        );
                        handle.control(Control::Shutdown { keep_services });
                    }
                    SIGHUP => reload.reload(&handle),
                    SIGINT => {
                        handle.control(Control::Dump);
                    }
                    _ => {}
                }
            }
        })
        .map_err(|e| format!("cannot start the signal thread: {e}"))?;
    Ok(())
}

/// `failsh -t`: checks the file and describes it; names are resolved only when failsh
/// starts (see [`load::check`]).
pub fn check(path: &Path, local_host: &str) -> Result<load::Checked, String> {
    load::check(path, local_host)
}
