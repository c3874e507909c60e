//! Shared code of the failover programs.
pub mod monitor;
pub mod config;
pub mod tcl;
pub mod debugport;
pub mod logging;
pub mod sdnotify;
pub mod failmon;
pub mod faild;
pub mod common;
pub mod failsh;
