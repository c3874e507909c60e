//! The part of the failsh loop that is the same whatever a runtime waits with: building the
//! core, performing its actions (sends go to the runtime's transports, procedures and events
//! to the program's [`ShellHooks`]), turning [`Control`] commands into inputs, and remembering
//! the nonces in flight on a transport so that a broken one reports them failed.
//!
//! [`crate::shell`] (std threads) and `failover_runtime_smol::shell` (smol) keep only their
//! way of waiting for the next input and of doing the socket I/O.

use crate::shell::{Control, ProcedureCompletion, ShellHooks, ShellOptions};
use failover_core::shell::{Action, Input, ProcedureId, Protocol, Shell};
use failover_core::time::Time;
use failover_core::wire::Nonce;
use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a TCP connect may take before the request counts as failed.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Requests remembered per transport, to report them failed when the connection breaks and
/// to see that it stopped delivering.
pub const RECENT_NONCES: usize = 256;

/// What wakes the loop: an input for the core (a reply, a failed send, a procedure's result)
/// or a command from outside.
pub enum Message {
    Input(Input),
    Control(Control),
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Message::Input(input) => write!(f, "Input({input:?})"),
            Message::Control(control) => write!(f, "Control({control:?})"),
        }
    }
}

/// The runtime's sockets, as the loop uses them.
pub trait Transports {
    /// Sends one request to a host's faild; a failure comes back as [`Input::SendFailed`].
    /// An answer later than `timeout` is of no use: a TCP connection that left a request
    /// unanswered that long is replaced, rather than waited behind.
    fn send(
        &mut self,
        host: &str,
        protocol: Protocol,
        address: SocketAddr,
        nonce: Nonce,
        bytes: Vec<u8>,
        timeout: Duration,
    );
    /// Reports a request failed without sending it.
    fn fail(&self, nonce: Nonce, error: String) {
        self.input(Input::SendFailed { nonce, error });
    }
    /// Hands an input to the loop, after the actions being performed.
    fn input(&self, input: Input);
    /// Drops the transports of the hosts for which `keep` is false (their address changed).
    fn retain_hosts(&mut self, keep: &dyn Fn(&str) -> bool);
    /// How the result of procedure `id` gets back into the loop.
    fn completion(&self, id: ProcedureId) -> ProcedureCompletion;
}

/// The core, the hosts' addresses, the actions not yet performed, and the loop's clock.
#[derive(Debug)]
pub struct ShellLoop {
    shell: Shell,
    addresses: BTreeMap<String, SocketAddr>,
    actions: Vec<Action>,
    start: Instant,
}

impl ShellLoop {
    /// Builds the core at time 0 of the loop's clock. Fails only if the configuration is
    /// refused by the core.
    pub fn new(options: ShellOptions) -> io::Result<ShellLoop> {
        let start = Instant::now();
        let ShellOptions {
            config,
            addresses,
            seed,
        } = options;
        let now = Time(start.elapsed().as_millis() as u64);
        let mut shell = Shell::new(config, seed, now)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.0))?;
        let actions = std::iter::from_fn(|| shell.poll_action()).collect();
        Ok(ShellLoop {
            shell,
            addresses,
            actions,
            start,
        })
    }

    /// The loop's clock: milliseconds since the core was built.
    pub fn now(&self) -> Time {
        Time(self.start.elapsed().as_millis() as u64)
    }

    /// The instant `Time(0)` stands for.
    pub fn start(&self) -> Instant {
        self.start
    }

    /// When the core wants its next [`Input::Timeout`] (None: it waits for inputs only).
    pub fn deadline(&self) -> Option<Time> {
        self.shell.poll_timeout().map(|(at, _)| at)
    }

    /// Performs the pending actions in order, then calls [`ShellHooks::after_input`]. True
    /// when the core said Exit.
    pub fn perform<H: ShellHooks, T: Transports>(
        &mut self,
        hooks: &mut H,
        transports: &mut T,
    ) -> bool {
        let now = self.now();
        let mut exit = false;
        for action in std::mem::take(&mut self.actions) {
            match action {
                Action::Send {
                    host,
                    nonce,
                    bytes,
                    timeout_ms,
                } => {
                    let target = self
                        .shell
                        .host(host)
                        .map(|h| (h.name.clone(), h.protocol))
                        .and_then(|(name, protocol)| {
                            self.addresses.get(&name).map(|a| (name, protocol, *a))
                        });
                    match target {
                        Some((name, protocol, address)) => transports.send(
                            &name,
                            protocol,
                            address,
                            nonce,
                            bytes,
                            Duration::from_millis(timeout_ms),
                        ),
                        None => transports.fail(nonce, "no address for this host".into()),
                    }
                }
                Action::RunProcedure {
                    id,
                    service,
                    kind,
                    limit_ms,
                } => {
                    let name = self.shell.service_name(service).unwrap_or("?").to_string();
                    hooks.run_procedure(now, &name, kind, limit_ms, transports.completion(id));
                }
                Action::KillProcedure { id } => hooks.kill_procedure(now, id),
                Action::RenewAddresses {
                    service,
                    lifetime_s,
                } => {
                    let name = self.shell.service_name(service).unwrap_or("?").to_string();
                    if let Err(error) = hooks.renew_addresses(now, &name, lifetime_s) {
                        transports.input(Input::LeaseFailed { service, error });
                    }
                }
                Action::Event(event) => hooks.event(now, &self.shell, &event),
                Action::Exit => exit = true,
            }
        }
        hooks.after_input(now, &self.shell);
        exit
    }

    /// Hands what woke the loop to the core (a reconfiguration first drops the transports
    /// of hosts whose address changed; a dump only calls [`ShellHooks::dump`]) and collects
    /// the actions it answered with.
    pub fn handle<H: ShellHooks, T: Transports>(
        &mut self,
        message: Message,
        hooks: &mut H,
        transports: &mut T,
    ) {
        let now = self.now();
        let input = match message {
            Message::Input(input) => input,
            Message::Control(Control::Shutdown { keep_services }) => {
                Input::Shutdown { keep_services }
            }
            Message::Control(Control::Reconfigure {
                config,
                addresses: new,
            }) => {
                let old = &self.addresses;
                transports.retain_hosts(&|name| old.get(name) == new.get(name));
                self.addresses = new;
                Input::Reconfigure(config)
            }
            Message::Control(Control::Dump) => {
                hooks.dump(now, &self.shell);
                return;
            }
            Message::Control(Control::Link { interface, up }) => Input::Link { interface, up },
            Message::Control(Control::LinksComplete) => Input::LinksComplete,
        };
        self.shell.handle(now, input.clone());
        while let Some(action) = self.shell.poll_action() {
            self.actions.push(action);
        }
        hooks.handled(now, &input, &self.actions);
    }
}

