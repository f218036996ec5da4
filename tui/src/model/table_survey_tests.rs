//! Surveys meeting probe events in the connection table.

use std::{net::SocketAddr, sync::Arc};

use super::*;
use crate::model::{
    event::{Event, EventKind, Nanos, SocketLimits, Task},
    socket::{NamespaceLimits, Owner, SocketEntry, TcpDetails},
};

const SECOND: Nanos = 1_000_000_000;
const NETNS: u32 = 4026531840;
const KERNEL_ADDRESS: u64 = 0xffff_8880_0123_4000;

fn addr(text: &str) -> SocketAddr {
    text.parse().expect("address")
}

fn owner(pid: u32, comm: &str) -> Option<Arc<Owner>> {
    Some(Arc::new(Owner {
        task: Task {
            pid,
            comm: Arc::from(comm),
        },
        unit: Some(Arc::from("nginx.service")),
        pod: None,
    }))
}

fn socket(netns: u32, local: &str, remote: &str, state: TcpState) -> SocketEntry {
    SocketEntry {
        netns,
        local: addr(local),
        remote: addr(remote),
        state,
        inode: 99,
        receive_queue: 0,
        send_queue: 0,
        drops: None,
        retransmit_timer_ms: None,
        owner: owner(400, "nginx"),
        details: Some(TcpDetails {
            rto_ms: 204,
            ..TcpDetails::default()
        }),
    }
}

fn survey(scope: Scope, sockets: Vec<SocketEntry>) -> Survey {
    Survey {
        at: 10 * SECOND,
        scope,
        namespaces: vec![NamespaceLimits {
            netns: NETNS,
            limits: SocketLimits {
                retries2: 15,
                hz: 250,
                ..SocketLimits::default()
            },
        }],
        sockets,
        ..Survey::default()
    }
}

fn close_event(entry: &SocketEntry, at: Nanos) -> Event {
    Event {
        ts: at,
        sock: Some(SockId(KERNEL_ADDRESS)),
        netns: entry.netns,
        local: entry.local,
        remote: entry.remote,
        task: None,
        kind: EventKind::State {
            old: TcpState::Established,
            new: TcpState::FinWait1,
            err: 0,
            stack: None,
        },
    }
}

#[test]
fn the_first_survey_adds_open_flows_with_their_owner_and_the_probes_adopt_them() {
    let accepted = socket(
        NETNS,
        "10.0.0.1:443",
        "10.0.0.9:50000",
        TcpState::Established,
    );
    let mut table = ConnectionTable::default();
    let added = table.apply_survey(&survey(Scope::Initial, vec![accepted.clone()]));
    assert_eq!(added.len(), 1);
    let flow = table.flow(added[0]).expect("added");
    assert!(flow.preexisting && !flow.seen_from_start);
    assert_eq!(flow.owner.as_ref().map(|task| task.pid), Some(400));
    assert_eq!(flow.unit.as_deref(), Some("nginx.service"));

    let close = close_event(&accepted, 11 * SECOND);
    let applied = table.apply(&close);
    let owner = table.owner(&close, &applied);
    assert_eq!(owner.map(|task| task.pid), Some(400));
    assert!(table.flow(added[0]).is_none(), "the stand-in key is gone");
    let flow = table.flow(SockId(KERNEL_ADDRESS)).expect("adopted");
    assert!(flow.preexisting);
    assert_eq!(flow.state, TcpState::FinWait1);
    assert_eq!(table.counts().live, 1);
}

#[test]
fn later_surveys_add_nothing_but_name_owners_the_probes_could_not() {
    let mut table = ConnectionTable::default();
    let entry = socket(
        NETNS,
        "10.0.0.1:443",
        "10.0.0.9:50001",
        TcpState::Established,
    );
    // An accepted flow: its state changes run in softirq, owner unknown.
    let mut accepted = close_event(&entry, SECOND);
    accepted.kind = EventKind::State {
        old: TcpState::SynRecv,
        new: TcpState::Established,
        err: 0,
        stack: None,
    };
    accepted.task = Some(Task {
        pid: 0,
        comm: Arc::from("swapper/1"),
    });
    table.apply(&accepted);
    assert_eq!(
        table.flow(SockId(KERNEL_ADDRESS)).expect("flow").owner,
        None
    );

    let stranger = socket(
        NETNS,
        "10.0.0.1:443",
        "10.0.0.9:50002",
        TcpState::Established,
    );
    let added = table.apply_survey(&survey(Scope::Full, vec![entry, stranger]));
    assert!(added.is_empty());
    assert_eq!(table.counts().live, 1);
    let flow = table.flow(SockId(KERNEL_ADDRESS)).expect("flow");
    assert_eq!(flow.owner.as_ref().map(|task| task.pid), Some(400));
    assert_eq!(
        flow.socket.as_ref().map(|sample| sample.details.rto_ms),
        Some(204)
    );
}

