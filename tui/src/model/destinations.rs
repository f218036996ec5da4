//! Destinations: per remote address:port this box connects to, what
//! happened to its connections over the last minutes (attempts, how many
//! were established, how the others ended, SYN and data retransmits,
//! kernel drops) and a one-word verdict, so that "everything to
//! 10.0.0.7:5432 is black-holed" reads in one line.
//!
//! A destination is born of an active open (a connect, or a socket seen in
//! SYN_SENT); later events of flows toward a known destination count too.
//! Accepted connections never make one: their remote end is a client's
//! ephemeral port. Counts live in 10 s buckets over a 5 minute window, and
//! at most [`DEFAULT_CAPACITY`] destinations are kept, the least recently
//! active evicted first and counted.

use std::{
    collections::{HashMap, VecDeque},
    net::SocketAddr,
};

use super::{
    event::{Event, EventKind, Nanos, RetransmitCause, TcpState},
    flow::{EndReason, Flow},
};

const SECOND: Nanos = 1_000_000_000;
/// The width of one bucket of counts.
pub const BUCKET: Nanos = 10 * SECOND;
/// Buckets per destination: the window is `BUCKETS * BUCKET`.
const BUCKETS: usize = 30;
/// How far back the counts reach.
pub const WINDOW: Nanos = BUCKETS as Nanos * BUCKET;
/// Destinations kept at most.
pub const DEFAULT_CAPACITY: usize = 2048;
/// Drop reasons of segments the receiver already had (an old or duplicate
/// sequence, such as the answers to zero-window probes): the kernel
/// discards a copy, nothing is lost, so destinations do not count them.
const NOT_LOST: [&str; 3] = ["TCP_OLD_DATA", "TCP_OLD_SEQUENCE", "TCP_OLD_ACK"];

/// What happened toward one destination in some span of time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Connects begun (CLOSE -> SYN_SENT).
    pub attempts: u32,
    /// Connects that completed (SYN_SENT -> ESTABLISHED).
    pub established: u32,
    /// Flows the kernel gave up on (attempts and established flows).
    pub timeouts: u32,
    /// Connects answered with a RST.
    pub refused: u32,
    /// Flows ended by a RST.
    pub resets: u32,
    /// Connects the application closed while pending (its own timeout).
    pub abandoned: u32,
    pub syn_retransmits: u32,
    /// Retransmits of data, outside SYN_SENT, tail loss probes left out
    /// (a probe is sent before anything is known to be lost).
    pub retransmits: u32,
    /// Packets to or from the destination the kernel dropped, copies of
    /// what the receiver already had left out ([`NOT_LOST`]).
    pub drops: u32,
}

impl Tally {
    /// Flows that ended badly: timed out, refused, reset or abandoned.
    pub fn failures(&self) -> u32 {
        self.timeouts
            .saturating_add(self.refused)
            .saturating_add(self.resets)
            .saturating_add(self.abandoned)
    }

    pub fn add(&mut self, other: &Tally) {
        let pairs = [
            (&mut self.attempts, other.attempts),
            (&mut self.established, other.established),
            (&mut self.timeouts, other.timeouts),
            (&mut self.refused, other.refused),
            (&mut self.resets, other.resets),
            (&mut self.abandoned, other.abandoned),
            (&mut self.syn_retransmits, other.syn_retransmits),
            (&mut self.retransmits, other.retransmits),
            (&mut self.drops, other.drops),
        ];
        for (sum, value) in pairs {
            *sum = sum.saturating_add(value);
        }
    }

    /// The verdict these counts read as.
    pub fn verdict(&self) -> Verdict {
        let gave_up = self.timeouts.saturating_add(self.abandoned);
        if self.attempts > 0 && self.established == 0 {
            return if self.refused > 0 && self.refused >= gave_up {
                Verdict::Refused
            } else if gave_up > 0 || self.syn_retransmits > 0 {
                Verdict::BlackHoled
            } else if self.resets > 0 {
                Verdict::Resets
            } else {
                Verdict::Connecting
            };
        }
        if gave_up > 0 {
            Verdict::Timeouts
        } else if self.resets > 0 {
            Verdict::Resets
        } else if self.refused > 0 {
            Verdict::Refused
        } else if self.syn_retransmits > 0 || self.retransmits > 0 || self.drops > 0 {
            Verdict::Lossy
        } else {
            Verdict::Ok
        }
    }
}

