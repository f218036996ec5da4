//! A flow: one TCP socket's life as the table has seen it, and how it ended.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use super::{
    errno::{ECONNREFUSED, ECONNRESET, EPIPE},
    event::{Event, Nanos, RetransmitCause, SockId, SocketLimits, Stack, Task, TcpState},
    forecast,
    giveup::{self, Limits, Phase},
    socket::{Pod, SocketEntry, SocketSample, Tuple},
    stall::Progress,
};

/// Retransmissions kept per flow; older ones are only counted.
pub const RETRANSMITS_KEPT: usize = 64;

/// One retransmission of the flow, as placed on its timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct RetransmitRecord {
    pub at: Nanos,
    pub rto_ms: u32,
    pub backoff: u8,
    /// `icsk_retransmits` after this one: the retransmission's number.
    pub retransmits: u8,
    pub cause: RetransmitCause,
    /// False when this host dropped it before it left (local congestion):
    /// the kernel counted it all the same and retries in 500 ms.
    pub sent: bool,
}

/// Why a flow ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndReason {
    /// The kernel gave up retransmitting (ETIMEDOUT, or the soft error
    /// that was pending when it gave up).
    Timeout,
    /// The application closed the socket while its connect was pending:
    /// its own connect timeout.
    Abandoned,
    /// The peer answered the SYN with a RST.
    Refused,
    /// A RST ended an established flow.
    Reset,
    /// This side aborted the flow: its application closed it with
    /// SO_LINGER 0 (or disconnected it), so the kernel sent a RST instead
    /// of a FIN.
    Aborted,
    /// An orderly close.
    Closed,
}

impl EndReason {
    pub const ALL: [EndReason; 6] = [
        Self::Timeout,
        Self::Abandoned,
        Self::Refused,
        Self::Reset,
        Self::Aborted,
        Self::Closed,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::Abandoned => "abandoned",
            Self::Refused => "refused",
            Self::Reset => "reset",
            Self::Aborted => "aborted",
            Self::Closed => "closed",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|reason| reason.name().eq_ignore_ascii_case(name))
    }

    /// Reads the reason from the state the flow left, `sk_err` at the change
    /// to CLOSE, whether a RST arrived, and whether the change to CLOSE was
    /// seen (`seen_close`; a flow ended by its socket's destruction was not).
    pub fn classify(
        last_state: TcpState,
        err: i32,
        reset_received: bool,
        seen_close: bool,
    ) -> Self {
        match err {
            ECONNREFUSED => Self::Refused,
            ECONNRESET | EPIPE => Self::Reset,
            0 if reset_received => Self::Reset,
            0 if last_state == TcpState::SynSent => Self::Abandoned,
            // An orderly close passes through the FIN states; straight from
            // a synchronized state to CLOSE without an error is an abort.
            0 if seen_close && aborts(last_state) => Self::Aborted,
            0 => Self::Closed,
            _ => Self::Timeout,
        }
    }
}

/// Puts `value` in `slot`, in the box already there if there is one: a
/// survey renews every flow's sample each second, and 100,000 frees and
/// allocations a second would only fragment the heap.
fn keep<T>(slot: &mut Option<Box<T>>, value: Option<T>) {
    match (slot.as_deref_mut(), value) {
        (Some(kept), Some(value)) => *kept = value,
        (_, value) => *slot = value.map(Box::new),
    }
}

/// Whether a change from `state` straight to CLOSE, without an error, is
/// this side's abort (`tcp_disconnect`, called from a close with
/// SO_LINGER 0 or a connect to AF_UNSPEC).
pub fn aborts(state: TcpState) -> bool {
    matches!(state, TcpState::Established | TcpState::CloseWait)
}

/// How a flow ended.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowEnd {
    pub at: Nanos,
    pub reason: EndReason,
    /// `sk_err` at the change to CLOSE (0: none).
    pub err: i32,
    /// The state the flow was in before CLOSE.
    pub last_state: TcpState,
    /// Kernel stack of the change to CLOSE.
    pub stack: Option<Stack>,
}

