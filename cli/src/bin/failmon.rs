//! failmon: show what failsh pushes on its monitor port.

use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[cfg(feature = "screen")]
use failover_cli::failmon::screen;
use failover_cli::failmon::{self, html, text, Connection, MonitorError};
use failover_cli::monitor::DEFAULT_MONITOR_PORT;

const HELP: &str = "\
NAME
    failmon, failmon.cgi - show the state of failsh's services and hosts

SYNOPSIS
    failmon [-p port] [-t timeout_ms] [target] [-1 | -l | -h [-r seconds] | -c | --json]
    failmon --help
    failmon -V | --version
    failmon.cgi

DESCRIPTION
    failsh pushes its full state on its monitor port (failsh -m) as JSON lines: at once when a
    reader connects, on every change and at least once per second. failmon connects there and
    shows the services (state, the masters and slaves with the state each counts as, interval,
    last change and its reason) and the hosts (reachability and last contact).

    Without a target failmon contacts 127.0.0.1, where failsh's monitor port listens unless
    failsh runs with -a (the original contacted the address of the local node name).

MODES
    -1  Wait for one update, print it as text and exit.
    -l  Line mode: each Return on standard input prints the latest state; end of input
        (Ctrl-D) exits.
    -h  Print one HTML page on standard output: self-contained, no scripts, all text escaped,
        that reloads itself every 5 seconds (-r) when served by a web server (failmon.cgi) or
        regenerated in place. Recent events show their UTC time and age.
        Invoked as failmon.cgi, failmon does this with a CGI header (Content-Type: text/html)
        and a page that reloads itself every 5 seconds; an unavailable monitor port gives
        a 502 page that says why. failmon.cgi ignores its arguments and the query string (a
        visitor must not choose what it connects to); the web server's configuration may set
        the environment variables FAILMON_TARGET and FAILMON_PORT.
    --json
        Print the snapshot as one JSON line (the monitor port's format, version 2) and exit.
        Time fields name their unit and clock: _unix_ms wall clock, _uptime_ms failsh's
        clock (ms since it started), _ms alone a duration.
    -c  The curses screen (the default on a terminal). Keys: h hosts, c toggle the hosts'
        last contact between time and age (last-connect/last-call), l or Left: the services
        of the selected host, s or Right: the selected service's details, Tab: switch between
        the services and hosts screens, Up/Down or k/j: select, q: quit. When failsh goes away
        the screen keeps the last state and reconnects every second.

OPTIONS
    -p port
        The monitor port. Default 1848.
    -t timeout_ms
        Bound on connecting and on waiting for a snapshot, in milliseconds. Default 5000.
    -r seconds
        -h: the page reloads itself this often (meta refresh). Default 5; 0: never.
    --help
        Show this help and exit (-h is the HTML mode, as in the original).
    -V, --version
        Show the version and exit.

EXIT STATUS
    0   shown
    1   cannot connect (nothing listens on the port, unknown host), or no snapshot arrived in
        time or the connection closed
    2   usage error
    3   the other side is not a failsh monitor port (or speaks another version)

EXAMPLES
    failmon -1 lukretia
    failmon -p 1850 -h 127.0.0.2 > status.html
    failmon --json | jq '.services[] | {name, state}'
";

const EXIT_CONNECT: u8 = 1;
const EXIT_USAGE: u8 = 2;
const EXIT_PROTOCOL: u8 = 3;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Once,
    Lines,
    Html,
    Json,
    Curses,
}

#[derive(Debug)]
struct Arguments {
    mode: Mode,
    port: u16,
    timeout_ms: u64,
    target: Option<String>,
    refresh_s: u32,
}

enum Parsed {
    Run(Arguments),
    Help,
    Version,
}

