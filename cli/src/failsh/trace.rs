//! `--record TRACE`: the core's inputs as JSON lines, which `failsim replay` feeds to a fresh
//! `Shell::new(config, seed, Time(start_ms))` to reproduce every decision.
//!
//! Line 1: `{"format":"failover-trace","version":1,"config":<ShellConfig>,"seed":N,"start_ms":0}`;
//! then `{"at_ms":N,"input":<Input>,"actions":[<Action>...]}` for every input, in the order the
//! core got them, with the actions it answered (so that a replay can be compared action by
//! action; the format of `failover_sim::trace`).

use failover_core::shell::{Action, Input, ShellConfig};
use failover_core::time::Time;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::path::Path;

pub const FORMAT: &str = "failover-trace";
pub const VERSION: u32 = 1;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    pub format: String,
    pub version: u32,
    pub config: ShellConfig,
    pub seed: u64,
    pub start_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    pub at_ms: u64,
    pub input: Input,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actions: Option<Vec<Action>>,
}

#[derive(Debug)]
pub struct Recorder {
    file: File,
}

impl Recorder {
    /// Creates (truncates) the trace and writes its header.
    pub fn create(path: &Path, config: &ShellConfig, seed: u64) -> io::Result<Recorder> {
        let mut recorder = Recorder {
            file: File::create(path)?,
        };
        let header = Header {
            format: FORMAT.to_string(),
            version: VERSION,
            config: config.clone(),
            seed,
            start_ms: 0,
        };
        recorder.write_json(&header)?;
        Ok(recorder)
    }

    /// One input; written at once (one `write` per line, no buffer) so that a trace of a
    /// failsh that was killed ends with the last input it handled.
    pub fn record(&mut self, now: Time, input: &Input, actions: &[Action]) -> io::Result<()> {
        self.write_json(&Line {
            at_ms: now.as_ms(),
            input: input.clone(),
            actions: Some(actions.to_vec()),
        })
    }

    fn write_json<T: Serialize>(&mut self, value: &T) -> io::Result<()> {
        let mut line = serde_json::to_string(value).map_err(io::Error::other)?;
        line.push('\n');
        self.file.write_all(line.as_bytes())
    }
}

/// Reads a trace back (header and inputs); a broken line is an error naming its number.
pub fn read(path: &Path) -> Result<(Header, Vec<Line>), String> {
    let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut lines = BufReader::new(file).lines();
    let first = lines
        .next()
        .ok_or_else(|| format!("{}: empty trace", path.display()))?
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let header: Header = serde_json::from_str(&first)
        .map_err(|e| format!("{} line 1: expected a trace header: {e}", path.display()))?;
    if header.format != FORMAT || header.version != VERSION {
        return Err(format!(
            "{} line 1: unsupported trace format {} version {}",
            path.display(),
            header.format,
            header.version
        ));
    }
    let mut inputs = Vec::new();
    for (index, line) in lines.enumerate() {
        let line = line.map_err(|e| format!("{}: {e}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let parsed: Line = serde_json::from_str(&line).map_err(|e| {
            format!(
                "{} line {}: expected {{\"at_ms\":N,\"input\":...}}: {e}",
                path.display(),
                index + 2
            )
        })?;
        inputs.push(parsed);
    }
    Ok((header, inputs))
}
