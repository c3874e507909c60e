//! `clock seconds|milliseconds|microseconds|clicks|format|scan|add`.
//!
//! Times are exact in UTC (`-gmt 1`, `-timezone :UTC`, or a numeric
//! `-timezone +hhmm`). Local time (neither given) comes from the zone file
//! the `TZ` entry of the interpreter's `env` names (`:Area/City` or
//! `Area/City` under /usr/share/zoneinfo) or, without `TZ`, from
//! /etc/localtime, read in pure Rust (TZif transitions; times past the
//! file's last transition keep its last offset). Without a readable zone
//! file local time is UTC. The C library (`localtime_r`) is not used: the
//! crate has no unsafe code.

use std::time::{SystemTime, UNIX_EPOCH};

use super::builtins::get_int;
use super::num::parse_bool;
use super::{err, wrong_args, Exception, Interp, TclError, TclResult};

const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// Days since 1970-01-01 of a proleptic Gregorian date (month may be out of
/// 1..=12: it carries into the year, as Tcl's scan does).
pub(crate) fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = y + (m - 1).div_euclid(12);
    let m = (m - 1).rem_euclid(12) + 1;
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// (year, month, day) of a day number.
pub(crate) fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

/// A time zone: fixed offset, or a TZif transition table.
#[derive(Debug, Clone)]
pub(crate) struct Zone {
    /// (utc time of the transition, offset, abbreviation), sorted
    trans: Vec<(i64, i64, String)>,
    /// before the first transition (or the only one)
    initial: (i64, String),
}

impl Zone {
    fn fixed(off: i64, name: &str) -> Self {
        Zone {
            trans: Vec::new(),
            initial: (off, name.to_string()),
        }
    }

    fn at(&self, t: i64) -> (i64, &str) {
        let i = self.trans.partition_point(|(tt, _, _)| *tt <= t);
        if i == 0 {
            (self.initial.0, &self.initial.1)
        } else {
            let (_, o, n) = &self.trans[i - 1];
            (*o, n)
        }
    }

    /// The UTC time of a local wall-clock time.
    fn to_utc(&self, local: i64) -> i64 {
        let mut off = self.at(local).0;
        for _ in 0..2 {
            off = self.at(local - off).0;
        }
        local - off
    }
}

fn be(b: &[u8], at: usize, n: usize) -> Option<i64> {
    let s = b.get(at..at + n)?;
    let mut v: i64 = 0;
    for x in s {
        v = (v << 8) | i64::from(*x);
    }
    // sign-extend
    let bits = 64 - 8 * n as u32;
    Some((v << bits) >> bits)
}

/// Parse a TZif file (version 1 data, or the 64-bit data of version 2+).
fn parse_tzif(b: &[u8]) -> Option<Zone> {
    if b.get(..4)? != b"TZif" {
        return None;
    }
    let counts = |at: usize| -> Option<[usize; 6]> {
        let mut c = [0usize; 6];
        for (k, x) in c.iter_mut().enumerate() {
            *x = usize::try_from(be(b, at + 20 + 4 * k, 4)?).ok()?;
        }
        Some(c)
    };
    let c1 = counts(0)?;
    let v1_len = c1[3] * 4 + c1[3] + c1[4] * 6 + c1[5] + c1[2] * 8 + c1[1] + c1[0];
    let (base, tsize, c) = if b[4] >= b'2' {
        let at = 44 + v1_len;
        (at, 8, counts(at)?)
    } else {
        (0, 4, c1)
    };
    let [_isut, _isstd, leap, timecnt, typecnt, charcnt] = c;
    let mut p = base + 44;
    let times: Vec<i64> = (0..timecnt)
        .map(|k| be(b, p + k * tsize, tsize))
        .collect::<Option<_>>()?;
    p += timecnt * tsize;
    let idx: Vec<usize> = (0..timecnt)
        .map(|k| b.get(p + k).map(|x| *x as usize))
        .collect::<Option<_>>()?;
    p += timecnt;
    let types: Vec<(i64, usize)> = (0..typecnt)
        .map(|k| Some((be(b, p + k * 6, 4)?, *b.get(p + k * 6 + 5)? as usize)))
        .collect::<Option<_>>()?;
    p += typecnt * 6;
    let chars = b.get(p..p + charcnt)?;
    let _ = leap;
    let abbr = |i: usize| -> String {
        let s = chars.get(i..).unwrap_or(&[]);
        let end = s.iter().position(|c| *c == 0).unwrap_or(s.len());
        String::from_utf8_lossy(&s[..end]).into_owned()
    };
    let ty = |i: usize| types.get(i).map(|(o, a)| (*o, abbr(*a)));
    let initial = ty(0)?;
    let trans = times
        .iter()
        .zip(idx)
        .filter_map(|(t, i)| ty(i).map(|(o, a)| (*t, o, a)))
        .collect();
    Some(Zone { trans, initial })
}

