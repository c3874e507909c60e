//! `failsim replay TRACE --timeline FILE.svg` on a trace failsh recorded on loopback
//! (tests/traces/lukretia-loopback.jsonl, a run of scripts/screenshots.sh: lukretia UP,
//! set FAIL by the operator, RECOVER, UP again by the handshake, macbeth killed and restarted,
//! SIGTERM): the SVG is well-formed XML, names the host, draws the states it passed through in
//! order, its procedures as bars, macbeth as lukretia saw it (including while it did not
//! answer) and the SIGTERM.

use std::path::{Path, PathBuf};
use std::process::Command;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/traces/lukretia-loopback.jsonl")
}

fn out_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/test-output/trace-timeline")
        .join(std::process::id().to_string());
    std::fs::create_dir_all(&dir).expect("output directory");
    dir
}

fn failsim(args: &[&str]) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_failsim"))
        .args(args)
        .output()
        .expect("failsim runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// An element of the little XML reader below.
#[derive(Debug, Default)]
struct Element {
    name: String,
    attributes: Vec<(String, String)>,
    children: Vec<Element>,
    text: String,
}

impl Element {
    fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn title(&self) -> String {
        self.children
            .iter()
            .find(|c| c.name == "title")
            .map(|t| t.text.clone())
            .unwrap_or_default()
    }

    fn walk<'a>(&'a self, out: &mut Vec<&'a Element>) {
        out.push(self);
        for child in &self.children {
            child.walk(out);
        }
    }
}

fn unescape(text: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let end = rest[at..]
            .find(';')
            .ok_or_else(|| format!("unterminated entity in {text:?}"))?;
        out.push_str(match &rest[at..at + end + 1] {
            "&amp;" => "&",
            "&lt;" => "<",
            "&gt;" => ">",
            "&quot;" => "\"",
            "&apos;" => "'",
            other => return Err(format!("unknown entity {other}")),
        });
        rest = &rest[at + end + 1..];
    }
    out.push_str(rest);
    if out.contains('<') && !text.contains("&lt;") {
        return Err(format!("a bare < in {text:?}"));
    }
    Ok(out)
}

/// A strict reader for the XML subset the SVG uses (elements, double-quoted attributes, text,
/// the five entities; no comments, CDATA, or declarations): an error for anything not
/// well-formed (unbalanced or crossed tags, unquoted or repeated attributes, a bare `&` or
/// `<`, text outside the root, two roots).
fn parse_xml(text: &str) -> Result<Element, String> {
    let mut stack: Vec<Element> = vec![Element::default()];
    let mut rest = text;
    while !rest.is_empty() {
        let Some(open) = rest.find('<') else {
            stack.last_mut().expect("open").text += &unescape(rest)?;
            break;
        };
        let before = &rest[..open];
        if stack.len() == 1 && !before.trim().is_empty() {
            return Err(format!("text outside the root: {before:?}"));
        }
        stack.last_mut().expect("open").text += &unescape(before)?;
        let close = rest[open..].find('>').ok_or("an unterminated tag")? + open;
        let tag = &rest[open + 1..close];
        rest = &rest[close + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            let element = stack.pop().ok_or("a close tag with nothing open")?;
            if element.name != name.trim() || stack.is_empty() {
                return Err(format!("</{name}> closes <{}>", element.name));
            }
            stack.last_mut().expect("parent").children.push(element);
            continue;
        }
        let (body, empty) = match tag.strip_suffix('/') {
            Some(body) => (body, true),
            None => (tag, false),
        };
        let name_end = body.find(char::is_whitespace).unwrap_or(body.len());
        let name = &body[..name_end];
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == ':') {
            return Err(format!("a bad element name in <{tag}>"));
        }
        let mut element = Element {
            name: name.to_string(),
            ..Element::default()
        };
        let mut attrs = body[name_end..].trim_start();
        while !attrs.is_empty() {
            let eq = attrs
                .find('=')
                .ok_or(format!("an attribute without = in <{tag}>"))?;
            let attr = attrs[..eq].trim();
            if attr.is_empty() || attr.contains(char::is_whitespace) {
                return Err(format!("a bad attribute in <{tag}>"));
            }
            let value = attrs[eq + 1..]
                .strip_prefix('"')
                .ok_or(format!("an unquoted attribute {attr} in <{tag}>"))?;
            let end = value.find('"').ok_or(format!("an unterminated {attr}"))?;
            if element.attribute(attr).is_some() {
                return Err(format!("{attr} twice in <{tag}>"));
            }
            element
                .attributes
                .push((attr.to_string(), unescape(&value[..end])?));
            let after = &value[end + 1..];
            if !after.is_empty() && !after.starts_with(char::is_whitespace) {
                return Err(format!("no space after {attr} in <{tag}>"));
            }
            attrs = after.trim_start();
        }
        if stack.len() == 1 && !stack[0].children.is_empty() {
            return Err("a second root element".to_string());
        }
        if empty {
            stack.last_mut().expect("parent").children.push(element);
        } else {
            stack.push(element);
        }
    }
    let mut document = stack.pop().ok_or("nothing")?;
    if !stack.is_empty() {
        return Err(format!("<{}> is never closed", document.name));
    }
    if document.children.len() != 1 {
        return Err(format!("{} root elements", document.children.len()));
    }
    Ok(document.children.remove(0))
}

