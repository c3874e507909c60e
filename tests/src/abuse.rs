//! Abuse of a faild, for the tests and for `bench/faild_abuse.sh` (the `faild-abuse`
//! program): slow TCP connections (the attack of issue 12.1), garbage datagrams, requests
//! under unknown communities and floods of challenge requests. Loopback only: every
//! generator refuses any other target, and every loop is bounded by its deadline.

use failover_core::wire::{self, Nonce, Request, RequestBody};
use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// xorshift64*: a fixed seed makes every run send the same garbage.
#[derive(Clone, Debug)]
pub struct Noise(pub u64);

impl Noise {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: u64) -> usize {
        (self.next_u64() % n) as usize
    }

    pub fn bytes(&mut self, length: usize) -> Vec<u8> {
        (0..length).map(|_| self.next_u64() as u8).collect()
    }

    pub fn nonce(&mut self) -> Nonce {
        let mut nonce = [0u8; 16];
        nonce[..8].copy_from_slice(&self.next_u64().to_be_bytes());
        nonce[8..].copy_from_slice(&self.next_u64().to_be_bytes());
        Nonce(nonce)
    }
}

/// A signed Query of `service` under `community`.
pub fn query(noise: &mut Noise, community: &str, service: &str, want_challenge: bool) -> Vec<u8> {
    let request = Request {
        nonce: noise.nonce(),
        want_challenge,
        want_details: noise.below(2) == 0,
        subscription: None,
        body: RequestBody::Query {
            services: vec![service.to_string()],
            member: None,
        },
    };
    wire::encode_request(&request, community).expect("encode a query")
}

/// Random bytes, or a valid request with a few bytes changed, or one cut short.
pub fn garbage(noise: &mut Noise) -> Vec<u8> {
    match noise.below(3) {
        0 => {
            let length = noise.below(1500);
            noise.bytes(length)
        }
        kind => {
            let mut bytes = query(noise, "public", "svc", noise.0.is_multiple_of(2));
            if kind == 1 {
                for _ in 0..1 + noise.below(4) {
                    let at = noise.below(bytes.len() as u64);
                    bytes[at] = noise.next_u64() as u8;
                }
            } else {
                let cut = noise.below(bytes.len() as u64);
                bytes.truncate(cut);
            }
            bytes
        }
    }
}

fn assert_loopback(target: SocketAddr) {
    assert!(
        target.ip().is_loopback(),
        "abuse is only ever sent to loopback, not {target}"
    );
}

/// What a slow connection does.
#[derive(Clone, Copy, Debug)]
enum Kind {
    /// The issue's: a length of 60000, then one byte every 10 s.
    BigTrickle,
    /// A length under the unauthenticated limit, then one byte every 200 ms.
    SmallTrickle,
    /// Connects and says nothing.
    Silent,
}

struct Slot {
    kind: Kind,
    source: Ipv4Addr,
    stream: Option<TcpStream>,
    next_byte: Instant,
    reopen_at: Instant,
}

/// Counters of a [`SlowConnections`] attack.
#[derive(Debug, Default)]
pub struct SlowStats {
    pub connects: AtomicU64,
    pub closed_by_faild: AtomicU64,
    pub most_open: AtomicU64,
}

/// The attack of issue 12.1 against one faild: `count` connections from 25 loopback
/// source addresses (127.0.1.1-24 for the first 300, spread under the per-source limit;
/// 127.0.2.1 for the rest, over it), a third each sending a length prefix of 60000 and then
/// one byte every 10 s, a length of 1000 and then one byte every 200 ms, or nothing; each
/// one reopened `reopen_after` after faild closes it. One thread; stopped on drop, and
/// after `limit` in any case.
#[derive(Debug)]
pub struct SlowConnections {
    stop: Arc<AtomicBool>,
    pub stats: Arc<SlowStats>,
    thread: Option<JoinHandle<()>>,
}

