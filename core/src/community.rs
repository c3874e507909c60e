//! Communities: who may read or change which service, from where.
//!
//! One entry a line: `service|* community RO|RW [address/prefix ...]`, `#` starts a comment.
//! For a service, the lines naming it exactly shadow all `*` lines (the most specific entry
//! wins); among the lines that apply, those whose community matches and whose networks (if
//! any) contain the client's address are considered, and the strongest access among them is
//! granted. So `* public RW 127.0.0.1/32` next to `* public RO` lets local init scripts set
//! states while every other host may only read them.

use core::net::IpAddr;
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    ReadOnly,
    ReadWrite,
}

/// An address prefix such as `127.0.0.1/32` or `2001:db8::/32`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Network {
    pub address: IpAddr,
    pub prefix_len: u8,
}

impl Network {
    pub fn parse(text: &str) -> Result<Network, String> {
        let (address_text, prefix_text) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let address: IpAddr = address_text
            .parse()
            .map_err(|_| format!("\"{text}\" is not an address/prefix"))?;
        let max = if address.is_ipv4() { 32 } else { 128 };
        // An address without a prefix is one host (/32, /128).
        let prefix_len = match prefix_text {
            None => max,
            Some(p) => match p.parse::<u8>() {
                Ok(n) if n <= max => n,
                _ => return Err(format!("\"{text}\": prefix must be 0 to {max}")),
            },
        };
        let network = Network {
            address,
            prefix_len,
        };
        // `127.0.0.1/8` is almost always a typo for one of two things; say which.
        let base = network.base();
        if base != address {
            return Err(format!(
                "\"{text}\" has host bits set: write {base}/{prefix_len} for the network, or {address} for the one host"
            ));
        }
        Ok(network)
    }

    /// The network's own address: `address` with the host bits cleared.
    fn base(&self) -> IpAddr {
        match self.address {
            IpAddr::V4(a) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix_len))
                    .unwrap_or(0);
                IpAddr::V4((u32::from(a) & mask).into())
            }
            IpAddr::V6(a) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix_len))
                    .unwrap_or(0);
                IpAddr::V6((u128::from(a) & mask).into())
            }
        }
    }

    pub fn contains(&self, candidate: IpAddr) -> bool {
        // An IPv4 client reaching an IPv6 socket shows up as ::ffff:a.b.c.d.
        let candidate = match candidate {
            IpAddr::V6(v6) => v6
                .to_ipv4_mapped()
                .map(IpAddr::V4)
                .unwrap_or(IpAddr::V6(v6)),
            v4 => v4,
        };
        match (self.address, candidate) {
            (IpAddr::V4(net), IpAddr::V4(addr)) => {
                prefix_eq(&net.octets(), &addr.octets(), self.prefix_len)
            }
            (IpAddr::V6(net), IpAddr::V6(addr)) => {
                prefix_eq(&net.octets(), &addr.octets(), self.prefix_len)
            }
            _ => false,
        }
    }
}

fn prefix_eq(a: &[u8], b: &[u8], prefix_len: u8) -> bool {
    let full = usize::from(prefix_len / 8);
    let rest = prefix_len % 8;
    if a[..full] != b[..full] {
        return false;
    }
    if rest == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rest);
    a[full] & mask == b[full] & mask
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix_len)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommunityEntry {
    /// `None` for `*`.
    pub service: Option<String>,
    pub community: String,
    pub access: Access,
    /// Empty: accepted from anywhere.
    pub networks: Vec<Network>,
    /// 1-based line in the file it came from, for log messages.
    pub line: usize,
}

/// A parse error naming the line and what was expected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommunityError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for CommunityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for CommunityError {}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Communities {
    entries: Vec<CommunityEntry>,
}

impl Communities {
    /// Without a community file faild serves `public` read-only to everyone and lets nobody
    /// write, which is safe and enough for monitoring.
    pub fn default_public_read_only() -> Communities {
        Communities {
            entries: vec![CommunityEntry {
                service: None,
                community: "public".to_string(),
                access: Access::ReadOnly,
                networks: Vec::new(),
                line: 0,
            }],
        }
    }

