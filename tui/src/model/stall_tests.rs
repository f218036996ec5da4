//! Stalls from sequences of survey samples: what counts as progress, how
//! long before a flow is stalled, each cause, and the watch's notices.

use super::*;

const SECOND: Nanos = 1_000_000_000;

/// A sample at `second` of a flow that has had `acked` bytes acknowledged
/// and has `queued` bytes waiting, with its window open.
fn sample(second: u64, acked: u64, queued: u32) -> SocketSample {
    SocketSample {
        at: second * SECOND,
        details: TcpDetails {
            bytes_acked: acked,
            notsent_bytes: queued,
            snd_wnd: 65_535,
            mss: 1448,
            ..TcpDetails::default()
        },
        send_queue: queued,
        receive_queue: 0,
        drops: Some(0),
    }
}

/// The progress after each of `samples`, in ESTABLISHED.
fn run(samples: &[SocketSample]) -> Option<Progress> {
    samples.iter().fold(None, |progress, sample| {
        Progress::observe(progress, TcpState::Established, sample)
    })
}

fn stall_of(samples: &[SocketSample]) -> Option<Stall> {
    run(samples).and_then(|progress| progress.stall)
}

#[test]
fn a_flow_whose_acks_move_is_never_stalled() {
    let samples: Vec<_> = (0..10).map(|s| sample(s, s * 1000, 5000)).collect();
    assert_eq!(stall_of(&samples), None);
}

#[test]
fn a_flow_with_nothing_queued_is_never_stalled() {
    let samples: Vec<_> = (0..10).map(|s| sample(s, 1000, 0)).collect();
    assert_eq!(stall_of(&samples), None);
}

#[test]
fn queued_bytes_without_progress_stall_after_three_seconds() {
    let samples: Vec<_> = (0..5).map(|s| sample(s, 1000, 5000)).collect();
    assert_eq!(stall_of(&samples[..3]), None, "2 s is not yet a stall");
    let stall = stall_of(&samples[..4]).expect("stalled at 3 s");
    assert_eq!(stall.since, 0);
    assert_eq!(stall.duration(), 3 * SECOND);
    assert_eq!(stall.cause, StallCause::NotSending);
    assert_eq!(
        stall_of(&samples).map(|stall| stall.duration()),
        Some(4 * SECOND)
    );
}

#[test]
fn progress_ends_a_stall_and_restarts_the_clock() {
    let mut samples: Vec<_> = (0..5).map(|s| sample(s, 1000, 5000)).collect();
    samples.push(sample(5, 2000, 5000));
    assert_eq!(stall_of(&samples), None);
    samples.extend((6..8).map(|s| sample(s, 2000, 5000)));
    assert_eq!(
        stall_of(&samples),
        None,
        "only 2 s since the progress at 5 s"
    );
    samples.push(sample(8, 2000, 5000));
    assert_eq!(
        stall_of(&samples).map(|stall| stall.since),
        Some(5 * SECOND)
    );
}

#[test]
fn a_receiver_that_stops_reading_closes_the_window_with_the_peer_alive() {
    let samples: Vec<_> = (0..4)
        .map(|s| {
            let mut sample = sample(s, 1000, 200_000);
            sample.details.snd_wnd = 0;
            sample.details.backoff = s as u8;
            sample
        })
        .collect();
    let stall = stall_of(&samples).expect("stalled");
    assert_eq!(stall.cause, StallCause::ZeroWindow { peer_alive: true });
    assert_eq!(stall.cause.name(), "zero_window");
    assert_eq!(stall.cause.peer_alive(), Some(true));
}

#[test]
fn unanswered_window_probes_mean_the_peer_is_gone() {
    let samples: Vec<_> = (0..4)
        .map(|s| {
            let mut sample = sample(s, 1000, 200_000);
            sample.details.snd_wnd = 0;
            sample.details.probes = s as u8;
            sample
        })
        .collect();
    assert_eq!(
        stall_of(&samples).map(|stall| stall.cause),
        Some(StallCause::ZeroWindow { peer_alive: false })
    );
}

#[test]
fn a_window_below_one_segment_with_nothing_in_flight_is_closed() {
    let samples: Vec<_> = (0..4)
        .map(|s| {
            let mut sample = sample(s, 1000, 200_000);
            sample.details.snd_wnd = 512;
            sample
        })
        .collect();
    assert_eq!(
        stall_of(&samples).map(|stall| stall.cause),
        Some(StallCause::ZeroWindow { peer_alive: true })
    );
}

