//! Shared code of the failover programs.
