//! faild's state file: every service's state, backup name and time of last change.
//!
//! A line-oriented text file, so an operator can read it and an error can name its line:
//!
//! ```text
//! failover-faild-state 2
//! # service state changed_unix_ms backup lease_ms note
//! 198.18.0.50 UP 1718000000000 macbeth 1400 starting:%20no%20slave%20is%20UP
//! end 1
//! ```
//!
//! The first line names the format and its version. Each service line holds the service
//! name, its state (UP, RECOVER or FAIL), the wall-clock time of its last change in
//! milliseconds since 1970, the backup host (`-` for none), the UP lease in milliseconds
//! (`-` for none) and the note (why; `-` for none). Version 1 files (the first four fields
//! only) are read as well. Names and notes are percent-encoded
//! (`%20` for a space, `%25` for `%`, `%2D` for a name that is just `-`), since the wire
//! allows spaces in names. The last line, `end N`, repeats the number of services: a file
//! cut short anywhere, even at a line boundary, is detected. `#` lines and blank lines are
//! ignored.
//!
//! The file is replaced atomically on every change: written to a temporary file in the same
//! directory, flushed to disk, renamed over the old one, and the directory flushed, so a
//! crash leaves either the old or the new file, never a mix.

use failover_core::state::State;
use failover_core::store::ServiceRecord;
use failover_core::time::Time;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

pub const HEADER: &str = "failover-faild-state";
pub const VERSION: u32 = 2;
/// The oldest version still read.
pub const OLDEST_VERSION: u32 = 1;

/// Reads the state file. `Ok(None)`: there is none yet (first start). Errors read
/// `FILE:LINE: problem` (or `FILE: problem`), ready to print.
pub fn load(path: &Path) -> Result<Option<Vec<ServiceRecord>>, String> {
    let text = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(format!("{}: cannot read: {error}", path.display())),
    };
    let text = String::from_utf8(text)
        .map_err(|_| format!("{}: not a text file (invalid UTF-8)", path.display()))?;
    parse(&text)
        .map(Some)
        .map_err(|(line, problem)| format!("{}:{line}: {problem}", path.display()))
}

/// Parses the file's text; an error is (line, problem).
pub fn parse(text: &str) -> Result<Vec<ServiceRecord>, (usize, String)> {
    let mut records: Vec<ServiceRecord> = Vec::new();
    let mut header_seen = false;
    let mut version = VERSION;
    let mut end_seen = false;
    let mut last_line = 0;
    for (index, raw) in text.split_inclusive('\n').enumerate() {
        let line = index + 1;
        last_line = line;
        if !raw.ends_with('\n') {
            return Err((
                line,
                "the line does not end in a newline: the file is cut short".into(),
            ));
        }
        let content = raw.trim_end_matches('\n');
        if content.trim().is_empty() || content.starts_with('#') {
            continue;
        }
        let words: Vec<&str> = content.split_whitespace().collect();
        if !header_seen {
            if words.len() != 2 || words[0] != HEADER {
                return Err((
                    line,
                    format!("expected \"{HEADER} {VERSION}\", found \"{content}\""),
                ));
            }
            version = match words[1].parse::<u32>() {
                Ok(v) if (OLDEST_VERSION..=VERSION).contains(&v) => v,
                _ => {
                    return Err((
                        line,
                        format!(
                            "unsupported state file version {} (this faild reads {OLDEST_VERSION} to {VERSION})",
                            words[1]
                        ),
                    ))
                }
            };
            header_seen = true;
            continue;
        }
        if end_seen {
            return Err((line, format!("text after the \"end\" line: \"{content}\"")));
        }
        if words[0] == "end" {
            let count: Option<usize> = words.get(1).and_then(|w| w.parse().ok());
            match count {
                Some(count) if words.len() == 2 && count == records.len() => end_seen = true,
                Some(count) if words.len() == 2 => {
                    return Err((
                        line,
                        format!(
                            "\"end {count}\" but the file lists {} services",
                            records.len()
                        ),
                    ))
                }
                _ => return Err((line, format!("expected \"end N\", found \"{content}\""))),
            }
            continue;
        }
        let (fields, layout) = if version == 1 {
            (4, "service state changed_unix_ms backup")
        } else {
            (6, "service state changed_unix_ms backup lease_ms note")
        };
        if words.len() != fields {
            return Err((line, format!("expected \"{layout}\", found \"{content}\"")));
        }
        let name = decode_name(words[0]).map_err(|p| (line, p))?;
        let state: State = words[1]
            .parse()
            .map_err(|e: failover_core::state::ParseStateError| (line, e.to_string()))?;
        let changed_ms: u64 = words[2].parse().map_err(|_| {
            (
                line,
                format!("\"{}\" is not a time in milliseconds", words[2]),
            )
        })?;
        let backup = match words[3] {
            "-" => None,
            other => Some(decode_name(other).map_err(|p| (line, p))?),
        };
        let (lease_ms, note) = if version == 1 {
            (None, None)
        } else {
            let lease_ms = match words[4] {
                "-" => None,
                other => Some(other.parse::<u64>().map_err(|_| {
                    (
                        line,
                        format!("\"{other}\" is not a lease in milliseconds (or -)"),
                    )
                })?),
            };
            let note = match words[5] {
                "-" => None,
                other => Some(decode_name(other).map_err(|p| (line, p))?),
            };
            (lease_ms, note)
        };
        if records.iter().any(|r| r.name == name) {
            return Err((line, format!("service \"{name}\" is listed twice")));
        }
        records.push(ServiceRecord {
            name,
            state,
            backup,
            changed_at: Time::from_ms(changed_ms),
            lease_ms,
            note,
        });
    }
    if !header_seen {
        return Err((
            last_line.max(1),
            format!("empty: expected \"{HEADER} {VERSION}\""),
        ));
    }
    if !end_seen {
        return Err((last_line, "no \"end N\" line: the file is cut short".into()));
    }
    Ok(records)
}

