//! The one log sink of every program: the `log` facade's records, filtered by per-facility
//! levels adjustable at run time (by `-d facility` on the command line and by faildebug over
//! the debug port, see [`crate::debugport`]), written to standard error, to standard error
//! with `<N>` priority prefixes under systemd (journald reads those), or to syslog.
//!
//! The original raised the debug level of one facility at a time so that a busy failsh could be
//! traced without filling the disk; the same holds here: every facility starts at
//! [`Level::Info`] and can be raised to `debug` or `trace` (or lowered to `warn`, `error`) on its
//! own, or all at once with the facility name `all`. A record's facility is its `log` target
//! (`log::info!(target: "decision", ...)`); records of other targets (libraries) count as
//! `net` and are written from `warn` up only.
//!
//! A [`Levels`] table is cheap to share (`Arc`), lock-free to read (one atomic per facility),
//! and [`Levels::applier`] turns it into the callback [`crate::debugport::serve`] takes.
//! `net` lines (refused and malformed requests, connections: anybody can cause them) are
//! limited to 20 a second, with a count of what was left out.

use std::fmt;
use std::io::Write;
use std::os::unix::net::UnixDatagram;
use std::str::FromStr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// How much a facility logs, least verbose first. The numbers (0-4) are accepted wherever a
/// level name is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Error = 0,
    Warn = 1,
    Info = 2,
    Debug = 3,
    Trace = 4,
}

impl Level {
    pub const ALL: [Level; 5] = [
        Level::Error,
        Level::Warn,
        Level::Info,
        Level::Debug,
        Level::Trace,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Info => "info",
            Level::Debug => "debug",
            Level::Trace => "trace",
        }
    }

    /// The `log` crate's level of a record.
    pub fn from_log(level: log::Level) -> Level {
        match level {
            log::Level::Error => Level::Error,
            log::Level::Warn => Level::Warn,
            log::Level::Info => Level::Info,
            log::Level::Debug => Level::Debug,
            log::Level::Trace => Level::Trace,
        }
    }

    /// The `log` crate's level.
    pub fn to_log(self) -> log::Level {
        match self {
            Level::Error => log::Level::Error,
            Level::Warn => log::Level::Warn,
            Level::Info => log::Level::Info,
            Level::Debug => log::Level::Debug,
            Level::Trace => log::Level::Trace,
        }
    }

    /// The syslog severity (RFC 5424): error 3, warning 4, informational 6, debug 7.
    pub fn severity(self) -> u8 {
        match self {
            Level::Error => 3,
            Level::Warn => 4,
            Level::Info => 6,
            Level::Debug | Level::Trace => 7,
        }
    }

    fn from_u8(value: u8) -> Level {
        match value {
            0 => Level::Error,
            1 => Level::Warn,
            2 => Level::Info,
            3 => Level::Debug,
            _ => Level::Trace,
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Level {
    type Err = String;

    /// A level name in any case (`warning` too) or its number 0-4.
    fn from_str(text: &str) -> Result<Level, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "error" | "0" => Ok(Level::Error),
            "warn" | "warning" | "1" => Ok(Level::Warn),
            "info" | "2" => Ok(Level::Info),
            "debug" | "3" => Ok(Level::Debug),
            "trace" | "4" => Ok(Level::Trace),
            _ => Err(format!(
                "\"{text}\" is not a log level (expected error, warn, info, debug, trace or 0-4)"
            )),
        }
    }
}

/// The facilities of failsh and faild. `all` addresses every one of them at once.
pub const FACILITIES: [&str; 8] = [
    "poll",      // polls of other hosts' faild and their answers
    "decision",  // the decision rule: why a service stays, starts or stops
    "procedure", // start, stop, reclaim and check procedures, their output and results
    "store",     // faild's state store and state file
    "net",       // sockets, connections, malformed packets
    "monitor",   // the monitor port and its readers
    "debug",     // the debug port itself
    "config",    // reading and reloading the configuration
];

/// The name that addresses every facility.
pub const ALL_FACILITIES: &str = "all";

