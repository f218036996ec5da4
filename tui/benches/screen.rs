//! The live screen with 100,000 tracked flows: drawing one frame (goal:
//! under 5 ms) and applying a new filter, which the next frame draws
//! (goal: under 20 ms). Run: `cargo bench --bench screen`.

use std::{hint::black_box, net::SocketAddr, sync::Arc};

use divan::Bencher;
use ratatui::{Terminal, backend::TestBackend};
use tcpscope::{
    app::{
        action::{Action, update},
        state::{Origin, SourceHeader, State},
        view::flows,
    },
    model::{
        errno::ETIMEDOUT,
        event::{Event, EventKind, Retransmit, RetransmitCause, SockId, Task, TcpState},
        filter::Filter,
    },
    source::Batch,
    ui,
};

fn main() {
    divan::main();
}

const FLOWS: u64 = 100_000;
const SECOND: u64 = 1_000_000_000;

/// 100,000 connections to 1,000 servers: most established, one in 50
/// retransmitting, one in 100 still connecting, one in 20 timed out.
fn state() -> State {
    let owner = Task {
        pid: 4242,
        comm: Arc::from("checkout-svc"),
    };
    let mut events = Vec::new();
    for i in 0..FLOWS {
        let local: SocketAddr =
            format!("10.1.{}.{}:{}", i % 250, i / 250 % 250, 20_000 + i % 40_000)
                .parse()
                .expect("an address");
        let remote: SocketAddr = format!("10.2.0.{}:{}", i % 250, 8000 + i % 1000)
            .parse()
            .expect("an address");
        let event = |ts: u64, kind: EventKind| Event {
            ts: 1_700_000_000 * SECOND + i * 1_000_000 + ts,
            sock: Some(SockId(0xffff_8881_0000_0000 + i * 0x800)),
            netns: 4026531840,
            local,
            remote,
            task: Some(owner.clone()),
            kind,
        };
        let state = |old, new, err| EventKind::State {
            old,
            new,
            err,
            stack: None,
        };
        events.push(event(0, state(TcpState::Close, TcpState::SynSent, 0)));
        if i % 100 == 1 {
            continue;
        }
        events.push(event(
            1_000,
            state(TcpState::SynSent, TcpState::Established, 0),
        ));
        if i % 50 == 2 {
            for n in 0..4u8 {
                let retransmit = Retransmit {
                    rto_ms: 200 << n,
                    backoff: n,
                    retransmits: n + 1,
                    cause: RetransmitCause::Timer,
                    limits: None,
                    state: Some(TcpState::Established),
                };
                events.push(event(
                    u64::from(n + 1) * SECOND,
                    EventKind::Retransmit(retransmit),
                ));
            }
        }
        if i % 20 == 3 {
            let ended = state(TcpState::Established, TcpState::Close, ETIMEDOUT);
            events.push(event(60 * SECOND, ended));
        }
    }
    let source = SourceHeader {
        origin: Origin::Live {
            host: "bench".to_string(),
            kernel: "6.18.0".to_string(),
        },
        probes_attached: 6,
        probes_failed: Vec::new(),
        degraded_pages: Vec::new(),
    };
    let mut state = State::new(source, Filter::default());
    let now = events.iter().map(|event| event.ts).max().unwrap_or(0);
    state.observed.apply(&Batch {
        events,
        ..Batch::default()
    });
    state.observed.tick(now);
    assert!(state.observed.collected.table.counts().live > 90_000);
    state
}

fn terminal() -> Terminal<TestBackend> {
    Terminal::new(TestBackend::new(160, 48)).expect("a test terminal never fails")
}

#[divan::bench(sample_count = 50)]
fn draw_frame_100k_flows(bencher: Bencher) {
    let state = state();
    let mut terminal = terminal();
    bencher.bench_local(|| {
        terminal
            .draw(|frame| {
                ui::draw(frame, black_box(&state));
            })
            .map(drop)
            .expect("drawing on a test terminal never fails");
    });
}

#[divan::bench(sample_count = 50)]
fn apply_filter_and_draw_100k_flows(bencher: Bencher) {
    let mut state = state();
    let mut terminal = terminal();
    let filters = [
        "port:8042",
        "comm:checkout state:established",
        "reason:timeout",
    ];
    let mut next = 0;
    bencher.bench_local(|| {
        update(&mut state, Action::OpenFilter);
        state.input = filters[next % filters.len()].to_string().into();
        next += 1;
        update(&mut state, Action::ApplyFilter);
        terminal
            .draw(|frame| {
                ui::draw(frame, &state);
            })
            .map(drop)
            .expect("drawing on a test terminal never fails");
    });
}

#[divan::bench(sample_count = 50)]
fn filter_pass_100k_flows(bencher: Bencher) {
    let state = state();
    let filter: Filter = "port:8042".parse().expect("a valid filter");
    bencher.bench_local(|| flows::count(&state.view(), black_box(&filter)));
}
