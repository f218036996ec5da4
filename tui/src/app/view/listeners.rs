//! The Listeners pane as data: every listener the filter lets through,
//! those in trouble (accept queue full, drops rising) first, each as a row
//! of text: its flag, owner, address, queue against backlog, drops,
//! half-open connections and SYN-ACK retransmissions.

use super::{Tone, format};
use crate::{
    app::observed::View,
    model::{
        filter::{Filter, Subject},
        listeners::Listener,
    },
};

/// One listener as the pane shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerRow {
    /// `FULL`, `DROPPING`, both, or empty.
    pub flag: String,
    pub owner: String,
    pub local: String,
    pub netns: String,
    /// Accept queue against backlog: `2/1`.
    pub queue: String,
    /// The drop count and its rise since the previous survey: `14 +3`.
    pub drops: String,
    pub half_open: String,
    pub synack_retransmits: String,
    pub tone: Tone,
}

/// What the pane lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// Listeners that pass the filter.
    pub total: usize,
    /// Of those, the ones full or dropping.
    pub flagged: usize,
    /// Rows `start..start + len`.
    pub rows: Vec<ListenerRow>,
}

/// Rows `start..start + len` of the pane, with how many there are.
pub fn rows(view: &View<'_>, filter: &Filter, start: usize, len: usize) -> Listed {
    let mut listeners: Vec<&Listener> = view
        .listeners
        .iter()
        .filter(|listener| filter.is_empty() || filter.matches(&Subject::from(*listener)))
        .collect();
    // Stable: by namespace and address within each group.
    listeners.sort_by_key(|listener| !listener.flagged());
    Listed {
        total: listeners.len(),
        flagged: listeners
            .iter()
            .filter(|listener| listener.flagged())
            .count(),
        rows: listeners
            .into_iter()
            .skip(start)
            .take(len)
            .map(row)
            .collect(),
    }
}

fn row(listener: &Listener) -> ListenerRow {
    let flag = match (listener.full(), listener.dropping()) {
        (true, true) => "FULL+DROPPING",
        (true, false) => "FULL",
        (false, true) => "DROPPING",
        (false, false) => "",
    };
    let drops = match (listener.drops, listener.drops_delta) {
        (None, _) => "-".to_string(),
        (Some(drops), 0) => drops.to_string(),
        (Some(drops), delta) => format!("{drops} +{delta}"),
    };
    ListenerRow {
        flag: flag.to_string(),
        owner: format::owner(listener.owner.as_ref()),
        local: format::addr(listener.local),
        netns: listener.netns.to_string(),
        queue: format!("{}/{}", listener.depth, listener.backlog),
        drops,
        half_open: listener.half_open.to_string(),
        synack_retransmits: listener.synack_retransmits.to_string(),
        tone: if listener.flagged() {
            Tone::Bad
        } else {
            Tone::Normal
        },
    }
}
