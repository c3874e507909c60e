//! The failsh loop, the part that is the same whatever a runtime waits with: building the
//! core, performing its actions (sends go to the runtime's [`Transports`], procedures and
//! events to the program's [`ShellHooks`]), turning [`Control`] commands into inputs, and
//! remembering the requests in flight on a transport ([`InFlight`]) so that a broken one
//! reports them failed and one that stopped delivering is replaced.
//!
//! A runtime's loop is then: [`ShellDriver::perform`]; wait for one [`Message`] or until
//! [`ShellDriver::deadline`]; [`ShellDriver::handle`] it; repeat until `perform` says exit.

use crate::shell::{
    Action, ConfigError, Destination, Event, Input, ProcedureId, ProcedureKind, Shell, ShellConfig,
};
use crate::time::Time;
use crate::wire::Nonce;
use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

/// How long one TCP connect attempt may take at most. A request that may wait longer gets
/// another attempt (a fresh SYN) until its deadline, rather than one long attempt: the
/// kernel retransmits a lost SYN only after a second, and every request behind the
/// attempt waits with it. After a partition healed, a poll connected only at the kernel's
/// retransmission, up to 1 s later, while the probes queued behind it could not try
/// (bench: 720 ms of silence after the heal); now the next attempt gets through at once.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(25);
/// A connect attempt gets at least this long: an ARP exchange and a handshake on a path that
/// just came back, on a loaded host, take longer than a 5 ms poll timeout.
pub const CONNECT_ATTEMPT_MIN: Duration = Duration::from_millis(20);
/// Requests remembered per transport, to report them failed when the connection breaks and
/// to see that it stopped delivering.
pub const RECENT_NONCES: usize = 256;
/// How long past its deadline a request may go unanswered before its TCP connection counts
/// as stopped delivering: Linux's smallest retransmission timeout (`TCP_RTO_MIN`). A reply
/// that is only late (a loaded local faild at `interval 0.005`, an answer 1 ms past its
/// 5 ms) has lost nothing, and a new connection reaches the same slow faild; replacing the
/// old one failed every request on it, writes among them, which then counted as misses and
/// failed writes of a faild that had answered (CI: failsh stopped a healthy service, "the
/// local faild does not answer", and macbeth withdrew a start its faild had stored). A
/// segment lost to a cut is resent by the kernel after this long at the earliest; past it,
/// the connection is in retransmission backoff and a new one gets through first.
pub const STALL_GRACE: Duration = Duration::from_millis(200);

/// What failsh starts with: the core's configuration (with every host's faild address) and
/// the seed of the core's PRNG (recorded in traces).
#[derive(Clone, Debug)]
pub struct ShellOptions {
    pub config: ShellConfig,
    pub seed: u64,
}

/// Commands from outside the loop (signal handlers, the link watcher).
#[derive(Clone, Debug)]
pub enum Control {
    /// SIGTERM: hand over (or with `keep_services`, leave services running) and exit.
    Shutdown { keep_services: bool },
    /// SIGHUP with a configuration that parsed and validated.
    Reconfigure(ShellConfig),
    /// SIGINT: call [`ShellHooks::dump`] with the current state.
    Dump,
    /// The kernel reported the carrier of an interface (at start, then every change).
    Link { interface: String, up: bool },
    /// Every existing interface has been reported once.
    LinksComplete,
}

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

/// The program's side of the loop. Every method runs on the loop's thread and must not
/// block: procedures run elsewhere and report through their [`ProcedureCompletion`].
pub trait ShellHooks: Send + 'static {
    /// Called with every input the core was given, at the time it was given, and the actions
    /// it answered with, before they are performed (for `--record`).
    fn handled(&mut self, now: Time, input: &Input, actions: &[Action]);
    /// Start a procedure; `done.finish(result)` must be called exactly once, from any thread.
    fn run_procedure(
        &mut self,
        now: Time,
        service: &str,
        kind: ProcedureKind,
        limit_ms: u64,
        done: ProcedureCompletion,
    );
    /// The core gave up on a procedure (past its limit); its late result will be ignored.
    fn kill_procedure(&mut self, now: Time, id: ProcedureId);
    /// Renews the kernel lifetime of every address the service's procedures added with
    /// `ipaddr` to `lifetime_s` seconds from now. An error stops the service.
    fn renew_addresses(&mut self, now: Time, service: &str, lifetime_s: u32) -> Result<(), String>;
    /// The local faild acknowledged the service's UP with its lease ([`Action::LeaseConfirmed`]).
    fn lease_confirmed(&mut self, _now: Time, _service: &str) {}
    /// The service moved to another host: reset the TCP connections on `addresses`
    /// ([`Action::ResetConnections`]); what was done is the program's to log.
    fn reset_connections(
        &mut self,
        now: Time,
        service: &str,
        addresses: &[core::net::IpAddr],
        reason: &str,
    );
    fn event(&mut self, now: Time, shell: &Shell, event: &Event);
    /// After every input has been handled and its actions performed, and when the loop
    /// woke for [`ShellHooks::wake_within_ms`] without one.
    fn after_input(&mut self, now: Time, shell: &Shell);
    fn dump(&mut self, now: Time, shell: &Shell);
    /// The longest the loop may wait without calling [`ShellHooks::after_input`] (a systemd
    /// watchdog that must hear from the loop even when the core sleeps for a long interval);
    /// `None`: as long as the core allows.
    fn wake_within_ms(&self) -> Option<u64> {
        None
    }
}

