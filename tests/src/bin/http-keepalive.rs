//! `http-keepalive`: what a browser does with a proxy on the service address, for the
//! browser test and the bench. One persistent (keep-alive) connection; a GET every `-i` ms
//! (by absolute deadlines), each given `-t` ms to be answered. A request that fails (reset,
//! timeout, closed) is counted, the connection is dropped and the next request, at once, goes
//! on a new one, as a browser retries on a fresh connection.
//!
//!   http-keepalive [-i interval_ms] [-t timeout_ms] [-w max_seconds] ADDRESS:PORT
//!
//! Output, one line per request: `answer SEQ UNIX_SECONDS.MICROSECONDS NAME` (NAME: the host
//! that answered) or `failed SEQ UNIX_SECONDS.MICROSECONDS WHY`; at the end (after `-w`
//! seconds, default 120, bounded so that a forgotten client never runs on): `sent N`. Every
//! line is flushed at once: the test reads them after killing the client.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

struct Options {
    interval: Duration,
    timeout: Duration,
    max: Duration,
    target: SocketAddr,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut interval_ms = 10u64;
    let mut timeout_ms = 200u64;
    let mut max_s = 120u64;
    let mut target = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "-i" | "-t" | "-w" => {
                let value = it
                    .next()
                    .ok_or_else(|| format!("{arg} needs a value"))?
                    .parse::<u64>()
                    .map_err(|e| format!("{arg}: expected a positive integer: {e}"))?;
                if value == 0 {
                    return Err(format!("{arg}: expected a positive integer, got 0"));
                }
                match arg.as_str() {
                    "-i" => interval_ms = value,
                    "-t" => timeout_ms = value,
                    _ => max_s = value,
                }
            }
            a if a.starts_with('-') => return Err(format!("unknown option {a:?}")),
            a => {
                if target.is_some() {
                    return Err(format!("one address only, got another: {a:?}"));
                }
                target = Some(
                    a.parse::<SocketAddr>()
                        .map_err(|e| format!("expected ADDRESS:PORT, got {a:?}: {e}"))?,
                );
            }
        }
    }
    Ok(Options {
        interval: Duration::from_millis(interval_ms),
        timeout: Duration::from_millis(timeout_ms),
        max: Duration::from_secs(max_s),
        target: target.ok_or("missing ADDRESS:PORT")?,
    })
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// One GET on `connection` (made first if there is none), answered within `timeout`: the
/// name of the host that answered.
fn request(
    connection: &mut Option<BufReader<TcpStream>>,
    target: SocketAddr,
    timeout: Duration,
) -> Result<String, String> {
    let deadline = Instant::now() + timeout;
    if connection.is_none() {
        let stream =
            TcpStream::connect_timeout(&target, timeout).map_err(|e| format!("connect: {e}"))?;
        let _ = stream.set_nodelay(true);
        *connection = Some(BufReader::new(stream));
    }
    let reader = connection.as_mut().ok_or("no connection")?;
    let left = || {
        deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1))
    };
    reader
        .get_mut()
        .write_all(format!("GET / HTTP/1.1\r\nHost: {target}\r\n\r\n").as_bytes())
        .map_err(|e| format!("send: {e}"))?;
    let mut length = None;
    let mut status = String::new();
    loop {
        reader
            .get_ref()
            .set_read_timeout(Some(left()))
            .map_err(|e| e.to_string())?;
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) => return Err("closed by the server".into()),
            Ok(_) => {}
            Err(e) => return Err(format!("receive: {e}")),
        }
        if status.is_empty() {
            status = line.trim().to_string();
            continue;
        }
        if line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse::<usize>().ok();
            }
        }
    }
    if !status.starts_with("HTTP/1.1 200") {
        return Err(format!("status {status:?}"));
    }
    let mut body = vec![0u8; length.ok_or("no Content-Length")?];
    reader
        .get_ref()
        .set_read_timeout(Some(left()))
        .map_err(|e| e.to_string())?;
    reader
        .read_exact(&mut body)
        .map_err(|e| format!("receive: {e}"))?;
    Ok(String::from_utf8_lossy(&body).trim().to_string())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = match parse(&args) {
        Ok(o) => o,
        Err(problem) => {
            eprintln!(
                "http-keepalive: {problem}\nusage: http-keepalive [-i interval_ms] [-t timeout_ms] [-w max_seconds] ADDRESS:PORT"
            );
            return ExitCode::from(2);
        }
    };
    let started = Instant::now();
    let mut connection = None;
    let mut next = Instant::now();
    let mut seq = 0u64;
    let mut out = std::io::stdout().lock();
    while started.elapsed() < options.max {
        let now = Instant::now();
        if now < next {
            std::thread::sleep(next - now);
        }
        seq += 1;
        match request(&mut connection, options.target, options.timeout) {
            Ok(name) => {
                let _ = writeln!(out, "answer {seq} {:.6} {name}", unix_now());
                next += options.interval;
                // A long wait does not make requests pile up afterwards.
                next = next.max(Instant::now());
            }
            Err(why) => {
                let _ = writeln!(out, "failed {seq} {:.6} {why}", unix_now());
                connection = None;
                next = Instant::now();
            }
        }
        let _ = out.flush();
    }
    let _ = writeln!(out, "sent {seq}");
    ExitCode::SUCCESS
}
