//! `http-answer`: the web server on the service address in the browser test and the bench.
//! Listens on the given port on every address of its host (so it answers on the service
//! address whenever the host holds it), keeps connections alive, and answers every request
//! with `200 OK` and the host's name, so the client can tell who answered.
//!
//!   http-answer [-w max_seconds] PORT NAME
//!
//! One thread per connection; bounded: it exits after `-w` seconds (default 120), so that a
//! forgotten server never runs on.

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::time::Duration;

fn serve(stream: TcpStream, name: &str) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let Ok(write_half) = stream.try_clone() else {
        return;
    };
    let mut writer = write_half;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    loop {
        // The request line, then headers up to the empty line; requests carry no body.
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        if line.trim().is_empty() {
            continue;
        }
        loop {
            let mut header = String::new();
            match reader.read_line(&mut header) {
                Ok(0) | Err(_) => return,
                Ok(_) if header.trim().is_empty() => break,
                Ok(_) => {}
            }
        }
        let body = format!("{name}\n");
        let answer = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: keep-alive\r\n\r\n{body}",
            body.len()
        );
        if writer.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (max_s, rest) = match args.as_slice() {
        [flag, seconds, rest @ ..] if flag == "-w" => match seconds.parse::<u64>() {
            Ok(s) if s > 0 => (s, rest),
            _ => {
                eprintln!("http-answer: -w needs a positive number of seconds");
                return ExitCode::from(2);
            }
        },
        rest => (120, rest),
    };
    let [port, name] = rest else {
        eprintln!("usage: http-answer [-w max_seconds] PORT NAME");
        return ExitCode::from(2);
    };
    let Ok(port) = port.parse::<u16>() else {
        eprintln!("http-answer: bad port {port:?}");
        return ExitCode::from(2);
    };
    // The IPv6 wildcard takes IPv4 too (bindv6only is 0 in a fresh namespace); fall back to
    // the IPv4 one where IPv6 is off.
    let listener = TcpListener::bind(SocketAddr::from((Ipv6Addr::UNSPECIFIED, port)))
        .or_else(|_| TcpListener::bind(SocketAddr::from(([0, 0, 0, 0], port))));
    let listener = match listener {
        Ok(l) => l,
        Err(e) => {
            eprintln!("http-answer: cannot listen on port {port}: {e}");
            return ExitCode::from(1);
        }
    };
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(max_s));
        std::process::exit(0);
    });
    println!("listening on port {port}");
    for stream in listener.incoming().flatten() {
        let name = name.clone();
        std::thread::spawn(move || serve(stream, &name));
    }
    ExitCode::SUCCESS
}
