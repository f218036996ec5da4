//! Stalled senders: a flow with bytes queued (unacknowledged or not yet
//! sent) whose `bytes_acked` has not moved for [`STALL_AFTER`] of survey
//! time is stalled, and the latest `tcp_info` says why: the peer's window
//! is closed, the kernel is retransmitting into silence, or the data is not
//! leaving at all. Each flow carries its [`Progress`]; a [`StallWatch`]
//! turns the flows' stalls into begin, change and end notices for the
//! JSON stream.

use std::{collections::HashMap, sync::Arc};

use super::{
    event::{Nanos, SockId, Task, TcpState},
    flow::Flow,
    socket::{SocketSample, TcpDetails, Tuple},
};

/// How long a flow with bytes queued may go without progress before it is
/// stalled.
pub const STALL_AFTER: Nanos = 3_000_000_000;

/// Why a stalled flow is not making progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StallCause {
    /// The peer advertises no room. `peer_alive`: it answers the
    /// zero-window probes (its application is not reading); otherwise the
    /// probes go unanswered (the peer is gone).
    ZeroWindow { peer_alive: bool },
    /// Segments are in flight and being retransmitted without an answer:
    /// a black hole or heavy loss.
    Retransmitting,
    /// The window is open and data is queued, but nothing leaves.
    NotSending,
}

impl StallCause {
    /// The cause as the JSON stream names it.
    pub fn name(self) -> &'static str {
        match self {
            Self::ZeroWindow { .. } => "zero_window",
            Self::Retransmitting => "retransmitting",
            Self::NotSending => "not_sending",
        }
    }

    /// Whether the peer answers, for a zero window; None otherwise.
    pub fn peer_alive(self) -> Option<bool> {
        match self {
            Self::ZeroWindow { peer_alive } => Some(peer_alive),
            Self::Retransmitting | Self::NotSending => None,
        }
    }

    /// The cause in a few words, for the screen.
    pub fn label(self) -> &'static str {
        match self {
            Self::ZeroWindow { peer_alive: true } => "zero window, peer alive",
            Self::ZeroWindow { peer_alive: false } => "zero window, peer gone",
            Self::Retransmitting => "retransmitting",
            Self::NotSending => "nothing leaving",
        }
    }
}

/// A flow's stall as of its latest sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stall {
    pub cause: StallCause,
    /// The last sample that saw progress (or nothing queued).
    pub since: Nanos,
    /// The latest sample.
    pub at: Nanos,
}

impl Stall {
    /// How long the flow has gone without progress.
    pub fn duration(&self) -> Nanos {
        self.at.saturating_sub(self.since)
    }
}

/// A flow's forward progress across survey samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// `bytes_acked` at the latest sample.
    bytes_acked: u64,
    /// The last sample that saw progress, and its `tcpi_total_retrans`:
    /// all a stall's cause needs of it (a whole `tcp_info` would double
    /// what each of 100,000 flows holds).
    since: Nanos,
    total_retrans_then: u32,
    /// Set once the flow has gone [`STALL_AFTER`] without progress.
    pub stall: Option<Stall>,
}

impl Progress {
    /// The progress after `sample` of a flow in `state`, given the progress
    /// before it; None for a flow that does not send (listening,
    /// connecting, closed).
    pub fn observe(
        previous: Option<Progress>,
        state: TcpState,
        sample: &SocketSample,
    ) -> Option<Self> {
        if !sends(state) {
            return None;
        }
        let details = &sample.details;
        let fresh = Progress {
            bytes_acked: details.bytes_acked,
            since: sample.at,
            total_retrans_then: details.total_retrans,
            stall: None,
        };
        let Some(previous) = previous else {
            return Some(fresh);
        };
        let moved = details.bytes_acked != previous.bytes_acked;
        if moved || !queued(sample) || sample.at < previous.since {
            return Some(fresh);
        }
        let stall = (sample.at - previous.since >= STALL_AFTER).then(|| Stall {
            cause: cause(previous.total_retrans_then, details),
            since: previous.since,
            at: sample.at,
        });
        Some(Progress { stall, ..previous })
    }
}

/// States in which a socket has data of its own to deliver.
fn sends(state: TcpState) -> bool {
    use TcpState::*;
    matches!(
        state,
        Established | CloseWait | FinWait1 | Closing | LastAck
    )
}

