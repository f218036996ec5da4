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
