//! What the screen has collected from its source: the connection table, how
//! recent connect attempts finished, when resets arrived, the running
//! totals and the event rate. It keeps collecting while the view is frozen;
//! a frozen view is a copy of it taken at freeze time, and [`View`] is what
//! the panes read, whichever of the two it comes from. No terminal, no
//! runtime.

use std::collections::VecDeque;

use crate::{
    model::{
        collected::Collected,
        counters::NamespaceCounters,
        destinations::Destinations,
        drops::Drops,
        event::{Event, EventKind, Nanos, SockId, TcpState},
        flow::{EndReason, Flow},
        listeners::Listeners,
        table::{ConnectionTable, TableCounts},
    },
    source::{Batch, Delivered},
};

/// How long a finished connect attempt stays in the SYN_SENT pane.
pub const ATTEMPT_LINGER: Nanos = 10_000_000_000;
/// Finished attempts and reset marks kept, at most.
const RECENT_ATTEMPTS: usize = 512;
const RESET_MARKS: usize = 4096;
const SECOND: Nanos = 1_000_000_000;

/// A flow's identity on screen: the socket address plus when the flow
/// began, since the kernel reuses socket addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowKey {
    pub sock: SockId,
    pub first_seen: Nanos,
}

impl From<&Flow> for FlowKey {
    fn from(flow: &Flow) -> Self {
        Self {
            sock: flow.sock,
            first_seen: flow.first_seen,
        }
    }
}

/// How a connect attempt finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Established,
    Ended(EndReason),
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Self::Established => "established",
            Self::Ended(reason) => reason.name(),
        }
    }
}

/// A connect attempt as it was when it finished.
#[derive(Debug, Clone, PartialEq)]
pub struct FinishedAttempt {
    pub flow: Flow,
    pub outcome: Outcome,
    pub at: Nanos,
}

/// A RST sent or received by a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResetMark {
    pub sock: SockId,
    pub at: Nanos,
    pub received: bool,
}

/// What the table forgets and the screen shows: attempt outcomes and
/// reset times, newest last, bounded.
#[derive(Debug, Clone, Default)]
pub struct Recent {
    attempts: VecDeque<FinishedAttempt>,
    resets: VecDeque<ResetMark>,
}

impl Recent {
    /// Attempts that finished within [`ATTEMPT_LINGER`] of `now`, newest first.
    pub fn attempts(&self, now: Nanos) -> impl Iterator<Item = &FinishedAttempt> {
        self.attempts
            .iter()
            .rev()
            .take_while(move |attempt| now.saturating_sub(attempt.at) <= ATTEMPT_LINGER)
            .filter(move |attempt| attempt.at <= now)
    }

    /// The resets of `flow`, oldest first.
    pub fn resets<'a>(&'a self, flow: &'a Flow) -> impl Iterator<Item = &'a ResetMark> {
        let until = flow.end.as_ref().map_or(Nanos::MAX, |end| end.at);
        self.resets.iter().filter(move |mark| {
            mark.sock == flow.sock && mark.at >= flow.first_seen && mark.at <= until
        })
    }

    fn push_attempt(&mut self, attempt: FinishedAttempt) {
        if self.attempts.len() == RECENT_ATTEMPTS {
            self.attempts.pop_front();
        }
        self.attempts.push_back(attempt);
    }

    fn push_reset(&mut self, mark: ResetMark) {
        if self.resets.len() == RESET_MARKS {
            self.resets.pop_front();
        }
        self.resets.push_back(mark);
    }
}

/// Events per second over the last second or two of (source) time.
#[derive(Debug, Clone, Default)]
pub struct Rate {
    samples: VecDeque<(Nanos, u64)>,
}

impl Rate {
    pub fn record(&mut self, now: Nanos, events: u64) {
        if self.samples.back().is_some_and(|&(at, _)| at >= now) {
            return;
        }
        self.samples.push_back((now, events));
        while self.samples.len() > 2 && self.samples[1].0 + SECOND <= now {
            self.samples.pop_front();
        }
    }

    pub fn per_second(&self) -> f64 {
        match (self.samples.front(), self.samples.back()) {
            (Some(&(t0, e0)), Some(&(t1, e1))) if t1 > t0 => {
                e1.saturating_sub(e0) as f64 / ((t1 - t0) as f64 / SECOND as f64)
            }
            _ => 0.0,
        }
    }
}