#[test]
fn the_same_four_tuple_in_two_namespaces_is_two_flows() {
    let here = socket(
        NETNS,
        "10.231.0.1:23500",
        "10.231.0.2:80",
        TcpState::Established,
    );
    let there = socket(
        NETNS + 7,
        "10.231.0.1:23500",
        "10.231.0.2:80",
        TcpState::Established,
    );
    let mut table = ConnectionTable::default();
    let added = table.apply_survey(&survey(Scope::Initial, vec![here, there.clone()]));
    assert_eq!(added.len(), 2);
    table.apply(&close_event(&there, 11 * SECOND));
    let adopted = table.flow(SockId(KERNEL_ADDRESS)).expect("adopted");
    assert_eq!(adopted.netns, NETNS + 7);
    assert_eq!(table.counts().live, 2);
}

#[test]
fn a_flow_found_retransmitting_gets_its_history_and_limits() {
    let mut black_holed = socket(
        NETNS,
        "10.0.0.1:40000",
        "10.0.0.2:80",
        TcpState::Established,
    );
    black_holed.retransmit_timer_ms = Some(1000);
    black_holed.details = Some(TcpDetails {
        rto_ms: 3200,
        backoff: 4,
        retransmits: 4,
        unacked: 1,
        ..TcpDetails::default()
    });
    let mut table = ConnectionTable::default();
    let added = table.apply_survey(&survey(Scope::Initial, vec![black_holed]));
    let flow = table.flow(added[0]).expect("added");
    assert_eq!(flow.retransmit_count, 1);
    assert_eq!(flow.retransmits[0].retransmits, 4);
    assert_eq!(
        flow.limits.as_deref().map(|limits| limits.retries2),
        Some(15)
    );
    assert!(crate::model::forecast::forecast(flow, 10 * SECOND).is_some());
}

#[test]
fn a_connect_the_start_up_survey_caught_midway_stays_one_flow() {
    let mut table = ConnectionTable::default();
    let caught = socket(NETNS, "10.0.0.1:40000", "10.0.0.2:80", TcpState::SynSent);
    // connect(): the state changes before the kernel picks the local port.
    let mut begins = close_event(&caught, SECOND);
    begins.local = addr("10.0.0.1:0");
    begins.kind = EventKind::State {
        old: TcpState::Close,
        new: TcpState::SynSent,
        err: 0,
        stack: None,
    };
    begins.task = Some(Task {
        pid: 77,
        comm: Arc::from("curl"),
    });
    table.apply(&begins);
    // The start-up survey ran meanwhile and found the socket with its port.
    let added = table.apply_survey(&survey(Scope::Initial, vec![caught.clone()]));
    assert_eq!(
        table.counts().live,
        2,
        "one stand-in until the probes say more"
    );
    let mut retransmit = close_event(&caught, 2 * SECOND);
    retransmit.kind = EventKind::Retransmit(crate::model::event::Retransmit {
        rto_ms: 1000,
        backoff: 0,
        retransmits: 1,
        cause: crate::model::event::RetransmitCause::Timer,
        limits: None,
        state: Some(TcpState::SynSent),
    });
    table.apply(&retransmit);
    assert_eq!(table.counts().live, 1);
    assert!(table.flow(added[0]).is_none(), "the stand-in is gone");
    let flow = table
        .flow(SockId(KERNEL_ADDRESS))
        .expect("the probes' flow");
    assert_eq!(flow.owner.as_ref().map(|task| task.pid), Some(77));
    assert!(flow.socket.is_some(), "it keeps what the survey read");
    assert_eq!(table.connecting().count(), 1);
}