/// One socket's life.
#[derive(Debug, Clone, PartialEq)]
pub struct Flow {
    pub sock: SockId,
    pub netns: u32,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub state: TcpState,
    /// The process that owns the socket: from a process-context event, or
    /// from the process holding its file (/proc) when no event said.
    pub owner: Option<Task>,
    /// The owner's container or systemd unit, when its cgroup names one.
    pub unit: Option<Arc<str>>,
    /// The owner's Kubernetes pod, when known.
    pub pod: Option<Arc<Pod>>,
    pub first_seen: Nanos,
    pub last_event: Nanos,
    /// Whether the table saw the flow begin (connect, listen or accept);
    /// otherwise it was already open when tcpscope started.
    pub seen_from_start: bool,
    /// Found in the socket tables before any probe told it: at start-up,
    /// or later, when the probes' record of its open was lost. Its age is
    /// then unknown.
    pub preexisting: bool,
    /// The socket's `tcp_info` at the latest survey that found it.
    /// Boxed, as `progress`: surveys set them, and a smaller flow keeps
    /// the table's hot path (an event per record) fast.
    pub socket: Option<Box<SocketSample>>,
    /// Forward progress across the surveys' samples, and the stall when
    /// there is none.
    pub progress: Option<Box<Progress>>,
    /// The most recent retransmissions, oldest first.
    pub retransmits: Vec<RetransmitRecord>,
    /// All retransmissions seen, including those no longer kept.
    pub retransmit_count: u32,
    /// The limits read at the latest retransmission (boxed: most flows
    /// never retransmit, and every flow would carry their room).
    pub limits: Option<Box<SocketLimits>>,
    pub resets_sent: u32,
    pub resets_received: u32,
    /// Segments of the flow the kernel dropped.
    pub drops: u32,
    /// Boxed: a live flow has none, and 100,000 of them would carry its
    /// room.
    pub end: Option<Box<FlowEnd>>,
}

impl Flow {
    pub fn new(sock: SockId, netns: u32, local: SocketAddr, remote: SocketAddr, at: Nanos) -> Self {
        Self {
            sock,
            netns,
            local,
            remote,
            state: TcpState::Close,
            owner: None,
            unit: None,
            pod: None,
            first_seen: at,
            last_event: at,
            seen_from_start: false,
            preexisting: false,
            socket: None,
            progress: None,
            retransmits: Vec::new(),
            retransmit_count: 0,
            limits: None,
            resets_sent: 0,
            resets_received: 0,
            drops: 0,
            end: None,
        }
    }

    /// Time from first sight to the end, or to `now` while live.
    pub fn duration(&self, now: Nanos) -> Nanos {
        let until = self.end.as_ref().map_or(now, |end| end.at);
        until.saturating_sub(self.first_seen)
    }

    /// Notes an event of this flow: its time, and the 4-tuple as the kernel
    /// fills it in (the local port of a connect is 0 until the kernel picks
    /// it, and again once a closing socket releases it).
    pub fn touch(&mut self, event: &Event) {
        if event.local.port() != 0 {
            self.local = event.local;
        }
        if event.remote.port() != 0 {
            self.remote = event.remote;
        }
        self.last_event = event.ts;
    }

    pub fn tuple(&self) -> Tuple {
        Tuple {
            netns: self.netns,
            local: self.local,
            remote: self.remote,
        }
    }

    /// Takes what a survey found about this flow's socket: its `tcp_info`,
    /// and its owner unless a process-context event already named one.
    pub fn learn(&mut self, entry: &SocketEntry, at: Nanos) {
        if let Some(sample) = entry.sample(at) {
            let previous = self.progress.as_deref().copied();
            let progress = Progress::observe(previous, entry.state, &sample);
            keep(&mut self.socket, Some(sample));
            keep(&mut self.progress, progress);
        }
        if self.owner.is_none()
            && let Some(owner) = &entry.owner
        {
            self.owner = Some(owner.task.clone());
        }
        if self.unit.is_none() {
            self.unit = entry.owner.as_ref().and_then(|owner| owner.unit.clone());
        }
        if self.pod.is_none() {
            self.pod = entry.owner.as_ref().and_then(|owner| owner.pod.clone());
        }
        self.learn_kept_syns(entry, at);
    }

