//! failsh: the failover shell (see `failsh --help`).

use clap::{value_parser, Arg, ArgAction};
use failover_cli::common::{parse_args, program};
use failover_cli::failsh::{self, Options, RuntimeKind};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

const HELP: &str = "\
NAME
    failsh - the failover shell: polls the faild of every master and slave of each service and
    starts or stops services locally

SYNOPSIS
    failsh -f tclfile [-F] [-t] [-k] [-d facility[=level]]... [-c community] [-l dumpfile]
           [-a address] [-m monitorport] [-D debugport] [-i pidfile] [--runtime smol|blocking]
           [--metrics ADDR:PORT] [--notify PATH] [--record TRACE] [--local-host NAME]
           [--seed N]
    failsh -V

OPTIONS
    -f tclfile     the Tcl configuration (failsvc, failhost, failtrap and procedures); mandatory
    -F             stay in the foreground and log to standard error (default: detach and log to
                   syslog facility daemon)
    -t             check the configuration, print its services and hosts, and exit (0 when
                   usable; a host name that does not resolve yet is only a warning)
    -k             on SIGTERM exit but keep the services running (default: hand them over)
    -d facility    raise a log facility to debug (facility=level for another level; repeatable;
                   implies -F). Facilities: poll decision procedure store net monitor debug
                   config, or all
    -c community   community faildebug clients must present (default public, with a warning)
    -l dumpfile    SIGINT dumps the state there (default /var/tmp/failsh.dump); a FIFO works
    -a address     address the monitor and debug ports listen on (default 127.0.0.1, loopback
                   only; e.g. ::1, or 0.0.0.0 / :: for every address)
    -m port        monitor port for failmon (default 1848; 0 turns it off)
    -D port        debug port for faildebug (default: none)
                   (-l, -a, -m and -D given twice: the last wins, so an operator's own in
                   FAILSH_OPTS overrides what the init script and the unit pass)
    --metrics A:P  serve Prometheus metrics at http://A:P/metrics (default: none; for example
                   127.0.0.1:9291; docs/metrics.md lists them)
    --notify PATH  write one line per change of state there: TIME SERVICE FROM TO REASON (TIME
                   in UTC, RFC 3339); a file or a FIFO, never waited for (a FIFO without a
                   reader, or a slow one, loses lines, which are counted in the log)
    -i pidfile     write the process id there; it is locked while failsh runs, so a second
                   failsh with the same pid file refuses to start (exit 1), naming the pid
    --runtime R    smol (default) or blocking
    --record TRACE record every input of the decision machine as JSON lines for failsim replay
    --local-host N the failhost name of the local faild (default localhost; its address and
                   port come from failhost N address/port, default 127.0.0.1:1291)
    --seed N       seed of the decision machine's random numbers (default: random)
    -V             print the version

SIGNALS
    SIGTERM hands the services over (stops those that are UP, publishes FAIL) and exits; SIGHUP
    re-reads the configuration (a broken one is rejected and the old one keeps running); SIGINT
    dumps the state to the dump file.

EXIT STATUS
    0 success, 1 configuration or run-time error, 2 bad arguments
";