/// Bytes wait to be sent or acknowledged.
fn queued(sample: &SocketSample) -> bool {
    sample.details.unacked > 0 || sample.details.notsent_bytes > 0 || sample.send_queue > 0
}

/// Why a flow without progress since it had retransmitted
/// `total_retrans_then` segments is stalled `now`.
fn cause(total_retrans_then: u32, now: &TcpDetails) -> StallCause {
    let window_closed = now.snd_wnd == 0 || (now.unacked == 0 && now.snd_wnd < now.mss);
    if window_closed {
        // An answered probe resets the count: a live peer keeps it at 0.
        return StallCause::ZeroWindow {
            peer_alive: now.probes == 0,
        };
    }
    let retransmitting =
        now.retransmits > 0 || now.backoff > 0 || now.total_retrans > total_retrans_then;
    if now.unacked > 0 && retransmitting {
        StallCause::Retransmitting
    } else {
        StallCause::NotSending
    }
}

/// A stall that ended: the flow made progress or closed.
#[derive(Debug, Clone, PartialEq)]
pub struct StallEnd {
    pub tuple: Tuple,
    pub owner: Option<Task>,
    /// What the filter saw of the flow when it stalled, so that a
    /// `stall_end` passes the filter its `stall` passed.
    pub unit: Option<Arc<str>>,
    pub state: TcpState,
    pub cause: StallCause,
    pub since: Nanos,
    /// When it ended: the sample that saw progress; for a flow that closed,
    /// the last sample that saw it stalled.
    pub until: Nanos,
    /// The flow is no longer live.
    pub closed: bool,
}

/// What changed since the previous look at the flows.
#[derive(Debug, Clone, PartialEq)]
pub enum StallChange {
    /// The live flow `SockId` became stalled, or its cause changed.
    Stalled(SockId),
    Ended(StallEnd),
}

/// A stall being reported, with what its end notice needs.
#[derive(Debug, Clone)]
struct Reported {
    first_seen: Nanos,
    end: StallEnd,
}

/// The stalls reported so far, so that each is reported once when it
/// begins, again when its cause changes, and once when it ends. Keyed by
/// 4-tuple: a flow found by the start-up survey changes its key when the
/// probes first report its socket.
#[derive(Debug, Default)]
pub struct StallWatch {
    reported: HashMap<Tuple, Reported>,
}

impl StallWatch {
    /// Compares the live `flows` with the stalls reported so far: a flow
    /// newly stalled or stalled for another cause, a stalled flow that made
    /// progress, and one that is no longer live.
    pub fn update<'a>(&mut self, flows: impl Iterator<Item = &'a Flow>) -> Vec<StallChange> {
        let mut changes = Vec::new();
        let mut still = HashMap::with_capacity(self.reported.len());
        for flow in flows {
            let stall = flow.progress.as_ref().and_then(|progress| progress.stall);
            let tuple = flow.tuple();
            let earlier = match self.reported.remove(&tuple) {
                Some(reported) if reported.first_seen == flow.first_seen => Some(reported),
                Some(reported) => {
                    // The socket address was reused: the old flow is gone.
                    changes.push(StallChange::Ended(reported.end.closed()));
                    None
                }
                None => None,
            };
            let Some(stall) = stall else {
                if let Some(reported) = earlier {
                    let progress_at = flow.progress.as_ref().map(|progress| progress.since);
                    let until =
                        progress_at.map_or(reported.end.until, |at| at.max(reported.end.until));
                    changes.push(StallChange::Ended(StallEnd {
                        until,
                        ..reported.end
                    }));
                }
                continue;
            };
            if earlier.is_none_or(|reported| reported.end.cause != stall.cause) {
                changes.push(StallChange::Stalled(flow.sock));
            }
            let end = StallEnd {
                tuple,
                owner: flow.owner.clone(),
                unit: flow.unit.clone(),
                state: flow.state,
                cause: stall.cause,
                since: stall.since,
                until: stall.at,
                closed: false,
            };
            let first_seen = flow.first_seen;
            still.insert(tuple, Reported { first_seen, end });
        }
        changes.extend(
            self.reported
                .drain()
                .map(|(_, reported)| StallChange::Ended(reported.end.closed())),
        );
        self.reported = still;
        changes
    }
}

impl StallEnd {
    fn closed(self) -> Self {
        Self {
            closed: true,
            ..self
        }
    }
}

#[cfg(test)]
#[path = "stall_tests.rs"]
mod tests;