#[test]
fn a_flow_whose_socket_vanished_without_an_event_is_evicted() {
    let gone = socket(
        NETNS,
        "10.0.0.1:443",
        "10.0.0.9:50010",
        TcpState::Established,
    );
    let stays = socket(
        NETNS,
        "10.0.0.1:443",
        "10.0.0.9:50011",
        TcpState::Established,
    );
    let elsewhere = socket(
        NETNS + 1,
        "10.0.0.1:443",
        "10.0.0.9:50012",
        TcpState::Established,
    );
    let mut table = ConnectionTable::default();
    let mut first = survey(Scope::Initial, vec![gone, stays.clone(), elsewhere]);
    first.at = 10 * SECOND;
    table.apply_survey(&first);
    assert_eq!(table.counts().live, 3);
    // A second later the first is missing: too soon to tell.
    let mut next = survey(Scope::Full, vec![stays.clone()]);
    next.at = 11 * SECOND;
    table.apply_survey(&next);
    assert_eq!(table.counts().live, 3);
    // Past the grace, the first miss might still be a close on its way.
    next.at = 13 * SECOND;
    table.apply_survey(&next);
    assert_eq!(table.counts().live, 3);
    // Missed again: it is gone. The flow in a namespace this survey did
    // not read stays, and so does the one it found.
    next.at = 14 * SECOND;
    table.apply_survey(&next);
    let counts = table.counts();
    assert_eq!((counts.live, counts.evicted_live), (2, 1));
    assert!(table.live().all(|flow| flow.remote.port() != 50010));
    // A watched look-up of one socket says nothing about the others.
    let mut watched = survey(Scope::Watched, vec![]);
    watched.at = 20 * SECOND;
    table.apply_survey(&watched);
    assert_eq!(table.counts().live, 2);
}

#[test]
fn a_flow_only_the_probes_saw_whose_close_was_lost_is_evicted_too() {
    let connect = socket(NETNS, "10.0.0.9:50030", "10.0.0.1:443", TcpState::SynSent);
    let mut table = ConnectionTable::default();
    table.apply(&Event {
        ts: SECOND,
        sock: Some(SockId(KERNEL_ADDRESS)),
        netns: NETNS,
        local: connect.local,
        remote: connect.remote,
        task: None,
        kind: EventKind::State {
            old: TcpState::Close,
            new: TcpState::SynSent,
            err: 0,
            stack: None,
        },
    });
    // Surveys that left sockets out past --max-flows prove nothing.
    let mut capped = survey(Scope::Full, vec![]);
    capped.sockets_left_out = 1;
    for second in [4, 5] {
        capped.at = second * SECOND;
        table.apply_survey(&capped);
    }
    assert_eq!(table.counts().live, 1);
    // No survey ever found the socket: its close was lost before one ran.
    let mut empty = survey(Scope::Full, vec![]);
    for second in [6, 7] {
        empty.at = second * SECOND;
        table.apply_survey(&empty);
    }
    let counts = table.counts();
    assert_eq!((counts.live, counts.evicted_live), (0, 1));
}

#[test]
fn a_close_still_on_its_way_when_a_survey_misses_the_socket_ends_the_flow() {
    let connect = socket(NETNS, "10.0.0.9:50020", "10.0.0.1:443", TcpState::SynSent);
    let event = |at: Nanos, kind: EventKind| Event {
        ts: at,
        sock: Some(SockId(KERNEL_ADDRESS)),
        netns: NETNS,
        local: connect.local,
        remote: connect.remote,
        task: None,
        kind,
    };
    let mut table = ConnectionTable::default();
    table.apply(&event(
        SECOND,
        EventKind::State {
            old: TcpState::Close,
            new: TcpState::SynSent,
            err: 0,
            stack: None,
        },
    ));
    let mut found = survey(Scope::Full, vec![connect.clone()]);
    found.at = 2 * SECOND;
    table.apply_survey(&found);
    // The kernel gives up at 10 s; a survey dumped just after misses the
    // socket and reaches the table before the probes' record of the close.
    let mut missed = survey(Scope::Full, vec![]);
    missed.at = 10 * SECOND + 10_000_000;
    table.apply_survey(&missed);
    let applied = table.apply(&event(
        10 * SECOND,
        EventKind::State {
            old: TcpState::SynSent,
            new: TcpState::Close,
            err: 110,
            stack: None,
        },
    ));
    assert!(applied.ended());
    let ended = table.ended().last().expect("the flow ended");
    assert!(ended.seen_from_start, "the flow that began at 1 s ended");
    assert_eq!(ended.first_seen, SECOND);
    assert_eq!(table.counts().evicted_live, 0);
}

