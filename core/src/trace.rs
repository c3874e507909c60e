//! Traces of one decision machine (DESIGN §6): JSON lines, a header with the configuration,
//! the seed and the start time, then one line per input with the actions it produced.
//!
//! ```text
//! {"format":"failover-trace","version":1,"config":{...},"seed":7,"start_ms":0}
//! {"at_ms":0,"input":"timeout","actions":[{"send":{...}}]}
//! ```
//!
//! The format lives here, next to the [`Input`]s and [`Action`]s it records, so that a trace
//! written by failsh (`--record FILE`) and one written by the simulator (`failsim run
//! --trace-dir DIR`) are the same thing, and [`replay`] (`failsim replay FILE`) reads both.
//! Pure like the rest of the core: it builds and parses text, the caller does the I/O.

use crate::shell::{Action, Input, Shell, ShellConfig};
use crate::time::Time;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;

pub const FORMAT: &str = "failover-trace";
pub const VERSION: u32 = 1;

/// Line 1 of a trace: what `Shell::new(config, seed, Time(start_ms))` needs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceHeader {
    pub format: String,
    pub version: u32,
    pub config: ShellConfig,
    pub seed: u64,
    pub start_ms: u64,
}

/// One input and, when recorded, the actions the machine answered. `A` is [`Action`] for a
/// reader that wants them typed, or [`Value`] to compare them as recorded (so that a recorded
/// action this version cannot read is reported as a difference, not as a broken line).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound(serialize = "A: Serialize", deserialize = "A: Deserialize<'de>"))]
pub struct TraceEntry<A = Action> {
    pub at_ms: u64,
    pub input: Input,
    /// What the machine did after this input; a trace without them can still be replayed,
    /// only not compared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actions: Option<Vec<A>>,
}

/// The header line (without its newline).
pub fn header_line(config: &ShellConfig, seed: u64, start: Time) -> String {
    let header = TraceHeader {
        format: FORMAT.to_string(),
        version: VERSION,
        config: config.clone(),
        seed,
        start_ms: start.as_ms(),
    };
    serde_json::to_string(&header).unwrap_or_default()
}

/// One input line (without its newline).
pub fn input_line(at: Time, input: &Input, actions: Option<&[Action]>) -> String {
    let line = TraceEntry {
        at_ms: at.as_ms(),
        input: input.clone(),
        actions: actions.map(|a| {
            a.iter()
                .map(|x| serde_json::to_value(x).unwrap_or(Value::Null))
                .collect()
        }),
    };
    serde_json::to_string(&line).unwrap_or_default()
}

/// A trace that cannot be read or replayed: the 1-based line and what was expected. The
/// caller prefixes the name of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for TraceError {}

/// The inputs of a trace after its header, read one line at a time (so that a replay stops at
/// the first difference before it looks at the lines after it).
#[derive(Debug)]
pub struct Entries<'a, A> {
    lines: std::iter::Enumerate<std::str::Lines<'a>>,
    actions: std::marker::PhantomData<A>,
}

impl<A: DeserializeOwned> Iterator for Entries<'_, A> {
    /// An input with its 1-based line number (blank lines are skipped, so numbers may jump).
    type Item = Result<(usize, TraceEntry<A>), TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        let (index, text) = self.lines.find(|(_, l)| !l.trim().is_empty())?;
        let number = index + 1;
        Some(
            serde_json::from_str(text)
                .map(|entry| (number, entry))
                .map_err(|e| TraceError {
                    line: number,
                    message: format!("expected {{\"at_ms\":...,\"input\":...}}: {e}"),
                }),
        )
    }
}

/// Reads a trace's header; the inputs follow from the returned iterator.
pub fn read_header<A: DeserializeOwned>(
    text: &str,
) -> Result<(TraceHeader, Entries<'_, A>), TraceError> {
    let mut lines = text.lines().enumerate();
    let Some((_, first)) = lines.find(|(_, l)| !l.trim().is_empty()) else {
        return Err(TraceError {
            line: 1,
            message: format!("empty trace (expected a {FORMAT} header line)"),
        });
    };
    let header: TraceHeader = serde_json::from_str(first).map_err(|e| TraceError {
        line: 1,
        message: format!(
            "expected a header {{\"format\":\"{FORMAT}\",\"version\":{VERSION},\"config\":...,\"seed\":...,\"start_ms\":...}}: {e}"
        ),
    })?;
    if header.format != FORMAT || header.version != VERSION {
        return Err(TraceError {
            line: 1,
            message: format!(
                "format \"{}\" version {}, expected \"{FORMAT}\" version {VERSION}",
                header.format, header.version
            ),
        });
    }
    let entries = Entries {
        lines,
        actions: std::marker::PhantomData,
    };
    Ok((header, entries))
}

/// A whole trace: the header and every input with its 1-based line number.
pub type Parsed<A> = (TraceHeader, Vec<(usize, TraceEntry<A>)>);

/// Parses a whole trace; a broken line is an error naming its number.
pub fn parse<A: DeserializeOwned>(text: &str) -> Result<Parsed<A>, TraceError> {
    let (header, entries) = read_header(text)?;
    Ok((header, entries.collect::<Result<_, _>>()?))
}

