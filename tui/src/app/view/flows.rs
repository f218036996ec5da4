//! The Flows pane as data: every tracked flow (live and ended) that the
//! filter lets through, in the chosen sort order, each as a row of text.

use std::cmp::{Ordering, Reverse};

use super::{Tone, format, window};
use crate::{
    app::observed::{FlowKey, View},
    model::{
        event::Nanos,
        filter::Filter,
        flow::{EndReason, Flow},
        forecast::{Forecast, forecast},
        stall::Stall,
    },
};

/// The column the Flows pane is sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    /// Most retransmissions first: where trouble is.
    #[default]
    Retransmits,
    /// Most recent event first.
    LastEvent,
    /// Oldest flow first.
    Age,
    /// Longest retransmission timeout first.
    Rto,
    State,
    Owner,
    Remote,
    /// Stalled flows first, the longest stalled first.
    Stalled,
}

impl SortKey {
    const ALL: [SortKey; 8] = [
        Self::Retransmits,
        Self::LastEvent,
        Self::Age,
        Self::Rto,
        Self::State,
        Self::Owner,
        Self::Remote,
        Self::Stalled,
    ];

    /// The next column, for the key that cycles them.
    pub fn next(self) -> Self {
        let index = Self::ALL.iter().position(|&key| key == self).unwrap_or(0);
        Self::ALL[(index + 1) % Self::ALL.len()]
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Retransmits => "retransmits",
            Self::LastEvent => "last event",
            Self::Age => "age",
            Self::Rto => "RTO",
            Self::State => "state",
            Self::Owner => "owner",
            Self::Remote => "remote",
            Self::Stalled => "stalled",
        }
    }
}

/// One flow as the pane shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowRow {
    pub key: FlowKey,
    /// The TCP state, STALLED for a live flow without progress, or how
    /// the flow ended (lowercase) once over.
    pub state: String,
    pub age: String,
    pub owner: String,
    pub local: String,
    pub remote: String,
    pub retransmits: String,
    /// The pending timeout when the kernel is retrying, else the last one.
    pub rto: String,
    pub last_event: String,
    /// `gives up in 7m12s` when the kernel is expected to give up, else a
    /// stall's cause and length: `zero window, peer alive 12s`.
    pub gives_up: String,
    pub tone: Tone,
}

/// A flow with its sort key, so that most comparisons read the key and
/// not the flow.
struct Keyed<'a> {
    /// The sort column as a number, smallest first (0 where the column is
    /// not a number: those compare the flows themselves).
    primary: u64,
    last_event: Reverse<Nanos>,
    flow: &'a Flow,
}

/// The flows the filter lets through, with their keys, unordered.
fn matching<'a>(
    view: &View<'a>,
    filter: &'a Filter,
    sort: SortKey,
) -> impl Iterator<Item = Keyed<'a>> + 'a {
    let live = view.flows.live();
    let ended = view.flows.ended_newest_first();
    live.chain(ended)
        .filter(|flow| filter.is_empty() || filter.matches_flow(flow))
        .map(move |flow| Keyed {
            primary: primary(sort, flow),
            last_event: Reverse(flow.last_event),
            flow,
        })
}

/// How many flows the pane lists.
pub fn count(view: &View<'_>, filter: &Filter) -> usize {
    if filter.is_empty() {
        return view.counts.live + view.counts.ended;
    }
    let live = view.flows.live();
    let ended = view.flows.ended_newest_first();
    live.chain(ended)
        .filter(|flow| filter.matches_flow(flow))
        .count()
}

/// Rows `start..start + len` of the pane, and how many rows there are.
pub fn rows(
    view: &View<'_>,
    filter: &Filter,
    sort: SortKey,
    start: usize,
    len: usize,
) -> (usize, Vec<FlowRow>) {
    let flows = matching(view, filter, sort);
    let (total, flows) = window(flows, start, len, |a, b| compare(sort, a, b));
    let rows = flows
        .iter()
        .map(|keyed| row(keyed.flow, view.now))
        .collect();
    (total, rows)
}

/// The flow on row `index` of the pane.
pub fn at(view: &View<'_>, filter: &Filter, sort: SortKey, index: usize) -> Option<FlowKey> {
    let flows = matching(view, filter, sort);
    let (_, flows) = window(flows, index, 1, |a, b| compare(sort, a, b));
    flows.first().map(|keyed| FlowKey::from(keyed.flow))
}

