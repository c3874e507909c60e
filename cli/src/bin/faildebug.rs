//! faildebug: change the log level of a facility of a running failsh or faild at run time.

use clap::Arg;
use failover_cli::common::{parse_args, program};
use std::process::ExitCode;
use std::time::Duration;

use failover_cli::debugport::{self, ClientError, Level, DEFAULT_DEBUG_PORT};
use failover_cli::logging::{ALL_FACILITIES, FACILITIES};

const HELP: &str = "\
NAME
    faildebug - change the log level of a facility of a running failsh or faild

SYNOPSIS
    faildebug [-p port] [-c community] [-t timeout_ms] [host] facility level
    faildebug -h | --help
    faildebug -V | --version

DESCRIPTION
    faildebug connects to the debug port of failsh (its -D option) or faild and sets the log
    level of one facility, or of all of them, without a restart. The community never travels
    in clear: the daemon greets with a random challenge and faildebug answers with
    HMAC-SHA256(community, challenge || facility || \" \" || level); a wrong community is
    refused and a captured request cannot be replayed.

    Open debug access lets anybody fill the disk with logs: give failsh a community of its
    own with -c and use the same here.

OPTIONS
    -p port
        The debug port. Default 1849.
    -c community
        The community the daemon expects. Default public.
    -t timeout_ms
        Bound on connecting and on each answer, in milliseconds. Default 5000.
    -h, --help
        Show this help and exit.
    -V, --version
        Show the version and exit.

    host is a name or address; default 127.0.0.1.

    facility is one of poll, decision, procedure, store, net, monitor, debug, config, or all.
    level is error, warn, info, debug or trace, or a number 0 (error) to 4 (trace).

OUTPUT
    On success one line on standard output: host, facility and the level the daemon confirmed.
    Errors go to standard error, prefixed with \"faildebug: \".

EXIT STATUS
    0   the level is changed
    1   no connection (nothing listens on the port, host unknown, timeout) or the other side
        is not a failover debug port
    2   usage error
    3   refused: wrong community
    4   the daemon rejected the request (unknown facility, busy)

EXAMPLES
    faildebug poll trace
        Trace every poll of the local failsh.
    faildebug -p 1850 -c genesis macbeth all info
        Back to normal on macbeth's debug port 1850.
";

const EXIT_CONNECT: u8 = 1;
const EXIT_USAGE: u8 = 2;
const EXIT_REFUSED: u8 = 3;
const EXIT_SERVER: u8 = 4;

#[derive(Debug)]
struct Cli {
    port: u16,
    community: String,
    timeout_ms: u64,
    /// [host] facility level
    positional: Vec<String>,
}

fn parse() -> Result<Cli, ExitCode> {
    let command = program("faildebug", HELP)
        .arg(Arg::new("p").short('p').value_parser(parse_port))
        .arg(Arg::new("c").short('c'))
        .arg(Arg::new("t").short('t').value_parser(parse_timeout))
        .arg(
            Arg::new("arguments")
                .value_name("[HOST] FACILITY LEVEL")
                .num_args(2..=3)
                .required(true),
        );
    let m = parse_args(command)?;
    Ok(Cli {
        port: m.get_one::<u16>("p").copied().unwrap_or(DEFAULT_DEBUG_PORT),
        community: m
            .get_one::<String>("c")
            .cloned()
            .unwrap_or_else(|| "public".to_string()),
        timeout_ms: m.get_one::<u64>("t").copied().unwrap_or(5000),
        positional: m
            .get_many::<String>("arguments")
            .map(|a| a.cloned().collect())
            .unwrap_or_default(),
    })
}

fn parse_port(text: &str) -> Result<u16, String> {
    text.parse::<u16>()
        .ok()
        .filter(|port| *port != 0)
        .ok_or_else(|| format!("\"{text}\" is not a port (expected 1-65535)"))
}

fn parse_timeout(text: &str) -> Result<u64, String> {
    text.parse::<u64>()
        .ok()
        .filter(|ms| (1..=600_000).contains(ms))
        .ok_or_else(|| format!("\"{text}\" is not a timeout (expected 1-600000 ms)"))
}

#[derive(Debug)]
struct Arguments {
    port: u16,
    community: String,
    timeout_ms: u64,
    host: String,
    facility: String,
    level: Level,
}

/// The positional arguments: `[host] facility level`, checked.
fn arguments(cli: Cli) -> Result<Arguments, String> {
    let (host, facility, level) = match cli.positional.as_slice() {
        [facility, level] => ("127.0.0.1".to_string(), facility, level),
        [host, facility, level] => (host.clone(), facility, level),
        _ => return Err("expected [host] facility level".to_string()),
    };
    if facility != ALL_FACILITIES && !FACILITIES.contains(&facility.as_str()) {
        return Err(format!(
            "unknown facility \"{facility}\" (expected one of {}, {ALL_FACILITIES})",
            FACILITIES.join(", ")
        ));
    }
    let level = level.parse::<Level>()?;
    Ok(Arguments {
        port: cli.port,
        community: cli.community,
        timeout_ms: cli.timeout_ms,
        host,
        facility: facility.clone(),
        level,
    })
}

fn main() -> ExitCode {
    let cli = match parse() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    let arguments = match arguments(cli) {
        Ok(arguments) => arguments,
        Err(why) => {
            eprintln!("faildebug: {why}");
            eprintln!(
                "usage: faildebug [-p port] [-c community] [host] facility level (see --help)"
            );
            return ExitCode::from(EXIT_USAGE);
        }
    };
    // An IPv6 literal needs brackets in host:port.
    let address = if arguments.host.contains(':') && !arguments.host.starts_with('[') {
        format!("[{}]:{}", arguments.host, arguments.port)
    } else {
        format!("{}:{}", arguments.host, arguments.port)
    };
    match debugport::request(
        &address,
        &arguments.community,
        &arguments.facility,
        arguments.level,
        Duration::from_millis(arguments.timeout_ms),
    ) {
        Ok((facility, level)) => {
            println!("{}: {facility} {level}", arguments.host);
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("faildebug: {address}: {error}");
            ExitCode::from(match error {
                ClientError::Connect(_) | ClientError::Protocol(_) => EXIT_CONNECT,
                ClientError::Refused => EXIT_REFUSED,
                ClientError::Server(_) => EXIT_SERVER,
            })
        }
    }
}
