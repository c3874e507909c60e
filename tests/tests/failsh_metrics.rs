//! `failsh --metrics` and `faild --metrics`: scraped from a live loopback pair (real faild,
//! real failsh), the Prometheus text shows the states, the transitions and procedure runs that
//! led there, the poll round trips and the reachability of the other host, faild's stored
//! state, requests and authentication failures, follows a failover, and passes `promtool check
//! metrics`.

mod failsh_support;

use failsh_support::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

fn scrape(port: u16) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the metrics port");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .expect("request");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("answer");
    let (head, body) = answer.split_once("\r\n\r\n").expect("an HTTP answer");
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert!(head.contains("text/plain; version=0.0.4"), "{head}");
    body.to_string()
}

fn value(body: &str, sample: &str) -> Option<f64> {
    body.lines()
        .find_map(|line| line.strip_prefix(sample)?.strip_prefix(' ')?.parse().ok())
}

fn state_is(body: &str, state: &str) -> bool {
    value(
        body,
        &format!("failsh_service_state{{service=\"{SERVICE}\",state=\"{state}\"}}"),
    ) == Some(1.0)
}

fn promtool_check(body: &str) {
    let Ok(mut child) = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    else {
        failover_tests::skip("promtool is not installed (scripts/test.sh installs prometheus)");
        return;
    };
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(body.as_bytes())
        .expect("write to promtool");
    let output = child.wait_with_output().expect("promtool");
    assert!(
        output.status.success(),
        "promtool check metrics: {}{}\n--- the text:\n{body}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn metrics_of_a_live_pair_show_states_and_follow_a_failover() {
    let scratch = Scratch::new("metrics");
    let mut l = Host::new("lukretia", "127.0.0.1", &scratch.0, "blocking");
    let mut m = Host::new("macbeth", "127.0.0.2", &scratch.0, "blocking");
    let lf_port = free_port("127.0.0.1");
    l.start_faild_with(&["--metrics", &format!("127.0.0.1:{lf_port}")]);
    m.start_faild();
    for host in [&l, &m] {
        host.failc("FAIL");
        host.failc("RECOVER");
    }
    let l_config = l.write_config(&m, true, "");
    let m_config = m.write_config(&l, false, "");
    let l_port = free_port("127.0.0.1");
    let m_port = free_port("127.0.0.1");
    let l_address = format!("127.0.0.1:{l_port}");
    let m_address = format!("127.0.0.1:{m_port}");
    l.start_failsh(&l_config, &["--seed", "1", "--metrics", &l_address]);
    m.start_failsh(&m_config, &["--seed", "2", "--metrics", &m_address]);

    let mut l_body = String::new();
    let mut m_body = String::new();
    wait_until(
        "lukretia UP and macbeth RECOVER in the metrics",
        Duration::from_secs(10),
        || {
            l_body = TcpStream::connect(("127.0.0.1", l_port))
                .map(|_| scrape(l_port))
                .unwrap_or_default();
            m_body = TcpStream::connect(("127.0.0.1", m_port))
                .map(|_| scrape(m_port))
                .unwrap_or_default();
            state_is(&l_body, "UP")
                && state_is(&m_body, "RECOVER")
                && value(&l_body, "failsh_host_reachable{host=\"macbeth\"}") == Some(1.0)
        },
    );
    for (name, body) in [("lukretia", &l_body), ("macbeth", &m_body)] {
        for state in ["UP", "RECOVER", "FAIL", "UNKNOWN"] {
            let sample = format!("failsh_service_state{{service=\"{SERVICE}\",state=\"{state}\"}}");
            assert!(
                value(body, &sample).is_some(),
                "{name}: no {sample}\n{body}"
            );
        }
        assert!(
            value(body, "process_resident_memory_bytes").is_some_and(|b| b > 0.0),
            "{name}\n{body}"
        );
        promtool_check(body);
    }
    let transitions =
        format!("failsh_transitions_total{{service=\"{SERVICE}\",from=\"RECOVER\",to=\"UP\"}}");
    assert_eq!(value(&l_body, &transitions), Some(1.0), "{l_body}");
    let starts = format!(
        "failsh_procedure_runs_total{{service=\"{SERVICE}\",kind=\"start\",outcome=\"up\"}}"
    );
    assert_eq!(value(&l_body, &starts), Some(1.0), "{l_body}");
    let slave = format!(
        "failsh_peer_state{{service=\"{SERVICE}\",host=\"macbeth\",role=\"slave\",state=\"RECOVER\"}}"
    );
    assert_eq!(value(&l_body, &slave), Some(1.0), "{l_body}");
    assert!(
        value(&l_body, "failsh_poll_rtt_seconds_count{host=\"macbeth\"}").is_some_and(|n| n >= 1.0),
        "{l_body}"
    );
    assert!(
        value(
            &l_body,
            "failsh_poll_rtt_seconds_bucket{host=\"macbeth\",le=\"+Inf\"}"
        )
        .is_some_and(|n| n >= 1.0),
        "{l_body}"
    );

    // lukretia's faild: the state failsh stored, the requests that did it, a refused one.
    let refused = std::process::Command::new(program("failstat"))
        .args([
            "-H",
            l.ip,
            "-p",
            &l.port.to_string(),
            "-c",
            "wrong",
            "-T",
            SERVICE,
        ])
        .output()
        .expect("failstat");
    assert!(
        !refused.status.success(),
        "a wrong community must be refused"
    );
    let mut f_body = String::new();
    wait_until(
        "lukretia's faild shows UP and the refused request",
        Duration::from_secs(5),
        || {
            f_body = scrape(lf_port);
            value(
                &f_body,
                &format!("faild_service_state{{service=\"{SERVICE}\",state=\"UP\"}}"),
            ) == Some(1.0)
                && value(&f_body, "faild_auth_failures_total").is_some_and(|n| n >= 1.0)
        },
    );
    for state in ["RECOVER", "FAIL"] {
        let sample = format!("faild_service_state{{service=\"{SERVICE}\",state=\"{state}\"}}");
        assert_eq!(value(&f_body, &sample), Some(0.0), "{sample}\n{f_body}");
    }
    for sample in [
        "faild_requests_total{kind=\"query\"}",
        "faild_requests_total{kind=\"set\"}",
        "faild_state_file_writes_total{result=\"ok\"}",
        "faild_tcp_accepted_total",
        // Both failshs poll it and so subscribe; lukretia's UP was pushed to them.
        "faild_subscriptions",
        "faild_pushes_total",
    ] {
        assert!(
            value(&f_body, sample).is_some_and(|n| n >= 1.0),
            "{sample}\n{f_body}"
        );
    }
    let to_up =
        format!("faild_state_changes_total{{service=\"{SERVICE}\",from=\"RECOVER\",to=\"UP\"}}");
    assert_eq!(value(&f_body, &to_up), Some(1.0), "{f_body}");
    assert!(
        value(&f_body, "faild_loop_tick_age_seconds").is_some_and(|age| age < 3.0),
        "{f_body}"
    );
    assert!(
        value(&f_body, "process_open_fds").is_some_and(|n| n > 0.0),
        "{f_body}"
    );
    promtool_check(&f_body);

    // The master's faild and failsh die: macbeth's metrics show it unreachable, macbeth UP,
    // its own start counted.
    l.failsh.as_mut().expect("failsh").kill();
    l.faild.as_mut().expect("faild").kill();
    wait_until(
        "macbeth UP, lukretia unreachable in macbeth's metrics",
        Duration::from_secs(10),
        || {
            m_body = scrape(m_port);
            state_is(&m_body, "UP")
                && value(&m_body, "failsh_host_reachable{host=\"lukretia\"}") == Some(0.0)
        },
    );
    assert_eq!(value(&m_body, &starts), Some(1.0), "{m_body}");
    assert!(
        value(&m_body, "failsh_host_unreachable_total{host=\"lukretia\"}")
            .is_some_and(|n| n >= 1.0),
        "{m_body}"
    );
    // macbeth's own start changed its faild, which pushed it back to macbeth's failsh (it
    // polls its local faild too, and so subscribes there).
    let pushes: f64 = m_body
        .lines()
        .filter(|l| l.starts_with("failsh_pushes_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(pushes >= 1.0, "no push counted:\n{m_body}");
    promtool_check(&m_body);
}
