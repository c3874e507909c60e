//! What failsh tells others about each change of state: the `failtrap` procedures, run one
//! at a time per service in the order of the changes, and `failsh --notify PATH`, one line
//! per change written to a file or FIFO without ever waiting for a reader.

use failover_tcl::Interp;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{ErrorKind, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

/// A service's trap worker exits after this long without a change (a new one starts with the
/// next change), so that a thousand services do not keep a thousand idle threads.
const TRAP_WORKER_IDLE: Duration = Duration::from_secs(60);

/// One failtrap call: the procedure, its interpreter, its arguments (service, old and new
/// state) and its time limit.
struct TrapCall {
    trap: String,
    interp: Interp,
    args: [String; 3],
    limit: Duration,
}

/// The failtrap calls of each service, queued to that service's worker: a trap starts only
/// when the one before it (of the same service) has finished or hit its limit, so traps see
/// the changes in the order they happened. Traps of different services run side by side.
#[derive(Default)]
pub struct Traps {
    workers: BTreeMap<String, Sender<TrapCall>>,
}

impl std::fmt::Debug for Traps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Traps")
            .field("services", &self.workers.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Traps {
    /// Queues `trap SERVICE FROM TO` behind the service's earlier traps. Never blocks.
    pub fn call(
        &mut self,
        service: &str,
        trap: String,
        interp: Interp,
        from: &str,
        to: &str,
        limit: Duration,
    ) {
        let mut call = TrapCall {
            trap,
            interp,
            args: [service.to_string(), from.to_string(), to.to_string()],
            limit,
        };
        // A worker that exited when idle returns the call: start another one.
        if let Some(worker) = self.workers.get(service) {
            match worker.send(call) {
                Ok(()) => return,
                Err(mpsc::SendError(returned)) => call = returned,
            }
        }
        let (sender, receiver) = mpsc::channel();
        let spawned = thread::Builder::new()
            .name(format!("failtrap {service}"))
            .spawn(move || trap_worker(receiver));
        match spawned {
            Ok(_) => {
                // The receiver is alive until the worker returns, which it does only when
                // idle and with an empty queue.
                let _ = sender.send(call);
                self.workers.insert(service.to_string(), sender);
            }
            Err(e) => log::error!(
                target: "procedure",
                "cannot start a thread for failtrap of {service}: {e}"
            ),
        }
    }
}

fn trap_worker(receiver: Receiver<TrapCall>) {
    loop {
        let call = match receiver.recv_timeout(TRAP_WORKER_IDLE) {
            Ok(call) => call,
            // Dropping the receiver makes the next send fail, and the sender starts a new
            // worker; a call queued meanwhile cannot be lost: `recv_timeout` returns queued
            // calls before it times out.
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return,
        };
        let TrapCall {
            trap,
            mut interp,
            args,
            limit,
        } = call;
        interp.set_deadline(Some(Instant::now() + limit));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        if let Err(e) = interp.call_proc(&trap, &refs) {
            log::warn!(
                target: "procedure",
                "failtrap {trap} for {} ({} -> {}) failed: {}",
                args[0],
                args[1],
                args[2],
                e.message
            );
        }
    }
}

/// `failsh --notify PATH`: one line per change of state,
/// `TIME SERVICE FROM TO REASON` (TIME in UTC, RFC 3339 with milliseconds; FROM is
/// `UNKNOWN` before the local faild first answered). The file is opened without blocking:
/// a FIFO without a reader, or one whose reader is too slow, loses lines (counted and
/// logged), and failsh never waits.
#[derive(Debug)]
pub struct Notifier {
    path: PathBuf,
    file: Option<File>,
    /// Lines lost since the last one written, and whether that was logged.
    lost: u64,
    warned: bool,
}

impl Notifier {
    pub fn new(path: PathBuf) -> Notifier {
        Notifier {
            path,
            file: None,
            lost: 0,
            warned: false,
        }
    }

    fn open(&self) -> std::io::Result<File> {
        std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .custom_flags(libc_flags())
            .open(&self.path)
    }

    /// Writes the line of one change. Never blocks.
    pub fn change(&mut self, at: SystemTime, service: &str, from: &str, to: &str, reason: &str) {
        let reason = reason.replace(['\n', '\r'], " ");
        let line = format!(
            "{} {service} {from} {to} {reason}\n",
            crate::logging::utc_timestamp(at)
        );
        if self.file.is_none() {
            match self.open() {
                Ok(file) => self.file = Some(file),
                Err(e) => {
                    self.lose(&format!("cannot open it: {e}"));
                    return;
                }
            }
        }
        let Some(file) = self.file.as_mut() else {
            return;
        };
        // One write of a line shorter than PIPE_BUF is atomic on a FIFO: the reader sees
        // whole lines or none.
        match file.write(line.as_bytes()) {
            Ok(n) if n == line.len() => {
                if self.lost > 0 {
                    log::info!(
                        target: "config",
                        "--notify {}: writing again after {} lost lines",
                        self.path.display(),
                        self.lost
                    );
                }
                self.lost = 0;
                self.warned = false;
            }
            Ok(_) => self.lose("short write"),
            Err(e) if e.kind() == ErrorKind::WouldBlock => self.lose("its reader is too slow"),
            Err(e) => {
                // A reader that went away (EPIPE): open again for the next line.
                self.file = None;
                self.lose(&e.to_string());
            }
        }
    }

    fn lose(&mut self, why: &str) {
        self.lost += 1;
        if !self.warned {
            self.warned = true;
            log::warn!(
                target: "config",
                "--notify {}: line lost ({why}); later losses are counted until a line gets through",
                self.path.display()
            );
        }
    }
}

/// O_NONBLOCK (and O_CLOEXEC, which std sets anyway): opening a FIFO without a reader fails
/// at once (ENXIO) instead of waiting for one, and a full FIFO refuses a write (EAGAIN).
fn libc_flags() -> i32 {
    nix::fcntl::OFlag::O_NONBLOCK.bits()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_go_to_a_file_in_order() {
        let dir = tempdir();
        let path = dir.join("notify.log");
        let mut notifier = Notifier::new(path.clone());
        let at = SystemTime::UNIX_EPOCH + Duration::from_millis(1_796_000_000_123);
        notifier.change(
            at,
            "198.18.0.50",
            "UNKNOWN",
            "RECOVER",
            "read from the local faild",
        );
        notifier.change(
            at,
            "198.18.0.50",
            "RECOVER",
            "UP",
            "start returned UP\nsecond line",
        );
        let text = std::fs::read_to_string(&path).expect("written");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(lines[0].ends_with(" 198.18.0.50 UNKNOWN RECOVER read from the local faild"));
        assert!(lines[1].ends_with(" 198.18.0.50 RECOVER UP start returned UP second line"));
        assert!(
            lines[0].starts_with("2026-11-30T00:53:20.123Z "),
            "{}",
            lines[0]
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_fifo_without_a_reader_loses_lines_without_blocking() {
        let dir = tempdir();
        let path = dir.join("notify.fifo");
        nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o600))
            .expect("mkfifo");
        let mut notifier = Notifier::new(path.clone());
        let started = Instant::now();
        for _ in 0..3 {
            notifier.change(SystemTime::now(), "s", "RECOVER", "UP", "why");
        }
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(notifier.lost, 3);
        // With a reader, lines get through again.
        let reader = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc_flags())
            .open(&path)
            .expect("reader");
        notifier.change(SystemTime::now(), "s", "UP", "FAIL", "why");
        assert_eq!(notifier.lost, 0);
        let mut text = String::new();
        use std::io::Read;
        let _ = (&reader).read_to_string(&mut text);
        assert!(text.ends_with(" s UP FAIL why\n"), "{text:?}");
        let _ = std::fs::remove_dir_all(dir);
    }

    fn tempdir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "failsh-notify-{}-{:?}",
            std::process::id(),
            thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    }
}
