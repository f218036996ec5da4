//! When the kernel gives up on a connection: a pure model of Linux 6.x's
//! retransmission give-up logic (net/ipv4/tcp_timer.c: tcp_write_timeout,
//! retransmits_timed_out, tcp_model_timeout, tcp_clamp_rto_to_user_timeout,
//! the SYN linear timeouts and the socket's rto max; reqsk_timer_handler for
//! a listener's SYN-ACKs).
//!
//! Every time is an offset from the first retransmission. The kernel checks
//! for expiry only when the retransmission timer fires, so the answer is a
//! [`GiveUpWindow`]: no give-up before `earliest` (the budget runs out), none
//! after `latest` (the timer running then has fired, if on time). With these
//! exact RTOs the model expects the give-up at `expected`.
//!
//! A retransmission this host could not send (its qdisc, tc or CPU backlog
//! dropped it: local congestion) still counts, and the timer comes back
//! after [`TCP_RESOURCE_PROBE_INTERVAL`] without backing off. Once a flow has
//! had one, the window also holds the course where every later one fails
//! too.
//!
//! Left out: RTO changes from ACKs or ICMP (tcp_ld_RTO_revert), thin-stream
//! linear timeouts, zero-window probes, keepalives, tcp_out_of_resources,
//! TCP Fast Open, a listener's queue pressure and defer-accept, jiffy
//! rounding, and an ICMP soft error replacing ETIMEDOUT. The timer wheel can
//! fire a timer late; [`units::timer_slack`] bounds by how much.

mod kernel;
pub mod units;

#[cfg(test)]
mod properties;
#[cfg(test)]
mod tests;

use std::time::Duration;

/// TCP_RTO_MIN (HZ/5): the base of the budget of established flows.
pub const TCP_RTO_MIN: Duration = Duration::from_millis(200);
/// TCP_RTO_MAX, also the most TCP_RTO_MAX_MS and tcp_rto_max_ms accept.
pub const TCP_RTO_MAX: Duration = Duration::from_secs(120);
/// The least TCP_RTO_MAX_MS and tcp_rto_max_ms accept.
pub const RTO_MAX_FLOOR: Duration = Duration::from_secs(1);
/// TCP_TIMEOUT_INIT: the RTO of a SYN or SYN-ACK.
pub const TCP_TIMEOUT_INIT: Duration = Duration::from_secs(1);
/// MAX_TCP_SYNCNT: the most tcp_syn_retries, TCP_SYNCNT and
/// tcp_syn_linear_timeouts take.
pub const MAX_TCP_SYNCNT: u8 = 127;
/// TCP_USER_TIMEOUT is an int of milliseconds.
pub const USER_TIMEOUT_MAX: Duration = Duration::from_millis(i32::MAX as u64);
/// Default net.ipv4.tcp_retries2.
pub const TCP_RETR2: u8 = 15;
/// Default net.ipv4.tcp_syn_retries.
pub const TCP_SYN_RETRIES: u8 = 6;
/// Default net.ipv4.tcp_synack_retries.
pub const TCP_SYNACK_RETRIES: u8 = 5;
/// Default net.ipv4.tcp_syn_linear_timeouts.
pub const TCP_SYN_LINEAR_TIMEOUTS: u8 = 4;
/// TCP_RESOURCE_PROBE_INTERVAL (HZ/2): the timer after a retransmission
/// that local congestion kept from leaving the host.
pub const TCP_RESOURCE_PROBE_INTERVAL: Duration = Duration::from_millis(500);
/// The error a socket gets when the kernel gives up on it.
pub const ETIMEDOUT: &str = "ETIMEDOUT";
/// What a listener's half-open connection gets: nothing, it is dropped.
pub const REQUEST_DROPPED: &str = "no error (request dropped)";

/// Where the connection is; each phase has its own give-up rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Data outstanding on a socket an application still holds: give up
    /// once the tcp_retries2 budget (or TCP_USER_TIMEOUT) has passed.
    Established,
    /// connect() waiting for a SYN-ACK: give up after tcp_syn_retries plus
    /// tcp_syn_linear_timeouts retransmissions, or once the budget passed.
    SynSent,
    /// A listener's half-open connection waiting for the final ACK: drop it
    /// after tcp_synack_retries SYN-ACK retransmissions.
    SynRecv,
    /// Data outstanding on a socket the application closed: the budget of
    /// tcp_orphan_retries (0 means 8 while the RTO is below its maximum).
    Orphan,
}

