//! Snapshot tests of the Drops page, drawn from assets/drops.jsonl (an
//! iptables DROP, a closed port and a PAWS reject, played by the replay
//! source) on ratatui's TestBackend.

use insta::assert_snapshot;

use crate::{
    app::state::State,
    ui::tests::{empty_state, played_state},
};

fn state(filter: &str) -> State {
    let mut state = played_state("drops.jsonl");
    state.filter = filter.parse().expect("a valid filter");
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
    assert_snapshot!(draw(&empty_state("none"), 80, 12));
}
