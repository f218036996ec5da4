//! What comes next for a retransmitting flow: its projected retransmissions
//! and the window in which the kernel will give up, from the flow's own
//! limits (its namespace's sysctls and socket options, as the probes read
//! them), placed on the wall clock.

use std::time::Duration;

use super::{
    event::{Nanos, RetransmitCause, SocketLimits, TcpState},
    flow::{Flow, RetransmitRecord},
    giveup::{self, Limits, Phase, SeenRetransmit},
};

/// A retransmission the kernel has not made yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Projected {
    pub at: Nanos,
    /// The timeout that will expire before it, ms.
    pub rto_ms: u32,
}

/// The kernel's expected course for one flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forecast {
    /// Retransmissions still to come before the give-up, in order.
    pub projected: Vec<Projected>,
    /// The kernel gives up no earlier than this...
    pub give_up_earliest: Nanos,
    /// ...and no later: its timer checks only when it fires, and the
    /// timer wheel may fire it late.
    pub give_up_latest: Nanos,
    /// What the application will see then, e.g. "ETIMEDOUT".
    pub error: &'static str,
}

impl Forecast {
    /// Whether the next retransmission is overdue at `now` by more than its
    /// own timeout: the peer answered and the retransmission episode ended.
    fn recovered(&self, now: Nanos) -> bool {
        self.projected
            .first()
            .is_some_and(|next| now > next.at + 2 * ms_to_ns(next.rto_ms))
    }
}

/// The forecast at `now` for a live flow whose latest retransmission was made
/// by the retransmission timer; None otherwise (nothing to forecast, a state
/// the model does not cover, or an episode that ended without a give-up).
pub fn forecast(flow: &Flow, now: Nanos) -> Option<Forecast> {
    project(flow).filter(|forecast| !forecast.recovered(now))
}

fn project(flow: &Flow) -> Option<Forecast> {
    if flow.end.is_some() {
        return None;
    }
    let limits = *flow.limits.as_deref()?;
    let phase = phase_of(flow.state)?;
    let timer: Vec<&RetransmitRecord> = flow
        .retransmits
        .iter()
        .filter(|record| {
            !matches!(
                record.cause,
                RetransmitCause::LossProbe | RetransmitCause::Fast
            )
        })
        .collect();
    let last = timer.last()?;
    let model_limits = model_limits(phase, &limits, timer[0]);
    let anchor = episode_start(&model_limits, &limits, last, timer[0]);
    let observed: Vec<SeenRetransmit> = timer
        .iter()
        .map(|record| {
            let observed = SeenRetransmit::from_ms(
                u32::from(record.retransmits).max(1),
                record.rto_ms,
                ns_to_ms(record.at.saturating_sub(anchor)),
            );
            match record.sent {
                true => observed,
                false => observed.not_sent(),
            }
        })
        .collect();
    let schedule = giveup::project(&model_limits, &observed);
    let window = schedule.give_up_with_timer_slack(limits.hz);
    let at = |offset: Duration| anchor.saturating_add(offset.as_nanos() as Nanos);
    Some(Forecast {
        projected: schedule
            .retransmissions
            .iter()
            .map(|planned| Projected {
                at: at(planned.at),
                rto_ms: planned.rto.as_millis().min(u128::from(u32::MAX)) as u32,
            })
            .collect(),
        give_up_earliest: at(window.earliest),
        give_up_latest: at(window.latest),
        error: schedule.error,
    })
}

pub(super) fn phase_of(state: TcpState) -> Option<Phase> {
    match state {
        TcpState::SynSent => Some(Phase::SynSent),
        TcpState::SynRecv => Some(Phase::SynRecv),
        TcpState::Established | TcpState::CloseWait => Some(Phase::Established),
        // After close() the socket is an orphan: tcp_orphan_retries rules.
        TcpState::FinWait1 | TcpState::Closing | TcpState::LastAck => Some(Phase::Orphan),
        _ => None,
    }
}

/// The model's limits for this socket, its first timer retransmission
/// telling the initial RTO (halved back by its backoff when tcpscope
/// started after the first ones).
pub(super) fn model_limits(
    phase: Phase,
    limits: &SocketLimits,
    first: &RetransmitRecord,
) -> Limits {
    let ms = |value: u32| Duration::from_millis(u64::from(value));
    let defaults = Limits::new(phase);
    let retries = match phase {
        Phase::Established => limits.retries2,
        Phase::SynSent => limits.sock_syn_retries.unwrap_or(limits.syn_retries),
        Phase::SynRecv => limits.synack_retries,
        Phase::Orphan => limits.orphan_retries,
    };
    let initial_rto = match phase {
        Phase::Established | Phase::Orphan => ms(first
            .rto_ms
            .checked_shr(u32::from(first.backoff))
            .unwrap_or(0)),
        Phase::SynSent | Phase::SynRecv => defaults.initial_rto,
    };
    Limits {
        initial_rto,
        rto_min: limits.rto_min_ms.map_or(defaults.rto_min, ms),
        rto_max: limits.rto_max_ms.map_or(defaults.rto_max, ms),
        retries,
        syn_linear_timeouts: limits.syn_linear_timeouts,
        user_timeout: limits.user_timeout_ms.map(ms),
        ..defaults
    }
}

/// When the retransmission episode began on the wall clock: the kernel's
/// own `retrans_stamp` as read at the latest retransmission, or, without
/// it, the first retransmission tcpscope saw.
fn episode_start(
    model: &Limits,
    limits: &SocketLimits,
    last: &RetransmitRecord,
    first: &RetransmitRecord,
) -> Nanos {
    match limits.since_first_retransmit_ms {
        Some(since) => {
            let since_first =
                model.since_first_retransmission(Duration::from_millis(u64::from(since)));
            last.at.saturating_sub(since_first.as_nanos() as Nanos)
        }
        None => first.at,
    }
}

fn ms_to_ns(ms: u32) -> Nanos {
    Nanos::from(ms) * 1_000_000
}

fn ns_to_ms(ns: Nanos) -> u32 {
    (ns / 1_000_000).min(Nanos::from(u32::MAX)) as u32
}

#[cfg(test)]
#[path = "forecast_tests.rs"]
mod tests;
