//! systemd readiness notification (`Type=notify` units) with the plain protocol: one
//! datagram such as `READY=1` to the unix socket named by `$NOTIFY_SOCKET` (a path, or an
//! abstract name written with a leading `@`). No libsystemd and no unsafe code.
//!
//! faild and failsh call [`notify_ready`] once they are bound and configured; outside
//! systemd (`NOTIFY_SOCKET` unset) it does nothing.

use std::io;
use std::os::unix::net::UnixDatagram;

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
    fn an_empty_or_missing_socket_is_an_error() {
        assert_eq!(
            notify_to("", "READY=1").unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
        assert!(notify_to("/nonexistent/fo-sdnotify/socket", "READY=1").is_err());
    }
}