/// A destination's state in one word, worst first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verdict {
    /// Connects, none established, SYNs unanswered or timing out.
    BlackHoled,
    /// Connects answered with RSTs (more than timed out), none established.
    Refused,
    /// Flows timing out, though some connects got through.
    Timeouts,
    /// Flows ended by RSTs.
    Resets,
    /// Retransmits or drops, nothing failed yet.
    Lossy,
    /// Connects pending, nothing answered or failed yet.
    Connecting,
    Ok,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Self::BlackHoled => "black-holed",
            Self::Refused => "refused",
            Self::Timeouts => "timeouts",
            Self::Resets => "resets",
            Self::Lossy => "lossy",
            Self::Connecting => "connecting",
            Self::Ok => "ok",
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    /// `at / BUCKET` of the time the counts belong to.
    epoch: u64,
    tally: Tally,
}

#[derive(Debug, Clone)]
struct Destination {
    /// A ring indexed by `epoch % BUCKETS`.
    buckets: Box<[Bucket; BUCKETS]>,
    last_active: Nanos,
    last_drop_reason: Option<Box<str>>,
}

impl Destination {
    fn new() -> Self {
        Self {
            buckets: Box::new([Bucket::default(); BUCKETS]),
            last_active: 0,
            last_drop_reason: None,
        }
    }

    /// The counts of the bucket of `at`; None when `at` is older than the
    /// window the ring still holds.
    fn at(&mut self, at: Nanos) -> Option<&mut Tally> {
        let epoch = at / BUCKET;
        let slot = &mut self.buckets[(epoch % BUCKETS as u64) as usize];
        if slot.epoch > epoch {
            return None;
        }
        if slot.epoch < epoch {
            *slot = Bucket {
                epoch,
                tally: Tally::default(),
            };
        }
        self.last_active = self.last_active.max(at);
        Some(&mut slot.tally)
    }

    /// The counts of the window that ends at `now`.
    fn window(&self, now: Nanos) -> Tally {
        let newest = now / BUCKET;
        let oldest = newest.saturating_sub(BUCKETS as u64 - 1);
        let mut sum = Tally::default();
        for bucket in self.buckets.iter() {
            if (oldest..=newest).contains(&bucket.epoch) {
                sum.add(&bucket.tally);
            }
        }
        sum
    }
}

/// One destination's window, for a pane or a JSON line.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary<'a> {
    pub remote: SocketAddr,
    pub tally: Tally,
    pub verdict: Verdict,
    pub last_active: Nanos,
    /// The kernel's reason for the latest drop, when there was one.
    pub last_drop_reason: Option<&'a str>,
}

/// How long a drop toward a destination not known yet waits for it: a
/// connect the probes counted in the kernel reaches the model up to a
/// second after its first SYN (and that SYN's drop).
const DROP_WAITS_FOR: Nanos = 3_000_000_000;
/// The most drops waiting for their destination.
const DROPS_WAITING: usize = 1024;

/// A drop toward a destination not known yet.
#[derive(Debug, Clone)]
struct WaitingDrop {
    at: Nanos,
    toward: SocketAddr,
    reason: Box<str>,
}

/// Every destination, bounded.
#[derive(Debug, Clone)]
pub struct Destinations {
    entries: HashMap<SocketAddr, Destination>,
    capacity: usize,
    evicted: u64,
    /// Oldest first, at most [`DROPS_WAITING`].
    waiting: VecDeque<WaitingDrop>,
}

impl Default for Destinations {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY)
    }
}

