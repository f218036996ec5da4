//! Snapshot tests of the screen: each pane and the whole screen at 80x24
//! and 160x48, drawn on ratatui's TestBackend from the shipped recording
//! of a SYN black-hole, RTO backoff and resets (played by the replay
//! source, surveys included), plus the filter box with an error, the help overlay, a frozen
//! view and the header's alerts.

use insta::assert_snapshot;
use ratatui::{Terminal, backend::TestBackend, buffer::Buffer, layout::Rect};

use super::text::buffer_text;
use crate::{
    app::{
        action::{Action, update},
        state::{Mode, Origin, Pane, SourceHeader, State},
    },
    model::filter::Filter,
    source::{Batch, replay::play_all},
};

/// The screen's state before any data, as the replay of `assets/<name>`
/// starts.
pub(super) fn empty_state(name: &str) -> State {
    let source = SourceHeader {
        origin: Origin::Replay {
            path: format!("assets/{name}"),
            speed: 0.0,
        },
        probes_attached: 7,
        probes_failed: Vec::new(),
        degraded_pages: Vec::new(),
    };
    State::new(source, Filter::default())
}

/// The screen's state at the end of the recording `assets/<name>`, played
/// by the replay source (surveys included).
pub(super) fn played_state(name: &str) -> State {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../assets")
        .join(name);
    let (batches, played, last) = play_all(&path, 0.0);
    played.unwrap_or_else(|error| panic!("{name} plays to its end: {error}"));
    let mut state = empty_state(name);
    for batch in &batches {
        state.observed.apply(batch);
    }
    state.observed.tick(last);
    state.source_done = true;
    state
}

/// The screen's state at the end of the demo recording.
pub(super) fn demo_state() -> State {
    played_state("demo.jsonl")
}

fn draw(state: &State, width: u16, height: u16) -> String {
    let mut terminal =
        Terminal::new(TestBackend::new(width, height)).expect("a test terminal never fails");
    terminal
        .draw(|frame| {
            super::draw(frame, state);
        })
        .expect("drawing on a test terminal never fails");
    buffer_text(terminal.backend().buffer())
}

pub(super) fn pane<T>(
    state: &State,
    width: u16,
    height: u16,
    render: fn(&State, Rect, &mut Buffer) -> T,
) -> String {
    let area = Rect::new(0, 0, width, height);
    let mut buf = Buffer::empty(area);
    let _ = render(state, area, &mut buf);
    buffer_text(&buf)
}

fn press(state: &mut State, actions: &[Action]) {
    for &action in actions {
        update(state, action);
    }
}

fn type_text(state: &mut State, text: &str) {
    for c in text.chars() {
        update(
            state,
            Action::EditFilter(tui_input::InputRequest::InsertChar(c)),
        );
    }
}

#[test]
fn whole_screen_80x24() {
    assert_snapshot!(draw(&demo_state(), 80, 24));
}

#[test]
fn whole_screen_160x48() {
    assert_snapshot!(draw(&demo_state(), 160, 48));
}

#[test]
fn header_alerts_on_lost_events_and_failed_probes() {
    let mut state = demo_state();
    state.source = SourceHeader {
        origin: Origin::Live {
            host: "web-1".to_string(),
            kernel: "6.18.0-tcpscope".to_string(),
        },
        probes_attached: 5,
        probes_failed: vec!["tcp_probe: EPERM".to_string()],
        degraded_pages: Vec::new(),
    };
    state.observed.apply(&Batch {
        events: Vec::new(),
        lost: 1234,
        malformed: 2,
        ..Batch::default()
    });
    let text = pane(&state, 80, 2, super::header::render);
    assert!(
        text.contains("lost 1234") && text.contains("1 failed"),
        "{text}"
    );
    assert_snapshot!(text);
}

#[test]
fn the_header_names_the_pages_a_failed_probe_degrades() {
    let mut state = demo_state();
    state.source.probes_attached = 6;
    state.source.probes_failed = vec!["kfree_skb: not attached: EINVAL".to_string()];
    state.source.degraded_pages = vec!["Drops"];
    let text = pane(&state, 160, 2, super::header::render);
    assert!(
        text.contains("6 attached, 1 failed (degraded: Drops)"),
        "{text}"
    );
}

#[test]
fn syn_sent_pane() {
    let state = demo_state();
    let narrow = pane(&state, 80, 5, super::syn_sent::render);
    assert!(
        narrow.contains("in progress") && narrow.contains("timeout"),
        "{narrow}"
    );
    assert_snapshot!("syn_sent_80", narrow);
    assert_snapshot!(
        "syn_sent_160",
        pane(&state, 160, 5, super::syn_sent::render)
    );
}

#[test]
fn flows_pane_sorted_and_resorted() {
    let mut state = demo_state();
    assert_snapshot!("flows_80", pane(&state, 80, 8, super::flows::render));
    assert_snapshot!("flows_160", pane(&state, 160, 12, super::flows::render));
    press(&mut state, &[Action::CycleSort, Action::CycleSort]);
    let by_age = pane(&state, 160, 12, super::flows::render);
    assert!(by_age.contains("by age"), "{by_age}");
    let first = by_age.lines().nth(2).unwrap_or_default();
    assert!(
        first.contains("LISTEN"),
        "the oldest flows are the listeners: {by_age}"
    );
}

