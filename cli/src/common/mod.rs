//! What failc and failstat share: the target options, the runtime choice, the exit codes.

use clap::{Args, Parser, ValueEnum};
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
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

    /// Why this runtime cannot be used in this build, if it cannot.
    pub fn unavailable(self) -> Option<String> {
        (self == Runtime::Smol && !cfg!(feature = "runtime-smol")).then(|| {
            "this build has no smol runtime (built without the runtime-smol feature): use --runtime blocking".to_string()
        })
    }
}

/// `-H host -p port -c community -T|-U --source --timeout --runtime`.
#[derive(Clone, Debug, Args)]
pub struct TargetArgs {
    /// faild's host (name or address).
    #[arg(short = 'H', long = "host", default_value = "127.0.0.1")]
    pub host: String,
    /// faild's port.
    #[arg(short = 'p', long = "port", default_value_t = failover_core::wire::DEFAULT_PORT)]
    pub port: u16,
    /// The community.
    #[arg(short = 'c', long = "community", default_value = "public")]
    pub community: String,
    /// Use TCP.
    #[arg(short = 'T', long = "tcp", conflicts_with = "udp")]
    pub tcp: bool,
    /// Use UDP (the default).
    #[arg(short = 'U', long = "udp")]
    pub udp: bool,
    /// Local address to send from.
    #[arg(long = "source", value_name = "ADDRESS")]
    pub source: Option<IpAddr>,
    /// Milliseconds to wait for an answer.
    #[arg(short = 't', long = "timeout", value_name = "MS", default_value_t = failover_runtime_blocking::client::DEFAULT_TIMEOUT_MS)]
    pub timeout_ms: u64,
    /// The runtime to use.
    #[arg(long = "runtime", value_enum, default_value_t = Runtime::DEFAULT)]
    pub runtime: Runtime,
}

impl TargetArgs {
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

/// Parses the command line; on an error (exit 2, usage) or `--help`/`--version` (exit 0) clap
/// has printed what to say and the caller exits with the returned code.
pub fn parse_args<C: Parser>() -> Result<C, ExitCode> {
    C::try_parse().map_err(|error| {
        let code = if error.use_stderr() {
            exit::USAGE
        } else {
            exit::OK
        };
        let _ = error.print();
        ExitCode::from(code)
    })
}
