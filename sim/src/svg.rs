//! A hand-written SVG of a run: one lane per host with its state over time, a bar under it
//! while it holds the address, faults shaded, violations marked.

use crate::world::{Look, Outcome};
use failover_core::state::State;
use std::fmt::Write;

const LABEL_PX: f64 = 110.0;
const PLOT_PX: f64 = 1000.0;
const LANE_PX: f64 = 46.0;
const TOP_PX: f64 = 40.0;

fn colour(look: &Look) -> &'static str {
    if !look.powered {
        return "#555555";
    }
    match look.state {
        Some(State::Up) => "#2e9e44",
        Some(State::Recover) => "#e8c33a",
        Some(State::Fail) => "#d23c3c",
        None => "#bbbbbb",
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub fn render(outcome: &Outcome) -> String {
    let end_ms = outcome.end_ms.max(1) as f64;
    let x = |ms: u64| LABEL_PX + PLOT_PX * (ms as f64 / end_ms);
    let lanes = outcome.host_names.len();
    let height = TOP_PX + LANE_PX * lanes as f64 + 50.0;
    let width = LABEL_PX + PLOT_PX + 20.0;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        svg,
        r#"<title>{}</title><rect width="100%" height="100%" fill="white"/>"#,
        escape(&outcome.name)
    );
    let _ = writeln!(
        svg,
        r#"<text x="4" y="16" font-size="14">{} — green UP, yellow RECOVER, red FAIL, grey down, blue bar: holds the address, shaded: faults, hatched: frozen</text>"#,
        escape(&outcome.name)
    );
    let _ = writeln!(
        svg,
        r##"<defs><pattern id="frozen" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="3" height="6" fill="#000" fill-opacity="0.35"/></pattern></defs>"##
    );
    // State segments per host.
    for lane in 0..lanes {
        let y = TOP_PX + LANE_PX * lane as f64;
        let _ = writeln!(
            svg,
            r#"<text x="4" y="{}">{}</text>"#,
            y + 20.0,
            escape(&outcome.host_names[lane])
        );
        let changes: Vec<&(u64, usize, Look)> = outcome
            .looks
            .iter()
            .filter(|(_, h, _)| *h == lane)
            .collect();
        for (i, (at, _, look)) in changes.iter().enumerate() {
            let until = changes.get(i + 1).map_or(outcome.end_ms, |next| next.0);
            let (x0, x1) = (x(*at), x(until));
            let w = (x1 - x0).max(0.5);
            let _ = writeln!(
                svg,
                r#"<rect x="{x0:.1}" y="{y:.1}" width="{w:.1}" height="26" fill="{}"/>"#,
                colour(look)
            );
            if look.paused {
                let _ = writeln!(
                    svg,
                    r#"<rect x="{x0:.1}" y="{y:.1}" width="{w:.1}" height="26" fill="url(#frozen)"/>"#
                );
            }
            if look.vip && look.powered {
                let _ = writeln!(
                    svg,
                    r##"<rect x="{x0:.1}" y="{:.1}" width="{w:.1}" height="7" fill="#2456c8"/>"##,
                    y + 29.0
                );
            }
        }
    }
    // Faults.
    for fault in &outcome.faults {
        let (x0, x1) = (x(fault.from_ms), x(fault.to_ms));
        let (y, h) = match fault.host {
            Some(lane) => (TOP_PX + LANE_PX * lane as f64 - 3.0, LANE_PX - 4.0),
            None => (TOP_PX - 6.0, LANE_PX * lanes as f64 + 6.0),
        };
        let _ = writeln!(
            svg,
            r##"<rect x="{x0:.1}" y="{y:.1}" width="{:.1}" height="{h:.1}" fill="#c03030" fill-opacity="0.12" stroke="#c03030" stroke-opacity="0.4"><title>{}</title></rect>"##,
            (x1 - x0).max(1.0),
            escape(&fault.label)
        );
        let _ = writeln!(
            svg,
            r##"<text x="{:.1}" y="{:.1}" font-size="10" fill="#902020">{}</text>"##,
            x0 + 2.0,
            y + 9.0,
            escape(&fault.label)
        );
    }
    // Violations.
    for violation in &outcome.violations {
        let vx = x(violation.at_ms);
        let _ = writeln!(
            svg,
            r#"<line x1="{vx:.1}" y1="{TOP_PX}" x2="{vx:.1}" y2="{:.1}" stroke="black" stroke-width="2" stroke-dasharray="4 2"><title>{}</title></line>"#,
            TOP_PX + LANE_PX * lanes as f64,
            escape(&violation.to_string())
        );
    }
    // Time axis.
    let axis_y = TOP_PX + LANE_PX * lanes as f64 + 10.0;
    let step_ms = nice_step(outcome.end_ms);
    let mut tick = 0;
    while tick <= outcome.end_ms {
        let tx = x(tick);
        let _ = writeln!(
            svg,
            r##"<line x1="{tx:.1}" y1="{axis_y:.1}" x2="{tx:.1}" y2="{:.1}" stroke="#333"/><text x="{tx:.1}" y="{:.1}" text-anchor="middle" font-size="10">{}s</text>"##,
            axis_y + 5.0,
            axis_y + 17.0,
            tick as f64 / 1000.0
        );
        tick += step_ms;
    }
    svg.push_str("</svg>\n");
    svg
}

fn nice_step(end_ms: u64) -> u64 {
    let raw = (end_ms / 10).max(1);
    let mut step = 1;
    loop {
        for factor in [1, 2, 5] {
            if step * factor >= raw {
                return step * factor;
            }
        }
        step *= 10;
    }
}
