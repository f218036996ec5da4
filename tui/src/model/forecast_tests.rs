//! Forecasts of live flows, checked against the kernel's arithmetic.

use super::*;
use crate::model::event::SockId;

const S: Nanos = 1_000_000_000;
const MS: Nanos = 1_000_000;
/// An arbitrary wall-clock start.
const T0: Nanos = 1_700_000_000 * S;

fn limits() -> SocketLimits {
    SocketLimits {
        retries2: 15,
        syn_retries: 6,
        synack_retries: 5,
        orphan_retries: 0,
        syn_linear_timeouts: 4,
        hz: 250,
        ..SocketLimits::default()
    }
}

fn flow(
    state: TcpState,
    limits: SocketLimits,
    retransmits: &[(Nanos, u32, u8, u8, RetransmitCause)],
) -> Flow {
    let addr = "10.0.0.1:40000".parse().expect("address");
    let mut flow = Flow::new(SockId(1), 0, addr, addr, T0);
    flow.state = state;
    flow.limits = Some(Box::new(limits));
    for &(at, rto_ms, backoff, retransmits, cause) in retransmits {
        flow.record_retransmit(RetransmitRecord {
            at,
            rto_ms,
            backoff,
            retransmits,
            cause,
            sent: true,
        });
    }
    flow
}

#[test]
fn an_established_flow_of_incident_2_gives_up_between_924_6_and_1044_6_s() {
    let limits = SocketLimits {
        since_first_retransmit_ms: Some(0),
        ..limits()
    };
    let flow = flow(
        TcpState::Established,
        limits,
        &[(T0, 200, 0, 1, RetransmitCause::Timer)],
    );
    let forecast = forecast(&flow, T0).expect("a forecast");
    assert_eq!(forecast.give_up_earliest, T0 + 924_600 * MS);
    assert!(
        forecast.give_up_latest >= T0 + 1_044_600 * MS,
        "latest {} s",
        (forecast.give_up_latest - T0) as f64 / 1e9
    );
    assert_eq!(forecast.error, "ETIMEDOUT");
    let next = forecast.projected.first().expect("a next retransmission");
    assert_eq!(
        (next.at, next.rto_ms),
        (T0 + 400 * MS, 400),
        "the RTO doubles"
    );
    assert!(
        forecast
            .projected
            .windows(2)
            .all(|pair| pair[0].at < pair[1].at)
    );
}

#[test]
fn a_syn_black_hole_with_two_retries_gives_up_seven_seconds_after_the_syn() {
    // SYN at T0, retransmissions at +1 s and +3 s, give-up at +7 s.
    let limits = SocketLimits {
        syn_retries: 2,
        syn_linear_timeouts: 0,
        since_first_retransmit_ms: Some(1000),
        ..limits()
    };
    let first = (T0 + S, 1000, 0, 1, RetransmitCause::Timer);
    let forecast =
        forecast(&flow(TcpState::SynSent, limits, &[first]), T0 + S).expect("a forecast");
    assert_eq!(
        forecast.projected,
        vec![Projected {
            at: T0 + 3 * S,
            rto_ms: 2000
        }]
    );
    assert_eq!(forecast.give_up_earliest, T0 + 7 * S);
    assert!(forecast.give_up_latest >= T0 + 7 * S);
    assert!(
        forecast.give_up_latest < T0 + 8 * S,
        "only timer-wheel slack"
    );
}

#[test]
fn the_sockets_own_limits_rule_the_forecast() {
    let short = SocketLimits {
        retries2: 3,
        since_first_retransmit_ms: Some(0),
        ..limits()
    };
    let retries3 = forecast(
        &flow(
            TcpState::Established,
            short,
            &[(T0, 200, 0, 1, RetransmitCause::Timer)],
        ),
        T0,
    )
    .expect("a forecast");
    assert_eq!(retries3.give_up_earliest, T0 + 3 * S, "(2^4 - 1) x 200 ms");
    let user_timeout = SocketLimits {
        user_timeout_ms: Some(1500),
        ..short
    };
    let with_timeout = forecast(
        &flow(
            TcpState::Established,
            user_timeout,
            &[(T0, 200, 0, 1, RetransmitCause::Timer)],
        ),
        T0,
    )
    .expect("a forecast");
    assert_eq!(with_timeout.give_up_earliest, T0 + 1500 * MS);
}

#[test]
fn a_flow_seen_mid_episode_is_anchored_at_the_kernels_retrans_stamp() {
    // tcpscope started during the episode: the first retransmission it saw
    // is the fourth (backoff 3, RTO 1600 ms), 3 s after the first one.
    let limits = SocketLimits {
        since_first_retransmit_ms: Some(3_000),
        ..limits()
    };
    let flow = flow(
        TcpState::Established,
        limits,
        &[(T0 + 3 * S, 1600, 3, 4, RetransmitCause::Timer)],
    );
    let forecast = forecast(&flow, T0).expect("a forecast");
    assert_eq!(forecast.give_up_earliest, T0 + 924_600 * MS);
    assert_eq!(forecast.projected[0].rto_ms, 3200);
}

#[test]
fn no_forecast_without_a_timer_retransmission_or_after_the_end() {
    let tlp = flow(
        TcpState::Established,
        limits(),
        &[(T0, 200, 0, 0, RetransmitCause::LossProbe)],
    );
    assert_eq!(forecast(&tlp, T0), None);
    let mut ended = flow(
        TcpState::Established,
        limits(),
        &[(T0, 200, 0, 1, RetransmitCause::Timer)],
    );
    assert!(forecast(&ended, T0).is_some());
    ended.end = Some(Box::new(crate::model::flow::FlowEnd {
        at: T0 + S,
        reason: crate::model::flow::EndReason::Timeout,
        err: 110,
        last_state: TcpState::Established,
        stack: None,
    }));
    assert_eq!(forecast(&ended, T0), None);
    let listener = flow(
        TcpState::Listen,
        limits(),
        &[(T0, 200, 0, 1, RetransmitCause::Timer)],
    );
    assert_eq!(forecast(&listener, T0), None);
}

#[test]
fn no_forecast_once_the_next_retransmission_is_overdue() {
    let limits = SocketLimits {
        since_first_retransmit_ms: Some(0),
        ..limits()
    };
    let flow = flow(
        TcpState::Established,
        limits,
        &[(T0, 200, 0, 1, RetransmitCause::Timer)],
    );
    assert!(
        forecast(&flow, T0 + 500 * MS).is_some(),
        "next one due at +400 ms"
    );
    assert_eq!(
        forecast(&flow, T0 + 1300 * MS),
        None,
        "overdue by more than its 400 ms RTO: the peer answered"
    );
}
