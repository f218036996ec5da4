//! The Counters pane as data: per network namespace that passes the
//! filter (the root one first, then the others by when something last
//! moved), each watched TCP counter that ever moved, as a row of text:
//! its change over the latest sample, its total, how long ago it last
//! moved and what it means. A counter that moved within [`HIGHLIGHT`]
//! stands out; a root namespace where nothing moved says so.

use super::{Tone, format};
use crate::{
    app::observed::View,
    model::{counters::Counters, event::Nanos, filter::Filter},
};

/// How long a counter stands out after it moved.
pub const HIGHLIGHT: Nanos = 5_000_000_000;

/// One counter of one namespace as the pane shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterRow {
    /// The namespace, on its first row only (`4026531840 root`).
    pub netns: String,
    pub counter: String,
    /// `+3`, or `-` when it did not move in the latest sample.
    pub delta: String,
    pub total: String,
    /// How long ago it last moved.
    pub moved: String,
    pub meaning: String,
    pub tone: Tone,
}

/// What the pane lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterRows {
    /// Namespaces that pass the filter.
    pub namespaces: usize,
    /// Of those, the ones where no counter ever moved.
    pub quiet: usize,
    pub rows: Vec<CounterRow>,
}

pub fn rows(view: &View<'_>, filter: &Filter) -> CounterRows {
    let all = view.counters;
    let namespaces: Vec<_> = all
        .by_activity()
        .into_iter()
        .filter(|(netns, _)| filter.matches_namespace(*netns))
        .collect();
    let mut rows = Vec::new();
    let mut quiet = 0;
    for (netns, counters) in &namespaces {
        let root = all.root == Some(*netns);
        let label = match root {
            true => format!("{netns} root"),
            false => netns.to_string(),
        };
        let before = rows.len();
        rows.extend(namespace_rows(counters));
        if let Some(first) = rows.get_mut(before) {
            first.netns = label;
            continue;
        }
        quiet += 1;
        if root {
            rows.push(CounterRow {
                netns: label,
                counter: "nothing moved".to_string(),
                delta: String::new(),
                total: String::new(),
                moved: String::new(),
                meaning: String::new(),
                tone: Tone::Dim,
            });
        }
    }
    CounterRows {
        namespaces: namespaces.len(),
        quiet,
        rows,
    }
}

/// The counters of one namespace that ever moved, without its label.
fn namespace_rows(counters: &Counters) -> impl Iterator<Item = CounterRow> + '_ {
    counters.ever_moved().map(|reading| {
        let since = reading
            .last_moved
            .map(|moved| counters.at.saturating_sub(moved));
        let tone = match since {
            Some(since) if since <= HIGHLIGHT => Tone::Bad,
            _ => Tone::Dim,
        };
        CounterRow {
            netns: String::new(),
            counter: reading.counter.name.to_string(),
            delta: match reading.delta {
                0 => "-".to_string(),
                delta => format!("{delta:+}"),
            },
            total: format::count(u64::try_from(reading.total).unwrap_or(0)),
            moved: since.map_or_else(|| "-".to_string(), format::duration),
            meaning: reading.counter.meaning.to_string(),
            tone,
        }
    })
}
