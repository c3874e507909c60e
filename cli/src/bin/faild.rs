//! faild: the per-host state daemon. It stores the state of every service of its host,
//! answers queries and changes over UDP and TCP, and never acts on its own.

use clap::{value_parser, Arg, ArgAction};
use failover_cli::common::{parse_args, program, Runtime};
use failover_cli::faild::{metrics, sockets, state_file, system};
use failover_cli::lock::{Lock, LockError};
use failover_cli::logging::{self, Level, Output};
use failover_cli::sdnotify::Notifier;
use failover_core::community::Communities;
use failover_core::drive::faild::{ExitReason, FaildHooks, FaildOptions};
use failover_core::drive::faild_limits::{
    TcpLimits, DEFAULT_MAX_PER_SOURCE, DEFAULT_MAX_TCP_CONNECTIONS, DEFAULT_MAX_UNAUTHENTICATED,
    DEFAULT_TCP_FRAME_TIMEOUT_MS, DEFAULT_TCP_IDLE_TIMEOUT_MS,
    DEFAULT_TCP_UNAUTHENTICATED_IDLE_TIMEOUT_MS,
};
use failover_core::store::{Store, StoreConfig};
use failover_core::wire::DEFAULT_PORT;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The state file when neither -s nor FAILD_STATEFILE names one.
const DEFAULT_STATE_FILE: &str = "/var/lib/failover/faild.state";

const HELP: &str = "\
NAME
    faild - failover state daemon: stores and serves the states of this host's services

SYNOPSIS
    faild [-c communityfile] [-s statefile] [-r pidfile] [-d facility]... [-u user] [-FmUTV]
          [-n increment] [-a address] [-p port] [--no-udp] [--no-tcp]
          [--runtime smol|blocking] [--tcp-idle-timeout ms] [--tcp-frame-timeout ms]
          [--tcp-unauthenticated-idle-timeout ms] [--max-connections n]
          [--max-unauthenticated n] [--max-per-source n]
          [-D debugport [--debug-community community]] [--metrics address:port]
    faild -h | --help

DESCRIPTION
    faild remembers, for every service of its host, a state (UP, RECOVER or FAIL), the
    name of the backup host and the time of the last change. failsh on this and the other
    hosts polls it and writes the local state into it; init scripts and operators change
    states with failc and read them with failstat. faild never starts or stops anything.

    It serves UDP datagrams and TCP connections (length-prefixed frames on persistent
    connections, many at once) on the same port. Every request is signed with HMAC-SHA256
    keyed by a community, so the community never travels; every reply is bound to its
    request's nonce; a change carries a single-use challenge. Requests no community
    verifies are refused and logged with the sender's address, never the community.

    Every change is written to the state file before it is acknowledged, atomically (a
    temporary file in the same directory, fsync, rename, fsync of the directory), and the
    file is read at start, so states and times of last change survive a restart or a crash.
    A state file or community file that cannot be read or parsed stops faild with a
    message naming the file, the line and the problem; faild never overwrites it.

    By default faild detaches from the terminal and logs to syslog (facility daemon); with
    -F it stays in the foreground and logs to standard error. It binds its sockets before
    detaching, so a port in use is reported to the caller and faild is ready to answer
    when the starting command returns.

