//! `vip-probe`: the client of `bench/failover.sh`. Sends an ICMP echo request to ADDRESS on
//! a fixed schedule (every `-i` ms, by absolute deadlines, so a late wake-up does not
//! stretch the period) and prints one line per answer with the time it arrived, so that the
//! longest gap between two answers is the outage the client saw.
//!
//! iputils ping cannot be used for this: asked for `-i 0.01` it sends every 16 ms on our
//! hosts, which made every outage a multiple of 16 ms.
//!
//!   vip-probe [-i interval_ms] [-w max_seconds] ADDRESS
//!
//! Output, one line per echo reply: `answer SEQ UNIX_SECONDS.MICROSECONDS`; at the end (after
//! `-w` seconds, default 120, bounded so that a forgotten probe never runs on): `sent N`.
//! Needs a raw ICMP socket (root or CAP_NET_RAW). IPv4 only: the bench's address is IPv4.

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const ECHO_REQUEST: u8 = 8;
const ECHO_REPLY: u8 = 0;

struct Options {
    interval: Duration,
    max: Duration,
    target: Ipv4Addr,
}

fn usage(problem: &str) -> ExitCode {
    eprintln!("vip-probe: {problem}\nusage: vip-probe [-i interval_ms] [-w max_seconds] ADDRESS");
    ExitCode::from(2)
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut interval_ms = 10u64;
    let mut max_s = 120u64;
    let mut target = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "-i" | "-w" => {
                let value = it
                    .next()
                    .ok_or_else(|| format!("{arg} needs a value"))?
                    .parse::<u64>()
                    .map_err(|e| format!("{arg}: expected a positive integer: {e}"))?;
                if value == 0 {
                    return Err(format!("{arg}: expected a positive integer, got 0"));
                }
                if arg == "-i" {
                    interval_ms = value;
                } else {
                    max_s = value;
                }
            }
            a if a.starts_with('-') => return Err(format!("unknown option {a:?}")),
            a => {
                if target.is_some() {
                    return Err(format!("one address only, got another: {a:?}"));
                }
                target = Some(
                    a.parse::<Ipv4Addr>()
                        .map_err(|e| format!("{a:?} is not an IPv4 address: {e}"))?,
                );
            }
        }
    }
    Ok(Options {
        interval: Duration::from_millis(interval_ms),
        max: Duration::from_secs(max_s),
        target: target.ok_or("no ADDRESS given")?,
    })
}

fn checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn echo_request(id: u16, seq: u16) -> [u8; 16] {
    let mut packet = [0u8; 16];
    packet[0] = ECHO_REQUEST;
    packet[4..6].copy_from_slice(&id.to_be_bytes());
    packet[6..8].copy_from_slice(&seq.to_be_bytes());
    packet[8..16].copy_from_slice(b"failover");
    let sum = checksum(&packet);
    packet[2..4].copy_from_slice(&sum.to_be_bytes());
    packet
}

/// The sequence number of an echo reply to us from `target` in a raw IPv4 datagram.
fn reply_seq(datagram: &[u8], id: u16, target: Ipv4Addr) -> Option<u16> {
    let header_len = usize::from(datagram.first()? & 0x0f) * 4;
    let source = Ipv4Addr::new(
        *datagram.get(12)?,
        *datagram.get(13)?,
        *datagram.get(14)?,
        *datagram.get(15)?,
    );
    let icmp = datagram.get(header_len..)?;
    if source != target || icmp.len() < 8 || icmp[0] != ECHO_REPLY {
        return None;
    }
    (u16::from_be_bytes([icmp[4], icmp[5]]) == id).then(|| u16::from_be_bytes([icmp[6], icmp[7]]))
}

