//! faild's program parts that are not the server loop: the state file, the sockets and the
//! clock, and the operating-system calls of a daemon.
pub mod metrics;
pub mod sockets;
pub mod state_file;
pub mod system;
