//! Destinations fed as the screen feeds them: each event through the
//! connection table first, then with its flow into the aggregate.

use std::net::SocketAddr;

use super::*;
use crate::model::{
    errno::{ECONNREFUSED, ECONNRESET, ETIMEDOUT},
    event::{Retransmit, RetransmitCause, SockId},
    table::ConnectionTable,
};

const MS: Nanos = 1_000_000;
const DB: &str = "10.0.0.7:5432";

fn addr(text: &str) -> SocketAddr {
    text.parse().expect("a test address")
}

#[derive(Default)]
struct Feed {
    table: ConnectionTable,
    destinations: Destinations,
}

impl Feed {
    fn with_capacity(capacity: usize) -> Self {
        Self {
            destinations: Destinations::new(capacity),
            ..Self::default()
        }
    }

    fn apply(&mut self, event: Event) {
        let applied = self.table.apply(&event);
        let flow = match applied.ended() {
            true => self.table.last_ended(),
            false => event.sock.and_then(|sock| self.table.flow(sock)),
        };
        self.destinations.record(&event, flow);
    }

    fn event(&mut self, sock: u64, remote: &str, at_ms: u64, kind: EventKind) {
        let local_port = 40_000 + sock as u16;
        self.apply(Event {
            ts: at_ms * MS,
            sock: Some(SockId(sock)),
            netns: 4026531840,
            local: addr(&format!("10.0.0.1:{local_port}")),
            remote: addr(remote),
            task: None,
            kind,
        });
    }

    fn state(&mut self, sock: u64, remote: &str, at_ms: u64, change: (TcpState, TcpState, i32)) {
        let (old, new, err) = change;
        let kind = EventKind::State {
            old,
            new,
            err,
            stack: None,
        };
        self.event(sock, remote, at_ms, kind);
    }

    fn retransmit(&mut self, sock: u64, remote: &str, at_ms: u64) {
        let kind = EventKind::Retransmit(Retransmit {
            rto_ms: 1000,
            backoff: 0,
            retransmits: 1,
            cause: RetransmitCause::Timer,
            limits: None,
            state: None,
        });
        self.event(sock, remote, at_ms, kind);
    }

    /// A connect that sends `syn_retransmits` more SYNs, then ends with `err`.
    fn failed_connect(&mut self, sock: u64, remote: &str, at_ms: u64, retries: u64, err: i32) {
        use TcpState::*;
        self.state(sock, remote, at_ms, (Close, SynSent, 0));
        for retry in 1..=retries {
            self.retransmit(sock, remote, at_ms + retry * 1000);
        }
        let end = at_ms + (retries + 1) * 1000;
        self.state(sock, remote, end, (SynSent, Close, err));
    }

    fn connect(&mut self, sock: u64, remote: &str, at_ms: u64) {
        use TcpState::*;
        self.state(sock, remote, at_ms, (Close, SynSent, 0));
        self.state(sock, remote, at_ms + 1, (SynSent, Established, 0));
    }

    fn summary(&self, now_ms: u64, remote: &str) -> Summary<'_> {
        let remote = addr(remote);
        self.destinations
            .summaries(now_ms * MS)
            .into_iter()
            .find(|summary| summary.remote == remote)
            .unwrap_or_else(|| panic!("no summary of {remote}"))
    }
}

#[test]
fn syns_that_time_out_read_black_holed() {
    let mut feed = Feed::default();
    for sock in 1..=3 {
        feed.failed_connect(sock, DB, sock * 100, 2, ETIMEDOUT);
    }
    let summary = feed.summary(4_000, DB);
    assert_eq!(
        summary.tally,
        Tally {
            attempts: 3,
            timeouts: 3,
            syn_retransmits: 6,
            ..Tally::default()
        }
    );
    assert_eq!(summary.verdict, Verdict::BlackHoled);
    assert_eq!(summary.verdict.name(), "black-holed");
}

#[test]
fn attempts_still_retrying_already_read_black_holed() {
    let mut feed = Feed::default();
    feed.state(1, DB, 0, (TcpState::Close, TcpState::SynSent, 0));
    assert_eq!(feed.summary(10, DB).verdict, Verdict::Connecting);
    feed.retransmit(1, DB, 1_000);
    assert_eq!(feed.summary(1_000, DB).verdict, Verdict::BlackHoled);
}

