//! The Drops page as data: the counts by reason and by destination (with
//! drops per second), the newest drops that pass the filter, and each
//! drop as a row of text: when, its namespace, 4-tuple, TCP flags (`out`
//! when this host was sending), the kernel's reason and where it freed
//! the segment.

use super::format;
use crate::{
    app::observed::View,
    model::{drops::Dropped, filter::Filter},
};

/// One line of a count table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountRow {
    /// The reason, or the remote address.
    pub key: String,
    pub count: String,
    /// Drops per second, `1.0`.
    pub per_second: String,
}

/// What the page shows above its list, and the list.
#[derive(Debug, Clone, PartialEq)]
pub struct DropsPage<'a> {
    /// Drops counted by reason, and `of the newest, filtered` when a filter
    /// narrows the counts to the kept newest drops.
    pub total: u64,
    pub scope: &'static str,
    pub by_reason: Vec<CountRow>,
    pub by_destination: Vec<CountRow>,
    /// Newest first.
    pub newest: Vec<&'a Dropped>,
}

/// One drop as the list shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DropRow {
    pub when: String,
    pub netns: String,
    pub local: String,
    pub remote: String,
    pub flags: String,
    pub reason: String,
    pub location: String,
}

pub fn page<'a>(view: &View<'a>, filter: &Filter) -> DropsPage<'a> {
    let summary = view.drops.summary(filter, view.now);
    let rate = |per_second: f64| format!("{per_second:.1}");
    DropsPage {
        total: summary.by_reason.iter().map(|(_, count, _)| count).sum(),
        scope: match summary.all {
            true => "",
            false => " of the newest, filtered",
        },
        by_reason: summary
            .by_reason
            .iter()
            .map(|(reason, count, per_second)| CountRow {
                key: reason.to_string(),
                count: format::count(*count),
                per_second: rate(*per_second),
            })
            .collect(),
        by_destination: summary
            .by_destination
            .iter()
            .map(|(remote, count, per_second)| CountRow {
                key: format::addr(*remote),
                count: format::count(*count),
                per_second: rate(*per_second),
            })
            .collect(),
        newest: summary.newest,
    }
}

pub fn row(dropped: &Dropped, utc_offset: i64) -> DropRow {
    let direction = if dropped.drop.outgoing { " out" } else { "" };
    DropRow {
        when: format::time_of_day(dropped.at, utc_offset),
        netns: dropped.netns.to_string(),
        local: format::addr(dropped.local),
        remote: format::addr(dropped.remote),
        flags: format!("{}{direction}", dropped.drop.flags),
        reason: dropped.drop.reason.to_string(),
        location: dropped.drop.location.to_string(),
    }
}