OPTIONS
    -c communityfile
        Who may read and change what. One entry a line, # starts a comment:
            service|* community RO|RW [address/prefix ...]
        The optional networks limit where the community is accepted from. Lines naming a
        service shadow the * lines for that service; among the lines that apply the
        strongest access wins. Example, for the seed's init scripts:
            * public RW 127.0.0.1/32
            * public RO
            * genesis RW
        Without -c: community public, read-only, for every service, and a warning.
    -s statefile
        The state file. Default: the environment variable FAILD_STATEFILE, else
        /var/lib/failover/faild.state. Its directory must exist and be writable. A missing
        file is an empty state (first start). faild holds an exclusive lock (flock) on
        statefile.lock beside it, which holds its process id: a second faild on the same
        state file refuses to start, naming the first one's pid.
    -r pidfile
        Write the daemon's process id there; removed on a clean exit. The file is locked
        while faild runs: a second faild with the same pid file refuses to start.
    -d facility
        Log facility at debug level; repeatable. Facilities: store (state changes, the
        state file), net (refused and malformed requests, connections), config (community
        file, signals), or all. faildebug uses the same names.
    -u user
        Switch to user (name or uid) and its groups after binding and reading the files.
    -F
        Stay in the foreground and log to standard error.
    -m
        Lock all memory (mlockall), so that paging cannot delay an answer long enough to
        cause a false failover. Needs root or CAP_IPC_LOCK.
    -n increment
        Add increment to the nice value; negative raises the priority (needs root), e.g.
        -n -10.
    -a address
        Address to bind. Default :: (every IPv6 and IPv4 address), or 0.0.0.0 where the
        system has no IPv6.
    -p port
        Port for UDP and TCP. Default 1291.
    -U, -T
        Accepted for the original's scripts (the seed starts faild -U); faild always
        serves both UDP and TCP.
    --no-udp, --no-tcp
        Do not serve UDP, or TCP.
    --runtime smol|blocking
        The socket runtime: smol (one thread, the default) or blocking (std threads, one
        per TCP connection). Both behave the same.
    --tcp-idle-timeout ms
        Close an authenticated TCP connection (one that faild has sent an authenticated
        reply) that sent nothing for this long; also reaps half-open connections. Default
        60000.
    --tcp-unauthenticated-idle-timeout ms
        The same for a connection not authenticated yet. Default 5000.
    --tcp-frame-timeout ms
        A frame (request) must arrive whole within this long of its first byte, or the
        connection is closed; trickled bytes do not extend it. Default 1000.
    --max-connections n
        TCP connections served at once. Default 256. A new connection beyond this, or
        beyond --max-unauthenticated or --max-per-source, closes the oldest
        unauthenticated connection (of its source, for the last); authenticated
        connections are never closed to make room. Only when every slot is held by an
        authenticated connection is a new one closed right after accept (failc and
        failstat then exit 3).
    --max-unauthenticated n
        Unauthenticated TCP connections at once. Default 64. Their frames may be at most
        16384 bytes long.
    --max-per-source n
        Unauthenticated TCP connections from one address (an IPv6 /64) at once, and,
        separately, authenticated ones. Default 16.
    -D debugport
        Serve faildebug on this TCP port, so log levels can be changed at run time
        (`faildebug -p debugport [-c community] host facility level`). It listens on the
        -a address, or on 127.0.0.1 without -a. Off by default.
    --debug-community community
        The community faildebug must prove (it never travels in clear). Default public,
        with a warning.
    --metrics address:port
        Serve Prometheus metrics at http://address:port/metrics: the stored states,
        requests by kind, authentication failures, TCP connections refused and evicted
        (per-source limit too), state file writes, process metrics (docs/metrics.md).
        Bound before detaching. Off by default; pick an address only scrapers reach.
    --journal
        Log to standard error with <N> priority prefixes (what journald reads), also when
        JOURNAL_STREAM does not name standard error. Implies nothing else; use with -F.
    -V, --version
        Show the version and exit.
    -h, --help
        Show this help and exit.

SIGNALS
    SIGTERM, SIGINT
        Exit cleanly (the state file is always current).
    SIGHUP
        Re-read the community file. A broken file is reported (file, line, problem) and
        the communities in force stay.

SYSTEMD
    Under Type=notify (NOTIFY_SOCKET set) faild sends READY=1 once its sockets are bound,
    STATUS= lines (3 services: 2 UP, 1 FAIL; 4 clients ...), WATCHDOG=1 from its loop at
    half of WatchdogSec= (so a hung loop gets it restarted), RELOADING=1 and READY=1
    around a SIGHUP re-read (Type=notify-reload), and STOPPING=1 on SIGTERM. In the
    foreground under systemd (JOURNAL_STREAM naming standard error, or --journal) lines
    carry <N> priority prefixes, so journalctl -p err shows errors only.

