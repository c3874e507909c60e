//! The one argument parser of the `grarp` program and of failsh's Tcl `grarp` command.

use std::net::IpAddr;
use std::time::Duration;

use crate::{check_interface_name, BurstOptions, Error, Form, MAX_COUNT, MAX_INTERVAL};

/// The synopsis, shared by `grarp --help` and Tcl's "wrong # args" style messages.
pub const USAGE: &str =
    "grarp [-b] [-c count] [-i interval_ms] [--request|--reply|--both] INTERFACE ADDRESS";

/// A parsed, validated `grarp` invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrarpArgs {
    /// The interface to send on.
    pub interface: String,
    /// The address to announce (IPv4: ARP; IPv6: neighbour advertisement).
    pub address: IpAddr,
    /// Count, interval and form.
    pub options: BurstOptions,
    /// `-b`: the first round now, the others in the background, each only while ADDRESS is
    /// still configured on this host (the caller returns after the first round).
    pub background: bool,
}

/// What the arguments ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrarpCommand {
    /// Send a burst.
    Run(GrarpArgs),
    /// `-h` / `--help`: print the help text.
    Help,
    /// `-V` / `--version`: print the version.
    Version,
}

fn usage(msg: impl Into<String>) -> Error {
    Error::Usage(msg.into())
}

fn parse_count(v: &str) -> Result<u32, Error> {
    let n: u32 = v
        .parse()
        .map_err(|_| usage(format!("count must be a whole number, not {v:?}")))?;
    if n == 0 || n > MAX_COUNT {
        return Err(usage(format!(
            "count must be between 1 and {MAX_COUNT}, not {n}"
        )));
    }
    Ok(n)
}

fn parse_interval(v: &str) -> Result<Duration, Error> {
    let ms: u64 = v.parse().map_err(|_| {
        usage(format!(
            "interval must be a whole number of milliseconds, not {v:?}"
        ))
    })?;
    let d = Duration::from_millis(ms);
    if d > MAX_INTERVAL {
        return Err(usage(format!(
            "interval must be at most {} ms, not {ms} ms",
            MAX_INTERVAL.as_millis()
        )));
    }
    Ok(d)
}

