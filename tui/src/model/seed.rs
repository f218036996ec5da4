//! The retransmission history of a flow first found in the socket tables,
//! already retransmitting: `tcp_info` tells how many retransmissions, the
//! RTO now and when the timer fires next, and the give-up model fills in
//! the rest, so the forecast works as for a flow the probes watched.

use std::time::Duration;

use super::{
    event::{Nanos, RetransmitCause, SocketLimits},
    flow::RetransmitRecord,
    forecast,
    giveup::{self, Phase},
    socket::SocketEntry,
};

/// The latest retransmission of `entry`'s socket, as the probes would have
/// reported it, and its limits with the time since the episode began; None
/// when it is not retransmitting or its state has no model.
pub fn latest_retransmit(
    entry: &SocketEntry,
    namespace: SocketLimits,
    at: Nanos,
) -> Option<(RetransmitRecord, SocketLimits)> {
    let details = entry.details?;
    let phase = forecast::phase_of(entry.state)?;
    if details.retransmits == 0 || details.rto_ms == 0 {
        return None;
    }
    // The timer was re-armed with the backed-off RTO right after the latest
    // retransmission; the one that expired before it was half of it,
    // except while SYN timeouts stay linear.
    let linear = phase == Phase::SynSent && details.backoff == 0;
    let guess = RetransmitRecord {
        at,
        rto_ms: if linear {
            details.rto_ms
        } else {
            details.rto_ms / 2
        },
        backoff: details.backoff.saturating_sub(1),
        retransmits: details.retransmits,
        cause: RetransmitCause::Timer,
        sent: true,
    };
    let model = forecast::model_limits(phase, &namespace, &guess);
    let schedule = giveup::schedule(&model);
    let planned = schedule
        .retransmissions
        .iter()
        .find(|planned| planned.n == u32::from(details.retransmits))?;
    let since_fired = match entry.retransmit_timer_ms {
        Some(remaining) => details.rto_ms.saturating_sub(remaining),
        None => details.last_send_ms,
    };
    let record = RetransmitRecord {
        at: at.saturating_sub(Nanos::from(since_fired) * 1_000_000),
        rto_ms: millis(planned.rto),
        ..guess
    };
    let since_retrans_stamp = match phase {
        Phase::SynSent => planned.at + model.initial_rto,
        _ => planned.at,
    };
    let limits = SocketLimits {
        since_first_retransmit_ms: Some(millis(since_retrans_stamp)),
        ..namespace
    };
    Some((record, limits))
}

fn millis(duration: Duration) -> u32 {
    u32::try_from(duration.as_millis()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        event::TcpState,
        flow::Flow,
        socket::{SocketEntry, TcpDetails},
    };

    const SECOND: Nanos = 1_000_000_000;

    fn entry(state: TcpState, details: TcpDetails, timer_ms: u32) -> SocketEntry {
        SocketEntry {
            netns: 1,
            local: "10.0.0.1:40000".parse().expect("local"),
            remote: "10.0.0.2:80".parse().expect("remote"),
            state,
            inode: 7,
            receive_queue: 0,
            send_queue: 100,
            drops: None,
            retransmit_timer_ms: Some(timer_ms),
            owner: None,
            details: Some(details),
        }
    }

    fn limits(retries2: u8) -> SocketLimits {
        SocketLimits {
            retries2,
            syn_retries: 6,
            syn_linear_timeouts: 4,
            hz: 250,
            ..SocketLimits::default()
        }
    }

    #[test]
    fn an_established_flow_found_mid_episode_gets_the_window_it_would_have_had() {
        // Third RTO retransmission from an initial 200 ms: 200, 400, 800 ms
        // expired, 1600 ms armed, 600 ms of it left.
        let details = TcpDetails {
            rto_ms: 1600,
            backoff: 3,
            retransmits: 3,
            ..TcpDetails::default()
        };
        let found = entry(TcpState::Established, details, 600);
        let now = 100 * SECOND;
        let (record, seeded) = latest_retransmit(&found, limits(3), now).expect("seeded");
        assert_eq!(record.rto_ms, 800);
        assert_eq!(record.at, now - SECOND);
        // retrans_stamp of an established flow is its first retransmission.
        assert_eq!(seeded.since_first_retransmit_ms, Some(400 + 800));

        let mut flow = Flow::new(
            crate::model::event::SockId(1),
            1,
            found.local,
            found.remote,
            now,
        );
        flow.state = TcpState::Established;
        flow.limits = Some(Box::new(seeded));
        flow.record_retransmit(record);
        let forecast = forecast::forecast(&flow, now).expect("a forecast");
        // retries2=3 from 200 ms: a budget of 200+400+800+1600 = 3.0 s
        // from the first retransmission, checked when the timers fire.
        let first = now - SECOND - 1200 * 1_000_000;
        assert!(forecast.give_up_earliest >= first + 2 * SECOND);
        assert!(forecast.give_up_latest <= first + 7 * SECOND);
        assert_eq!(forecast.error, "ETIMEDOUT");
    }

    #[test]
    fn nothing_to_seed_without_retransmissions_or_for_a_listener() {
        let quiet = TcpDetails {
            rto_ms: 204,
            ..TcpDetails::default()
        };
        assert!(
            latest_retransmit(&entry(TcpState::Established, quiet, 0), limits(15), 0).is_none()
        );
        let busy = TcpDetails {
            rto_ms: 1000,
            retransmits: 1,
            ..TcpDetails::default()
        };
        assert!(latest_retransmit(&entry(TcpState::Listen, busy, 0), limits(15), 0).is_none());
    }

    #[test]
    fn a_syn_found_retrying_keeps_the_linear_timeouts() {
        let details = TcpDetails {
            rto_ms: 1000,
            backoff: 0,
            retransmits: 2,
            ..TcpDetails::default()
        };
        let found = entry(TcpState::SynSent, details, 250);
        let (record, seeded) = latest_retransmit(&found, limits(15), 10 * SECOND).expect("seeded");
        assert_eq!(record.rto_ms, 1000);
        assert_eq!(record.at, 10 * SECOND - 750 * 1_000_000);
        // The original SYN, then two retransmissions a second apart.
        assert_eq!(seeded.since_first_retransmit_ms, Some(2000));
    }
}
