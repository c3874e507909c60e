//! What failc and failstat share: the target options, the runtime choice, the exit codes.

use clap::builder::PossibleValue;
use clap::{value_parser, Arg, ArgAction, ArgMatches, Command, ValueEnum};
use failover_core::state::State;
use failover_core::wire::{Entry, Reply};
use failover_runtime_blocking::client::{self as blocking, ClientError, Protocol, Target};
#[cfg(feature = "runtime-smol")]
use failover_runtime_smol::client as smol_client;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

/// Exit codes of failc and failstat (documented in their `--help`).
pub mod exit {
    pub const OK: u8 = 0;
    pub const OTHER: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const UNREACHABLE: u8 = 3;
    pub const TIMED_OUT: u8 = 4;
    pub const REFUSED: u8 = 5;
    pub const UNKNOWN_SERVICE: u8 = 6;
    pub const NOT_STORED: u8 = 7;
}

/// The runtime a program drives its sockets with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runtime {
    Smol,
    Blocking,
}

impl Runtime {
    /// smol when this build has it, else the blocking runtime.
    pub const DEFAULT: Runtime = if cfg!(feature = "runtime-smol") {
        Runtime::Smol
    } else {
        Runtime::Blocking
    };

    /// `--runtime smol|blocking`, default [`Runtime::DEFAULT`].
    pub fn arg() -> Arg {
        Arg::new("runtime")
            .long("runtime")
            .value_parser(value_parser!(Runtime))
    }

    /// What `--runtime` said, or the default.
    pub fn from_matches(matches: &ArgMatches) -> Runtime {
        matches
            .get_one::<Runtime>("runtime")
            .copied()
            .unwrap_or(Runtime::DEFAULT)
    }

    /// Why this runtime cannot be used in this build, if it cannot.
    pub fn unavailable(self) -> Option<String> {
        (self == Runtime::Smol && !cfg!(feature = "runtime-smol")).then(|| {
            "this build has no smol runtime (built without the runtime-smol feature): use --runtime blocking".to_string()
        })
    }
}

impl ValueEnum for Runtime {
    fn value_variants<'a>() -> &'a [Runtime] {
        &[Runtime::Smol, Runtime::Blocking]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(match self {
            Runtime::Smol => "smol",
            Runtime::Blocking => "blocking",
        }))
    }
}

/// `-H host -p port -c community -T|-U --source --timeout --runtime`.
#[derive(Clone, Debug)]
pub struct TargetArgs {
    /// faild's host (name or address).
    pub host: String,
    pub port: u16,
    pub community: String,
    /// TCP rather than UDP (the default).
    pub tcp: bool,
    /// Local address to send from.
    pub source: Option<IpAddr>,
    /// Milliseconds to wait for an answer.
    pub timeout_ms: u64,
    pub runtime: Runtime,
}

impl TargetArgs {
    /// The options, added to `command`.
    pub fn args(command: Command) -> Command {
        command
            .arg(Arg::new("host").short('H').long("host"))
            .arg(
                Arg::new("port")
                    .short('p')
                    .long("port")
                    .value_parser(value_parser!(u16)),
            )
            .arg(Arg::new("community").short('c').long("community"))
            .arg(
                Arg::new("tcp")
                    .short('T')
                    .long("tcp")
                    .action(ArgAction::SetTrue)
                    .conflicts_with("udp"),
            )
            .arg(
                Arg::new("udp")
                    .short('U')
                    .long("udp")
                    .action(ArgAction::SetTrue),
            )
            .arg(
                Arg::new("source")
                    .long("source")
                    .value_name("ADDRESS")
                    .value_parser(value_parser!(IpAddr)),
            )
            .arg(
                Arg::new("timeout")
                    .short('t')
                    .long("timeout")
                    .value_name("MS")
                    .value_parser(value_parser!(u64)),
            )
            .arg(Runtime::arg())
    }

    /// What the options said, with the defaults (127.0.0.1, 1291, `public`, UDP, 3000 ms).
    pub fn from_matches(matches: &ArgMatches) -> TargetArgs {
        let text = |id: &str, default: &str| {
            matches
                .get_one::<String>(id)
                .cloned()
                .unwrap_or_else(|| default.to_string())
        };
        TargetArgs {
            host: text("host", "127.0.0.1"),
            port: matches
                .get_one::<u16>("port")
                .copied()
                .unwrap_or(failover_core::wire::DEFAULT_PORT),
            community: text("community", "public"),
            tcp: matches.get_flag("tcp"),
            source: matches.get_one::<IpAddr>("source").copied(),
            timeout_ms: matches
                .get_one::<u64>("timeout")
                .copied()
                .unwrap_or(failover_runtime_blocking::client::DEFAULT_TIMEOUT_MS),
            runtime: Runtime::from_matches(matches),
        }
    }

