//! The kernel's side of the give-up model: the retransmission timer firing
//! after firing, as tcp_retransmit_timer() and tcp_write_timeout() (or a
//! listener's reqsk_timer_handler()) handle it.

use std::time::Duration;

use super::{
    ETIMEDOUT, GiveUpRule, GiveUpWindow, Limits, Phase, Planned, REQUEST_DROPPED, RTO_MAX_FLOOR,
    Schedule, SeenRetransmit, TCP_RESOURCE_PROBE_INTERVAL, TCP_RTO_MAX, TCP_RTO_MIN,
    USER_TIMEOUT_MAX,
};

/// The shortest timer the model arms: an RTO of zero becomes this.
const TIMER_FLOOR: Duration = Duration::from_millis(1);
/// tcp_orphan_retries() uses this for a zero sysctl while the RTO is below
/// its maximum.
const ORPHAN_RETRIES_WHILE_ALIVE: u8 = 8;

/// One firing of the retransmission timer.
#[derive(Debug, Clone, Copy)]
struct Firing {
    /// icsk_retransmits when it fires.
    retransmits: u32,
    /// icsk_rto: the timeout in force, before any TCP_USER_TIMEOUT clamp.
    rto: Duration,
    /// How long the timer ran: `rto`, or less when clamped.
    ran: Duration,
    /// When it fires, since the first retransmission.
    at: Duration,
}

/// The time budget in force at a firing, since the first retransmission.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Budget {
    ends: Duration,
    rule: GiveUpRule,
}

/// Limits clamped to what the kernel can hold.
pub(super) struct Model {
    limits: Limits,
    /// The lowest RTO the flow can have.
    floor: Duration,
}

impl Model {
    pub(super) fn new(limits: &Limits) -> Self {
        let handshake = limits.phase.is_handshake();
        let rto_max = limits.rto_max.clamp(RTO_MAX_FLOOR, TCP_RTO_MAX);
        let floor = if handshake {
            TIMER_FLOOR
        } else {
            limits.rto_min.clamp(TIMER_FLOOR, rto_max)
        };
        let retries = if handshake {
            limits.retries.max(1)
        } else {
            limits.retries
        };
        let user_timeout = limits
            .user_timeout
            .filter(|timeout| !timeout.is_zero() && limits.phase != Phase::SynRecv)
            .map(|timeout| timeout.min(USER_TIMEOUT_MAX));
        Self {
            limits: Limits {
                initial_rto: limits.initial_rto.clamp(floor, rto_max),
                rto_max,
                retries,
                user_timeout,
                ..*limits
            },
            floor,
        }
    }

    /// From the first retransmission on.
    pub(super) fn schedule(&self) -> Schedule {
        let first = Planned {
            n: 1,
            rto: self.limits.initial_rto,
            at: Duration::ZERO,
        };
        let firing = self.next_firing(first.n, first.rto, first.at);
        self.run(vec![first], firing)
    }

    /// From a retransmission the flow has made.
    pub(super) fn after(&self, last: &SeenRetransmit) -> Schedule {
        self.run(Vec::new(), self.firing_after(last))
    }

    /// The give-up window from `last` on when every retransmission after it
    /// fails on this host too: the timer comes back every probe interval,
    /// each firing counting one more, until the count or the budget ends.
    pub(super) fn after_congested(&self, last: &SeenRetransmit) -> GiveUpWindow {
        let first = self.firing_after(last);
        // The RTO stays put, so the budget does too: count the firings
        // until the count or the budget ends, without firing them one by one.
        let budget = self.budget(&first);
        let to_count = self.count_limit().map_or(u64::MAX, |limit| {
            u64::from(limit.saturating_sub(first.retransmits))
        });
        let to_budget = budget.map_or(u64::MAX, |budget| {
            let left = budget.ends.saturating_sub(first.at).as_nanos();
            let step = TCP_RESOURCE_PROBE_INTERVAL.as_nanos();
            u64::try_from(left.div_ceil(step)).unwrap_or(u64::MAX)
        });
        let firings = to_count.min(to_budget);
        let steps = u32::try_from(firings).unwrap_or(u32::MAX);
        let at = first
            .at
            .saturating_add(TCP_RESOURCE_PROBE_INTERVAL.saturating_mul(steps));
        let rule = match (to_count <= to_budget, budget) {
            (false, Some(budget)) => budget.rule,
            _ => GiveUpRule::RetryCount,
        };
        let earliest = match (rule, budget) {
            (GiveUpRule::RetryCount, _) | (_, None) => at,
            (_, Some(budget)) => budget.ends.min(at),
        };
        GiveUpWindow {
            earliest,
            latest: at,
            expected: at,
            rule,
            rto_in_force: match firings {
                0 => first.ran,
                _ => TCP_RESOURCE_PROBE_INTERVAL,
            },
        }
    }