    /// Takes this flow's own SYN, dropped on its way out at `at` for
    /// `reason`, for what the kernel made of it: when local congestion
    /// kept a retransmission in (not the connect's first SYN), the kernel
    /// still counted it, kept its RTO and retries in 500 ms; recorded as a
    /// retransmission not sent. Returns whether it was one.
    pub fn record_syn_kept_on_host(&mut self, at: Nanos, reason: &str) -> bool {
        if self.state != TcpState::SynSent || !is_local_congestion(reason) {
            return false;
        }
        // The connect's own SYN leaves at once; its first retransmission
        // comes a whole initial RTO (1 s) later.
        if self.last_timer_record().is_none()
            && self.seen_from_start
            && at.saturating_sub(self.first_seen) < FIRST_SYN_SPAN
        {
            return false;
        }
        // A survey may have learnt this very retransmission from the
        // socket's timer before its drop arrived: the same one, not the next.
        if let Some(last) = self.last_timer_record()
            && !last.sent
            && at.abs_diff(last.at) < SAME_RETRANSMISSION
        {
            return true;
        }
        let record = self.next_kept(at);
        self.record_retransmit(record);
        true
    }

    /// Takes from a survey what the kernel counted that the drops did not
    /// show (a SYN kept in the CPU backlog behind a veth has no socket to
    /// name): when the retransmission timer of a connect is the probe
    /// interval it re-arms after a kept SYN, the latest firing kept its
    /// SYN; retransmissions counted but never reported are kept ones, half
    /// a second apart.
    fn learn_kept_syns(&mut self, entry: &SocketEntry, at: Nanos) {
        let (Some(details), Some(remaining)) = (entry.details, entry.retransmit_timer_ms) else {
            return;
        };
        if self.state != TcpState::SynSent || entry.state != TcpState::SynSent {
            return;
        }
        if remaining > PROBE_INTERVAL_MS {
            return;
        }
        // When the timer last fired, were it the probe interval.
        let since_fired = Nanos::from(PROBE_INTERVAL_MS - remaining) * MS;
        let Some(fired) = at.checked_sub(since_fired) else {
            return;
        };
        let (reported, last_at, last_sent) = self
            .last_timer_record()
            .map_or((0, 0, false), |last| (last.retransmits, last.at, last.sent));
        if details.retransmits == reported
            && last_sent
            && fired.abs_diff(last_at) < SAME_RETRANSMISSION
        {
            // Traced as sent (newer kernels trace a retransmission whatever
            // became of it), but the timer says it stayed here.
            if let Some(last) = self.retransmits.last_mut() {
                last.sent = false;
            }
            return;
        }
        let missed = details.retransmits.saturating_sub(reported);
        for n in (0..missed).rev() {
            let kept_at =
                fired.saturating_sub(Nanos::from(n) * Nanos::from(PROBE_INTERVAL_MS) * MS);
            let record = self.next_kept(kept_at.max(last_at));
            self.record_retransmit(record);
        }
    }

    fn last_timer_record(&self) -> Option<&RetransmitRecord> {
        self.retransmits
            .iter()
            .rev()
            .find(|record| record.cause == RetransmitCause::Timer)
    }

    /// The next retransmission, kept on this host at `at`.
    fn next_kept(&self, at: Nanos) -> RetransmitRecord {
        match self.last_timer_record() {
            None => RetransmitRecord {
                at,
                rto_ms: INITIAL_SYN_RTO_MS,
                backoff: 0,
                retransmits: 1,
                cause: RetransmitCause::Timer,
                sent: false,
            },
            Some(previous) => RetransmitRecord {
                at,
                rto_ms: match previous.sent {
                    // The RTO the kernel backed off to after it: its
                    // successor's expired timer, as a sent one reports.
                    true => next_syn_rto(previous, self.limits.as_deref()),
                    false => previous.rto_ms,
                },
                backoff: previous.backoff,
                retransmits: previous.retransmits.saturating_add(1),
                cause: RetransmitCause::Timer,
                sent: false,
            },
        }
    }

