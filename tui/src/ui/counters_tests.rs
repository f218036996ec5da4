//! Snapshots of the counters pane: two samples of this machine's captured
//! counter files, the second with a listen overflow in a container's
//! namespace and retransmits in the root one.

use insta::assert_snapshot;

use crate::{
    model::{
        counters::Snapshot,
        socket::{Scope, Survey},
    },
    source::Batch,
    ui::tests::{empty_state, pane},
};

const NETSTAT: &str = include_str!("../model/fixtures/netstat.txt");
const SNMP: &str = include_str!("../model/fixtures/snmp.txt");
const SECOND: u64 = 1_000_000_000;
const ROOT: u32 = 4026531840;
const CONTAINER: u32 = 4026532177;
const IDLE: u32 = 4026532300;

/// The captured files with `(name, added)` added to counters' values.
fn moved(changes: &[(&str, i64)]) -> Snapshot {
    let mut text = String::new();
    for file in [NETSTAT, SNMP] {
        let lines: Vec<&str> = file.lines().collect();
        for pair in lines.chunks(2) {
            let [header, values] = pair else { continue };
            let names = header.split_whitespace();
            let values = values.split_whitespace().zip(names).map(|(value, name)| {
                let added = changes.iter().find(|(changed, _)| *changed == name);
                match (added, value.parse::<i64>()) {
                    (Some((_, added)), Ok(number)) => (number + added).to_string(),
                    _ => value.to_string(),
                }
            });
            text.push_str(&format!(
                "{header}\n{}\n",
                values.collect::<Vec<_>>().join(" ")
            ));
        }
    }
    Snapshot::from_texts([text.as_str()]).expect("the captured files parse")
}

fn survey(at: u64, samples: [(u32, Snapshot); 3]) -> Batch {
    Batch {
        survey: Some(Survey {
            at,
            scope: Scope::Full,
            root: Some(ROOT),
            counters: samples.into_iter().collect(),
            ..Survey::default()
        }),
        ..Batch::default()
    }
}

#[test]
fn counters_pane_highlights_what_moved() {
    let mut state = empty_state("none");
    let quiet = moved(&[]);
    state.observed.apply(&survey(
        SECOND,
        [
            (ROOT, quiet.clone()),
            (CONTAINER, quiet.clone()),
            (IDLE, quiet.clone()),
        ],
    ));
    let text = pane(&state, 120, 6, super::render);
    assert!(text.contains("nothing moved"), "{text}");
    let overflow = moved(&[("ListenOverflows", 3), ("ListenDrops", 3)]);
    let retransmits = moved(&[("RetransSegs", 12), ("TCPTimeouts", 4)]);
    state.observed.apply(&survey(
        2 * SECOND,
        [
            (ROOT, retransmits.clone()),
            (CONTAINER, overflow.clone()),
            (IDLE, quiet),
        ],
    ));
    state.observed.apply(&survey(
        9 * SECOND,
        [
            (ROOT, retransmits),
            (CONTAINER, overflow),
            (IDLE, moved(&[("OutRsts", 1)])),
        ],
    ));
    let text = pane(&state, 140, 12, super::render);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[2].contains("root"), "root first:\n{text}");
    assert!(
        text.contains("ListenOverflows") && text.contains("accept queue"),
        "{text}"
    );
    assert_snapshot!("counters_140", text);
    assert_snapshot!("counters_80", pane(&state, 80, 12, super::render));
}

#[test]
fn a_frozen_view_keeps_the_counters_of_its_moment() {
    let mut state = empty_state("none");
    let quiet = moved(&[]);
    let samples = |root: Snapshot| {
        [
            (ROOT, root),
            (CONTAINER, quiet.clone()),
            (IDLE, quiet.clone()),
        ]
    };
    state
        .observed
        .apply(&survey(SECOND, samples(quiet.clone())));
    state
        .observed
        .apply(&survey(2 * SECOND, samples(quiet.clone())));
    crate::app::action::update(&mut state, crate::app::action::Action::ToggleFreeze);
    let frozen = pane(&state, 140, 12, super::render);
    let timeouts = moved(&[("TCPTimeouts", 4)]);
    state.observed.apply(&survey(3 * SECOND, samples(timeouts)));
    assert_eq!(pane(&state, 140, 12, super::render), frozen);
    crate::app::action::update(&mut state, crate::app::action::Action::ToggleFreeze);
    let live = pane(&state, 140, 12, super::render);
    assert!(live.contains("TCPTimeouts"), "{live}");
}