    /// The timer armed after `last`: backed off when it went out, the probe
    /// interval when local congestion kept it.
    fn firing_after(&self, last: &SeenRetransmit) -> Firing {
        let rto = last.rto.clamp(self.floor, self.limits.rto_max);
        let n = last.n.max(1);
        match last.sent {
            true => self.next_firing(n, rto, last.at),
            false => self.not_sent(n, rto, last.at),
        }
    }

    /// tcp_retransmit_timer() when retransmission `n` at `at` could not
    /// leave the host: icsk_rto stays, the timer waits the probe interval
    /// (not clamped to TCP_USER_TIMEOUT).
    fn not_sent(&self, n: u32, rto: Duration, at: Duration) -> Firing {
        Firing {
            retransmits: n,
            rto,
            ran: TCP_RESOURCE_PROBE_INTERVAL,
            at: at.saturating_add(TCP_RESOURCE_PROBE_INTERVAL),
        }
    }

    /// Fires the timer again and again, from `firing` on, until the kernel
    /// gives up.
    fn run(&self, mut listed: Vec<Planned>, first: Firing) -> Schedule {
        let mut firing = first;
        let at = first.at.saturating_sub(first.ran);
        let mut budget = self.budget(&firing);
        let mut budget_since = at;
        loop {
            let now = self.budget(&firing);
            if now != budget {
                budget = now;
                budget_since = firing.at;
            }
            if let Some(rule) = self.gives_up(&firing, budget) {
                return self.ending(listed, &firing, rule, budget, budget_since);
            }
            let n = firing.retransmits.saturating_add(1);
            if listed.len() < Schedule::LISTED_MAX {
                listed.push(Planned {
                    n,
                    rto: firing.ran,
                    at: firing.at,
                });
            }
            firing = self.next_firing(n, firing.rto, firing.at);
        }
    }

    /// The most retransmissions a handshake makes; None for the phases
    /// that only have a time budget.
    fn count_limit(&self) -> Option<u32> {
        let limits = &self.limits;
        match limits.phase {
            Phase::SynSent => {
                Some(u32::from(limits.retries) + u32::from(limits.syn_linear_timeouts))
            }
            Phase::SynRecv => Some(u32::from(limits.retries)),
            Phase::Established | Phase::Orphan => None,
        }
    }

    /// tcp_write_timeout(), or the listener's count for a SYN-ACK.
    fn gives_up(&self, firing: &Firing, budget: Option<Budget>) -> Option<GiveUpRule> {
        if self
            .count_limit()
            .is_some_and(|limit| firing.retransmits >= limit)
        {
            return Some(GiveUpRule::RetryCount);
        }
        budget
            .filter(|budget| firing.at >= budget.ends)
            .map(|budget| budget.rule)
    }

    /// retransmits_timed_out(): TCP_USER_TIMEOUT, or tcp_model_timeout() of
    /// the retry limit. Both count from retrans_stamp.
    fn budget(&self, firing: &Firing) -> Option<Budget> {
        let limits = &self.limits;
        let (from_stamp, rule) = match (limits.phase, limits.user_timeout) {
            (Phase::SynRecv, _) => return None,
            (_, Some(timeout)) => (timeout, GiveUpRule::UserTimeout),
            (Phase::SynSent, None) => (
                model_timeout(limits.retries, limits.initial_rto, limits.rto_max),
                GiveUpRule::RetryBudget,
            ),
            (Phase::Established, None) => (
                model_timeout(limits.retries, TCP_RTO_MIN, limits.rto_max),
                GiveUpRule::RetryBudget,
            ),
            (Phase::Orphan, None) => (
                model_timeout(self.orphan_retries(firing.rto), TCP_RTO_MIN, limits.rto_max),
                GiveUpRule::RetryBudget,
            ),
        };
        Some(Budget {
            ends: from_stamp.saturating_sub(self.stamp_lead()),
            rule,
        })
    }