/// `+hhmm`, `-hh:mm`, `+hh`: seconds east of UTC.
fn numeric_offset(s: &str) -> Option<i64> {
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let d: String = rest.chars().filter(|c| *c != ':').collect();
    if d.is_empty() || !d.bytes().all(|c| c.is_ascii_digit()) || d.len() > 6 || d.len() % 2 == 1 {
        return None;
    }
    let n = |i: usize| {
        d.get(i..i + 2)
            .and_then(|x| x.parse::<i64>().ok())
            .unwrap_or(0)
    };
    Some(sign * (n(0) * 3600 + n(2) * 60 + n(4)))
}

fn zone_named(name: &str) -> Option<Zone> {
    let n = name.strip_prefix(':').unwrap_or(name);
    match n {
        "UTC" | "GMT" | "Etc/UTC" | "Etc/GMT" | "UCT" | "Zulu" | "Universal" => {
            return Some(Zone::fixed(0, if n == "GMT" { "GMT" } else { "UTC" }))
        }
        _ => {}
    }
    if let Some(o) = numeric_offset(n) {
        let s = if o < 0 { '-' } else { '+' };
        let a = o.abs();
        return Some(Zone::fixed(
            o,
            &format!("{s}{:02}{:02}", a / 3600, a / 60 % 60),
        ));
    }
    if n.contains("..") || n.is_empty() {
        return None;
    }
    let path = if n.starts_with('/') {
        n.to_string()
    } else {
        format!("/usr/share/zoneinfo/{n}")
    };
    let meta = std::fs::metadata(&path).ok()?;
    if !meta.is_file() || meta.len() > 1 << 20 {
        return None;
    }
    parse_tzif(&std::fs::read(path).ok()?)
}

impl Interp {
    fn local_zone(&self) -> Zone {
        let tz = self.get_var("::env(TZ)").ok();
        tz.as_deref()
            .and_then(zone_named)
            .or_else(|| zone_named("/etc/localtime"))
            .unwrap_or_else(|| Zone::fixed(0, "UTC"))
    }
}

struct Tm {
    year: i64,
    mon: i64,
    day: i64,
    hour: i64,
    min: i64,
    sec: i64,
    wday: i64,
    yday: i64,
}

fn tm_of(local: i64) -> Tm {
    let days = local.div_euclid(86400);
    let secs = local.rem_euclid(86400);
    let (year, mon, day) = civil_from_days(days);
    Tm {
        year,
        mon,
        day,
        hour: secs / 3600,
        min: secs / 60 % 60,
        sec: secs % 60,
        wday: (days + 4).rem_euclid(7),
        yday: days - days_from_civil(year, 1, 1) + 1,
    }
}

/// ISO 8601 week-based year and week number.
fn iso_week(t: &Tm) -> (i64, i64) {
    let wd = (t.wday + 6) % 7 + 1; // Monday=1
    let w = (t.yday - wd + 10) / 7;
    if w < 1 {
        let py = t.year - 1;
        let pdays = if is_leap(py) { 366 } else { 365 };
        let pt = Tm {
            yday: t.yday + pdays,
            year: py,
            ..*t
        };
        return iso_week(&pt);
    }
    let ydays = if is_leap(t.year) { 366 } else { 365 };
    if w == 53 && t.yday - wd + 4 > ydays {
        return (t.year + 1, 1);
    }
    (t.year, w)
}

