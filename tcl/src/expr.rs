//! `expr`: Tcl 8.6 expressions (integers, doubles, strings; lazy `&&`,
//! `||` and `?:`).

use std::sync::Arc;

use super::num::{format_double, parse_bool, parse_float, parse_num, Num};
use super::parser::{self, Part, Script};
use super::{err, list, Exception, Interp, TclError, TclResult};

/// A parsed expression.
#[derive(Debug, Clone)]
pub enum Node {
    /// A literal value.
    Lit(Value),
    /// `$name` or `$name(index)`.
    Var(String, Option<Vec<Part>>),
    /// `[script]`.
    Cmd(Arc<Script>),
    /// A `"quoted"` string with substitutions.
    Quoted(Vec<Part>),
    /// Unary operator.
    Unary(&'static str, Box<Node>),
    /// Binary operator.
    Binary(&'static str, Box<Node>, Box<Node>),
    /// `a ? b : c`.
    Ternary(Box<Node>, Box<Node>, Box<Node>),
    /// `f(args)`.
    Func(String, Vec<Node>),
}

/// An expression value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Integer.
    Int(i64),
    /// Double.
    Float(f64),
    /// String (may still look like a number).
    Str(String),
}

impl Value {
    /// The string form.
    pub fn to_tcl(&self) -> String {
        match self {
            Value::Int(i) => i.to_string(),
            Value::Float(f) => format_double(*f),
            Value::Str(s) => s.clone(),
        }
    }

