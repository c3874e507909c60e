//! Shared code of the failover programs.
pub mod monitor;