/// One level per facility, shared between the daemon's threads.
#[derive(Debug)]
pub struct Levels {
    program: String,
    levels: [AtomicU8; FACILITIES.len()],
}

impl Levels {
    /// Every facility at [`Level::Info`]. `program` prefixes every log line.
    pub fn new(program: &str) -> Levels {
        Levels {
            program: program.to_string(),
            levels: std::array::from_fn(|_| AtomicU8::new(Level::Info as u8)),
        }
    }

    /// Sets the level of `facility` (or of every facility for `all`). Unknown facilities are
    /// an error that lists the known ones, so a typo in faildebug does not pass silently.
    pub fn set(&self, facility: &str, level: Level) -> Result<(), String> {
        if facility == ALL_FACILITIES {
            for slot in &self.levels {
                slot.store(level as u8, Ordering::Relaxed);
            }
            return Ok(());
        }
        let index = facility_index(facility)?;
        self.levels[index].store(level as u8, Ordering::Relaxed);
        Ok(())
    }

    /// The level of `facility`; unknown facilities log at [`Level::Info`].
    pub fn get(&self, facility: &str) -> Level {
        match facility_index(facility) {
            Ok(index) => Level::from_u8(self.levels[index].load(Ordering::Relaxed)),
            Err(_) => Level::Info,
        }
    }

    /// Whether a message of `level` on `facility` is written.
    pub fn enabled(&self, facility: &str, level: Level) -> bool {
        level <= self.get(facility)
    }

    /// Every facility with its level, in [`FACILITIES`] order (for `-V`-style dumps and tests).
    pub fn snapshot(&self) -> Vec<(&'static str, Level)> {
        FACILITIES
            .iter()
            .map(|facility| (*facility, self.get(facility)))
            .collect()
    }

    /// The callback for [`crate::debugport::serve`]: applies a faildebug request to this table
    /// and logs the change on the `debug` facility.
    pub fn applier(self: &Arc<Levels>) -> crate::debugport::Apply {
        let levels = Arc::clone(self);
        Arc::new(move |facility: &str, level: Level| {
            levels.set(facility, level)?;
            // Logged at warn so that the change is visible even when the facility is quiet.
            log::warn!(target: "debug", "log level of {facility} set to {level} by faildebug");
            Ok(())
        })
    }
}

fn facility_index(facility: &str) -> Result<usize, String> {
    FACILITIES
        .iter()
        .position(|known| *known == facility)
        .ok_or_else(|| {
            format!(
                "unknown facility \"{facility}\" (expected one of {}, {ALL_FACILITIES})",
                FACILITIES.join(", ")
            )
        })
}

/// The process-wide table, for programs that have one logger (faild, failsh).
pub fn global(program: &str) -> Arc<Levels> {
    static GLOBAL: OnceLock<Arc<Levels>> = OnceLock::new();
    Arc::clone(GLOBAL.get_or_init(|| Arc::new(Levels::new(program))))
}

/// Where log lines go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// Standard error, one timestamped line per record (the foreground).
    Stderr,
    /// Standard error with a `<N>` priority prefix and no timestamp: what journald expects
    /// from a service whose output it reads (systemd sets `JOURNAL_STREAM`).
    Journal,
    /// The local syslog socket `/dev/log` (or `$FAILOVER_SYSLOG_SOCKET`), facility `daemon`
    /// (a detached daemon). A send that fails (the syslog daemon restarted and made a new
    /// socket) opens the socket again and retries once; while that fails too, lines are
    /// dropped (and counted) and the socket is tried again at most once a second. Sends never
    /// wait: a syslog daemon that does not read loses lines, it does not stall failover.
    Syslog,
}

impl Output {
    /// Standard error, with priority prefixes when it goes to the journal: systemd sets
    /// `JOURNAL_STREAM=DEV:INO` to the stream it connected standard error to, and a program
    /// whose standard error was redirected since (to a file, a pipe) does not match it.
    pub fn stderr() -> Output {
        let stream = std::env::var("JOURNAL_STREAM").ok();
        if journal_stream_is_stderr(stream.as_deref()) {
            Output::Journal
        } else {
            Output::Stderr
        }
    }
}