#[test]
fn a_flow_whose_namespace_is_gone_is_evicted() {
    let mut table = ConnectionTable::default();
    let mut first = survey(
        Scope::Initial,
        vec![socket(
            NETNS,
            "10.0.0.9:50040",
            "10.0.0.1:443",
            TcpState::Established,
        )],
    );
    first.at = SECOND;
    table.apply_survey(&first);
    assert_eq!(table.counts().live, 1);
    // The namespace is deleted: later surveys neither read nor list it.
    let mut after = survey(Scope::Full, vec![]);
    after.namespaces.clear();
    after.listed = Some(vec![NETNS + 1]);
    for second in [4, 5] {
        after.at = second * SECOND;
        table.apply_survey(&after);
    }
    assert_eq!(table.counts().live, 0);
    // A replay's surveys list nothing: they evict nothing for it.
    table.apply_survey(&first);
    let mut replayed = survey(Scope::Full, vec![]);
    replayed.namespaces.clear();
    for second in [8, 9] {
        replayed.at = second * SECOND;
        table.apply_survey(&replayed);
    }
    assert_eq!(table.counts().live, 1);
}

#[test]
fn a_connect_the_startup_survey_caught_and_the_probes_then_told_is_the_threads() {
    let connecting = socket(NETNS, "10.0.0.1:40100", "10.0.0.2:80", TcpState::SynSent);
    let mut table = ConnectionTable::default();
    table.apply_survey(&survey(Scope::Initial, vec![connecting.clone()]));
    let opened = Event {
        ts: 9 * SECOND,
        sock: Some(SockId(KERNEL_ADDRESS)),
        netns: NETNS,
        local: connecting.local,
        remote: connecting.remote,
        task: Some(Task {
            pid: 400,
            comm: Arc::from("worker-3"),
        }),
        kind: EventKind::Opened {
            opened_as: TcpState::SynSent,
            established_at: None,
        },
    };
    table.apply(&opened);
    let flow = table.flow(SockId(KERNEL_ADDRESS)).expect("adopted");
    assert_eq!(
        flow.owner.as_ref().map(|task| task.comm.as_ref()),
        Some("worker-3"),
        "the thread that connected, not the process /proc named"
    );
    assert!(flow.seen_from_start && !flow.preexisting);
    assert_eq!(flow.first_seen, 9 * SECOND, "it began at its connect");
    assert_eq!(table.counts().live, 1, "one flow, not a stand-in beside it");
}

/// A full survey at `seconds` of `sockets`.
fn full_survey_at(seconds: Nanos, sockets: &[SocketEntry]) -> Survey {
    Survey {
        at: seconds * SECOND,
        ..survey(Scope::Full, sockets.to_vec())
    }
}

#[test]
fn a_connection_whose_open_was_lost_becomes_a_flow_once_the_surveys_keep_finding_it() {
    let lost = socket(
        NETNS,
        "10.0.0.1:443",
        "10.0.0.9:50002",
        TcpState::Established,
    );
    let mut table = ConnectionTable::default();
    for seconds in [10, 11, 12] {
        let added = table.apply_survey(&full_survey_at(seconds, std::slice::from_ref(&lost)));
        assert!(
            added.is_empty(),
            "at {seconds} s the probes may still tell it"
        );
    }
    let added = table.apply_survey(&full_survey_at(13, std::slice::from_ref(&lost)));
    let [stand_in] = added.as_slice() else {
        panic!("adopted once unknown for 3 s: {added:?}");
    };
    let flow = table.flow(*stand_in).expect("flow");
    assert!(flow.preexisting, "its age is unknown");
    assert_eq!(flow.owner.as_ref().map(|task| task.pid), Some(400));
    assert!(
        table
            .apply_survey(&full_survey_at(14, std::slice::from_ref(&lost)))
            .is_empty()
    );

    // Its close, from the probes, ends that one flow.
    let mut close = close_event(&lost, 15 * SECOND);
    close.kind = EventKind::State {
        old: TcpState::Established,
        new: TcpState::Close,
        err: 0,
        stack: None,
    };
    table.apply(&close);
    assert_eq!(table.counts().live, 0);
    assert_eq!(table.ended().count(), 1);
}

