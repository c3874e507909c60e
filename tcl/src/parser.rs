//! The Tcl word rules (the "dodekalogue" of Tcl 8.6): a script is parsed
//! into commands and words once, before anything is evaluated.

use std::sync::Arc;

/// A parsed script: a sequence of commands.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Script {
    /// The commands, in order.
    pub cmds: Vec<Command>,
}

/// One command of a script.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    /// Line (1-based, relative to the start of the script text) of the first word.
    pub line: usize,
    /// The source text of the command (for error traces).
    pub text: String,
    /// The words.
    pub words: Vec<Word>,
}

/// One word of a command.
#[derive(Debug, Clone, PartialEq)]
pub struct Word {
    /// Line of the word's first character.
    pub line: usize,
    /// Whether the word was prefixed by `{*}`.
    pub expand: bool,
    /// Whether the word was written in braces (its value is literal).
    pub braced: bool,
    /// The pieces whose concatenation is the value.
    pub parts: Vec<Part>,
}

impl Word {
    /// The value of the word if it contains no substitutions.
    pub fn literal(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [] => Some(""),
            [Part::Lit(s)] => Some(s),
            _ => None,
        }
    }
}

/// A piece of a word.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    /// Literal text (backslash sequences already replaced).
    Lit(String),
    /// A variable reference `$name` or `$name(index)`.
    Var(String, Option<Vec<Part>>),
    /// A command substitution `[script]`.
    Cmd(Arc<Script>),
}

/// A syntax error: its message (Tcl's words) and where it happened.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseError {
    /// Tcl's message, e.g. `missing close-brace`.
    pub message: String,
    /// Line (relative to the script text) of the command in which the error occurred.
    pub line: usize,
    /// The text of the command up to the point of the error.
    pub text: String,
}

/// Whitespace that separates words (not newline).
pub fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | 0x0b | 0x0c | b'\r')
}

fn is_name_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80
}

struct Parser<'a> {
    src: &'a str,
    b: &'a [u8],
    pos: usize,
    line_starts: Vec<usize>,
    line_base: usize,
    depth: usize,
}

/// Deepest nesting of command substitutions the parser accepts.
pub const MAX_PARSE_DEPTH: usize = 100;

/// Parse a whole script.
pub fn parse_script(src: &str) -> Result<Script, ParseError> {
    parse_script_at(src, 1)
}

/// Parse a script whose first line is numbered `first_line`.
pub fn parse_script_at(src: &str, first_line: usize) -> Result<Script, ParseError> {
    let mut line_starts = vec![0];
    for (i, c) in src.bytes().enumerate() {
        if c == b'\n' {
            line_starts.push(i + 1);
        }
    }
    let mut p = Parser {
        src,
        b: src.as_bytes(),
        pos: 0,
        line_starts,
        line_base: first_line,
        depth: 0,
    };
    p.script(false)
}

struct Fail {
    message: String,
    /// Position just after which the error is reported (end of the text shown).
    at: usize,
}

fn fail<T>(message: &str, at: usize) -> Result<T, Fail> {
    Err(Fail {
        message: message.to_string(),
        at,
    })
}

