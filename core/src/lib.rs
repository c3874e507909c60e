#![forbid(unsafe_code)]
//! placeholder
pub mod community;
pub mod harness;
pub mod rng;
pub mod shell;
pub mod state;
pub mod store;
pub mod time;
pub mod timer;
pub mod wire;