fn format_time(t: i64, fmt: &str, zone: &Zone) -> String {
    let (off, abbr) = zone.at(t);
    let tm = tm_of(t + off);
    let mut out = String::new();
    let c: Vec<char> = fmt.chars().collect();
    let mut i = 0;
    let h12 = |h: i64| if h % 12 == 0 { 12 } else { h % 12 };
    while i < c.len() {
        if c[i] != '%' || i + 1 >= c.len() {
            out.push(c[i]);
            i += 1;
            continue;
        }
        i += 1;
        let s = match c[i] {
            'a' => DAYS[tm.wday as usize][..3].to_string(),
            'A' => DAYS[tm.wday as usize].to_string(),
            'b' | 'h' => MONTHS[tm.mon as usize - 1][..3].to_string(),
            'B' => MONTHS[tm.mon as usize - 1].to_string(),
            'c' => format_time(t, "%a %b %e %H:%M:%S %Y", zone),
            'C' => format!("{:02}", tm.year.div_euclid(100)),
            'd' => format!("{:02}", tm.day),
            'D' => format!("{:02}/{:02}/{:04}", tm.mon, tm.day, tm.year),
            'e' => format!("{:2}", tm.day),
            'g' => format!("{:02}", iso_week(&tm).0.rem_euclid(100)),
            'G' => format!("{:04}", iso_week(&tm).0),
            'H' => format!("{:02}", tm.hour),
            'I' => format!("{:02}", h12(tm.hour)),
            'j' => format!("{:03}", tm.yday),
            'J' => ((t + off).div_euclid(86400) + 2440588).to_string(),
            'k' => format!("{:2}", tm.hour),
            'l' => format!("{:2}", h12(tm.hour)),
            'm' => format!("{:02}", tm.mon),
            'M' => format!("{:02}", tm.min),
            'n' => "\n".into(),
            'N' => format!("{:2}", tm.mon),
            'p' => if tm.hour < 12 { "AM" } else { "PM" }.into(),
            'P' => if tm.hour < 12 { "am" } else { "pm" }.into(),
            'r' => format_time(t, "%I:%M:%S %P", zone),
            'R' => format!("{:02}:{:02}", tm.hour, tm.min),
            's' => t.to_string(),
            'S' => format!("{:02}", tm.sec),
            't' => "\t".into(),
            'T' => format!("{:02}:{:02}:{:02}", tm.hour, tm.min, tm.sec),
            'u' => ((tm.wday + 6) % 7 + 1).to_string(),
            'U' => format!("{:02}", (tm.yday - 1 + 7 - tm.wday) / 7),
            'V' => format!("{:02}", iso_week(&tm).1),
            'w' => tm.wday.to_string(),
            'W' => format!("{:02}", (tm.yday - 1 + 7 - (tm.wday + 6) % 7) / 7),
            'x' => format!("{:02}/{:02}/{:04}", tm.mon, tm.day, tm.year),
            'X' => format!("{:02}:{:02}:{:02}", tm.hour, tm.min, tm.sec),
            'y' => format!("{:02}", tm.year.rem_euclid(100)),
            'Y' => format!("{:04}", tm.year),
            'z' => {
                let a = off.abs();
                format!(
                    "{}{:02}{:02}",
                    if off < 0 { '-' } else { '+' },
                    a / 3600,
                    a / 60 % 60
                )
            }
            'Z' => abbr.to_string(),
            '%' => "%".into(),
            other => format!("%{other}"),
        };
        out.push_str(&s);
        i += 1;
    }
    out
}

struct Opts {
    format: Option<String>,
    zone: Option<Zone>,
    base: Option<i64>,
}

fn parse_opts(it: &Interp, args: &[String], usage: &str, allowed: &str) -> Result<Opts, Exception> {
    let mut o = Opts {
        format: None,
        zone: None,
        base: None,
    };
    if args.len() % 2 == 1 {
        return wrong_args(usage);
    }
    for p in args.chunks(2) {
        match p[0].as_str() {
            "-format" => o.format = Some(p[1].clone()),
            "-gmt" => {
                let Some(g) = parse_bool(&p[1]) else {
                    return err(format!("expected boolean value but got \"{}\"", p[1]));
                };
                if g {
                    o.zone = Some(Zone::fixed(0, "GMT"));
                }
            }
            "-timezone" => {
                o.zone = Some(if p[1].is_empty() {
                    it.local_zone()
                } else {
                    zone_named(&p[1])
                        .ok_or_else(|| TclError::new(format!("time zone \"{}\" not found", p[1])))?
                })
            }
            "-locale" => {}
            "-base" if allowed.contains("-base") => o.base = Some(clock_value(&p[1])?),
            other => return err(format!("bad option \"{other}\": must be {allowed}")),
        }
    }
    Ok(o)
}

