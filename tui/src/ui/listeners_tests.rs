//! Snapshots of the Listeners pane from two surveys of fixture sockets: a
//! listener whose accept queue overflowed and whose drops rose, one with
//! half-open connections and SYN-ACK retransmissions, and a quiet one.

use std::sync::Arc;

use insta::assert_snapshot;

use crate::{
    app::state::State,
    model::{
        event::{Event, EventKind, Nanos, SockId, Task, TcpState},
        filter::Filter,
        socket::{Owner, Scope, SocketEntry, Survey},
    },
    source::Batch,
    ui::tests::empty_state,
};

const SECOND: Nanos = 1_000_000_000;
const START: Nanos = 1_700_000_000 * SECOND;

fn socket(
    local: &str,
    remote: &str,
    state: TcpState,
    queue: (u32, u32),
    drops: u32,
) -> SocketEntry {
    SocketEntry {
        netns: 4026531840,
        local: local.parse().expect("local"),
        remote: remote.parse().expect("remote"),
        state,
        inode: 1,
        receive_queue: queue.0,
        send_queue: queue.1,
        drops: Some(drops),
        retransmit_timer_ms: None,
        owner: Some(Arc::new(Owner {
            task: Task {
                pid: 812,
                comm: Arc::from("nginx"),
            },
            unit: None,
            pod: None,
        })),
        details: None,
    }
}

fn survey(at: Nanos, overflow_drops: u32) -> Batch {
    let sockets = vec![
        socket(
            "0.0.0.0:8080",
            "0.0.0.0:0",
            TcpState::Listen,
            (129, 128),
            overflow_drops,
        ),
        socket("10.0.0.1:443", "0.0.0.0:0", TcpState::Listen, (0, 4096), 0),
        socket("[::]:22", "[::]:0", TcpState::Listen, (0, 128), 0),
        socket(
            "10.0.0.1:443",
            "10.0.0.9:40001",
            TcpState::SynRecv,
            (0, 0),
            0,
        ),
        socket(
            "10.0.0.1:443",
            "10.0.0.9:40002",
            TcpState::SynRecv,
            (0, 0),
            0,
        ),
    ];
    Batch {
        survey: Some(Survey {
            at,
            scope: Scope::Full,
            sockets,
            ..Survey::default()
        }),
        ..Batch::default()
    }
}

fn synack(at: Nanos) -> Event {
    Event {
        ts: at,
        sock: Some(SockId(0xffff_8880_0000_1000)),
        netns: 4026531840,
        local: "10.0.0.1:443".parse().expect("local"),
        remote: "10.0.0.9:40001".parse().expect("remote"),
        task: None,
        kind: EventKind::SynAckRetransmit {
            retransmits: 1,
            timeouts: 1,
        },
    }
}

fn state(filter: Filter) -> State {
    let mut state = empty_state("none");
    state.filter = filter;
    state.observed.apply(&survey(START, 10));
    let mut later = survey(START + SECOND, 14);
    later.events = vec![synack(START + SECOND / 2), synack(START + SECOND)];
    state.observed.apply(&later);
    state.observed.tick(START + SECOND);
    state
}

fn draw(state: &State, width: u16, height: u16) -> String {
    crate::ui::tests::pane(state, width, height, super::render)
}

#[test]
fn listeners_160() {
    assert_snapshot!(draw(&state(Filter::default()), 160, 8));
}

#[test]
fn listeners_80() {
    assert_snapshot!(draw(&state(Filter::default()), 80, 8));
}

#[test]
fn listeners_follow_the_filter() {
    let filter = "port:22".parse().expect("filter");
    assert_snapshot!(draw(&state(filter), 100, 5));
}

#[test]
fn no_listener_says_so() {
    assert_snapshot!(draw(&empty_state("none"), 80, 5));
}
