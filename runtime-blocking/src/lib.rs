//! Runtime binding of failover-core. `faild` (the store server) and `client` (failc, failstat)
//! are one part; `shell` (the failsh loop) is another.
pub mod client;
pub mod faild;
pub mod shell;
