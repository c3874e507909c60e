//! faild's sockets, bound by the program before it detaches or drops privileges, so that a
//! port in use or a port below 1024 is reported to the operator and a non-root user can still
//! serve port 1291; and faild's clock.

use failover_core::drive::faild::FaildOptions;
use failover_core::time::Time;
use std::io;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::time::{SystemTime, UNIX_EPOCH};

/// Binds the sockets of `options`. A port of 0 picks a free port; with both protocols, the
/// TCP port then follows the UDP one so that one port number serves both (and when another
/// program holds that port for TCP, both are picked again, a few times).
/// faild's sockets as the program binds them and either runtime serves them.
pub type Bound = failover_core::drive::faild::Bound<UdpSocket, TcpListener>;

/// The address a bound socket ended up on (its port, when 0 was asked).
pub fn udp_address(bound: &Bound) -> Option<SocketAddr> {
    bound.udp.as_ref().and_then(|s| s.local_addr().ok())
}

pub fn tcp_address(bound: &Bound) -> Option<SocketAddr> {
    bound.tcp.as_ref().and_then(|s| s.local_addr().ok())
}

pub fn bind(options: &FaildOptions) -> io::Result<Bound> {
    let automatic =
        options.udp.is_some_and(|a| a.port() == 0) && options.tcp.is_some_and(|a| a.port() == 0);
    let mut attempt = 0;
    loop {
        match bind_once(options) {
            Err(e) if automatic && e.kind() == io::ErrorKind::AddrInUse && attempt < 20 => {
                attempt += 1;
            }
            other => return other,
        }
    }
}

fn bind_once(options: &FaildOptions) -> io::Result<Bound> {
    let udp = match options.udp {
        Some(address) => Some(bind_udp(address)?),
        None => None,
    };
    let tcp = match options.tcp {
        Some(mut address) => {
            if address.port() == 0 {
                if let Some(udp) = &udp {
                    address.set_port(udp.local_addr()?.port());
                }
            }
            Some(bind_tcp(address)?)
        }
        None => None,
    };
    Ok(Bound {
        udp,
        tcp,
        options: options.clone(),
    })
}

fn bind_udp(address: SocketAddr) -> io::Result<UdpSocket> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(address),
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )?;
    if address.is_ipv6() {
        // `-a ::` serves IPv4 clients too, as mapped addresses.
        socket.set_only_v6(false)?;
    }
    // A bigger receive buffer absorbs bursts of polls instead of dropping them.
    let _ = socket.set_recv_buffer_size(1 << 20);
    socket
        .bind(&address.into())
        .map_err(|e| annotate(e, "UDP", address))?;
    Ok(socket.into())
}

/// The accept queue asked for; the kernel caps it at net.core.somaxconn.
const LISTEN_BACKLOG: i32 = 4096;

fn bind_tcp(address: SocketAddr) -> io::Result<TcpListener> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(address),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    if address.is_ipv6() {
        socket.set_only_v6(false)?;
    }
    // A restarted faild must get its port back while old connections sit in TIME_WAIT.
    socket.set_reuse_address(true)?;
    socket
        .bind(&address.into())
        .map_err(|e| annotate(e, "TCP", address))?;
    // A full accept queue drops new SYNs, and a client's first retransmission comes 1 s
    // later: longer than a poll's timeout. Strangers holding connections open must not fill
    // it, so it is as long as the kernel allows (net.core.somaxconn caps it, 4096 by
    // default); faild accepts at once and its own limits decide what stays open.
    socket.listen(LISTEN_BACKLOG)?;
    Ok(socket.into())
}

fn annotate(error: io::Error, protocol: &str, address: SocketAddr) -> io::Error {
    io::Error::new(
        error.kind(),
        format!("cannot bind {protocol} {address}: {error}"),
    )
}

/// Wall-clock milliseconds since the Unix epoch as read at the first call, advanced by the
/// monotonic clock since: "since the last change" survives a restart (the state file holds
/// wall-clock times), and a wall clock stepped while faild runs (NTP, an operator) cannot
/// shorten or stretch a lease.
pub fn wall_clock() -> Time {
    static ANCHOR: std::sync::OnceLock<(std::time::Instant, u64)> = std::sync::OnceLock::new();
    let (start, wall_ms) = *ANCHOR.get_or_init(|| {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        (std::time::Instant::now(), ms)
    });
    let elapsed_ms = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
    Time::from_ms(wall_ms.saturating_add(elapsed_ms))
}