STATE FILE
    Text, one service a line, between a header and a count:
        failover-faild-state 1
        198.18.0.50 RECOVER 1718000000000 macbeth
        end 1
    (service, state, time of last change in Unix milliseconds, backup or -; names are
    percent-encoded). The end line detects a file cut short.

EXIT STATUS
    0   stopped by SIGTERM or SIGINT
    1   a file cannot be read or parsed, a socket cannot be bound, the state file or the
        pid file is in use by another faild, another start-up error
    2   usage error

EXAMPLES
    faild -c /etc/failover/communities -s /var/lib/failover/faild.state -r /run/faild.pid
        A detached faild on port 1291.
    faild -F -d net -c communities -s /tmp/faild.state -a 127.0.0.1 -p 11291
        In the foreground, tracing refused requests and connections.

SEE ALSO
    failc(1), failstat(1), failsh(8), faildebug(1)
";

#[derive(Debug)]
struct Cli {
    community_file: Option<PathBuf>,
    state_file: Option<PathBuf>,
    pid_file: Option<PathBuf>,
    debug: Vec<String>,
    user: Option<String>,
    foreground: bool,
    lock_memory: bool,
    nice: Option<i32>,
    address: Option<IpAddr>,
    port: u16,
    no_udp: bool,
    no_tcp: bool,
    runtime: Runtime,
    tcp_idle_timeout_ms: u64,
    tcp_unauthenticated_idle_timeout_ms: u64,
    tcp_frame_timeout_ms: u64,
    max_connections: usize,
    max_unauthenticated: usize,
    max_per_source: usize,
    debug_port: Option<u16>,
    debug_community: Option<String>,
    metrics: Option<SocketAddr>,
    journal: bool,
}

fn parse() -> Result<Cli, ExitCode> {
    let value = |id: &'static str, short: char, name: &'static str| {
        Arg::new(id).short(short).value_name(name)
    };
    let flag = |id: &'static str, short: char| Arg::new(id).short(short).action(ArgAction::SetTrue);
    let long = |id: &'static str, name: &'static str| Arg::new(id).long(id).value_name(name);
    let command = program("faild", HELP)
        .arg(value("c", 'c', "communityfile").value_parser(value_parser!(PathBuf)))
        .arg(value("s", 's', "statefile").value_parser(value_parser!(PathBuf)))
        .arg(value("r", 'r', "pidfile").value_parser(value_parser!(PathBuf)))
        .arg(value("d", 'd', "facility").action(ArgAction::Append))
        .arg(value("u", 'u', "user"))
        .arg(flag("F", 'F'))
        .arg(flag("m", 'm'))
        .arg(
            value("n", 'n', "increment")
                .allow_negative_numbers(true)
                .value_parser(value_parser!(i32)),
        )
        .arg(value("a", 'a', "address").value_parser(value_parser!(IpAddr)))
        .arg(value("p", 'p', "port").value_parser(value_parser!(u16)))
        .arg(flag("U", 'U'))
        .arg(flag("T", 'T'))
        .arg(Arg::new("no-udp").long("no-udp").action(ArgAction::SetTrue))
        .arg(Arg::new("no-tcp").long("no-tcp").action(ArgAction::SetTrue))
        .arg(Runtime::arg())
        .arg(long("tcp-idle-timeout", "ms").value_parser(value_parser!(u64)))
        .arg(long("tcp-unauthenticated-idle-timeout", "ms").value_parser(value_parser!(u64)))
        .arg(long("tcp-frame-timeout", "ms").value_parser(value_parser!(u64)))
        .arg(long("max-connections", "n").value_parser(value_parser!(usize)))
        .arg(long("max-unauthenticated", "n").value_parser(value_parser!(usize)))
        .arg(long("max-per-source", "n").value_parser(value_parser!(usize)))
        .arg(value("D", 'D', "debugport").value_parser(value_parser!(u16)))
        .arg(long("debug-community", "community"))
        .arg(long("metrics", "address:port").value_parser(value_parser!(SocketAddr)))
        .arg(
            Arg::new("journal")
                .long("journal")
                .action(ArgAction::SetTrue),
        );
    let m = parse_args(command)?;
    let path = |id: &str| m.get_one::<PathBuf>(id).cloned();
    let number = |id: &str, default: u64| m.get_one::<u64>(id).copied().unwrap_or(default);
    let count = |id: &str, default: usize| m.get_one::<usize>(id).copied().unwrap_or(default);
    Ok(Cli {
        community_file: path("c"),
        state_file: path("s"),
        pid_file: path("r"),
        debug: m
            .get_many::<String>("d")
            .map(|d| d.cloned().collect())
            .unwrap_or_default(),
        user: m.get_one::<String>("u").cloned(),
        foreground: m.get_flag("F"),
        lock_memory: m.get_flag("m"),
        nice: m.get_one::<i32>("n").copied(),
        address: m.get_one::<IpAddr>("a").copied(),
        port: m.get_one::<u16>("p").copied().unwrap_or(DEFAULT_PORT),
        no_udp: m.get_flag("no-udp"),
        no_tcp: m.get_flag("no-tcp"),
        runtime: Runtime::from_matches(&m),
        tcp_idle_timeout_ms: number("tcp-idle-timeout", DEFAULT_TCP_IDLE_TIMEOUT_MS),
        tcp_unauthenticated_idle_timeout_ms: number(
            "tcp-unauthenticated-idle-timeout",
            DEFAULT_TCP_UNAUTHENTICATED_IDLE_TIMEOUT_MS,
        ),
        tcp_frame_timeout_ms: number("tcp-frame-timeout", DEFAULT_TCP_FRAME_TIMEOUT_MS),
        max_connections: count("max-connections", DEFAULT_MAX_TCP_CONNECTIONS),
        max_unauthenticated: count("max-unauthenticated", DEFAULT_MAX_UNAUTHENTICATED),
        max_per_source: count("max-per-source", DEFAULT_MAX_PER_SOURCE),
        debug_port: m.get_one::<u16>("D").copied(),
        debug_community: m.get_one::<String>("debug-community").cloned(),
        metrics: m.get_one::<SocketAddr>("metrics").copied(),
        journal: m.get_flag("journal"),
    })
}

