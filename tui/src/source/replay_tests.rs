//! Tests of the replay source: every event kind survives `--json` and back,
//! corrupt lines are named, and a replay stops at one without losing what
//! came before.

use std::io::Write as _;

use super::*;
use crate::{
    model::event::SocketLimits,
    model::event::Task as Owner,
    model::table::Applied,
    output::json::{self, flow_end_line},
};

/// An event line as `tcpscope --json` prints it (no forecast).
fn event_line(event: &Event, owner: Option<&Owner>) -> String {
    json::event_line(event, owner, &Applied::default(), None)
}

fn event(kind: EventKind) -> Event {
    Event {
        ts: 1_700_000_000_123_456_000,
        sock: Some(SockId(0xffff_8881_0a7d_b780)),
        netns: 4026531840,
        local: "10.232.0.1:40000".parse().expect("address"),
        remote: "10.232.0.2:80".parse().expect("address"),
        task: Some(Task {
            pid: 4242,
            comm: "curl".into(),
        }),
        kind,
    }
}

fn round_trip(original: &Event) -> Event {
    let line = event_line(original, original.task.as_ref());
    match parse_line(&line) {
        Ok(Recorded::Event(event)) => event,
        other => panic!("{line} parsed as {other:?}"),
    }
}

#[test]
fn every_event_kind_survives_the_json_contract() {
    let limits = SocketLimits {
        retries2: 4,
        syn_retries: 3,
        synack_retries: 5,
        orphan_retries: 0,
        syn_linear_timeouts: 0,
        sock_syn_retries: Some(2),
        user_timeout_ms: None,
        rto_min_ms: Some(200),
        rto_max_ms: Some(120_000),
        since_first_retransmit_ms: Some(432),
        hz: 250,
    };
    let kinds = [
        EventKind::State {
            old: TcpState::SynSent,
            new: TcpState::Close,
            err: errno::ETIMEDOUT,
            stack: Some(
                vec![
                    "tcp_done+0x2e".to_string(),
                    "tcp_write_timer+0x9".to_string(),
                ]
                .into(),
            ),
        },
        EventKind::State {
            old: TcpState::Close,
            new: TcpState::SynSent,
            err: 0,
            stack: None,
        },
        EventKind::Retransmit(Retransmit {
            rto_ms: 408,
            backoff: 1,
            retransmits: 2,
            cause: RetransmitCause::Timer,
            limits: Some(limits),
            state: Some(TcpState::Established),
        }),
        EventKind::Retransmit(Retransmit {
            rto_ms: 210,
            backoff: 0,
            retransmits: 0,
            cause: RetransmitCause::LossProbe,
            limits: None,
            state: None,
        }),
        EventKind::SynAckRetransmit {
            retransmits: 1,
            timeouts: 1,
        },
        EventKind::ResetSent,
        EventKind::ResetReceived,
        EventKind::Drop(PacketDrop {
            reason: "TCP_RFC7323_PAWS".into(),
            location: "tcp_validate_incoming+0x16b".into(),
            flags: TcpFlags(0x18),
            outgoing: false,
            stack: Some(vec!["sk_skb_reason_drop+0x90".to_string()].into()),
        }),
        EventKind::Drop(PacketDrop {
            reason: "NETFILTER_DROP".into(),
            location: "nft_do_chain+0x42".into(),
            flags: TcpFlags(0x02),
            outgoing: true,
            stack: None,
        }),
    ];
    for kind in kinds {
        let original = event(kind);
        assert_eq!(round_trip(&original), original);
    }
}

#[test]
fn an_event_without_an_owner_or_socket_has_none() {
    let mut original = event(EventKind::ResetSent);
    original.sock = None;
    original.task = None;
    assert_eq!(round_trip(&original), original);
}

#[test]
fn stats_lines_carry_the_totals_and_flow_ends_are_skipped() {
    let stats = r#"{"kind":"stats","ts":"2026-11-22T20:17:01.393046Z","events":9,"lost":7,"malformed":2,"flows_live":0,"flows_ended":0,"flows_evicted":0,"probes_attached":6,"probes_failed":[]}"#;
    assert!(matches!(
        parse_line(stats),
        Ok(Recorded::Stats {
            lost: 7,
            malformed: 2,
            ..
        })
    ));
    let mut ended = crate::model::flow::Flow::new(
        SockId(1),
        0,
        "10.0.0.1:1".parse().expect("address"),
        "10.0.0.2:2".parse().expect("address"),
        5,
    );
    ended.end = Some(Box::new(crate::model::flow::FlowEnd {
        at: 1_000_000_000,
        reason: crate::model::flow::EndReason::Timeout,
        err: errno::ETIMEDOUT,
        last_state: TcpState::SynSent,
        stack: None,
    }));
    let line = flow_end_line(&ended).expect("an ended flow has a flow_end line");
    assert_eq!(
        parse_line(&line),
        Ok(Recorded::Skipped { ts: 1_000_000_000 })
    );
}

