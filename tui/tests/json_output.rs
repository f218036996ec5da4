//! `tcpscope --json` as scripts use it, driven by the shipped recording (no
//! root needed): a reader that stops early, as `| head` does, ends the run
//! quietly instead of with an error.

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
};

const BIN: &str = env!("CARGO_BIN_EXE_tcpscope");
const DEMO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../assets/demo.jsonl");

#[test]
fn a_reader_that_stops_early_ends_the_run_quietly() {
    let mut child = Command::new(BIN)
        // Slowed down so that nothing but the last stats line is written
        // after the reader has gone.
        .args([
            "--replay",
            DEMO,
            "--speed",
            "0.01",
            "--duration",
            "500ms",
            "--json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tcpscope starts");
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut first = String::new();
    BufReader::new(stdout)
        .read_line(&mut first)
        .expect("a first line");
    assert!(first.contains(r#""kind":"stats""#), "{first}");
    // The reader is gone: every later write meets a closed pipe.
    let output = child.wait_with_output().expect("tcpscope exits");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{}: {stderr}", output.status);
    assert!(stderr.is_empty(), "nothing to report: {stderr}");
}

/// A recording made with `--json --sockinfo` (assets/record-stall.sh): a
/// client stalled on a server that never reads.
const STALL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../assets/stall.jsonl");

/// The lines of `text` of the kinds a survey makes, sorted.
fn survey_lines(text: &str) -> Vec<&str> {
    let kinds = ["flow", "sockinfo", "counters", "stall"].map(|k| format!(r#""kind":"{k}""#));
    let mut lines: Vec<&str> = text
        .lines()
        .filter(|line| {
            kinds
                .iter()
                .any(|kind| line.starts_with(&format!("{{{kind}")))
        })
        .collect();
    lines.sort_unstable();
    lines
}

#[test]
fn a_recording_with_surveys_replays_its_owners_details_counters_and_stall() {
    let output = Command::new(BIN)
        .args(["--replay", STALL, "--speed", "0", "--json", "--sockinfo"])
        .stdin(Stdio::null())
        .output()
        .expect("tcpscope runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{}: {stderr}", output.status);
    let replayed = String::from_utf8_lossy(&output.stdout);
    let recorded = std::fs::read_to_string(STALL).expect("the recording");
    let lines = survey_lines(&replayed);
    assert_eq!(lines, survey_lines(&recorded), "replayed:\n{replayed}");
    // What only a survey knows: the accepted flow's owner, and the stall
    // worked out again from the replayed `tcp_info`.
    assert!(
        lines
            .iter()
            .any(|line| line.contains(r#""kind":"sockinfo""#)
                && line.contains(r#""sport":7000,"daddr":"10.233.0.1""#)
                && line.contains(r#""owner_comm":"ledger""#)),
        "{replayed}"
    );
    assert!(
        lines.iter().any(|line| line.contains(r#""kind":"stall""#)
            && line.contains(r#""owner_comm":"exporter""#)
            && line.contains(r#""cause":"zero_window""#)),
        "{replayed}"
    );
}
