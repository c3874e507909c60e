//! What systemd gives a service: the environment of a unit's `Environment=` and
//! `EnvironmentFile=` lines and its `ExecStart=` command line, expanded by the rules of
//! systemd.exec(5) and systemd.service(5), for tests of the shipped units on machines where
//! systemd is not the init (containers, CI).
//!
//! Covered: specifiers (`%H`, `%d`, `%S`, `%%`, and whatever the caller maps), quoted
//! assignments (`"VAR=a b"`), optional files (`-/path`), `#`/`;` comments, quoted values and
//! backslash continuations in environment files, files overriding `Environment=`, and in
//! `ExecStart=` `${VAR}` (one argument, whitespace kept) and `$VAR` as a word of its own (split
//! at whitespace into zero or more arguments). Anything else the unit uses is an error, so a
//! unit that grows past this model fails its test instead of being misread.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The `[Service]` settings the expansion needs, in the unit's order.
#[derive(Debug, Clone, Default)]
pub struct Unit {
    /// (setting, value), e.g. ("Environment", "NODE=%H PORT=1291").
    settings: Vec<(String, String)>,
}

impl Unit {
    /// Reads a unit file; `what` names it in errors.
    pub fn parse(text: &str, what: &str) -> Result<Unit, String> {
        let mut settings = Vec::new();
        let mut section = String::new();
        let mut lines = text.lines().enumerate();
        while let Some((index, line)) = lines.next() {
            let mut line = line.trim().to_string();
            // A trailing backslash continues the setting on the next line.
            while line.ends_with('\\') {
                line.pop();
                match lines.next() {
                    Some((_, next)) => line.push_str(next.trim()),
                    None => return Err(format!("{what}:{}: continuation at the end", index + 1)),
                }
            }
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if line.starts_with('[') {
                section = line;
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                return Err(format!(
                    "{what}:{}: expected KEY=VALUE, found {line:?}",
                    index + 1
                ));
            };
            if section == "[Service]" {
                settings.push((key.trim().to_string(), value.trim().to_string()));
            }
        }
        Ok(Unit { settings })
    }

    /// Every value of `key`, in order.
    pub fn values<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.settings
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The service's environment: `Environment=` lines, then the `EnvironmentFile=` files
    /// (which override them), with `files` mapping the unit's paths to the test's.
    pub fn environment(
        &self,
        specifiers: &BTreeMap<char, String>,
        files: &BTreeMap<&str, PathBuf>,
    ) -> Result<BTreeMap<String, String>, String> {
        let mut environment = BTreeMap::new();
        for value in self.values("Environment") {
            let value = expand_specifiers(value, specifiers)?;
            for word in split_words(&value)? {
                let Some((name, value)) = word.split_once('=') else {
                    return Err(format!("Environment={value}: {word:?} is no assignment"));
                };
                environment.insert(name.to_string(), value.to_string());
            }
        }
        for value in self.values("EnvironmentFile") {
            let value = expand_specifiers(value, specifiers)?;
            let (optional, path) = match value.strip_prefix('-') {
                Some(path) => (true, path),
                None => (false, value.as_str()),
            };
            let local = files.get(path).map_or(Path::new(path), PathBuf::as_path);
            match std::fs::read_to_string(local) {
                Ok(text) => {
                    for (name, value) in environment_file(&text, &local.display().to_string())? {
                        environment.insert(name, value);
                    }
                }
                Err(_) if optional => {}
                Err(error) => return Err(format!("EnvironmentFile={path}: {error}")),
            }
        }
        Ok(environment)
    }

    /// The `ExecStart=` command line with the environment substituted.
    pub fn exec_start(
        &self,
        specifiers: &BTreeMap<char, String>,
        environment: &BTreeMap<String, String>,
    ) -> Result<Vec<String>, String> {
        let mut starts = self.values("ExecStart");
        let line = starts.next().ok_or("no ExecStart=")?;
        if starts.next().is_some() {
            return Err("more than one ExecStart=".into());
        }
        // Prefixes that change how systemd runs the program, not its arguments.
        let line = line.trim_start_matches(['-', '@', ':', '+', '!']);
        let line = expand_specifiers(line, specifiers)?;
        let mut argv = Vec::new();
        for word in split_words(&line)? {
            if let Some(name) = word.strip_prefix('$').filter(|n| is_name(n)) {
                let value = environment.get(name).map_or("", String::as_str);
                argv.extend(value.split_whitespace().map(str::to_string));
            } else {
                argv.push(substitute_braced(&word, environment)?);
            }
        }
        Ok(argv)
    }
}

fn is_name(text: &str) -> bool {
    !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn expand_specifiers(text: &str, specifiers: &BTreeMap<char, String>) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some(s) => match specifiers.get(&s) {
                Some(value) => out.push_str(value),
                None => return Err(format!("specifier %{s} not modelled (in {text:?})")),
            },
            None => return Err(format!("a lone % at the end of {text:?}")),
        }
    }
    Ok(out)
}