/// The file's text for `records`.
pub fn render(records: &[ServiceRecord]) -> String {
    let mut text =
        format!("{HEADER} {VERSION}\n# service state changed_unix_ms backup lease_ms note\n");
    for record in records {
        let optional = |name: Option<&str>| name.map_or("-".to_string(), encode_name);
        text.push_str(&format!(
            "{} {} {} {} {} {}\n",
            encode_name(&record.name),
            record.state,
            record.changed_at.as_ms(),
            optional(record.backup.as_deref()),
            record.lease_ms.map_or("-".to_string(), |ms| ms.to_string()),
            optional(record.note.as_deref()),
        ));
    }
    text.push_str(&format!("end {}\n", records.len()));
    text
}

/// Replaces the file atomically (temporary file, fsync, rename, fsync of the directory).
pub fn save(path: &Path, records: &[ServiceRecord]) -> io::Result<()> {
    let directory = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "state file path has no file name",
        )
    })?;
    let mut temporary_name = std::ffi::OsString::from(".");
    temporary_name.push(file_name);
    temporary_name.push(format!(".tmp.{}", std::process::id()));
    let temporary = directory.join(temporary_name);
    let result = (|| {
        // Every file descriptor the write needs is taken before anything is changed: out
        // of descriptors, the directory's could otherwise fail after the rename, and a
        // change reported as not stored would be on disk (and back after a restart).
        let directory = File::open(&directory)?;
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&temporary)?;
        file.write_all(render(records).as_bytes())?;
        file.sync_all()?;
        fs::rename(&temporary, path)?;
        // The rename itself must reach the disk, or a crash could bring back the old file.
        directory.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    result.map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}

fn encode_name(name: &str) -> String {
    if name == "-" {
        return "%2D".into();
    }
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        match c {
            '%' => out.push_str("%25"),
            c if c.is_whitespace() => {
                let mut buffer = [0u8; 4];
                for byte in c.encode_utf8(&mut buffer).bytes() {
                    out.push_str(&format!("%{byte:02X}"));
                }
            }
            c => out.push(c),
        }
    }
    out
}

fn decode_name(word: &str) -> Result<String, String> {
    let bytes = word.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = word
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("bad %-escape in \"{word}\""))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("\"{word}\" does not decode to UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(name: &str, state: State, backup: Option<&str>, ms: u64) -> ServiceRecord {
        ServiceRecord::new(name, state, backup.map(Into::into), Time::from_ms(ms))
    }

    #[test]
    fn round_trips_odd_names() {
        let records = vec![
            record(
                "198.18.0.50",
                State::Recover,
                Some("macbeth"),
                1_718_000_000_000,
            ),
            record("with space", State::Up, None, 5),
            record("-", State::Fail, Some("50%"), 0),
            ServiceRecord {
                lease_ms: Some(1_400),
                note: Some("tracked interface eth0 down; stop returned FAIL".into()),
                ..record("leased", State::Up, None, 7)
            },
        ];
        let text = render(&records);
        assert_eq!(parse(&text).unwrap(), records);
    }

    #[test]
    fn any_truncation_is_detected_with_a_line() {
        let text = render(&[
            record("a", State::Up, None, 1),
            record("b", State::Fail, Some("x"), 2),
        ]);
        for cut in 0..text.len() {
            let (line, problem) = parse(&text[..cut]).unwrap_err();
            assert!(line >= 1, "cut {cut}: {problem}");
        }
    }

    #[test]
    fn errors_name_the_line_and_the_problem() {
        let text = "failover-faild-state 1\nsvc DOWN 1 -\nend 1\n";
        assert_eq!(
            parse(text).unwrap_err(),
            (
                2,
                "\"DOWN\" is not a state (expected UP, RECOVER or FAIL)".into()
            )
        );
        assert_eq!(
            parse("failover-faild-state 1\nend 2\n").unwrap_err(),
            (2, "\"end 2\" but the file lists 0 services".into())
        );
        assert_eq!(parse("failover-faild-state 3\nend 0\n").unwrap_err().0, 1);
        assert_eq!(
            parse("failover-faild-state 2\nsvc UP 1 - x -\nend 1\n").unwrap_err(),
            (2, "\"x\" is not a lease in milliseconds (or -)".into())
        );
    }

    #[test]
    fn version_1_files_are_read() {
        let text = "failover-faild-state 1\n198.18.0.50 RECOVER 5 macbeth\nend 1\n";
        assert_eq!(
            parse(text).unwrap(),
            vec![record("198.18.0.50", State::Recover, Some("macbeth"), 5)]
        );
    }
}