/// The runtime's sockets, as the loop uses them.
pub trait Transports {
    /// Sends one request to a host's faild; a failure comes back as [`Input::SendFailed`].
    /// An answer later than `timeout` is of no use: a TCP connection that left a request
    /// unanswered that long is replaced, rather than waited behind.
    fn send(&mut self, to: &Destination, nonce: Nonce, bytes: Vec<u8>, timeout: Duration);
    /// Reports a request failed without sending it.
    fn fail(&self, nonce: Nonce, error: String) {
        self.input(Input::SendFailed { nonce, error });
    }
    /// Hands an input to the loop, after the actions being performed.
    fn input(&self, input: Input);
    /// Keeps the transports whose destination is in `keep` and drops the others (a host
    /// whose address or protocol changed, a host no longer configured).
    fn retain(&mut self, keep: &BTreeSet<Destination>);
    /// How the result of procedure `id` gets back into the loop.
    fn completion(&self, id: ProcedureId) -> ProcedureCompletion;
}

type InputSink = Box<dyn FnOnce(Input) + Send>;
type ControlSink = Arc<dyn Fn(Control) -> bool + Send + Sync>;

/// Hands a procedure's result back to the loop (of either runtime).
pub struct ProcedureCompletion {
    id: ProcedureId,
    sink: InputSink,
}

impl std::fmt::Debug for ProcedureCompletion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ProcedureCompletion(#{})", self.id.0)
    }
}

impl ProcedureCompletion {
    /// For runtimes: `sink` delivers the [`Input::ProcedureDone`] into the loop.
    pub fn new(id: ProcedureId, sink: impl FnOnce(Input) + Send + 'static) -> ProcedureCompletion {
        ProcedureCompletion {
            id,
            sink: Box::new(sink),
        }
    }

    pub fn id(&self) -> ProcedureId {
        self.id
    }

    pub fn finish(self, result: Result<String, String>) {
        (self.sink)(Input::ProcedureDone {
            id: self.id,
            result,
        });
    }
}

/// Sends [`Control`] commands into a running loop (of either runtime), from any thread.
#[derive(Clone)]
pub struct ShellHandle {
    sink: ControlSink,
}

impl std::fmt::Debug for ShellHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ShellHandle")
    }
}

impl ShellHandle {
    /// For runtimes: `sink` delivers the command and says whether the loop still runs.
    pub fn new(sink: impl Fn(Control) -> bool + Send + Sync + 'static) -> ShellHandle {
        ShellHandle {
            sink: Arc::new(sink),
        }
    }

    /// False when the loop has ended.
    pub fn control(&self, control: Control) -> bool {
        (self.sink)(control)
    }
}

/// The core and the actions not yet performed.
#[derive(Debug)]
pub struct ShellDriver {
    shell: Shell,
    actions: Vec<Action>,
}

impl ShellDriver {
    /// Builds the core at `now` (a runtime's loop usually starts its clock at 0). Fails only
    /// if the configuration is refused by the core.
    pub fn new(options: ShellOptions, now: Time) -> Result<ShellDriver, ConfigError> {
        let ShellOptions { config, seed } = options;
        let mut shell = Shell::new(config, seed, now)?;
        let actions = std::iter::from_fn(|| shell.poll_action()).collect();
        Ok(ShellDriver { shell, actions })
    }

    pub fn shell(&self) -> &Shell {
        &self.shell
    }

    /// When the core wants its next [`Input::Timeout`] (None: it waits for inputs only).
    pub fn deadline(&self) -> Option<Time> {
        self.shell.poll_timeout().map(|(at, _)| at)
    }

    /// When the runtime must wake next without an input: the core's deadline (`true`), or
    /// sooner for the hooks (`false`: call [`ShellDriver::idle`] then, not the core).
    pub fn wake_at<H: ShellHooks>(&self, now: Time, hooks: &H) -> Option<(Time, bool)> {
        let idle = hooks.wake_within_ms().map(|ms| now.plus_ms(ms.max(1)));
        match (self.deadline(), idle) {
            (Some(core), Some(idle)) if idle < core => Some((idle, false)),
            (Some(core), _) => Some((core, true)),
            (None, idle) => idle.map(|at| (at, false)),
        }
    }

