//! Scenarios of the connection table, written as the kernel emits them.

use std::{net::SocketAddr, sync::Arc};

use super::*;
use crate::model::{
    errno::{ECONNREFUSED, ECONNRESET, ETIMEDOUT},
    event::{Retransmit, RetransmitCause},
};

const MS: Nanos = 1_000_000;

fn task(pid: u32, comm: &str) -> Option<Task> {
    Some(Task {
        pid,
        comm: Arc::from(comm),
    })
}

/// Builds the events of one socket.
struct Sock {
    id: u64,
    local: SocketAddr,
    remote: SocketAddr,
}

impl Sock {
    fn new(id: u64, local: &str, remote: &str) -> Self {
        Self {
            id,
            local: local.parse().expect("local address"),
            remote: remote.parse().expect("remote address"),
        }
    }

    fn event(&self, at_ms: u64, task: Option<Task>, kind: EventKind) -> Event {
        Event {
            ts: at_ms * MS,
            sock: Some(SockId(self.id)),
            netns: 4026531840,
            local: self.local,
            remote: self.remote,
            task,
            kind,
        }
    }

    fn state(
        &self,
        at_ms: u64,
        task: Option<Task>,
        old: TcpState,
        new: TcpState,
        err: i32,
    ) -> Event {
        let stack = (new == TcpState::Close).then(|| Stack::from(vec!["tcp_done+0x1".to_string()]));
        self.event(
            at_ms,
            task,
            EventKind::State {
                old,
                new,
                err,
                stack,
            },
        )
    }

    fn retransmit(&self, at_ms: u64, rto_ms: u32) -> Event {
        self.event(
            at_ms,
            None,
            EventKind::Retransmit(Retransmit {
                rto_ms,
                backoff: 0,
                retransmits: 0,
                cause: RetransmitCause::Timer,
                limits: None,
                state: None,
            }),
        )
    }

    /// The first event of a connect: the kernel has not picked a port yet.
    fn connect(&self, at_ms: u64, owner: Option<Task>) -> Event {
        let mut event = self.state(at_ms, owner, TcpState::Close, TcpState::SynSent, 0);
        event.local.set_port(0);
        event
    }
}

/// What the table made of one event, read right after applying it.
struct Step {
    owner: Option<Task>,
    ended: bool,
}

fn run(table: &mut ConnectionTable, events: &[Event]) -> Vec<Step> {
    let mut step = |event| {
        let applied = table.apply(event);
        Step {
            owner: table.owner(event, &applied).cloned(),
            ended: applied.ended(),
        }
    };
    events.iter().map(&mut step).collect()
}

#[test]
fn a_connect_that_times_out_keeps_its_owner_port_retries_and_reason() {
    use TcpState::*;
    let sock = Sock::new(1, "192.168.1.14:42636", "1.1.1.146:22");
    let mut table = ConnectionTable::default();
    let applied = run(
        &mut table,
        &[
            sock.connect(0, task(23023, "nc")),
            sock.retransmit(1_000, 1_000),
            sock.retransmit(3_000, 2_000),
            sock.state(10_009, task(15, "ksoftirqd/1"), SynSent, Close, ETIMEDOUT),
        ],
    );
    assert_eq!(
        applied[1].owner,
        task(23023, "nc"),
        "timer events carry the flow's owner"
    );
    assert!(applied[3].ended);
    assert_eq!(table.connecting().count(), 0, "the attempt is over");
    let flow = table.last_ended().expect("ended flow");
    assert_eq!(flow.owner, task(23023, "nc"));
    assert_eq!(flow.local.port(), 42636, "the port the kernel picked");
    assert_eq!(flow.retransmit_count, 2);
    assert_eq!(flow.duration(0), 10_009 * MS);
    assert!(flow.seen_from_start);
    let end = flow.end.as_ref().expect("end");
    assert_eq!(
        (end.reason, end.err, end.last_state),
        (EndReason::Timeout, ETIMEDOUT, SynSent)
    );
    assert!(end.stack.is_some());
    assert_eq!(table.counts().live, 0);
}

