//! systemd readiness notification (`Type=notify` units) with the plain protocol: one
//! datagram such as `READY=1` to the unix socket named by `$NOTIFY_SOCKET` (a path, or an
//! abstract name written with a leading `@`). No libsystemd and no unsafe code.
//!
//! faild and failsh call [`notify_ready`] once they are bound and configured; outside
//! systemd (`NOTIFY_SOCKET` unset) it does nothing. From their main loop they then call
//! [`Notifier::alive`], which sends `WATCHDOG=1` at half of `WATCHDOG_USEC` (when systemd set
//! it for this process: `WATCHDOG_PID` unset or ours), so a loop that hangs stops the pings
//! and systemd restarts the daemon, and `STATUS=` whenever the one-line summary changes. A
//! reload is `RELOADING=1` with `MONOTONIC_USEC=` (what `Type=notify-reload` waits for, systemd
//! 253 and later), then `READY=1` once the new configuration is in force; a stop `STOPPING=1`.

use std::io;
use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

/// The environment variable systemd sets for `Type=notify` services.
pub const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";

/// Tells systemd the daemon is ready (`READY=1`). Returns `Ok(false)` when not started by
/// systemd with `Type=notify`, `Ok(true)` when the notification was sent.
pub fn notify_ready() -> io::Result<bool> {
    notify("READY=1")
}

/// Tells systemd the daemon is stopping (`STOPPING=1`), e.g. at the start of a handover.
pub fn notify_stopping() -> io::Result<bool> {
    notify("STOPPING=1")
}

/// Tells systemd a reload began: `RELOADING=1` and the `CLOCK_MONOTONIC` time in
/// `MONOTONIC_USEC=`, as sd_notify(3) asks. Follow it with [`notify_ready`].
pub fn notify_reloading() -> io::Result<bool> {
    notify(&format!("RELOADING=1\nMONOTONIC_USEC={}", monotonic_usec()))
}

/// `CLOCK_MONOTONIC` in microseconds, the clock systemd compares `MONOTONIC_USEC=` with.
#[allow(unsafe_code)]
pub fn monotonic_usec() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into the valid, exclusively borrowed `now`.
    let result = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    if result != 0 {
        return 0;
    }
    (now.tv_sec as u64).saturating_mul(1_000_000) + (now.tv_nsec as u64) / 1_000
}

/// Half of the watchdog timeout systemd set for this process (`WATCHDOG_USEC`, with
/// `WATCHDOG_PID` unset or naming this process), the interval sd_watchdog_enabled(3)
/// recommends; `None` without a watchdog.
pub fn watchdog_interval() -> Option<Duration> {
    watchdog_interval_of(
        std::env::var("WATCHDOG_USEC").ok().as_deref(),
        std::env::var("WATCHDOG_PID").ok().as_deref(),
        std::process::id(),
    )
}

fn watchdog_interval_of(usec: Option<&str>, pid: Option<&str>, ours: u32) -> Option<Duration> {
    let usec: u64 = usec?.trim().parse().ok().filter(|usec| *usec > 0)?;
    if let Some(pid) = pid {
        if pid.trim().parse::<u32>().ok() != Some(ours) {
            return None;
        }
    }
    Some(Duration::from_micros(usec / 2))
}

/// The main loop's side of the protocol: watchdog pings and the status line.
#[derive(Debug)]
pub struct Notifier {
    enabled: bool,
    watchdog: Option<Duration>,
    last_ping: Option<Instant>,
    last_status_at: Option<Instant>,
    status: String,
}

/// The status line is recomputed this often at most (it costs a walk over the services).
pub const STATUS_REFRESH: Duration = Duration::from_secs(1);

impl Notifier {
    /// From the environment: nothing to do outside systemd.
    pub fn from_env() -> Notifier {
        let enabled = std::env::var_os(NOTIFY_SOCKET).is_some();
        Notifier {
            enabled,
            watchdog: if enabled { watchdog_interval() } else { None },
            last_ping: None,
            last_status_at: None,
            status: String::new(),
        }
    }

    /// Whether there is a `NOTIFY_SOCKET` to talk to.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// How often the loop must call [`Notifier::alive`] at least: the watchdog's half
    /// timeout, or [`STATUS_REFRESH`] for the status line. `None` outside systemd.
    pub fn every(&self) -> Option<Duration> {
        self.enabled.then(|| {
            self.watchdog
                .map_or(STATUS_REFRESH, |ping| ping.min(STATUS_REFRESH))
        })
    }

    /// How long until [`Notifier::alive`] has something to do (a ping or a status refresh);
    /// `None` outside systemd.
    pub fn due_in(&self) -> Option<Duration> {
        let left = |at: Option<Instant>, every: Duration| {
            at.map_or(Duration::ZERO, |at| every.saturating_sub(at.elapsed()))
        };
        self.enabled.then(|| {
            let status = left(self.last_status_at, STATUS_REFRESH);
            self.watchdog
                .map_or(status, |every| status.min(left(self.last_ping, every)))
        })
    }

