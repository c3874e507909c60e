//! faild's log: standard error in the foreground, syslog (facility daemon) when detached.
//!
//! Which lines are written is decided by the shared per-facility levels of
//! [`crate::logging::Levels`] (`-d facility` raises one to debug). Syslog is spoken directly:
//! one datagram per line to `/dev/log` in the traditional `<PRI>TAG[PID]: MESSAGE` form,
//! which every syslog daemon and journald accept, so faild needs no syslog library. Lines of
//! the `net` facility (refused and malformed requests, connections) are limited to a burst
//! per second, so that a flood of forged requests cannot fill the disk.

use crate::logging::{utc_timestamp, Level, Levels};
use failover_runtime_blocking::faild::{LogLevel, Topic};
use std::io::Write;
use std::os::unix::net::UnixDatagram;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

/// syslog facility `daemon`.
const FACILITY_DAEMON: u8 = 3;
/// `net` lines logged per second at most.
const NET_LINES_PER_SECOND: u32 = 20;

#[derive(Debug)]
enum Sink {
    Stderr,
    Syslog(Option<UnixDatagram>),
}

#[derive(Debug)]
pub struct Logger {
    program: &'static str,
    sink: Sink,
    levels: Arc<Levels>,
    window_started: Instant,
    net_lines: u32,
    suppressed: u32,
}

impl Logger {
    pub fn stderr(program: &'static str, levels: Arc<Levels>) -> Logger {
        Logger::new(program, Sink::Stderr, levels)
    }

    /// Syslog; if `/dev/log` cannot be reached, lines are dropped (a detached daemon has no
    /// terminal to write to).
    pub fn syslog(program: &'static str, levels: Arc<Levels>) -> Logger {
        let socket = UnixDatagram::unbound()
            .and_then(|s| s.connect("/dev/log").map(|()| s))
            .ok();
        Logger::new(program, Sink::Syslog(socket), levels)
    }

    fn new(program: &'static str, sink: Sink, levels: Arc<Levels>) -> Logger {
        Logger {
            program,
            sink,
            levels,
            window_started: Instant::now(),
            net_lines: 0,
            suppressed: 0,
        }
    }

    pub fn log(&mut self, level: LogLevel, topic: Topic, message: &str) {
        if !self.levels.enabled(topic.name(), shared_level(level)) {
            return;
        }
        if topic == Topic::Net {
            if self.window_started.elapsed().as_secs() >= 1 {
                if self.suppressed > 0 {
                    let note = format!(
                        "{} net lines suppressed in the last second",
                        self.suppressed
                    );
                    self.write(LogLevel::Warning, topic, &note);
                }
                self.window_started = Instant::now();
                self.net_lines = 0;
                self.suppressed = 0;
            }
            if self.net_lines >= NET_LINES_PER_SECOND {
                self.suppressed += 1;
                return;
            }
            self.net_lines += 1;
        }
        self.write(level, topic, message);
    }

    fn write(&mut self, level: LogLevel, topic: Topic, message: &str) {
        let severity = match level {
            LogLevel::Error => 3,
            LogLevel::Warning => 4,
            LogLevel::Notice => 5,
            LogLevel::Info => 6,
            LogLevel::Debug => 7,
        };
        let level_name = shared_level(level).as_str();
        match &self.sink {
            Sink::Stderr => {
                // The same line shape as failsh's (crate::logging).
                let line = format!(
                    "{} {}[{}] {topic} {level_name}: {message}\n",
                    utc_timestamp(SystemTime::now()),
                    self.program,
                    std::process::id(),
                );
                let _ = std::io::stderr().lock().write_all(line.as_bytes());
            }
            Sink::Syslog(Some(socket)) => {
                let line = format!(
                    "<{}>{}[{}]: {topic} {level_name}: {message}",
                    FACILITY_DAEMON * 8 + severity,
                    self.program,
                    std::process::id()
                );
                let _ = socket.send(line.as_bytes());
            }
            Sink::Syslog(None) => {}
        }
    }
}

/// The runtime's syslog-like severities onto the shared levels (notice counts as info).
pub fn shared_level(level: LogLevel) -> Level {
    match level {
        LogLevel::Error => Level::Error,
        LogLevel::Warning => Level::Warn,
        LogLevel::Notice | LogLevel::Info => Level::Info,
        LogLevel::Debug => Level::Debug,
    }
}