    /// The loop woke for the hooks, not for the core: only they hear of it.
    pub fn idle<H: ShellHooks>(&mut self, now: Time, hooks: &mut H) {
        hooks.after_input(now, &self.shell);
    }

    /// Performs the pending actions in order, then calls [`ShellHooks::after_input`]. True
    /// when the core said Exit.
    pub fn perform<H: ShellHooks, T: Transports>(
        &mut self,
        now: Time,
        hooks: &mut H,
        transports: &mut T,
    ) -> bool {
        let mut exit = false;
        for action in std::mem::take(&mut self.actions) {
            match action {
                Action::Send {
                    to,
                    nonce,
                    bytes,
                    timeout_ms,
                    ..
                } => transports.send(&to, nonce, bytes, Duration::from_millis(timeout_ms)),
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
                Action::LeaseConfirmed { service } => {
                    let name = self.shell.service_name(service).unwrap_or("?").to_string();
                    hooks.lease_confirmed(now, &name);
                }
                Action::ResetConnections {
                    service,
                    addresses,
                    reason,
                } => {
                    let name = self.shell.service_name(service).unwrap_or("?").to_string();
                    hooks.reset_connections(now, &name, &addresses, &reason);
                }
                Action::Event(event) => hooks.event(now, &self.shell, &event),
                Action::Exit => exit = true,
            }
        }
        hooks.after_input(now, &self.shell);
        exit
    }