impl<'a> Parser<'a> {
    fn line_of(&self, pos: usize) -> usize {
        let idx = match self.line_starts.binary_search(&pos) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        idx + self.line_base
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn at(&self, i: usize) -> Option<u8> {
        self.b.get(i).copied()
    }

    /// Parse commands until end of input (or `]` when nested).
    fn script(&mut self, nested: bool) -> Result<Script, ParseError> {
        let mut cmds = Vec::new();
        loop {
            // Skip whitespace, newlines, semicolons and comments between commands.
            loop {
                match self.peek() {
                    Some(c) if is_space(c) || c == b'\n' || c == b';' => self.pos += 1,
                    Some(b'\\') if self.at(self.pos + 1) == Some(b'\n') => {
                        // backslash-newline at command start is whitespace
                        self.pos += 2;
                        while matches!(self.peek(), Some(c) if is_space(c)) {
                            self.pos += 1;
                        }
                    }
                    Some(b'#') => self.skip_comment(),
                    _ => break,
                }
            }
            match self.peek() {
                None => {
                    if nested {
                        // reported by the caller as missing close-bracket
                        return Err(ParseError {
                            message: "missing close-bracket".into(),
                            line: 0,
                            text: String::new(),
                        });
                    }
                    return Ok(Script { cmds });
                }
                Some(b']') if nested => return Ok(Script { cmds }),
                _ => {}
            }
            let start = self.pos;
            match self.command(nested) {
                Ok(words) => {
                    let text = self.src[start..self.pos].to_string();
                    // consume the terminator (newline or semicolon), not ']'
                    if matches!(self.peek(), Some(b'\n') | Some(b';')) {
                        self.pos += 1;
                    }
                    if !words.is_empty() {
                        cmds.push(Command {
                            line: self.line_of(start),
                            text,
                            words,
                        });
                    }
                }
                Err(f) => {
                    let end = boundary(self.src, f.at.max(start));
                    return Err(ParseError {
                        message: f.message,
                        line: self.line_of(start),
                        text: self.src[start..end].to_string(),
                    });
                }
            }
        }
    }

    fn skip_comment(&mut self) {
        while let Some(c) = self.peek() {
            if c == b'\\' {
                self.pos += 1;
                if let Some(n) = self.peek() {
                    self.pos += utf8_len(n);
                }
                continue;
            }
            self.pos += 1;
            if c == b'\n' {
                return;
            }
        }
        self.pos = self.pos.min(self.b.len());
    }

    fn at_cmd_end(&self, nested: bool) -> bool {
        match self.peek() {
            None | Some(b'\n') | Some(b';') => true,
            Some(b']') => nested,
            _ => false,
        }
    }

    fn skip_word_space(&mut self) {
        loop {
            match self.peek() {
                Some(c) if is_space(c) => self.pos += 1,
                Some(b'\\') if self.at(self.pos + 1) == Some(b'\n') => self.pos += 2,
                _ => return,
            }
        }
    }

    fn command(&mut self, nested: bool) -> Result<Vec<Word>, Fail> {
        let mut words = Vec::new();
        loop {
            self.skip_word_space();
            if self.at_cmd_end(nested) {
                return Ok(words);
            }
            words.push(self.word(nested)?);
        }
    }

    fn word(&mut self, nested: bool) -> Result<Word, Fail> {
        let line = self.line_of(self.pos);
        let mut expand = false;
        if self.b[self.pos..].starts_with(b"{*}") {
            if let Some(c) = self.at(self.pos + 3) {
                if !is_space(c) && c != b'\n' && c != b';' && !(nested && c == b']') {
                    expand = true;
                    self.pos += 3;
                }
            }
        }
        match self.peek() {
            Some(b'{') => {
                let open = self.pos;
                let s = self.braced()?;
                self.check_word_end(nested, "extra characters after close-brace", open)?;
                Ok(Word {
                    line,
                    expand,
                    braced: true,
                    parts: vec![Part::Lit(s)],
                })
            }
            Some(b'"') => {
                let open = self.pos;
                self.pos += 1;
                let parts = self.subst_parts(Term::Quote, nested)?;
                if self.peek() != Some(b'"') {
                    return fail("missing \"", open + 1);
                }
                self.pos += 1;
                self.check_word_end(nested, "extra characters after close-quote", open)?;
                Ok(Word {
                    line,
                    expand,
                    braced: false,
                    parts,
                })
            }
            _ => {
                let parts = self.subst_parts(Term::Word, nested)?;
                Ok(Word {
                    line,
                    expand,
                    braced: false,
                    parts,
                })
            }
        }
    }

    fn check_word_end(&mut self, nested: bool, msg: &str, _open: usize) -> Result<(), Fail> {
        match self.peek() {
            None => Ok(()),
            Some(c) if is_space(c) || c == b'\n' || c == b';' => Ok(()),
            Some(b']') if nested => Ok(()),
            Some(b'\\') if self.at(self.pos + 1) == Some(b'\n') => Ok(()),
            Some(_) => fail(msg, self.pos + 1),
        }
    }

    /// Parse a braced string starting at `{`; returns the contents with
    /// backslash-newline sequences replaced by a space.
    fn braced(&mut self) -> Result<String, Fail> {
        let open = self.pos;
        self.pos += 1;
        let mut depth = 1usize;
        let mut out = String::new();
        let mut chunk = self.pos;
        while let Some(c) = self.peek() {
            match c {
                b'\\' => {
                    if self.at(self.pos + 1) == Some(b'\n') {
                        out.push_str(&self.src[chunk..self.pos]);
                        self.pos += 2;
                        while matches!(self.peek(), Some(c) if is_space(c)) {
                            self.pos += 1;
                        }
                        out.push(' ');
                        chunk = self.pos;
                    } else if self.pos + 1 < self.b.len() {
                        self.pos += 1;
                        self.pos += utf8_len(self.b[self.pos]);
                    } else {
                        self.pos += 1;
                    }
                }
                b'{' => {
                    depth += 1;
                    self.pos += 1;
                }
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        out.push_str(&self.src[chunk..self.pos]);
                        self.pos += 1;
                        return Ok(out);
                    }
                    self.pos += 1;
                }
                _ => self.pos += 1,
            }
        }
        fail("missing close-brace", open + 1)
    }

    fn subst_parts(&mut self, term: Term, nested: bool) -> Result<Vec<Part>, Fail> {
        let mut parts = Vec::new();
        let mut lit = String::new();
        while let Some(c) = self.peek() {
            match term {
                Term::Word => {
                    if is_space(c) || c == b'\n' || c == b';' || (nested && c == b']') {
                        break;
                    }
                }
                Term::Quote => {
                    if c == b'"' {
                        break;
                    }
                }
                Term::Paren => {
                    if c == b')' {
                        break;
                    }
                }
            }
            match c {
                b'\\' => {
                    if term == Term::Word && self.at(self.pos + 1) == Some(b'\n') {
                        break;
                    }
                    let (s, n) = backslash(&self.b[self.pos..]);
                    lit.push_str(&s);
                    self.pos += n;
                }
                b'$' => {
                    if let Some(p) = self.variable()? {
                        if !lit.is_empty() {
                            parts.push(Part::Lit(std::mem::take(&mut lit)));
                        }
                        parts.push(p);
                    } else {
                        lit.push('$');
                    }
                }
                b'[' => {
                    let open = self.pos;
                    self.pos += 1;
                    if self.depth >= MAX_PARSE_DEPTH {
                        return fail("too many nested command substitutions", open + 1);
                    }
                    self.depth += 1;
                    let sub = self.script(true);
                    self.depth -= 1;
                    let sub = sub.map_err(|e| {
                        if e.line == 0 {
                            Fail {
                                message: "missing close-bracket".into(),
                                at: open + 1,
                            }
                        } else {
                            Fail {
                                message: e.message,
                                at: self.pos,
                            }
                        }
                    });
                    let sub = sub?;
                    if self.peek() != Some(b']') {
                        return fail("missing close-bracket", open + 1);
                    }
                    self.pos += 1;
                    if !lit.is_empty() {
                        parts.push(Part::Lit(std::mem::take(&mut lit)));
                    }
                    parts.push(Part::Cmd(Arc::new(sub)));
                }
                _ => {
                    let n = utf8_len(c);
                    lit.push_str(&self.src[self.pos..self.pos + n]);
                    self.pos += n;
                }
            }
        }
        if !lit.is_empty() || parts.is_empty() {
            parts.push(Part::Lit(lit));
        }
        Ok(parts)
    }

    /// Parse a variable reference at `$`. Returns None if `$` is literal.
    fn variable(&mut self) -> Result<Option<Part>, Fail> {
        let dollar = self.pos;
        self.pos += 1;
        if self.peek() == Some(b'{') {
            let start = self.pos + 1;
            let mut i = start;
            while i < self.b.len() && self.b[i] != b'}' {
                i += 1;
            }
            if i >= self.b.len() {
                return fail("missing close-brace for variable name", dollar + 1);
            }
            self.pos = i + 1;
            return Ok(Some(Part::Var(self.src[start..i].to_string(), None)));
        }
        let start = self.pos;
        loop {
            match self.peek() {
                Some(c) if is_name_char(c) => self.pos += utf8_len(c),
                Some(b':') if self.at(self.pos + 1) == Some(b':') => {
                    while self.peek() == Some(b':') {
                        self.pos += 1;
                    }
                }
                _ => break,
            }
        }
        let name = self.src[start..self.pos].to_string();
        if self.peek() == Some(b'(') {
            self.pos += 1;
            let idx = self.subst_parts(Term::Paren, true)?;
            if self.peek() != Some(b')') {
                return fail("missing )", start + 1);
            }
            self.pos += 1;
            return Ok(Some(Part::Var(name, Some(idx))));
        }
        if name.is_empty() {
            self.pos = dollar + 1;
            return Ok(None);
        }
        Ok(Some(Part::Var(name, None)))
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Term {
    Word,
    Quote,
    Paren,
}

/// The smallest char boundary of `s` at or after `i` (clamped to its length).
fn boundary(s: &str, i: usize) -> usize {
    let mut i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i += 1;
    }
    i
}