impl SlowConnections {
    pub fn start(
        target: SocketAddr,
        count: usize,
        reopen_after: Duration,
        limit: Duration,
    ) -> SlowConnections {
        assert_loopback(target);
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(SlowStats::default());
        let now = Instant::now();
        let slots: Vec<Slot> = (0..count)
            .map(|i| Slot {
                kind: match i % 3 {
                    0 => Kind::BigTrickle,
                    1 => Kind::SmallTrickle,
                    _ => Kind::Silent,
                },
                source: if i < 300 {
                    Ipv4Addr::new(127, 0, 1, 1 + (i % 24) as u8)
                } else {
                    Ipv4Addr::new(127, 0, 2, 1)
                },
                stream: None,
                next_byte: now,
                reopen_at: now,
            })
            .collect();
        let thread = {
            let stop = Arc::clone(&stop);
            let stats = Arc::clone(&stats);
            std::thread::spawn(move || {
                slow_connections(target, slots, reopen_after, limit, &stop, &stats)
            })
        };
        SlowConnections {
            stop,
            stats,
            thread: Some(thread),
        }
    }

    /// Most connections open at once (as the attacker saw them).
    pub fn most_open(&self) -> u64 {
        self.stats.most_open.load(Ordering::SeqCst)
    }

    pub fn summary(&self) -> String {
        format!(
            "{} connects, {} closed by faild, at most {} open at once",
            self.stats.connects.load(Ordering::SeqCst),
            self.stats.closed_by_faild.load(Ordering::SeqCst),
            self.most_open()
        )
    }
}