#[test]
fn timeline_pane_of_the_blackholed_flow() {
    let state = demo_state();
    let text = pane(&state, 80, 16, super::timeline::render);
    assert!(
        text.contains("RTO 1.6s  backoff 3") && text.contains("ETIMEDOUT"),
        "{text}"
    );
    assert_snapshot!("timeline_80", text);
    assert_snapshot!(
        "timeline_160",
        pane(&state, 160, 18, super::timeline::render)
    );
}

#[test]
fn timeline_of_a_picked_attempt_in_progress() {
    let mut state = demo_state();
    press(&mut state, &[Action::FocusPrevious, Action::Pick]);
    assert_eq!(state.focus, Pane::SynSent);
    let text = pane(&state, 100, 16, super::timeline::render);
    assert!(
        text.contains("[selected]") && text.contains("now: SYN_SENT"),
        "{text}"
    );
    assert_snapshot!(text);
}

#[test]
fn closed_pane_with_the_kernel_stack() {
    let mut state = demo_state();
    state.focus = Pane::Closed;
    let narrow = pane(&state, 80, 6, super::closed::render);
    assert!(
        narrow.contains("stack: tcp_done_with_error < tcp_retransmit_timer"),
        "{narrow}"
    );
    assert_snapshot!("closed_80", narrow);
    press(&mut state, &[Action::Down, Action::Down, Action::Down]);
    let wide = pane(&state, 93, 19, super::closed::render);
    assert!(wide.contains("ECONNRESET") && wide.contains("> "), "{wide}");
    assert_snapshot!("closed_93", wide);
}

#[test]
fn a_filter_applies_to_every_pane() {
    let mut state = demo_state();
    press(&mut state, &[Action::OpenFilter]);
    type_text(&mut state, "port:8080");
    press(&mut state, &[Action::ApplyFilter]);
    assert_eq!(state.mode, Mode::Normal);
    let text = draw(&state, 160, 48);
    assert!(text.contains("filter port:8080"), "{text}");
    for other in [":8081", ":8082", ":8083"] {
        assert!(!text.contains(other), "{other} passed the filter:\n{text}");
    }
    assert_snapshot!(text);
}

#[test]
fn a_bad_filter_is_shown_and_the_previous_one_stays() {
    let mut state = demo_state();
    state.filter = "port:8081".parse().expect("a valid filter");
    press(&mut state, &[Action::OpenFilter]);
    type_text(&mut state, " bogus:1");
    press(&mut state, &[Action::ApplyFilter]);
    assert_eq!(state.mode, Mode::Filter, "the box stays open");
    assert_eq!(state.filter.to_string(), "port:8081");
    let text = draw(&state, 80, 24);
    assert!(text.contains("unknown key \"bogus\""), "{text}");
    assert_snapshot!(text);
    press(&mut state, &[Action::CancelFilter]);
    assert_eq!(state.filter.to_string(), "port:8081");
}

#[test]
fn help_overlay_lists_the_key_table() {
    let mut state = demo_state();
    press(&mut state, &[Action::ToggleHelp]);
    let text = draw(&state, 80, 24);
    for key in ["Space", "Shift-Tab", "Ctrl-C", "Esc"] {
        assert!(text.contains(key), "{key} missing:\n{text}");
    }
    assert_snapshot!(text);
}

#[test]
fn a_frozen_view_keeps_its_moment() {
    let mut state = demo_state();
    press(&mut state, &[Action::ToggleFreeze]);
    let frozen = draw(&state, 160, 48);
    assert!(frozen.contains("FROZEN"), "{frozen}");
    state.observed.tick(state.observed.now + 60_000_000_000);
    state.observed.apply(&Batch {
        events: Vec::new(),
        lost: 99,
        ..Batch::default()
    });
    assert_eq!(draw(&state, 160, 48), frozen, "the frozen view moved");
    press(&mut state, &[Action::ToggleFreeze]);
    let live = draw(&state, 160, 48);
    assert!(
        live.contains("lost 99") && !live.contains("FROZEN"),
        "{live}"
    );
}

#[test]
fn number_keys_switch_pages_and_a_snapshot_holds_every_page() {
    use crate::app::state::{Page, Pane};
    let mut state = demo_state();
    let connections = draw(&state, 160, 48);
    assert!(connections.contains("Flows ("), "{connections}");
    press(
        &mut state,
        &[Action::ShowPage(Page::Drops), Action::FocusNext],
    );
    assert_eq!((state.page, state.focus), (Page::Drops, Pane::Drops));
    let drops = draw(&state, 160, 48);
    assert!(
        drops.contains("Drops by reason") && !drops.contains("Flows ("),
        "{drops}"
    );
    press(&mut state, &[Action::ShowPage(Page::Connections)]);
    assert_eq!(state.focus, Pane::Flows);
    let file = super::text::snapshot(&state, 160, 48, state.observed.now);
    for page in Page::ALL
        .into_iter()
        .filter(|page| *page != Page::Connections)
    {
        assert!(file.contains(&format!("[page: {}]", page.name())), "{file}");
    }
    assert!(
        file.contains("Flows (") && file.contains("Drops by reason"),
        "{file}"
    );
}
