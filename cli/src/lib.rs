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

/// Whether `address` is configured on this host (only a local address can be bound): a
/// background `grarp -b` round is sent only while it is, so that it never announces an
/// address this host has given up.
pub fn still_local(address: std::net::IpAddr) -> bool {
    std::net::UdpSocket::bind((address, 0)).is_ok()
}
