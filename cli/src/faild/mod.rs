//! faild's program parts that are not the server loop: the state file, the log and the
//! operating-system calls of a daemon.
pub mod log;
pub mod state_file;
pub mod system;
