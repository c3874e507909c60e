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
/// Nonces remembered per transport, to report them failed when the connection breaks; the
/// core ignores the ones already answered.
pub const RECENT_NONCES: usize = 64;

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
    fn send(
        &mut self,
        host: &str,
        protocol: Protocol,
        address: SocketAddr,
        nonce: Nonce,
        bytes: Vec<u8>,
    );
    /// Reports a request failed without sending it.
    fn fail(&self, nonce: Nonce, error: String);
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
                Action::Send { host, nonce, bytes } => {
                    let target = self
                        .shell
                        .host(host)
                        .map(|h| (h.name.clone(), h.protocol))
                        .and_then(|(name, protocol)| {
                            self.addresses.get(&name).map(|a| (name, protocol, *a))
                        });
                    match target {
                        Some((name, protocol, address)) => {
                            transports.send(&name, protocol, address, nonce, bytes)
                        }
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
        };
        self.shell.handle(now, input.clone());
        while let Some(action) = self.shell.poll_action() {
            self.actions.push(action);
        }
        hooks.handled(now, &input, &self.actions);
    }
}

/// The nonces sent on one transport and maybe not answered yet.
#[derive(Debug, Default)]
pub struct RecentNonces(Mutex<VecDeque<Nonce>>);

impl RecentNonces {
    pub fn remember(&self, nonce: Nonce) {
        let mut recent = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if recent.len() >= RECENT_NONCES {
            recent.pop_front();
        }
        recent.push_back(nonce);
    }

    /// The transport broke: forgets every nonce and returns a [`Input::SendFailed`] for each.
    pub fn fail_all(&self, error: &str) -> Vec<Input> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
            .map(|nonce| Input::SendFailed {
                nonce,
                error: error.to_string(),
            })
            .collect()
    }
}

/// The wildcard address of `address`'s family, to bind a socket that then connects to it.
pub fn unspecified_local(address: SocketAddr) -> SocketAddr {
    if address.is_ipv4() {
        "0.0.0.0:0".parse().expect("literal address")
    } else {
        "[::]:0".parse().expect("literal address")
    }
}
