//! End-to-end tests of the screen, no root needed: the real binary replays
//! the shipped recording in tmux, a user filters it to one port and presses
//! `s`, and the snapshot file must hold that port's flows and no others,
//! with its header filled in; `--snapshot FILE` does the same headless, and
//! a corrupt recording stops with its line named, keeping what came before.

mod screen_support;

use std::{os::unix::fs::PermissionsExt as _, path::Path, process::Command, time::Duration};

use screen_support::{TempDir, Tmux, bin, demo};

/// The SYN black-hole's port in the recording; the other ports it has.
const PORT: &str = "8081";
const OTHER_PORTS: [&str; 3] = [":8080", ":8082", ":8083"];

/// What every snapshot's header block must say about the recording.
fn assert_header_block(text: &str, filter: &str) {
    let header: Vec<&str> = text.lines().take(9).collect();
    let field = |name: &str| {
        header
            .iter()
            .find_map(|line| line.strip_prefix(name))
            .map(str::trim)
            .unwrap_or_else(|| panic!("no {name} line in the header block:\n{text}"))
    };
    assert_eq!(header[0], "tcpscope snapshot", "{text}");
    assert!(field("time:").starts_with("20"), "{text}");
    assert!(field("host:").contains("demo.jsonl"), "{text}");
    assert!(!field("kernel:").is_empty(), "{text}");
    assert_eq!(field("filter:"), filter, "{text}");
    assert_eq!(field("probes:"), "7 attached", "{text}");
    assert_eq!(field("events lost:"), "0", "{text}");
}

/// The snapshot's screen holds the port's flows and nothing of the others.
fn assert_only_the_port(text: &str) {
    let screen: String = text.lines().skip(10).collect::<Vec<_>>().join("\n");
    assert!(screen.contains(&format!("10.232.0.2:{PORT}")), "{text}");
    for other in OTHER_PORTS {
        assert!(
            !screen.contains(other),
            "{other} is in the snapshot:\n{text}"
        );
    }
    for pane in [
        "SYN_SENT retries (2)",
        "Flows (3,",
        "Closed on timeout or reset (2)",
    ] {
        assert!(screen.contains(pane), "no {pane:?}:\n{text}");
    }
}

#[test]
fn filter_then_snapshot_in_the_live_screen() {
    let dir = TempDir::new("e2e");
    let command = format!("{} --replay {} --speed 0", bin(), demo().display());
    let tmux = Tmux::start(&dir.0, 160, 48, &command);
    tmux.wait_for("the end of the replay", Duration::from_secs(20), |screen| {
        screen.contains("REPLAY ended")
    });
    tmux.keys(&["/"]);
    tmux.wait_for("the filter box", Duration::from_secs(5), |screen| {
        screen.contains("Filter: Enter applies")
    });
    tmux.type_text(&format!("port:{PORT}"));
    tmux.keys(&["Enter"]);
    tmux.wait_for(
        "the filter in the header",
        Duration::from_secs(5),
        |screen| screen.contains(&format!("filter port:{PORT}")) && screen.contains("Flows (3,"),
    );
    tmux.keys(&["s"]);
    let screen = tmux.wait_for("the snapshot's path", Duration::from_secs(5), |screen| {
        screen.contains("snapshot written to")
    });
    let written: Vec<_> = std::fs::read_dir(&dir.0)
        .expect("read the temp dir")
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .collect();
    assert_eq!(written.len(), 1, "one snapshot file: {written:?}\n{screen}");
    let path = &written[0];
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned());
    let name = name.unwrap_or_default();
    assert!(
        name.starts_with("tcpscope-") && name.ends_with(".txt") && name.len() == 28,
        "{name}"
    );
    assert!(
        screen.contains(&name),
        "the status line names {name}:\n{screen}"
    );
    let mode = std::fs::metadata(path).expect("stat").permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let text = std::fs::read_to_string(path).expect("read the snapshot");
    assert!(!text.contains('\u{1b}'), "no escape codes in a snapshot");
    assert!(text.lines().all(|line| line == line.trim_end()));
    assert_header_block(&text, &format!("port:{PORT}"));
    assert_only_the_port(&text);
    tmux.keys(&["q"]);
    tmux.wait_for("tcpscope to quit", Duration::from_secs(5), |_| {
        tmux.exited()
    });
}