    /// Whether [`Notifier::alive`] has anything to do now (a ping or a status refresh is
    /// due): lets the caller skip building the status line.
    pub fn due(&self) -> bool {
        let elapsed =
            |at: Option<Instant>, every: Duration| at.is_none_or(|at| at.elapsed() >= every);
        self.enabled
            && (elapsed(self.last_status_at, STATUS_REFRESH)
                || self
                    .watchdog
                    .is_some_and(|every| elapsed(self.last_ping, every)))
    }

    /// From the main loop: `WATCHDOG=1` when a ping is due, `STATUS=status` when the status
    /// changed, in one datagram. Errors are ignored: systemd's absence must not stop the
    /// daemon.
    pub fn alive(&mut self, status: &str) {
        if !self.enabled {
            return;
        }
        let now = Instant::now();
        self.last_status_at = Some(now);
        let mut message = Vec::new();
        if let Some(every) = self.watchdog {
            if self
                .last_ping
                .is_none_or(|at| now.duration_since(at) >= every)
            {
                self.last_ping = Some(now);
                message.push("WATCHDOG=1".to_string());
            }
        }
        if status != self.status {
            self.status = status.to_string();
            message.push(format!("STATUS={}", status.replace('\n', " ")));
        }
        if !message.is_empty() {
            let _ = notify(&message.join("\n"));
        }
    }
}

/// Sends `state` (newline-separated `VAR=value` assignments, see sd_notify(3)) to the
/// socket in `$NOTIFY_SOCKET`, if set.
pub fn notify(state: &str) -> io::Result<bool> {
    match std::env::var_os(NOTIFY_SOCKET) {
        None => Ok(false),
        Some(target) => {
            let target = target.to_str().ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidInput, "NOTIFY_SOCKET is not UTF-8")
            })?;
            notify_to(target, state)?;
            Ok(true)
        }
    }
}

/// Sends `state` to the notification socket `target` (a path, or `@name` for an abstract
/// socket on Linux).
pub fn notify_to(target: &str, state: &str) -> io::Result<()> {
    if target.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "NOTIFY_SOCKET is empty",
        ));
    }
    let socket = UnixDatagram::unbound()?;
    if let Some(name) = target.strip_prefix('@') {
        send_abstract(&socket, name, state)
    } else {
        socket.send_to(state.as_bytes(), target).map(|_| ())
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn send_abstract(socket: &UnixDatagram, name: &str, state: &str) -> io::Result<()> {
    #[cfg(target_os = "android")]
    use std::os::android::net::SocketAddrExt;
    #[cfg(target_os = "linux")]
    use std::os::linux::net::SocketAddrExt;
    let address = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
    socket.send_to_addr(state.as_bytes(), &address).map(|_| ())
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn send_abstract(_socket: &UnixDatagram, name: &str, _state: &str) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        format!("NOTIFY_SOCKET=@{name}: abstract sockets exist on Linux only"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn receive(socket: &UnixDatagram) -> String {
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut buf = [0u8; 256];
        let n = socket.recv(&mut buf).expect("a notification arrives");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    #[test]
    fn ready_reaches_a_socket_given_by_path() {
        let dir = std::env::temp_dir().join(format!("fo-sdnotify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify");
        let _ = std::fs::remove_file(&path);
        let listener = UnixDatagram::bind(&path).unwrap();
        notify_to(path.to_str().unwrap(), "READY=1").unwrap();
        assert_eq!(receive(&listener), "READY=1");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn ready_reaches_an_abstract_socket() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("fo-sdnotify-test-{}", std::process::id());
        let address = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let listener = UnixDatagram::bind_addr(&address).unwrap();
        notify_to(&format!("@{name}"), "STOPPING=1").unwrap();
        assert_eq!(receive(&listener), "STOPPING=1");
    }

    #[test]
    fn the_watchdog_interval_is_half_the_timeout_for_this_process_only() {
        let half = Some(Duration::from_secs(5));
        assert_eq!(watchdog_interval_of(Some("10000000"), None, 7), half);
        assert_eq!(watchdog_interval_of(Some("10000000"), Some("7"), 7), half);
        assert_eq!(watchdog_interval_of(Some("10000000"), Some("8"), 7), None);
        assert_eq!(watchdog_interval_of(Some("0"), None, 7), None);
        assert_eq!(watchdog_interval_of(Some("x"), None, 7), None);
        assert_eq!(watchdog_interval_of(None, None, 7), None);
    }

    #[test]
    fn the_monotonic_clock_is_read() {
        let a = monotonic_usec();
        assert!(a > 0);
        assert!(monotonic_usec() >= a);
    }

    #[test]
    fn an_empty_or_missing_socket_is_an_error() {
        assert_eq!(
            notify_to("", "READY=1").unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
        assert!(notify_to("/nonexistent/fo-sdnotify/socket", "READY=1").is_err());
    }
}
