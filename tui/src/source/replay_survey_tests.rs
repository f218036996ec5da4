//! Surveys survive `--json` and a replay: what the printers wrote of a
//! survey, parsed back and gathered, rebuilds the same flows, owners,
//! details, listeners and counters.

use super::*;
use crate::{
    model::{collected::Collected, counters::Snapshot, socket::NamespaceLimits},
    output::{json, json_health},
    source::replay::{Recorded, parse_line},
};

const SECOND: Nanos = 1_000_000_000;
const START: Nanos = 1_700_000_000 * SECOND;
const NETNS: u32 = 4026532100;

fn owner(pid: u32, comm: &str) -> Option<Arc<Owner>> {
    Some(Arc::new(Owner {
        task: Task {
            pid,
            comm: Arc::from(comm),
        },
        unit: Some(Arc::from("shop.service")),
        pod: None,
    }))
}

fn entry(local: &str, remote: &str, state: TcpState) -> SocketEntry {
    SocketEntry {
        netns: NETNS,
        local: local.parse().expect("local"),
        remote: remote.parse().expect("remote"),
        state,
        inode: 7,
        receive_queue: 0,
        send_queue: 0,
        drops: None,
        retransmit_timer_ms: None,
        owner: owner(812, "shop"),
        details: None,
    }
}

/// A live run's surveys: at start an accepted flow with its `tcp_info`, a
/// full listener with two half-open requests; a second later the same,
/// with ListenOverflows up by 3.
fn recorded_surveys() -> [Survey; 2] {
    let mut accepted = entry("10.0.0.2:8080", "10.0.0.1:40000", TcpState::Established);
    accepted.send_queue = 2048;
    accepted.details = Some(TcpDetails {
        rto_ms: 204,
        srtt_us: 1500,
        cwnd: 10,
        bytes_acked: 4096,
        unacked: 2,
        rcv_wnd: Some(65_536),
        ..TcpDetails::default()
    });
    let mut listener = entry("10.0.0.2:8080", "0.0.0.0:0", TcpState::Listen);
    listener.receive_queue = 3;
    listener.send_queue = 2;
    listener.drops = Some(5);
    let request = |port: u16| SocketEntry {
        remote: SocketAddr::from(([10, 0, 0, 9], port)),
        state: TcpState::SynRecv,
        owner: None,
        ..entry("10.0.0.2:8080", "10.0.0.9:1", TcpState::SynRecv)
    };
    let counters = |overflows: i64| {
        let mut snapshot = Snapshot::default();
        snapshot.set("TcpExt", "ListenOverflows", overflows);
        snapshot.set("TcpExt", "TCPTimeouts", 9);
        vec![(NETNS, snapshot)]
    };
    let survey = |at: Nanos, scope: Scope, overflows: i64| Survey {
        at,
        scope,
        sockets: vec![
            accepted.clone(),
            listener.clone(),
            request(50_001),
            request(50_002),
        ],
        namespaces: vec![NamespaceLimits {
            netns: NETNS,
            limits: Default::default(),
        }],
        counters: counters(overflows),
        ..Survey::default()
    };
    [
        survey(START, Scope::Initial, 40),
        survey(START + SECOND, Scope::Full, 43),
    ]
}

/// What `tcpscope --json --sockinfo` prints of each survey, as the
/// `--json` stream orders it: flows found at start, counters, listeners
/// in trouble, then `sockinfo` lines.
fn print(collected: &mut Collected, survey: &Survey) -> Vec<String> {
    let mut lines = Vec::new();
    for sock in collected.apply_survey(survey) {
        let flow = collected.table.flow(sock).expect("added");
        lines.push(json::flow_line(flow, None));
    }
    for (netns, _) in &survey.counters {
        let counters = collected.counters.get(*netns).expect("surveyed");
        lines.extend(json::counters_line(*netns, counters));
    }
    for listener in collected.listeners.iter().filter(|l| l.flagged()) {
        lines.push(json_health::listener_line(listener));
    }
    for flow in collected.table.live() {
        if flow.socket.as_ref().is_some_and(|s| s.at == survey.at) {
            lines.extend(json::sockinfo_line(flow));
        }
    }
    lines
}

fn replay(lines: &[String]) -> Vec<Survey> {
    let mut surveys = Surveys::default();
    let mut gathered = Vec::new();
    for line in lines {
        match parse_line(line) {
            Ok(Recorded::Survey { ts, line }) => gathered.extend(surveys.add(ts, line)),
            other => panic!("{line} read as {other:?}"),
        }
    }
    gathered.extend(surveys.finish());
    gathered
}