#[test]
fn a_timer_task_never_becomes_the_owner() {
    use TcpState::*;
    let sock = Sock::new(2, "10.0.0.1:5000", "10.0.0.2:80");
    let mut table = ConnectionTable::default();
    run(
        &mut table,
        &[
            sock.retransmit(0, 200),
            sock.state(10, task(15, "ksoftirqd/1"), Established, Close, ETIMEDOUT),
        ],
    );
    let flow = table.last_ended().expect("ended flow");
    assert_eq!(flow.owner, None);
    assert!(!flow.seen_from_start, "first seen mid-life");
}

#[test]
fn a_flow_first_seen_retransmitting_takes_the_sockets_state() {
    let sock = Sock::new(10, "10.0.0.1:5008", "10.0.0.2:80");
    let mut table = ConnectionTable::default();
    let mut retransmit = sock.retransmit(0, 200);
    if let EventKind::Retransmit(detail) = &mut retransmit.kind {
        detail.state = Some(TcpState::Established);
    }
    table.apply(&retransmit);
    let flow = table.flow(SockId(10)).expect("a live flow");
    assert_eq!(
        flow.state,
        TcpState::Established,
        "not the CLOSE of a new flow"
    );
}

#[test]
fn closing_a_pending_connect_is_abandoned_and_a_rst_to_a_syn_is_refused() {
    use TcpState::*;
    let mut table = ConnectionTable::default();
    let abandoned = Sock::new(3, "10.0.0.1:5001", "10.0.0.2:80");
    run(
        &mut table,
        &[
            abandoned.connect(0, task(7, "client")),
            abandoned.state(2_000, task(7, "client"), SynSent, Close, 0),
        ],
    );
    assert_eq!(reason_of(&table), EndReason::Abandoned);

    let refused = Sock::new(4, "10.0.0.1:5002", "10.0.0.2:81");
    run(
        &mut table,
        &[
            refused.connect(0, task(7, "client")),
            refused.event(1, None, EventKind::ResetReceived),
            refused.state(1, None, SynSent, Close, ECONNREFUSED),
        ],
    );
    assert_eq!(reason_of(&table), EndReason::Refused);
}

#[test]
fn a_reset_ends_an_established_flow_with_reason_reset() {
    use TcpState::*;
    let sock = Sock::new(5, "10.0.0.1:5003", "10.0.0.2:80");
    let mut table = ConnectionTable::default();
    run(
        &mut table,
        &[
            sock.connect(0, task(7, "client")),
            sock.state(1, None, SynSent, Established, 0),
            sock.event(50, None, EventKind::ResetReceived),
            sock.state(50, None, Established, Close, ECONNRESET),
        ],
    );
    let flow = table.last_ended().expect("ended flow");
    assert_eq!(flow.resets_received, 1);
    assert_eq!(reason_of(&table), EndReason::Reset);
}

#[test]
fn an_accepted_flow_learns_its_owner_when_the_owner_closes_it() {
    use TcpState::*;
    let sock = Sock::new(6, "10.0.0.2:80", "10.0.0.1:5004");
    let mut table = ConnectionTable::default();
    let applied = run(
        &mut table,
        &[
            sock.state(0, task(99, "unrelated"), Close, SynRecv, 0),
            sock.state(0, task(99, "unrelated"), SynRecv, Established, 0),
            sock.state(30, task(42, "server"), Established, FinWait1, 0),
            sock.state(31, None, FinWait1, FinWait2, 0),
            sock.state(32, None, FinWait2, Close, 0),
        ],
    );
    assert_eq!(applied[1].owner, None, "softirq context is not the owner");
    let flow = table.last_ended().expect("ended flow");
    assert_eq!(flow.owner, task(42, "server"));
    assert_eq!(reason_of(&table), EndReason::Closed);
}

