//! The monitor port server: every reader gets the latest [`Snapshot`] at once, again on every
//! change and at least once per second. Readers never write; a reader that does not keep up
//! (its socket buffer is full) is disconnected rather than allowed to stall failsh.

use crate::monitor::Snapshot;
use std::io::{ErrorKind, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// At most this many readers at once; more are refused (closed at once).
const MAX_READERS: usize = 32;
const PERIOD: Duration = Duration::from_secs(1);

#[derive(Debug, Default)]
struct State {
    latest: Option<Snapshot>,
    generation: u64,
    readers: Vec<TcpStream>,
}

#[derive(Debug, Clone)]
pub struct MonitorServer {
    shared: Arc<(Mutex<State>, Condvar)>,
    local_addr: SocketAddr,
}

impl MonitorServer {
    /// Listens on `listener` from two threads of its own (accept, push).
    pub fn start(listener: TcpListener, started: Instant) -> std::io::Result<Self> {
        let local_addr = listener.local_addr()?;
        let shared = Arc::new((Mutex::new(State::default()), Condvar::new()));
        let accept_shared = shared.clone();
        thread::Builder::new()
            .name("monitor-accept".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    let Ok(mut stream) = stream else { continue };
                    let (lock, _) = &*accept_shared;
                    let mut state = lock.lock().unwrap_or_else(|e| e.into_inner());
                    if state.readers.len() >= MAX_READERS {
                        log::warn!(target: "monitor", "too many monitor readers; refused one");
                        continue;
                    }
                    if let Some(latest) = &state.latest {
                        let line = refreshed(latest, started).to_line();
                        if stream.write_all(line.as_bytes()).is_err() {
                            continue;
                        }
                    }
                    let _ = stream.set_nonblocking(true);
                    log::debug!(target: "monitor", "monitor reader connected");
                    state.readers.push(stream);
                }
            })?;
        let push_shared = shared.clone();
        thread::Builder::new()
            .name("monitor-push".into())
            .spawn(move || {
                let (lock, changed) = &*push_shared;
                let mut seen = 0;
                let mut state = lock.lock().unwrap_or_else(|e| e.into_inner());
                loop {
                    // On a change, or once per second without one.
                    let (next, _) = changed
                        .wait_timeout_while(state, PERIOD, |s| s.generation == seen)
                        .unwrap_or_else(|e| e.into_inner());
                    state = next;
                    seen = state.generation;
                    let Some(latest) = &state.latest else {
                        continue;
                    };
                    let line = refreshed(latest, started).to_line();
                    state
                        .readers
                        .retain_mut(|reader| match reader.write(line.as_bytes()) {
                            Ok(n) if n == line.len() => true,
                            Ok(_) => {
                                log::warn!(target: "monitor", "monitor reader too slow; disconnected");
                                false
                            }
                            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                                log::warn!(target: "monitor", "monitor reader too slow; disconnected");
                                false
                            }
                            Err(_) => false,
                        });
                }
            })?;
        Ok(MonitorServer { shared, local_addr })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// A new state to push now.
    pub fn publish(&self, snapshot: Snapshot) {
        let (lock, changed) = &*self.shared;
        let mut state = lock.lock().unwrap_or_else(|e| e.into_inner());
        state.latest = Some(snapshot);
        state.generation += 1;
        changed.notify_all();
    }
}

/// The same state with the clocks of now (the once-per-second push says "still so").
fn refreshed(snapshot: &Snapshot, started: Instant) -> Snapshot {
    let mut snapshot = snapshot.clone();
    snapshot.unix_ms = unix_ms();
    snapshot.uptime_ms = started.elapsed().as_millis() as u64;
    snapshot
}

pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
