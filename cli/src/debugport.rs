//! The debug port: faildebug changes the log level of a facility of a running failsh or faild.
//!
//! A TCP line protocol on which the community never travels in clear (the original warned that
//! open debug access lets an attacker fill the disk with logs):
//!
//! ```text
//! server: failover-debug 1 challenge <32 lowercase hex digits>\n
//! client: <64 hex digits: HMAC-SHA256(community, challenge || facility || " " || level)> <facility> <level>\n
//! server: ok <facility> <level>\n     the level is changed
//!         refused\n                   wrong community (the MAC does not verify)
//!         error <why>\n               malformed line, unknown facility or level, busy
//! ```
//!
//! `challenge` in the MAC is the 32 hex characters exactly as greeted, and `facility` and
//! `level` are the words exactly as sent (a level is a name `error|warn|info|debug|trace` or a
//! number `0-4`). Each connection gets a fresh random challenge, so a captured request cannot
//! be replayed. One request per connection; the server closes after its answer.
//!
//! Bounds: lines are at most [`MAX_LINE_BYTES`], a client has [`READ_TIMEOUT`] to send its
//! line, at most [`MAX_CONNECTIONS`] are served at once (more are answered `error busy`), and
//! a refused request is answered only after [`REFUSED_DELAY`] to slow down guessing.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use hmac_sha256::HMAC;

pub use crate::logging::Level;

/// faildebug's default port (failsh's monitor port is 1848, faild's 1291).
pub const DEFAULT_DEBUG_PORT: u16 = 1849;
/// The greeting's first words; the number is the protocol version.
pub const GREETING: &str = "failover-debug 1 challenge";
pub const MAX_LINE_BYTES: usize = 512;
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);
pub const MAX_CONNECTIONS: usize = 8;
pub const REFUSED_DELAY: Duration = Duration::from_millis(200);

/// What the server does with an authenticated request: set `facility` to `level`. An `Err`
/// is sent back to faildebug as `error <why>` (e.g. an unknown facility).
pub type Apply = Arc<dyn Fn(&str, Level) -> Result<(), String> + Send + Sync>;

