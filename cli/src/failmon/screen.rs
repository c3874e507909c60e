//! The curses screen (`failmon -c`, the default), with the original's keys:
//! `h` hosts, `c` toggle last-connect/last-call, `l` or Left: services of a host, `s` or Right:
//! service details, Tab: switch screens, `q` quit. Up/Down (or `k`/`j`) move the selection.
//!
//! Drawing is a pure function of [`App`] so that the screens are tested on ratatui's
//! `TestBackend`; [`run`] adds the terminal and a reader thread that reconnects when failsh
//! goes away.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind};
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Row, Table, TableState, Wrap};
use ratatui::Frame;

use failover_core::shell::ServiceStatus;
use failover_core::state::State;

use crate::monitor::Snapshot;

use super::{
    age_ms, human_duration, human_interval, reachable_text, state_text, wall_ms, Connection,
    MonitorError,
};

/// Which screen is shown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum View {
    Services,
    Hosts,
    /// The services a host is a master or slave of.
    HostServices(String),
    /// Everything about one service.
    ServiceDetail(String),
}

/// What the screen shows and where the selection is.
#[derive(Debug)]
pub struct App {
    pub snapshot: Option<Snapshot>,
    /// `connected to ...` or why not.
    pub status: String,
    pub view: View,
    pub selected: usize,
    /// `c`: hosts show the age of the last contact ("last call") instead of its time
    /// ("last connect").
    pub show_age: bool,
    pub quit: bool,
}

impl App {
    pub fn new(status: String) -> App {
        App {
            snapshot: None,
            status,
            view: View::Services,
            selected: 0,
            show_age: false,
            quit: false,
        }
    }

    fn services_in_view(&self) -> Vec<&ServiceStatus> {
        let Some(snapshot) = &self.snapshot else {
            return Vec::new();
        };
        match &self.view {
            View::HostServices(host) => snapshot
                .services
                .iter()
                .filter(|service| {
                    service
                        .masters
                        .iter()
                        .chain(service.slaves.iter())
                        .any(|(name, _)| name == host)
                })
                .collect(),
            _ => snapshot.services.iter().collect(),
        }
    }

    fn rows_in_view(&self) -> usize {
        match &self.view {
            View::Hosts => self.snapshot.as_ref().map_or(0, |s| s.hosts.len()),
            View::ServiceDetail(_) => 0,
            _ => self.services_in_view().len(),
        }
    }

    fn go(&mut self, view: View) {
        self.view = view;
        self.selected = 0;
    }

    /// Applies one key press.
    pub fn key(&mut self, code: KeyCode) {
        match code {
            KeyCode::Char('q') | KeyCode::Esc => self.quit = true,
            KeyCode::Char('h') => self.go(View::Hosts),
            KeyCode::Char('c') => self.show_age = !self.show_age,
            KeyCode::Tab => match self.view {
                View::Services => self.go(View::Hosts),
                _ => self.go(View::Services),
            },
            KeyCode::Char('l') | KeyCode::Left => match &self.view {
                View::Hosts => {
                    let host = self
                        .snapshot
                        .as_ref()
                        .and_then(|s| s.hosts.get(self.selected))
                        .map(|h| h.name.clone());
                    if let Some(host) = host {
                        self.go(View::HostServices(host));
                    }
                }
                View::ServiceDetail(_) => self.go(View::Services),
                _ => self.go(View::Hosts),
            },
            KeyCode::Char('s') | KeyCode::Right => {
                let service = self
                    .services_in_view()
                    .get(self.selected)
                    .map(|s| s.name.clone());
                if matches!(self.view, View::Services | View::HostServices(_)) {
                    if let Some(service) = service {
                        self.go(View::ServiceDetail(service));
                    }
                }
            }
            KeyCode::Down | KeyCode::Char('j') => {
                self.selected = (self.selected + 1).min(self.rows_in_view().saturating_sub(1));
            }
            KeyCode::Up | KeyCode::Char('k') => self.selected = self.selected.saturating_sub(1),
            _ => {}
        }
    }

