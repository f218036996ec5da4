//! Snapshots of the destinations pane, from the demo recording (a SYN
//! black hole, RTO backoff, a refused connect, resets).

use insta::assert_snapshot;

use crate::ui::tests::{demo_state, pane};

#[test]
fn destinations_pane_worst_first() {
    let state = demo_state();
    let narrow = pane(&state, 80, 8, super::render);
    let first = narrow.lines().nth(2).unwrap_or_default();
    assert!(
        first.contains("black-holed") && first.contains(":8081"),
        "the black hole leads: {narrow}"
    );
    assert_snapshot!("destinations_80", narrow);
    assert_snapshot!("destinations_160", pane(&state, 160, 8, super::render));
}

#[test]
fn destinations_pane_shows_drops_with_their_reason() {
    // The demo's server drops the SYNs to 8081 with iptables.
    let state = demo_state();
    let text = pane(&state, 120, 8, super::render);
    let black_hole = text
        .lines()
        .find(|line| line.contains("10.232.0.2:8081"))
        .unwrap_or_else(|| panic!("no 8081 row: {text}"));
    assert!(
        black_hole.contains("black-holed") && black_hole.ends_with("NETFILTER_DROP"),
        "{text}"
    );
    assert_snapshot!(text);
}

#[test]
fn destinations_pane_follows_the_filter() {
    let mut state = demo_state();
    state.filter = "port:8082".parse().expect("a valid filter");
    let text = pane(&state, 120, 6, super::render);
    assert!(text.contains(":8082") && !text.contains(":8081"), "{text}");
    assert_snapshot!("destinations_port_8082", text);
    state.filter = "comm:nobody".parse().expect("a valid filter");
    let text = pane(&state, 120, 6, super::render);
    assert!(text.contains("only port, dport and addr apply"), "{text}");
    state.filter = "port:9".parse().expect("a valid filter");
    let text = pane(&state, 120, 6, super::render);
    assert!(text.contains("No connect attempt"), "{text}");
}