    fn num(&self) -> Option<Num> {
        match self {
            Value::Int(i) => Some(Num::Int(*i)),
            Value::Float(f) => Some(Num::Float(*f)),
            Value::Str(s) => parse_num(s),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(Value),
    Op(&'static str),
    Open,
    Close,
    Comma,
    Word(String),
    Var(String, Option<Vec<Part>>),
    Cmd(Arc<Script>),
    Quoted(Vec<Part>),
    Braced(String),
    End,
}

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
    toks: Vec<(Tok, usize)>,
}

const OPS: [&str; 28] = [
    "**", "<<", ">>", "<=", ">=", "==", "!=", "&&", "||", "eq", "ne", "in", "ni", "lt", "gt", "le",
    "ge", "+", "-", "*", "/", "%", "<", ">", "&", "|", "^", "~",
];

fn syntax_error(src: &str, at: usize, what: &str) -> TclError {
    let at = at.min(src.len());
    TclError::with_code(
        format!(
            "{what} at _@_\nin expression \"{}_@_{}\"",
            &src[..at],
            &src[at..]
        ),
        "TCL PARSE EXPR",
    )
}

impl<'a> Lexer<'a> {
    fn run(mut self) -> Result<Vec<(Tok, usize)>, TclError> {
        let b = self.src.as_bytes();
        loop {
            while self.pos < b.len() && b[self.pos].is_ascii_whitespace() {
                self.pos += 1;
            }
            let start = self.pos;
            if self.pos >= b.len() {
                self.toks.push((Tok::End, start));
                return Ok(self.toks);
            }
            let c = b[self.pos];
            let pe = |e: parser::ParseError| TclError::with_code(e.message, "TCL PARSE");
            let tok = match c {
                b'(' => {
                    self.pos += 1;
                    Tok::Open
                }
                b')' => {
                    self.pos += 1;
                    Tok::Close
                }
                b',' => {
                    self.pos += 1;
                    Tok::Comma
                }
                b'?' => {
                    self.pos += 1;
                    Tok::Op("?")
                }
                b':' => {
                    self.pos += 1;
                    Tok::Op(":")
                }
                b'!' if b.get(self.pos + 1) != Some(&b'=') => {
                    self.pos += 1;
                    Tok::Op("!")
                }
                b'$' => {
                    let (v, np) = parser::parse_var_at(self.src, self.pos).map_err(pe)?;
                    match v {
                        Some(Part::Var(n, i)) => {
                            self.pos = np;
                            Tok::Var(n, i)
                        }
                        _ => {
                            return Err(syntax_error(
                                self.src,
                                self.pos,
                                "invalid character \"$\"",
                            ));
                        }
                    }
                }
                b'[' => {
                    let (sc, np) = parser::parse_bracket_at(self.src, self.pos).map_err(pe)?;
                    self.pos = np;
                    Tok::Cmd(sc)
                }
                b'"' => {
                    let (parts, np) = parser::parse_quoted_at(self.src, self.pos).map_err(pe)?;
                    self.pos = np;
                    Tok::Quoted(parts)
                }
                b'{' => {
                    let (s, np) = parser::parse_braced_at(self.src, self.pos).map_err(pe)?;
                    self.pos = np;
                    Tok::Braced(s)
                }
                b'0'..=b'9' | b'.' => self.number()?,
                c if c.is_ascii_alphabetic() || c == b'_' => {
                    let mut e = self.pos;
                    while e < b.len()
                        && (b[e].is_ascii_alphanumeric() || b[e] == b'_' || b[e] == b':')
                    {
                        e += 1;
                    }
                    let w = &self.src[self.pos..e];
                    if let Some(op) = OPS.iter().find(|o| **o == w) {
                        self.pos = e;
                        Tok::Op(op)
                    } else {
                        self.pos = e;
                        Tok::Word(w.to_string())
                    }
                }
                _ => {
                    let rest = &self.src[self.pos..];
                    match OPS
                        .iter()
                        .find(|o| rest.starts_with(**o) && !o.as_bytes()[0].is_ascii_alphabetic())
                    {
                        Some(op) => {
                            self.pos += op.len();
                            Tok::Op(op)
                        }
                        None => {
                            let ch = rest.chars().next().unwrap_or(' ');
                            return Err(syntax_error(
                                self.src,
                                self.pos,
                                &format!("invalid character \"{ch}\""),
                            ));
                        }
                    }
                }
            };
            self.toks.push((tok, start));
        }
    }

    fn number(&mut self) -> Result<Tok, TclError> {
        let b = self.src.as_bytes();
        let start = self.pos;
        let mut e = start;
        let hexlike = b[start] == b'0'
            && matches!(
                b.get(start + 1),
                Some(b'x' | b'X' | b'b' | b'B' | b'o' | b'O')
            );
        while e < b.len() {
            let c = b[e];
            let exp_sign = (c == b'+' || c == b'-')
                && !hexlike
                && e > start
                && matches!(b[e - 1], b'e' | b'E');
            if !(c.is_ascii_alphanumeric() || c == b'.' || exp_sign) {
                break;
            }
            e += 1;
        }
        let text = &self.src[start..e];
        let v = if let Some(i) = super::num::parse_int(text) {
            Value::Int(i)
        } else if let Some(f) = parse_float(text) {
            Value::Float(f)
        } else {
            // find longest valid prefix to report like Tcl
            return Err(syntax_error(self.src, start, "bad number"));
        };
        self.pos = e;
        Ok(Tok::Num(v))
    }
}

struct P<'a> {
    src: &'a str,
    toks: Vec<(Tok, usize)>,
    i: usize,
    depth: usize,
}

fn prec(op: &str) -> Option<u8> {
    Some(match op {
        "||" => 1,
        "&&" => 2,
        "|" => 3,
        "^" => 4,
        "&" => 5,
        "in" | "ni" => 6,
        "eq" | "ne" | "lt" | "gt" | "le" | "ge" => 7,
        "==" | "!=" => 8,
        "<" | ">" | "<=" | ">=" => 9,
        "<<" | ">>" => 10,
        "+" | "-" => 11,
        "*" | "/" | "%" => 12,
        "**" => 13,
        _ => return None,
    })
}

impl<'a> P<'a> {
    fn peek(&self) -> &Tok {
        &self.toks[self.i].0
    }
    fn at(&self) -> usize {
        self.toks[self.i].1
    }
    fn missing_operand(&self) -> TclError {
        let mut e = syntax_error(self.src, self.at(), "missing operand");
        e.code = "TCL PARSE EXPR MISSING".into();
        e
    }

    fn ternary(&mut self) -> Result<Node, TclError> {
        let c = self.binary(1)?;
        if self.peek() == &Tok::Op("?") {
            self.i += 1;
            let a = self.ternary()?;
            if self.peek() != &Tok::Op(":") {
                return Err(syntax_error(self.src, self.at(), "missing operator \":\""));
            }
            self.i += 1;
            let b = self.ternary()?;
            return Ok(Node::Ternary(Box::new(c), Box::new(a), Box::new(b)));
        }
        Ok(c)
    }

