//! Listeners from surveys: queue against backlog, drops and their rise,
//! half-open requests and SYN-ACK retransmissions, and the flags.

use super::*;

const SECOND: Nanos = 1_000_000_000;

fn listener(local: &str, depth: u32, backlog: u32, drops: u32) -> SocketEntry {
    SocketEntry {
        netns: 7,
        local: local.parse().expect("local"),
        remote: "0.0.0.0:0".parse().expect("remote"),
        state: TcpState::Listen,
        inode: 1,
        receive_queue: depth,
        send_queue: backlog,
        drops: Some(drops),
        retransmit_timer_ms: None,
        owner: None,
        details: None,
    }
}

fn request(local: &str, remote: &str) -> SocketEntry {
    SocketEntry {
        state: TcpState::SynRecv,
        inode: 0,
        remote: remote.parse().expect("remote"),
        drops: None,
        ..listener(local, 0, 0, 0)
    }
}

/// A full survey of namespace 7, the one every entry here is in.
fn survey(second: u64, sockets: Vec<SocketEntry>) -> Survey {
    Survey {
        at: second * SECOND,
        scope: Scope::Full,
        sockets,
        namespaces: vec![crate::model::socket::NamespaceLimits {
            netns: 7,
            limits: crate::model::event::SocketLimits::default(),
        }],
        ..Survey::default()
    }
}

fn only(listeners: &Listeners) -> &Listener {
    let all: Vec<_> = listeners.iter().collect();
    match all.as_slice() {
        [one] => one,
        _ => panic!("one listener expected, got {all:?}"),
    }
}

#[test]
fn a_queue_within_its_backlog_is_not_flagged() {
    let mut listeners = Listeners::default();
    listeners.apply_survey(&survey(0, vec![listener("0.0.0.0:80", 1, 1, 0)]));
    let listener = only(&listeners);
    assert!(!listener.full());
    assert!(!listener.flagged());
    assert_eq!((listener.depth, listener.backlog), (1, 1));
}

#[test]
fn a_queue_above_its_backlog_is_full() {
    let mut listeners = Listeners::default();
    listeners.apply_survey(&survey(0, vec![listener("0.0.0.0:80", 2, 1, 0)]));
    assert!(only(&listeners).full());
    assert!(only(&listeners).flagged());
}

#[test]
fn rising_drops_flag_the_listener_for_a_while() {
    let mut listeners = Listeners::default();
    listeners.apply_survey(&survey(0, vec![listener("10.0.0.1:80", 0, 128, 3)]));
    assert_eq!(
        only(&listeners).drops_delta,
        0,
        "no earlier count to compare"
    );
    assert!(!only(&listeners).dropping());
    listeners.apply_survey(&survey(1, vec![listener("10.0.0.1:80", 0, 128, 7)]));
    assert_eq!(only(&listeners).drops_delta, 4);
    assert!(only(&listeners).dropping());
    listeners.apply_survey(&survey(5, vec![listener("10.0.0.1:80", 0, 128, 7)]));
    assert_eq!(only(&listeners).drops_delta, 0);
    assert!(only(&listeners).dropping(), "rose 4 s ago");
    listeners.apply_survey(&survey(6, vec![listener("10.0.0.1:80", 0, 128, 7)]));
    assert!(!only(&listeners).dropping(), "rose 5 s ago");
}

#[test]
fn half_open_requests_count_against_the_listener_that_serves_them() {
    let mut listeners = Listeners::default();
    let sockets = vec![
        listener("0.0.0.0:80", 0, 128, 0),
        listener("10.0.0.1:443", 0, 128, 0),
        request("10.0.0.1:80", "10.0.0.9:40000"),
        request("10.0.0.2:80", "10.0.0.9:40001"),
        request("10.0.0.1:443", "10.0.0.9:40002"),
        request("10.0.0.1:22", "10.0.0.9:40003"),
    ];
    listeners.apply_survey(&survey(0, sockets));
    let counts: Vec<_> = listeners
        .iter()
        .map(|listener| (listener.local.port(), listener.half_open))
        .collect();
    assert_eq!(counts, vec![(80, 2), (443, 1)]);
}

#[test]
fn synack_retransmits_count_before_and_after_the_listener_is_found() {
    let mut listeners = Listeners::default();
    let local: SocketAddr = "10.0.0.1:80".parse().expect("local");
    listeners.synack_retransmit(7, local);
    listeners.synack_retransmit(8, local);
    listeners.apply_survey(&survey(0, vec![listener("0.0.0.0:80", 0, 128, 0)]));
    assert_eq!(only(&listeners).synack_retransmits, 1, "netns 8 is another");
    listeners.synack_retransmit(7, local);
    assert_eq!(only(&listeners).synack_retransmits, 2);
    listeners.apply_survey(&survey(1, vec![listener("0.0.0.0:80", 0, 128, 0)]));
    assert_eq!(only(&listeners).synack_retransmits, 2);
    // Namespace 8 is not in the survey any more: its tally went with it.
    assert_eq!(listeners.synacks.len(), 1, "{:?}", listeners.synacks);
}

#[test]
fn a_listener_the_survey_no_longer_finds_is_gone_and_a_watched_survey_changes_nothing() {
    let mut listeners = Listeners::default();
    listeners.apply_survey(&survey(0, vec![listener("0.0.0.0:80", 0, 128, 0)]));
    let watched = Survey {
        scope: Scope::Watched,
        ..survey(1, Vec::new())
    };
    listeners.apply_survey(&watched);
    assert_eq!(listeners.len(), 1);
    listeners.apply_survey(&survey(2, Vec::new()));
    assert!(listeners.is_empty());
}

#[test]
fn unit_and_state_filters_see_the_listeners_owner_and_state() {
    let mut owned = listener("0.0.0.0:80", 0, 128, 0);
    owned.owner = Some(std::sync::Arc::new(crate::model::socket::Owner {
        task: Task {
            pid: 400,
            comm: std::sync::Arc::from("nginx"),
        },
        unit: Some(std::sync::Arc::from("nginx.service")),
        pod: None,
    }));
    let mut listeners = Listeners::default();
    listeners.apply_survey(&survey(0, vec![owned]));
    let passes = |text: &str| {
        let filter: crate::model::filter::Filter = text.parse().expect("filter");
        filter.matches(&Subject::from(only(&listeners)))
    };
    assert!(passes("unit:nginx state:listen comm:nginx"));
    assert!(!passes("unit:api"));
    assert!(!passes("state:established"));
}