impl Phase {
    /// The state's name as the kernel spells it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Established => "ESTABLISHED",
            Self::SynSent => "SYN_SENT",
            Self::SynRecv => "SYN_RECV",
            Self::Orphan => "orphaned",
        }
    }

    /// The sysctl that sets the phase's retry limit.
    pub fn retries_sysctl(self) -> &'static str {
        match self {
            Self::Established => "tcp_retries2",
            Self::SynSent => "tcp_syn_retries",
            Self::SynRecv => "tcp_synack_retries",
            Self::Orphan => "tcp_orphan_retries",
        }
    }

    fn is_handshake(self) -> bool {
        matches!(self, Self::SynSent | Self::SynRecv)
    }
}

/// What the kernel's give-up logic reads for one flow. Absurd values are
/// clamped, never rejected: RTOs into the socket's bounds, the rto max into
/// 1s..=120s, a handshake's retries to at least 1, and TCP_USER_TIMEOUT to
/// the int milliseconds the kernel stores (zero switches it off).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub phase: Phase,
    /// The timeout that expires before the first retransmission: the flow's
    /// icsk_rto then, TCP_TIMEOUT_INIT for a SYN or SYN-ACK.
    pub initial_rto: Duration,
    /// The socket's RTO floor. The budget ignores it: tcp_model_timeout()
    /// always starts from the constant TCP_RTO_MIN.
    pub rto_min: Duration,
    /// The socket's rto max (TCP_RTO_MAX_MS or tcp_rto_max_ms).
    pub rto_max: Duration,
    /// tcp_retries2, tcp_syn_retries (or TCP_SYNCNT), tcp_synack_retries or
    /// tcp_orphan_retries, as the phase reads.
    pub retries: u8,
    /// tcp_syn_linear_timeouts: SYN_SENT's first retries keep the initial RTO.
    pub syn_linear_timeouts: u8,
    /// TCP_USER_TIMEOUT, which replaces the retry budget when set.
    pub user_timeout: Option<Duration>,
}

impl Limits {
    /// The kernel's defaults for a flow in `phase`.
    pub fn new(phase: Phase) -> Self {
        let (initial_rto, retries) = match phase {
            Phase::Established => (TCP_RTO_MIN, TCP_RETR2),
            Phase::SynSent => (TCP_TIMEOUT_INIT, TCP_SYN_RETRIES),
            Phase::SynRecv => (TCP_TIMEOUT_INIT, TCP_SYNACK_RETRIES),
            Phase::Orphan => (TCP_RTO_MIN, 0),
        };
        Self {
            phase,
            initial_rto,
            rto_min: TCP_RTO_MIN,
            rto_max: TCP_RTO_MAX,
            retries,
            syn_linear_timeouts: TCP_SYN_LINEAR_TIMEOUTS,
            user_timeout: None,
        }
    }

    /// Turns a time since retrans_stamp into a time since the first
    /// retransmission: in SYN_SENT, retrans_stamp is the original SYN.
    pub fn since_first_retransmission(&self, since_retrans_stamp: Duration) -> Duration {
        match self.phase {
            Phase::SynSent => since_retrans_stamp.saturating_sub(self.initial_rto),
            _ => since_retrans_stamp,
        }
    }
}

/// A retransmission the model expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Planned {
    /// Its number: icsk_retransmits once it has gone out.
    pub n: u32,
    /// The timer that expires before it: icsk_rto, or less when
    /// TCP_USER_TIMEOUT clamps the timer.
    pub rto: Duration,
    /// When it goes out, since the first retransmission.
    pub at: Duration,
}

/// A retransmission a live flow has made, as the probes report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeenRetransmit {
    /// icsk_retransmits at tcp:tcp_retransmit_skb.
    pub n: u32,
    /// icsk_rto at tcp:tcp_retransmit_skb: the timeout that just expired.
    pub rto: Duration,
    /// When it went out, since the first retransmission.
    pub at: Duration,
    /// False when local congestion kept it on this host: the kernel counted
    /// it, kept its RTO and re-armed the timer for
    /// [`TCP_RESOURCE_PROBE_INTERVAL`].
    pub sent: bool,
}

impl SeenRetransmit {
    /// From the probes' millisecond values, for a retransmission that went
    /// out.
    pub fn from_ms(n: u32, rto_ms: u32, at_ms: u32) -> Self {
        Self {
            n,
            rto: Duration::from_millis(u64::from(rto_ms)),
            at: Duration::from_millis(u64::from(at_ms)),
            sent: true,
        }
    }

    /// The same retransmission, kept on this host by local congestion.
    pub fn not_sent(self) -> Self {
        Self {
            sent: false,
            ..self
        }
    }
}

