//! failsh: the failover shell (see `failsh --help`).

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

fn usage(message: &str) -> ExitCode {
    eprintln!("failsh: {message}\nusage: failsh -f tclfile [options]; failsh --help for more");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut options = Options::new(PathBuf::new());
    let mut tclfile: Option<PathBuf> = None;
    let mut check_only = false;
    let mut index = 0;
    while index < args.len() {
        let arg = args[index].clone();
        index += 1;
        // Options with a value take it from the same word (-ffile) or the next one.
        let mut value = |name: &str| -> Result<String, ExitCode> {
            if arg.len() > 2 && !arg.starts_with("--") && arg != name {
                return Ok(arg[2..].to_string());
            }
            let v = args
                .get(index)
                .cloned()
                .ok_or_else(|| usage(&format!("{name} needs a value")))?;
            index += 1;
            Ok(v)
        };
        let short = if arg.starts_with("--") || arg.len() < 2 {
            arg.as_str()
        } else {
            &arg[..2]
        };
        let result: Result<(), ExitCode> = (|| {
            match short {
                "-h" | "--help" => {
                    print!("{HELP}");
                    return Err(ExitCode::SUCCESS);
                }
                "-V" | "--version" => {
                    println!("failsh {}", env!("CARGO_PKG_VERSION"));
                    return Err(ExitCode::SUCCESS);
                }
                "-F" => options.foreground = true,
                "-t" => check_only = true,
                "-k" => options.keep_services = true,
                "-f" => tclfile = Some(PathBuf::from(value("-f")?)),
                "-d" => options.debug_facilities.push(value("-d")?),
                "-c" => options.community = Some(value("-c")?),
                "-l" => options.dumpfile = PathBuf::from(value("-l")?),
                "-i" => options.pidfile = Some(PathBuf::from(value("-i")?)),
                "-m" | "-D" => {
                    let text = value(short)?;
                    let port: u16 = text
                        .parse()
                        .map_err(|_| usage(&format!("{short}: \"{text}\" is not a port")))?;
                    if short == "-m" {
                        options.monitor_port = port;
                    } else {
                        options.debug_port = Some(port);
                    }
                }
                "--runtime" => {
                    options.runtime = match value("--runtime")?.as_str() {
                        "smol" => RuntimeKind::Smol,
                        "blocking" => RuntimeKind::Blocking,
                        other => {
                            return Err(usage(&format!(
                                "--runtime: \"{other}\" (expected smol or blocking)"
                            )))
                        }
                    }
                }
                "--record" => options.record = Some(PathBuf::from(value("--record")?)),
                "--local-host" => options.local_host = value("--local-host")?,
                "--seed" => {
                    let text = value("--seed")?;
                    options.seed = Some(
                        text.parse()
                            .map_err(|_| usage(&format!("--seed: \"{text}\" is not a number")))?,
                    );
                }
                _ => return Err(usage(&format!("unknown option \"{arg}\""))),
            }
            Ok(())
        })();
        if let Err(code) = result {
            return code;
        }
    }
    let Some(tclfile) = tclfile else {
        return usage("-f tclfile is mandatory");
    };
    if check_only {
        return match failsh::check(&tclfile, &options.local_host) {
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
    options.tclfile = tclfile;
    match failsh::run(options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("failsh: {e}");
            ExitCode::FAILURE
        }
    }
}
