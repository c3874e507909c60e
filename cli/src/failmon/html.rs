//! The HTML page of `failmon -h` and `failmon.cgi`: one self-contained page (inline style, no
//! script, no external resource) with every text escaped, since service names, reasons and
//! events come from configurations and procedures.

use std::fmt::Write;

use crate::monitor::Snapshot;

use super::{human_interval, reachable_text, state_text, when};

/// Options of the page.
#[derive(Clone, Debug, Default)]
pub struct PageOptions {
    /// Reload the page every so many seconds (`failmon.cgi` sets it so a browser stays current).
    pub refresh_seconds: Option<u32>,
}

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

const STYLE: &str = "
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; background: #fafafa; }
h1 { font-size: 1.4em; margin-bottom: 0.2em; }
p.meta { color: #555; margin-top: 0; }
table { border-collapse: collapse; margin-bottom: 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.7em; text-align: left; vertical-align: top; }
th { background: #eee; }
td.state { font-weight: bold; }
.UP { background: #c8f0c8; }
.RECOVER { background: #fff1b8; }
.FAIL { background: #f8c4c4; }
.unknown { background: #e4e4e4; }
.reach-yes { color: #176117; }
.reach-no { color: #a11; font-weight: bold; }
ul.events { font-family: monospace; font-size: 0.9em; }
";

/// "2 UP, 1 FAIL": how many services are in each state (unknown last), or "no services".
fn state_counts(snapshot: &Snapshot) -> String {
    use failover_core::state::State;
    let count = |state: Option<State>| {
        snapshot
            .services
            .iter()
            .filter(|s| s.state == state)
            .count()
    };
    let parts: Vec<String> = [
        (Some(State::Up), "UP"),
        (Some(State::Recover), "RECOVER"),
        (Some(State::Fail), "FAIL"),
        (None, "unknown"),
    ]
    .into_iter()
    .map(|(state, name)| (count(state), name))
    .filter(|(n, _)| *n > 0)
    .map(|(n, name)| format!("{n} {name}"))
    .collect();
    if parts.is_empty() {
        "no services".to_string()
    } else {
        parts.join(", ")
    }
}

/// The whole page.
pub fn render(snapshot: &Snapshot, options: &PageOptions) -> String {
    let node = escape(&snapshot.node);
    let mut out = String::new();
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    if let Some(seconds) = options.refresh_seconds {
        let _ = writeln!(out, "<meta http-equiv=\"refresh\" content=\"{seconds}\">");
    }
    // The states in the title: a browser tab (or a script reading it) shows them without
    // opening the page.
    let _ = writeln!(
        out,
        "<title>failover: {node}: {}</title>",
        state_counts(snapshot)
    );
    let _ = writeln!(out, "<style>{STYLE}</style>\n</head>\n<body>");
    let _ = writeln!(out, "<h1>failsh on {node}</h1>");
    let _ = writeln!(
        out,
        "<p class=\"meta\">Snapshot of {} &middot; failsh up {}</p>",
        crate::logging::utc_timestamp_ms(snapshot.unix_ms),
        super::human_duration(snapshot.uptime_ms)
    );

    let _ = writeln!(out, "<h2>Services</h2>");
    let _ = writeln!(out, "<table id=\"services\">");
    let _ = writeln!(
        out,
        "<tr><th>Service</th><th>State</th><th>Masters</th><th>Slaves</th><th>Interval</th>\
         <th>Last change</th><th>Reason</th><th>Decision</th></tr>"
    );
    for service in &snapshot.services {
        let state = state_text(service.state);
        let running = service
            .procedure
            .map(|kind| format!(" <em>({} running)</em>", kind.as_str()))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "<tr class=\"service\" data-service=\"{name}\" data-state=\"{state}\">\
             <td class=\"name\">{name}</td><td class=\"state {state}\">{state}{running}</td>\
             <td>{masters}</td><td>{slaves}</td><td>{interval}</td><td>{change}</td>\
             <td>{reason}</td><td>{decision}</td></tr>",
            name = escape(&service.name),
            masters = peers(&service.masters),
            slaves = peers(&service.slaves),
            interval = escape(&human_interval(service.interval_ms)),
            change = escape(&when(snapshot, service.last_change)),
            reason = escape(&service.reason),
            decision = escape(&service.decision),
        );
    }
    if snapshot.services.is_empty() {
        let _ = writeln!(
            out,
            "<tr><td colspan=\"8\">No services configured.</td></tr>"
        );
    }
    let _ = writeln!(out, "</table>");

    if !snapshot.quorum.is_empty() {
        let _ = writeln!(out, "<h2>Quorum</h2>");
        let _ = writeln!(out, "<table id=\"quorum\">");
        let _ = writeln!(out, "<tr><th>Service</th><th>Members in contact</th></tr>");
        for quorum in &snapshot.quorum {
            let _ = writeln!(
                out,
                "<tr class=\"quorum\" data-majority=\"{}\"><td>{}</td><td>{}</td></tr>",
                quorum.majority,
                escape(&quorum.service),
                escape(&super::text::quorum_text(quorum))
            );
        }
        let _ = writeln!(out, "</table>");
    }

    let _ = writeln!(out, "<h2>Hosts</h2>");
    let _ = writeln!(out, "<table id=\"hosts\">");
    let _ = writeln!(
        out,
        "<tr><th>Host</th><th>Protocol</th><th>Reachable</th><th>Last contact</th></tr>"
    );
    for host in &snapshot.hosts {
        let reachable = reachable_text(host.reachable);
        let protocol = match host.protocol {
            failover_core::shell::Protocol::Tcp => "tcp",
            failover_core::shell::Protocol::Udp => "udp",
        };
        let _ = writeln!(
            out,
            "<tr class=\"host\"><td>{}</td><td>{protocol}</td>\
             <td class=\"reach-{reachable}\">{reachable}</td><td>{}</td></tr>",
            escape(&host.name),
            escape(&when(snapshot, host.last_contact)),
        );
    }
    let _ = writeln!(out, "</table>");

    if !snapshot.recent_events.is_empty() {
        let _ = writeln!(out, "<h2>Recent events</h2>\n<ul class=\"events\">");
        for event in &snapshot.recent_events {
            let _ = writeln!(
                out,
                "<li><time datetime=\"{}\">{}</time> {}</li>",
                crate::logging::utc_timestamp_ms(event.wall_unix_ms),
                escape(&super::event_time(snapshot, event)),
                escape(&event.text)
            );
        }
        let _ = writeln!(out, "</ul>");
    }
    out.push_str("</body>\n</html>\n");
    out
}

fn peers(peers: &[(String, failover_core::state::State)]) -> String {
    if peers.is_empty() {
        return "&ndash;".to_string();
    }
    peers
        .iter()
        .map(|(name, state)| {
            format!(
                "{} <span class=\"{state}\">{state}</span>",
                escape(name),
                state = state.as_str()
            )
        })
        .collect::<Vec<_>>()
        .join("<br>")
}

/// An error page for `failmon.cgi`, so a browser shows why instead of a blank page.
pub fn error_page(what: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>failover: monitor unavailable</title>\n</head>\n<body>\n\
         <h1>Monitor unavailable</h1>\n<p>{}</p>\n</body>\n</html>\n",
        escape(what)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::failmon::sample;

    #[test]
    fn every_text_is_escaped() {
        let page = render(&sample::snapshot(), &PageOptions::default());
        assert!(!page.contains("<script>"), "{page}");
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(page.contains("waiting for the first poll &amp; &quot;its&quot; answer"));
        assert_eq!(
            escape("a<b>&\"c'"),
            "a&lt;b&gt;&amp;&quot;c&#39;",
            "the five HTML specials"
        );
    }

    #[test]
    fn the_page_lists_every_service_with_its_state_and_every_host() {
        let page = render(
            &sample::snapshot(),
            &PageOptions {
                refresh_seconds: Some(5),
            },
        );
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert!(page.contains("<meta http-equiv=\"refresh\" content=\"5\">"));
        assert!(page.contains("<td class=\"name\">198.18.0.50</td><td class=\"state UP\">UP</td>"));
        assert!(page.contains("<td class=\"state unknown\">unknown <em>(start running)</em>"));
        assert!(page.contains("macbeth <span class=\"RECOVER\">RECOVER</span>"));
        assert!(page.contains("<td class=\"reach-no\">no</td>"));
        assert!(page.ends_with("</html>\n"));
    }
}