    /// Resolves the host; a name that does not resolve is a usage error (exit 2).
    /// [`TargetArgs::target`], or the exit code after telling `program`'s user why not.
    pub fn target_or_exit(&self, program: &str) -> Result<Target, ExitCode> {
        self.target().map_err(|(code, why)| {
            eprintln!("{program}: {why}");
            ExitCode::from(code)
        })
    }

    pub fn target(&self) -> Result<Target, (u8, String)> {
        if let Some(why) = self.runtime.unavailable() {
            return Err((exit::USAGE, why));
        }
        let address =
            resolve(&self.host, self.port, self.source).map_err(|why| (exit::USAGE, why))?;
        Ok(Target {
            address,
            protocol: if self.tcp {
                Protocol::Tcp
            } else {
                Protocol::Udp
            },
            source: self.source,
            timeout: Duration::from_millis(self.timeout_ms.max(1)),
        })
    }

    pub fn query(&self, target: &Target, services: &[String]) -> Result<Reply, ClientError> {
        match self.runtime {
            #[cfg(feature = "runtime-smol")]
            Runtime::Smol => failover_runtime_smol::block_on(smol_client::query(
                target,
                &self.community,
                services,
            )),
            _ => blocking::query(target, &self.community, services),
        }
    }

    pub fn set(
        &self,
        target: &Target,
        service: &str,
        state: State,
        backup: Option<&str>,
    ) -> Result<Entry, ClientError> {
        match self.runtime {
            #[cfg(feature = "runtime-smol")]
            Runtime::Smol => failover_runtime_smol::block_on(smol_client::set(
                target,
                &self.community,
                service,
                state,
                backup,
            )),
            _ => blocking::set(target, &self.community, service, state, backup),
        }
    }
}

/// `host:port`, preferring an address of the source's family when `--source` is given.
fn resolve(host: &str, port: u16, source: Option<IpAddr>) -> Result<SocketAddr, String> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addresses: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve host \"{host}\": {e}"))?
        .collect();
    let wanted_v6 = source.map(|s| s.is_ipv6());
    addresses
        .iter()
        .find(|a| wanted_v6.is_none_or(|v6| a.is_ipv6() == v6))
        .or_else(|| addresses.first())
        .copied()
        .ok_or_else(|| format!("host \"{host}\" has no address"))
}

/// The exit code for a client error.
pub fn exit_code(error: &ClientError) -> u8 {
    match error {
        ClientError::Unreachable { .. } => exit::UNREACHABLE,
        ClientError::TimedOut { .. } => exit::TIMED_OUT,
        ClientError::Refused | ClientError::Forbidden => exit::REFUSED,
        ClientError::Encode(_) => exit::USAGE,
        ClientError::NotStored(_) => exit::NOT_STORED,
        ClientError::BadChallenge { .. }
        | ClientError::TooLarge
        | ClientError::BadReply(_)
        | ClientError::Io(_) => exit::OTHER,
    }
}

/// The EXIT STATUS section both programs print in their help.
pub const EXIT_STATUS_HELP: &str = "\
EXIT STATUS
    0   success
    1   any other failure (a reply that does not verify, a local error)
    2   usage error: bad option or value, unknown host, a name longer than 255 bytes
    3   unreachable: nothing listens at host and port (connection refused, ICMP port or host
        unreachable), or faild closed the TCP connection without replying (every
        connection slot is held by authenticated clients, or faild is stopping); reported
        at once, without waiting for the timeout
    4   timed out: no answer within the timeout
    5   refused: faild knows no such community, or the community does not grant this access
        from this address (read-only, or limited to other networks)
    6   unknown service: faild has no state for a service named on the command line
    7   not stored: faild could not write the change to its state file (disk full, no file
        descriptors left); nothing changed, on disk or for pollers
";

/// A program's command: its name, version and man-page help (clap prints it for `-h` and
/// `--help`), `-V`/`--version`; the caller adds its arguments.
pub fn program(name: &'static str, help: &'static str) -> Command {
    Command::new(name)
        .version(env!("CARGO_PKG_VERSION"))
        .override_help(help)
        .disable_version_flag(true)
        .arg(
            Arg::new("version")
                .short('V')
                .long("version")
                .action(ArgAction::Version),
        )
}

/// Parses the command line; on an error (exit 2, usage) or `--help`/`--version` (exit 0) clap
/// has printed what to say and the caller exits with the returned code.
pub fn parse_args(command: Command) -> Result<ArgMatches, ExitCode> {
    command.try_get_matches().map_err(|error| {
        let code = if error.use_stderr() {
            exit::USAGE
        } else {
            exit::OK
        };
        let _ = error.print();
        ExitCode::from(code)
    })
}