#[test]
fn retransmissions_into_silence_stall_as_retransmitting() {
    let samples: Vec<_> = (0..6)
        .map(|s| {
            let mut sample = sample(s, 1000, 1000);
            sample.details.unacked = 1;
            sample.details.retransmits = s as u8;
            sample.details.backoff = s as u8;
            sample.details.total_retrans = s as u32;
            sample
        })
        .collect();
    let stall = stall_of(&samples).expect("stalled");
    assert_eq!(stall.cause, StallCause::Retransmitting);
    assert_eq!(stall.cause.peer_alive(), None);
}

#[test]
fn in_flight_data_without_retransmissions_is_not_sending() {
    let samples: Vec<_> = (0..4)
        .map(|s| {
            let mut sample = sample(s, 1000, 1000);
            sample.details.unacked = 1;
            sample
        })
        .collect();
    assert_eq!(
        stall_of(&samples).map(|stall| stall.cause),
        Some(StallCause::NotSending)
    );
}

#[test]
fn listeners_and_connects_are_not_tracked() {
    let listener = sample(0, 0, 128);
    assert_eq!(
        Progress::observe(None, TcpState::Listen, &listener),
        None,
        "a listener's send queue is its backlog"
    );
    assert_eq!(Progress::observe(None, TcpState::SynSent, &listener), None);
}

#[test]
fn a_sample_older_than_the_last_progress_restarts_the_clock() {
    let samples = [
        sample(5, 1000, 10),
        sample(2, 1000, 10),
        sample(4, 1000, 10),
    ];
    assert_eq!(stall_of(&samples), None);
}

fn flow_with(sock: u64, samples: &[SocketSample]) -> Flow {
    let local: std::net::SocketAddr = "10.0.0.1:5000".parse().expect("address");
    let remote = std::net::SocketAddr::new(local.ip(), 6000 + sock as u16);
    let mut flow = Flow::new(SockId(sock), 1, local, remote, 0);
    flow.state = TcpState::Established;
    flow.unit = Some("app.service".into());
    flow.progress = run(samples).map(Box::new);
    flow
}

#[test]
fn the_watch_reports_a_stall_once_then_its_change_and_its_end() {
    let quiet: Vec<_> = (0..4).map(|s| sample(s, 1000, 5000)).collect();
    let mut watch = StallWatch::default();
    let stalled = flow_with(1, &quiet);
    let healthy = flow_with(2, &quiet[..1]);
    assert_eq!(
        watch.update([&stalled, &healthy].into_iter()),
        vec![StallChange::Stalled(SockId(1))]
    );
    assert_eq!(watch.update([&stalled, &healthy].into_iter()), vec![]);

    let mut closed_window = quiet.clone();
    let mut last = sample(4, 1000, 5000);
    last.details.snd_wnd = 0;
    closed_window.push(last);
    let changed = flow_with(1, &closed_window);
    assert_eq!(
        watch.update([&changed].into_iter()),
        vec![StallChange::Stalled(SockId(1))]
    );

    let mut resumed = closed_window.clone();
    resumed.push(sample(5, 9000, 0));
    let resumed = flow_with(1, &resumed);
    let changes = watch.update([&resumed].into_iter());
    let [StallChange::Ended(end)] = changes.as_slice() else {
        panic!("one end expected, got {changes:?}");
    };
    assert!(!end.closed);
    // What `state:` and `unit:` filters saw when the stall was reported.
    assert_eq!(end.state, TcpState::Established);
    assert_eq!(end.unit.as_deref(), Some("app.service"));
    assert_eq!(end.cause, StallCause::ZeroWindow { peer_alive: true });
    // From the last progress (0 s) to the sample that saw progress again.
    assert_eq!(end.until - end.since, 5 * SECOND);
}

#[test]
fn a_flow_that_changes_its_key_keeps_its_stall() {
    let quiet: Vec<_> = (0..5).map(|s| sample(s, 1000, 5000)).collect();
    let mut watch = StallWatch::default();
    let stand_in = flow_with(1, &quiet[..4]);
    assert_eq!(watch.update([&stand_in].into_iter()).len(), 1);
    let mut adopted = flow_with(1, &quiet);
    adopted.sock = SockId(0xffff_8880_0000_0001);
    assert_eq!(watch.update([&adopted].into_iter()), vec![]);
}

#[test]
fn the_watch_ends_the_stall_of_a_flow_that_closed_or_was_replaced() {
    let quiet: Vec<_> = (0..4).map(|s| sample(s, 1000, 5000)).collect();
    let mut watch = StallWatch::default();
    let first = flow_with(1, &quiet);
    let second = flow_with(2, &quiet);
    assert_eq!(watch.update([&first, &second].into_iter()).len(), 2);

    let mut reused = flow_with(1, &quiet[..1]);
    reused.first_seen = 99;
    let changes = watch.update([&reused].into_iter());
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert!(
        changes
            .iter()
            .all(|change| matches!(change, StallChange::Ended(end) if end.closed)),
        "{changes:?}"
    );
}