impl Drop for SlowConnections {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn connect_from(source: IpAddr, target: SocketAddr) -> std::io::Result<TcpStream> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(
        Domain::for_address(target),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    socket.bind(&SocketAddr::new(source, 0).into())?;
    socket.connect_timeout(&target.into(), Duration::from_millis(100))?;
    socket.set_nonblocking(true)?;
    // Our close is a reset: no TIME_WAIT piles up on either side over thousands of
    // connections.
    socket.set_linger(Some(Duration::ZERO))?;
    Ok(socket.into())
}

fn slow_connections(
    target: SocketAddr,
    mut slots: Vec<Slot>,
    reopen_after: Duration,
    limit: Duration,
    stop: &AtomicBool,
    stats: &SlowStats,
) {
    let started = Instant::now();
    let mut scratch = [0u8; 256];
    let period = |kind: Kind| match kind {
        Kind::BigTrickle => Duration::from_secs(10),
        _ => Duration::from_millis(200),
    };
    while !stop.load(Ordering::SeqCst) && started.elapsed() < limit {
        let now = Instant::now();
        let mut open = 0;
        for slot in &mut slots {
            if slot.stream.is_none() {
                if now < slot.reopen_at {
                    continue;
                }
                let Ok(mut stream) = connect_from(slot.source.into(), target) else {
                    slot.reopen_at = now + reopen_after;
                    continue;
                };
                stats.connects.fetch_add(1, Ordering::SeqCst);
                let first: &[u8] = match slot.kind {
                    Kind::BigTrickle => &[0, 0, 0xea, 0x60],
                    Kind::SmallTrickle => &[0, 0, 0x03, 0xe8],
                    Kind::Silent => &[],
                };
                let _ = stream.write(first);
                slot.next_byte = now + period(slot.kind);
                slot.stream = Some(stream);
            }
            let Some(stream) = slot.stream.as_mut() else {
                continue;
            };
            let mut closed = match stream.read(&mut scratch) {
                Ok(0) => true,
                Ok(_) => false,
                Err(e) => e.kind() != ErrorKind::WouldBlock,
            };
            if !closed && !matches!(slot.kind, Kind::Silent) && now >= slot.next_byte {
                match stream.write(&[0x46]) {
                    Ok(0) => closed = true,
                    Ok(_) => slot.next_byte = now + period(slot.kind),
                    Err(e) => closed = e.kind() != ErrorKind::WouldBlock,
                }
            }
            if closed {
                stats.closed_by_faild.fetch_add(1, Ordering::SeqCst);
                slot.stream = None;
                slot.reopen_at = now + reopen_after;
            } else {
                open += 1;
            }
        }
        stats.most_open.fetch_max(open, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Counters of [`Floods`].
#[derive(Debug, Default)]
pub struct FloodStats {
    pub garbage_datagrams: AtomicU64,
    pub bad_community: AtomicU64,
    pub challenge_requests: AtomicU64,
    pub tcp_sessions: AtomicU64,
    pub large_frames: AtomicU64,
}

/// Datagram and TCP floods against one faild, `per_second` of each kind: garbage
/// datagrams; queries under unknown communities (over UDP, and over TCP connections kept
/// open); queries asking for a challenge under `community` (faild must hold a bounded
/// number); and `per_second / 10` short TCP sessions that authenticate with `community`
/// (and then, with `large_frames`, send a 60000-byte garbage frame, which only an
/// authenticated connection may). Threads stopped on drop, and after `limit` in any case.
#[derive(Debug)]
pub struct Floods {
    stop: Arc<AtomicBool>,
    pub stats: Arc<FloodStats>,
    threads: Vec<JoinHandle<()>>,
}

impl Floods {
    pub fn start(
        target: SocketAddr,
        community: &str,
        service: &str,
        per_second: u64,
        large_frames: bool,
        limit: Duration,
    ) -> Floods {
        assert_loopback(target);
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(FloodStats::default());
        let mut threads = Vec::new();
        {
            let (stop, stats) = (Arc::clone(&stop), Arc::clone(&stats));
            let (community, service) = (community.to_string(), service.to_string());
            threads.push(std::thread::spawn(move || {
                datagrams(
                    target, &community, &service, per_second, limit, &stop, &stats,
                )
            }));
        }
        {
            let (stop, stats) = (Arc::clone(&stop), Arc::clone(&stats));
            let (community, service) = (community.to_string(), service.to_string());
            let rate = Rate { per_second, limit };
            threads.push(std::thread::spawn(move || {
                tcp_sessions(
                    target,
                    (&community, &service),
                    rate,
                    large_frames,
                    &stop,
                    &stats,
                )
            }));
        }
        Floods {
            stop,
            stats,
            threads,
        }
    }

    pub fn summary(&self) -> String {
        let s = &self.stats;
        format!(
            "{} garbage datagrams, {} bad-community requests, {} challenge requests, {} TCP sessions with {} large frames",
            s.garbage_datagrams.load(Ordering::SeqCst),
            s.bad_community.load(Ordering::SeqCst),
            s.challenge_requests.load(Ordering::SeqCst),
            s.tcp_sessions.load(Ordering::SeqCst),
            s.large_frames.load(Ordering::SeqCst),
        )
    }
}

impl Drop for Floods {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// Sleeps until `n` events at `per_second` are due since `started` (bounded to 100 ms).
fn pace(started: Instant, n: u64, per_second: u64) {
    let due = started + Duration::from_micros(n * 1_000_000 / per_second.max(1));
    let now = Instant::now();
    if due > now {
        std::thread::sleep((due - now).min(Duration::from_millis(100)));
    }
}

fn datagrams(
    target: SocketAddr,
    community: &str,
    service: &str,
    per_second: u64,
    limit: Duration,
    stop: &AtomicBool,
    stats: &FloodStats,
) {
    let Ok(socket) = UdpSocket::bind(SocketAddr::new(target.ip(), 0)) else {
        return;
    };
    let _ = socket.set_nonblocking(true);
    let mut noise = Noise(0x05ee_d0ff_a110_e5e5);
    let mut drain = [0u8; 2048];
    let started = Instant::now();
    let mut n = 0u64;
    while !stop.load(Ordering::SeqCst) && started.elapsed() < limit {
        let _ = socket.send_to(&garbage(&mut noise), target);
        stats.garbage_datagrams.fetch_add(1, Ordering::SeqCst);
        let wrong = format!("guess-{}", noise.below(1000));
        let _ = socket.send_to(&query(&mut noise, &wrong, service, false), target);
        stats.bad_community.fetch_add(1, Ordering::SeqCst);
        let _ = socket.send_to(&query(&mut noise, community, service, true), target);
        stats.challenge_requests.fetch_add(1, Ordering::SeqCst);
        while socket.recv(&mut drain).is_ok() {}
        n += 1;
        pace(started, n, per_second);
    }
}

/// How often, and for how long at most.
#[derive(Clone, Copy, Debug)]
struct Rate {
    per_second: u64,
    limit: Duration,
}

fn tcp_sessions(
    target: SocketAddr,
    (community, service): (&str, &str),
    Rate { per_second, limit }: Rate,
    large_frames: bool,
    stop: &AtomicBool,
    stats: &FloodStats,
) {
    let mut noise = Noise(0x7ac0_5e55_1011_0a5e);
    // Connections under unknown communities, kept open: faild answers Refused and must
    // treat them as strangers.
    let mut strangers: Vec<TcpStream> = Vec::new();
    let mut drain = [0u8; 4096];
    let started = Instant::now();
    let mut n = 0u64;
    let sessions_per_second = (per_second / 10).max(1);
    while !stop.load(Ordering::SeqCst) && started.elapsed() < limit {
        n += 1;
        // An authenticated session: a valid query, its reply (a 60000-byte garbage frame).
        if let Ok(mut stream) = TcpStream::connect_timeout(&target, Duration::from_millis(200)) {
            let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
            let _ = stream.write_all(&wire::frame(&query(&mut noise, community, service, false)));
            if stream.read(&mut drain).is_ok_and(|n| n > 0) && large_frames {
                let garbage = noise.bytes(60_000);
                if stream.write_all(&wire::frame(&garbage)).is_ok() {
                    stats.large_frames.fetch_add(1, Ordering::SeqCst);
                }
            }
            stats.tcp_sessions.fetch_add(1, Ordering::SeqCst);
        }
        // A stranger with a wrong community, kept (at most 32, oldest dropped).
        if let Ok(mut stream) = TcpStream::connect_timeout(&target, Duration::from_millis(200)) {
            let wrong = format!("guess-{}", noise.below(1000));
            let _ = stream.write_all(&wire::frame(&query(&mut noise, &wrong, service, false)));
            let _ = stream.set_nonblocking(true);
            stats.bad_community.fetch_add(1, Ordering::SeqCst);
            strangers.push(stream);
            if strangers.len() > 32 {
                strangers.remove(0);
            }
        }
        for stream in &mut strangers {
            while stream.read(&mut drain).is_ok_and(|n| n > 0) {}
        }
        pace(started, n, sessions_per_second);
    }
}

/// Resident memory of a process in KiB, and its thread count, from /proc.
pub fn rss_and_threads(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        status
            .lines()
            .find(|l| l.starts_with(name))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    Some((field("VmRSS:")?, field("Threads:")?))
}

/// The kernel's count of connections dropped because a listener's accept queue was full
/// (TcpExt ListenOverflows, every namespace-local listener): a client whose SYN was dropped
/// waits a whole second for its retransmission, longer than a poll's timeout.
pub fn listen_overflows() -> Option<u64> {
    let netstat = std::fs::read_to_string("/proc/net/netstat").ok()?;
    let mut lines = netstat.lines().filter(|line| line.starts_with("TcpExt:"));
    let names = lines.next()?;
    let values = lines.next()?;
    let at = names
        .split_whitespace()
        .position(|name| name == "ListenOverflows")?;
    values.split_whitespace().nth(at)?.parse().ok()
}