    /// Adds a retransmission to the timeline. The probe's report of one
    /// the host has just kept (newer kernels trace a retransmission whatever
    /// became of it) fills in the kept one's RTO instead.
    pub fn record_retransmit(&mut self, record: RetransmitRecord) {
        if let Some(kept) = self.retransmits.last_mut()
            && !kept.sent
            && record.sent
            && kept.retransmits == record.retransmits
            && record.at.saturating_sub(kept.at) < SAME_RETRANSMISSION
        {
            kept.rto_ms = record.rto_ms;
            kept.backoff = record.backoff;
            return;
        }
        if self.retransmits.len() == RETRANSMITS_KEPT {
            self.retransmits.remove(0);
        }
        self.retransmits.push(record);
        self.retransmit_count = self.retransmit_count.saturating_add(1);
    }
}

/// How far apart the drop of a kept retransmission and the probe's report
/// of it may be.
const SAME_RETRANSMISSION: Nanos = 50_000_000;
/// The timer after a kept retransmission, in ms (the give-up model's).
const PROBE_INTERVAL_MS: u32 = giveup::TCP_RESOURCE_PROBE_INTERVAL.as_millis() as u32;
const MS: Nanos = 1_000_000;
/// How long after a connect its first SYN may still be in flight.
const FIRST_SYN_SPAN: Nanos = 500_000_000;
/// The RTO of a SYN in ms (TCP_TIMEOUT_INIT, the give-up model's).
const INITIAL_SYN_RTO_MS: u32 = giveup::TCP_TIMEOUT_INIT.as_millis() as u32;

/// Drop reasons for which the device layer answers the sender with
/// NET_XMIT_DROP (a full qdisc, a tc drop, a full CPU backlog behind a
/// veth): TCP takes that as local congestion. A firewall's drop is an
/// error instead (EPERM), after which the kernel backs off as usual.
pub const LOCAL_CONGESTION: [&str; 6] = [
    "QDISC_DROP",
    "QDISC_OVERLIMIT",
    "QDISC_CONGESTED",
    "TC_EGRESS",
    "TC_DROP",
    "CPU_BACKLOG",
];

/// Whether a drop of an outgoing segment with `reason` is local congestion.
pub fn is_local_congestion(reason: &str) -> bool {
    LOCAL_CONGESTION.contains(&reason)
}