/// The data as collected, always current.
#[derive(Debug, Default, Clone)]
pub struct Observed {
    /// The table and the aggregates, fed as `--json` feeds its own.
    pub collected: Collected,
    pub recent: Recent,
    pub totals: Delivered,
    pub rate: Rate,
    /// The source's time: the wall clock live, the recording's in a replay.
    pub now: Nanos,
}

impl Observed {
    pub fn new(table: ConnectionTable) -> Self {
        Self {
            collected: Collected::new(table),
            ..Self::default()
        }
    }

    pub fn apply(&mut self, batch: &Batch) {
        self.totals.take(batch);
        for event in &batch.events {
            self.apply_event(event);
        }
        if let Some(survey) = &batch.survey {
            self.now = self.now.max(survey.at);
            self.collected.apply_survey(survey);
        }
    }

    fn apply_event(&mut self, event: &Event) {
        self.now = self.now.max(event.ts);
        let applied = self.collected.apply_event(event);
        if let EventKind::Drop(_) = event.kind {
            return;
        }
        let flow = self.collected.table.flow_at(applied.flow);
        if applied.ended() {
            if let Some(flow) = flow
                && let Some(end) = flow
                    .end
                    .as_ref()
                    .filter(|end| end.last_state == TcpState::SynSent)
            {
                let attempt = FinishedAttempt {
                    flow: flow.clone(),
                    outcome: Outcome::Ended(end.reason),
                    at: end.at,
                };
                self.recent.push_attempt(attempt);
            }
            return;
        }
        let Some(sock) = event.sock else { return };
        match &event.kind {
            EventKind::State {
                old: TcpState::SynSent,
                new: TcpState::Established,
                ..
            } => {
                if let Some(flow) = flow {
                    let attempt = FinishedAttempt {
                        flow: flow.clone(),
                        outcome: Outcome::Established,
                        at: event.ts,
                    };
                    self.recent.push_attempt(attempt);
                }
            }
            EventKind::ResetSent | EventKind::ResetReceived => self.recent.push_reset(ResetMark {
                sock,
                at: event.ts,
                received: event.kind == EventKind::ResetReceived,
            }),
            _ => {}
        }
    }

    /// Moves the source's time on and samples the event rate.
    pub fn tick(&mut self, now: Nanos) {
        self.now = self.now.max(now);
        self.rate.record(self.now, self.totals.events);
    }

    /// A copy of everything the screen shows, for a frozen view: it stays
    /// as it is while this goes on collecting.
    pub fn freeze(&self) -> Self {
        self.clone()
    }

    pub fn view(&self) -> View<'_> {
        View {
            flows: Flows(&self.collected.table),
            recent: &self.recent,
            drops: &self.collected.drops,
            destinations: &self.collected.destinations,
            listeners: &self.collected.listeners,
            counters: &self.collected.counters,
            totals: self.totals,
            counts: self.collected.table.counts(),
            events_per_sec: self.rate.per_second(),
            now: self.now,
        }
    }
}

/// What every pane reads.
#[derive(Debug, Clone, Copy)]
pub struct View<'a> {
    pub flows: Flows<'a>,
    pub recent: &'a Recent,
    pub drops: &'a Drops,
    pub destinations: &'a Destinations,
    pub listeners: &'a Listeners,
    pub counters: &'a NamespaceCounters,
    pub totals: Delivered,
    pub counts: TableCounts,
    pub events_per_sec: f64,
    pub now: Nanos,
}

/// The flows of a view.
#[derive(Debug, Clone, Copy)]
pub struct Flows<'a>(&'a ConnectionTable);

impl<'a> Flows<'a> {
    pub fn live(self) -> impl Iterator<Item = &'a Flow> + 'a {
        self.0.live()
    }

    /// The live flows in SYN_SENT.
    pub fn connecting(self) -> impl Iterator<Item = &'a Flow> + 'a {
        self.0.connecting()
    }

    pub fn ended_newest_first(self) -> impl Iterator<Item = &'a Flow> + 'a {
        self.0.ended().rev()
    }

    /// The flow `key` names, live or ended.
    pub fn find(self, key: FlowKey) -> Option<&'a Flow> {
        let live = self
            .0
            .flow(key.sock)
            .filter(|flow| FlowKey::from(*flow) == key);
        live.or_else(|| {
            self.ended_newest_first()
                .find(|flow| FlowKey::from(*flow) == key)
        })
    }
}