fn run(options: &Options) -> Result<(), String> {
    let socket = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4))
        .map_err(|e| format!("cannot open a raw ICMP socket (needs root or CAP_NET_RAW): {e}"))?;
    let to = SockAddr::from(SocketAddr::V4(SocketAddrV4::new(options.target, 0)));
    let id = (std::process::id() & 0xffff) as u16;
    let started = Instant::now();
    let end = started + options.max;
    // Receiving on its own thread: a socket timeout counts in scheduler ticks (4 ms here),
    // a sleep does not, so the sender sleeps to each deadline and the receiver blocks.
    let receiver = socket
        .try_clone()
        .map_err(|e| format!("cannot clone the socket: {e}"))?;
    receiver
        .set_read_timeout(Some(Duration::from_millis(100)))
        .map_err(|e| format!("cannot set the socket's timeout: {e}"))?;
    let target = options.target;
    let answers = std::thread::spawn(move || -> Result<(), String> {
        let mut out = std::io::stdout().lock();
        let mut buf = [0u8; 1500];
        while Instant::now() < end {
            // Read on a socket2 Socket fills an ordinary buffer.
            let Ok(len) = (&receiver).read(&mut buf) else {
                continue;
            };
            if let Some(seq) = reply_seq(&buf[..len], id, target) {
                writeln!(out, "answer {seq} {}", unix_now()).map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    });
    let mut sent: u64 = 0;
    let mut next_send = started;
    while next_send < end {
        let now = Instant::now();
        if next_send > now {
            std::thread::sleep(next_send - now);
        }
        let seq = (sent & 0xffff) as u16;
        // A send can fail while no host holds the address (no neighbour): that probe simply
        // goes unanswered.
        let _ = socket.send_to(&echo_request(id, seq), &to);
        sent += 1;
        // Absolute deadlines: a late wake-up shortens the next wait instead of shifting every
        // later probe.
        next_send += options.interval;
    }
    answers
        .join()
        .map_err(|_| "the receiving thread panicked".to_string())??;
    let mut out = std::io::stdout().lock();
    writeln!(out, "sent {sent}").map_err(|e| e.to_string())?;
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = match parse(&args) {
        Ok(o) => o,
        Err(problem) => return usage(&problem),
    };
    match run(&options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vip-probe: {e}");
            ExitCode::FAILURE
        }
    }
}

fn unix_now() -> String {
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format!("{}.{:06}", t.as_secs(), t.subsec_micros())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An IPv4 datagram (20-byte header) from `source` carrying `icmp`.
    fn datagram(source: Ipv4Addr, icmp: &[u8]) -> Vec<u8> {
        let mut d = vec![0u8; 20];
        d[0] = 0x45;
        d[12..16].copy_from_slice(&source.octets());
        d.extend_from_slice(icmp);
        d
    }

    #[test]
    fn an_echo_request_carries_a_valid_checksum_id_and_sequence() {
        let packet = echo_request(0x1234, 7);
        assert_eq!(packet[0], ECHO_REQUEST);
        assert_eq!(checksum(&packet), 0, "a correct checksum sums to zero");
        assert_eq!(&packet[4..8], &[0x12, 0x34, 0, 7]);
    }

    #[test]
    fn only_replies_from_the_target_with_our_id_count() {
        let target = Ipv4Addr::new(198, 18, 0, 50);
        let mut reply = echo_request(0x1234, 9);
        reply[0] = ECHO_REPLY;
        assert_eq!(
            reply_seq(&datagram(target, &reply), 0x1234, target),
            Some(9)
        );
        assert_eq!(reply_seq(&datagram(target, &reply), 0x4321, target), None);
        let other = Ipv4Addr::new(198, 18, 0, 1);
        assert_eq!(reply_seq(&datagram(other, &reply), 0x1234, target), None);
        let request = echo_request(0x1234, 9);
        assert_eq!(reply_seq(&datagram(target, &request), 0x1234, target), None);
        let whole = datagram(target, &reply);
        for len in 0..whole.len() - 8 {
            assert_eq!(
                reply_seq(&whole[..len], 0x1234, target),
                None,
                "cut at {len}"
            );
        }
    }
}
