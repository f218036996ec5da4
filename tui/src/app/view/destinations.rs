//! The destinations pane as data: per remote address:port that passes the
//! filter, the last minutes of connects, how they failed, retransmits and
//! drops, with a verdict; worst first.

use super::{Tone, format};
use crate::{
    app::observed::View,
    model::{
        destinations::{Summary, Verdict},
        filter::Filter,
    },
};

/// One destination as the pane shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct DestinationRow {
    pub remote: String,
    pub verdict: &'static str,
    pub attempts: String,
    pub established: String,
    pub timeouts: String,
    pub refused: String,
    pub resets: String,
    pub abandoned: String,
    pub syn_retransmits: String,
    pub retransmits: String,
    /// The count, and the kernel's reason for the latest drop.
    pub drops: String,
    /// Time since the latest event.
    pub idle: String,
    pub tone: Tone,
}

/// Rows `start..start + len`, and how many destinations pass the filter.
pub fn rows(
    view: &View<'_>,
    filter: &Filter,
    start: usize,
    len: usize,
) -> (usize, Vec<DestinationRow>) {
    let listed: Vec<Summary> = view
        .destinations
        .summaries(view.now)
        .into_iter()
        .filter(|summary| filter.matches_destination(summary.remote))
        .collect();
    let rows = listed
        .iter()
        .skip(start)
        .take(len)
        .map(|summary| row(summary, view.now))
        .collect();
    (listed.len(), rows)
}

pub fn tone(verdict: Verdict) -> Tone {
    match verdict {
        Verdict::BlackHoled | Verdict::Refused | Verdict::Timeouts => Tone::Bad,
        Verdict::Resets | Verdict::Lossy => Tone::Warn,
        Verdict::Connecting => Tone::Normal,
        Verdict::Ok => Tone::Good,
    }
}

/// A count, `-` for none, so that what happened stands out.
fn some(n: u32) -> String {
    match n {
        0 => "-".to_string(),
        n => format::count(u64::from(n)),
    }
}

fn row(summary: &Summary<'_>, now: u64) -> DestinationRow {
    let tally = &summary.tally;
    let drops = match (tally.drops, summary.last_drop_reason) {
        (0, _) => "-".to_string(),
        (n, Some(reason)) => format!("{} {reason}", format::count(u64::from(n))),
        (n, None) => format::count(u64::from(n)),
    };
    DestinationRow {
        remote: format::addr(summary.remote),
        verdict: summary.verdict.name(),
        attempts: format::count(u64::from(tally.attempts)),
        established: format::count(u64::from(tally.established)),
        timeouts: some(tally.timeouts),
        refused: some(tally.refused),
        resets: some(tally.resets),
        abandoned: some(tally.abandoned),
        syn_retransmits: some(tally.syn_retransmits),
        retransmits: some(tally.retransmits),
        drops,
        idle: format::duration(now.saturating_sub(summary.last_active)),
        tone: tone(summary.verdict),
    }
}