/// Times beyond about ±4.4 million years are refused, so that no date
/// arithmetic can overflow.
const MAX_TIME: i64 = 1 << 47;

fn clock_value(s: &str) -> Result<i64, Exception> {
    let t = get_int(s)?;
    if t.abs() > MAX_TIME {
        return Err(TclError::with_code(
            format!("clock value \"{s}\" is out of range"),
            "CLOCK outOfRange",
        )
        .into());
    }
    Ok(t)
}

fn now() -> std::time::Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

pub(crate) fn cmd_clock(it: &mut Interp, a: &[String]) -> TclResult {
    if a.len() < 2 {
        return wrong_args("clock subcommand ?arg ...?");
    }
    match a[1].as_str() {
        "seconds" | "milliseconds" | "microseconds" => {
            if a.len() != 2 {
                return wrong_args(&format!("clock {}", a[1]));
            }
            let d = now();
            Ok(match a[1].as_str() {
                "seconds" => d.as_secs().to_string(),
                "milliseconds" => d.as_millis().to_string(),
                _ => d.as_micros().to_string(),
            })
        }
        "clicks" => Ok(now().as_micros().to_string()),
        "format" => {
            let usage = "clock format clockval ?-format string? ?-gmt boolean? ?-locale LOCALE? ?-timezone ZONE?";
            if a.len() < 3 {
                return wrong_args(usage);
            }
            let t = clock_value(&a[2])?;
            let o = parse_opts(it, &a[3..], usage, "-format, -gmt, -locale, or -timezone")?;
            let zone = o.zone.unwrap_or_else(|| it.local_zone());
            let fmt = o.format.as_deref().unwrap_or("%a %b %d %H:%M:%S %Z %Y");
            Ok(format_time(t, fmt, &zone))
        }
        "scan" => {
            let usage = "clock scan string ?-base seconds? ?-format string? ?-gmt boolean? ?-locale LOCALE? ?-timezone ZONE?";
            if a.len() < 3 {
                return wrong_args(usage);
            }
            let o = parse_opts(it, &a[3..], usage, "-base, -format, -gmt, -locale, or -timezone")?;
            let zone = o.zone.unwrap_or_else(|| it.local_zone());
            let base = o.base.unwrap_or_else(|| now().as_secs() as i64);
            let local = match &o.format {
                Some(f) => scan_format(&a[2], f, &zone, base)?,
                None => scan_free(&a[2], &zone, base)?,
            };
            let t = match local {
                Scanned::Local(l) => zone.to_utc(l),
                Scanned::Utc(u) => u,
            };
            if t.abs() > MAX_TIME {
                return err(format!("clock scan: \"{}\" is out of range", a[2]));
            }
            Ok(t.to_string())
        }
        "add" => {
            let usage = "clock add clockval ?number units?... ?-gmt boolean? ?-locale LOCALE? ?-timezone ZONE?";
            if a.len() < 3 {
                return wrong_args(usage);
            }
            let mut t = clock_value(&a[2])?;
            let mut i = 3;
            let mut pairs = Vec::new();
            while i + 1 < a.len() && (a[i].parse::<i64>().is_ok() || !a[i].starts_with('-')) {
                pairs.push((get_int(&a[i])?, a[i + 1].clone()));
                i += 2;
            }
            let o = parse_opts(it, &a[i..], usage, "-gmt, -locale, or -timezone")?;
            let zone = o.zone.unwrap_or_else(|| it.local_zone());
            for (n, unit) in pairs {
                if n.abs() > MAX_TIME / 86400 / 7 || t.abs() > MAX_TIME {
                    return err("clock add: time out of range");
                }
                let u = unit.trim_end_matches('s');
                t = match u {
                    "second" => t + n,
                    "minute" => t + 60 * n,
                    "hour" => t + 3600 * n,
                    "day" | "week" | "month" | "year" => {
                        let off = zone.at(t).0;
                        let tm = tm_of(t + off);
                        let (y, m, d) = match u {
                            "day" => (tm.year, tm.mon, tm.day + n),
                            "week" => (tm.year, tm.mon, tm.day + 7 * n),
                            "month" => (tm.year, tm.mon + n, tm.day),
                            _ => (tm.year + n, tm.mon, tm.day),
                        };
                        // month/year arithmetic keeps the day within the month
                        let (y2, m2, _) = civil_from_days(days_from_civil(y, m, 1));
                        let dim = days_from_civil(y2, m2 + 1, 1) - days_from_civil(y2, m2, 1);
                        let d = if matches!(u, "month" | "year") { d.min(dim) } else { d };
                        let local = days_from_civil(y2, m2, 1) + d - 1;
                        zone.to_utc(local * 86400 + tm.hour * 3600 + tm.min * 60 + tm.sec)
                    }
                    _ => {
                        return err(format!(
                            "unknown unit \"{unit}\", must be one of seconds, minutes, hours, days, weeks, months, years"
                        ))
                    }
                };
            }
            Ok(t.to_string())
        }
        o => err(format!(
            "unknown or ambiguous subcommand \"{o}\": must be add, clicks, format, microseconds, milliseconds, scan, or seconds"
        )),
    }
}

