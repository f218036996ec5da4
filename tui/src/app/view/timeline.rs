//! The RTO timeline of one flow as data: when it began, each retransmission
//! with its timeout and backoff, resets, its end, and, while the kernel is
//! still retrying, the projected retransmissions and the give-up window
//! from the forecast. Each entry reads as a line of text; [`axis`] places
//! them on a time line.

use super::format;
use crate::{
    app::observed::Recent,
    model::{
        event::Nanos,
        flow::Flow,
        forecast::{Forecast, forecast},
    },
};

/// What an entry marks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    Start,
    Retransmit,
    Projected,
    Reset,
    GiveUp,
    End,
    Now,
}

impl Mark {
    /// The marker on the axis and beside the entry.
    pub fn symbol(self) -> char {
        match self {
            Self::Start => '├',
            Self::Retransmit => '●',
            Self::Projected => '○',
            Self::Reset => 'R',
            Self::GiveUp => '░',
            Self::End => '×',
            Self::Now => '│',
        }
    }
}

/// One line of the timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub at: Nanos,
    /// Time since the flow began, `+1.003s`.
    pub offset: String,
    pub mark: Mark,
    pub text: String,
}

/// A flow's timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    /// The 4-tuple and state.
    pub title: String,
    pub start: Nanos,
    /// The right end of the axis: the latest thing shown.
    pub end: Nanos,
    pub entries: Vec<Entry>,
    /// The projected give-up window, when the kernel is retrying.
    pub give_up: Option<(Nanos, Nanos)>,
}

pub fn build(flow: &Flow, recent: &Recent, now: Nanos) -> Timeline {
    let start = flow.first_seen;
    let mut entries = Vec::new();
    let mut push = |at: Nanos, mark: Mark, text: String| {
        entries.push(Entry {
            at,
            offset: format::offset(at.saturating_sub(start)),
            mark,
            text,
        });
    };
    let owner = format::owner(flow.owner.as_ref());
    let began = if flow.seen_from_start {
        format!("began; owner {owner}")
    } else {
        format!("first seen, already open; owner {owner}")
    };
    push(start, Mark::Start, began);
    let dropped = (flow.retransmit_count as usize).saturating_sub(flow.retransmits.len());
    for (index, record) in flow.retransmits.iter().enumerate() {
        let text = match record.sent {
            true => format!(
                "#{} retransmit  RTO {}  backoff {}  {}",
                dropped + index + 1,
                format::millis(record.rto_ms),
                record.backoff,
                record.cause.name()
            ),
            false => format!(
                "#{} retransmit  not sent: dropped on this host (local congestion), counted; retry in 500ms",
                dropped + index + 1,
            ),
        };
        push(record.at, Mark::Retransmit, text);
    }
    for mark in recent.resets(flow) {
        let text = if mark.received {
            "RST received"
        } else {
            "RST sent"
        };
        push(mark.at, Mark::Reset, text.to_string());
    }
    let forecast = forecast(flow, now);
    if let Some(Forecast {
        projected,
        give_up_earliest,
        give_up_latest,
        error,
    }) = &forecast
    {
        let next = flow.retransmit_count as usize + 1;
        for (index, retransmit) in projected.iter().enumerate() {
            let text = format!(
                "#{} retransmit  RTO {}  (projected)",
                next + index,
                format::millis(retransmit.rto_ms)
            );
            push(retransmit.at, Mark::Projected, text);
        }
        let text = format!(
            "give-up window until {}: {error} (projected)",
            format::offset(give_up_latest.saturating_sub(start))
        );
        push(*give_up_earliest, Mark::GiveUp, text);
    }
    match &flow.end {
        Some(end) => push(end.at, Mark::End, format!("ended: {}", format::end(end))),
        None => push(now, Mark::Now, format!("now: {}", flow.state.name())),
    }
    entries.sort_by_key(|entry| entry.at);
    let give_up = forecast.map(|f| (f.give_up_earliest, f.give_up_latest));
    let end = entries
        .iter()
        .map(|entry| entry.at)
        .chain(give_up.map(|(_, latest)| latest))
        .max()
        .unwrap_or(start);
    Timeline {
        title: format!(
            "{} → {} {}",
            format::addr(flow.local),
            format::addr(flow.remote),
            flow.end
                .as_ref()
                .map_or(flow.state.name(), |end| end.reason.name())
        ),
        start,
        end,
        entries,
        give_up,
    }
}

/// The timeline drawn on `width` columns: `─` for time passing, `░` for
/// the give-up window, each entry's marker at its time (a later marker
/// wins a shared column, except that a past event beats a projection).
pub fn axis(timeline: &Timeline, width: usize) -> Vec<(char, Option<Mark>)> {
    let mut cells = vec![('─', None); width];
    if width == 0 {
        return cells;
    }
    let span = timeline.end.saturating_sub(timeline.start).max(1) as f64;
    let column = |at: Nanos| {
        let fraction = at.saturating_sub(timeline.start) as f64 / span;
        ((fraction * (width - 1) as f64).round() as usize).min(width - 1)
    };
    if let Some((earliest, latest)) = timeline.give_up {
        for cell in &mut cells[column(earliest)..=column(latest)] {
            *cell = ('░', Some(Mark::GiveUp));
        }
    }
    for entry in timeline
        .entries
        .iter()
        .filter(|entry| entry.mark != Mark::GiveUp)
    {
        let cell = &mut cells[column(entry.at)];
        if entry.mark == Mark::Projected && matches!(cell.1, Some(mark) if mark != Mark::GiveUp) {
            continue;
        }
        *cell = (entry.mark.symbol(), Some(entry.mark));
    }
    cells
}