/// Which test ends the flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GiveUpRule {
    /// The retransmission count ran out (SYN_SENT, SYN_RECV).
    RetryCount,
    /// The time budget of tcp_model_timeout() ran out.
    RetryBudget,
    /// TCP_USER_TIMEOUT ran out.
    UserTimeout,
}

impl GiveUpRule {
    /// The rule's name in JSON output.
    pub fn name(self) -> &'static str {
        match self {
            Self::RetryCount => "retry_count",
            Self::RetryBudget => "retry_budget",
            Self::UserTimeout => "user_timeout",
        }
    }
}

/// When the kernel gives up, as offsets from the first retransmission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GiveUpWindow {
    /// The budget runs out; for a count, the last timer fires.
    pub earliest: Duration,
    /// `earliest` plus the RTO in force then, when that timer has fired;
    /// `expected` when TCP_USER_TIMEOUT clamps it or a count decides.
    pub latest: Duration,
    /// The timer firing that gives up with exactly the modelled RTOs.
    pub expected: Duration,
    pub rule: GiveUpRule,
    /// The timer that fires at `expected`: the RTO in force at `earliest`.
    pub rto_in_force: Duration,
}

/// The retransmissions still to come and how the flow ends.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// At most [`Schedule::LISTED_MAX`] of them, in order.
    pub retransmissions: Vec<Planned>,
    /// icsk_retransmits when the kernel gives up: the last one's number.
    pub retransmits_at_give_up: u32,
    pub give_up: GiveUpWindow,
    /// The error the kernel reports: [`ETIMEDOUT`] or [`REQUEST_DROPPED`].
    pub error: &'static str,
}

impl Schedule {
    /// Retransmissions listed; the window still counts every one.
    pub const LISTED_MAX: usize = 4096;

    /// The window widened by how late the timer wheel may fire the timers
    /// it rests on at `hz`: the last one for a time rule, every one since
    /// the first retransmission for a count.
    pub fn give_up_with_timer_slack(&self, hz: u32) -> GiveUpWindow {
        let last = units::timer_slack(self.give_up.rto_in_force, hz);
        let late = match self.give_up.rule {
            GiveUpRule::RetryCount => self
                .retransmissions
                .iter()
                .filter(|planned| !planned.at.is_zero())
                .map(|planned| units::timer_slack(planned.rto, hz))
                .fold(last, Duration::saturating_add),
            GiveUpRule::RetryBudget | GiveUpRule::UserTimeout => last,
        };
        GiveUpWindow {
            latest: self.give_up.latest.saturating_add(late),
            ..self.give_up
        }
    }
}

/// The RTO the kernel arms after retransmission `n` went out with `rto`
/// expired: doubled up to the rto max, kept within SYN_SENT's linear
/// timeouts.
pub fn next_rto(limits: &Limits, n: u32, rto: Duration) -> Duration {
    kernel::Model::new(limits).backoff(n, rto)
}

/// Every retransmission from the first one on, and the give-up window.
pub fn schedule(limits: &Limits) -> Schedule {
    kernel::Model::new(limits).schedule()
}

/// What comes next for a live flow that has retransmitted `done` (any
/// order; the highest `n` counts): the retransmissions after it and the
/// window, still relative to the first retransmission. With nothing done
/// yet this is [`schedule`]. When one of `done` was not sent, local
/// congestion may go on: the window then also holds the give-up of a
/// course where every later retransmission fails as well.
pub fn project(limits: &Limits, done: &[SeenRetransmit]) -> Schedule {
    let model = kernel::Model::new(limits);
    let Some(last) = done.iter().max_by_key(|observed| (observed.n, observed.at)) else {
        return model.schedule();
    };
    let schedule = model.after(last);
    if done.iter().all(|observed| observed.sent) {
        return schedule;
    }
    let congested = model.after_congested(last);
    widened(schedule, &congested)
}

/// `schedule`'s window stretched to hold `congested`'s give-up, and later
/// by a probe interval for each retransmission that may yet fail (each one
/// delays the ones after it by that much).
fn widened(schedule: Schedule, congested: &GiveUpWindow) -> Schedule {
    let may_fail = u32::try_from(schedule.retransmissions.len()).unwrap_or(u32::MAX);
    let give_up = schedule.give_up;
    let latest = give_up
        .latest
        .saturating_add(TCP_RESOURCE_PROBE_INTERVAL.saturating_mul(may_fail))
        .max(congested.latest);
    Schedule {
        give_up: GiveUpWindow {
            earliest: give_up.earliest.min(congested.earliest),
            latest,
            ..give_up
        },
        ..schedule
    }
}