/// The RTO of the latest retransmission, 0 when there was none.
fn last_rto(flow: &Flow) -> u32 {
    flow.retransmits.last().map_or(0, |record| record.rto_ms)
}

fn primary(sort: SortKey, flow: &Flow) -> u64 {
    match sort {
        SortKey::Retransmits => u64::from(u32::MAX - flow.retransmit_count),
        SortKey::Age => flow.first_seen,
        SortKey::Rto => u64::from(u32::MAX - last_rto(flow)),
        SortKey::State => (u64::from(flow.end.is_some()) << 8) | flow.state as u64,
        SortKey::Stalled => stall(flow).map_or(u64::MAX, |stall| u64::MAX - 1 - stall.duration()),
        SortKey::LastEvent | SortKey::Owner | SortKey::Remote => 0,
    }
}

/// A total order: the sort column, then most recent first, then identity.
fn compare(sort: SortKey, a: &Keyed<'_>, b: &Keyed<'_>) -> Ordering {
    let by_flow = match sort {
        SortKey::Owner => owner_key(a.flow).cmp(&owner_key(b.flow)),
        SortKey::Remote => a.flow.remote.cmp(&b.flow.remote),
        _ => Ordering::Equal,
    };
    a.primary
        .cmp(&b.primary)
        .then(by_flow)
        .then_with(|| a.last_event.cmp(&b.last_event))
        .then_with(|| FlowKey::from(a.flow).cmp(&FlowKey::from(b.flow)))
}

fn owner_key(flow: &Flow) -> (bool, Option<&str>, Option<u32>) {
    let owner = flow.owner.as_ref();
    (
        owner.is_none(),
        owner.map(|task| &*task.comm),
        owner.map(|task| task.pid),
    )
}

/// The stall of a live flow.
fn stall(flow: &Flow) -> Option<Stall> {
    flow.end
        .as_ref()
        .map_or(flow.progress.as_deref(), |_| None)?
        .stall
}

/// The row of one flow at time `now`.
pub fn row(flow: &Flow, now: Nanos) -> FlowRow {
    let stall = stall(flow);
    let forecast = forecast(flow, now);
    let rto = forecast
        .as_ref()
        .and_then(|forecast| forecast.projected.first())
        .map(|next| next.rto_ms)
        .or_else(|| flow.retransmits.last().map(|record| record.rto_ms));
    let tone = match &flow.end {
        Some(end) if end.reason == EndReason::Closed => Tone::Dim,
        Some(_) => Tone::Bad,
        None if stall.is_some() => Tone::Bad,
        None if flow.retransmit_count > 0 => Tone::Warn,
        None => Tone::Normal,
    };
    FlowRow {
        key: FlowKey::from(flow),
        state: match (&flow.end, stall) {
            (Some(end), _) => end.reason.name().to_string(),
            (None, Some(_)) => "STALLED".to_string(),
            (None, None) => flow.state.name().to_string(),
        },
        // A flow open before tcpscope saw it is older than it looks.
        age: match flow.preexisting {
            true => format!(">{}", format::duration(flow.duration(now))),
            false => format::duration(flow.duration(now)),
        },
        owner: format::owner(flow.owner.as_ref()),
        local: format::addr(flow.local),
        remote: format::addr(flow.remote),
        retransmits: flow.retransmit_count.to_string(),
        rto: rto.map_or_else(|| "-".to_string(), format::millis),
        last_event: format!(
            "{} ago",
            format::duration(now.saturating_sub(flow.last_event))
        ),
        gives_up: match (forecast, stall) {
            (Some(forecast), _) => gives_up(&forecast, now),
            (None, Some(stall)) => format!(
                "{} {}",
                stall.cause.label(),
                format::duration(stall.duration())
            ),
            (None, None) => String::new(),
        },
        tone,
    }
}

/// When the kernel gives up, as the Flows pane says it.
fn gives_up(forecast: &Forecast, now: Nanos) -> String {
    if now < forecast.give_up_earliest {
        format!(
            "gives up in {}",
            format::duration(forecast.give_up_earliest - now)
        )
    } else if now < forecast.give_up_latest {
        format!(
            "gives up within {}",
            format::duration(forecast.give_up_latest - now)
        )
    } else {
        format!("should have given up ({})", forecast.error)
    }
}

#[cfg(test)]
#[path = "flows_tests.rs"]
mod tests;
