//! A hand-written SVG timeline: one lane per host (or per host and service) with its state
//! over time as coloured bands, bars under a band (the simulator: the host holds the address;
//! a replayed trace: a procedure runs), shaded spans (faults) and marked instants
//! (violations, signals), over a time axis in seconds.
//!
//! [`draw`] takes a generic [`Timeline`]; [`render`] builds one from a simulated run, and
//! [`crate::trace::timeline`] from a recorded failsh trace.

use crate::world::{Look, Outcome};
use failover_core::state::State;
use std::fmt::Write;

const MIN_LABEL_PX: f64 = 110.0;
const PLOT_PX: f64 = 1000.0;
const LANE_PX: f64 = 46.0;
const TOP_PX: f64 = 56.0;

pub const UP: &str = "#2e9e44";
pub const RECOVER: &str = "#e8c33a";
pub const FAIL: &str = "#d23c3c";
/// Powered off (simulator) or not answering (trace).
pub const DOWN: &str = "#555555";
/// No state known yet.
pub const UNKNOWN: &str = "#bbbbbb";
/// The simulator's bar: the host holds the address.
pub const HOLDS: &str = "#2456c8";

/// The fill of a state, [`UNKNOWN`] for none.
pub fn state_colour(state: Option<State>) -> &'static str {
    match state {
        Some(State::Up) => UP,
        Some(State::Recover) => RECOVER,
        Some(State::Fail) => FAIL,
        None => UNKNOWN,
    }
}

/// Everything [`draw`] draws; times in milliseconds from the start of the axis.
#[derive(Clone, Debug, Default)]
pub struct Timeline {
    pub title: String,
    /// One line after the title that says what the colours mean.
    pub legend: String,
    pub end_ms: u64,
    pub lanes: Vec<Lane>,
    pub shades: Vec<Shade>,
    pub marks: Vec<Mark>,
}

#[derive(Clone, Debug, Default)]
pub struct Lane {
    pub label: String,
    /// The state bands, tall.
    pub bands: Vec<Span>,
    /// Thin bars under the bands, with their label (if any) written under them.
    pub bars: Vec<Span>,
}

#[derive(Clone, Debug, Default)]
pub struct Span {
    pub from_ms: u64,
    pub to_ms: u64,
    pub fill: &'static str,
    /// Hatched over the fill (the simulator: a frozen host).
    pub hatched: bool,
    /// The `class` attribute of its rectangle (none when empty).
    pub class: String,
    /// Written under a bar (ignored for bands).
    pub label: String,
    /// Shown on hover (an SVG `<title>`; none when empty).
    pub title: String,
}

/// A span shaded over one lane, or over all of them.
#[derive(Clone, Debug)]
pub struct Shade {
    pub from_ms: u64,
    pub to_ms: u64,
    pub lane: Option<usize>,
    pub label: String,
}

/// An instant marked by a dashed line across the lanes.
#[derive(Clone, Debug)]
pub struct Mark {
    pub at_ms: u64,
    /// Written above the lanes (none when empty).
    pub label: String,
    pub title: String,
}

pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn attributes(class: &str) -> String {
    if class.is_empty() {
        String::new()
    } else {
        format!(r#" class="{}""#, escape(class))
    }
}

fn title_element(title: &str) -> String {
    if title.is_empty() {
        String::new()
    } else {
        format!("<title>{}</title>", escape(title))
    }
}

/// The SVG of a simulated run: one lane per host, a bar while it holds the address, faults
/// shaded, violations marked.
pub fn render(outcome: &Outcome) -> String {
    draw(&from_outcome(outcome))
}

fn look_colour(look: &Look) -> &'static str {
    if look.powered {
        state_colour(look.state)
    } else {
        DOWN
    }
}

/// The [`Timeline`] of a simulated run.
pub fn from_outcome(outcome: &Outcome) -> Timeline {
    let lanes = (0..outcome.host_names.len())
        .map(|lane| {
            let changes: Vec<&(u64, usize, Look)> = outcome
                .looks
                .iter()
                .filter(|(_, h, _)| *h == lane)
                .collect();
            let mut bands = Vec::new();
            let mut bars = Vec::new();
            for (i, (at, _, look)) in changes.iter().enumerate() {
                let until = changes.get(i + 1).map_or(outcome.end_ms, |next| next.0);
                bands.push(Span {
                    from_ms: *at,
                    to_ms: until,
                    fill: look_colour(look),
                    hatched: look.paused,
                    ..Span::default()
                });
                if look.vip && look.powered {
                    bars.push(Span {
                        from_ms: *at,
                        to_ms: until,
                        fill: HOLDS,
                        ..Span::default()
                    });
                }
            }
            Lane {
                label: outcome.host_names[lane].clone(),
                bands,
                bars,
            }
        })
        .collect();
    Timeline {
        title: outcome.name.clone(),
        legend: "green UP, yellow RECOVER, red FAIL, grey down, blue bar: holds the address, shaded: faults, hatched: frozen".to_string(),
        end_ms: outcome.end_ms,
        lanes,
        shades: outcome
            .faults
            .iter()
            .map(|f| Shade {
                from_ms: f.from_ms,
                to_ms: f.to_ms,
                lane: f.host,
                label: f.label.clone(),
            })
            .collect(),
        marks: outcome
            .violations
            .iter()
            .map(|v| Mark {
                at_ms: v.at_ms,
                label: String::new(),
                title: v.to_string(),
            })
            .collect(),
    }
}