fn parse(arguments: &[String]) -> Result<Parsed, String> {
    let mut mode = None;
    let mut port = DEFAULT_MONITOR_PORT;
    let mut timeout_ms = 5000u64;
    let mut refresh_s = 5u32;
    let mut target = None;
    let mut index = 0;
    let set_mode = |new: Mode, mode: &mut Option<Mode>| -> Result<(), String> {
        match mode {
            Some(old) if *old != new => Err("give only one of -1, -l, -h, -c, --json".to_string()),
            _ => {
                *mode = Some(new);
                Ok(())
            }
        }
    };
    while index < arguments.len() {
        let argument = arguments[index].as_str();
        index += 1;
        match argument {
            "--help" => return Ok(Parsed::Help),
            "-V" | "--version" => return Ok(Parsed::Version),
            "-1" => set_mode(Mode::Once, &mut mode)?,
            "-l" => set_mode(Mode::Lines, &mut mode)?,
            "-h" => set_mode(Mode::Html, &mut mode)?,
            "-c" => set_mode(Mode::Curses, &mut mode)?,
            "--json" => set_mode(Mode::Json, &mut mode)?,
            "-r" => {
                let value = arguments
                    .get(index)
                    .ok_or_else(|| format!("{argument} needs a value"))?;
                index += 1;
                refresh_s = value
                    .parse::<u32>()
                    .ok()
                    .filter(|s| *s <= 86_400)
                    .ok_or_else(|| format!("-r: \"{value}\" is not 0-86400 seconds"))?;
            }
            "-p" | "-t" => {
                let value = arguments
                    .get(index)
                    .ok_or_else(|| format!("{argument} needs a value"))?;
                index += 1;
                if argument == "-p" {
                    port = value
                        .parse::<u16>()
                        .ok()
                        .filter(|p| *p != 0)
                        .ok_or_else(|| {
                            format!("-p: \"{value}\" is not a port (expected 1-65535)")
                        })?;
                } else {
                    timeout_ms = value
                        .parse::<u64>()
                        .ok()
                        .filter(|ms| (1..=600_000).contains(ms))
                        .ok_or_else(|| {
                            format!("-t: \"{value}\" is not a timeout (expected 1-600000 ms)")
                        })?;
                }
            }
            other if other.starts_with('-') && other.len() > 1 => {
                return Err(format!("unknown option {other}"))
            }
            other => {
                if target.replace(other.to_string()).is_some() {
                    return Err("give at most one target".to_string());
                }
            }
        }
    }
    Ok(Parsed::Run(Arguments {
        mode: mode.unwrap_or(Mode::Curses),
        refresh_s,
        port,
        timeout_ms,
        target,
    }))
}

fn exit_code(error: &MonitorError) -> ExitCode {
    ExitCode::from(match error {
        MonitorError::Connect(_) | MonitorError::Closed(_) => EXIT_CONNECT,
        MonitorError::Protocol(_) => EXIT_PROTOCOL,
    })
}