#[test]
fn headless_snapshot_of_a_replay() {
    let dir = TempDir::new("headless");
    let file = dir.0.join("view.txt");
    let run = |file: &Path| {
        Command::new(bin())
            .args(["--replay", &demo().display().to_string(), "--speed", "0"])
            .args(["--port", PORT, "--snapshot", &file.display().to_string()])
            .output()
            .expect("run tcpscope")
    };
    let output = run(&file);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let text = std::fs::read_to_string(&file).expect("the snapshot was written");
    assert_header_block(&text, &format!("port:{PORT}"));
    assert_only_the_port(&text);
    let (screen, pages) = text
        .split_once("\n[page: ")
        .expect("the other pages follow the screen");
    assert_eq!(
        screen.lines().count(),
        10 + 48,
        "a 160x48 screen under the block"
    );
    assert!(pages.starts_with("drops]"), "{pages}");
    let again = run(&file);
    assert!(
        !again.status.success(),
        "an existing file is never overwritten"
    );
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    assert_eq!(std::fs::read_to_string(&file).expect("read"), text);
}

#[test]
fn a_snapshot_into_a_missing_directory_fails_before_the_run() {
    let dir = TempDir::new("nodir");
    let file = dir.0.join("missing").join("view.txt");
    let started = std::time::Instant::now();
    let output = Command::new(bin())
        .args(["--replay", &demo().display().to_string(), "--speed", "1"])
        .args([
            "--duration",
            "60s",
            "--snapshot",
            &file.display().to_string(),
        ])
        .output()
        .expect("run tcpscope");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("the directory does not exist"),
        "the cause is named: {stderr}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "it fails at once, not after the 60 s run: {:?}",
        started.elapsed()
    );
    assert!(!file.exists());
}

#[test]
fn a_corrupt_recording_stops_at_its_line_and_keeps_what_came_before() {
    let dir = TempDir::new("corrupt");
    let demo = std::fs::read_to_string(demo()).expect("read the recording");
    let mut lines: Vec<&str> = demo.lines().take(20).collect();
    lines.push("{\"kind\":\"retransmit\",\"ts\":");
    let recording = dir.0.join("corrupt.jsonl");
    std::fs::write(&recording, lines.join("\n")).expect("write the recording");
    let file = dir.0.join("view.txt");
    let output = Command::new(bin())
        .args(["--replay", &recording.display().to_string(), "--speed", "0"])
        .args(["--snapshot", &file.display().to_string()])
        .output()
        .expect("run tcpscope");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("corrupt.jsonl line 21:") && !stderr.contains("panicked"),
        "{stderr}"
    );
    let text = std::fs::read_to_string(&file).expect("the snapshot was still written");
    assert!(text.contains("source stopped:"), "{text}");
    assert!(
        text.contains("refused"),
        "the refused connect came before: {text}"
    );
}

#[test]
fn the_screen_stays_up_after_a_corrupt_line() {
    let dir = TempDir::new("corrupt-screen");
    let demo = std::fs::read_to_string(demo()).expect("read the recording");
    let mut lines: Vec<&str> = demo.lines().take(20).collect();
    lines.push("not json");
    std::fs::write(dir.0.join("bad.jsonl"), lines.join("\n")).expect("write the recording");
    let tmux = Tmux::start(
        &dir.0,
        80,
        24,
        &format!("{} --replay bad.jsonl --speed 0", bin()),
    );
    let screen = tmux.wait_for("the error", Duration::from_secs(20), |screen| {
        screen.contains("bad.jsonl line 21") && screen.contains("REPLAY ended")
    });
    assert!(screen.contains("refused") && !tmux.exited(), "{screen}");
    tmux.keys(&["q"]);
    tmux.wait_for("tcpscope to quit", Duration::from_secs(5), |_| {
        tmux.exited()
    });
}