    /// Hands what woke the loop to the core (a reconfiguration first drops the transports
    /// whose destination is gone; a dump only calls [`ShellHooks::dump`]) and collects the
    /// actions it answered with.
    pub fn handle<H: ShellHooks, T: Transports>(
        &mut self,
        now: Time,
        message: Message,
        hooks: &mut H,
        transports: &mut T,
    ) {
        let input = match message {
            Message::Input(Input::Timeout) => {
                if let Some((at, timer)) = self.shell.poll_timeout().filter(|(at, _)| *at <= now) {
                    log::debug!(
                        target: "poll",
                        "woke at {} ms for the {} (due at {} ms)",
                        now.as_ms(),
                        self.shell.describe_timer(timer),
                        at.as_ms()
                    );
                }
                Input::Timeout
            }
            Message::Input(input) => input,
            Message::Control(Control::Shutdown { keep_services }) => {
                Input::Shutdown { keep_services }
            }
            Message::Control(Control::Reconfigure(config)) => {
                let keep = destinations(&config);
                transports.retain(&keep);
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

/// Every destination a configuration sends to.
pub fn destinations(config: &ShellConfig) -> BTreeSet<Destination> {
    config
        .hosts
        .iter()
        .filter_map(|h| {
            h.address.map(|address| Destination {
                host: h.name.as_str().into(),
                protocol: h.protocol,
                address,
            })
        })
        .collect()
}

/// The requests sent on one transport and not answered yet, each with the instant (of the
/// runtime's clock, `D`) after which its answer is of no use. A broken transport reports them
/// failed; a TCP connection with one unanswered [`STALL_GRACE`] past that instant has stopped
/// delivering (retransmission backoff after a cut) and is replaced rather than waited behind. Runtimes share it between
/// a transport's writer and reader behind a lock.
#[derive(Debug)]
pub struct InFlight<D> {
    requests: VecDeque<(Nonce, D)>,
}

impl<D> Default for InFlight<D> {
    fn default() -> InFlight<D> {
        InFlight {
            requests: VecDeque::new(),
        }
    }
}

impl<D: Copy + PartialOrd + std::ops::Add<Duration, Output = D>> InFlight<D> {
    pub fn sent(&mut self, nonce: Nonce, deadline: D) {
        if self.requests.len() >= RECENT_NONCES {
            self.requests.pop_front();
        }
        self.requests.push_back((nonce, deadline));
    }

    /// A reply arrived (its nonce is at a fixed place of every message).
    pub fn answered(&mut self, reply: &[u8]) {
        if let Some(nonce) = crate::wire::reply_nonce(reply) {
            self.requests.retain(|(n, _)| *n != nonce);
        }
    }

    /// Whether a request has gone unanswered [`STALL_GRACE`] past its instant: the
    /// connection has stopped delivering.
    pub fn stalled(&self, now: D) -> bool {
        self.requests
            .iter()
            .any(|(_, deadline)| *deadline + STALL_GRACE < now)
    }

    /// The transport broke: forgets every request and returns a [`Input::SendFailed`] for
    /// each (the core ignores those it no longer waits for).
    pub fn fail_all(&mut self, error: &str) -> Vec<Input> {
        self.requests
            .drain(..)
            .map(|(nonce, _)| Input::SendFailed {
                nonce,
                error: error.to_string(),
            })
            .collect()
    }
}

/// Messages a loop may take in a row ahead of a deadline of the core that is already due.
pub const AHEAD_OF_DEADLINE_MAX: u32 = 64;

/// Decides, when a deadline is due, whether a message already received goes first. An answer
/// that arrived while the loop was not running (descheduled on a loaded host, or its reader
/// not yet given a turn) answered in time: handled after the deadline, it counted as a miss
/// although it sat in the loop's queue (CI, `interval 0.005`: four such misses of the local
/// faild in 20 ms stopped a healthy master, "the local faild does not answer"). Bounded so
/// that a stream of messages cannot hold a deadline off for ever.
#[derive(Debug, Default)]
pub struct DueDeadline {
    in_a_row: u32,
}

impl DueDeadline {
    /// `received` takes one message without waiting. `Some`: handle it first (the deadline
    /// stays due and comes back); `None`: the deadline's turn.
    pub fn first(&mut self, received: impl FnOnce() -> Option<Message>) -> Option<Message> {
        let message = if self.in_a_row < AHEAD_OF_DEADLINE_MAX {
            received()
        } else {
            None
        };
        match message {
            Some(message) => {
                self.in_a_row += 1;
                Some(message)
            }
            None => {
                self.in_a_row = 0;
                None
            }
        }
    }
}

/// How long the next connect attempt may take for a request with `left` until its deadline
/// (at least [`CONNECT_ATTEMPT_MIN`], at most [`CONNECT_TIMEOUT`]): an attempt that timed
/// out is followed by another while the request may still wait, so that polls never wait
/// behind SYN retransmissions (the first comes a second later): a new attempt sends a fresh
/// SYN as soon as the path is back. `None`: the request is already past its time.
pub fn connect_timeout(left: Option<Duration>) -> Option<Duration> {
    let left = left?;
    (!left.is_zero()).then(|| left.clamp(CONNECT_ATTEMPT_MIN, CONNECT_TIMEOUT))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connect_gets_what_its_request_may_wait_within_bounds() {
        assert_eq!(connect_timeout(None), None);
        assert_eq!(connect_timeout(Some(Duration::ZERO)), None);
        assert_eq!(
            connect_timeout(Some(Duration::from_millis(5))),
            Some(CONNECT_ATTEMPT_MIN)
        );
        assert_eq!(
            connect_timeout(Some(Duration::from_millis(22))),
            Some(Duration::from_millis(22))
        );
        assert_eq!(
            connect_timeout(Some(Duration::from_millis(300))),
            Some(CONNECT_TIMEOUT)
        );
        assert_eq!(
            connect_timeout(Some(Duration::from_secs(9))),
            Some(CONNECT_TIMEOUT)
        );
    }

    #[test]
    fn received_messages_go_before_a_due_deadline_but_not_for_ever() {
        let mut due = DueDeadline::default();
        let message = || Some(Message::Input(Input::Timeout));
        assert!(
            due.first(|| None).is_none(),
            "nothing received: the deadline"
        );
        for _ in 0..AHEAD_OF_DEADLINE_MAX {
            assert!(due.first(message).is_some());
        }
        assert!(
            due.first(message).is_none(),
            "the deadline's turn after a full row"
        );
        assert!(due.first(message).is_some(), "and the row starts again");
    }

    /// What [`InFlight::answered`] reads of a reply: the nonce at its fixed place.
    fn reply_to(nonce: Nonce) -> Vec<u8> {
        let mut bytes = vec![0u8; 5];
        bytes.extend_from_slice(&nonce.0);
        bytes
    }

    #[test]
    fn a_connection_stalls_only_when_a_request_is_unanswered_long_past_its_deadline() {
        // Any clock that adds durations will do: time since the start, here.
        let at = Duration::from_millis;
        let mut in_flight = InFlight::default();
        in_flight.sent(Nonce([1; 16]), at(10));
        in_flight.sent(Nonce([2; 16]), at(20));
        // Late, not lost: a slow faild answers on the same connection.
        assert!(!in_flight.stalled(at(11)));
        assert!(!in_flight.stalled(at(10) + STALL_GRACE));
        assert!(in_flight.stalled(at(11) + STALL_GRACE));
        in_flight.answered(&reply_to(Nonce([1; 16])));
        assert!(
            !in_flight.stalled(at(11) + STALL_GRACE),
            "the first was answered"
        );
        assert!(in_flight.stalled(at(21) + STALL_GRACE));
        let failed = in_flight.fail_all("reset");
        assert_eq!(failed.len(), 1);
        assert!(
            !in_flight.stalled(at(10_000)),
            "nothing left after the failure"
        );
    }
}
