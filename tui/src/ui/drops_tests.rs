//! Snapshot tests of the Drops page, drawn from assets/drops.jsonl (an
//! iptables DROP, a closed port and a PAWS reject, parsed by the replay
//! parser) on ratatui's TestBackend.

use insta::assert_snapshot;

use crate::{
    app::state::{Origin, SourceHeader, State},
    model::filter::Filter,
    source::replay::{Record, parse_line},
};

const RECORDING: &str = include_str!("../../../assets/drops.jsonl");

fn state(filter: &str) -> State {
    let source = SourceHeader {
        origin: Origin::Replay {
            path: "assets/drops.jsonl".to_string(),
            speed: 0.0,
        },
        probes_attached: 7,
        probes_failed: Vec::new(),
    };
    let filter: Filter = filter.parse().expect("a valid filter");
    let mut state = State::new(source, filter);
    let mut batch = crate::source::Batch::default();
    let mut last = 0;
    for (number, line) in RECORDING.lines().enumerate() {
        match parse_line(line).unwrap_or_else(|e| panic!("drops.jsonl line {}: {e}", number + 1)) {
            Record::Event(event) => {
                last = event.ts;
                batch.events.push(event);
            }
            Record::Stats { ts, .. } | Record::Skipped { ts } | Record::Survey { ts, .. } => {
                last = ts
            }
        }
    }
    state.observed.apply(&batch);
    state.observed.tick(last);
    state
}

fn draw(state: &State, width: u16, height: u16) -> String {
    crate::ui::tests::pane(state, width, height, super::render)
}

#[test]
fn drops_160() {
    assert_snapshot!(draw(&state(""), 160, 30));
}

#[test]
fn drops_80() {
    assert_snapshot!(draw(&state(""), 80, 24));
}

#[test]
fn drops_the_stack_follows_the_cursor() {
    let mut state = state("");
    state.cursors.drops = 1;
    assert_snapshot!(draw(&state, 120, 30));
}

#[test]
fn a_short_pane_shows_the_stack_on_one_line() {
    let mut state = state("");
    state.cursors.drops = 1;
    let tall = draw(&state, 120, 30);
    assert!(tall.contains("kernel stack of the drop:"), "{tall}");
    let short = draw(&state, 120, 13);
    let line = short
        .lines()
        .find(|line| line.trim_start().starts_with("stack: "))
        .unwrap_or_else(|| panic!("no one-line stack:\n{short}"));
    assert!(line.contains(" < "), "{short}");
    assert!(!short.contains("kernel stack of the drop:"), "{short}");
}

#[test]
fn drops_a_reason_filter_narrows_every_table() {
    assert_snapshot!(draw(&state("reason:paws"), 120, 24));
}

#[test]
fn drops_none_yet() {
    let state = State::new(
        SourceHeader {
            origin: Origin::Replay {
                path: "none".to_string(),
                speed: 0.0,
            },
            probes_attached: 7,
            probes_failed: Vec::new(),
        },
        Filter::default(),
    );
    assert_snapshot!(draw(&state, 80, 12));
}
