//! UDP load generator for faild: one thread, one socket, `window` requests outstanding.
//!
//!     faild_udp_load ADDRESS:PORT [seconds] [window] [community] [service]
//!
//! Sends signed Query requests (a pool of pre-encoded ones with distinct nonces, since
//! encoding is not what is measured), keeps `window` of them in flight, and prints the
//! replies per second. Lost datagrams are replaced after 50 ms without any reply. Run by
//! bench/faild_udp.sh; only ever point it at loopback.

use failover_core::wire::{self, Nonce, Request, RequestBody};
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(target) = args.get(1).and_then(|a| a.parse::<SocketAddr>().ok()) else {
        eprintln!("usage: faild_udp_load ADDRESS:PORT [seconds] [window] [community] [service]");
        std::process::exit(2);
    };
    assert!(
        target.ip().is_loopback(),
        "the load generator only targets loopback"
    );
    let seconds: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(3);
    let window: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(64);
    let community = args.get(4).map_or("public", String::as_str);
    let service = args.get(5).map_or("svc", String::as_str);

    let pool: Vec<Vec<u8>> = (0..1024u32)
        .map(|i| {
            let mut nonce = [0u8; 16];
            nonce[..4].copy_from_slice(&i.to_be_bytes());
            let request = Request {
                nonce: Nonce(nonce),
                want_challenge: false,
                want_details: false,
                subscription: None,
                body: RequestBody::Query {
                    services: vec![service.to_string()],
                    member: None,
                },
            };
            wire::encode_request(&request, community).expect("encode")
        })
        .collect();
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket.connect(target).expect("connect");
    socket
        .set_read_timeout(Some(Duration::from_millis(50)))
        .expect("timeout");
    let mut next = 0usize;
    let mut send = |socket: &UdpSocket| {
        let _ = socket.send(&pool[next % pool.len()]);
        next += 1;
    };
    for _ in 0..window {
        send(&socket);
    }
    let mut buffer = [0u8; 2048];
    let mut replies: u64 = 0;
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    while Instant::now() < deadline {
        match socket.recv(&mut buffer) {
            Ok(_) => {
                replies += 1;
                send(&socket);
            }
            Err(_) => {
                // Everything in flight is presumed lost: refill the window.
                for _ in 0..window {
                    send(&socket);
                }
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!("{:.0}", replies as f64 / elapsed);
}