fn main() -> ExitCode {
    let cli = match parse() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    if let Some(why) = cli.runtime.unavailable() {
        eprintln!("faild: {why}");
        return ExitCode::from(2);
    }
    if cli.no_udp && cli.no_tcp {
        eprintln!("faild: --no-udp and --no-tcp together leave nothing to serve");
        return ExitCode::from(2);
    }
    let levels = logging::global("faild");
    logging::init(
        levels.clone(),
        if cli.journal {
            Output::Journal
        } else {
            Output::stderr()
        },
    );
    for facility in &cli.debug {
        if let Err(why) = levels.set(facility, Level::Debug) {
            eprintln!("faild: -d: {why}");
            return ExitCode::from(2);
        }
    }
    match run(cli, levels) {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) => {
            eprintln!("faild: {why}");
            ExitCode::from(1)
        }
    }
}

fn read_communities(path: Option<&Path>) -> Result<Communities, String> {
    let Some(path) = path else {
        return Ok(Communities::default_public_read_only());
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read the community file: {e}", path.display()))?;
    Communities::parse(&text).map_err(|e| format!("{}:{}: {}", path.display(), e.line, e.message))
}

fn state_path(cli: &Cli) -> PathBuf {
    cli.state_file.clone().unwrap_or_else(|| {
        std::env::var_os("FAILD_STATEFILE")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_FILE))
    })
}

/// The lock file of a state file: `STATEFILE.lock` beside it. Not the state file itself,
/// which every change replaces by a rename (a lock on the old file would guard nothing).
fn state_lock_path(state: &Path) -> PathBuf {
    let mut name = state.as_os_str().to_os_string();
    name.push(".lock");
    PathBuf::from(name)
}