/// A running debug port. Dropping it leaves the server running for the rest of the process
/// (daemons serve until they exit); [`DebugPort::shutdown`] stops it.
#[derive(Debug)]
pub struct DebugPort {
    local_addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl DebugPort {
    /// The address the server listens on (useful after binding port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting connections and waits for the accept thread; requests in progress are
    /// finished by their own threads.
    pub fn shutdown(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept() with a connection of our own.
        let _ = TcpStream::connect_timeout(&wake_address(self.local_addr), READ_TIMEOUT);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn wake_address(local: SocketAddr) -> SocketAddr {
    let mut address = local;
    if address.ip().is_unspecified() {
        address.set_ip(match local {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    address
}

/// Serves the debug port on `listener` from a thread of its own: every connection is checked
/// against `community` and an authenticated request is handed to `apply`.
///
/// ```no_run
/// use std::sync::Arc;
/// let levels = failover_cli::logging::global("failsh");
/// let listener = std::net::TcpListener::bind(("127.0.0.1", 1849)).unwrap();
/// let port = failover_cli::debugport::serve(listener, "public".to_string(), levels.applier()).unwrap();
/// println!("debug port on {}", port.local_addr());
/// ```
pub fn serve(listener: TcpListener, community: String, apply: Apply) -> std::io::Result<DebugPort> {
    let local_addr = listener.local_addr()?;
    let stop = Arc::new(AtomicBool::new(false));
    let stop_flag = Arc::clone(&stop);
    let community = Arc::new(community);
    let active = Arc::new(AtomicUsize::new(0));
    let thread = thread::Builder::new()
        .name("debug-port".to_string())
        .spawn(move || {
            for stream in listener.incoming() {
                if stop_flag.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut stream) = stream else {
                    // EMFILE and friends: back off instead of spinning.
                    thread::sleep(Duration::from_millis(50));
                    continue;
                };
                if active.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
                    active.fetch_sub(1, Ordering::SeqCst);
                    let _ = stream.set_write_timeout(Some(READ_TIMEOUT));
                    let _ = stream.write_all(b"error busy\n");
                    continue;
                }
                let community = Arc::clone(&community);
                let apply = Arc::clone(&apply);
                let active_on_exit = Arc::clone(&active);
                let spawned = thread::Builder::new()
                    .name("debug-client".to_string())
                    .spawn(move || {
                        let _ = handle_connection(stream, &community, apply.as_ref());
                        active_on_exit.fetch_sub(1, Ordering::SeqCst);
                    });
                if spawned.is_err() {
                    active.fetch_sub(1, Ordering::SeqCst);
                }
            }
        })?;
    Ok(DebugPort {
        local_addr,
        stop,
        thread: Some(thread),
    })
}

type ApplyFn = dyn Fn(&str, Level) -> Result<(), String> + Send + Sync;

fn handle_connection(
    mut stream: TcpStream,
    community: &str,
    apply: &ApplyFn,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(READ_TIMEOUT))?;
    stream.set_write_timeout(Some(READ_TIMEOUT))?;
    let challenge = new_challenge()?;
    stream.write_all(format!("{GREETING} {challenge}\n").as_bytes())?;
    let line = match read_line(&mut stream) {
        Ok(line) => line,
        Err(why) => {
            let _ = stream.write_all(format!("error {why}\n").as_bytes());
            return Ok(());
        }
    };
    let answer = answer_request(&line, &challenge, community, apply);
    if answer == "refused\n" {
        thread::sleep(REFUSED_DELAY);
    }
    stream.write_all(answer.as_bytes())?;
    let _ = stream.shutdown(Shutdown::Write);
    Ok(())
}

/// The server's answer to one request line (without its newline), as sent on the wire.
fn answer_request(line: &str, challenge: &str, community: &str, apply: &ApplyFn) -> String {
    let words: Vec<&str> = line.split_ascii_whitespace().collect();
    let [mac_hex, facility, level_text] = words[..] else {
        return "error expected \"<hmac> <facility> <level>\"\n".to_string();
    };
    let Some(mac) = decode_hex(mac_hex) else {
        return "error the hmac is not 64 hex digits\n".to_string();
    };
    if mac.len() != 32 {
        return "error the hmac is not 64 hex digits\n".to_string();
    }
    let mut expected = new_mac(community);
    expected.update(signed_text(challenge, facility, level_text).as_bytes());
    let Ok(mac) = <[u8; 32]>::try_from(mac.as_slice()) else {
        return "error the hmac is not 64 hex digits\n".to_string();
    };
    if !expected.finalize_verify(&mac) {
        return "refused\n".to_string();
    }
    let level = match level_text.parse::<Level>() {
        Ok(level) => level,
        Err(why) => return format!("error {}\n", one_line(&why)),
    };
    match apply(facility, level) {
        Ok(()) => format!("ok {facility} {level}\n"),
        Err(why) => format!("error {}\n", one_line(&why)),
    }
}

fn one_line(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}

/// Reads one line of at most [`MAX_LINE_BYTES`] within the socket's read timeout.
fn read_line(stream: &mut TcpStream) -> Result<String, &'static str> {
    let mut reader = BufReader::new(stream.take(MAX_LINE_BYTES as u64 + 1));
    let mut line = Vec::new();
    match reader.read_until(b'\n', &mut line) {
        Ok(_) => {}
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            return Err("timeout");
        }
        Err(_) => return Err("read failed"),
    }
    if line.last() != Some(&b'\n') {
        return Err(if line.len() > MAX_LINE_BYTES {
            "line too long"
        } else {
            "incomplete line"
        });
    }
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    String::from_utf8(line).map_err(|_| "line is not UTF-8")
}

fn new_challenge() -> std::io::Result<String> {
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(encode_hex(&bytes))
}

fn new_mac(community: &str) -> HMAC {
    HMAC::new(community.as_bytes())
}

fn signed_text(challenge: &str, facility: &str, level: &str) -> String {
    format!("{challenge}{facility} {level}")
}

/// The MAC a client sends, in hex: HMAC-SHA256 keyed by `community` over
/// `challenge || facility || " " || level`.
pub fn request_mac(community: &str, challenge: &str, facility: &str, level: &str) -> String {
    let mut mac = new_mac(community);
    mac.update(signed_text(challenge, facility, level).as_bytes());
    encode_hex(&mac.finalize())
}

fn encode_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() & 1 != 0 || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

/// Why a faildebug request did not change the level.
#[derive(Debug, PartialEq, Eq)]
pub enum ClientError {
    /// No connection (refused, unreachable, timeout): nothing listens there.
    Connect(String),
    /// The server is not a failover debug port or broke the protocol.
    Protocol(String),
    /// The community was wrong.
    Refused,
    /// The server understood and said no (unknown facility, busy...).
    Server(String),
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::Connect(why) => write!(f, "cannot connect: {why}"),
            ClientError::Protocol(why) => write!(f, "protocol error: {why}"),
            ClientError::Refused => f.write_str("refused: wrong community"),
            ClientError::Server(why) => write!(f, "the server said: {why}"),
        }
    }
}

impl std::error::Error for ClientError {}

