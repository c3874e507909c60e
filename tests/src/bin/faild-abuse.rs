//! `faild-abuse`: mixed abuse of one faild on loopback for `bench/faild_abuse.sh`, with
//! faild's resident memory printed at the start, every `--report` seconds and after the
//! abuse stopped and faild had `--settle` seconds to close what was left.
//!
//!   faild-abuse --pid PID [--seconds 600] [--report 60] [--settle 10] [--rate 300]
//!               [--slow 348] [--large-frames] [--community public] [--service svc]
//!               ADDRESS:PORT
//!
//! The abuse (see `failover_tests::abuse`): `--slow` slow TCP connections from 25 loopback
//! sources (the attack of issue 12.1), and every second `--rate` garbage datagrams,
//! `--rate` UDP queries under unknown communities, `--rate` UDP queries asking for a
//! challenge, and `--rate`/10 TCP sessions that authenticate (and with `--large-frames`
//! then send a 60000-byte garbage frame, as only an authenticated client may), plus
//! strangers with unknown communities kept open. At every report an authenticated TCP
//! query is timed. `--slow 0` or `--rate 0` leave that kind out. Loopback only.

use failover_tests::abuse::{query, rss_and_threads, Floods, Noise, SlowConnections};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::{Duration, Instant};

struct Options {
    pid: u32,
    seconds: u64,
    report: u64,
    settle: u64,
    rate: u64,
    slow: usize,
    large_frames: bool,
    community: String,
    service: String,
    target: SocketAddr,
}

fn usage(problem: &str) -> ExitCode {
    eprintln!(
        "faild-abuse: {problem}\nusage: faild-abuse --pid PID [--seconds 600] [--report 60] [--settle 10] [--rate 300] [--slow 348] [--large-frames] [--community public] [--service svc] ADDRESS:PORT"
    );
    ExitCode::from(2)
}

fn parse() -> Result<Options, String> {
    let mut options = Options {
        pid: 0,
        seconds: 600,
        report: 60,
        settle: 10,
        rate: 300,
        slow: 348,
        large_frames: false,
        community: "public".into(),
        service: "svc".into(),
        target: SocketAddr::from(([127, 0, 0, 1], 1291)),
    };
    let mut target = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        let number = |text: String, name: &str| -> Result<u64, String> {
            text.parse()
                .map_err(|_| format!("{name}: \"{text}\" is not a number"))
        };
        match arg.as_str() {
            "--pid" => options.pid = number(value("--pid")?, "--pid")? as u32,
            "--seconds" => options.seconds = number(value("--seconds")?, "--seconds")?,
            "--report" => options.report = number(value("--report")?, "--report")?.max(1),
            "--settle" => options.settle = number(value("--settle")?, "--settle")?,
            "--rate" => options.rate = number(value("--rate")?, "--rate")?,
            "--slow" => options.slow = number(value("--slow")?, "--slow")? as usize,
            "--large-frames" => options.large_frames = true,
            "--community" => options.community = value("--community")?,
            "--service" => options.service = value("--service")?,
            other if other.starts_with('-') => return Err(format!("unknown option {other}")),
            other => {
                target = Some(
                    other
                        .parse::<SocketAddr>()
                        .map_err(|_| format!("\"{other}\" is not ADDRESS:PORT"))?,
                )
            }
        }
    }
    options.target = target.ok_or("ADDRESS:PORT is missing")?;
    if !options.target.ip().is_loopback() {
        return Err("only loopback targets are abused".into());
    }
    if options.pid == 0 {
        return Err("--pid of faild is missing".into());
    }
    Ok(options)
}

/// One authenticated query over a new TCP connection: how long until the answer.
fn timed_query(options: &Options, noise: &mut Noise) -> Result<Duration, String> {
    let started = Instant::now();
    let mut stream = TcpStream::connect_timeout(&options.target, Duration::from_secs(3))
        .map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .map_err(|e| e.to_string())?;
    let request = query(noise, &options.community, &options.service, false);
    stream
        .write_all(&failover_core::wire::frame(&request))
        .map_err(|e| format!("send: {e}"))?;
    let mut length = [0u8; 4];
    stream
        .read_exact(&mut length)
        .map_err(|e| format!("no answer: {e}"))?;
    let mut reply = vec![0u8; u32::from_be_bytes(length) as usize];
    stream
        .read_exact(&mut reply)
        .map_err(|e| format!("no answer: {e}"))?;
    let took = started.elapsed();
    let decoded =
        failover_core::wire::decode_reply(&reply).map_err(|e| format!("bad reply: {e}"))?;
    if !decoded.message.authenticated {
        return Err("the answer is not authenticated (community?)".into());
    }
    Ok(took)
}

fn memory(pid: u32) -> String {
    match rss_and_threads(pid) {
        Some((rss, threads)) => format!("VmRSS {rss} KiB, {threads} threads"),
        None => "faild is gone".into(),
    }
}

fn main() -> ExitCode {
    let options = match parse() {
        Ok(options) => options,
        Err(problem) => return usage(&problem),
    };
    let mut noise = Noise(0x0bad_c0de_5eed_0001);
    let start_rss = rss_and_threads(options.pid).map_or(0, |(rss, _)| rss);
    println!("t=0s {} (before the abuse)", memory(options.pid));
    let limit = Duration::from_secs(options.seconds + 5);
    let started = Instant::now();
    // --slow 0 or --rate 0: none of that kind (to see what costs memory).
    let slow = (options.slow > 0).then(|| {
        SlowConnections::start(
            options.target,
            options.slow,
            Duration::from_millis(200),
            limit,
        )
    });
    let floods = (options.rate > 0).then(|| {
        Floods::start(
            options.target,
            &options.community,
            &options.service,
            options.rate,
            options.large_frames,
            limit,
        )
    });
    let mut peak = start_rss;
    let mut worst_answer = Duration::ZERO;
    let mut next_report = options.report;
    while started.elapsed() < Duration::from_secs(options.seconds) {
        std::thread::sleep(Duration::from_millis(500));
        if let Some((rss, _)) = rss_and_threads(options.pid) {
            peak = peak.max(rss);
        } else {
            eprintln!("faild-abuse: faild (pid {}) is gone", options.pid);
            return ExitCode::FAILURE;
        }
        if started.elapsed() >= Duration::from_secs(next_report) {
            let answer = match timed_query(&options, &mut noise) {
                Ok(took) => {
                    worst_answer = worst_answer.max(took);
                    format!("authenticated TCP query answered in {took:?}")
                }
                Err(why) => format!("authenticated TCP query FAILED: {why}"),
            };
            println!("t={next_report}s {}; {answer}", memory(options.pid));
            next_report += options.report;
        }
    }
    let slow_summary = slow
        .as_ref()
        .map_or("none".into(), SlowConnections::summary);
    let flood_summary = floods.as_ref().map_or("none".into(), Floods::summary);
    drop(slow);
    drop(floods);
    println!("abuse stopped: slow connections: {slow_summary}; floods: {flood_summary}");
    std::thread::sleep(Duration::from_secs(options.settle));
    let end_rss = rss_and_threads(options.pid).map_or(0, |(rss, _)| rss);
    println!(
        "t={}s {} ({} s after the abuse stopped)",
        started.elapsed().as_secs(),
        memory(options.pid),
        options.settle
    );
    println!(
        "summary: VmRSS start {start_rss} KiB, peak {peak} KiB (+{} KiB), end {end_rss} KiB ({:+} KiB); slowest authenticated answer {worst_answer:?}",
        peak.saturating_sub(start_rss),
        end_rss as i64 - start_rss as i64
    );
    ExitCode::SUCCESS
}
