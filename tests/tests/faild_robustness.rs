//! faild under garbage: 10,000 random and mutated datagrams, random TCP frames (oversized
//! lengths, zero lengths, garbage bodies) and half-open connections. It must keep answering
//! valid queries, reap the idle connections and keep its memory bounded. And a client must
//! learn at once that nothing listens on a port.

use failover_core::wire::{self, Nonce, Request, RequestBody};
use failover_tests::faild::{describe, runtimes, Faild};
use failover_tests::{command, free_port, run_with_limit, vm_rss_kib, TempDir};
use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::time::{Duration, Instant};

/// xorshift64*: a fixed seed makes every run send the same garbage.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> usize {
        (self.next() % n) as usize
    }

    fn bytes(&mut self, length: usize) -> Vec<u8> {
        (0..length).map(|_| self.next() as u8).collect()
    }
}

/// Random bytes, or a valid request with a few bytes changed, or one cut short.
fn garbage(noise: &mut Noise) -> Vec<u8> {
    match noise.below(3) {
        0 => {
            let length = noise.below(1500);
            noise.bytes(length)
        }
        kind => {
            let request = Request {
                nonce: Nonce([noise.next() as u8; 16]),
                want_challenge: noise.below(2) == 0,
                want_details: noise.below(2) == 0,
                subscription: None,
                body: RequestBody::Query {
                    services: vec!["svc".into()],
                    member: None,
                },
            };
            let mut bytes = wire::encode_request(&request, "public").unwrap();
            if kind == 1 {
                for _ in 0..1 + noise.below(4) {
                    let at = noise.below(bytes.len() as u64);
                    bytes[at] = noise.next() as u8;
                }
            } else {
                let cut = noise.below(bytes.len() as u64);
                bytes.truncate(cut);
            }
            bytes
        }
    }
}

#[test]
fn random_datagrams_and_frames_leave_faild_answering_with_bounded_memory() {
    for runtime in runtimes() {
        let dir = TempDir::new("robust");
        let faild = Faild::start(
            &dir,
            runtime,
            Some("* public RW 127.0.0.1/32\n"),
            &["--tcp-idle-timeout", "500"],
        )
        .unwrap();
        let out = faild.client("failc", &["-s", "UP", "svc"]);
        assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
        let rss_before = vm_rss_kib(faild.process.id()).expect("VmRSS readable");
        let address = ("127.0.0.1", faild.port);
        let mut noise = Noise(0x05ee_d0ff_a110_e5e5);

        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let started = Instant::now();
        for n in 0..10_000 {
            let _ = socket.send_to(&garbage(&mut noise), address);
            if n % 500 == 0 {
                // Let faild keep up a little, so the flood tests handling, not only drops.
                std::thread::sleep(Duration::from_millis(2));
            }
        }

        // Half-open connections: a partial frame, then silence.
        let mut half_open = Vec::new();
        for _ in 0..40 {
            let mut stream = TcpStream::connect(address).unwrap();
            stream.write_all(&[0, 0, 0, 100, 1, 2, 3]).unwrap();
            half_open.push(stream);
        }
        // Random frames: oversized and zero lengths, and garbage bodies of sane lengths.
        for n in 0..200 {
            let Ok(mut stream) = TcpStream::connect(address) else {
                continue;
            };
            let mut bytes = Vec::new();
            for _ in 0..1 + noise.below(5) {
                match n % 4 {
                    0 => bytes.extend_from_slice(&u32::MAX.to_be_bytes()),
                    1 => bytes.extend_from_slice(&0u32.to_be_bytes()),
                    2 => bytes.extend_from_slice(
                        &(70_000u32 + noise.below(1 << 20) as u32).to_be_bytes(),
                    ),
                    _ => {}
                }
                bytes.extend(wire::frame(&garbage(&mut noise)));
            }
            let _ = stream.write_all(&bytes);
        }
        eprintln!(
            "{runtime}: sent 10,000 datagrams, 240 connections in {} ms",
            started.elapsed().as_millis()
        );

        for protocol in ["-U", "-T"] {
            let out = faild.client("failstat", &[protocol, "svc"]);
            assert_eq!(
                out.status.code(),
                Some(0),
                "{runtime} {protocol}: {}",
                describe(&out)
            );
        }
        // The half-open connections are closed by faild after its idle timeout.
        for stream in &mut half_open {
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let mut buffer = [0u8; 16];
            let read = stream.read(&mut buffer);
            assert!(
                matches!(read, Ok(0))
                    || read.is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionReset),
                "{runtime}: a half-open connection was not closed"
            );
        }
        let rss_after = vm_rss_kib(faild.process.id()).expect("VmRSS readable");
        eprintln!("{runtime}: VmRSS before {rss_before} KiB, after {rss_after} KiB");
        assert!(
            rss_after <= rss_before + 16 * 1024,
            "{runtime}: memory grew from {rss_before} KiB to {rss_after} KiB"
        );
        let out = faild.client("failc", &["-T", "-s", "RECOVER", "svc"]);
        assert_eq!(out.status.code(), Some(0), "{runtime}: {}", describe(&out));
        assert!(faild.process.id() > 0);
    }
}

#[test]
fn failc_against_a_port_where_nothing_listens_fails_fast_as_unreachable() {
    let port = free_port().to_string();
    for runtime in runtimes() {
        for protocol in ["-U", "-T"] {
            let mut cmd = command("failc");
            let started = Instant::now();
            cmd.args([
                "-p",
                &port,
                "--runtime",
                runtime,
                protocol,
                "-s",
                "UP",
                "svc",
            ]);
            let out = run_with_limit(&mut cmd, Duration::from_secs(10));
            let elapsed = started.elapsed();
            assert_eq!(
                out.status.code(),
                Some(3),
                "{runtime} {protocol}: {}",
                describe(&out)
            );
            assert!(
                elapsed < Duration::from_secs(1),
                "{runtime} {protocol}: took {elapsed:?}"
            );
            assert!(String::from_utf8_lossy(&out.stderr).contains("unreachable"));
        }
    }
}
