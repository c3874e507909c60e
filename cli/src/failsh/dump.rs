//! SIGINT dumps the state as readable text to the dump file (`-l`, default
//! `/var/tmp/failsh.dump`). A FIFO is opened without blocking, so a FIFO nobody reads does not
//! stop failsh, and is kept open while its reader stays, so that
//! `while sleep 1; do kill -INT $(cat failsh.pid); done` traces into one `cat`.

use failover_core::shell::Shell;
use failover_core::time::Time;
use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::PathBuf;

#[derive(Debug)]
pub struct Dumper {
    path: PathBuf,
    fifo: Option<File>,
}

impl Dumper {
    pub fn new(path: PathBuf) -> Dumper {
        Dumper { path, fifo: None }
    }

    /// Writes the dump; `Ok(false)` when the FIFO has no reader (skipped).
    pub fn dump(&mut self, text: &str) -> Result<bool, String> {
        let is_fifo = std::fs::metadata(&self.path)
            .map(|m| m.file_type().is_fifo())
            .unwrap_or(false);
        if !is_fifo {
            self.fifo = None;
            let mut file = File::create(&self.path)
                .map_err(|e| format!("cannot write dump file {}: {e}", self.path.display()))?;
            return file
                .write_all(text.as_bytes())
                .map(|()| true)
                .map_err(|e| format!("cannot write dump file {}: {e}", self.path.display()));
        }
        if self.fifo.is_none() {
            match OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&self.path)
            {
                Ok(file) => self.fifo = Some(file),
                // ENXIO: nobody has the FIFO open for reading.
                Err(e) if e.raw_os_error() == Some(libc::ENXIO) => return Ok(false),
                Err(e) => return Err(format!("cannot open FIFO {}: {e}", self.path.display())),
            }
        }
        let Some(fifo) = self.fifo.as_mut() else {
            return Ok(false);
        };
        match fifo.write_all(text.as_bytes()) {
            Ok(()) => Ok(true),
            Err(e) => {
                // The reader left (EPIPE) or does not keep up (EAGAIN): reopen next time.
                self.fifo = None;
                Err(format!("dump to FIFO {} failed: {e}", self.path.display()))
            }
        }
    }
}

/// The state as text: services, hosts and the recent events.
pub fn render(now: Time, shell: &Shell, recent_events: &[String]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "failsh state dump at {now} (pid {})",
        std::process::id()
    );
    let _ = writeln!(out, "services:");
    for s in shell.services_status() {
        let state = s.state.map_or("UNKNOWN", |s| s.as_str());
        let views = |hosts: &[(String, failover_core::state::State)]| {
            hosts
                .iter()
                .map(|(h, st)| format!("{h}={st}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let _ = writeln!(
            out,
            "  {} {state} interval {} ms; masters [{}] slaves [{}]",
            s.name,
            s.interval_ms,
            views(&s.masters),
            views(&s.slaves)
        );
        let changed = s.last_change.map_or("never".to_string(), |t| t.to_string());
        let _ = writeln!(out, "    last change {changed}: {}", s.reason);
        if !s.decision.is_empty() {
            let _ = writeln!(out, "    decision: {}", s.decision);
        }
        if let Some(kind) = s.procedure {
            let _ = writeln!(out, "    running {kind}");
        }
    }
    let _ = writeln!(out, "hosts:");
    for h in shell.hosts_status() {
        let reachable = match h.reachable {
            Some(true) => "reachable",
            Some(false) => "unreachable",
            None => "not polled yet",
        };
        let contact = h
            .last_contact
            .map_or("never".to_string(), |t| t.to_string());
        let _ = writeln!(
            out,
            "  {} {:?} {reachable}, last contact {contact}",
            h.name, h.protocol
        );
    }
    let _ = writeln!(out, "recent events:");
    for e in recent_events {
        let _ = writeln!(out, "  {e}");
    }
    out.push('\n');
    out
}