/// Whether `JOURNAL_STREAM` (`DEV:INO`, decimal) names the file standard error is.
fn journal_stream_is_stderr(stream: Option<&str>) -> bool {
    let Some((dev, ino)) = stream.and_then(|s| s.trim().split_once(':')) else {
        return false;
    };
    let (Ok(dev), Ok(ino)) = (dev.parse::<u64>(), ino.parse::<u64>()) else {
        return false;
    };
    match nix::sys::stat::fstat(std::io::stderr()) {
        #[allow(clippy::useless_conversion, clippy::unnecessary_cast)]
        Ok(stat) => stat.st_dev as u64 == dev && stat.st_ino as u64 == ino,
        Err(_) => false,
    }
}

/// The variable that names another syslog socket than `/dev/log` (tests use it).
pub const SYSLOG_SOCKET_ENV: &str = "FAILOVER_SYSLOG_SOCKET";

/// The syslog socket: `$FAILOVER_SYSLOG_SOCKET`, else `/dev/log`.
pub fn syslog_socket() -> std::path::PathBuf {
    std::env::var_os(SYSLOG_SOCKET_ENV)
        .filter(|p| !p.is_empty())
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from("/dev/log"))
}

/// syslog facility `daemon` (3) shifted into place, as in `<PRI>` of RFC 3164.
const LOG_DAEMON: u8 = 3 << 3;
/// `net` lines written per second at most.
const NET_LINES_PER_SECOND: u32 = 20;
/// A syslog socket that cannot be opened is tried again this often at most.
const SYSLOG_RETRY_MS: u128 = 1_000;

/// The sink behind the `log` facade: levels, the output, the `net` rate limit.
#[derive(Debug)]
pub struct Sink {
    levels: Arc<Levels>,
    state: Mutex<SinkState>,
}

#[derive(Debug)]
struct SinkState {
    output: Output,
    syslog: Option<UnixDatagram>,
    syslog_path: std::path::PathBuf,
    syslog_tried: Option<Instant>,
    /// Lines lost since syslog last took one.
    syslog_lost: u64,
    net_window: Instant,
    net_lines: u32,
    net_suppressed: u32,
}

static SINK: OnceLock<Arc<Sink>> = OnceLock::new();

/// Installs the sink as the `log` facade's logger (once per process; later calls only change
/// the output) and returns it.
pub fn init(levels: Arc<Levels>, output: Output) -> Arc<Sink> {
    let sink = SINK.get_or_init(|| {
        let sink = Arc::new(Sink {
            levels,
            state: Mutex::new(SinkState {
                output,
                syslog: None,
                syslog_path: syslog_socket(),
                syslog_tried: None,
                syslog_lost: 0,
                net_window: Instant::now(),
                net_lines: 0,
                net_suppressed: 0,
            }),
        });
        let _ = log::set_boxed_logger(Box::new(Facade(Arc::clone(&sink))));
        log::set_max_level(log::LevelFilter::Trace);
        sink
    });
    sink.set_output(output);
    Arc::clone(sink)
}

/// What `log` calls: forwards to the shared sink.
struct Facade(Arc<Sink>);

impl log::Log for Facade {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        self.0.enabled(metadata.target(), metadata.level())
    }

    fn log(&self, record: &log::Record<'_>) {
        self.0
            .write(record.target(), record.level(), &record.args().to_string());
    }

    fn flush(&self) {}
}

impl Sink {
    pub fn levels(&self) -> &Arc<Levels> {
        &self.levels
    }