#[test]
fn verdicts_say_refused_resets_timeouts_lossy_and_ok() {
    use TcpState::*;
    let mut feed = Feed::default();
    feed.failed_connect(1, "10.0.0.8:80", 0, 0, ECONNREFUSED);
    feed.connect(2, "10.0.0.9:443", 0);
    feed.state(2, "10.0.0.9:443", 50, (Established, Close, ECONNRESET));
    feed.connect(3, "10.0.0.10:22", 0);
    feed.failed_connect(4, "10.0.0.10:22", 0, 1, ETIMEDOUT);
    feed.connect(5, "10.0.0.11:25", 0);
    feed.retransmit(5, "10.0.0.11:25", 300);
    feed.connect(6, "10.0.0.12:53", 0);
    feed.state(6, "10.0.0.12:53", 40, (Established, FinWait1, 0));
    feed.state(6, "10.0.0.12:53", 41, (FinWait1, Close, 0));
    let verdicts: Vec<(String, &str)> = feed
        .destinations
        .summaries(3_000 * MS)
        .iter()
        .map(|summary| (summary.remote.to_string(), summary.verdict.name()))
        .collect();
    let expected = [
        ("10.0.0.8:80", "refused"),
        ("10.0.0.10:22", "timeouts"),
        ("10.0.0.9:443", "resets"),
        ("10.0.0.11:25", "lossy"),
        ("10.0.0.12:53", "ok"),
    ];
    assert_eq!(
        verdicts,
        expected.map(|(remote, verdict)| (remote.to_string(), verdict))
    );
    let ok = feed.summary(3_000, "10.0.0.11:25").tally;
    assert_eq!((ok.attempts, ok.established, ok.retransmits), (1, 1, 1));
}

#[test]
fn an_application_giving_up_on_its_connects_reads_black_holed() {
    let mut feed = Feed::default();
    feed.failed_connect(1, DB, 0, 1, 0);
    let summary = feed.summary(3_000, DB);
    assert_eq!(summary.tally.abandoned, 1);
    assert_eq!(summary.verdict, Verdict::BlackHoled);
}

#[test]
fn accepted_connections_make_no_destination() {
    use TcpState::*;
    let mut feed = Feed::default();
    let client = "10.0.0.50:51234";
    feed.state(1, client, 0, (SynRecv, Established, 0));
    feed.retransmit(1, client, 500);
    feed.state(1, client, 900, (Established, Close, ECONNRESET));
    feed.destinations
        .record_drop(950 * MS, addr(client), "NO_SOCKET");
    assert!(feed.destinations.is_empty());
}

#[test]
fn data_retransmits_and_timeouts_count_toward_a_known_destination() {
    use TcpState::*;
    let mut feed = Feed::default();
    feed.connect(1, DB, 0);
    for at in [400, 800, 1_600] {
        feed.retransmit(1, DB, at);
    }
    feed.state(1, DB, 7_000, (Established, Close, ETIMEDOUT));
    let tally = feed.summary(7_000, DB).tally;
    assert_eq!(
        (tally.retransmits, tally.syn_retransmits, tally.timeouts),
        (3, 0, 1)
    );
    assert_eq!(tally.verdict(), Verdict::Timeouts);
}

#[test]
fn drops_count_toward_known_destinations_with_their_reason() {
    let mut feed = Feed::default();
    feed.connect(1, DB, 0);
    let db = addr(DB);
    feed.destinations.record_drop(10 * MS, db, "NETFILTER_DROP");
    feed.destinations
        .record_drop(20 * MS, db, "TCP_RFC7323_PAWS");
    feed.destinations
        .record_drop(30 * MS, addr("10.9.9.9:1"), "NO_SOCKET");
    let summary = feed.summary(100, DB);
    assert_eq!(summary.tally.drops, 2);
    assert_eq!(summary.last_drop_reason, Some("TCP_RFC7323_PAWS"));
    assert_eq!(summary.verdict, Verdict::Lossy);
    assert_eq!(
        feed.destinations.len(),
        1,
        "an unknown remote stays unknown"
    );
}

#[test]
fn copies_the_receiver_had_and_tail_loss_probes_are_no_loss() {
    let mut feed = Feed::default();
    feed.connect(1, DB, 0);
    let db = addr(DB);
    // A zero-window stall: the receiver discards the window probes.
    for (at, reason) in [
        (10, "TCP_OLD_SEQUENCE"),
        (20, "TCP_OLD_DATA"),
        (30, "TCP_OLD_ACK"),
    ] {
        feed.destinations.record_drop(at * MS, db, reason);
    }
    let probe = EventKind::Retransmit(Retransmit {
        rto_ms: 200,
        backoff: 0,
        retransmits: 0,
        cause: RetransmitCause::LossProbe,
        limits: None,
        state: None,
    });
    feed.event(1, DB, 40, probe);
    let summary = feed.summary(100, DB);
    assert_eq!((summary.tally.drops, summary.tally.retransmits), (0, 0));
    assert_eq!(summary.verdict, Verdict::Ok);
    feed.retransmit(1, DB, 50);
    assert_eq!(
        feed.summary(100, DB).verdict,
        Verdict::Lossy,
        "a timer retransmit is loss"
    );
}

