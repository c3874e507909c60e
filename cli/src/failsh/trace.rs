//! `--record TRACE`: the core's inputs as JSON lines, which `failsim replay` feeds to a fresh
//! `Shell::new(config, seed, Time(start_ms))` to reproduce every decision. The format is
//! `failover_core::trace`, shared with the simulator; this writes it to a file as failsh runs.

use failover_core::shell::{Action, Input, ShellConfig};
use failover_core::time::Time;
use failover_core::trace::{self, header_line, input_line};
use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

pub use failover_core::trace::{TraceEntry as Line, TraceHeader as Header, FORMAT, VERSION};

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
        recorder.write_line(header_line(config, seed, Time(0)))?;
        Ok(recorder)
    }

    /// One input; written at once (one `write` per line, no buffer) so that a trace of a
    /// failsh that was killed ends with the last input it handled.
    pub fn record(&mut self, now: Time, input: &Input, actions: &[Action]) -> io::Result<()> {
        self.write_line(input_line(now, input, Some(actions)))
    }

    fn write_line(&mut self, mut line: String) -> io::Result<()> {
        line.push('\n');
        self.file.write_all(line.as_bytes())
    }
}

/// Reads a trace back (header and inputs); a broken line is an error naming its number.
pub fn read(path: &Path) -> Result<(Header, Vec<Line>), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let (header, entries) =
        trace::parse::<Action>(&text).map_err(|e| format!("{} {e}", path.display()))?;
    Ok((header, entries.into_iter().map(|(_, line)| line).collect()))
}