/// The requests sent on one transport and not answered yet, each with the instant after
/// which its answer is of no use. A broken transport reports them failed; a TCP connection
/// with one past that instant has stopped delivering (retransmission backoff after a cut) and
/// is replaced rather than waited behind.
#[derive(Debug, Default)]
pub struct InFlight(Mutex<VecDeque<(Nonce, Instant)>>);

impl InFlight {
    pub fn sent(&self, nonce: Nonce, deadline: Instant) {
        let mut in_flight = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if in_flight.len() >= RECENT_NONCES {
            in_flight.pop_front();
        }
        in_flight.push_back((nonce, deadline));
    }

    /// A reply arrived (its nonce is at a fixed place of every message).
    pub fn answered(&self, reply: &[u8]) {
        if let Some(nonce) = failover_core::wire::reply_nonce(reply) {
            let mut in_flight = self.0.lock().unwrap_or_else(|e| e.into_inner());
            in_flight.retain(|(n, _)| *n != nonce);
        }
    }

    /// Whether a request has gone unanswered past its instant.
    pub fn overdue(&self, now: Instant) -> bool {
        let in_flight = self.0.lock().unwrap_or_else(|e| e.into_inner());
        in_flight.iter().any(|(_, deadline)| *deadline < now)
    }

    /// The transport broke: forgets every request and returns a [`Input::SendFailed`] for
    /// each (the core ignores those it no longer waits for).
    pub fn fail_all(&self, error: &str) -> Vec<Input> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
            .map(|(nonce, _)| Input::SendFailed {
                nonce,
                error: error.to_string(),
            })
            .collect()
    }
}

/// A connect attempt gets at least this long: an ARP exchange and a handshake on a path that
/// just came back, on a loaded host, take longer than a 5 ms poll timeout.
pub const CONNECT_ATTEMPT_MIN: Duration = Duration::from_millis(20);

/// How long a connect may take for a request due at `deadline`: about as long as the
/// request may wait (at least [`CONNECT_ATTEMPT_MIN`], at most [`CONNECT_TIMEOUT`]), so that
/// polls never wait behind SYN retransmissions (the first comes a second later): a new
/// attempt sends a fresh SYN as soon as the path is back. `None`: the request is already
/// past its time.
pub fn connect_timeout(deadline: Instant, now: Instant) -> Option<Duration> {
    let left = deadline.checked_duration_since(now)?;
    (!left.is_zero()).then(|| left.clamp(CONNECT_ATTEMPT_MIN, CONNECT_TIMEOUT))
}

/// The wildcard address of `address`'s family, to bind a socket that then connects to it.
pub fn unspecified_local(address: SocketAddr) -> SocketAddr {
    if address.is_ipv4() {
        "0.0.0.0:0".parse().expect("literal address")
    } else {
        "[::]:0".parse().expect("literal address")
    }
}