/// Asks the debug port at `address` (`host:port`) to set `facility` to `level`; returns the
/// server's confirmation `(facility, level)`. Every step is bounded by `timeout`.
pub fn request(
    address: &str,
    community: &str,
    facility: &str,
    level: Level,
    timeout: Duration,
) -> Result<(String, Level), ClientError> {
    let addresses: Vec<SocketAddr> = address
        .to_socket_addrs()
        .map_err(|e| ClientError::Connect(format!("{address}: {e}")))?
        .collect();
    let mut last_error = format!("{address}: no address");
    let mut stream = None;
    for candidate in addresses {
        match TcpStream::connect_timeout(&candidate, timeout) {
            Ok(connected) => {
                stream = Some(connected);
                break;
            }
            Err(e) => last_error = format!("{candidate}: {e}"),
        }
    }
    let mut stream = stream.ok_or(ClientError::Connect(last_error))?;
    let io = |e: std::io::Error| ClientError::Protocol(e.to_string());
    stream.set_read_timeout(Some(timeout)).map_err(io)?;
    stream.set_write_timeout(Some(timeout)).map_err(io)?;
    let greeting = read_line(&mut stream).map_err(|why| ClientError::Protocol(why.to_string()))?;
    let challenge = greeting
        .strip_prefix(GREETING)
        .map(str::trim)
        .filter(|c| c.len() == 32 && c.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| {
            // A busy server greets with its error instead of a challenge.
            match greeting.strip_prefix("error ") {
                Some(why) => ClientError::Server(why.to_string()),
                None => ClientError::Protocol(format!(
                    "not a failover debug port (greeting \"{}\")",
                    greeting.chars().take(80).collect::<String>()
                )),
            }
        })?
        .to_string();
    let level_text = level.as_str();
    let mac = request_mac(community, &challenge, facility, level_text);
    stream
        .write_all(format!("{mac} {facility} {level_text}\n").as_bytes())
        .map_err(io)?;
    let answer = read_line(&mut stream).map_err(|why| ClientError::Protocol(why.to_string()))?;
    if answer == "refused" {
        return Err(ClientError::Refused);
    }
    if let Some(why) = answer.strip_prefix("error ") {
        return Err(ClientError::Server(why.to_string()));
    }
    let words: Vec<&str> = answer.split_ascii_whitespace().collect();
    match words[..] {
        ["ok", confirmed_facility, confirmed_level] => {
            let confirmed_level = confirmed_level
                .parse::<Level>()
                .map_err(ClientError::Protocol)?;
            Ok((confirmed_facility.to_string(), confirmed_level))
        }
        _ => Err(ClientError::Protocol(format!(
            "unexpected answer \"{}\"",
            answer.chars().take(80).collect::<String>()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logging::Levels;

    fn start(community: &str) -> (DebugPort, Arc<Levels>) {
        let levels = Arc::new(Levels::new("test"));
        let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let port = serve(listener, community.to_string(), levels.applier()).unwrap();
        (port, levels)
    }

    #[test]
    fn the_right_community_changes_the_level() {
        let (port, levels) = start("genesis");
        let address = port.local_addr().to_string();
        let confirmed = request(
            &address,
            "genesis",
            "poll",
            Level::Trace,
            Duration::from_secs(5),
        );
        assert_eq!(confirmed, Ok(("poll".to_string(), Level::Trace)));
        assert_eq!(levels.get("poll"), Level::Trace);
        port.shutdown();
    }

    #[test]
    fn a_wrong_community_is_refused_and_changes_nothing() {
        let (port, levels) = start("genesis");
        let address = port.local_addr().to_string();
        let answer = request(
            &address,
            "public",
            "poll",
            Level::Trace,
            Duration::from_secs(5),
        );
        assert_eq!(answer, Err(ClientError::Refused));
        assert_eq!(levels.get("poll"), Level::Info);
        port.shutdown();
    }

    #[test]
    fn an_unknown_facility_is_an_error_from_the_server() {
        let (port, _levels) = start("public");
        let address = port.local_addr().to_string();
        let answer = request(
            &address,
            "public",
            "polll",
            Level::Debug,
            Duration::from_secs(5),
        );
        match answer {
            Err(ClientError::Server(why)) => assert!(why.contains("unknown facility"), "{why}"),
            other => panic!("expected a server error, got {other:?}"),
        }
        port.shutdown();
    }

    #[test]
    fn a_replayed_request_is_refused_under_a_new_challenge() {
        let (port, levels) = start("public");
        let mut stream = TcpStream::connect(port.local_addr()).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let greeting = read_line(&mut stream).unwrap();
        assert!(greeting.starts_with(GREETING), "{greeting}");
        // A MAC computed for some other challenge, as an eavesdropper would replay it.
        let stale = request_mac("public", &"0".repeat(32), "all", "trace");
        stream
            .write_all(format!("{stale} all trace\n").as_bytes())
            .unwrap();
        assert_eq!(read_line(&mut stream).unwrap(), "refused");
        assert_eq!(levels.get("decision"), Level::Info);
        port.shutdown();
    }

    #[test]
    fn malformed_and_overlong_lines_get_errors() {
        let (port, _levels) = start("public");
        for (sent, expected) in [
            ("hello\n".to_string(), "error expected"),
            ("zz poll debug\n".to_string(), "error the hmac"),
            (
                format!("{}\n", "a".repeat(MAX_LINE_BYTES + 10)),
                "error line too long",
            ),
        ] {
            let mut stream = TcpStream::connect(port.local_addr()).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            read_line(&mut stream).unwrap();
            stream.write_all(sent.as_bytes()).unwrap();
            let answer = read_line(&mut stream).unwrap();
            assert!(answer.starts_with(expected), "{answer:?} for {sent:?}");
        }
        port.shutdown();
    }

    #[test]
    fn hex_round_trips() {
        assert_eq!(
            decode_hex(&encode_hex(&[0, 1, 254, 255])),
            Some(vec![0, 1, 254, 255])
        );
        assert_eq!(decode_hex("abc"), None);
        assert_eq!(decode_hex("zz"), None);
    }
}
