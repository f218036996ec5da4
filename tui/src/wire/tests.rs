//! The contract holds: every line of every recording in assets/ reads and
//! writes back byte for byte, and a sample of every kind, with every field
//! set, is kept as a snapshot that a renamed or removed field breaks.

use std::{collections::BTreeMap, fs, net::IpAddr, path::Path};

use super::*;

fn assets() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets")
}

#[test]
fn every_line_of_every_recording_reads_and_writes_back_unchanged() {
    let mut recordings = 0;
    let mut lines = 0;
    for entry in fs::read_dir(assets()).expect("assets/") {
        let path = entry.expect("an entry").path();
        if path.extension().is_none_or(|ext| ext != "jsonl") {
            continue;
        }
        recordings += 1;
        let text = fs::read_to_string(&path).expect("a recording");
        for (number, text) in text.lines().enumerate() {
            let at = format!("{} line {}", path.display(), number + 1);
            let line: Line = serde_json::from_str(text).unwrap_or_else(|e| panic!("{at}: {e}"));
            assert_ne!(line, Line::Unknown, "{at}: a kind of the contract");
            assert_eq!(line.to_json(), text, "{at}");
            lines += 1;
        }
    }
    assert!(
        recordings >= 3 && lines > 200,
        "{recordings} recordings, {lines} lines"
    );
}

fn endpoints() -> Endpoints {
    Endpoints {
        family: 4,
        saddr: IpAddr::from([10, 0, 0, 1]),
        sport: 40_000,
        daddr: IpAddr::from([10, 0, 0, 2]),
        dport: 443,
        netns: 4_026_531_840,
    }
}

fn event() -> EventFields {
    EventFields {
        ts: "2026-12-02T06:00:00.000001Z".to_string(),
        sock: Some("0xffff888012345678".to_string()),
        endpoints: endpoints(),
        pid: Some(812),
        comm: Some("curl".to_string()),
    }
}

fn pod() -> PodFields {
    PodFields {
        pod_namespace: text("payments"),
        pod: text("checkout-7f9c"),
        container: text("api"),
    }
}

fn text(value: &str) -> String {
    value.to_string()
}

fn some(value: &str) -> Option<String> {
    Some(value.to_string())
}