impl Destinations {
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: HashMap::new(),
            capacity: capacity.max(1),
            evicted: 0,
            waiting: VecDeque::new(),
        }
    }

    /// Counts one event; `flow` is its flow after the connection table
    /// applied it (the ended flow when the event ended it).
    pub fn record(&mut self, event: &Event, flow: Option<&Flow>) {
        if let EventKind::Drop(drop) = &event.kind {
            // The destination the segment was to or from: the remote end
            // of one this host sent, or received from a destination it
            // connects to; else the local end, which a client (maybe in
            // another namespace) connected to.
            let toward = match drop.outgoing || self.entries.contains_key(&event.remote) {
                true => event.remote,
                false => event.local,
            };
            self.record_drop(event.ts, toward, &drop.reason);
            return;
        }
        let remote = flow.map_or(event.remote, |flow| flow.remote);
        let state = flow.map(|flow| flow.state);
        match &event.kind {
            EventKind::State {
                old: TcpState::Close,
                new: TcpState::SynSent,
                ..
            } => self.count(event.ts, remote, true, |tally| &mut tally.attempts),
            EventKind::State {
                old: TcpState::SynSent,
                new: TcpState::Established,
                ..
            } => self.count(event.ts, remote, true, |tally| &mut tally.established),
            // A connect the probes counted, told: what happens to it
            // next counts toward its destination.
            EventKind::Opened {
                opened_as: TcpState::SynSent,
                ..
            } => {
                self.open(event.ts, remote);
            }
            EventKind::Opens {
                attempts,
                established,
            } => {
                self.add(event.ts, remote, true, *attempts, |tally| {
                    &mut tally.attempts
                });
                self.add(event.ts, remote, true, *established, |tally| {
                    &mut tally.established
                });
            }
            EventKind::Retransmit(retransmit) => {
                match state.or(retransmit.state) == Some(TcpState::SynSent) {
                    true => self.count(event.ts, remote, true, |tally| &mut tally.syn_retransmits),
                    false if retransmit.cause == RetransmitCause::LossProbe => {}
                    false => self.count(event.ts, remote, false, |tally| &mut tally.retransmits),
                }
            }
            _ => {}
        }
        if let Some(end) = flow.and_then(|flow| flow.end.as_ref()) {
            let connecting = end.last_state == TcpState::SynSent;
            let counter: fn(&mut Tally) -> &mut u32 = match end.reason {
                EndReason::Timeout => |tally| &mut tally.timeouts,
                EndReason::Refused => |tally| &mut tally.refused,
                EndReason::Reset => |tally| &mut tally.resets,
                EndReason::Abandoned => |tally| &mut tally.abandoned,
                // This side's own doing, not the destination's.
                EndReason::Aborted | EndReason::Closed => return,
            };
            self.count(end.at, remote, connecting, counter);
        }
    }

    /// Counts a packet to or from `remote` that the kernel dropped, for
    /// `reason` (the kernel's name, e.g. `NETFILTER_DROP`). Only known
    /// destinations count: drops of anything else are not theirs. A drop
    /// toward an unknown one waits [`DROP_WAITS_FOR`] for its connect.
    pub fn record_drop(&mut self, at: Nanos, remote: SocketAddr, reason: &str) {
        if NOT_LOST.contains(&reason) {
            return;
        }
        if !self.entries.contains_key(&remote) {
            while self
                .waiting
                .front()
                .is_some_and(|drop| drop.at.saturating_add(DROP_WAITS_FOR) < at)
                || self.waiting.len() >= DROPS_WAITING
            {
                self.waiting.pop_front();
            }
            self.waiting.push_back(WaitingDrop {
                at,
                toward: remote,
                reason: reason.into(),
            });
            return;
        }
        self.count_drop(at, remote, reason);
    }

    fn count_drop(&mut self, at: Nanos, remote: SocketAddr, reason: &str) {
        let Some(destination) = self.entries.get_mut(&remote) else {
            return;
        };
        if let Some(tally) = destination.at(at) {
            tally.drops = tally.drops.saturating_add(1);
            if destination.last_drop_reason.as_deref() != Some(reason) {
                destination.last_drop_reason = Some(reason.into());
            }
        }
    }

    /// Adds one to a counter of `remote`'s bucket of `at`; a destination
    /// is created only when `opens` (the event is an active open's).
    fn count(
        &mut self,
        at: Nanos,
        remote: SocketAddr,
        opens: bool,
        counter: impl FnOnce(&mut Tally) -> &mut u32,
    ) {
        self.add(at, remote, opens, 1, counter);
    }

    /// As [`Self::count`], adding `n` (nothing when 0).
    fn add(
        &mut self,
        at: Nanos,
        remote: SocketAddr,
        opens: bool,
        n: u32,
        counter: impl FnOnce(&mut Tally) -> &mut u32,
    ) {
        if n == 0 || (!opens && !self.entries.contains_key(&remote)) || !self.open(at, remote) {
            return;
        }
        if let Some(tally) = self.entries.get_mut(&remote).and_then(|dest| dest.at(at)) {
            let value = counter(tally);
            *value = value.saturating_add(n);
        }
    }

    /// Makes `remote` a destination if it is not one yet; false for an
    /// address that cannot be one.
    fn open(&mut self, at: Nanos, remote: SocketAddr) -> bool {
        if remote.port() == 0 || remote.ip().is_unspecified() {
            return false;
        }
        if !self.entries.contains_key(&remote) {
            self.make_room(at);
            self.entries.insert(remote, Destination::new());
            self.count_waiting_drops(remote, at);
        }
        true
    }

    /// Counts the drops toward the new destination `remote` that waited
    /// for it, from [`DROP_WAITS_FOR`] before `at` on.
    fn count_waiting_drops(&mut self, remote: SocketAddr, at: Nanos) {
        if self.waiting.is_empty() {
            return;
        }
        let since = at.saturating_sub(DROP_WAITS_FOR);
        let (theirs, others): (VecDeque<WaitingDrop>, _) = std::mem::take(&mut self.waiting)
            .into_iter()
            .partition(|drop| drop.toward == remote);
        self.waiting = others;
        for drop in theirs.into_iter().filter(|drop| drop.at >= since) {
            self.count_drop(drop.at, remote, &drop.reason);
        }
    }

    /// Before a new destination is added at `now`: forgets those idle for
    /// the whole window, then, if still full, evicts the least recently
    /// active.
    fn make_room(&mut self, now: Nanos) {
        if self.entries.len() < self.capacity {
            return;
        }
        self.entries
            .retain(|_, dest| now.saturating_sub(dest.last_active) < WINDOW);
        while self.entries.len() >= self.capacity {
            let idlest = self
                .entries
                .iter()
                .min_by_key(|(remote, dest)| (dest.last_active, **remote))
                .map(|(remote, _)| *remote);
            let Some(remote) = idlest else { break };
            self.entries.remove(&remote);
            self.evicted += 1;
        }
    }

    /// Destinations with something counted in the window ending at `now`,
    /// worst first: by verdict, then failures, attempts and address.
    pub fn summaries(&self, now: Nanos) -> Vec<Summary<'_>> {
        let mut all: Vec<Summary> = self
            .entries
            .iter()
            .filter_map(|(remote, dest)| {
                let tally = dest.window(now);
                (tally != Tally::default()).then(|| Summary {
                    remote: *remote,
                    tally,
                    verdict: tally.verdict(),
                    last_active: dest.last_active,
                    last_drop_reason: dest.last_drop_reason.as_deref(),
                })
            })
            .collect();
        all.sort_by(|a, b| {
            a.verdict
                .cmp(&b.verdict)
                .then(b.tally.failures().cmp(&a.tally.failures()))
                .then(b.tally.attempts.cmp(&a.tally.attempts))
                .then(a.remote.cmp(&b.remote))
        });
        all
    }

    /// Destinations held (some may have nothing left in the window).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Destinations evicted to stay within capacity.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }
}

#[cfg(test)]
#[path = "destinations_tests.rs"]
mod tests;