#[test]
fn a_servers_abort_is_owned_aborted_and_its_late_rst_is_the_owners() {
    use TcpState::*;
    let server = Sock::new(7, "10.0.0.2:80", "10.0.0.1:5005");
    let client = Sock::new(8, "10.0.0.1:5005", "10.0.0.2:80");
    let mut table = ConnectionTable::default();
    let applied = run(
        &mut table,
        &[
            server.state(0, None, Close, SynRecv, 0),
            server.state(0, None, SynRecv, Established, 0),
            client.connect(0, task(7, "client")),
            // close() with SO_LINGER 0: straight to CLOSE, then the RST,
            // which the peer handles before the RST's own tracepoint fires.
            server.state(40, task(42, "server"), Established, Close, 0),
            client.state(40, None, Established, Close, ECONNRESET),
            server.event(40, task(42, "server"), EventKind::ResetSent),
        ],
    );
    let ended = table
        .ended()
        .find(|flow| flow.sock == SockId(7))
        .expect("server flow");
    assert_eq!(
        ended.owner,
        task(42, "server"),
        "the close ran in the owner's context"
    );
    assert_eq!(
        ended.end.as_ref().map(|end| end.reason),
        Some(EndReason::Aborted)
    );
    assert_eq!(ended.resets_sent, 1);
    assert_eq!(
        applied[5].owner,
        task(42, "server"),
        "the RST names its owner"
    );
}

#[test]
fn a_reused_socket_address_starts_a_new_flow() {
    use TcpState::*;
    let sock = Sock::new(7, "10.0.0.1:5005", "10.0.0.2:80");
    let mut table = ConnectionTable::default();
    run(
        &mut table,
        &[
            sock.connect(0, task(1, "first")),
            sock.state(5, task(1, "first"), SynSent, Close, 0),
            sock.connect(10, task(2, "second")),
            sock.connect(20, task(3, "third")),
        ],
    );
    assert_eq!(table.counts().ended, 1);
    let live = table.flow(SockId(7)).expect("live flow");
    assert_eq!(live.owner, task(3, "third"));
    assert_eq!(live.first_seen, 20 * MS);
    assert_eq!(
        table.counts().evicted_live,
        1,
        "the flow whose CLOSE was missed"
    );
}

#[test]
fn destroy_ends_a_flow_whose_close_was_not_seen() {
    let sock = Sock::new(8, "10.0.0.1:5006", "10.0.0.2:80");
    let mut table = ConnectionTable::default();
    run(
        &mut table,
        &[
            sock.retransmit(0, 200),
            sock.event(9, None, EventKind::Destroyed),
        ],
    );
    assert_eq!(table.counts().live, 0);
    assert_eq!(
        table.last_ended().map(|flow| flow.retransmit_count),
        Some(1)
    );
}

#[test]
fn a_rst_for_no_socket_creates_no_flow() {
    let mut table = ConnectionTable::default();
    let mut event =
        Sock::new(9, "10.0.0.1:80", "10.0.0.2:5007").event(0, None, EventKind::ResetSent);
    event.sock = None;
    assert_eq!(table.apply(&event), Applied::default());
    assert_eq!(table.counts(), TableCounts::default());
}

#[test]
fn ended_flows_evict_oldest_first_and_are_counted() {
    use TcpState::*;
    let mut table = ConnectionTable::new(Capacity { live: 10, ended: 3 });
    for id in 0..5 {
        let sock = Sock::new(id, "10.0.0.1:6000", "10.0.0.2:80");
        run(
            &mut table,
            &[
                sock.connect(id, None),
                sock.state(id + 1, None, SynSent, Close, 0),
            ],
        );
    }
    let kept: Vec<u64> = table.ended().map(|flow| flow.sock.0).collect();
    assert_eq!(kept, vec![2, 3, 4]);
    assert_eq!(table.counts().evicted_ended, 2);
}