    /// A new snapshot; the selection stays in range.
    pub fn update(&mut self, snapshot: Snapshot) {
        self.snapshot = Some(snapshot);
        let rows = self.rows_in_view();
        if self.selected >= rows {
            self.selected = rows.saturating_sub(1);
        }
    }
}

fn state_style(state: Option<State>) -> Style {
    let color = match state {
        Some(State::Up) => Color::Green,
        Some(State::Recover) => Color::Yellow,
        Some(State::Fail) => Color::Red,
        None => Color::Gray,
    };
    Style::default().fg(color).add_modifier(Modifier::BOLD)
}

fn peers(peers: &[(String, State)]) -> String {
    super::text::peers(peers)
}

/// Draws the whole screen.
pub fn draw(frame: &mut Frame, app: &App) {
    let [header, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(frame.area());

    let title = match &app.snapshot {
        Some(snapshot) => format!(
            "failmon: failsh on {} at {}  [{}]",
            snapshot.node,
            crate::logging::utc_timestamp_ms(snapshot.unix_ms),
            app.status
        ),
        None => format!("failmon: waiting for failsh  [{}]", app.status),
    };
    frame.render_widget(
        Paragraph::new(title).style(Style::default().add_modifier(Modifier::REVERSED)),
        header,
    );
    let keys = match app.view {
        View::Hosts => "q quit  Tab services  l/Left services of host  c time/age  Up/Down select",
        View::ServiceDetail(_) => "q quit  Tab/Left services  h hosts",
        _ => "q quit  Tab/h hosts  s/Right details  l/Left hosts  Up/Down select",
    };
    frame.render_widget(Paragraph::new(keys), footer);

    let Some(snapshot) = &app.snapshot else {
        frame.render_widget(
            Paragraph::new("No snapshot yet.").block(Block::default().borders(Borders::ALL)),
            body,
        );
        return;
    };
    let selected_style = Style::default().add_modifier(Modifier::REVERSED);
    match &app.view {
        View::Services | View::HostServices(_) => {
            let title = match &app.view {
                View::HostServices(host) => format!(" Services of {host} "),
                _ => " Services ".to_string(),
            };
            let rows = app.services_in_view().into_iter().map(|service| {
                let change = age_ms(snapshot, service.last_change)
                    .map_or("never".to_string(), |age| {
                        format!("{} ago", human_duration(age))
                    });
                Row::new(vec![
                    Span::raw(service.name.clone()),
                    Span::styled(state_text(service.state), state_style(service.state)),
                    Span::raw(peers(&service.masters)),
                    Span::raw(peers(&service.slaves)),
                    Span::raw(human_interval(service.interval_ms)),
                    Span::raw(change),
                    Span::raw(service.reason.clone()),
                ])
            });
            let table = Table::new(
                rows,
                [
                    Constraint::Length(18),
                    Constraint::Length(8),
                    Constraint::Length(18),
                    Constraint::Length(18),
                    Constraint::Length(8),
                    Constraint::Length(14),
                    Constraint::Min(10),
                ],
            )
            .header(
                Row::new([
                    "Service", "State", "Masters", "Slaves", "Interval", "Changed", "Reason",
                ])
                .style(Style::default().add_modifier(Modifier::BOLD)),
            )
            .row_highlight_style(selected_style)
            .block(Block::default().borders(Borders::ALL).title(title));
            let mut state = TableState::default().with_selected(Some(app.selected));
            frame.render_stateful_widget(table, body, &mut state);
        }
        View::Hosts => {
            let time_title = if app.show_age {
                "Since last contact"
            } else {
                "Last contact"
            };
            let rows = snapshot.hosts.iter().map(|host| {
                let time = if app.show_age {
                    age_ms(snapshot, host.last_contact).map_or("never".to_string(), |age| {
                        format!("{} ago", human_duration(age))
                    })
                } else {
                    wall_ms(snapshot, host.last_contact)
                        .map_or("never".to_string(), crate::logging::utc_timestamp_ms)
                };
                let reachable = reachable_text(host.reachable);
                let style = match host.reachable {
                    Some(true) => Style::default().fg(Color::Green),
                    Some(false) => Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
                    None => Style::default().fg(Color::Gray),
                };
                let protocol = match host.protocol {
                    failover_core::shell::Protocol::Tcp => "tcp",
                    failover_core::shell::Protocol::Udp => "udp",
                };
                Row::new(vec![
                    Span::raw(host.name.clone()),
                    Span::raw(protocol),
                    Span::styled(reachable, style),
                    Span::raw(time),
                ])
            });
            let table = Table::new(
                rows,
                [
                    Constraint::Length(20),
                    Constraint::Length(9),
                    Constraint::Length(10),
                    Constraint::Min(20),
                ],
            )
            .header(
                Row::new(["Host", "Protocol", "Reachable", time_title])
                    .style(Style::default().add_modifier(Modifier::BOLD)),
            )
            .row_highlight_style(selected_style)
            .block(Block::default().borders(Borders::ALL).title(" Hosts "));
            let mut state = TableState::default().with_selected(Some(app.selected));
            frame.render_stateful_widget(table, body, &mut state);
        }
        View::ServiceDetail(name) => {
            let lines = match snapshot.services.iter().find(|s| &s.name == name) {
                Some(service) => detail_lines(snapshot, service),
                None => vec![Line::from(format!("{name} is no longer configured."))],
            };
            frame.render_widget(
                Paragraph::new(lines).wrap(Wrap { trim: false }).block(
                    Block::default()
                        .borders(Borders::ALL)
                        .title(format!(" Service {name} ")),
                ),
                body,
            );
        }
    }
}

fn detail_lines<'a>(snapshot: &'a Snapshot, service: &'a ServiceStatus) -> Vec<Line<'a>> {
    let mut lines = vec![
        Line::from(vec![
            Span::raw("State:       "),
            Span::styled(state_text(service.state), state_style(service.state)),
        ]),
        Line::from(format!(
            "Interval:    {}",
            human_interval(service.interval_ms)
        )),
        Line::from(format!(
            "Last change: {}",
            super::when(snapshot, service.last_change)
        )),
        Line::from(format!("Reason:      {}", service.reason)),
        Line::from(format!("Decision:    {}", service.decision)),
        Line::from(format!(
            "Procedure:   {}",
            service
                .procedure
                .map_or("none running".to_string(), |kind| format!(
                    "{} running",
                    kind.as_str()
                ))
        )),
        Line::from(""),
    ];
    for (role, peers) in [("Master", &service.masters), ("Slave", &service.slaves)] {
        for (name, state) in peers {
            lines.push(Line::from(vec![
                Span::raw(format!("{role:<7} {name:<20} counts as ")),
                Span::styled(state.as_str(), state_style(Some(*state))),
            ]));
        }
    }
    lines
}

enum Update {
    Snapshot(Box<Snapshot>),
    Lost(String),
    Connected(String),
}

/// Runs the screen until `q`. `connection` is already open (so that a closed port is reported
/// before the terminal is taken over); when it breaks the reader reconnects every second.
pub fn run(connection: Connection, address: String, timeout: Duration) -> Result<(), MonitorError> {
    if !std::io::stdout().is_terminal() {
        return Err(MonitorError::Connect(
            "the curses screen needs a terminal on standard output; use -1, -l, -h or --json"
                .to_string(),
        ));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let (sender, receiver) = mpsc::channel();
    let reader_stop = Arc::clone(&stop);
    let status = format!("connected to {}", connection.peer());
    let reader = std::thread::spawn(move || {
        read_forever(connection, &address, timeout, &reader_stop, &sender)
    });

    let mut terminal = ratatui::init();
    let mut app = App::new(status);
    let result = (|| -> std::io::Result<()> {
        while !app.quit {
            while let Ok(update) = receiver.try_recv() {
                match update {
                    Update::Snapshot(snapshot) => app.update(*snapshot),
                    Update::Lost(why) => app.status = format!("disconnected: {why}; retrying"),
                    Update::Connected(peer) => app.status = format!("connected to {peer}"),
                }
            }
            terminal.draw(|frame| draw(frame, &app))?;
            if event::poll(Duration::from_millis(200))? {
                if let Event::Key(key) = event::read()? {
                    if key.kind == KeyEventKind::Press {
                        app.key(key.code);
                    }
                }
            }
        }
        Ok(())
    })();
    ratatui::restore();
    stop.store(true, Ordering::SeqCst);
    // The reader wakes within its read timeout; do not wait for it to leave.
    drop(reader);
    result.map_err(|e| MonitorError::Closed(format!("terminal: {e}")))
}

fn read_forever(
    mut connection: Connection,
    address: &str,
    timeout: Duration,
    stop: &AtomicBool,
    sender: &mpsc::Sender<Update>,
) {
    while !stop.load(Ordering::SeqCst) {
        match connection.next_snapshot() {
            Ok((snapshot, _)) => {
                if sender.send(Update::Snapshot(Box::new(snapshot))).is_err() {
                    return;
                }
            }
            Err(why) => {
                let _ = sender.send(Update::Lost(why.to_string()));
                loop {
                    std::thread::sleep(Duration::from_secs(1));
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    if let Ok(reopened) = Connection::open(address, timeout) {
                        let _ = sender.send(Update::Connected(reopened.peer().to_string()));
                        connection = reopened;
                        break;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::failmon::sample;
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;

    fn screen(app: &App) -> String {
        let mut terminal = Terminal::new(TestBackend::new(120, 20)).unwrap();
        terminal.draw(|frame| draw(frame, app)).unwrap();
        let buffer = terminal.backend().buffer().clone();
        let mut text = String::new();
        for y in 0..buffer.area.height {
            for x in 0..buffer.area.width {
                text.push_str(buffer[(x, y)].symbol());
            }
            text.push('\n');
        }
        text
    }

    #[test]
    fn the_original_keys_walk_through_the_screens() {
        let mut app = App::new("connected to test".to_string());
        app.update(sample::snapshot());
        let services = screen(&app);
        assert!(services.contains("198.18.0.50"), "{services}");
        assert!(services.contains("UP"), "{services}");
        assert!(services.contains("macbeth RECOVER"), "{services}");

        app.key(KeyCode::Char('h'));
        assert_eq!(app.view, View::Hosts);
        let hosts = screen(&app);
        assert!(hosts.contains("Last contact"), "{hosts}");
        assert!(hosts.contains("localhost"), "{hosts}");
        app.key(KeyCode::Char('c'));
        let hosts = screen(&app);
        assert!(hosts.contains("Since last contact"), "{hosts}");
        assert!(hosts.contains("100 ms ago"), "{hosts}");

        // macbeth is the second host; its services are those it is master or slave of.
        app.key(KeyCode::Down);
        app.key(KeyCode::Left);
        assert_eq!(app.view, View::HostServices("macbeth".to_string()));
        let of_host = screen(&app);
        assert!(of_host.contains("Services of macbeth"), "{of_host}");

        app.key(KeyCode::Right);
        assert_eq!(app.view, View::ServiceDetail("198.18.0.50".to_string()));
        let detail = screen(&app);
        assert!(detail.contains("start returned UP"), "{detail}");
        assert!(detail.contains("Slave   macbeth"), "{detail}");

        app.key(KeyCode::Tab);
        assert_eq!(app.view, View::Services);
        app.key(KeyCode::Tab);
        assert_eq!(app.view, View::Hosts);
        app.key(KeyCode::Char('q'));
        assert!(app.quit);
    }

    #[test]
    fn the_selection_stays_in_range_when_services_disappear() {
        let mut app = App::new(String::new());
        app.update(sample::snapshot());
        app.key(KeyCode::Down);
        app.key(KeyCode::Down);
        assert_eq!(app.selected, 1);
        let mut smaller = sample::snapshot();
        smaller.services.truncate(1);
        app.update(smaller);
        assert_eq!(app.selected, 0);
    }
}