enum Scanned {
    Local(i64),
    Utc(i64),
}

fn no_match() -> Exception {
    TclError::with_code(
        "input string does not match supplied format",
        "CLOCK badInputString",
    )
    .into()
}

fn take_num(s: &[char], i: &mut usize, max: usize, signed: bool) -> Result<i64, Exception> {
    let st = *i;
    if signed && matches!(s.get(*i), Some('-') | Some('+')) {
        *i += 1;
    }
    let ds = *i;
    while *i - ds < max && s.get(*i).is_some_and(char::is_ascii_digit) {
        *i += 1;
    }
    if *i == ds {
        return Err(no_match());
    }
    s[st..*i]
        .iter()
        .collect::<String>()
        .parse()
        .map_err(|_| no_match())
}

fn take_name(s: &[char], i: &mut usize, names: &[&str]) -> Result<i64, Exception> {
    let rest: String = s[*i..].iter().collect::<String>().to_lowercase();
    for (k, n) in names.iter().enumerate() {
        let full = n.to_lowercase();
        for cand in [full.clone(), full[..3].to_string()] {
            if rest.starts_with(&cand) {
                *i += cand.chars().count();
                return Ok(k as i64);
            }
        }
    }
    Err(no_match())
}

fn scan_format(s: &str, fmt: &str, zone: &Zone, base: i64) -> Result<Scanned, Exception> {
    let s: Vec<char> = s.chars().collect();
    let f: Vec<char> = fmt.chars().collect();
    let btm = tm_of(base + zone.at(base).0);
    let (mut y, mut mo, mut d) = (btm.year, btm.mon, btm.day);
    let (mut h, mut mi, mut sec) = (0i64, 0i64, 0i64);
    let mut pm: Option<bool> = None;
    let mut epoch: Option<i64> = None;
    let mut offset: Option<i64> = None;
    let mut date_given = false;
    let (mut i, mut k) = (0, 0);
    while k < f.len() {
        let c = f[k];
        if c.is_whitespace() {
            while s.get(i).is_some_and(|c| c.is_whitespace()) {
                i += 1;
            }
            k += 1;
            continue;
        }
        if c != '%' || k + 1 >= f.len() {
            if s.get(i) != Some(&c) {
                return Err(no_match());
            }
            i += 1;
            k += 1;
            continue;
        }
        k += 1;
        match f[k] {
            'Y' => {
                y = take_num(&s, &mut i, 4, false)?;
                date_given = true;
            }
            'y' => {
                let v = take_num(&s, &mut i, 2, false)?;
                y = if v < 38 { 2000 + v } else { 1900 + v };
                date_given = true;
            }
            'm' => {
                mo = take_num(&s, &mut i, 2, false)?;
                date_given = true;
            }
            'd' | 'e' => {
                while s.get(i) == Some(&' ') {
                    i += 1;
                }
                d = take_num(&s, &mut i, 2, false)?;
                date_given = true;
            }
            'j' => {
                let v = take_num(&s, &mut i, 3, false)?;
                mo = 1;
                d = v;
                date_given = true;
            }
            'H' | 'k' => {
                while s.get(i) == Some(&' ') {
                    i += 1;
                }
                h = take_num(&s, &mut i, 2, false)?;
            }
            'I' | 'l' => {
                while s.get(i) == Some(&' ') {
                    i += 1;
                }
                h = take_num(&s, &mut i, 2, false)? % 12;
            }
            'M' => mi = take_num(&s, &mut i, 2, false)?,
            'S' => sec = take_num(&s, &mut i, 2, false)?,
            's' => epoch = Some(take_num(&s, &mut i, 15, true)?),
            'p' | 'P' => {
                let r: String = s[i..].iter().take(2).collect::<String>().to_lowercase();
                pm = Some(match r.as_str() {
                    "am" => false,
                    "pm" => true,
                    _ => return Err(no_match()),
                });
                i += 2;
            }
            'b' | 'B' | 'h' => {
                mo = take_name(&s, &mut i, &MONTHS)? + 1;
                date_given = true;
            }
            'a' | 'A' => {
                take_name(&s, &mut i, &DAYS)?;
            }
            'z' => {
                let st = i;
                while s
                    .get(i)
                    .is_some_and(|c| matches!(c, '+' | '-' | ':') || c.is_ascii_digit())
                {
                    i += 1;
                }
                let t: String = s[st..i].iter().collect();
                offset = Some(numeric_offset(&t).ok_or_else(no_match)?);
            }
            'Z' => {
                let st = i;
                while s.get(i).is_some_and(|c| c.is_ascii_alphabetic()) {
                    i += 1;
                }
                let t: String = s[st..i].iter().collect();
                match t.as_str() {
                    "UTC" | "GMT" | "Z" | "UT" => offset = Some(0),
                    _ => return Err(no_match()),
                }
            }
            '%' => {
                if s.get(i) != Some(&'%') {
                    return Err(no_match());
                }
                i += 1;
            }
            'T' => {
                h = take_num(&s, &mut i, 2, false)?;
                expect(&s, &mut i, ':')?;
                mi = take_num(&s, &mut i, 2, false)?;
                expect(&s, &mut i, ':')?;
                sec = take_num(&s, &mut i, 2, false)?;
            }
            other => {
                return err(format!(
                    "unsupported format group \"%{other}\" in clock scan"
                ))
            }
        }
        k += 1;
    }
    while s.get(i).is_some_and(|c| c.is_whitespace()) {
        i += 1;
    }
    if i != s.len() {
        return Err(no_match());
    }
    if let Some(e) = epoch {
        return Ok(Scanned::Utc(e));
    }
    if pm == Some(true) {
        h += 12;
    }
    if !date_given {
        // a time alone is on the base date
    }
    let local = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
    Ok(match offset {
        Some(o) => Scanned::Utc(local - o),
        None => Scanned::Local(local),
    })
}