fn utf8_len(c: u8) -> usize {
    match c {
        0xf0..=0xff => 4,
        0xe0..=0xef => 3,
        0xc0..=0xdf => 2,
        _ => 1,
    }
}

/// Decode one backslash sequence at the start of `b` (which begins with `\`).
/// Returns the replacement and the number of bytes consumed.
pub fn backslash(b: &[u8]) -> (String, usize) {
    let Some(&c) = b.get(1) else {
        return ("\\".into(), 1);
    };
    let simple = |ch: char| (ch.to_string(), 2);
    match c {
        b'a' => simple('\x07'),
        b'b' => simple('\x08'),
        b'f' => simple('\x0c'),
        b'n' => simple('\n'),
        b'r' => simple('\r'),
        b't' => simple('\t'),
        b'v' => simple('\x0b'),
        b'\n' => {
            let mut n = 2;
            while n < b.len() && is_space(b[n]) {
                n += 1;
            }
            (" ".into(), n)
        }
        b'0'..=b'7' => {
            let mut v = 0u32;
            let mut n = 1;
            while n < 4 && n < b.len() && (b'0'..=b'7').contains(&b[n]) {
                v = v * 8 + u32::from(b[n] - b'0');
                n += 1;
            }
            (char::from_u32(v & 0xff).unwrap_or('?').to_string(), n)
        }
        b'x' | b'u' | b'U' => {
            let max = match c {
                b'x' => 2,
                b'u' => 4,
                _ => 8,
            };
            let mut v = 0u32;
            let mut n = 2;
            while n < 2 + max && n < b.len() && b[n].is_ascii_hexdigit() {
                v = v * 16 + (b[n] as char).to_digit(16).unwrap_or(0);
                n += 1;
            }
            if n == 2 {
                return ((c as char).to_string(), 2);
            }
            let ch = char::from_u32(v).unwrap_or('\u{fffd}');
            (ch.to_string(), n)
        }
        _ => {
            let n = utf8_len(c);
            let end = (1 + n).min(b.len());
            (String::from_utf8_lossy(&b[1..end]).into_owned(), end)
        }
    }
}