/// The RTO of the SYN retransmission after `previous`, which went out, as
/// the give-up model backs it off.
fn next_syn_rto(previous: &RetransmitRecord, limits: Option<&SocketLimits>) -> u32 {
    let limits = match limits {
        Some(limits) => forecast::model_limits(Phase::SynSent, limits, previous),
        None => Limits::new(Phase::SynSent),
    };
    let rto = Duration::from_millis(u64::from(previous.rto_ms));
    let next = giveup::next_rto(&limits, u32::from(previous.retransmits), rto);
    u32::try_from(next.as_millis()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::errno::ETIMEDOUT;

    #[test]
    fn end_reasons_follow_the_kernels_errors() {
        use TcpState::*;
        assert_eq!(
            EndReason::classify(SynSent, ETIMEDOUT, false, true),
            EndReason::Timeout
        );
        assert_eq!(
            EndReason::classify(Established, 113, false, true),
            EndReason::Timeout
        );
        assert_eq!(
            EndReason::classify(SynSent, ECONNREFUSED, true, true),
            EndReason::Refused
        );
        assert_eq!(
            EndReason::classify(Established, ECONNRESET, true, true),
            EndReason::Reset
        );
        assert_eq!(
            EndReason::classify(CloseWait, EPIPE, true, true),
            EndReason::Reset
        );
        assert_eq!(
            EndReason::classify(SynSent, 0, false, true),
            EndReason::Abandoned
        );
        assert_eq!(
            EndReason::classify(FinWait2, 0, false, true),
            EndReason::Closed
        );
        assert_eq!(
            EndReason::classify(LastAck, 0, true, true),
            EndReason::Reset
        );
        assert_eq!(
            EndReason::classify(Established, 0, false, true),
            EndReason::Aborted
        );
        assert_eq!(
            EndReason::classify(CloseWait, 0, false, true),
            EndReason::Aborted
        );
        assert_eq!(
            EndReason::classify(Established, 0, false, false),
            EndReason::Closed,
            "a destroyed socket whose close was not seen was not seen aborting"
        );
    }

    #[test]
    fn keeps_the_latest_retransmits_and_counts_all() {
        let addr: SocketAddr = "10.0.0.1:1".parse().expect("address");
        let mut flow = Flow::new(SockId(1), 0, addr, addr, 0);
        for at in 0..100 {
            flow.record_retransmit(RetransmitRecord {
                at,
                rto_ms: 200,
                backoff: 0,
                retransmits: 1,
                cause: RetransmitCause::Timer,
                sent: true,
            });
        }
        assert_eq!(flow.retransmit_count, 100);
        assert_eq!(flow.retransmits.len(), RETRANSMITS_KEPT);
        assert_eq!(flow.retransmits[0].at, 100 - RETRANSMITS_KEPT as u64);
    }

    const SECOND: Nanos = 1_000_000_000;

    fn connecting() -> Flow {
        let addr = "10.0.0.1:40000".parse().expect("address");
        let mut flow = Flow::new(SockId(1), 0, addr, addr, SECOND);
        flow.state = TcpState::SynSent;
        flow.seen_from_start = true;
        // tcp_syn_retries 3 without linear timeouts: the RTO doubles.
        flow.limits = Some(Box::new(SocketLimits {
            syn_retries: 3,
            hz: 250,
            ..SocketLimits::default()
        }));
        flow
    }

    fn sent(at: Nanos, rto_ms: u32, retransmits: u8) -> RetransmitRecord {
        RetransmitRecord {
            at,
            rto_ms,
            backoff: retransmits - 1,
            retransmits,
            cause: RetransmitCause::Timer,
            sent: true,
        }
    }

    #[test]
    fn a_syn_kept_on_the_host_after_the_first_rto_counts_as_the_next_retransmission() {
        let mut flow = connecting();
        // The connect's own SYN, dropped at once: not a retransmission.
        assert!(!flow.record_syn_kept_on_host(SECOND + 1_000, "QDISC_DROP"));
        flow.record_retransmit(sent(2 * SECOND, 1000, 1));
        // A firewall's drop is an error, after which the kernel backs off.
        assert!(!flow.record_syn_kept_on_host(4 * SECOND, "NETFILTER_DROP"));
        assert!(flow.record_syn_kept_on_host(4 * SECOND, "QDISC_DROP"));
        let kept = flow.retransmits.last().expect("a record").clone();
        assert_eq!((kept.retransmits, kept.rto_ms, kept.sent), (2, 2000, false));
        // The next kept one keeps the RTO: the kernel did not back off.
        assert!(flow.record_syn_kept_on_host(4 * SECOND + SECOND / 2, "CPU_BACKLOG"));
        let again = flow.retransmits.last().expect("a record").clone();
        assert_eq!((again.retransmits, again.rto_ms), (3, 2000));
        assert_eq!(flow.retransmit_count, 3);
    }

    #[test]
    fn the_probes_report_of_a_kept_retransmission_is_not_a_second_one() {
        let mut flow = connecting();
        flow.record_retransmit(sent(2 * SECOND, 1000, 1));
        assert!(flow.record_syn_kept_on_host(4 * SECOND, "QDISC_DROP"));
        flow.record_retransmit(sent(4 * SECOND + 1_000, 2000, 2));
        assert_eq!(flow.retransmit_count, 2);
        let kept = flow.retransmits.last().expect("a record");
        assert!(!kept.sent, "still the kept one: {kept:?}");
        // The one after it went out.
        flow.record_retransmit(sent(5 * SECOND, 2000, 3));
        assert_eq!(flow.retransmit_count, 3);
    }

    #[test]
    fn only_a_connect_counts_kept_syns() {
        let mut flow = connecting();
        flow.state = TcpState::Established;
        assert!(!flow.record_syn_kept_on_host(4 * SECOND, "QDISC_DROP"));
        assert_eq!(flow.retransmit_count, 0);
    }

    fn surveyed(retransmits: u8, timer_ms: u32) -> SocketEntry {
        let addr = "10.0.0.1:40000".parse().expect("address");
        SocketEntry {
            netns: 0,
            local: addr,
            remote: addr,
            state: TcpState::SynSent,
            inode: 1,
            receive_queue: 0,
            send_queue: 0,
            drops: None,
            retransmit_timer_ms: Some(timer_ms),
            owner: None,
            details: Some(crate::model::socket::TcpDetails {
                retransmits,
                rto_ms: 2000,
                ..Default::default()
            }),
        }
    }

    #[test]
    fn a_survey_finds_the_syns_the_backlog_kept_without_a_socket_to_name() {
        let mut flow = connecting();
        flow.record_retransmit(sent(2 * SECOND, 1000, 1));
        // At +4.3 s the kernel has counted 3 and its timer fires in 200 ms:
        // the probe interval re-armed at +4.0 s, after a kept SYN; the one
        // before it was kept too, at +3.5 s.
        flow.learn(&surveyed(3, 200), 4 * SECOND + 300 * MS);
        let kept: Vec<(u8, Nanos, bool)> = flow
            .retransmits
            .iter()
            .map(|record| (record.retransmits, record.at, record.sent))
            .collect();
        assert_eq!(
            kept,
            [
                (1, 2 * SECOND, true),
                (2, 3 * SECOND + SECOND / 2, false),
                (3, 4 * SECOND, false)
            ]
        );
        // The next survey, nothing new counted: nothing added.
        flow.learn(&surveyed(3, 100), 4 * SECOND + 400 * MS);
        assert_eq!(flow.retransmit_count, 3);
    }

    #[test]
    fn a_kept_syns_drop_after_a_survey_learnt_it_is_the_same_retransmission() {
        let mut flow = connecting();
        flow.record_retransmit(sent(2 * SECOND, 1000, 1));
        // Retransmission 2, kept at +4.000 s: the survey reads the socket
        // 10 ms later (its timer then has 490 ms left), before the drop's
        // record arrives, stamped +4.003 s.
        flow.learn(&surveyed(2, 490), 4 * SECOND + 10 * MS);
        assert!(flow.record_syn_kept_on_host(4 * SECOND + 3 * MS, "QDISC_DROP"));
        assert_eq!(flow.retransmit_count, 2);
        // The next kept one, 500 ms on, is the next retransmission.
        assert!(flow.record_syn_kept_on_host(4 * SECOND + 503 * MS, "QDISC_DROP"));
        let last = flow.retransmits.last().expect("a record");
        assert_eq!((last.retransmits, last.sent), (3, false));
    }

    #[test]
    fn a_survey_leaves_a_timer_that_backed_off_alone() {
        let mut flow = connecting();
        flow.record_retransmit(sent(2 * SECOND, 1000, 1));
        // Retransmission 1 went out and the timer runs its 2 s: 300 ms
        // left at +3.7 s is no probe interval.
        flow.learn(&surveyed(1, 300), 3 * SECOND + 700 * MS);
        assert!(flow.retransmits.iter().all(|record| record.sent));
        assert_eq!(flow.retransmit_count, 1);
    }

    #[test]
    fn a_traced_retransmission_the_timer_shows_kept_is_marked_kept() {
        let mut flow = connecting();
        flow.record_retransmit(sent(2 * SECOND, 1000, 1));
        flow.record_retransmit(sent(4 * SECOND, 2000, 2));
        flow.learn(&surveyed(2, 300), 4 * SECOND + 200 * MS);
        let last = flow.retransmits.last().expect("a record");
        assert!(!last.sent, "{last:?}");
        assert_eq!(flow.retransmit_count, 2);
    }
}