    /// After detaching: from standard error to syslog.
    pub fn set_output(&self, output: Output) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.output = output;
    }

    /// The facility of a target, and whether it is one of ours.
    fn facility(target: &str) -> (&str, bool) {
        match FACILITIES.iter().find(|f| **f == target) {
            Some(f) => (f, true),
            None => ("net", false),
        }
    }

    fn enabled(&self, target: &str, level: log::Level) -> bool {
        let (facility, ours) = Sink::facility(target);
        let level = Level::from_log(level);
        self.levels.enabled(facility, level) && (ours || level <= Level::Warn)
    }

    /// Writes one record, if its facility is at its level or more verbose.
    pub fn write(&self, target: &str, level: log::Level, message: &str) {
        if !self.enabled(target, level) {
            return;
        }
        let (facility, _) = Sink::facility(target);
        let level = Level::from_log(level);
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if facility == "net" {
            if state.net_window.elapsed().as_secs() >= 1 {
                let suppressed = std::mem::take(&mut state.net_suppressed);
                state.net_window = Instant::now();
                state.net_lines = 0;
                if suppressed > 0 {
                    let note = format!("{suppressed} net lines suppressed in the last second");
                    self.emit(&mut state, "net", Level::Warn, &note);
                }
            }
            if state.net_lines >= NET_LINES_PER_SECOND {
                state.net_suppressed += 1;
                return;
            }
            state.net_lines += 1;
        }
        self.emit(&mut state, facility, level, message);
    }

    fn emit(&self, state: &mut SinkState, facility: &str, level: Level, message: &str) {
        let program = &self.levels.program;
        let pid = std::process::id();
        // Logging is best effort: a closed stderr or a full syslog must not stop failover.
        match state.output {
            Output::Stderr => {
                let line = format!(
                    "{} {program}[{pid}] {facility} {level}: {message}\n",
                    utc_timestamp(SystemTime::now()),
                );
                let _ = std::io::stderr().lock().write_all(line.as_bytes());
            }
            Output::Journal => {
                let line = format!("<{}>{facility} {level}: {message}\n", level.severity());
                let _ = std::io::stderr().lock().write_all(line.as_bytes());
            }
            Output::Syslog => {
                let line = format!(
                    "<{}>{program}[{pid}]: {facility} {level}: {message}",
                    LOG_DAEMON | level.severity()
                );
                if state.syslog_lost > 0 && send_syslog(state, "") {
                    // Back after lines were lost: say how many first.
                    let lost = std::mem::take(&mut state.syslog_lost);
                    let note = format!(
                        "<{}>{program}[{pid}]: net warn: {lost} log lines lost while syslog was unavailable",
                        LOG_DAEMON | Level::Warn.severity()
                    );
                    send_syslog(state, &note);
                }
                if !send_syslog(state, &line) {
                    state.syslog_lost += 1;
                }
            }
        }
    }
}