/// Parses `grarp` arguments (those after the program or command name).
///
/// Syntax: `[-c count] [-i interval_ms] [--request|--reply|--both] INTERFACE ADDRESS`, also
/// `-cN`, `--count N`, `--count=N`, `-iMS`, `--interval MS`, `--interval=MS`, `--` to end the
/// options, `-h`/`--help` and `-V`/`--version`. Only one of `--request`, `--reply`, `--both`
/// may be given. The result is validated: count 1..=[`MAX_COUNT`], interval at most
/// [`MAX_INTERVAL`], a valid interface name, an address that can be announced, and no ARP form
/// with an IPv6 address. Errors carry [`Error::exit_code`] 2 (usage) or 3 (bad interface name).
pub fn parse_grarp_args<S: AsRef<str>>(args: &[S]) -> Result<GrarpCommand, Error> {
    let mut options = BurstOptions::default();
    let mut background = false;
    let mut form: Option<(Form, &str)> = None;
    let mut positional: Vec<&str> = Vec::new();
    let mut i = 0;
    let mut only_positional = false;
    while i < args.len() {
        let a = args[i].as_ref();
        i += 1;
        if only_positional || !a.starts_with('-') || a == "-" {
            positional.push(a);
            continue;
        }
        // A value for -c/-i: attached (-c3, --count=3) or the next argument.
        let mut value = |attached: Option<&'_ str>, name: &str| -> Result<String, Error> {
            if let Some(v) = attached {
                return Ok(v.to_string());
            }
            let v = args
                .get(i)
                .ok_or_else(|| usage(format!("option {name} needs a value")))?;
            i += 1;
            Ok(v.as_ref().to_string())
        };
        let (name, attached) = match a.split_once('=') {
            Some((n, v)) if a.starts_with("--") => (n, Some(v)),
            _ => (a, None),
        };
        let new_form = match name {
            "--" => {
                only_positional = true;
                continue;
            }
            "-h" | "--help" => return Ok(GrarpCommand::Help),
            "-b" | "--background" if attached.is_none() => {
                background = true;
                continue;
            }
            "-V" | "--version" => return Ok(GrarpCommand::Version),
            "--count" => {
                options.count = parse_count(&value(attached, "--count")?)?;
                continue;
            }
            "--interval" => {
                options.interval = parse_interval(&value(attached, "--interval")?)?;
                continue;
            }
            "--request" => Form::Request,
            "--reply" => Form::Reply,
            "--both" => Form::Both,
            _ if name.starts_with("-c") && !name.starts_with("--") => {
                let att = if name.len() > 2 {
                    Some(&name[2..])
                } else {
                    None
                };
                options.count = parse_count(&value(att, "-c")?)?;
                continue;
            }
            _ if name.starts_with("-i") && !name.starts_with("--") => {
                let att = if name.len() > 2 {
                    Some(&name[2..])
                } else {
                    None
                };
                options.interval = parse_interval(&value(att, "-i")?)?;
                continue;
            }
            _ => return Err(usage(format!("unknown option {a:?}"))),
        };
        if attached.is_some() {
            return Err(usage(format!("option {name} takes no value")));
        }
        if let Some((old, old_name)) = form {
            if old != new_form {
                return Err(usage(format!("{old_name} and {name} exclude each other")));
            }
        }
        form = Some((new_form, name));
    }
    let (interface, address) = match positional.as_slice() {
        [iface, addr] => (*iface, *addr),
        [] | [_] => return Err(usage("missing INTERFACE and ADDRESS")),
        more => {
            return Err(usage(format!(
                "too many arguments: expected INTERFACE ADDRESS, got {}",
                more.len()
            )))
        }
    };
    check_interface_name(interface)?;
    let address: IpAddr = address.parse().map_err(|_| {
        usage(format!(
            "{address:?} is not an IPv4 or IPv6 address (no names, no prefix length)"
        ))
    })?;
    if let Some((f, _)) = form {
        options.form = f;
    }
    options.validate(address)?;
    Ok(GrarpCommand::Run(GrarpArgs {
        interface: interface.to_string(),
        address,
        options,
        background,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EXIT_UNKNOWN_INTERFACE, EXIT_USAGE};

    fn run(args: &[&str]) -> Result<GrarpArgs, Error> {
        match parse_grarp_args(args)? {
            GrarpCommand::Run(a) => Ok(a),
            other => panic!("expected Run, got {other:?}"),
        }
    }

    #[test]
    fn defaults() {
        let a = run(&["eth0", "198.18.0.50"]).unwrap();
        assert_eq!(a.interface, "eth0");
        assert_eq!(a.address, "198.18.0.50".parse::<IpAddr>().unwrap());
        assert_eq!(a.options, BurstOptions::default());
        assert!(!a.background);
    }

    #[test]
    fn background() {
        for args in [
            &["-b", "-c", "3", "eth0", "198.18.0.50"][..],
            &["--background", "-c3", "eth0", "198.18.0.50"][..],
            &["-c", "3", "eth0", "-b", "198.18.0.50"][..],
        ] {
            let a = run(args).unwrap();
            assert!(a.background, "{args:?}");
            assert_eq!(a.options.count, 3);
        }
        assert!(run(&["--background=1", "eth0", "198.18.0.50"]).is_err());
    }

    #[test]
    fn all_spellings() {
        for args in [
            &["-c", "5", "-i", "10", "--reply", "eth0", "198.18.0.50"][..],
            &["-c5", "-i10", "--reply", "eth0", "198.18.0.50"],
            &[
                "--count",
                "5",
                "--interval",
                "10",
                "--reply",
                "eth0",
                "198.18.0.50",
            ],
            &[
                "--count=5",
                "--interval=10",
                "eth0",
                "--reply",
                "198.18.0.50",
            ],
            &[
                "--reply",
                "--reply",
                "-c",
                "5",
                "-i",
                "10",
                "--",
                "eth0",
                "198.18.0.50",
            ],
        ] {
            let a = run(args).unwrap();
            assert_eq!(a.options.count, 5, "{args:?}");
            assert_eq!(a.options.interval, Duration::from_millis(10), "{args:?}");
            assert_eq!(a.options.form, Form::Reply, "{args:?}");
        }
        assert_eq!(
            run(&["--request", "e", "198.18.0.1"]).unwrap().options.form,
            Form::Request
        );
        assert_eq!(
            run(&["--both", "e", "198.18.0.1"]).unwrap().options.form,
            Form::Both
        );
        assert_eq!(
            run(&["-i", "0", "e", "198.18.0.1"])
                .unwrap()
                .options
                .interval,
            Duration::ZERO
        );
        let v6 = run(&["-c", "2", "eth0", "2001:db8::50"]).unwrap();
        assert!(v6.address.is_ipv6());
        assert_eq!(
            run(&["--both", "eth0", "2001:db8::50"])
                .unwrap()
                .options
                .form,
            Form::Both
        );
    }

    #[test]
    fn help_and_version() {
        assert_eq!(parse_grarp_args(&["-h"]).unwrap(), GrarpCommand::Help);
        assert_eq!(
            parse_grarp_args(&["eth0", "--help"]).unwrap(),
            GrarpCommand::Help
        );
        assert_eq!(parse_grarp_args(&["-V"]).unwrap(), GrarpCommand::Version);
        assert_eq!(
            parse_grarp_args(&["--version"]).unwrap(),
            GrarpCommand::Version
        );
    }

    #[test]
    fn usage_errors() {
        let cases: &[(&[&str], &str)] = &[
            (&[], "missing"),
            (&["eth0"], "missing"),
            (&["eth0", "198.18.0.1", "x"], "too many"),
            (&["-c"], "needs a value"),
            (&["-c", "0", "e", "198.18.0.1"], "between 1 and 100"),
            (&["-c", "101", "e", "198.18.0.1"], "between 1 and 100"),
            (&["-c", "-1", "e", "198.18.0.1"], "whole number"),
            (&["-c", "x", "e", "198.18.0.1"], "whole number"),
            (&["-i", "10001", "e", "198.18.0.1"], "at most 10000 ms"),
            (&["-i", "1.5", "e", "198.18.0.1"], "milliseconds"),
            (&["-x", "e", "198.18.0.1"], "unknown option"),
            (
                &["--request", "--reply", "e", "198.18.0.1"],
                "exclude each other",
            ),
            (&["--reply=1", "e", "198.18.0.1"], "takes no value"),
            (&["e", "lukretia"], "not an IPv4 or IPv6 address"),
            (&["e", "198.18.0.1/24"], "not an IPv4 or IPv6 address"),
            (&["e", "0.0.0.0"], "unspecified"),
            (&["e", "255.255.255.255"], "broadcast"),
            (&["e", "224.0.0.1"], "multicast"),
            (&["e", "127.0.0.1"], "loopback"),
            (&["e", "::"], "unspecified"),
            (&["e", "::1"], "loopback"),
            (&["e", "ff02::1"], "multicast"),
        ];
        for (args, want) in cases {
            let e = run(args).unwrap_err();
            assert_eq!(e.exit_code(), EXIT_USAGE, "{args:?}: {e}");
            assert!(
                e.to_string().contains(want),
                "{args:?}: {e} (want {want:?})"
            );
        }
    }

    #[test]
    fn family_mismatch() {
        for args in [
            &["--request", "eth0", "2001:db8::50"][..],
            &["--reply", "eth0", "2001:db8::50"],
            &["eth0", "::ffff:198.18.0.50"],
        ] {
            let e = run(args).unwrap_err();
            assert!(matches!(e, Error::FamilyMismatch(_)), "{args:?}: {e}");
            assert_eq!(e.exit_code(), EXIT_USAGE);
            assert!(e.to_string().starts_with("address family mismatch"), "{e}");
        }
    }

    #[test]
    fn bad_interface_names() {
        for name in ["eth0:1", "a/b", "0123456789abcdefg"] {
            let e = run(&[name, "198.18.0.1"]).unwrap_err();
            assert_eq!(e.exit_code(), EXIT_UNKNOWN_INTERFACE, "{name}: {e}");
        }
    }

    #[test]
    fn accepts_owned_strings() {
        let owned: Vec<String> = vec!["-c".into(), "1".into(), "eth0".into(), "198.18.0.9".into()];
        let a = run_owned(&owned);
        assert_eq!(a.options.count, 1);
    }

    fn run_owned(args: &[String]) -> GrarpArgs {
        match parse_grarp_args(args).unwrap() {
            GrarpCommand::Run(a) => a,
            other => panic!("{other:?}"),
        }
    }
}