/// Replace backslash sequences in `s` (used by list parsing and `subst`-like places).
pub fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    let mut chunk = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            out.push_str(&s[chunk..i]);
            let (r, n) = backslash(&b[i..]);
            out.push_str(&r);
            i += n;
            chunk = i;
        } else {
            i += 1;
        }
    }
    out.push_str(&s[chunk..]);
    out
}

/// Statically check the bodies of commands whose script arguments are known at
/// parse time (proc, if, while, for, foreach, catch, switch, eval given braced
/// words), so that a broken configuration is rejected before anything runs.
/// Errors are reported at the line of the command in `script`.
pub fn check_bodies(script: &Script) -> Result<(), ParseError> {
    for cmd in &script.cmds {
        check_command(cmd).map_err(|message| ParseError {
            message,
            line: cmd.line,
            text: cmd.text.clone(),
        })?;
        for w in &cmd.words {
            check_parts(&w.parts)?;
        }
    }
    Ok(())
}

fn check_parts(parts: &[Part]) -> Result<(), ParseError> {
    for p in parts {
        match p {
            Part::Cmd(s) => check_bodies(s)?,
            Part::Var(_, Some(idx)) => check_parts(idx)?,
            _ => {}
        }
    }
    Ok(())
}

fn check_body(w: &Word) -> Result<(), String> {
    if !w.braced || w.expand {
        return Ok(());
    }
    if let Some(s) = w.literal() {
        let sc = parse_script(s).map_err(|e| e.message)?;
        check_bodies(&sc).map_err(|e| e.message)?;
    }
    Ok(())
}