/// Sends one line to the syslog socket (an empty line only checks that it can be reached):
/// on a failure the socket is opened again and the line sent once more; a socket that cannot
/// be opened is tried again [`SYSLOG_RETRY_MS`] later at the earliest. Never blocks.
fn send_syslog(state: &mut SinkState, line: &str) -> bool {
    for attempt in 0..2 {
        if state.syslog.is_none() {
            let recently = state
                .syslog_tried
                .is_some_and(|t| t.elapsed().as_millis() < SYSLOG_RETRY_MS);
            if recently && attempt == 0 {
                return false;
            }
            state.syslog_tried = Some(Instant::now());
            state.syslog = UnixDatagram::unbound()
                .and_then(|s| s.set_nonblocking(true).map(|()| s))
                .and_then(|s| s.connect(&state.syslog_path).map(|()| s))
                .ok();
            if state.syslog.is_none() {
                return false;
            }
        }
        if line.is_empty() {
            return true;
        }
        match state.syslog.as_ref().map(|s| s.send(line.as_bytes())) {
            Some(Ok(_)) => return true,
            // A full queue: the daemon is there but behind; drop the line, keep the socket.
            Some(Err(e)) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
            Some(Err(_)) | None => state.syslog = None,
        }
    }
    false
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` without a date crate (days-to-civil after H. Hinnant).
pub fn utc_timestamp(at: SystemTime) -> String {
    let since_epoch = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let unix_ms = since_epoch.as_millis() as u64;
    utc_timestamp_ms(unix_ms)
}

/// [`utc_timestamp`] of unix milliseconds.
pub fn utc_timestamp_ms(unix_ms: u64) -> String {
    let seconds = unix_ms / 1000;
    let millis = unix_ms % 1000;
    let days = (seconds / 86_400) as i64;
    let second_of_day = seconds % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        second_of_day / 3600,
        (second_of_day / 60) % 60,
        second_of_day % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_parse_by_name_and_number() {
        assert_eq!("DEBUG".parse::<Level>(), Ok(Level::Debug));
        assert_eq!("4".parse::<Level>(), Ok(Level::Trace));
        assert_eq!("warning".parse::<Level>(), Ok(Level::Warn));
        assert!("loud".parse::<Level>().unwrap_err().contains("loud"));
    }

    #[test]
    fn a_facility_changes_alone_and_all_changes_every_facility() {
        let levels = Levels::new("test");
        levels.set("poll", Level::Trace).unwrap();
        assert_eq!(levels.get("poll"), Level::Trace);
        assert_eq!(levels.get("decision"), Level::Info);
        assert!(levels.enabled("poll", Level::Trace));
        assert!(!levels.enabled("decision", Level::Debug));
        levels.set("all", Level::Error).unwrap();
        assert!(levels.snapshot().iter().all(|(_, l)| *l == Level::Error));
        let error = levels.set("pol", Level::Debug).unwrap_err();
        assert!(error.contains("unknown facility \"pol\""), "{error}");
    }

    #[test]
    fn journal_stream_must_name_stderr() {
        assert!(!journal_stream_is_stderr(None));
        assert!(!journal_stream_is_stderr(Some("garbage")));
        let stat = nix::sys::stat::fstat(std::io::stderr()).unwrap();
        let ours = format!("{}:{}", stat.st_dev, stat.st_ino);
        assert!(journal_stream_is_stderr(Some(&ours)));
        let other = format!("{}:{}", stat.st_dev, stat.st_ino + 1);
        assert!(!journal_stream_is_stderr(Some(&other)));
    }

    /// A syslog daemon that restarts makes a new socket at the same path: the lines after
    /// it arrive there, and the loss in between is reported.
    #[test]
    fn syslog_lines_reach_a_recreated_socket() {
        let dir = std::env::temp_dir().join(format!("fo-syslog-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("log");
        let receive = |socket: &UnixDatagram| {
            socket
                .set_read_timeout(Some(std::time::Duration::from_secs(5)))
                .unwrap();
            let mut buffer = [0u8; 1024];
            let n = socket.recv(&mut buffer).expect("a line arrives");
            String::from_utf8_lossy(&buffer[..n]).into_owned()
        };
        let first = UnixDatagram::bind(&path).unwrap();
        let sink = Sink {
            levels: Arc::new(Levels::new("test")),
            state: Mutex::new(SinkState {
                output: Output::Syslog,
                syslog: None,
                syslog_path: path.clone(),
                syslog_tried: None,
                syslog_lost: 0,
                net_window: Instant::now(),
                net_lines: 0,
                net_suppressed: 0,
            }),
        };
        sink.write("store", log::Level::Error, "one");
        let line = receive(&first);
        assert!(line.starts_with("<27>test["), "{line}");
        assert!(line.ends_with("store error: one"), "{line}");
        // The daemon goes away: lines are dropped, nothing blocks or panics.
        drop(first);
        std::fs::remove_file(&path).unwrap();
        sink.write("store", log::Level::Warn, "lost");
        // It comes back with a new socket; the next line reopens (after the retry delay).
        let second = UnixDatagram::bind(&path).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(
            SYSLOG_RETRY_MS as u64 + 50,
        ));
        sink.write("store", log::Level::Info, "two");
        let note = receive(&second);
        assert!(note.contains("1 log lines lost"), "{note}");
        let line = receive(&second);
        assert!(line.starts_with("<30>test["), "{line}");
        assert!(line.ends_with("store info: two"), "{line}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn timestamps_are_utc_civil_dates() {
        assert_eq!(utc_timestamp_ms(0), "1970-01-01T00:00:00.000Z");
        // 2000-02-29 12:34:56.789 UTC, a leap day.
        assert_eq!(
            utc_timestamp_ms(951_827_696_789),
            "2000-02-29T12:34:56.789Z"
        );
    }
}
