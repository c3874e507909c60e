//! The operating-system side of starting a daemon: detaching, dropping
//! privileges, locking memory, priority (the pid file and the state file's lock are
//! `crate::lock`). All through nix and rustix, without unsafe code.

use std::ffi::CString;
use std::io;

/// Detaches from the terminal (fork, setsid, stdio to /dev/null). Must run before any
/// thread is started: only the calling thread survives a fork.
pub fn detach() -> Result<(), String> {
    // nochdir: keep relative paths (-s, -c) meaningful for later reloads.
    nix::unistd::daemon(true, false).map_err(|e| format!("cannot detach: {e}"))
}

/// Locks all current and future memory, so that paging cannot delay an answer long enough
/// to cause a false failover (`-m`).
pub fn lock_memory() -> Result<(), String> {
    use nix::sys::mman::{mlockall, MlockAllFlags};
    mlockall(MlockAllFlags::MCL_CURRENT | MlockAllFlags::MCL_FUTURE)
        .map_err(|e| format!("cannot lock memory (-m): {e}"))
}

/// Adds `increment` to the process's nice value (`-n`; negative raises the priority).
pub fn renice(increment: i32) -> Result<(), String> {
    rustix::process::nice(increment)
        .map(|_| ())
        .map_err(|e| format!("cannot change the priority by {increment} (-n): {e}"))
}

/// Switches to `user` (name or numeric uid) and its groups, for good (`-u`).
pub fn drop_privileges(user: &str) -> Result<(), String> {
    use nix::unistd::{initgroups, setgid, setuid, Uid, User};
    let found = match user.parse::<u32>() {
        Ok(uid) => User::from_uid(Uid::from_raw(uid)),
        Err(_) => User::from_name(user),
    }
    .map_err(|e| format!("cannot look up user \"{user}\": {e}"))?
    .ok_or_else(|| format!("no such user \"{user}\" (-u)"))?;
    let name = CString::new(found.name.clone())
        .map_err(|_| format!("user name \"{}\" contains a NUL byte", found.name))?;
    initgroups(&name, found.gid)
        .map_err(|e| format!("cannot set the groups of \"{user}\": {e}"))?;
    setgid(found.gid).map_err(|e| format!("cannot switch to group {}: {e}", found.gid))?;
    setuid(found.uid).map_err(|e| format!("cannot switch to user \"{user}\": {e}"))?;
    Ok(())
}

/// Random bits from the operating system (boot id, challenge seed).
pub fn random_u64() -> io::Result<u64> {
    getrandom::u64().map_err(|e| io::Error::other(format!("no randomness: {e}")))
}