/// Splits at whitespace; double or single quotes keep whitespace, a backslash escapes the
/// next character.
fn split_words(text: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quote: Option<char> = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (_, '\\') => {
                let next = chars
                    .next()
                    .ok_or_else(|| format!("a backslash at the end of {text:?}"))?;
                word.get_or_insert_with(String::new).push(next);
            }
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.get_or_insert_with(String::new).push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                word.get_or_insert_with(String::new);
            }
            (None, c) if c.is_whitespace() => words.extend(word.take()),
            (None, c) => word.get_or_insert_with(String::new).push(c),
        }
    }
    if quote.is_some() {
        return Err(format!("an unterminated quote in {text:?}"));
    }
    words.extend(word);
    Ok(words)
}

fn substitute_braced(word: &str, environment: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = word;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let Some(inner) = after.strip_prefix('{') else {
            return Err(format!(
                "$ inside the word {word:?}: systemd leaves it alone, so the unit should not rely on it"
            ));
        };
        let end = inner
            .find('}')
            .ok_or_else(|| format!("unterminated ${{ in {word:?}"))?;
        let name = &inner[..end];
        out.push_str(environment.get(name).map_or("", String::as_str));
        rest = &inner[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// `VAR=value` lines of an `EnvironmentFile=`: comments start with `#` or `;`, a value may
/// be quoted, a trailing backslash continues it.
fn environment_file(text: &str, what: &str) -> Result<Vec<(String, String)>, String> {
    let mut assignments = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((index, line)) = lines.next() {
        let mut line = line.trim().to_string();
        while line.ends_with('\\') {
            line.pop();
            match lines.next() {
                Some((_, next)) => line.push_str(next),
                None => break,
            }
        }
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let Some((name, value)) = line.split_once('=') else {
            return Err(format!(
                "{what}:{}: expected VAR=value, found {line:?}",
                index + 1
            ));
        };
        let name = name.trim();
        if !is_name(name) {
            return Err(format!(
                "{what}:{}: {name:?} is no variable name",
                index + 1
            ));
        }
        let value = value.trim();
        let value = match split_words(value)?.as_slice() {
            [] => String::new(),
            [one] if value.starts_with(['"', '\'']) => one.clone(),
            _ => value.to_string(),
        };
        assignments.push((name.to_string(), value));
    }
    Ok(assignments)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn specifiers() -> BTreeMap<char, String> {
        BTreeMap::from([('H', "lukretia".to_string())])
    }

    #[test]
    fn environment_lines_files_and_exec_start_expand_as_systemd_does() {
        let dir = std::env::temp_dir().join(format!("systemd-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let defaults = dir.join("defaults");
        std::fs::write(
            &defaults,
            "# comment\n; also\nPORT=1391\nOPTS=\"-a  b\"\nEMPTY=\nLONG=one \\\ntwo\n",
        )
        .unwrap();
        let unit = Unit::parse(
            "[Unit]\nDescription=x\n[Service]\n\
             Environment=NODE=%H PORT=1291 \"SPACED=a b\" PCT=100%%\n\
             EnvironmentFile=-/etc/default/failover\n\
             EnvironmentFile=-/nonexistent/file\n\
             ExecStart=-/usr/sbin/failsh -f /etc/${NODE}.tcl -p ${PORT} $OPTS $EMPTY ${SPACED}\n",
            "test.service",
        )
        .unwrap();
        let files = BTreeMap::from([("/etc/default/failover", defaults)]);
        let environment = unit.environment(&specifiers(), &files).unwrap();
        assert_eq!(environment["NODE"], "lukretia");
        assert_eq!(
            environment["PORT"], "1391",
            "the file overrides Environment="
        );
        assert_eq!(environment["SPACED"], "a b");
        assert_eq!(environment["PCT"], "100%");
        assert_eq!(environment["OPTS"], "-a  b");
        assert_eq!(environment["EMPTY"], "");
        assert_eq!(environment["LONG"], "one two");
        let argv = unit.exec_start(&specifiers(), &environment).unwrap();
        assert_eq!(
            argv,
            [
                "/usr/sbin/failsh",
                "-f",
                "/etc/lukretia.tcl",
                "-p",
                "1391",
                "-a",
                "b",
                "a b"
            ]
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn what_the_model_does_not_know_is_an_error() {
        let unit = Unit::parse("[Service]\nEnvironment=A=%Z\n", "x").unwrap();
        let error = unit
            .environment(&specifiers(), &BTreeMap::new())
            .unwrap_err();
        assert!(error.contains("%Z"), "{error}");
        let unit = Unit::parse("[Service]\nExecStart=/bin/x a$B\n", "x").unwrap();
        assert!(unit.exec_start(&specifiers(), &BTreeMap::new()).is_err());
        let error = Unit::parse("[Service]\nno equals sign\n", "y.service").unwrap_err();
        assert!(error.starts_with("y.service:2:"), "{error}");
    }
}