/// The command line: failsh's options go straight into [`Options`].
fn parse() -> Result<(Options, bool), ExitCode> {
    let value = |id: &'static str| Arg::new(id).short(id.chars().next().expect("one letter"));
    let flag = |id: &'static str| value(id).action(ArgAction::SetTrue);
    let command = program("failsh", HELP)
        .arg(
            value("f")
                .required(true)
                .value_parser(value_parser!(PathBuf)),
        )
        .arg(flag("F"))
        .arg(flag("t"))
        .arg(flag("k"))
        .arg(value("d").action(ArgAction::Append))
        .arg(value("c"))
        // The units and init scripts pass `-l` from DUMPFILE; an operator's own `-l` in
        // FAILSH_OPTS comes later and wins rather than refusing to start.
        .arg(
            value("l")
                .value_parser(value_parser!(PathBuf))
                .overrides_with("l"),
        )
        .arg(
            value("a")
                .value_parser(value_parser!(IpAddr))
                .overrides_with("a"),
        )
        .arg(
            value("m")
                .value_parser(value_parser!(u16))
                .overrides_with("m"),
        )
        .arg(
            value("D")
                .value_parser(value_parser!(u16))
                .overrides_with("D"),
        )
        .arg(value("i").value_parser(value_parser!(PathBuf)))
        .arg(
            Arg::new("runtime")
                .long("runtime")
                .value_parser(parse_runtime),
        )
        .arg(
            Arg::new("record")
                .long("record")
                .value_parser(value_parser!(PathBuf)),
        )
        .arg(
            Arg::new("metrics")
                .long("metrics")
                .value_parser(parse_metrics_address),
        )
        .arg(
            Arg::new("notify")
                .long("notify")
                .value_parser(value_parser!(PathBuf)),
        )
        .arg(Arg::new("local-host").long("local-host"))
        .arg(
            Arg::new("seed")
                .long("seed")
                .value_parser(value_parser!(u64)),
        );
    let m = parse_args(command)?;
    let mut options = Options::new(m.get_one::<PathBuf>("f").cloned().expect("required"));
    options.foreground = m.get_flag("F");
    options.keep_services = m.get_flag("k");
    options.debug_facilities = m
        .get_many::<String>("d")
        .map(|d| d.cloned().collect())
        .unwrap_or_default();
    options.community = m.get_one::<String>("c").cloned();
    if let Some(dumpfile) = m.get_one::<PathBuf>("l") {
        options.dumpfile = dumpfile.clone();
    }
    if let Some(address) = m.get_one::<IpAddr>("a") {
        options.listen_address = *address;
    }
    if let Some(port) = m.get_one::<u16>("m") {
        options.monitor_port = *port;
    }
    options.debug_port = m.get_one::<u16>("D").copied();
    options.metrics = m.get_one::<SocketAddr>("metrics").copied();
    options.pidfile = m.get_one::<PathBuf>("i").cloned();
    options.notify = m.get_one::<PathBuf>("notify").cloned();
    if let Some(runtime) = m.get_one::<RuntimeKind>("runtime") {
        options.runtime = *runtime;
    }
    options.record = m.get_one::<PathBuf>("record").cloned();
    if let Some(local_host) = m.get_one::<String>("local-host") {
        options.local_host = local_host.clone();
    }
    options.seed = m.get_one::<u64>("seed").copied();
    Ok((options, m.get_flag("t")))
}

fn parse_metrics_address(text: &str) -> Result<SocketAddr, String> {
    text.parse().map_err(|_| {
        format!("\"{text}\" (expected ADDRESS:PORT, e.g. 127.0.0.1:9291 or [::1]:9291)")
    })
}

fn parse_runtime(text: &str) -> Result<RuntimeKind, String> {
    match text {
        "smol" if cfg!(feature = "runtime-smol") => Ok(RuntimeKind::Smol),
        "smol" => Err("this build has no smol runtime (built without the runtime-smol feature): use --runtime blocking".to_string()),
        "blocking" => Ok(RuntimeKind::Blocking),
        other => Err(format!("\"{other}\" (expected smol or blocking)")),
    }
}

fn main() -> ExitCode {
    let (options, check_only) = match parse() {
        Ok(parsed) => parsed,
        Err(code) => return code,
    };
    if check_only {
        return match failsh::check(&options.tclfile, &options.local_host) {
            Ok(checked) => {
                print!("{}", checked.description);
                for warning in &checked.warnings {
                    eprintln!("failsh: {warning}");
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("failsh: {e}");
                ExitCode::FAILURE
            }
        };
    }
    match failsh::run(options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("failsh: {e}");
            ExitCode::FAILURE
        }
    }
}
