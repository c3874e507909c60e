//! Exclusive locks on the files one daemon must not share with another: faild's state file
//! (through `STATEFILE.lock` beside it) and the pid file of faild and failsh.
//!
//! The lock is `flock(LOCK_EX | LOCK_NB)` on a file that holds the holder's process id, so
//! a second instance can say who is in the way. It belongs to the open file, not to the
//! process: it is taken before the daemon detaches (so the refusal reaches the terminal)
//! and the detached child keeps it, since `daemon(3)` forks and the parent leaves with
//! `_exit` without closing anything. The file is opened close-on-exec, so a procedure or a
//! service that failsh starts never inherits it. The kernel drops it when the process dies,
//! however it dies: a stale lock file (or pid file) never blocks a start.

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// A lock held until dropped (or the process ends).
#[derive(Debug)]
pub struct Lock {
    file: Flock<File>,
    path: PathBuf,
    /// We created the file and wrote nothing yet: a start that fails before writing
    /// leaves no empty file behind.
    created_empty: bool,
}

/// Why a lock was not taken.
#[derive(Debug)]
pub enum LockError {
    /// Another process holds it: its pid as written in the file (if it wrote one yet) and
    /// its program name (if /proc says).
    Busy {
        pid: Option<u32>,
        program: Option<String>,
    },
    /// The file cannot be opened or locked.
    Io(io::Error),
}

impl LockError {
    /// "faild pid 1234", "pid 1234" or "another process".
    pub fn holder(&self) -> String {
        match self {
            LockError::Busy {
                pid: Some(pid),
                program: Some(program),
            } => format!("{program} pid {pid}"),
            LockError::Busy {
                pid: Some(pid),
                program: None,
            } => format!("pid {pid}"),
            _ => "another process".to_string(),
        }
    }
}

/// How often a lock is retried when the file was replaced or removed between opening and
/// locking it (a pid file removed by the holder as it exits).
const ATTEMPTS: usize = 10;

impl Lock {
    /// Takes the exclusive lock on `path`, creating the file if needed; never waits. The
    /// file's content is left alone until [`Lock::write_pid`].
    pub fn acquire(path: &Path) -> Result<Lock, LockError> {
        for _ in 0..ATTEMPTS {
            let existed = path.exists();
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(path)
                .map_err(LockError::Io)?;
            let file = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(locked) => locked,
                Err((mut file, Errno::EWOULDBLOCK)) => {
                    let pid = read_pid(&mut file);
                    let program = pid.and_then(program_of);
                    return Err(LockError::Busy { pid, program });
                }
                Err((_, errno)) => return Err(LockError::Io(io::Error::from(errno))),
            };
            // The holder may have removed (or replaced) the file between our open and our
            // lock: then we locked a file nobody else will look at. Try again.
            let ours = file.metadata().map_err(LockError::Io)?;
            match fs::metadata(path) {
                Ok(now) if now.dev() == ours.dev() && now.ino() == ours.ino() => {
                    return Ok(Lock {
                        file,
                        path: path.to_path_buf(),
                        created_empty: !existed && ours.len() == 0,
                    })
                }
                Ok(_) => continue,
                Err(error) if error.kind() == io::ErrorKind::NotFound => continue,
                Err(error) => return Err(LockError::Io(error)),
            }
        }
        Err(LockError::Io(io::Error::other(
            "the file keeps being replaced while it is locked",
        )))
    }

    /// Replaces the file's content with this process's id (after detaching: the daemon's).
    pub fn write_pid(&mut self) -> io::Result<()> {
        let file: &mut File = &mut self.file;
        file.set_len(0)?;
        file.seek(SeekFrom::Start(0))?;
        file.write_all(format!("{}\n", std::process::id()).as_bytes())?;
        file.flush()?;
        self.created_empty = false;
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Removes the file, then lets the lock go (a pid file on a clean exit). Removing
    /// first means no other process can lock the old file after we let go of it, unseen.
    pub fn remove(mut self) {
        let _ = fs::remove_file(&self.path);
        self.created_empty = false;
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        if self.created_empty {
            let _ = fs::remove_file(&self.path);
        }
    }
}

fn read_pid(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.take(64).read_to_string(&mut text).ok()?;
    text.trim().parse().ok().filter(|pid| *pid > 0)
}

fn program_of(pid: u32) -> Option<String> {
    let comm = fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    let comm = comm.trim();
    (!comm.is_empty()).then(|| comm.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("failover-lock-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_second_lock_is_refused_naming_the_holder_and_free_again_after_drop() {
        let dir = scratch("second");
        let path = dir.join("x.pid");
        let mut first = Lock::acquire(&path).unwrap();
        first.write_pid().unwrap();
        match Lock::acquire(&path) {
            Err(error @ LockError::Busy { .. }) => {
                let holder = error.holder();
                assert!(
                    holder.ends_with(&format!("pid {}", std::process::id())),
                    "{holder}"
                );
            }
            other => panic!("expected Busy, got {other:?}"),
        }
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            format!("{}\n", std::process::id())
        );
        drop(first);
        let again = Lock::acquire(&path).unwrap();
        // Locking alone does not wipe the old content.
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            format!("{}\n", std::process::id())
        );
        again.remove();
        assert!(!path.exists());
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn a_holder_that_wrote_no_pid_is_another_process() {
        let dir = scratch("nopid");
        let path = dir.join("x.lock");
        let _first = Lock::acquire(&path).unwrap();
        let error = Lock::acquire(&path).unwrap_err();
        assert_eq!(error.holder(), "another process");
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn a_lock_given_up_before_writing_leaves_no_file_it_created() {
        let dir = scratch("unwritten");
        let path = dir.join("x.pid");
        drop(Lock::acquire(&path).unwrap());
        assert!(!path.exists());
        fs::write(&path, "77\n").unwrap();
        drop(Lock::acquire(&path).unwrap());
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "77\n",
            "not ours to remove"
        );
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn a_missing_directory_is_an_io_error() {
        let error = Lock::acquire(Path::new("/nonexistent-failover-dir/x.lock")).unwrap_err();
        assert!(matches!(error, LockError::Io(_)), "{error:?}");
    }
}