    pub fn parse(text: &str) -> Result<Communities, CommunityError> {
        let mut entries = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let content = raw.split('#').next().unwrap_or("");
            let words: Vec<&str> = content.split_whitespace().collect();
            if words.is_empty() {
                continue;
            }
            let error = |message: String| CommunityError { line, message };
            if words.len() < 3 {
                return Err(error(format!(
                    "expected \"service|* community RO|RW [address/prefix ...]\", found \"{}\"",
                    content.trim()
                )));
            }
            let service = match words[0] {
                "*" => None,
                name if name.len() > crate::wire::MAX_NAME_BYTES => {
                    return Err(error(format!(
                        "service name \"{name}\" is longer than 255 bytes"
                    )))
                }
                name => Some(name.to_string()),
            };
            let access = match words[2] {
                w if w.eq_ignore_ascii_case("RO") => Access::ReadOnly,
                w if w.eq_ignore_ascii_case("RW") => Access::ReadWrite,
                other => {
                    return Err(error(format!(
                        "expected RO or RW as the third word, found \"{other}\""
                    )))
                }
            };
            let networks = words[3..]
                .iter()
                .map(|w| Network::parse(w).map_err(&error))
                .collect::<Result<Vec<_>, _>>()?;
            entries.push(CommunityEntry {
                service,
                community: words[1].to_string(),
                access,
                networks,
                line,
            });
        }
        Ok(Communities { entries })
    }

    pub fn entries(&self) -> &[CommunityEntry] {
        &self.entries
    }

    /// The distinct community strings, in file order: a request is tried against each, since
    /// the community itself never travels.
    pub fn secrets(&self) -> Vec<&str> {
        let mut seen: Vec<&str> = Vec::new();
        for entry in &self.entries {
            if !seen.contains(&entry.community.as_str()) {
                seen.push(&entry.community);
            }
        }
        seen
    }

    /// The access `community` has to `service` from `from`, if any.
    pub fn access(&self, service: &str, community: &str, from: IpAddr) -> Option<Access> {
        let specific = self
            .entries
            .iter()
            .any(|e| e.service.as_deref() == Some(service));
        self.entries
            .iter()
            .filter(|e| {
                if specific {
                    e.service.as_deref() == Some(service)
                } else {
                    e.service.is_none()
                }
            })
            .filter(|e| e.community == community)
            .filter(|e| e.networks.is_empty() || e.networks.iter().any(|n| n.contains(from)))
            .map(|e| e.access)
            .max()
    }

    /// Whether `community` may list all services from `from` (read access through a `*` line).
    pub fn may_list(&self, community: &str, from: IpAddr) -> bool {
        self.entries.iter().any(|e| {
            e.service.is_none()
                && e.community == community
                && (e.networks.is_empty() || e.networks.iter().any(|n| n.contains(from)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn seed_style_local_write_and_remote_read() {
        let c = Communities::parse(
            "# seed: init scripts set states with -c public from the host itself\n\
             * public RW 127.0.0.1/32\n\
             * public RO\n\
             * genesis RW\n",
        )
        .unwrap();
        assert_eq!(
            c.access("198.18.0.50", "public", ip("127.0.0.1")),
            Some(Access::ReadWrite)
        );
        assert_eq!(
            c.access("198.18.0.50", "public", ip("127.0.0.2")),
            Some(Access::ReadOnly)
        );
        assert_eq!(
            c.access("198.18.0.50", "genesis", ip("198.18.0.9")),
            Some(Access::ReadWrite)
        );
        assert_eq!(c.access("198.18.0.50", "wrong", ip("127.0.0.1")), None);
        assert_eq!(c.secrets(), vec!["public", "genesis"]);
    }

    #[test]
    fn most_specific_service_entry_wins() {
        let c = Communities::parse("vip secret RW\n* public RW\n").unwrap();
        assert_eq!(
            c.access("vip", "secret", ip("127.0.0.1")),
            Some(Access::ReadWrite)
        );
        assert_eq!(c.access("vip", "public", ip("127.0.0.1")), None);
        assert_eq!(
            c.access("other", "public", ip("127.0.0.1")),
            Some(Access::ReadWrite)
        );
        assert_eq!(c.access("other", "secret", ip("127.0.0.1")), None);
    }

    #[test]
    fn networks_limit_where_a_community_is_accepted() {
        let c = Communities::parse("* ops RW 198.18.0.0/24 2001:db8::/32\n").unwrap();
        assert!(c.access("s", "ops", ip("198.18.0.77")).is_some());
        assert!(c.access("s", "ops", ip("198.18.1.1")).is_none());
        assert!(c.access("s", "ops", ip("2001:db8::5")).is_some());
        assert!(c.access("s", "ops", ip("::ffff:198.18.0.3")).is_some());
        let odd = Network::parse("198.18.0.0/23").unwrap();
        assert!(odd.contains(ip("198.18.1.200")));
        assert!(!odd.contains(ip("198.18.2.0")));
    }

    #[test]
    fn errors_name_the_line_and_what_was_expected() {
        let err = Communities::parse("# comment\n\n* public RX\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "line 3: expected RO or RW as the third word, found \"RX\""
        );
        let err = Communities::parse("* public\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "line 1: expected \"service|* community RO|RW [address/prefix ...]\", found \"* public\""
        );
        let err = Communities::parse("* public RO 127.0.0.1/33\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "line 1: \"127.0.0.1/33\": prefix must be 0 to 32"
        );
        let err = Communities::parse("* public RO nonsense\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "line 1: \"nonsense\" is not an address/prefix"
        );
    }

    #[test]
    fn a_network_with_host_bits_set_is_an_error_naming_the_line_and_both_fixes() {
        let error = Communities::parse("* public RO\n* private RW 127.0.0.1/8\n").unwrap_err();
        assert_eq!(error.line, 2);
        assert_eq!(
            error.message,
            "\"127.0.0.1/8\" has host bits set: write 127.0.0.0/8 for the network, or 127.0.0.1 for the one host"
        );
        let error = Communities::parse("* private RW 2001:db8::1/64\n").unwrap_err();
        assert!(
            error.message.contains("write 2001:db8::/64"),
            "{}",
            error.message
        );
        // The network itself, the whole space and one host are fine.
        for good in [
            "127.0.0.0/8",
            "0.0.0.0/0",
            "198.18.0.7/32",
            "::/0",
            "2001:db8::/32",
        ] {
            assert!(
                Communities::parse(&format!("* c RO {good}\n")).is_ok(),
                "{good}"
            );
        }
    }

    #[test]
    fn an_address_without_a_prefix_is_one_host() {
        let c = Communities::parse("* private RW 198.18.0.1\n").unwrap();
        let from = |a: &str| a.parse::<IpAddr>().unwrap();
        assert_eq!(
            c.access("s", "private", from("198.18.0.1")),
            Some(Access::ReadWrite)
        );
        assert_eq!(c.access("s", "private", from("198.18.0.2")), None);
    }

    #[test]
    fn crlf_line_endings_are_read_like_newlines() {
        let crlf = "* public RO\r\n* private RW 127.0.0.0/8\r\n";
        let lf = crlf.replace("\r\n", "\n");
        assert_eq!(
            Communities::parse(crlf).unwrap(),
            Communities::parse(&lf).unwrap()
        );
    }
}
