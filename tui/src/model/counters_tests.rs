//! Counter text as this machine's kernel (6.18) prints it, and the deltas
//! between samples.

use super::*;

const NETSTAT: &str = include_str!("fixtures/netstat.txt");
const SNMP: &str = include_str!("fixtures/snmp.txt");
const SECOND: Nanos = 1_000_000_000;

fn snapshot() -> Snapshot {
    Snapshot::from_texts([NETSTAT, SNMP]).expect("the captured files parse")
}

/// The captured text with one counter's value replaced.
fn with_value(text: &str, prefix: &str, name: &str, value: i64) -> String {
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let header = lines
        .iter()
        .position(|line| line.starts_with(&format!("{prefix}:")))
        .expect("the prefix is in the text");
    let column = lines[header]
        .split_whitespace()
        .position(|field| field == name)
        .expect("the counter is in the header");
    let mut values: Vec<String> = lines[header + 1]
        .split_whitespace()
        .map(String::from)
        .collect();
    values[column] = value.to_string();
    lines[header + 1] = values.join(" ");
    lines.join("\n")
}

#[test]
fn the_captured_files_give_every_watched_counter_but_the_retired_one() {
    let snapshot = snapshot();
    for counter in WATCHED {
        let value = snapshot.get(counter.prefix, counter.name);
        match counter.name {
            "PAWSPassive" => assert_eq!(value, None, "gone since 4.12"),
            _ => assert!(value.is_some(), "{} missing", counter.name),
        }
    }
    assert_eq!(snapshot.get("TcpExt", "ListenOverflows"), Some(25));
    assert_eq!(snapshot.get("Tcp", "RetransSegs"), Some(81));
    assert_eq!(snapshot.get("Tcp", "MaxConn"), Some(-1));
    assert_eq!(snapshot.get("IpExt", "InOctets"), Some(2_687_001_423));
    assert_eq!(snapshot.get("Udp", "InErrors"), Some(0));
}

#[test]
fn every_paws_counter_the_kernel_prints_is_watched() {
    let header = NETSTAT.lines().next().unwrap_or_default();
    let paws: Vec<&str> = header
        .split_whitespace()
        .filter(|name| name.starts_with("PAWS") || *name == "TSEcrRejected")
        .collect();
    assert_eq!(
        paws,
        [
            "PAWSActive",
            "PAWSEstab",
            "TSEcrRejected",
            "PAWSOldAck",
            "PAWSTimewait"
        ]
    );
    for name in paws {
        assert!(WATCHED.iter().any(|counter| counter.name == name), "{name}");
    }
}

#[test]
fn broken_text_is_an_error_that_says_where() {
    let mismatch = "TcpExt: A B\nIpExt: 1 2\n";
    assert!(matches!(
        Snapshot::from_texts([mismatch]),
        Err(CountersError::PrefixMismatch { line: 2, .. })
    ));
    let short = "Tcp: A B\nTcp: 1\n";
    let error = Snapshot::from_texts([short]).expect_err("a value is missing");
    assert_eq!(error.to_string(), "line 2: Tcp has 2 names but 1 values");
    let word = "Tcp: A\nTcp: x\n";
    assert!(matches!(
        Snapshot::from_texts([word]),
        Err(CountersError::NotANumber { .. })
    ));
    let cut = "Tcp: A\nTcp: 1\nUdp: B\n";
    let snapshot = Snapshot::from_texts([cut]).expect("a cut file keeps what it has");
    assert_eq!(snapshot.get("Tcp", "A"), Some(1));
    assert_eq!(Snapshot::from_texts([""]), Ok(Snapshot::default()));
}

#[test]
fn deltas_say_what_moved_and_when() {
    let mut counters = Counters::default();
    counters.update(SECOND, &snapshot());
    assert_eq!(
        counters.moved().count(),
        0,
        "the first sample is a baseline"
    );
    let netstat = with_value(NETSTAT, "TcpExt", "ListenOverflows", 28);
    let netstat = with_value(&netstat, "TcpExt", "ListenDrops", 28);
    let later = Snapshot::from_texts([netstat.as_str(), SNMP]).expect("parses");
    counters.update(2 * SECOND, &later);
    let moved: Vec<(&str, i64, i64)> = counters
        .moved()
        .map(|reading| (reading.counter.name, reading.delta, reading.total))
        .collect();
    assert_eq!(moved, [("ListenOverflows", 3, 28), ("ListenDrops", 3, 28)]);
    counters.update(3 * SECOND, &later);
    assert_eq!(counters.moved().count(), 0);
    let ever: Vec<(&str, Option<Nanos>)> = counters
        .ever_moved()
        .map(|reading| (reading.counter.name, reading.last_moved))
        .collect();
    assert_eq!(
        ever,
        [
            ("ListenOverflows", Some(2 * SECOND)),
            ("ListenDrops", Some(2 * SECOND))
        ]
    );
    assert_eq!(counters.last_moved(), Some(2 * SECOND));
}

#[test]
fn a_counter_that_goes_down_starts_over() {
    let mut counters = Counters::default();
    counters.update(SECOND, &snapshot());
    let netstat = with_value(NETSTAT, "TcpExt", "ListenOverflows", 2);
    let reset = Snapshot::from_texts([netstat.as_str(), SNMP]).expect("parses");
    counters.update(2 * SECOND, &reset);
    assert_eq!(counters.moved().count(), 0);
}

#[test]
fn namespaces_list_root_first_then_by_activity() {
    let quiet = snapshot();
    let busy_text = with_value(NETSTAT, "TcpExt", "TCPTimeouts", 100);
    let busy = Snapshot::from_texts([busy_text.as_str(), SNMP]).expect("parses");
    let mut all = NamespaceCounters {
        root: Some(30),
        ..NamespaceCounters::default()
    };
    for netns in [10, 20, 30] {
        all.update(netns, SECOND, &quiet);
    }
    all.update(10, 2 * SECOND, &quiet);
    all.update(20, 2 * SECOND, &busy);
    all.update(30, 2 * SECOND, &quiet);
    let order: Vec<u32> = all.by_activity().iter().map(|(netns, _)| *netns).collect();
    assert_eq!(order, [30, 20, 10]);
    all.survey(3 * SECOND, Some(30), [(30, &quiet), (10, &quiet)], false);
    assert_eq!(all.len(), 2);
    assert!(all.get(20).is_none());
}

#[test]
fn counted_from_zero_a_new_namespaces_first_sample_is_all_moves() {
    let mut moved = Snapshot::default();
    moved.set("TcpExt", "ListenOverflows", 3);
    let mut live = NamespaceCounters::default();
    live.survey(SECOND, None, [(10, &moved)], false);
    assert_eq!(
        live.get(10).expect("sampled").moved().count(),
        0,
        "a baseline"
    );
    let mut replayed = NamespaceCounters::default();
    replayed.survey(SECOND, None, [(10, &moved)], true);
    let moves: Vec<(&str, i64)> = replayed
        .get(10)
        .expect("sampled")
        .moved()
        .map(|reading| (reading.counter.name, reading.delta))
        .collect();
    assert_eq!(moves, [("ListenOverflows", 3)]);
    // Known from then on: the next sample counts from this one.
    replayed.survey(2 * SECOND, None, [(10, &moved)], true);
    assert_eq!(replayed.get(10).expect("sampled").moved().count(), 0);
}
