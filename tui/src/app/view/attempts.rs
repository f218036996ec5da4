//! The SYN_SENT pane as data: connect attempts in progress (oldest first:
//! the longest stuck on top), then the ones that finished in the last
//! ten seconds (newest first) with how they finished.

use super::{Tone, format};
use crate::{
    app::observed::{FinishedAttempt, FlowKey, Outcome, View},
    model::{event::Nanos, filter::Filter, flow::Flow},
};

/// One attempt, in progress or finished.
#[derive(Debug, Clone, Copy)]
pub struct Attempt<'a> {
    pub flow: &'a Flow,
    pub finished: Option<(Outcome, Nanos)>,
}

/// One attempt as the pane shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptRow {
    pub key: FlowKey,
    pub owner: String,
    pub local: String,
    pub remote: String,
    /// The SYNs sent: 1 + retransmits.
    pub attempts: String,
    /// Since the first SYN: until now, or until the attempt finished.
    pub elapsed: String,
    pub last_rto: String,
    /// `in progress`, or how it finished.
    pub outcome: String,
    pub tone: Tone,
}

/// Rows `start..start + len` of the pane, and how many rows there are.
pub fn rows(
    view: &View<'_>,
    filter: &Filter,
    start: usize,
    len: usize,
) -> (usize, Vec<AttemptRow>) {
    let (total, attempts) = in_order(view, filter, start, len);
    let rows = attempts
        .iter()
        .map(|attempt| row(attempt, view.now))
        .collect();
    (total, rows)
}

/// The flow on row `index` of the pane.
pub fn at(view: &View<'_>, filter: &Filter, index: usize) -> Option<FlowKey> {
    let (_, attempts) = in_order(view, filter, index, 1);
    attempts.first().map(|attempt| FlowKey::from(attempt.flow))
}

/// How many rows the pane lists.
pub fn count(view: &View<'_>, filter: &Filter) -> usize {
    in_order(view, filter, 0, 0).0
}

/// Attempts `start..start + len` in pane order, and how many there are.
fn in_order<'a>(
    view: &View<'a>,
    filter: &Filter,
    start: usize,
    len: usize,
) -> (usize, Vec<Attempt<'a>>) {
    let pending = view
        .flows
        .connecting()
        .filter(|flow| filter.matches_flow(flow));
    let (pending_total, pending) = super::window(pending, start, len, |a, b| {
        (a.first_seen, a.sock).cmp(&(b.first_seen, b.sock))
    });
    let finished: Vec<&FinishedAttempt> = view
        .recent
        .attempts(view.now)
        .filter(|finished| filter.matches_flow(&finished.flow))
        .collect();
    let total = pending_total + finished.len();
    let mut attempts: Vec<Attempt<'a>> = pending
        .into_iter()
        .map(|flow| Attempt {
            flow,
            finished: None,
        })
        .collect();
    let rest = len.saturating_sub(attempts.len());
    attempts.extend(
        finished
            .into_iter()
            .skip(start.saturating_sub(pending_total))
            .take(rest)
            .map(|FinishedAttempt { flow, outcome, at }| Attempt {
                flow,
                finished: Some((*outcome, *at)),
            }),
    );
    (total, attempts)
}

fn row(attempt: &Attempt<'_>, now: Nanos) -> AttemptRow {
    let flow = attempt.flow;
    let until = attempt.finished.map_or(now, |(_, at)| at);
    let last_rto = flow
        .retransmits
        .last()
        .map_or_else(|| "-".to_string(), |record| format::millis(record.rto_ms));
    let (outcome, tone) = match attempt.finished {
        None if flow.retransmit_count > 0 => ("in progress".to_string(), Tone::Warn),
        None => ("in progress".to_string(), Tone::Normal),
        Some((outcome, _)) => (
            outcome.name().to_string(),
            if outcome == Outcome::Established {
                Tone::Good
            } else {
                Tone::Bad
            },
        ),
    };
    AttemptRow {
        key: FlowKey::from(flow),
        owner: format::owner(flow.owner.as_ref()),
        local: format::addr(flow.local),
        remote: format::addr(flow.remote),
        attempts: (1 + flow.retransmit_count).to_string(),
        elapsed: format::duration(until.saturating_sub(flow.first_seen)),
        last_rto,
        outcome,
        tone,
    }
}
