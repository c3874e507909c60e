//! The Tcl command `grarp` inside failsh: the same arguments as the `grarp` program (one
//! parser, `failover_arp::parse_grarp_args`), so a start or reclaim procedure announces the
//! service address without forking.
//!
//! `grarp ?-c count? ?-i interval_ms? ?--request|--reply|--both? INTERFACE ADDRESS` returns
//! the number of frames sent. Errors are Tcl errors with the arp crate's message and
//! errorCode `GRARP <class>` (`GRARP USAGE`, `GRARP NOINTERFACE`, `GRARP PERMISSION`, ...), so
//! a procedure can `catch` them and tell a missing interface from missing privileges.
//!
//! `grarp -b ...` sends the first round at once and the others from a thread
//! of their own, and returns after the first round: a start that announces with `-b` returns
//! as soon as the address is announced, so its UP is confirmed (and the old holder resets
//! its connections, `failsvc S reset`) without waiting out the burst. A background round is
//! sent only while the address is still configured on this host: a stop that removes it
//! ends the burst, which must never announce an address this host gave up.

use failover_arp::{parse_grarp_args, GrarpCommand};
use failover_tcl::{Exception, Interp, TclError, TclResult};
use std::sync::Arc;
use std::time::Instant;

/// Registers `grarp` in `interp` (failsh's procedures and `failsh -t` both get it).
pub fn register(interp: &mut Interp) {
    interp.register("grarp", Arc::new(grarp));
}

fn tcl_error(e: &failover_arp::Error) -> Exception {
    TclError::with_code(e.to_string(), format!("GRARP {}", e.code_name())).into()
}

/// The command itself; `args[0]` is the command name.
pub fn grarp(interp: &mut Interp, args: &[String]) -> TclResult {
    let run = match parse_grarp_args(&args[1..]).map_err(|e| tcl_error(&e))? {
        GrarpCommand::Help => return Ok(failover_arp::USAGE.to_string()),
        GrarpCommand::Version => {
            return Ok(format!("grarp (failover) {}", env!("CARGO_PKG_VERSION")))
        }
        GrarpCommand::Run(run) => run,
    };
    if run.background {
        return send_in_background(run);
    }
    // A burst blocks the procedure's thread and cannot be interrupted: refuse one that would
    // outlast the procedure's time limit instead of running on after failsh gave up on it.
    if let Some(deadline) = interp.deadline() {
        let rounds = run.options.count.saturating_sub(1);
        let burst = run.options.interval.saturating_mul(rounds);
        let left = deadline.saturating_duration_since(Instant::now());
        if burst > left {
            return Err(TclError::with_code(
                format!(
                    "grarp: {} rounds {} ms apart take {} ms, longer than the {} ms left of the procedure's time limit",
                    run.options.count,
                    run.options.interval.as_millis(),
                    burst.as_millis(),
                    left.as_millis()
                ),
                "GRARP TIMEOUT",
            )
            .into());
        }
    }
    send(&run)
}

/// The first round now; the others from a thread, each only while the address is local.
///
/// One packet socket serves the whole burst, and the thread closes it: closing a packet
/// socket waits for the kernel's RCU grace period (`synchronize_net`), 6 to 24 ms measured on
/// a 2-core VM, which the procedure, and with it the new holder's UP and the old holder's
/// reset of its clients' connections, would otherwise wait out.
#[cfg(target_os = "linux")]
fn send_in_background(run: failover_arp::GrarpArgs) -> TclResult {
    run.options
        .validate(run.address)
        .map_err(|e| tcl_error(&e))?;
    let sender = failover_arp::Sender::open(&run.interface).map_err(|e| tcl_error(&e))?;
    let round = failover_arp::BurstOptions {
        count: 1,
        ..run.options
    };
    let sent = sender
        .burst(run.address, round)
        .map_err(|e| tcl_error(&e))?;
    // Spawned even for a single round: the thread's only work is then the close.
    let spawned = std::thread::Builder::new()
        .name(format!("grarp {}", run.address))
        .spawn(move || {
            for _ in 1..run.options.count {
                std::thread::sleep(run.options.interval);
                if !crate::still_local(run.address) {
                    log::debug!(
                        target: "procedure",
                        "grarp -b: {} is no longer here: burst ended",
                        run.address
                    );
                    return;
                }
                if let Err(e) = sender.burst(run.address, round) {
                    log::warn!(target: "procedure", "grarp -b {}: {e:?}", run.address);
                    return;
                }
            }
        });
    if let Err(e) = spawned {
        log::warn!(target: "procedure", "grarp -b: no thread for the rest of the burst: {e}");
    }
    Ok(sent.to_string())
}

#[cfg(not(target_os = "linux"))]
fn send_in_background(run: failover_arp::GrarpArgs) -> TclResult {
    send(&run)
}

#[cfg(target_os = "linux")]
fn send(run: &failover_arp::GrarpArgs) -> TclResult {
    failover_arp::send_burst(&run.interface, run.address, run.options)
        .map(|sent| sent.to_string())
        .map_err(|e| tcl_error(&e))
}

#[cfg(not(target_os = "linux"))]
fn send(run: &failover_arp::GrarpArgs) -> TclResult {
    Err(TclError::with_code(
        format!(
            "cannot announce {} on {}: sending gratuitous ARP is supported on Linux only",
            run.address, run.interface
        ),
        "GRARP UNSUPPORTED",
    )
    .into())
}
