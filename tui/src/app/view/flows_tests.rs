//! The Flows pane's rows of stalled flows: their state, cause and length,
//! the stalled sort and the `state:stalled` filter.

use super::*;
use crate::{
    app::observed::Observed,
    model::{
        event::TcpState,
        socket::{Scope, SocketEntry, Survey, TcpDetails},
        table::ConnectionTable,
    },
    source::Batch,
};

const SECOND: Nanos = 1_000_000_000;

/// An established socket to port `port` with `acked` bytes acknowledged;
/// `stuck` ones have bytes queued behind a zero window.
fn socket(port: u16, acked: u64, stuck: bool) -> SocketEntry {
    SocketEntry {
        netns: 1,
        local: "10.0.0.1:40000".parse().expect("local"),
        remote: format!("10.0.0.2:{port}").parse().expect("remote"),
        state: TcpState::Established,
        inode: 0,
        receive_queue: 0,
        send_queue: if stuck { 9000 } else { 0 },
        drops: Some(0),
        retransmit_timer_ms: None,
        owner: None,
        details: Some(TcpDetails {
            bytes_acked: acked,
            notsent_bytes: if stuck { 9000 } else { 0 },
            snd_wnd: if stuck { 0 } else { 65_535 },
            mss: 1448,
            ..TcpDetails::default()
        }),
    }
}

/// Five surveys a second apart: the flow to port 80 keeps moving, the one
/// to port 81 stops at the first.
fn observed() -> Observed {
    let mut observed = Observed::new(ConnectionTable::default());
    for second in 0..5 {
        let survey = Survey {
            at: second * SECOND,
            scope: if second == 0 {
                Scope::Initial
            } else {
                Scope::Full
            },
            sockets: vec![socket(80, second * 100, false), socket(81, 100, true)],
            ..Survey::default()
        };
        observed.apply(&Batch {
            survey: Some(survey),
            ..Batch::default()
        });
    }
    observed
}

#[test]
fn a_stalled_flow_says_so_with_its_cause_and_length() {
    let observed = observed();
    let view = observed.view();
    let (total, rows) = rows(&view, &Filter::default(), SortKey::Stalled, 0, 10);
    assert_eq!(total, 2);
    assert_eq!(rows[0].remote, "10.0.0.2:81");
    assert_eq!(rows[0].state, "STALLED");
    assert_eq!(rows[0].gives_up, "zero window, peer alive 4.0s");
    assert_eq!(rows[0].tone, Tone::Bad);
    assert_eq!(rows[1].state, "ESTABLISHED");
    assert_eq!(rows[1].gives_up, "");
}

#[test]
fn state_stalled_lists_only_the_stalled_flow() {
    let observed = observed();
    let view = observed.view();
    let filter: Filter = "state:stalled".parse().expect("filter");
    assert_eq!(count(&view, &filter), 1);
    let (_, rows) = rows(&view, &filter, SortKey::default(), 0, 10);
    assert_eq!(rows[0].remote, "10.0.0.2:81");
}