#[test]
fn a_full_table_evicts_the_longest_idle_live_flows() {
    let mut table = ConnectionTable::new(Capacity { live: 4, ended: 4 });
    for id in 0..4 {
        table.apply(&Sock::new(id, "10.0.0.1:6000", "10.0.0.2:80").connect(id * 10, None));
    }
    table.apply(&Sock::new(0, "10.0.0.1:6000", "10.0.0.2:80").retransmit(100, 1000));
    table.apply(&Sock::new(9, "10.0.0.1:6000", "10.0.0.2:80").connect(200, None));
    let counts = table.counts();
    assert_eq!((counts.live, counts.evicted_live), (4, 1));
    assert!(table.flow(SockId(1)).is_none(), "flow 1 was idle longest");
    assert!(
        table.flow(SockId(0)).is_some(),
        "flow 0 was touched recently"
    );
}

fn reason_of(table: &ConnectionTable) -> EndReason {
    table
        .last_ended()
        .and_then(|flow| flow.end.as_ref())
        .map(|end| end.reason)
        .expect("an ended flow")
}

#[test]
fn connect_attempts_are_listed_while_in_syn_sent_only() {
    use TcpState::*;
    let mut table = ConnectionTable::new(Capacity { live: 2, ended: 4 });
    let slow = Sock::new(11, "10.0.0.1:5010", "10.0.0.2:80");
    let fast = Sock::new(12, "10.0.0.1:5011", "10.0.0.2:80");
    let listed = |table: &ConnectionTable| {
        let mut socks: Vec<u64> = table.connecting().map(|flow| flow.sock.0).collect();
        socks.sort_unstable();
        socks
    };
    table.apply(&slow.connect(0, task(1, "a")));
    table.apply(&fast.connect(1, task(1, "a")));
    assert_eq!(listed(&table), vec![11, 12]);
    table.apply(&fast.state(2, None, SynSent, Established, 0));
    assert_eq!(
        listed(&table),
        vec![11],
        "established is no longer an attempt"
    );
    table.apply(&Sock::new(13, "10.0.0.1:5012", "10.0.0.2:80").connect(3, None));
    assert_eq!(listed(&table), vec![13], "the idle attempt 11 was evicted");
    table.apply(&Sock::new(13, "10.0.0.1:5012", "10.0.0.2:80").state(4, None, SynSent, Close, 110));
    assert_eq!(
        listed(&table),
        Vec::<u64>::new(),
        "an ended attempt is gone"
    );
}

#[test]
fn a_flow_the_probes_kept_begins_at_its_open_with_its_owner() {
    use TcpState::*;
    let sock = Sock::new(9, "10.0.0.1:5006", "10.0.0.2:80");
    let mut table = ConnectionTable::default();
    let opened = EventKind::Opened {
        opened_as: SynSent,
        established_at: Some(2 * MS),
    };
    let steps = run(
        &mut table,
        &[
            sock.event(1, task(51, "client"), opened),
            sock.state(1_300, None, Established, FinWait1, 0),
            sock.state(1_301, None, FinWait1, FinWait2, 0),
            sock.state(1_302, None, FinWait2, Close, 0),
        ],
    );
    assert_eq!(steps[0].owner, task(51, "client"), "the connect's task");
    assert!(steps[3].ended);
    let flow = table.last_ended().expect("ended flow");
    assert!(flow.seen_from_start && !flow.preexisting);
    assert_eq!(flow.first_seen, MS, "it began at its open");
    assert_eq!(flow.owner, task(51, "client"));
    assert_eq!(reason_of(&table), EndReason::Closed);
}

#[test]
fn an_accepted_flow_the_probes_kept_is_established_without_an_owner() {
    use TcpState::*;
    let sock = Sock::new(10, "10.0.0.2:80", "10.0.0.1:5007");
    let mut table = ConnectionTable::default();
    let opened = EventKind::Opened {
        opened_as: SynRecv,
        established_at: Some(MS),
    };
    run(&mut table, &[sock.event(0, None, opened)]);
    let flow = table.flow(SockId(10)).expect("live flow");
    assert_eq!(flow.state, Established);
    assert_eq!(flow.owner, None);
    assert_eq!(table.connecting().count(), 0);
}