fn expect(s: &[char], i: &mut usize, c: char) -> Result<(), Exception> {
    if s.get(*i) == Some(&c) {
        *i += 1;
        Ok(())
    } else {
        Err(no_match())
    }
}

/// Free-form scan: the ISO 8601 forms configurations use.
fn scan_free(s: &str, zone: &Zone, base: i64) -> Result<Scanned, Exception> {
    let t = s.trim();
    let fail = || -> Exception {
        TclError::with_code(
            format!(
                "unable to convert date-time string \"{s}\": syntax error (characters 0-{})",
                s.chars().count().saturating_sub(1)
            ),
            "CLOCK syntax",
        )
        .into()
    };
    for f in [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
        "%Y%m%dT%H%M%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%d",
        "%Y%m%d",
        "%m/%d/%Y",
        "%H:%M:%S",
        "%H:%M",
    ] {
        if let Ok(r) = scan_format(t, f, zone, base) {
            return Ok(r);
        }
    }
    Err(fail())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        for d in [-800_000, -1, 0, 1, 59, 60, 365, 11016, 19782, 2_000_000] {
            let (y, m, dd) = civil_from_days(d);
            assert_eq!(days_from_civil(y, m, dd), d);
        }
        assert_eq!(days_from_civil(2024, 13, 1), days_from_civil(2025, 1, 1));
    }

    #[test]
    fn gmt_formats() {
        let z = Zone::fixed(0, "GMT");
        assert_eq!(
            format_time(0, "%a %b %d %H:%M:%S %Z %Y", &z),
            "Thu Jan 01 00:00:00 GMT 1970"
        );
        assert_eq!(
            format_time(86399, "%j %e %k %l %p %u %w %y %z %D %T %c", &z),
            "001  1 23 11 PM 4 4 70 +0000 01/01/1970 23:59:59 Thu Jan  1 23:59:59 1970"
        );
        assert_eq!(format_time(1700000000, "%U %W %V %G", &z), "46 46 46 2023");
    }
}
