//! failstat: show the states of services in a faild.

use clap::{Arg, ArgAction};
use failover_cli::common::{exit, exit_code, parse_args, program, TargetArgs, EXIT_STATUS_HELP};
use failover_core::wire::{Entry, Reply};
use std::process::ExitCode;
use std::sync::LazyLock;

const HELP_BODY: &str = "\
NAME
    failstat - show the states of services in faild

SYNOPSIS
    failstat [-H host] [-p port] [-c community] [-T|-U] [--source address] [-t timeout_ms]
             [--runtime smol|blocking] [--json] [SERVICE...]
    failstat -h | --help
    failstat -V | --version

DESCRIPTION
    failstat asks the faild on host for the state of each SERVICE, or of every service
    the community may see when no SERVICE is named (listing needs access through a `*`
    line of faild's community file). Requests are signed with HMAC-SHA256 keyed by the
    community, and replies are checked to answer this very request, so an old answer
    cannot be replayed.

OPTIONS
    --json
        Print one JSON object instead of the table (see OUTPUT).
    -H host, --host host
        faild's host, a name or an address. Default 127.0.0.1.
    -p port, --port port
        faild's port. Default 1291.
    -c community, --community community
        The community. Default public.
    -T, --tcp
        Talk TCP (one length-prefixed frame each way).
    -U, --udp
        Talk UDP (the default); a request without answer is sent again every 500 ms.
    --source address
        Send from this local address, which is the address faild checks the community's
        networks against.
    -t timeout_ms, --timeout timeout_ms
        Milliseconds to wait for the answer. Default 3000.
    --runtime smol|blocking
        The socket runtime to use. Default smol. Both behave the same.
    -h, --help
        Show this help and exit.
    -V, --version
        Show the version and exit.

OUTPUT
    One line per service, in the order asked (all services: sorted by name):

        SERVICE STATE BACKUP SINCE_CHANGE_S

    STATE is UP, RECOVER, FAIL or UNKNOWN (faild has no such service), BACKUP the
    backup host's name or -, SINCE_CHANGE_S the seconds since the state last changed
    (with milliseconds). With --json:

        {\"boot_id\":\"0123456789abcdef\",\"services\":[{\"name\":\"198.18.0.50\",
         \"state\":\"UP\",\"backup\":\"macbeth\",\"since_change_ms\":1234}]}

    where state is null for an unknown service, backup null when none is recorded, and
    boot_id changes whenever faild restarts. Errors go to standard error, prefixed with
    \"failstat: \".

";

const HELP_TAIL: &str = "
EXAMPLES
    failstat
        Every service of the local faild (community public, UDP).
    failstat -H macbeth -T 198.18.0.50
        The state of one service on macbeth, over TCP.
    failstat --json -c genesis
        Every service, as JSON, for a monitoring system.

SEE ALSO
    failc(1), faild(8), failsh(8), failmon(1)
";

static HELP: LazyLock<String> =
    LazyLock::new(|| format!("{HELP_BODY}{EXIT_STATUS_HELP}{HELP_TAIL}"));

#[derive(Debug)]
struct Cli {
    target: TargetArgs,
    json: bool,
    /// Services (all when none).
    services: Vec<String>,
}

fn parse() -> Result<Cli, ExitCode> {
    let command = TargetArgs::args(program("failstat", HELP.as_str()))
        .arg(Arg::new("json").long("json").action(ArgAction::SetTrue))
        .arg(Arg::new("services").num_args(0..).action(ArgAction::Append));
    let matches = parse_args(command)?;
    Ok(Cli {
        target: TargetArgs::from_matches(&matches),
        json: matches.get_flag("json"),
        services: matches
            .get_many::<String>("services")
            .map(|s| s.cloned().collect())
            .unwrap_or_default(),
    })
}

fn main() -> ExitCode {
    let cli = match parse() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    let target = match cli.target.target_or_exit("failstat") {
        Ok(target) => target,
        Err(code) => return code,
    };
    let reply = match cli.target.query(&target, &cli.services) {
        Ok(reply) => reply,
        Err(error) => {
            eprintln!("failstat: {error}");
            return ExitCode::from(exit_code(&error));
        }
    };
    if cli.json {
        println!("{}", json(&reply));
    } else {
        for entry in &reply.entries {
            println!("{}", line(entry));
        }
    }
    let unknown: Vec<&str> = reply
        .entries
        .iter()
        .filter(|e| e.state.is_none())
        .map(|e| e.name.as_str())
        .collect();
    if unknown.is_empty() {
        ExitCode::from(exit::OK)
    } else {
        eprintln!("failstat: unknown service: {}", unknown.join(" "));
        ExitCode::from(exit::UNKNOWN_SERVICE)
    }
}

fn line(entry: &Entry) -> String {
    match entry.state {
        Some(state) => format!(
            "{} {} {} {}.{:03}",
            entry.name,
            state,
            entry.backup.as_deref().unwrap_or("-"),
            entry.since_change_ms / 1000,
            entry.since_change_ms % 1000
        ),
        None => format!("{} UNKNOWN - -", entry.name),
    }
}

fn json(reply: &Reply) -> String {
    let services: Vec<serde_json::Value> = reply
        .entries
        .iter()
        .map(|e| {
            serde_json::json!({
                "name": e.name,
                "state": e.state.map(|s| s.as_str()),
                "backup": e.backup,
                "since_change_ms": e.since_change_ms,
            })
        })
        .collect();
    serde_json::json!({
        "boot_id": format!("{:016x}", reply.boot_id),
        "services": services,
    })
    .to_string()
}