/// Where a replay first did something else than the recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// 1-based line of the trace file.
    pub line: usize,
    pub at_ms: u64,
    /// Index of the action within that line's actions.
    pub action: usize,
    pub recorded: Option<String>,
    pub replayed: Option<String>,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {} (at_ms {}), action {}: recorded {}, replayed {}",
            self.line,
            self.at_ms,
            self.action,
            self.recorded.as_deref().unwrap_or("nothing"),
            self.replayed.as_deref().unwrap_or("nothing")
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayReport {
    pub inputs: usize,
    pub compared_actions: usize,
    pub difference: Option<Difference>,
}

/// Feeds a trace's inputs to a fresh `Shell::new(config, seed, Time(start_ms))` and compares
/// its actions with the recorded ones (as JSON values), up to the first difference.
pub fn replay(text: &str) -> Result<ReplayReport, TraceError> {
    let (header, entries) = read_header::<Value>(text)?;
    let mut shell =
        Shell::new(header.config, header.seed, Time(header.start_ms)).map_err(|e| TraceError {
            line: 1,
            message: format!("the configuration is refused: {e}"),
        })?;
    while shell.poll_action().is_some() {}
    let mut report = ReplayReport {
        inputs: 0,
        compared_actions: 0,
        difference: None,
    };
    for entry in entries {
        let (number, entry) = entry?;
        shell.handle(Time(entry.at_ms), entry.input);
        report.inputs += 1;
        let mut replayed = Vec::new();
        while let Some(action) = shell.poll_action() {
            replayed.push(serde_json::to_value(&action).unwrap_or(Value::Null));
        }
        let Some(recorded) = entry.actions else {
            continue;
        };
        let longest = recorded.len().max(replayed.len());
        for i in 0..longest {
            let (r, p) = (recorded.get(i), replayed.get(i));
            if r != p {
                report.difference = Some(Difference {
                    line: number,
                    at_ms: entry.at_ms,
                    action: i,
                    recorded: r.map(Value::to_string),
                    replayed: p.map(Value::to_string),
                });
                return Ok(report);
            }
            report.compared_actions += 1;
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shell::{HostConfig, Protocol, ServiceConfig};

    fn config() -> ShellConfig {
        ShellConfig {
            local_host: "localhost".into(),
            hosts: vec![HostConfig {
                name: "lukretia".into(),
                community: "public".into(),
                protocol: Protocol::Udp,
                address: "198.18.0.1:1291".parse().ok(),
                ..HostConfig::new("lukretia")
            }],
            services: vec![ServiceConfig {
                masters: vec!["lukretia".into()],
                ..ServiceConfig::new("198.18.0.50", 1_000)
            }],
        }
    }

    #[test]
    fn written_lines_parse_back_and_replay_without_difference() {
        let mut shell = Shell::new(config(), 7, Time(0)).expect("config");
        while shell.poll_action().is_some() {}
        let mut text = header_line(&config(), 7, Time(0));
        for at_ms in [0, 1_000, 2_000] {
            shell.handle(Time(at_ms), Input::Timeout);
            let actions: Vec<Action> = std::iter::from_fn(|| shell.poll_action()).collect();
            text.push('\n');
            text.push_str(&input_line(Time(at_ms), &Input::Timeout, Some(&actions)));
        }
        let (header, entries) = parse::<Action>(&text).expect("parses");
        assert_eq!((header.seed, header.config), (7, config()));
        assert_eq!(
            entries.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
            [2, 3, 4]
        );
        assert!(entries.iter().all(|(_, e)| e.actions.is_some()));
        let report = replay(&text).expect("replays");
        assert_eq!((report.inputs, report.difference), (3, None));
        assert!(report.compared_actions >= 3);
    }

    #[test]
    fn a_broken_line_is_named() {
        let text = format!(
            "{}\n\n{{\"at_ms\":\"soon\"}}\n",
            header_line(&config(), 1, Time(0))
        );
        let error = parse::<Action>(&text).unwrap_err();
        assert_eq!(error.line, 3, "{error}");
        assert!(error.message.starts_with("expected {\"at_ms\""), "{error}");
        assert_eq!(parse::<Action>("").unwrap_err().line, 1);
    }

    #[test]
    fn a_header_recorded_before_procedure_names_and_ports_reads_as_it_was() {
        // Version 1 headers written before the configuration kept the procedures' names,
        // the port and the configured address.
        let old = r#"{"format":"failover-trace","version":1,"config":{"local_host":"localhost","hosts":[{"name":"lukretia","community":"public","protocol":"udp","address":"198.18.0.1:1291"}],"services":[{"name":"198.18.0.50","interval_ms":1000,"timeout_ms":null,"misses":1,"masters":["lukretia"],"slaves":[],"has_reclaim":true,"has_check":false,"procedure_limit_ms":30000}]},"seed":7,"start_ms":0}"#;
        let (header, entries) = parse::<Action>(old).expect("parses");
        assert!(entries.is_empty());
        let service = &header.config.services[0];
        assert!(service.has_reclaim() && !service.has_check());
        let host = &header.config.hosts[0];
        assert_eq!(
            (host.port, host.configured_address.as_deref()),
            (1291, None)
        );
        // What is written now reads back the same.
        let mut config = config();
        config.services[0].procedures.start = "startservice".into();
        config.services[0].procedures.check = Some("checkservice".into());
        config.hosts[0].configured_address = Some("lukretia.example".into());
        let (header, _) = parse::<Action>(&header_line(&config, 7, Time(0))).expect("parses");
        assert_eq!(header.config, config);
    }
}