/// Locks the state file (its lock file) and writes this process's pid into the lock file at
/// once, so a second faild can name us even before we detach (then it is rewritten). The
/// pid is only for that message: a full disk must not keep faild from serving the states
/// it has, so failing to write it is not an error (the lock is what counts).
fn lock_state_file(state: &Path) -> Result<Lock, String> {
    let path = state_lock_path(state);
    let mut lock = Lock::acquire(&path).map_err(|error| match error {
        LockError::Busy { .. } => format!(
            "{} is in use by {} (lock {})",
            state.display(),
            error.holder(),
            path.display()
        ),
        LockError::Io(e) => format!("{}: cannot lock: {e}", path.display()),
    })?;
    let _ = lock.write_pid();
    Ok(lock)
}

fn lock_pid_file(path: &Path) -> Result<Lock, String> {
    Lock::acquire(path).map_err(|error| match error {
        LockError::Busy { .. } => format!(
            "{} is in use by {} (another faild runs with this pid file)",
            path.display(),
            error.holder()
        ),
        LockError::Io(e) => format!("{}: cannot write the pid file: {e}", path.display()),
    })
}

fn bind(cli: &Cli) -> Result<sockets::Bound, String> {
    let options_for = |address: IpAddr| FaildOptions {
        udp: (!cli.no_udp).then_some(SocketAddr::new(address, cli.port)),
        tcp: (!cli.no_tcp).then_some(SocketAddr::new(address, cli.port)),
        limits: TcpLimits {
            idle_timeout_ms: cli.tcp_idle_timeout_ms,
            unauthenticated_idle_timeout_ms: cli.tcp_unauthenticated_idle_timeout_ms,
            frame_timeout_ms: cli.tcp_frame_timeout_ms,
            max_connections: cli.max_connections,
            max_unauthenticated: cli.max_unauthenticated,
            max_per_source: cli.max_per_source,
        }
        .normalized(),
    };
    match cli.address {
        Some(address) => sockets::bind(&options_for(address)).map_err(|e| e.to_string()),
        None => match sockets::bind(&options_for(IpAddr::V6(Ipv6Addr::UNSPECIFIED))) {
            Ok(bound) => Ok(bound),
            // No IPv6 on this system: serve IPv4 only.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::AddrNotAvailable | io::ErrorKind::Unsupported
                ) || e.raw_os_error() == Some(97) =>
            {
                sockets::bind(&options_for(IpAddr::V4(Ipv4Addr::UNSPECIFIED)))
                    .map_err(|e| e.to_string())
            }
            Err(e) => Err(e.to_string()),
        },
    }
}