/// Every kind of line, each field set (an absent optional field would
/// hide its name from the snapshot).
fn samples() -> Vec<Line> {
    let ts = event().ts;
    let limits = LimitsField {
        retries2: 15,
        syn_retries: 6,
        synack_retries: 5,
        orphan_retries: 0,
        syn_linear_timeouts: 4,
        sock_syn_retries: Some(2),
        user_timeout_ms: Some(30_000),
        rto_min_ms: Some(200),
        rto_max_ms: Some(120_000),
        since_first_retransmit_ms: Some(1_000),
        hz: 250,
    };
    let info = TcpInfo {
        rto_ms: 204,
        backoff: 1,
        retransmits: 1,
        probes: 0,
        srtt_us: 1_500,
        rttvar_us: 700,
        cwnd: 10,
        ssthresh: 7,
        mss: 1_448,
        unacked: 2,
        lost: 1,
        retrans: 1,
        total_retrans: 3,
        notsent_bytes: 0,
        bytes_acked: 4_096,
        bytes_received: 512,
        snd_wnd: 65_535,
        rcv_space: 14_600,
        rcv_wnd: Some(65_536),
        last_send_ms: 10,
        last_receive_ms: 20,
        last_ack_ms: 30,
    };
    vec![
        Line::State(StateLine {
            event: event(),
            old_state: text("SYN_SENT"),
            new_state: text("CLOSE"),
            err: some("ETIMEDOUT"),
            stack: Some(vec![text("tcp_write_err+0x2a")]),
        }),
        Line::Retransmit(RetransmitLine {
            event: event(),
            rto_ms: 2_000,
            backoff: 1,
            retransmits: 1,
            tlp: false,
            cause: text("timer"),
            state: some("SYN_SENT"),
            limits: Some(limits),
            give_up_earliest: Some(ts.clone()),
            give_up_latest: Some(ts.clone()),
            give_up_error: some("ETIMEDOUT"),
        }),
        Line::SynackRetransmit(SynAckLine {
            event: event(),
            retransmits: 1,
            timeouts: 1,
        }),
        Line::ResetSent(event()),
        Line::ResetReceived(event()),
        Line::Destroy(event()),
        Line::Drop(DropLine {
            event: event(),
            reason: text("QDISC_DROP"),
            location: text("__dev_queue_xmit+0x7c3"),
            flags: text("SYN"),
            outgoing: true,
            stack: vec![text("__dev_queue_xmit+0x7c3")],
            kept_retransmit: Some(2),
            give_up_earliest: Some(ts.clone()),
            give_up_latest: Some(ts.clone()),
            give_up_error: some("ETIMEDOUT"),
        }),
        Line::FlowEnd(FlowEndLine {
            ts: ts.clone(),
            sock: text("0xffff888012345678"),
            endpoints: endpoints(),
            owner_pid: Some(812),
            owner_comm: some("curl"),
            reason: text("timeout"),
            duration_ms: 130_000,
            seen_from_start: true,
            retransmits: 6,
            resets_received: 0,
            err: some("ETIMEDOUT"),
            last_state: text("SYN_SENT"),
            stack: vec![text("tcp_write_err+0x2a")],
        }),
        Line::Flow(FlowLine {
            ts: ts.clone(),
            endpoints: endpoints(),
            preexisting: true,
            state: text("ESTABLISHED"),
            owner: OwnerFields {
                owner_pid: Some(812),
                owner_comm: some("curl"),
                unit: some("shop.service"),
                pod: Some(pod()),
            },
            rto_ms: Some(204),
            backoff: Some(0),
            retransmits: Some(0),
            unacked: Some(0),
            last_send_ms: Some(10),
            give_up_earliest: Some(ts.clone()),
            give_up_latest: Some(ts.clone()),
            give_up_error: some("ETIMEDOUT"),
        }),
        Line::Sockinfo(SockinfoLine {
            ts: ts.clone(),
            endpoints: endpoints(),
            state: text("ESTABLISHED"),
            owner: OwnerFields {
                owner_pid: Some(812),
                owner_comm: some("curl"),
                unit: some("shop.service"),
                pod: Some(pod()),
            },
            send_queue: 2_048,
            receive_queue: 0,
            info,
        }),
        Line::Stall(StallLine {
            ts: ts.clone(),
            sock: text("0xffff888012345678"),
            endpoints: endpoints(),
            state: text("ESTABLISHED"),
            owner_pid: Some(812),
            owner_comm: some("exporter"),
            cause: text("zero_window"),
            peer_alive: Some(true),
            stalled_ms: 5_000,
            unacked: 0,
            notsent_bytes: 4_096,
            send_queue: 4_096,
            snd_wnd: 0,
            probes: 3,
            backoff: 3,
            retransmits: 0,
            total_retrans: 0,
        }),
        Line::StallEnd(StallEndLine {
            ts: ts.clone(),
            endpoints: endpoints(),
            owner_pid: Some(812),
            owner_comm: some("exporter"),
            cause: text("zero_window"),
            peer_alive: Some(true),
            stalled_ms: 9_000,
            closed: false,
        }),
        Line::Listener(ListenerLine {
            ts: ts.clone(),
            family: 4,
            saddr: IpAddr::from([10, 0, 0, 2]),
            sport: 8_080,
            netns: 4_026_531_840,
            owner: OwnerFields {
                owner_pid: Some(900),
                owner_comm: some("nginx"),
                unit: some("nginx.service"),
                pod: Some(pod()),
            },
            depth: 129,
            backlog: 128,
            full: true,
            dropping: true,
            drops: Some(40),
            drops_delta: 3,
            half_open: 2,
            synack_retransmits: 5,
        }),
        Line::Destination(DestinationLine {
            ts: ts.clone(),
            family: 4,
            daddr: IpAddr::from([10, 0, 0, 2]),
            dport: 443,
            window_s: 300,
            verdict: text("black_hole"),
            attempts: 3,
            established: 0,
            timeouts: 3,
            refused: 0,
            resets: 0,
            abandoned: 0,
            syn_retransmits: 18,
            retransmits: 0,
            drops: 18,
            last_drop_reason: some("NETFILTER_DROP"),
        }),
        Line::Counters(CountersLine {
            ts: ts.clone(),
            netns: 4_026_531_840,
            deltas: BTreeMap::from([(text("TCPTimeouts"), 3)]),
        }),
        Line::Stats(StatsLine {
            ts,
            events: 9,
            lost: 1,
            malformed: 0,
            netns_unreadable: 0,
            flows_live: 2,
            flows_ended: 1,
            flows_evicted: 0,
            probes_attached: 7,
            probes_failed: vec![ProbeFailure {
                probe: text("kfree_skb"),
                error: text("EPERM"),
            }],
        }),
        Line::Opened(OpenedLine {
            event: event(),
            opened_as: text("SYN_SENT"),
            established_ts: Some(event().ts),
        }),
        Line::Opens(OpensLine {
            event: event(),
            attempts: 20_000,
            established: 19_998,
        }),
    ]
}

/// Which sample a line is: a new kind does not compile until it has one.
fn sample_of(line: &Line) -> usize {
    match line {
        Line::State(_) => 0,
        Line::Retransmit(_) => 1,
        Line::SynackRetransmit(_) => 2,
        Line::ResetSent(_) => 3,
        Line::ResetReceived(_) => 4,
        Line::Destroy(_) => 5,
        Line::Drop(_) => 6,
        Line::FlowEnd(_) => 7,
        Line::Flow(_) => 8,
        Line::Sockinfo(_) => 9,
        Line::Stall(_) => 10,
        Line::StallEnd(_) => 11,
        Line::Listener(_) => 12,
        Line::Destination(_) => 13,
        Line::Counters(_) => 14,
        Line::Stats(_) => 15,
        Line::Opened(_) => 16,
        Line::Opens(_) => 17,
        Line::Unknown => usize::MAX,
    }
}

#[test]
fn the_contract_keeps_every_field_of_every_kind() {
    let samples = samples();
    let covered: Vec<usize> = samples.iter().map(sample_of).collect();
    assert_eq!(covered, (0..samples.len()).collect::<Vec<_>>());
    let written: Vec<String> = samples.iter().map(Line::to_json).collect();
    for (line, text) in samples.iter().zip(&written) {
        let read: Line = serde_json::from_str(text).expect("a sample reads back");
        assert_eq!(&read, line);
    }
    insta::assert_snapshot!("contract", written.join("\n"));
}

#[test]
fn a_kind_this_version_does_not_know_reads_as_unknown() {
    let line: Line = serde_json::from_str(r#"{"kind":"from_the_future","ts":"x","n":1}"#)
        .expect("an unknown kind is not an error");
    assert_eq!(line, Line::Unknown);
}