#[test]
fn corrupt_lines_say_what_is_wrong() {
    let cases = [
        ("{not json", "not an event"),
        (
            r#"{"kind":"state","ts":"yesterday"}"#,
            "not an RFC 3339 time",
        ),
        (
            r#"{"kind":"retransmit","ts":"2026-11-22T20:17:01Z","backoff":1}"#,
            "missing field `rto_ms`",
        ),
        (
            &event_line(&event(EventKind::ResetSent), None).replace("0xffff", "zz"),
            "not a hex address",
        ),
        (
            &event_line(
                &event(EventKind::State {
                    old: TcpState::Close,
                    new: TcpState::SynSent,
                    err: 0,
                    stack: None,
                }),
                None,
            )
            .replace("SYN_SENT", "SYN_WAIT"),
            "unknown TCP state \"SYN_WAIT\"",
        ),
    ];
    for (line, expected) in cases {
        let problem = parse_line(line).expect_err(line);
        assert!(problem.contains(expected), "{line}: {problem}");
    }
}

#[test]
fn the_first_stats_line_names_the_recorded_probes() {
    let probes = recorded_probes(
        r#"{"kind":"stats","ts":"2026-11-22T20:17:01Z","probes_attached":2,"probes_failed":[{"probe":"tcp_probe","error":"EPERM"}]}"#,
    );
    assert_eq!(probes.len(), 3);
    assert_eq!(probes.iter().filter(|p| p.failure.is_none()).count(), 2);
    assert_eq!(probes[2].name, "tcp_probe");
    assert_eq!(probes[2].failure.as_deref(), Some("EPERM"));
}

#[test]
fn a_corrupt_probe_count_allocates_nothing_past_the_bound() {
    let probes = recorded_probes(
        r#"{"kind":"stats","ts":"2026-11-22T20:17:01Z","probes_attached":4294967295,"probes_failed":[]}"#,
    );
    assert_eq!(probes.len(), MOST_RECORDED_PROBES);
}

fn recording(lines: &[String]) -> tempfile_like::TempFile {
    let file = tempfile_like::TempFile::new("replay");
    let mut handle = std::fs::File::create(&file.path).expect("create the recording");
    for line in lines {
        writeln!(handle, "{line}").expect("write the recording");
    }
    file
}

/// A file under the system temp dir, removed on drop.
mod tempfile_like {
    pub struct TempFile {
        pub path: std::path::PathBuf,
    }