#[test]
fn the_little_xml_reader_refuses_what_is_not_well_formed() {
    assert!(parse_xml(r#"<a x="1"><b/>t &amp; u</a>"#).is_ok());
    for bad in [
        "<a><b></a></b>",
        "<a>",
        "<a x=1/>",
        r#"<a x="1" x="2"/>"#,
        "<a>&</a>",
        "<a/><b/>",
        "text<a/>",
    ] {
        assert!(parse_xml(bad).is_err(), "accepted {bad}");
    }
}

#[test]
fn a_recorded_trace_replays_into_a_well_formed_timeline() {
    let trace = fixture();
    let dir = out_dir();
    let svg_path = dir.join("lukretia.svg");
    let (ok, text) = failsim(&[
        "replay",
        &trace.display().to_string(),
        "--timeline",
        &svg_path.display().to_string(),
        "--host",
        "lukretia",
    ]);
    assert!(ok, "failsim replay --timeline: {text}");
    assert!(text.contains("no difference"), "{text}");
    assert!(text.contains("timeline drawn in"), "{text}");
    let svg = std::fs::read_to_string(&svg_path).expect("the SVG is written");
    let root = parse_xml(&svg).unwrap_or_else(|e| panic!("not well-formed: {e}\n{svg}"));
    assert_eq!(root.name, "svg");
    assert_eq!(root.attribute("xmlns"), Some("http://www.w3.org/2000/svg"));
    let mut all = Vec::new();
    root.walk(&mut all);

    // The lanes: lukretia (named by --host), then macbeth as lukretia saw it.
    let labels: Vec<&str> = all
        .iter()
        .filter(|e| e.name == "text" && e.attribute("x") == Some("4"))
        .map(|e| e.text.as_str())
        .collect();
    assert!(
        labels[0].starts_with("lukretia: lukretia-loopback.jsonl"),
        "{labels:?}"
    );
    assert_eq!(&labels[2..], ["lukretia", "macbeth (seen)"], "{labels:?}");

    // lukretia's states, in order, each band titled with the state and why.
    let lane_y = |index: usize| format!("{:.1}", 56.0 + 46.0 * index as f64);
    let bands = |index: usize| -> Vec<String> {
        all.iter()
            .filter(|e| {
                e.attribute("class") == Some("state") && e.attribute("y") == Some(&lane_y(index))
            })
            .map(|e| e.title())
            .collect()
    };
    let lukretia = bands(0);
    let states: Vec<&str> = lukretia
        .iter()
        .map(|t| t.split(':').next().unwrap_or(""))
        .collect();
    assert_eq!(
        states,
        ["unknown", "RECOVER", "UP", "FAIL", "RECOVER", "UP", "FAIL"],
        "{lukretia:#?}"
    );
    assert!(
        lukretia[1].contains("read from the local faild"),
        "{lukretia:#?}"
    );
    assert!(
        lukretia[3].contains("changed in the local faild"),
        "{lukretia:#?}"
    );
    assert_eq!(lukretia[6], "FAIL: stop returned FAIL");
    // macbeth: RECOVER, UP (took over), RECOVER (handshake), no answer (killed), RECOVER.
    let macbeth = bands(1);
    assert!(
        macbeth.iter().any(|t| t == "macbeth counts as UP"),
        "{macbeth:#?}"
    );
    assert!(
        macbeth
            .iter()
            .any(|t| t.starts_with("macbeth does not answer")),
        "{macbeth:#?}"
    );

    // Procedures as bars under lukretia's lane, labelled, with what they returned.
    let procedures: Vec<(&str, String)> = all
        .iter()
        .filter_map(|e| Some((e.attribute("class")?.strip_prefix("procedure ")?, e.title())))
        .collect();
    let kinds: Vec<&str> = procedures.iter().map(|(k, _)| *k).collect();
    assert_eq!(
        kinds,
        ["start", "start", "reclaim", "reclaim", "stop"],
        "{procedures:#?}"
    );
    assert!(
        procedures[0].1.starts_with("start (#1) at 0.0"),
        "{procedures:#?}"
    );
    assert!(
        procedures[0].1.ends_with(", returned UP"),
        "{procedures:#?}"
    );
    assert!(
        procedures[4].1.ends_with(", returned FAIL"),
        "{procedures:#?}"
    );
    for (index, procedure) in all
        .iter()
        .filter(|e| {
            e.attribute("class")
                .is_some_and(|c| c.starts_with("procedure "))
        })
        .enumerate()
    {
        let y: f64 = procedure
            .attribute("y")
            .and_then(|y| y.parse().ok())
            .expect("y");
        assert!(
            (56.0..102.0).contains(&y),
            "procedure {index} is not in lukretia's lane: {y}"
        );
    }
    assert!(all.iter().any(|e| e.name == "text" && e.text == "start"));

    // SIGTERM is marked; the axis counts seconds from the trace's start.
    assert!(all.iter().any(|e| e.name == "text" && e.text == "SIGTERM"));
    assert!(all.iter().any(|e| e.name == "text" && e.text == "0s"));
    // The recorded story lasts about 11 s (pushes made each step wait for no round).
    assert!(all.iter().any(|e| e.name == "text" && e.text == "10s"));
}

#[test]
fn without_a_host_name_the_lane_is_the_traces_localhost() {
    let svg_path = out_dir().join("localhost.svg");
    let (ok, text) = failsim(&[
        "replay",
        &fixture().display().to_string(),
        "--timeline",
        &svg_path.display().to_string(),
    ]);
    assert!(ok, "{text}");
    let svg = std::fs::read_to_string(&svg_path).expect("the SVG is written");
    parse_xml(&svg).unwrap_or_else(|e| panic!("not well-formed: {e}"));
    assert!(svg.contains(">localhost</text>"), "{svg}");
    // --host alone is a usage error.
    let (ok, text) = failsim(&["replay", &fixture().display().to_string(), "--host", "x"]);
    assert!(
        !ok && text.contains("--host names the host of a --timeline"),
        "{text}"
    );
}