/// Draws a timeline.
pub fn draw(timeline: &Timeline) -> String {
    let end_ms = timeline.end_ms.max(1);
    let longest = timeline
        .lanes
        .iter()
        .map(|l| l.label.chars().count())
        .max()
        .unwrap_or(0);
    let label_px = MIN_LABEL_PX.max(7.0 * longest as f64 + 12.0);
    let x = |ms: u64| label_px + PLOT_PX * (ms.min(end_ms) as f64 / end_ms as f64);
    let lanes = timeline.lanes.len();
    let lane_y = |lane: usize| TOP_PX + LANE_PX * lane as f64;
    let height = TOP_PX + LANE_PX * lanes as f64 + 50.0;
    let width = label_px + PLOT_PX + 40.0;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        svg,
        r#"<title>{}</title><rect width="100%" height="100%" fill="white"/>"#,
        escape(&timeline.title)
    );
    let _ = writeln!(
        svg,
        r#"<text x="4" y="16" font-size="14">{}</text><text x="4" y="32" font-size="11">{}</text>"#,
        escape(&timeline.title),
        escape(&timeline.legend)
    );
    let _ = writeln!(
        svg,
        r##"<defs><pattern id="frozen" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="3" height="6" fill="#000" fill-opacity="0.35"/></pattern></defs>"##
    );
    for (index, lane) in timeline.lanes.iter().enumerate() {
        let y = lane_y(index);
        let _ = writeln!(
            svg,
            r#"<text x="4" y="{}">{}</text>"#,
            y + 20.0,
            escape(&lane.label)
        );
        for band in &lane.bands {
            let (x0, x1) = (x(band.from_ms), x(band.to_ms));
            let w = (x1 - x0).max(0.5);
            let _ = writeln!(
                svg,
                r#"<rect{} x="{x0:.1}" y="{y:.1}" width="{w:.1}" height="26" fill="{}">{}</rect>"#,
                attributes(&band.class),
                band.fill,
                title_element(&band.title)
            );
            if band.hatched {
                let _ = writeln!(
                    svg,
                    r#"<rect x="{x0:.1}" y="{y:.1}" width="{w:.1}" height="26" fill="url(#frozen)"/>"#
                );
            }
        }
        // Bar labels are left out where they would run into the previous one.
        let mut free_from = 0.0;
        for bar in &lane.bars {
            let (x0, x1) = (x(bar.from_ms), x(bar.to_ms));
            let _ = writeln!(
                svg,
                r#"<rect{} x="{x0:.1}" y="{:.1}" width="{:.1}" height="7" fill="{}">{}</rect>"#,
                attributes(&bar.class),
                y + 29.0,
                (x1 - x0).max(if bar.label.is_empty() { 0.5 } else { 2.0 }),
                bar.fill,
                title_element(&bar.title)
            );
            if !bar.label.is_empty() && x0 >= free_from {
                let _ = writeln!(
                    svg,
                    r#"<text x="{x0:.1}" y="{:.1}" font-size="9">{}</text>"#,
                    y + 44.0,
                    escape(&bar.label)
                );
                free_from = x0 + 5.5 * bar.label.chars().count() as f64 + 4.0;
            }
        }
    }
    for shade in &timeline.shades {
        let (x0, x1) = (x(shade.from_ms), x(shade.to_ms));
        let (y, h) = match shade.lane {
            Some(lane) => (lane_y(lane) - 3.0, LANE_PX - 4.0),
            None => (TOP_PX - 6.0, LANE_PX * lanes as f64 + 6.0),
        };
        let _ = writeln!(
            svg,
            r##"<rect x="{x0:.1}" y="{y:.1}" width="{:.1}" height="{h:.1}" fill="#c03030" fill-opacity="0.12" stroke="#c03030" stroke-opacity="0.4"><title>{}</title></rect>"##,
            (x1 - x0).max(1.0),
            escape(&shade.label)
        );
        let _ = writeln!(
            svg,
            r##"<text x="{:.1}" y="{:.1}" font-size="10" fill="#902020">{}</text>"##,
            x0 + 2.0,
            y + 9.0,
            escape(&shade.label)
        );
    }
    for mark in &timeline.marks {
        let mx = x(mark.at_ms);
        let _ = writeln!(
            svg,
            r#"<line x1="{mx:.1}" y1="{TOP_PX}" x2="{mx:.1}" y2="{:.1}" stroke="black" stroke-width="2" stroke-dasharray="4 2">{}</line>"#,
            lane_y(lanes),
            title_element(&mark.title)
        );
        if !mark.label.is_empty() {
            let _ = writeln!(
                svg,
                r#"<text x="{mx:.1}" y="{:.1}" font-size="10" text-anchor="middle">{}</text>"#,
                TOP_PX - 4.0,
                escape(&mark.label)
            );
        }
    }
    // Time axis.
    let axis_y = lane_y(lanes) + 10.0;
    let step_ms = nice_step(timeline.end_ms);
    let mut tick = 0;
    while tick <= timeline.end_ms {
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
