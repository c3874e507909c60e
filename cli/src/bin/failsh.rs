//! failsh: the failover shell (see `failsh --help`).

use clap::{ArgAction, Parser};
use failover_cli::common::parse_args;
use failover_cli::failsh::{self, Options, RuntimeKind};
use std::path::PathBuf;
use std::process::ExitCode;

const HELP: &str = "\
NAME
    failsh - the failover shell: polls the faild of every master and slave of each service and
    starts or stops services locally

SYNOPSIS
    failsh -f tclfile [-F] [-t] [-k] [-d facility[=level]]... [-c community] [-l dumpfile]
           [-m monitorport] [-D debugport] [-i pidfile] [--runtime smol|blocking]
           [--record TRACE] [--local-host NAME] [--seed N]
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
    -m port        monitor port for failmon (default 1848; 0 turns it off)
    -D port        debug port for faildebug (default: none)
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

#[derive(Debug, Parser)]
#[command(name = "failsh", version, override_help = HELP, disable_version_flag = true)]
struct Cli {
    /// The Tcl configuration.
    #[arg(short = 'f')]
    tclfile: PathBuf,
    #[arg(short = 'F')]
    foreground: bool,
    #[arg(short = 't')]
    check_only: bool,
    #[arg(short = 'k')]
    keep_services: bool,
    #[arg(short = 'd')]
    debug: Vec<String>,
    #[arg(short = 'c')]
    community: Option<String>,
    #[arg(short = 'l')]
    dumpfile: Option<PathBuf>,
    #[arg(short = 'm')]
    monitor_port: Option<u16>,
    #[arg(short = 'D')]
    debug_port: Option<u16>,
    #[arg(short = 'i')]
    pidfile: Option<PathBuf>,
    #[arg(long = "runtime", value_parser = parse_runtime)]
    runtime: Option<RuntimeKind>,
    #[arg(long = "record")]
    record: Option<PathBuf>,
    #[arg(long = "local-host")]
    local_host: Option<String>,
    #[arg(long = "seed")]
    seed: Option<u64>,
    #[arg(short = 'V', long = "version", action = ArgAction::Version)]
    version: (),
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
    let cli: Cli = match parse_args() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    let mut options = Options::new(cli.tclfile.clone());
    options.foreground = cli.foreground;
    options.keep_services = cli.keep_services;
    options.debug_facilities = cli.debug;
    options.community = cli.community;
    if let Some(dumpfile) = cli.dumpfile {
        options.dumpfile = dumpfile;
    }
    if let Some(port) = cli.monitor_port {
        options.monitor_port = port;
    }
    options.debug_port = cli.debug_port;
    options.pidfile = cli.pidfile;
    if let Some(runtime) = cli.runtime {
        options.runtime = runtime;
    }
    options.record = cli.record;
    if let Some(local_host) = cli.local_host {
        options.local_host = local_host;
    }
    options.seed = cli.seed;
    if cli.check_only {
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