    /// tcp_orphan_retries(): the socket is alive while its RTO is below
    /// the maximum.
    fn orphan_retries(&self, rto: Duration) -> u8 {
        match self.limits.retries {
            0 if rto < self.limits.rto_max => ORPHAN_RETRIES_WHILE_ALIVE,
            retries => retries,
        }
    }

    /// How long before the first retransmission retrans_stamp was taken:
    /// SYN_SENT stamps the original SYN, the other phases the first
    /// retransmission itself.
    fn stamp_lead(&self) -> Duration {
        match self.limits.phase {
            Phase::SynSent => self.limits.initial_rto,
            Phase::Established | Phase::SynRecv | Phase::Orphan => Duration::ZERO,
        }
    }

    /// The timer the kernel arms after retransmission `n`, which went out
    /// at `at` once `rto` had expired.
    fn next_firing(&self, n: u32, rto: Duration, at: Duration) -> Firing {
        let rto = self.backoff(n, rto);
        let ran = self.clamp_to_user_timeout(rto, at);
        Firing {
            retransmits: n,
            rto,
            ran,
            at: at.saturating_add(ran),
        }
    }

    /// Doubling up to the rto max; SYN_SENT keeps its RTO for the first
    /// tcp_syn_linear_timeouts retransmissions.
    pub(super) fn backoff(&self, n: u32, rto: Duration) -> Duration {
        let limits = &self.limits;
        if limits.phase == Phase::SynSent && n <= u32::from(limits.syn_linear_timeouts) {
            rto
        } else {
            rto.saturating_mul(2).min(limits.rto_max)
        }
    }

    /// tcp_clamp_rto_to_user_timeout(): never past TCP_USER_TIMEOUT; once
    /// it has passed, fire at once (the kernel waits one jiffy).
    fn clamp_to_user_timeout(&self, rto: Duration, at: Duration) -> Duration {
        match self.limits.user_timeout {
            Some(timeout) => {
                let elapsed = at.saturating_add(self.stamp_lead());
                rto.min(timeout.saturating_sub(elapsed))
            }
            None => rto,
        }
    }

    fn ending(
        &self,
        listed: Vec<Planned>,
        firing: &Firing,
        rule: GiveUpRule,
        budget: Option<Budget>,
        budget_since: Duration,
    ) -> Schedule {
        let (earliest, latest) = match (rule, budget) {
            (GiveUpRule::RetryBudget, Some(budget)) => (
                budget.ends.max(budget_since),
                firing.at.max(budget.ends.saturating_add(firing.ran)),
            ),
            (GiveUpRule::UserTimeout, Some(budget)) => (budget.ends, firing.at),
            _ => (firing.at, firing.at),
        };
        Schedule {
            retransmissions: listed,
            retransmits_at_give_up: firing.retransmits,
            give_up: GiveUpWindow {
                earliest,
                latest,
                expected: firing.at,
                rule,
                rto_in_force: firing.ran,
            },
            error: match self.limits.phase {
                Phase::SynRecv => REQUEST_DROPPED,
                Phase::Established | Phase::SynSent | Phase::Orphan => ETIMEDOUT,
            },
        }
    }
}

/// tcp_model_timeout(): how long `boundary` retransmissions take when the
/// RTO starts at `rto_base` and doubles up to `rto_max`.
fn model_timeout(boundary: u8, rto_base: Duration, rto_max: Duration) -> Duration {
    let base = rto_base.as_nanos().max(1);
    let max = rto_max.as_nanos();
    let linear_backoff_thresh = (max / base).checked_ilog2().unwrap_or(0);
    let boundary = u32::from(boundary);
    let nanos = if boundary <= linear_backoff_thresh {
        ((2u128 << boundary) - 1) * base
    } else {
        ((2u128 << linear_backoff_thresh) - 1) * base
            + u128::from(boundary - linear_backoff_thresh) * max
    };
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}
