//! What `failsh --metrics` and `faild --metrics` share: the Prometheus text format (version
//! 0.0.4) written family by family, a histogram, the standard process metrics from
//! `/proc/self`, and the HTTP endpoint (`GET /metrics`).
//!
//! One thread serves one connection at a time, with 2 s read and write timeouts and requests
//! of at most 8 KiB: a scraper that stalls delays other scrapes, never the daemon's loop, which
//! only updates what the renderer reads under a lock it holds for microseconds.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const IO_TIMEOUT: Duration = Duration::from_secs(2);
const MAX_REQUEST_BYTES: usize = 8192;

/// Renders the whole text of a scrape.
pub type Render = Arc<dyn Fn() -> String + Send + Sync>;

/// What a daemon's loop writes (`S`) and its endpoint's thread renders, under a lock held for
/// microseconds; the same for faild and failsh.
pub struct Endpoint<S> {
    shared: Arc<Mutex<S>>,
    local_addr: SocketAddr,
}

impl<S> Clone for Endpoint<S> {
    fn clone(&self) -> Endpoint<S> {
        Endpoint {
            shared: Arc::clone(&self.shared),
            local_addr: self.local_addr,
        }
    }
}

impl<S> std::fmt::Debug for Endpoint<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("local_addr", &self.local_addr)
            .finish()
    }
}

impl<S: Default + Send + 'static> Endpoint<S> {
    /// Serves `listener` from a thread of its own: each scrape is `render(state, the
    /// process's start time in Unix seconds)`.
    pub fn start(
        listener: TcpListener,
        program: &'static str,
        render: fn(&S, Option<f64>) -> String,
    ) -> std::io::Result<Endpoint<S>> {
        let shared = Arc::new(Mutex::new(S::default()));
        let serving = Arc::clone(&shared);
        let started_unix_s = unix_seconds();
        let local_addr = serve_metrics(
            listener,
            program,
            Arc::new(move || {
                let state = serving.lock().unwrap_or_else(|e| e.into_inner());
                render(&state, Some(started_unix_s))
            }),
        )?;
        Ok(Endpoint { shared, local_addr })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The state, for the loop to update (a poisoned lock is taken over: metrics are not
    /// worth a panic).
    pub fn lock(&self) -> MutexGuard<'_, S> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Serves `GET /metrics` on `listener` from a thread of its own (named `metrics`), answering
/// with `render()`; `program` names the daemon on `GET /`. Returns the address it listens on.
pub fn serve_metrics(
    listener: TcpListener,
    program: &'static str,
    render: Render,
) -> std::io::Result<SocketAddr> {
    let local_addr = listener.local_addr()?;
    thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                if let Err(e) = serve(stream, program, &render) {
                    log::debug!(target: "monitor", "metrics request: {e}");
                }
            }
        })?;
    Ok(local_addr)
}

fn serve(mut stream: TcpStream, program: &str, render: &Render) -> std::io::Result<()> {
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut request = Vec::new();
    let mut buffer = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") && !request.windows(2).any(|w| w == b"\n\n")
    {
        let n = stream.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        request.extend_from_slice(&buffer[..n]);
        if request.len() > MAX_REQUEST_BYTES {
            return respond(&mut stream, "431 Request Header Fields Too Large", "", "");
        }
    }
    let text = String::from_utf8_lossy(&request);
    let mut words = text.lines().next().unwrap_or("").split_whitespace();
    let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    match (method, path) {
        ("GET", "/metrics") => {
            let body = render();
            respond(
                &mut stream,
                "200 OK",
                "text/plain; version=0.0.4; charset=utf-8",
                &body,
            )
        }
        ("GET", "/") => respond(
            &mut stream,
            "200 OK",
            "text/plain; charset=utf-8",
            &format!("{program} metrics: GET /metrics\n"),
        ),
        ("GET", _) => respond(&mut stream, "404 Not Found", "text/plain", "not found\n"),
        _ => respond(
            &mut stream,
            "405 Method Not Allowed",
            "text/plain",
            "only GET\n",
        ),
    }
}

fn respond(
    stream: &mut TcpStream,
    status: &str,
    content_type: &str,
    body: &str,
) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    if !content_type.is_empty() {
        let _ = write!(head, "Content-Type: {content_type}\r\n");
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body.as_bytes())?;
    stream.flush()
}

/// A label value in the exposition format: backslash, double quote and newline escaped.
pub fn label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Writes one metric family after another: `head` names the family that the samples after
/// it belong to, so a sample can never carry another family's name.
#[derive(Debug)]
pub struct Family<'a> {
    out: &'a mut String,
    name: &'static str,
}