#[test]
fn counts_slide_out_of_the_window() {
    let mut feed = Feed::default();
    feed.failed_connect(1, DB, 0, 0, ETIMEDOUT);
    let later_ms = 200_000;
    feed.connect(2, DB, later_ms);
    let both = feed.summary(later_ms, DB).tally;
    assert_eq!((both.attempts, both.timeouts), (2, 1));
    let window_ms = WINDOW / MS;
    let after = feed.summary(window_ms + 5_000, DB).tally;
    assert_eq!(
        (after.attempts, after.established, after.timeouts),
        (1, 1, 0)
    );
    assert!(
        feed.destinations
            .summaries((later_ms + window_ms + 10_000) * MS)
            .is_empty(),
        "nothing left in the window"
    );
}

#[test]
fn an_event_older_than_the_ring_is_not_counted_in_a_newer_bucket() {
    let mut feed = Feed::default();
    feed.connect(1, DB, WINDOW / MS + 1_000);
    feed.connect(2, DB, 500);
    let tally = feed.summary(WINDOW / MS + 1_000, DB).tally;
    assert_eq!(tally.attempts, 1);
}

#[test]
fn a_full_aggregate_evicts_the_least_recently_active_and_counts_it() {
    let mut feed = Feed::with_capacity(2);
    feed.connect(1, "10.0.0.1:1", 0);
    feed.connect(2, "10.0.0.2:2", 10);
    feed.connect(3, "10.0.0.1:1", 20);
    feed.connect(4, "10.0.0.3:3", 30);
    assert_eq!(feed.destinations.len(), 2);
    assert_eq!(feed.destinations.evicted(), 1);
    let kept: Vec<String> = feed
        .destinations
        .summaries(100 * MS)
        .iter()
        .map(|summary| summary.remote.to_string())
        .collect();
    assert_eq!(kept, ["10.0.0.1:1", "10.0.0.3:3"]);
}

#[test]
fn destinations_idle_for_the_window_make_room_without_eviction() {
    let mut feed = Feed::with_capacity(1);
    feed.connect(1, "10.0.0.1:1", 0);
    feed.connect(2, "10.0.0.2:2", WINDOW / MS + 1);
    assert_eq!(feed.destinations.evicted(), 0);
    assert_eq!(feed.destinations.len(), 1);
}

#[test]
fn opens_the_probes_counted_add_up_with_the_connect_they_told() {
    use TcpState::*;
    let mut feed = Feed::default();
    // 20 connects, 19 of them healthy: counted in the kernel, not sent.
    let opens = EventKind::Opens {
        attempts: 20,
        established: 19,
    };
    feed.apply(Event {
        ts: 1_000 * MS,
        sock: None,
        netns: 0,
        local: addr("0.0.0.0:0"),
        remote: addr(DB),
        task: None,
        kind: opens,
    });
    // The 20th retransmits its SYN: the probes tell its open, then the
    // rest as it happens.
    let opened = EventKind::Opened {
        opened_as: SynSent,
        established_at: None,
    };
    feed.event(7, DB, 500, opened);
    feed.retransmit(7, DB, 1_500);
    feed.retransmit(7, DB, 3_500);
    feed.state(7, DB, 7_500, (SynSent, Close, ETIMEDOUT));
    let summary = feed.summary(8_000, DB);
    assert_eq!(
        summary.tally,
        Tally {
            attempts: 20,
            established: 19,
            timeouts: 1,
            syn_retransmits: 2,
            ..Tally::default()
        },
        "the told open is not counted twice"
    );
}

#[test]
fn a_drop_before_its_connect_was_counted_waits_for_its_destination() {
    let mut feed = Feed::default();
    let db = addr(DB);
    // The first SYN's drop comes before the probes' count of its connect.
    feed.destinations.record_drop(10 * MS, db, "NETFILTER_DROP");
    feed.destinations
        .record_drop(20 * MS, addr("10.9.9.9:1"), "NO_SOCKET");
    assert!(feed.destinations.is_empty(), "a drop makes no destination");
    let opens = EventKind::Opens {
        attempts: 1,
        established: 0,
    };
    feed.apply(Event {
        ts: 900 * MS,
        sock: None,
        netns: 0,
        local: addr("0.0.0.0:0"),
        remote: db,
        task: None,
        kind: opens,
    });
    let summary = feed.summary(1_000, DB);
    assert_eq!((summary.tally.attempts, summary.tally.drops), (1, 1));
    assert_eq!(summary.last_drop_reason, Some("NETFILTER_DROP"));
    assert_eq!(feed.destinations.len(), 1);
}
