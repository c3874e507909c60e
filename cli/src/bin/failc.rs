//! failc: change the state of a service in a faild (init scripts use it).

use clap::{value_parser, Arg};
use failover_cli::common::{exit, exit_code, parse_args, program, TargetArgs, EXIT_STATUS_HELP};
use failover_core::state::State;
use std::process::ExitCode;
use std::sync::LazyLock;

const HELP_BODY: &str = "\
NAME
    failc - change the state of a service in faild

SYNOPSIS
    failc [-H host] [-p port] [-c community] [-T|-U] [--source address] [-t timeout_ms]
          [--runtime smol|blocking] -s UP|RECOVER|FAIL [-b backup] SERVICE
    failc -h | --help
    failc -V | --version

DESCRIPTION
    failc sets the state of SERVICE in the faild on host to UP, RECOVER or FAIL, and
    optionally records the name of the host that backs the service up (purely
    informational). A service faild does not know yet is created, as the faild start
    script does when it registers every service as FAIL.

    UP means the service works on that host, RECOVER that it is not running but may be
    started at any time (failsh may then start it), FAIL that it cannot be brought up
    (failsh leaves it alone until an operator or a script sets RECOVER).

    The community never travels in clear: requests are signed with HMAC-SHA256 keyed by
    the community. A change takes two round trips: the first fetches a single-use
    challenge from faild, the second carries it, so a captured change cannot be replayed.
    The community must grant RW access to SERVICE from this host's address in faild's
    community file.

OPTIONS
    -s STATE, --state STATE
        The new state: UP, RECOVER or FAIL (any case). Both -sRECOVER and -s RECOVER work.
        Required.
    -b backup, --backup backup
        Name of the backup host, stored with the service. Without -b the recorded backup
        name is kept.
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
        networks against (for example 127.0.0.2 to test a community limited to
        127.0.0.1/32).
    -t timeout_ms, --timeout timeout_ms
        Milliseconds to wait for each answer. Default 3000.
    --runtime smol|blocking
        The socket runtime to use. Default smol. Both behave the same.
    -h, --help
        Show this help and exit.
    -V, --version
        Show the version and exit.

OUTPUT
    Nothing on success. Errors go to standard error, prefixed with \"failc: \".

";

const HELP_TAIL: &str = "
EXAMPLES
    failc -c public -T -p 1291 -s FAIL -b macbeth 198.18.0.50
        What the seed's faild start script runs for every service at boot.
    failc -c public -T -p 1291 -sRECOVER 198.18.0.50
        What the seed's service script runs on start and recover.
    failc -H lukretia -c genesis -s RECOVER 198.18.0.50
        Allow failsh on lukretia to start the service again after an operator fixed it.

SEE ALSO
    failstat(1), faild(8), failsh(8)
";

static HELP: LazyLock<String> =
    LazyLock::new(|| format!("{HELP_BODY}{EXIT_STATUS_HELP}{HELP_TAIL}"));

#[derive(Debug)]
struct Cli {
    target: TargetArgs,
    state: State,
    backup: Option<String>,
    service: String,
}

fn parse_state(text: &str) -> Result<State, String> {
    text.parse::<State>().map_err(|e| e.to_string())
}

fn parse() -> Result<Cli, ExitCode> {
    let command = TargetArgs::args(program("failc", HELP.as_str()))
        .arg(
            Arg::new("state")
                .short('s')
                .long("state")
                .required(true)
                .value_parser(parse_state),
        )
        .arg(Arg::new("backup").short('b').long("backup"))
        .arg(
            Arg::new("service")
                .required(true)
                .value_parser(value_parser!(String)),
        );
    let matches = parse_args(command)?;
    Ok(Cli {
        target: TargetArgs::from_matches(&matches),
        state: *matches.get_one::<State>("state").expect("required"),
        backup: matches.get_one::<String>("backup").cloned(),
        service: matches
            .get_one::<String>("service")
            .cloned()
            .expect("required"),
    })
}

fn main() -> ExitCode {
    let cli = match parse() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    let target = match cli.target.target_or_exit("failc") {
        Ok(target) => target,
        Err(code) => return code,
    };
    match cli
        .target
        .set(&target, &cli.service, cli.state, cli.backup.as_deref())
    {
        Ok(_) => ExitCode::from(exit::OK),
        Err(error) => {
            eprintln!("failc: {}: {error}", cli.service);
            ExitCode::from(exit_code(&error))
        }
    }
}
