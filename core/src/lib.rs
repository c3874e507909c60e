//! failover-core: the sans-IO heart of failover.
//!
//! Two state machines and the protocol between them:
//! - [`store::Store`], faild: the states (UP, RECOVER, FAIL) of a host's services, served to
//!   pollers and changed by failsh and failc, checked against [`community::Communities`].
//! - [`shell::Shell`], failsh: polls the faild of every master and slave of each service,
//!   applies the decision rule, runs start/stop/reclaim/check procedures (through its runtime)
//!   and writes the result into the local faild.
//! - [`wire`]: versioned, size-bounded, HMAC-authenticated messages (`docs/protocol.md`).
//!
//! Nothing here reads a clock, touches a socket, spawns a thread or process, or sleeps: time
//! comes in as [`time::Time`], randomness from the seeded [`rng::Rng`], so the same seed and
//! inputs give the same actions byte for byte, and a recorded trace replays exactly.
//!
//! # The run loop
//!
//! A runtime owns the sockets, the clock and the processes. After every input it drains
//! [`shell::Shell::poll_action`] until `None`, performs each action in order, then sleeps until
//! the deadline of [`shell::Shell::poll_timeout`] or until the next input, whichever is first,
//! and hands that over with [`shell::Shell::handle`]. Failed effects come back as inputs
//! (`SendFailed`, a procedure's error). A timeout input is harmless when early or spurious.
//!
//! ```
//! use failover_core::shell::{Action, HostConfig, Input, Protocol, ServiceConfig, Shell, ShellConfig};
//! use failover_core::time::Time;
//!
//! let config = ShellConfig {
//!     local_host: "localhost".into(),
//!     hosts: vec![
//!         HostConfig { name: "lukretia".into(), community: "public".into(), protocol: Protocol::Udp, address: "198.18.0.1:1291".parse().ok(), ..HostConfig::new("lukretia") },
//!         HostConfig { name: "localhost".into(), community: "private".into(), protocol: Protocol::Udp, address: "127.0.0.1:1291".parse().ok(), ..HostConfig::new("localhost") },
//!     ],
//!     services: vec![ServiceConfig { masters: vec!["lukretia".into()], ..ServiceConfig::new("198.18.0.50", 1_000) }],
//! };
//! let mut shell = Shell::new(config, 42, Time(0)).unwrap();
//! let mut now = Time(0);
//! let mut sent = 0;
//! for _ in 0..5 {
//!     // 1. Hand over one input (here: only the timer fires; nobody answers).
//!     shell.handle(now, Input::Timeout);
//!     // 2. Drain and perform every action.
//!     while let Some(action) = shell.poll_action() {
//!         match action {
//!             Action::Send { to, bytes, .. } => {
//!                 // A runtime writes `bytes` to `to.address` over `to.protocol` here.
//!                 sent += bytes.len().min(1);
//!             }
//!             // A runtime runs and kills procedures, renews address lifetimes and resets
//!             // the connections of an address given up, here.
//!             Action::RunProcedure { .. }
//!             | Action::KillProcedure { .. }
//!             | Action::RenewAddresses { .. }
//!             | Action::LeaseConfirmed { .. }
//!             | Action::ResetConnections { .. } => {}
//!             Action::Event(event) => println!("{event}"),
//!             Action::Exit => return,
//!         }
//!     }
//!     // 3. Sleep until the next deadline (a runtime also wakes for any input).
//!     let (deadline, _why) = shell.poll_timeout().expect("a service always has a timer");
//!     assert!(deadline > now, "a handled timeout never leaves a due timer behind");
//!     now = deadline;
//! }
//! // Each round polled the master and the local faild.
//! assert!(sent >= 4);
//! ```
#![forbid(unsafe_code)]

pub mod client;
pub mod community;
pub mod drive;
/// A test bed of hosts on a perfect network, for the core's own integration tests and
/// benchmarks (feature `testing`).
#[cfg(any(test, feature = "testing"))]
pub mod harness;
pub mod rng;
pub mod shell;
pub mod state;
pub mod store;
pub mod time;
pub mod timer;
pub mod trace;
pub mod wire;