fn main() -> ExitCode {
    let invoked_as_cgi = std::env::args()
        .next()
        .map(|name| {
            std::path::Path::new(&name)
                .file_name()
                .is_some_and(|file| file == "failmon.cgi")
        })
        .unwrap_or(false);
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let parsed = if invoked_as_cgi {
        // A web server passes the query string in the environment and, for some requests,
        // words on the command line: ignore both, so a visitor cannot make the CGI connect
        // anywhere but the local failsh.
        // The web server's configuration (not the visitor) may set FAILMON_TARGET and
        // FAILMON_PORT, e.g. with Apache's SetEnv.
        match std::env::var("FAILMON_PORT").ok().map(|text| {
            text.parse::<u16>()
                .ok()
                .filter(|port| *port != 0)
                .ok_or(format!("FAILMON_PORT: \"{text}\" is not a port"))
        }) {
            Some(Err(why)) => Err(why),
            port => Ok(Parsed::Run(Arguments {
                mode: Mode::Html,
                port: port.and_then(Result::ok).unwrap_or(DEFAULT_MONITOR_PORT),
                timeout_ms: 5000,
                target: std::env::var("FAILMON_TARGET")
                    .ok()
                    .filter(|t| !t.is_empty()),
                refresh_s: 5,
            })),
        }
    } else {
        parse(&arguments)
    };
    let arguments = match parsed {
        Ok(Parsed::Run(arguments)) => arguments,
        Ok(Parsed::Help) => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Ok(Parsed::Version) => {
            println!("failmon {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Err(why) => {
            eprintln!("failmon: {why}");
            eprintln!("usage: failmon [-p port] [target] [-1|-l|-h|-c|--json] (see --help)");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let target = arguments
        .target
        .clone()
        .unwrap_or_else(failmon::default_target);
    let address = failmon::address(&target, arguments.port);
    let timeout = Duration::from_millis(arguments.timeout_ms);
    let result = run(&arguments, &address, timeout, invoked_as_cgi);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            if invoked_as_cgi {
                print!(
                    "Status: 502 Bad Gateway\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{}",
                    html::error_page(&format!("failmon: {address}: {error}"))
                );
            }
            eprintln!("failmon: {address}: {error}");
            exit_code(&error)
        }
    }
}

fn run(
    arguments: &Arguments,
    address: &str,
    timeout: Duration,
    invoked_as_cgi: bool,
) -> Result<(), MonitorError> {
    let mut connection = Connection::open(address, timeout)?;
    let mut stdout = std::io::stdout().lock();
    let io = |e: std::io::Error| MonitorError::Closed(format!("standard output: {e}"));
    match arguments.mode {
        Mode::Once => {
            let (snapshot, _) = connection.next_snapshot()?;
            stdout
                .write_all(text::render(&snapshot).as_bytes())
                .map_err(io)
        }
        Mode::Json => {
            let (_, line) = connection.next_snapshot()?;
            writeln!(stdout, "{line}").map_err(io)
        }
        Mode::Html => {
            let (snapshot, _) = connection.next_snapshot()?;
            let options = html::PageOptions {
                refresh_seconds: if invoked_as_cgi {
                    Some(5)
                } else {
                    Some(arguments.refresh_s).filter(|s| *s > 0)
                },
            };
            if invoked_as_cgi {
                stdout
                    .write_all(b"Content-Type: text/html; charset=utf-8\r\n\r\n")
                    .map_err(io)?;
            }
            stdout
                .write_all(html::render(&snapshot, &options).as_bytes())
                .map_err(io)
        }
        Mode::Lines => {
            drop(stdout);
            line_mode(connection, address)
        }
        #[cfg(feature = "screen")]
        Mode::Curses => {
            drop(stdout);
            screen::run(connection, address.to_string(), timeout)
        }
        #[cfg(not(feature = "screen"))]
        Mode::Curses => {
            drop(stdout);
            eprintln!(
                "failmon: this build has no curses screen (built without the screen feature): line mode"
            );
            let _ = timeout;
            line_mode(connection, address)
        }
    }
}

/// Line mode: a reader thread keeps the latest snapshot; each Return prints it.
fn line_mode(mut connection: Connection, address: &str) -> Result<(), MonitorError> {
    let (first, _) = connection.next_snapshot()?;
    let latest = Arc::new(Mutex::new(Ok(first)));
    let shared = Arc::clone(&latest);
    std::thread::spawn(move || loop {
        let next = connection.next_snapshot().map(|(snapshot, _)| snapshot);
        let failed = next.is_err();
        if let Ok(mut slot) = shared.lock() {
            *slot = next;
        }
        if failed {
            return;
        }
    });
    eprintln!("failmon: connected to {address}; press Return to show the state, Ctrl-D to quit");
    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        if line.is_err() {
            break;
        }
        let current = match latest.lock() {
            Ok(slot) => match &*slot {
                Ok(snapshot) => Ok(text::render(snapshot)),
                Err(error) => Err(error.to_string()),
            },
            Err(_) => Err("reader failed".to_string()),
        };
        match current {
            Ok(rendered) => {
                let mut stdout = std::io::stdout().lock();
                let _ = stdout.write_all(rendered.as_bytes());
                let _ = stdout.flush();
            }
            Err(why) => return Err(MonitorError::Closed(why)),
        }
    }
    Ok(())
}
