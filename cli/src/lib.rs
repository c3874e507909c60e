//! Shared code of the failover programs.
pub mod common;
pub mod config;
pub mod debugport;
pub mod faild;
pub mod failmon;
pub mod failsh;
pub mod lock;
pub mod logging;
pub mod monitor;
pub mod prometheus;
pub mod resident;
pub mod sdnotify;