#[test]
fn a_replayed_recording_rebuilds_flows_owners_details_listeners_and_counters() {
    let mut live = Collected::default();
    let mut lines = Vec::new();
    for survey in &recorded_surveys() {
        lines.extend(print(&mut live, survey));
    }
    let surveys = replay(&lines);
    assert_eq!(
        surveys.len(),
        2,
        "one survey per time:\n{}",
        lines.join("\n")
    );
    assert_eq!(surveys[0].scope, Scope::Initial);
    assert_eq!(surveys[1].scope, Scope::Full);

    let mut replayed = Collected::default();
    for survey in &surveys {
        replayed.apply_survey(survey);
    }
    let flow = |collected: &Collected, state: TcpState| {
        let flow = collected
            .table
            .live()
            .find(|flow| flow.state == state)
            .cloned()
            .unwrap_or_else(|| panic!("no {state:?} flow"));
        (
            flow.local,
            flow.remote,
            flow.preexisting,
            flow.owner,
            flow.unit,
            flow.socket
                .map(|sample| (sample.details, sample.send_queue)),
        )
    };
    for state in [TcpState::Established, TcpState::Listen] {
        assert_eq!(flow(&replayed, state), flow(&live, state), "{state:?}");
    }
    assert_eq!(replayed.table.counts().live, 2);

    let listener = |collected: &Collected| {
        let listener = collected.listeners.iter().next().cloned().expect("one");
        (
            listener.local,
            listener.depth,
            listener.backlog,
            listener.drops,
            listener.half_open,
            listener.full(),
            listener.owner,
        )
    };
    assert_eq!(listener(&replayed), listener(&live));

    let moved = |collected: &Collected| -> Vec<(&'static str, i64)> {
        let counters = collected.counters.get(NETNS).expect("counted");
        counters
            .moved()
            .map(|reading| (reading.counter.name, reading.delta))
            .collect()
    };
    assert_eq!(moved(&replayed), [("ListenOverflows", 3)]);
    assert_eq!(moved(&replayed), moved(&live));
}

#[test]
fn lines_of_one_time_are_one_survey_and_a_later_time_starts_the_next() {
    let listener = SurveyLine::Listener(entry("10.0.0.2:80", "0.0.0.0:0", TcpState::Listen), 0);
    let mut surveys = Surveys::default();
    assert_eq!(surveys.add(START, listener.clone()), None);
    assert_eq!(surveys.add(START, listener.clone()), None);
    let first = surveys
        .add(START + SECOND, listener)
        .expect("the first ended");
    assert_eq!(
        (first.at, first.sockets.len()),
        (START, 1),
        "one socket, completed"
    );
    let second = surveys.finish().expect("the second");
    assert_eq!(second.at, START + SECOND);
    assert_eq!(surveys.finish(), None);
}

#[test]
fn a_survey_line_that_does_not_parse_says_which_kind_and_why() {
    let line = r#"{"kind":"sockinfo","ts":"2026-11-23T00:00:00Z","saddr":"10.0.0.1"}"#;
    let problem = parse_line(line).expect_err("fields are missing");
    assert!(
        problem.contains("a sockinfo line that does not parse"),
        "{problem}"
    );
    let line = r#"{"kind":"flow","ts":"2026-11-23T00:00:00Z","family":4,"saddr":"10.0.0.1","sport":1,"daddr":"10.0.0.2","dport":2,"netns":1,"state":"SLEEPING","owner_pid":null,"owner_comm":null}"#;
    let problem = parse_line(line).expect_err("no such state");
    assert!(problem.contains("unknown TCP state"), "{problem}");
}

#[test]
fn a_listener_line_claiming_billions_of_half_open_requests_is_capped() {
    let listener = entry("10.0.0.2:80", "0.0.0.0:0", TcpState::Listen);
    let mut surveys = Surveys::default();
    surveys.add(START, SurveyLine::Listener(listener, u32::MAX));
    let survey = surveys.finish().expect("one survey");
    assert_eq!(survey.sockets.len(), usize::from(REQUESTS_KEPT) + 1);
}

#[test]
fn a_replayed_listener_keeps_its_unit_and_a_unit_filter_finds_it() {
    let mut live = Collected::default();
    let mut lines = Vec::new();
    for survey in &recorded_surveys() {
        lines.extend(print(&mut live, survey));
    }
    let mut replayed = Collected::default();
    for survey in &replay(&lines) {
        replayed.apply_survey(survey);
    }
    let listener = replayed.listeners.iter().next().expect("one listener");
    assert_eq!(listener.unit.as_deref(), Some("shop.service"));
    let filter: crate::model::filter::Filter = "unit:shop".parse().expect("a filter");
    assert!(filter.matches(&crate::model::filter::Subject::from(listener)));
}