    fn binary(&mut self, min: u8) -> Result<Node, TclError> {
        let mut lhs = self.unary()?;
        loop {
            let op = match self.peek() {
                Tok::Op(op) => *op,
                _ => return Ok(lhs),
            };
            let Some(p) = prec(op) else { return Ok(lhs) };
            if p < min {
                return Ok(lhs);
            }
            self.i += 1;
            // ** is right associative
            let rhs = if op == "**" {
                self.binary(p)?
            } else {
                self.binary(p + 1)?
            };
            lhs = Node::Binary(op, Box::new(lhs), Box::new(rhs));
        }
    }

    fn unary(&mut self) -> Result<Node, TclError> {
        self.depth += 1;
        if self.depth > 200 {
            return Err(TclError::new("expression is nested too deeply"));
        }
        let r = self.unary_inner();
        self.depth -= 1;
        r
    }

    fn unary_inner(&mut self) -> Result<Node, TclError> {
        if let Tok::Op(op @ ("-" | "+" | "!" | "~")) = self.peek() {
            let op = *op;
            self.i += 1;
            let v = self.unary()?;
            return Ok(Node::Unary(op, Box::new(v)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Node, TclError> {
        let tok = self.peek().clone();
        self.i += 1;
        Ok(match tok {
            Tok::Num(v) => Node::Lit(v),
            Tok::Var(n, i) => Node::Var(n, i),
            Tok::Cmd(s) => Node::Cmd(s),
            Tok::Quoted(p) => Node::Quoted(p),
            Tok::Braced(s) => Node::Lit(Value::Str(s)),
            Tok::Open => {
                let v = self.ternary()?;
                if self.peek() != &Tok::Close {
                    return Err(syntax_error(
                        self.src,
                        self.at(),
                        "missing close parenthesis",
                    ));
                }
                self.i += 1;
                v
            }
            Tok::Word(w) => {
                if self.peek() == &Tok::Open {
                    self.i += 1;
                    let mut args = Vec::new();
                    if self.peek() == &Tok::Close {
                        self.i += 1;
                    } else {
                        loop {
                            args.push(self.ternary()?);
                            match self.peek() {
                                Tok::Comma => self.i += 1,
                                Tok::Close => {
                                    self.i += 1;
                                    break;
                                }
                                _ => {
                                    return Err(syntax_error(
                                        self.src,
                                        self.at(),
                                        "missing close parenthesis",
                                    ))
                                }
                            }
                        }
                    }
                    Node::Func(w, args)
                } else {
                    let l = w.to_ascii_lowercase();
                    if matches!(w.as_str(), "true" | "false" | "yes" | "no" | "on" | "off") {
                        Node::Lit(Value::Str(w))
                    } else if matches!(l.as_str(), "inf" | "infinity") {
                        Node::Lit(Value::Float(f64::INFINITY))
                    } else if l == "nan" {
                        Node::Lit(Value::Float(f64::NAN))
                    } else {
                        let mut e = TclError::with_code(
                            format!(
                                "invalid bareword \"{w}\"\nin expression \"{}\";\nshould be \"${w}\" or \"{{{w}}}\" or \"{w}(...)\" or ...",
                                self.src
                            ),
                            "TCL PARSE EXPR BAREWORD",
                        );
                        if self.src.len() > 60 {
                            e.message = format!("invalid bareword \"{w}\"");
                            e.info = e.message.clone();
                        }
                        return Err(e);
                    }
                }
            }
            _ => {
                self.i -= 1;
                if self.peek() == &Tok::End && self.i == 0 {
                    return Err(TclError::with_code(
                        "empty expression\nin expression \"\"",
                        "TCL PARSE EXPR EMPTY",
                    ));
                }
                return Err(self.missing_operand());
            }
        })
    }
}

/// Parse an expression.
pub fn parse_expr(src: &str) -> Result<Node, TclError> {
    let toks = Lexer {
        src,
        pos: 0,
        toks: Vec::new(),
    }
    .run()?;
    let mut p = P {
        src,
        toks,
        i: 0,
        depth: 0,
    };
    let n = p.ternary()?;
    if p.peek() != &Tok::End {
        let at = p.at();
        return Err(match p.peek() {
            Tok::Close => syntax_error(src, at, "unbalanced close paren"),
            _ => syntax_error(src, at, "missing operator"),
        });
    }
    Ok(n)
}

fn non_numeric(op: &str, v: &Value) -> Exception {
    let (what, code) = match v {
        Value::Str(s) if s.is_empty() => ("empty string", "ARITH DOMAIN {empty string}"),
        _ => ("non-numeric string", "ARITH DOMAIN {non-numeric string}"),
    };
    TclError::with_code(format!("can't use {what} as operand of \"{op}\""), code).into()
}

fn num_of(op: &str, v: &Value) -> Result<Num, Exception> {
    v.num().ok_or_else(|| non_numeric(op, v))
}

fn int_of(op: &str, v: &Value) -> Result<i64, Exception> {
    match num_of(op, v)? {
        Num::Int(i) => Ok(i),
        Num::Float(_) => Err(TclError::with_code(
            format!("can't use floating-point value as operand of \"{op}\""),
            "ARITH DOMAIN {floating-point value}",
        )
        .into()),
    }
}

fn bool_of(v: &Value) -> Result<bool, Exception> {
    match v {
        Value::Int(i) => Ok(*i != 0),
        Value::Float(f) => Ok(*f != 0.0),
        Value::Str(s) => parse_bool(s).ok_or_else(|| {
            TclError::with_code(
                format!("expected boolean value but got \"{s}\""),
                "TCL VALUE NUMBER",
            )
            .into()
        }),
    }
}

fn from_num(n: Num) -> Value {
    match n {
        Num::Int(i) => Value::Int(i),
        Num::Float(f) => Value::Float(f),
    }
}

fn as_f(n: Num) -> f64 {
    match n {
        Num::Int(i) => i as f64,
        Num::Float(f) => f,
    }
}

fn check_float(f: f64) -> Result<Value, Exception> {
    if f.is_nan() {
        return Err(TclError::with_code(
            "domain error: argument not in valid range",
            "ARITH DOMAIN {domain error: argument not in valid range}",
        )
        .into());
    }
    Ok(Value::Float(f))
}

fn int_pow(base: i64, exp: i64) -> Result<i64, Exception> {
    if exp < 0 {
        return match base {
            0 => err("exponentiation of zero by negative power"),
            1 => Ok(1),
            -1 => Ok(if exp % 2 == 0 { 1 } else { -1 }),
            _ => Ok(0),
        };
    }
    let mut r: i64 = 1;
    let mut b = base;
    let mut e = exp;
    while e > 0 {
        if e & 1 == 1 {
            r = r.wrapping_mul(b);
        }
        b = b.wrapping_mul(b);
        e >>= 1;
    }
    Ok(r)
}

fn compare(a: &Value, b: &Value) -> std::cmp::Ordering {
    match (a.num(), b.num()) {
        (Some(Num::Int(x)), Some(Num::Int(y))) => x.cmp(&y),
        (Some(x), Some(y)) => as_f(x)
            .partial_cmp(&as_f(y))
            .unwrap_or(std::cmp::Ordering::Equal),
        _ => a.to_tcl().cmp(&b.to_tcl()),
    }
}

impl Interp {
    /// Evaluate an expression string.
    pub fn expr(&mut self, src: &str) -> TclResult {
        let node = self.compile_expr(src)?;
        Ok(self.eval_node(&node)?.to_tcl())
    }

    fn compile_expr(&mut self, src: &str) -> Result<Arc<Node>, Exception> {
        if let Some(n) = self.expr_cache.get(src) {
            return Ok(n.clone());
        }
        let n = Arc::new(parse_expr(src)?);
        if self.expr_cache.len() > 4096 {
            self.expr_cache.clear();
        }
        self.expr_cache.insert(src.to_string(), n.clone());
        Ok(n)
    }

    /// Evaluate an expression to a boolean (if/while/for conditions).
    pub fn expr_bool(&mut self, src: &str) -> Result<bool, Exception> {
        let node = self.compile_expr(src)?;
        let v = self.eval_node(&node)?;
        bool_of(&v)
    }

    fn eval_node(&mut self, n: &Node) -> Result<Value, Exception> {
        Ok(match n {
            Node::Lit(v) => v.clone(),
            Node::Var(name, idx) => {
                let v = match idx {
                    None => self.get_var2(name, None)?,
                    Some(p) => {
                        let i = self.subst_parts(p)?;
                        self.get_var2(name, Some(&i))?
                    }
                };
                Value::Str(v)
            }
            Node::Cmd(sc) => Value::Str(self.eval_script(sc).map_err(super::not_inline)?),
            Node::Quoted(p) => Value::Str(self.subst_parts(p)?),
            Node::Ternary(c, a, b) => {
                let cv = self.eval_node(c)?;
                if bool_of(&cv)? {
                    self.eval_node(a)?
                } else {
                    self.eval_node(b)?
                }
            }
            Node::Unary(op, a) => {
                let v = self.eval_node(a)?;
                match *op {
                    "!" => Value::Int(i64::from(!bool_of(&v)?)),
                    "~" => Value::Int(!int_of(op, &v)?),
                    "-" => match num_of(op, &v)? {
                        Num::Int(i) => Value::Int(i.wrapping_neg()),
                        Num::Float(f) => Value::Float(-f),
                    },
                    _ => from_num(num_of(op, &v)?),
                }
            }
            Node::Binary(op, a, b) => {
                let op = *op;
                if op == "&&" || op == "||" {
                    let av = self.eval_node(a)?;
                    let ab = bool_of(&av)?;
                    if (op == "&&" && !ab) || (op == "||" && ab) {
                        return Ok(Value::Int(i64::from(ab)));
                    }
                    let bv = self.eval_node(b)?;
                    return Ok(Value::Int(i64::from(bool_of(&bv)?)));
                }
                let av = self.eval_node(a)?;
                let bv = self.eval_node(b)?;
                binop(op, &av, &bv)?
            }
            Node::Func(name, args) => {
                let mut vals = Vec::with_capacity(args.len());
                for a in args {
                    vals.push(self.eval_node(a)?);
                }
                func(name, &vals)?
            }
        })
    }
}

fn binop(op: &str, a: &Value, b: &Value) -> Result<Value, Exception> {
    use std::cmp::Ordering::*;
    let bool_v = |x: bool| Value::Int(i64::from(x));
    Ok(match op {
        "eq" => bool_v(a.to_tcl() == b.to_tcl()),
        "ne" => bool_v(a.to_tcl() != b.to_tcl()),
        "lt" => bool_v(a.to_tcl() < b.to_tcl()),
        "gt" => bool_v(a.to_tcl() > b.to_tcl()),
        "le" => bool_v(a.to_tcl() <= b.to_tcl()),
        "ge" => bool_v(a.to_tcl() >= b.to_tcl()),
        "in" | "ni" => {
            let l = list::parse_list(&b.to_tcl()).map_err(TclError::new)?;
            let s = a.to_tcl();
            let found = l.contains(&s);
            bool_v(if op == "in" { found } else { !found })
        }
        "==" => bool_v(compare(a, b) == Equal && !nan_any(a, b)),
        "!=" => bool_v(compare(a, b) != Equal || nan_any(a, b)),
        "<" => bool_v(compare(a, b) == Less && !nan_any(a, b)),
        ">" => bool_v(compare(a, b) == Greater && !nan_any(a, b)),
        "<=" => bool_v(compare(a, b) != Greater && !nan_any(a, b)),
        ">=" => bool_v(compare(a, b) != Less && !nan_any(a, b)),
        "&" | "|" | "^" | "<<" | ">>" => {
            let x = int_of(op, a)?;
            let y = int_of(op, b)?;
            Value::Int(match op {
                "&" => x & y,
                "|" => x | y,
                "^" => x ^ y,
                "<<" => {
                    if y < 0 {
                        return err("negative shift argument");
                    }
                    if y >= 64 {
                        0
                    } else {
                        x.wrapping_shl(y as u32)
                    }
                }
                _ => {
                    if y < 0 {
                        return err("negative shift argument");
                    }
                    if y >= 64 {
                        if x < 0 {
                            -1
                        } else {
                            0
                        }
                    } else {
                        x >> y
                    }
                }
            })
        }
        "%" => {
            let x = int_of(op, a)?;
            let y = int_of(op, b)?;
            if y == 0 {
                return Err(TclError::with_code(
                    "divide by zero",
                    "ARITH DIVZERO {divide by zero}",
                )
                .into());
            }
            let r = x.wrapping_rem(y);
            Value::Int(if r != 0 && ((r < 0) != (y < 0)) {
                r + y
            } else {
                r
            })
        }
        _ => {
            let x = num_of(op, a)?;
            let y = num_of(op, b)?;
            match (x, y) {
                (Num::Int(x), Num::Int(y)) => Value::Int(match op {
                    "+" => x.wrapping_add(y),
                    "-" => x.wrapping_sub(y),
                    "*" => x.wrapping_mul(y),
                    "/" => {
                        if y == 0 {
                            return Err(TclError::with_code(
                                "divide by zero",
                                "ARITH DIVZERO {divide by zero}",
                            )
                            .into());
                        }
                        let q = x.wrapping_div(y);
                        if (x % y != 0) && ((x < 0) != (y < 0)) {
                            q - 1
                        } else {
                            q
                        }
                    }
                    _ => int_pow(x, y)?,
                }),
                _ => {
                    let (x, y) = (as_f(x), as_f(y));
                    check_float(match op {
                        "+" => x + y,
                        "-" => x - y,
                        "*" => x * y,
                        "/" => {
                            if y == 0.0 && x == 0.0 {
                                return Err(TclError::with_code(
                                    "domain error: argument not in valid range",
                                    "ARITH DOMAIN",
                                )
                                .into());
                            }
                            x / y
                        }
                        _ => x.powf(y),
                    })?
                }
            }
        }
    })
}

fn nan_any(a: &Value, b: &Value) -> bool {
    matches!(a.num(), Some(Num::Float(f)) if f.is_nan())
        || matches!(b.num(), Some(Num::Float(f)) if f.is_nan())
}

fn func(name: &str, a: &[Value]) -> Result<Value, Exception> {
    let arity = |n: usize| -> Result<(), Exception> {
        if a.len() < n {
            err(format!("too few arguments for math function \"{name}\""))
        } else if a.len() > n {
            err(format!("too many arguments for math function \"{name}\""))
        } else {
            Ok(())
        }
    };
    let f1 = |op: &str| -> Result<f64, Exception> { Ok(as_f(num_of(op, &a[0])?)) };
    Ok(match name {
        "abs" => {
            arity(1)?;
            match num_of(name, &a[0])? {
                Num::Int(i) => Value::Int(i.wrapping_abs()),
                Num::Float(f) => Value::Float(f.abs()),
            }
        }
        "int" | "wide" | "entier" => {
            arity(1)?;
            match num_of(name, &a[0])? {
                Num::Int(i) => Value::Int(i),
                Num::Float(f) => {
                    if !f.is_finite() {
                        return err("integer value too large to represent");
                    }
                    let t = f.trunc();
                    // wrap like Tcl's int() does to the machine word
                    let w = (t % 18446744073709551616.0) as i128;
                    Value::Int(w as i64)
                }
            }
        }
        "double" => {
            arity(1)?;
            Value::Float(f1(name)?)
        }
        "round" => {
            arity(1)?;
            match num_of(name, &a[0])? {
                Num::Int(i) => Value::Int(i),
                Num::Float(f) => Value::Int(f.round() as i64),
            }
        }
        "bool" => {
            arity(1)?;
            Value::Int(i64::from(bool_of(&a[0])?))
        }
        "floor" | "ceil" | "sqrt" | "exp" | "log" | "log10" | "sin" | "cos" | "tan" | "atan"
        | "asin" | "acos" | "sinh" | "cosh" | "tanh" => {
            arity(1)?;
            let x = f1(name)?;
            check_float(match name {
                "floor" => x.floor(),
                "ceil" => x.ceil(),
                "sqrt" => x.sqrt(),
                "exp" => x.exp(),
                "log" => x.ln(),
                "log10" => x.log10(),
                "sin" => x.sin(),
                "cos" => x.cos(),
                "tan" => x.tan(),
                "atan" => x.atan(),
                "asin" => x.asin(),
                "acos" => x.acos(),
                "sinh" => x.sinh(),
                "cosh" => x.cosh(),
                _ => x.tanh(),
            })?
        }
        "pow" | "fmod" | "atan2" | "hypot" => {
            arity(2)?;
            let x = as_f(num_of(name, &a[0])?);
            let y = as_f(num_of(name, &a[1])?);
            check_float(match name {
                "pow" => x.powf(y),
                "fmod" => x % y,
                "atan2" => x.atan2(y),
                _ => x.hypot(y),
            })?
        }
        "min" | "max" => {
            if a.is_empty() {
                return err(format!("too few arguments for math function \"{name}\""));
            }
            let mut best = num_of(name, &a[0])?;
            for v in &a[1..] {
                let n = num_of(name, v)?;
                let better = if name == "min" {
                    as_f(n) < as_f(best)
                } else {
                    as_f(n) > as_f(best)
                };
                if better {
                    best = n;
                }
            }
            from_num(best)
        }
        _ => {
            return Err(TclError::with_code(
                format!("invalid command name \"tcl::mathfunc::{name}\""),
                "TCL LOOKUP COMMAND",
            )
            .into())
        }
    })
}