    impl TempFile {
        pub fn new(name: &str) -> Self {
            let unique = format!(
                "tcpscope-test-{name}-{}-{:?}.jsonl",
                std::process::id(),
                std::thread::current().id()
            );
            Self {
                path: std::env::temp_dir().join(unique.replace(['(', ')'], "")),
            }
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[test]
fn a_replay_stops_at_a_corrupt_line_after_sending_what_came_before() {
    let good = event(EventKind::ResetReceived);
    let line = event_line(&good, good.task.as_ref());
    let file = recording(&[line.clone(), String::new(), line, "{\"kind\":".to_string()]);
    let (batches, result, clock) = play_all(&file.path, 0.0);
    let events: usize = batches.iter().map(|batch| batch.events.len()).sum();
    assert_eq!(events, 2, "both good lines were sent before the error");
    let error = result
        .expect_err("the corrupt line stops the replay")
        .to_string();
    assert!(
        error.contains(&file.path.display().to_string()) && error.contains("line 4:"),
        "{error}"
    );
    assert_eq!(clock, good.ts);
}

#[test]
fn a_paced_replay_takes_the_recordings_time_divided_by_the_speed() {
    let mut first = event(EventKind::ResetSent);
    let mut second = first.clone();
    first.ts = 1_000_000_000;
    second.ts = 1_400_000_000;
    let lines = [&first, &second].map(|event| event_line(event, None));
    let file = recording(&lines);
    let started = std::time::Instant::now();
    let (batches, result, clock) = play_all(&file.path, 2.0);
    let took = started.elapsed();
    result.expect("a clean recording plays to its end");
    assert!(
        took >= Duration::from_millis(190) && took < Duration::from_secs(2),
        "0.4 s of recording at speed 2 took {took:?}"
    );
    assert_eq!(batches.iter().map(|b| b.events.len()).sum::<usize>(), 2);
    assert_eq!(clock, second.ts);
}

#[test]
fn a_survey_arrives_after_the_events_before_it_and_before_those_after_it() {
    let before = event(EventKind::ResetSent);
    let mut after = before.clone();
    after.ts = before.ts + 2_000_000_000;
    let survey_ts = "2023-11-14T22:13:21Z";
    let listener = |sport: u16| {
        format!(
            r#"{{"kind":"listener","ts":"{survey_ts}","family":4,"saddr":"10.232.0.2","sport":{sport},"netns":4026531840,"owner_pid":7,"owner_comm":"db","depth":3,"backlog":2,"full":true,"dropping":false,"drops":1,"drops_delta":0,"half_open":1,"synack_retransmits":0}}"#
        )
    };
    let lines = [
        event_line(&before, None),
        listener(5432),
        // A derived line in between belongs to no survey and ends none.
        format!(r#"{{"kind":"stall_end","ts":"{survey_ts}"}}"#),
        listener(5433),
        event_line(&after, None),
    ];
    let file = recording(&lines);
    let (batches, result, _) = play_all(&file.path, 0.0);
    result.expect("a clean recording plays to its end");
    let order: Vec<String> = batches
        .iter()
        .flat_map(|batch| {
            let events = batch
                .events
                .iter()
                .map(|event| format!("event {}", event.ts));
            let survey = batch.survey.iter().map(|survey| {
                format!("survey {} with {} sockets", survey.at, survey.sockets.len())
            });
            events.chain(survey).collect::<Vec<_>>()
        })
        .collect();
    let at = parse_rfc3339(survey_ts).expect("time");
    assert_eq!(
        order,
        [
            format!("event {}", before.ts),
            // Two listeners, each with its half-open request.
            format!("survey {at} with 4 sockets"),
            format!("event {}", after.ts),
        ]
    );
}

#[test]
fn a_recording_plays_from_a_pipe() {
    let good = event(EventKind::ResetReceived);
    let line = event_line(&good, good.task.as_ref());
    let fifo = tempfile_like::TempFile::new("fifo");
    let path = std::ffi::CString::new(fifo.path.as_os_str().as_encoded_bytes()).expect("path");
    // SAFETY: mkfifo reads the NUL-terminated path only.
    assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o600) }, 0, "mkfifo");
    let writer = {
        let path = fifo.path.clone();
        std::thread::spawn(move || {
            let mut pipe = std::fs::OpenOptions::new()
                .write(true)
                .open(path)
                .expect("open the pipe");
            writeln!(pipe, "{line}\n{line}").expect("write the pipe");
        })
    };
    let (batches, result, _) = play_all(&fifo.path, 0.0);
    writer.join().expect("writer thread");
    result.expect("a pipe plays to its end");
    assert_eq!(batches.iter().map(|b| b.events.len()).sum::<usize>(), 2);
}

#[test]
fn a_line_past_the_bound_is_an_error_naming_it() {
    let good = event(EventKind::ResetReceived);
    let endless = "x".repeat(MOST_LINE_BYTES + 10);
    let file = recording(&[event_line(&good, None), endless]);
    let (batches, result, _) = play_all(&file.path, 0.0);
    let error = result
        .expect_err("an endless line stops the replay")
        .to_string();
    assert!(
        error.contains("line 2:") && error.contains("longer than"),
        "{error}"
    );
    assert_eq!(batches.iter().map(|b| b.events.len()).sum::<usize>(), 1);
}

#[test]
fn a_byte_order_mark_before_the_first_line_is_read_past() {
    let stats = r#"{"kind":"stats","ts":"2026-11-22T20:17:01Z","events":0,"lost":3,"malformed":0,"probes_attached":7,"probes_failed":[]}"#;
    let file = recording(&[format!("\u{feff}{stats}")]);
    let (_, info) = Replay::open(&file.path, 0.0).expect("open");
    assert_eq!(info.attached(), 7);
    let (batches, result, _) = play_all(&file.path, 0.0);
    result.expect("the recording plays");
    assert_eq!(batches.last().map(|b| b.lost), Some(3));
}

#[test]
fn lines_of_an_unknown_kind_are_counted_as_malformed() {
    let stats = r#"{"kind":"stats","ts":"2026-11-22T20:17:01Z","events":0,"lost":0,"malformed":2,"probes_attached":7,"probes_failed":[]}"#;
    let unknown = r#"{"kind":"from_the_future","ts":"2026-11-22T20:17:02Z"}"#;
    let derived = r#"{"kind":"flow_end","ts":"2026-11-22T20:17:02Z"}"#;
    let file = recording(&[stats.to_string(), unknown.to_string(), derived.to_string()]);
    let (batches, result, _) = play_all(&file.path, 0.0);
    result.expect("unknown kinds do not stop a replay");
    assert_eq!(batches.last().map(|b| b.malformed), Some(3), "{batches:?}");
}

#[test]
fn rfc3339_times_with_an_offset_are_read_as_utc() {
    let utc = parse_rfc3339("2026-11-22T20:17:01.5Z").expect("UTC");
    assert_eq!(parse_rfc3339("2026-11-22T21:17:01.5+01:00"), Some(utc));
    assert_eq!(parse_rfc3339("2026-11-22T14:47:01.5-05:30"), Some(utc));
    assert_eq!(parse_rfc3339("2026-11-22T20:17:01.5+00:00"), Some(utc));
    assert_eq!(parse_rfc3339("2026-11-22T20:17:01.5+25:00"), None);
    assert_eq!(parse_rfc3339("2026-11-22T20:17:01.5"), None);
}
