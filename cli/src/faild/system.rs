//! The operating-system side of starting a daemon: detaching, dropping
//! privileges, locking memory, priority (the pid file and the state file's lock are
//! `crate::lock`). All through nix, without unsafe code but for the one call nix lacks,
//! `nice(2)`.

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
#[allow(unsafe_code)]
pub fn renice(increment: i32) -> Result<(), String> {
    use nix::errno::Errno;
    // nice(2) returns the new nice value, which may be -1: only errno tells a failure.
    Errno::clear();
    // SAFETY: nice(2) takes an integer and touches no memory of ours.
    let result = unsafe { libc::nice(increment) };
    match (result, Errno::last_raw()) {
        (-1, errno) if errno != 0 => Err(format!(
            "cannot change the priority by {increment} (-n): {}",
            Errno::from_raw(errno)
        )),
        _ => Ok(()),
    }
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
    let mut bytes = [0u8; 8];
    std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom")?, &mut bytes)
        .map_err(|e| io::Error::other(format!("no randomness: {e}")))?;
    Ok(u64::from_ne_bytes(bytes))
}
