//! Runtime binding of failover-core. `faild` (the store server) and `client` (failc, failstat)
//! are one part; `shell` (the failsh loop) is another.
pub mod client;
pub mod faild;
pub mod shell;

/// Runs a future to completion on this thread (for the clients of the programs).
pub use smol::block_on;