fn run(cli: Cli, levels: std::sync::Arc<logging::Levels>) -> Result<(), String> {
    let communities = read_communities(cli.community_file.as_deref())?;
    let state_path = state_path(&cli);
    if let Some(directory) = state_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !directory.is_dir() {
            return Err(format!(
                "{}: the state file's directory does not exist (use -s)",
                state_path.display()
            ));
        }
    }
    // Before reading the state: a second faild on the same file must not even read it,
    // since the first one may be writing it.
    let mut state_lock = lock_state_file(&state_path)?;
    let records = state_file::load(&state_path)?.unwrap_or_default();
    let pid_lock = match &cli.pid_file {
        None => None,
        Some(path) => Some(lock_pid_file(path)?),
    };
    let bound = bind(&cli)?;
    // Bound before detaching, like the service sockets, so a port in use is reported.
    let debug_listener = match cli.debug_port {
        None => None,
        Some(port) => {
            let address = cli.address.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
            Some(
                std::net::TcpListener::bind(SocketAddr::new(address, port))
                    .map_err(|e| format!("cannot bind the debug port {address} {port}: {e}"))?,
            )
        }
    };
    let metrics_listener = match cli.metrics {
        None => None,
        Some(address) => Some(
            std::net::TcpListener::bind(address)
                .map_err(|e| format!("cannot listen on metrics address {address}: {e}"))?,
        ),
    };
    let debug_levels = std::sync::Arc::clone(&levels);
    if !cli.foreground {
        system::detach()?;
    }
    if !cli.foreground {
        logging::init(levels, Output::Syslog);
    }
    if cli.community_file.is_none() {
        log::warn!(
            target: "config",
            "no community file (-c): community public may read every service and nobody may change any"
        );
    }
    let _debug_port = match debug_listener {
        None => None,
        Some(listener) => {
            let community = cli.debug_community.clone().unwrap_or_else(|| {
                log::warn!(
                    target: "config",
                    "debug port community is \"public\": anybody who reaches it can raise log levels (use --debug-community)"
                );
                "public".to_string()
            });
            Some(
                failover_cli::debugport::serve(listener, community, debug_levels.applier())
                    .map_err(|e| format!("cannot start the debug port: {e}"))?,
            )
        }
    };
    // After detaching: the daemon's pid, for the next instance's message and for init.
    if let Err(e) = state_lock.write_pid() {
        log::warn!(
            target: "store",
            "{}: cannot write faild's pid: {e}",
            state_lock.path().display()
        );
    }
    let mut pid_lock = pid_lock;
    if let Some(lock) = pid_lock.as_mut() {
        lock.write_pid()
            .map_err(|e| format!("{}: cannot write the pid file: {e}", lock.path().display()))?;
    }
    if cli.lock_memory {
        system::lock_memory()?;
    }
    if let Some(increment) = cli.nice {
        system::renice(increment)?;
    }
    if let Some(user) = &cli.user {
        system::drop_privileges(user)?;
    }
    let boot_id = system::random_u64().map_err(|e| e.to_string())?;
    let seed = system::random_u64().map_err(|e| e.to_string())?;
    let listening = format!(
        "listening on{}{} with {} services from {} ({} runtime)",
        sockets::udp_address(&bound).map_or(String::new(), |a| format!(" udp {a}")),
        sockets::tcp_address(&bound).map_or(String::new(), |a| format!(" tcp {a}")),
        records.len(),
        state_path.display(),
        match cli.runtime {
            Runtime::Smol => "smol",
            Runtime::Blocking => "blocking",
        }
    );
    log::info!(target: "config", "{listening}");
    // Sockets are bound: tell systemd (Type=notify) we are ready; a no-op outside systemd.
    let _ = failover_cli::sdnotify::notify_ready();
    let store = Store::new(
        StoreConfig {
            boot_id,
            seed,
            communities,
        },
        records,
    );
    let metrics = match metrics_listener {
        None => None,
        Some(listener) => {
            let metrics = metrics::Metrics::start(listener)
                .map_err(|e| format!("cannot start the metrics endpoint: {e}"))?;
            log::info!(target: "monitor", "metrics on http://{}/metrics", metrics.local_addr());
            Some(metrics)
        }
    };
    let community_file = cli.community_file.clone();
    let hooks = FaildHooks {
        persist: Box::new(move |records| state_file::save(&state_path, records)),
        reload: Box::new(move || read_communities(community_file.as_deref())),
        clock: sockets::wall_clock,
        watcher: metrics::Watcher::new(metrics, Notifier::from_env())
            .map(|w| Box::new(w) as Box<dyn failover_core::drive::faild::LoopWatcher>),
    };
    failover_cli::resident::release_startup_code();
    failover_cli::resident::release_when_settled();
    let result = match cli.runtime {
        #[cfg(feature = "runtime-smol")]
        Runtime::Smol => failover_runtime_smol::faild::serve(bound, store, hooks),
        _ => failover_runtime_blocking::faild::serve(bound, store, hooks),
    };
    if let Some(lock) = pid_lock {
        lock.remove();
    }
    // The state lock file stays (removing it could let a third faild lock a file a second
    // one is about to open); the kernel drops the lock when faild exits.
    drop(state_lock);
    match result {
        Ok(ExitReason::Signal(signal)) => {
            let _ = failover_cli::sdnotify::notify_stopping();
            log::info!(target: "config", "{signal}: stopping");
            Ok(())
        }
        Err(error) => Err(error.to_string()),
    }
}