#[test]
fn a_connection_the_probes_told_one_that_comes_and_goes_and_a_bound_socket_are_not_adopted() {
    let told = socket(
        NETNS,
        "10.0.0.1:40100",
        "10.0.0.2:80",
        TcpState::Established,
    );
    let flickering = socket(
        NETNS,
        "10.0.0.1:40200",
        "10.0.0.2:80",
        TcpState::Established,
    );
    let bound = socket(NETNS, "10.0.0.1:40300", "0.0.0.0:0", TcpState::Close);
    let mut table = ConnectionTable::default();
    table.apply_survey(&full_survey_at(10, &[told.clone(), flickering.clone()]));
    table.apply(&Event {
        ts: 9 * SECOND,
        sock: Some(SockId(KERNEL_ADDRESS)),
        netns: NETNS,
        local: told.local,
        remote: told.remote,
        task: None,
        kind: EventKind::Opened {
            opened_as: TcpState::SynSent,
            established_at: Some(9 * SECOND),
        },
    });
    // Not found at 11 s: another socket may have reused the 4-tuple.
    table.apply_survey(&full_survey_at(11, std::slice::from_ref(&told)));
    for seconds in [12, 13, 14] {
        let sockets = [told.clone(), flickering.clone(), bound.clone()];
        let added = table.apply_survey(&full_survey_at(seconds, &sockets));
        assert!(added.is_empty(), "at {seconds} s: {added:?}");
    }
    assert_eq!(table.counts().live, 1, "only the flow the probes told");
    let added = table.apply_survey(&full_survey_at(15, &[flickering.clone(), bound]));
    assert_eq!(
        added.len(),
        1,
        "found since 12 s, never bound-only: {added:?}"
    );
}

#[test]
fn each_flow_learns_its_own_socket_from_a_large_survey_in_any_order() {
    // Sockets of three namespaces; a distinct RTO tells each one's sample.
    let sockets: Vec<SocketEntry> = (0..60u16)
        .map(|n| {
            let local = format!("10.0.0.1:{}", 8000 + n % 20);
            let remote = format!("10.0.0.9:{}", 50000 + n);
            let mut entry = socket(
                NETNS + u32::from(n % 3),
                &local,
                &remote,
                TcpState::Established,
            );
            entry.details = Some(TcpDetails {
                rto_ms: 1000 + u32::from(n),
                ..TcpDetails::default()
            });
            entry
        })
        .collect();
    // Flows for every other socket, and two (sockets the probes told, the
    // first one's close lost) for one 4-tuple of the others.
    let mut table = ConnectionTable::default();
    let flows: Vec<SocketEntry> = sockets.iter().step_by(2).cloned().collect();
    table.apply_survey(&survey(Scope::Initial, flows));
    let twice = sockets[1].clone();
    for sock in [KERNEL_ADDRESS, KERNEL_ADDRESS + 0x800] {
        table.apply(&Event {
            sock: Some(SockId(sock)),
            ..close_event(&twice, 10 * SECOND)
        });
    }
    assert_eq!(table.counts().live, 32);

    let mut shuffled = sockets.clone();
    shuffled.reverse();
    shuffled.rotate_left(7);
    assert!(shuffled.len() >= SORTED_FROM);
    let later = Survey {
        at: 11 * SECOND,
        ..survey(Scope::Full, shuffled)
    };
    let added = table.apply_survey(&later);

    assert!(added.is_empty(), "no socket is adopted at its first sight");
    let renewed: Vec<&Flow> = table
        .live()
        .filter(|flow| flow.socket.as_ref().is_some_and(|s| s.at == later.at))
        .collect();
    assert_eq!(renewed.len(), 31, "one flow of the 4-tuple held twice");
    for flow in renewed {
        let entry = sockets.iter().find(|entry| entry.tuple() == flow.tuple());
        let rto = flow.socket.as_ref().map(|sample| sample.details.rto_ms);
        assert_eq!(rto, entry.and_then(|entry| entry.details).map(|d| d.rto_ms));
    }
    let of_twice = table.live().filter(|flow| flow.tuple() == twice.tuple());
    assert_eq!(of_twice.count(), 2);
    assert_eq!(table.unknown.len(), 29, "the sockets without a flow wait");
}