fn check_command(cmd: &Command) -> Result<(), String> {
    let Some(name) = cmd.words.first().and_then(|w| w.literal()) else {
        return Ok(());
    };
    let name = name.strip_prefix("::").unwrap_or(name);
    let w = &cmd.words;
    if w.iter().any(|w| w.expand) {
        return Ok(());
    }
    let lit = |i: usize| w.get(i).and_then(|w| w.literal());
    match name {
        "proc" if w.len() == 4 => check_body(&w[3]),
        "while" if w.len() == 3 => check_body(&w[2]),
        "for" if w.len() == 5 => {
            check_body(&w[1])?;
            check_body(&w[3])?;
            check_body(&w[4])
        }
        "foreach" if w.len() >= 4 && w.len() & 1 == 0 => check_body(&w[w.len() - 1]),
        "catch" if w.len() >= 2 && w.len() <= 4 => check_body(&w[1]),
        "eval" if w.len() == 2 => check_body(&w[1]),
        "if" => {
            // if cond ?then? body ?elseif cond ?then? body ...? ?else? ?body?
            let mut i = 1;
            loop {
                if i >= w.len() {
                    return Ok(());
                }
                i += 1; // condition
                if lit(i) == Some("then") {
                    i += 1;
                }
                match w.get(i) {
                    Some(b) => check_body(b)?,
                    None => return Ok(()),
                }
                i += 1;
                match lit(i) {
                    Some("elseif") => i += 1,
                    Some("else") => {
                        if let Some(b) = w.get(i + 1) {
                            check_body(b)?;
                        }
                        return Ok(());
                    }
                    Some(_) if i + 1 == w.len() => return check_body(&w[i]),
                    _ => return Ok(()),
                }
            }
        }
        _ => Ok(()),
    }
}

fn sub_parser(src: &str, pos: usize) -> Parser<'_> {
    let mut line_starts = vec![0];
    for (i, c) in src.bytes().enumerate() {
        if c == b'\n' {
            line_starts.push(i + 1);
        }
    }
    Parser {
        src,
        b: src.as_bytes(),
        pos,
        line_starts,
        line_base: 1,
        depth: 0,
    }
}

fn fail_to_pe(p: &Parser<'_>, f: Fail) -> ParseError {
    ParseError {
        message: f.message,
        line: 1,
        text: p.src[..boundary(p.src, f.at)].to_string(),
    }
}

/// Parse a double-quoted word starting at `pos` (which holds `"`), as `expr`
/// does. Returns the parts and the position after the closing quote.
pub fn parse_quoted_at(src: &str, pos: usize) -> Result<(Vec<Part>, usize), ParseError> {
    let mut p = sub_parser(src, pos + 1);
    let parts = p
        .subst_parts(Term::Quote, false)
        .map_err(|f| fail_to_pe(&p, f))?;
    if p.peek() != Some(b'"') {
        return Err(fail_to_pe(
            &p,
            Fail {
                message: "missing \"".into(),
                at: pos + 1,
            },
        ));
    }
    Ok((parts, p.pos + 1))
}

/// Parse a braced word at `pos` (which holds `{`).
pub fn parse_braced_at(src: &str, pos: usize) -> Result<(String, usize), ParseError> {
    let mut p = sub_parser(src, pos);
    let s = p.braced().map_err(|f| fail_to_pe(&p, f))?;
    Ok((s, p.pos))
}

/// Parse a command substitution at `pos` (which holds `[`).
pub fn parse_bracket_at(src: &str, pos: usize) -> Result<(Arc<Script>, usize), ParseError> {
    let mut p = sub_parser(src, pos + 1);
    let sc = p.script(true).map_err(|e| {
        if e.line == 0 {
            ParseError {
                message: "missing close-bracket".into(),
                line: 1,
                text: src[..pos + 1].to_string(),
            }
        } else {
            e
        }
    })?;
    if p.peek() != Some(b']') {
        return Err(ParseError {
            message: "missing close-bracket".into(),
            line: 1,
            text: src[..pos + 1].to_string(),
        });
    }
    Ok((Arc::new(sc), p.pos + 1))
}

/// Parse a variable reference at `pos` (which holds `$`). None if the `$` is literal.
pub fn parse_var_at(src: &str, pos: usize) -> Result<(Option<Part>, usize), ParseError> {
    let mut p = sub_parser(src, pos);
    let v = p.variable().map_err(|f| fail_to_pe(&p, f))?;
    Ok((v, p.pos))
}

/// Perform backslash, variable and command substitution parsing on a whole
/// string (as `subst` does), returning its parts.
pub fn parse_subst(src: &str) -> Result<Vec<Part>, ParseError> {
    let mut p = sub_parser(src, 0);
    let mut parts = Vec::new();
    while p.pos < p.b.len() {
        // treat the text as a quoted word without terminator
        let mut more = p
            .subst_parts(Term::Paren, false)
            .map_err(|f| fail_to_pe(&p, f))?;
        parts.append(&mut more);
        if p.peek() == Some(b')') {
            parts.push(Part::Lit(")".into()));
            p.pos += 1;
        }
    }
    Ok(parts)
}
