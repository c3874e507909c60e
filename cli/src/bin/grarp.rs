//! grarp: announce an address with gratuitous ARP (IPv4) or unsolicited neighbour
//! advertisements (IPv6). The argument syntax is shared with failsh's Tcl `grarp` command
//! through `failover_arp::parse_grarp_args`.

use std::process::ExitCode;

use failover_arp::{parse_grarp_args, GrarpCommand, EXIT_USAGE, USAGE};

const HELP: &str = "\
NAME
    grarp - announce an IP address with gratuitous ARP or IPv6 neighbour advertisements

SYNOPSIS
    grarp [-b] [-c count] [-i interval_ms] [--request|--reply|--both] INTERFACE ADDRESS
    grarp -h | --help
    grarp -V | --version

DESCRIPTION
    grarp tells every host and switch on the link of INTERFACE that ADDRESS is now reached
    through the MAC address of INTERFACE. A failover service runs it right after it brings up
    a service address, so that clients and switches stop sending to the old holder at once
    instead of waiting for their ARP or neighbour entries to expire.

    For an IPv4 ADDRESS grarp sends gratuitous ARP frames to the Ethernet broadcast address:
    the request form (operation 1, sender and target IP = ADDRESS, target MAC
    00:00:00:00:00:00) and the reply form (operation 2, sender and target IP = ADDRESS,
    target MAC = our MAC, as `arping -A` sends it). Some switches and firewalls honour only
    one of the two forms, so both are sent by default.

    For an IPv6 ADDRESS grarp sends unsolicited neighbour advertisements (ICMPv6 type 136)
    from ADDRESS to all nodes (ff02::1), hop limit 255, with the Override flag set, the
    Solicited and Router flags clear, target ADDRESS and our MAC in the Target Link-Layer
    Address option.

    grarp does not check that INTERFACE holds ADDRESS; it announces what it is told (only
    the background rounds of -b stop once ADDRESS is no longer on this host).
    The frames are sent one round every interval: count rounds in all.

OPTIONS
    -b, --background
        Send the first round, then return (exit 0), and send the other rounds from a
        process in the background, each only while ADDRESS is still configured on this
        host: a service's start script then returns as soon as the address is announced
        (its UP is confirmed, and the old holder resets its connections at once), and a stop
        that removes the address ends the burst, which never announces an address given up.
        The background process has no standard output or error.
    -c count, --count count
        Number of rounds (1 to 100). Default 3. A round is one frame of each chosen ARP
        form for IPv4, one neighbour advertisement for IPv6.
    -i interval_ms, --interval interval_ms
        Milliseconds between two rounds (0 to 10000). Default 200.
    --request
        IPv4 only: send only the ARP request form.
    --reply
        IPv4 only: send only the ARP reply form.
    --both
        Send both ARP forms, request first (the default). Only one of --request, --reply and
        --both may be given; with an IPv6 ADDRESS neither --request nor --reply is accepted.
    --
        End of options.
    -h, --help
        Show this help and exit.
    -V, --version
        Show the version and exit.

    INTERFACE is an Ethernet-like interface (NIC, bridge, bond, VLAN, veth, macvlan), not an
    address label such as eth0:1. ADDRESS is an IPv4 or IPv6 address without a prefix length.

OUTPUT
    On success one line on standard output: the address, the MAC, the interface and the
    number of frames sent. Errors go to standard error, prefixed with \"grarp: \".

EXIT STATUS
    0   all frames were sent
    1   sending failed (the interface is down, or another system error)
    2   usage error: bad option or value, an address that cannot be announced (unspecified,
        broadcast, multicast, loopback), or an address family mismatch (--request or --reply
        with an IPv6 address, an IPv4-mapped IPv6 address)
    3   unknown interface (no such interface in this network namespace, or an invalid name)
    4   permission denied: sending raw frames needs root or the CAP_NET_RAW capability
    5   the interface has no Ethernet MAC address (lo, tun, WireGuard, IP tunnels)

EXAMPLES
    grarp eth0 198.18.0.50
        3 ARP requests and 3 ARP replies, 200 ms apart.
    grarp -c 1 --reply eth0 198.18.0.50
        A single ARP reply.
    grarp -c 5 -i 100 eth0 2001:db8::50
        5 unsolicited neighbour advertisements, 100 ms apart.
    grarp -b -c 3 -i 100 eth0 198.18.0.50
        The first round now, two more 100 ms apart in the background while the address is
        still here.

NOTES
    Sending works on Linux only (AF_PACKET sockets); elsewhere grarp exits with status 1.
    Linux neighbours update an existing ARP entry from gratuitous ARP; they create a new one
    only with net.ipv4.conf.IF.arp_accept=1. For IPv6 they update existing entries; creating
    new ones from unsolicited advertisements needs net.ipv6.conf.IF.accept_untracked_na.
    failsh offers the same command, with the same arguments, as the Tcl command grarp.
";

/// The hidden first argument of the background part of `grarp -b`: sleep an interval before
/// each round, and send it only while the address is still configured here.
const REST_OF_BURST: &str = "--rest-of-burst";

