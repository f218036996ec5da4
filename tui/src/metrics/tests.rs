//! The metrics say what the events did, and stay bounded whatever comes.

use std::net::SocketAddr;

use super::{exposition::Format, *};
use crate::model::event::{Retransmit, SockId};

const SECOND: Nanos = 1_000_000_000;
const START: Nanos = 1_700_000_000 * SECOND;
const ECONNREFUSED: i32 = 111;
const ETIMEDOUT: i32 = 110;

struct Run {
    collected: Collected,
    metrics: Metrics,
}

impl Run {
    fn new(destinations: usize) -> Self {
        Self {
            collected: Collected::default(),
            metrics: Metrics::new(Settings { destinations }, &SourceInfo::default()),
        }
    }

    fn apply(&mut self, event: &Event) {
        let applied = self.collected.apply_event(event);
        let flow = self.collected.table.flow_at(applied.flow);
        self.metrics.event(event, &applied, flow);
    }

    fn text(&mut self, now: Nanos) -> String {
        self.metrics.refresh(&self.collected, now);
        exposition::render(&self.metrics.registry(), Format::PrometheusText)
    }
}

fn event(at: Nanos, sock: u64, remote: SocketAddr, kind: EventKind) -> Event {
    Event {
        ts: at,
        sock: Some(SockId(sock)),
        netns: 1,
        local: SocketAddr::from(([10, 0, 0, 1], 40_000 + (sock % 20_000) as u16)),
        remote,
        task: None,
        kind,
    }
}

fn state(old: TcpState, new: TcpState, err: i32) -> EventKind {
    EventKind::State {
        old,
        new,
        err,
        stack: None,
    }
}

fn syn_retransmit(n: u8, rto_ms: u32) -> EventKind {
    EventKind::Retransmit(Retransmit {
        rto_ms,
        backoff: n,
        retransmits: n,
        cause: RetransmitCause::Timer,
        limits: None,
        state: Some(TcpState::SynSent),
    })
}

/// The value of the sample `name{labels}` in a scrape.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn a_refused_connect_and_a_black_holed_one_count_as_they_ended() {
    let mut run = Run::new(DESTINATIONS);
    let refusing: SocketAddr = "10.0.7.12:5432".parse().expect("addr");
    let black_hole: SocketAddr = "10.0.7.13:443".parse().expect("addr");
    run.apply(&event(
        START,
        1,
        refusing,
        state(TcpState::Close, TcpState::SynSent, 0),
    ));
    run.apply(&event(
        START,
        1,
        refusing,
        state(TcpState::SynSent, TcpState::Close, ECONNREFUSED),
    ));
    run.apply(&event(
        START,
        2,
        black_hole,
        state(TcpState::Close, TcpState::SynSent, 0),
    ));
    for (n, rto_ms) in [(1, 1_000), (2, 2_000), (3, 4_000)] {
        run.apply(&event(
            START + SECOND * u64::from(n),
            2,
            black_hole,
            syn_retransmit(n, rto_ms),
        ));
    }
    run.apply(&event(
        START + 8 * SECOND,
        2,
        black_hole,
        state(TcpState::SynSent, TcpState::Close, ETIMEDOUT),
    ));
    let text = run.text(START + 9 * SECOND);
    assert_eq!(
        sample(&text, r#"tcpscope_connect_attempts_total{unit="",pod=""}"#),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"tcpscope_connect_failures_total{reason="refused",unit="",pod=""}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"tcpscope_connect_failures_total{reason="timeout",unit="",pod=""}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, r#"tcpscope_syn_retransmits_total{unit="",pod=""}"#),
        Some(3.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"tcpscope_give_ups_total{phase="connect",error="ETIMEDOUT",unit="",pod=""}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, "tcpscope_retransmission_timeout_seconds_count"),
        Some(3.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"tcpscope_destination_verdict{destination="10.0.7.13:443",verdict="black-holed"}"#
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"tcpscope_destination_verdict{destination="10.0.7.12:5432",verdict="refused"}"#
        ),
        Some(1.0)
    );
    assert_eq!(sample(&text, "tcpscope_destinations_folded"), Some(0.0));
}

#[test]
fn five_thousand_destinations_keep_a_bounded_series_count_and_count_the_fold() {
    let mut run = Run::new(DESTINATIONS);
    let few = {
        let mut run = Run::new(DESTINATIONS);
        for port in 1..=20u16 {
            let remote = SocketAddr::from(([10, 0, 9, 1], port));
            run.apply(&event(
                START,
                u64::from(port),
                remote,
                state(TcpState::Close, TcpState::SynSent, 0),
            ));
        }
        run.text(START + SECOND)
            .lines()
            .filter(|l| !l.starts_with('#'))
            .count()
    };
    for n in 0..5_000u64 {
        let remote = SocketAddr::from(([10, 1, (n / 250) as u8, (n % 250) as u8 + 1], 80));
        let at = START + n * 1_000_000;
        run.apply(&event(
            at,
            n + 1,
            remote,
            state(TcpState::Close, TcpState::SynSent, 0),
        ));
        run.apply(&event(
            at,
            n + 1,
            remote,
            state(TcpState::SynSent, TcpState::Close, ECONNREFUSED),
        ));
    }
    let text = run.text(START + 6 * SECOND);
    let series = text.lines().filter(|line| !line.starts_with('#')).count();
    // The model holds a bounded number of destinations: those it forgot
    // are counted too.
    let folded = sample(&text, "tcpscope_destinations_folded").expect("folded");
    let evicted = sample(&text, "tcpscope_destinations_evicted_total").expect("evicted");
    assert_eq!(folded + evicted, 4_990.0, "{text}");
    assert!(folded > 1_000.0, "{folded} folded");
    let named = text
        .lines()
        .filter(|line| line.starts_with("tcpscope_destination_verdict{"))
        .count();
    assert_eq!(named, DESTINATIONS + 1, "the worst ten and other");
    assert_eq!(
        sample(
            &text,
            r#"tcpscope_destination_failures{destination="other",kind="refused"}"#
        ),
        Some(folded)
    );
    // 5,000 destinations cost no more series than 20 did, but for the
    // refusals counted on both sides of the fold.
    assert!(
        series <= few + 16,
        "{series} series for 5,000 destinations, {few} for 20"
    );
}

#[test]
fn lost_and_malformed_counters_follow_the_sources_running_totals() {
    let mut run = Run::new(DESTINATIONS);
    run.metrics.delivered(Delivered {
        events: 10,
        lost: 3,
        malformed: 1,
        netns_unreadable: 0,
    });
    run.metrics.delivered(Delivered {
        events: 25,
        lost: 5,
        malformed: 1,
        netns_unreadable: 0,
    });
    let text = run.text(START);
    assert_eq!(sample(&text, "tcpscope_events_total"), Some(25.0));
    assert_eq!(sample(&text, "tcpscope_lost_events_total"), Some(5.0));
    assert_eq!(sample(&text, "tcpscope_malformed_records_total"), Some(1.0));
    assert!(text.contains("tcpscope_build_info{version="), "{text}");
}
