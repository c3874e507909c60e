//! failsh's log: per-facility levels (shared with the debug port) written to standard error in
//! the foreground, or to syslog facility `daemon` once detached, as the original did.

use crate::logging::{Level, Levels};
use std::os::unix::net::UnixDatagram;
use std::sync::{Arc, Mutex};

/// syslog facility `daemon` (3) shifted into place, as in `<PRI>` of RFC 3164.
const LOG_DAEMON: u8 = 3 << 3;

#[derive(Debug, Clone)]
pub struct Logger {
    levels: Arc<Levels>,
    /// `Some` once detached: lines go to the local syslog socket.
    syslog: Option<Arc<Mutex<UnixDatagram>>>,
}

impl Logger {
    pub fn stderr(levels: Arc<Levels>) -> Logger {
        Logger {
            levels,
            syslog: None,
        }
    }

    /// Logs to `/dev/log`; falls back to standard error when there is no syslog daemon.
    pub fn syslog(levels: Arc<Levels>) -> Logger {
        let socket = UnixDatagram::unbound()
            .and_then(|s| s.connect("/dev/log").map(|()| s))
            .ok()
            .map(|s| Arc::new(Mutex::new(s)));
        Logger {
            levels,
            syslog: socket,
        }
    }

    pub fn levels(&self) -> &Arc<Levels> {
        &self.levels
    }

    pub fn log(&self, facility: &str, level: Level, message: &str) {
        if !self.levels.enabled(facility, level) {
            return;
        }
        match &self.syslog {
            None => self.levels.log(facility, level, message),
            Some(socket) => {
                let severity = match level {
                    Level::Error => 3,
                    Level::Warn => 4,
                    Level::Info => 6,
                    Level::Debug | Level::Trace => 7,
                };
                let line = format!(
                    "<{}>failsh[{}]: {facility} {level}: {message}",
                    LOG_DAEMON | severity,
                    std::process::id()
                );
                let socket = socket.lock().unwrap_or_else(|e| e.into_inner());
                // Logging is best effort: a full or missing syslog must not stop failover.
                let _ = socket.send(line.as_bytes());
            }
        }
    }

    pub fn info(&self, facility: &str, message: &str) {
        self.log(facility, Level::Info, message);
    }

    pub fn warn(&self, facility: &str, message: &str) {
        self.log(facility, Level::Warn, message);
    }

    pub fn error(&self, facility: &str, message: &str) {
        self.log(facility, Level::Error, message);
    }

    pub fn debug(&self, facility: &str, message: &str) {
        self.log(facility, Level::Debug, message);
    }
}