fn main() -> ExitCode {
    let mut args = Vec::new();
    for a in std::env::args_os().skip(1) {
        match a.into_string() {
            Ok(s) => args.push(s),
            Err(bad) => {
                eprintln!("grarp: argument {bad:?} is not valid UTF-8");
                return usage_hint(EXIT_USAGE);
            }
        }
    }
    let rest_of_burst = args.first().is_some_and(|a| a == REST_OF_BURST);
    if rest_of_burst {
        args.remove(0);
    }
    match parse_grarp_args(&args) {
        Ok(GrarpCommand::Help) => {
            print!("{HELP}");
            ExitCode::SUCCESS
        }
        Ok(GrarpCommand::Version) => {
            println!("grarp (failover) {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Ok(GrarpCommand::Run(run)) if rest_of_burst => send_rest(run),
        Ok(GrarpCommand::Run(run)) if run.background && run.options.count > 1 => background(run),
        Ok(GrarpCommand::Run(run)) => send(run),
        Err(e) => {
            eprintln!("grarp: {e}");
            usage_hint(e.exit_code())
        }
    }
}

/// `-b`: the first round here, the rest from a detached copy of this program (its own
/// process group, no standard streams: a script's `$(...)` or Tcl's `exec` does not wait
/// for it).
///
/// The copy inherits the socket of the first round: closing a packet socket waits for the
/// kernel's RCU grace period (`synchronize_net`, 6 to 24 ms measured on a 2-core VM), and
/// the service script waiting for this process would wait it out before it reports UP. With
/// the copy holding the socket too, this process's close is only a reference dropped.
fn background(mut run: failover_arp::GrarpArgs) -> ExitCode {
    let rounds = run.options.count;
    run.options.count = 1;
    let first_round = match announce(&run) {
        Ok(sender) => sender,
        Err(status) => return status,
    };
    // Without it the copy gets only its own sockets, and this exit closes the last reference.
    #[cfg(target_os = "linux")]
    let _ = inheritable(&first_round);
    let form = match run.options.form {
        failover_arp::Form::Request => "--request",
        failover_arp::Form::Reply => "--reply",
        failover_arp::Form::Both => "--both",
    };
    let rest = [
        REST_OF_BURST.to_string(),
        "-c".to_string(),
        (rounds - 1).to_string(),
        "-i".to_string(),
        run.options.interval.as_millis().to_string(),
        form.to_string(),
        "--".to_string(),
        run.interface.clone(),
        run.address.to_string(),
    ];
    let spawned = std::env::current_exe().and_then(|exe| {
        use std::os::unix::process::CommandExt;
        std::process::Command::new(exe)
            .args(&rest)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .process_group(0)
            .spawn()
    });
    drop(first_round);
    if let Err(e) = spawned {
        eprintln!("grarp: the rest of the burst could not be started ({e}): only the first round was sent");
    }
    ExitCode::SUCCESS
}

/// The background part of `grarp -b`: each round an interval after the last, while the
/// address is still here.
fn send_rest(mut run: failover_arp::GrarpArgs) -> ExitCode {
    let rounds = run.options.count;
    run.options.count = 1;
    for _ in 0..rounds {
        std::thread::sleep(run.options.interval);
        if !failover_cli::still_local(run.address) {
            return ExitCode::SUCCESS;
        }
        if send(run.clone()) != ExitCode::SUCCESS {
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

fn usage_hint(code: u8) -> ExitCode {
    if code == EXIT_USAGE {
        eprintln!("usage: {USAGE}");
        eprintln!("Try 'grarp --help' for more information.");
    }
    ExitCode::from(code)
}

#[cfg(target_os = "linux")]
fn send(run: failover_arp::GrarpArgs) -> ExitCode {
    match announce(&run) {
        Ok(_) => ExitCode::SUCCESS,
        Err(status) => status,
    }
}

/// Sends the burst of `run` and says so; returns the socket, still open.
#[cfg(target_os = "linux")]
fn announce(run: &failover_arp::GrarpArgs) -> Result<failover_arp::Sender, ExitCode> {
    let result = failover_arp::Sender::open(&run.interface).and_then(|sender| {
        let sent = sender.burst(run.address, run.options)?;
        Ok((sender, sent))
    });
    match result {
        Ok((sender, sent)) => {
            println!(
                "grarp: announced {} at {} on {}: {sent} frame{}",
                run.address,
                sender.mac(),
                run.interface,
                if sent == 1 { "" } else { "s" }
            );
            Ok(sender)
        }
        Err(e) => {
            eprintln!("grarp: {e}");
            Err(usage_hint(e.exit_code()))
        }
    }
}

/// Clears close-on-exec on the socket, so that a child started now holds it too.
#[cfg(target_os = "linux")]
fn inheritable(sender: &failover_arp::Sender) -> nix::Result<()> {
    use nix::fcntl::{fcntl, FcntlArg, FdFlag};
    use std::os::fd::AsFd;
    fcntl(sender.as_fd(), FcntlArg::F_SETFD(FdFlag::empty())).map(drop)
}

#[cfg(not(target_os = "linux"))]
fn announce(run: &failover_arp::GrarpArgs) -> Result<(), ExitCode> {
    match send(run.clone()) {
        status if status == ExitCode::SUCCESS => Ok(()),
        status => Err(status),
    }
}

#[cfg(not(target_os = "linux"))]
fn send(run: failover_arp::GrarpArgs) -> ExitCode {
    eprintln!(
        "grarp: cannot announce {} on {}: sending gratuitous ARP is supported on Linux only",
        run.address, run.interface
    );
    ExitCode::from(failover_arp::EXIT_SEND)
}