impl Family<'_> {
    pub fn head(&mut self, name: &'static str, kind: &str, help: &str) {
        self.name = name;
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    pub fn sample(&mut self, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.sample_suffixed("", labels, value);
    }

    /// A sample of the family with a suffix (`_sum`, `_count` of a summary).
    pub fn sample_suffixed(
        &mut self,
        suffix: &str,
        labels: &[(&str, &str)],
        value: impl std::fmt::Display,
    ) {
        let _ = write!(self.out, "{}{suffix}", self.name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (key, value)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{key}=\"{}\"", label(value));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
    }
}

impl Family<'_> {
    /// An empty family writer over `out`.
    pub fn new(out: &mut String) -> Family<'_> {
        Family { out, name: "" }
    }
}

/// A histogram with fixed upper bounds (seconds): `_bucket{le=...}` cumulative counts, `_sum`,
/// `_count`.
#[derive(Clone, Debug, PartialEq)]
pub struct Histogram {
    bounds: &'static [f64],
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            counts: vec![0; bounds.len()],
            sum: 0.0,
            count: 0,
        }
    }

    pub fn observe(&mut self, value: f64) {
        for (bound, count) in self.bounds.iter().zip(self.counts.iter_mut()) {
            if value <= *bound {
                *count += 1;
            }
        }
        self.sum += value;
        self.count += 1;
    }

    /// Writes the samples of this histogram with `labels` (the family's head comes first).
    pub fn write(&self, f: &mut Family<'_>, labels: &[(&str, &str)]) {
        for (bound, count) in self.bounds.iter().zip(&self.counts) {
            let le = format!("{bound}");
            let mut with_le = labels.to_vec();
            with_le.push(("le", &le));
            f.sample_suffixed("_bucket", &with_le, count);
        }
        let mut with_le = labels.to_vec();
        with_le.push(("le", "+Inf"));
        f.sample_suffixed("_bucket", &with_le, self.count);
        f.sample_suffixed("_sum", labels, self.sum);
        f.sample_suffixed("_count", labels, self.count);
    }
}

/// The standard process metrics, from `/proc/self` (absent where it cannot be read).
pub fn process_metrics(f: &mut Family<'_>, started_unix_s: Option<f64>) {
    let page_bytes = 4096u64;
    if let Some(resident_pages) = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
    {
        f.head(
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
        );
        f.sample(&[], resident_pages * page_bytes);
    }
    if let Some(cpu_ticks) = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            // Fields after the command name, which is in parentheses and may hold spaces.
            let rest = s.rsplit_once(')')?.1;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let utime: u64 = fields.get(11)?.parse().ok()?;
            let stime: u64 = fields.get(12)?.parse().ok()?;
            Some(utime + stime)
        })
    {
        // USER_HZ is 100 on every Linux architecture failover runs on.
        f.head(
            "process_cpu_seconds_total",
            "counter",
            "User and system CPU time spent in seconds.",
        );
        f.sample(&[], cpu_ticks as f64 / 100.0);
    }
    if let Ok(entries) = std::fs::read_dir("/proc/self/fd") {
        f.head(
            "process_open_fds",
            "gauge",
            "Number of open file descriptors.",
        );
        f.sample(&[], entries.count());
    }
    if let Some(started) = started_unix_s {
        f.head(
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since unix epoch in seconds.",
        );
        f.sample(&[], started);
    }
}

pub fn unix_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn a_histogram_counts_cumulatively() {
        static BOUNDS: [f64; 3] = [0.001, 0.01, 0.1];
        let mut h = Histogram::new(&BOUNDS);
        h.observe(0.0005);
        h.observe(0.05);
        h.observe(1.0);
        let mut out = String::new();
        let mut f = Family::new(&mut out);
        f.head("x_seconds", "histogram", "test");
        h.write(&mut f, &[("host", "a")]);
        for line in [
            "x_seconds_bucket{host=\"a\",le=\"0.001\"} 1",
            "x_seconds_bucket{host=\"a\",le=\"0.01\"} 1",
            "x_seconds_bucket{host=\"a\",le=\"0.1\"} 2",
            "x_seconds_bucket{host=\"a\",le=\"+Inf\"} 3",
            "x_seconds_count{host=\"a\"} 3",
        ] {
            assert!(out.contains(line), "{line} in\n{out}");
        }
    }
}
