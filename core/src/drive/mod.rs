//! Driving the state machines, whatever a runtime waits with: the loops that feed the core
//! its inputs and perform its actions, written once and used by both runtimes (std threads,
//! smol) and by the simulator.
//!
//! A runtime supplies only what needs the operating system, through small traits: the
//! sockets ([`shell::Transports`]), the program's effects ([`shell::ShellHooks`],
//! [`faild::FaildHooks`]), and the clock, which it reads and passes in as [`Time`]. Nothing
//! here reads a clock, touches a socket, spawns or sleeps either.
//!
//! [`Time`]: crate::time::Time

pub mod faild;
pub mod faild_limits;
pub mod shell;
