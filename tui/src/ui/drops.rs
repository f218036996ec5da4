//! The Drops page: segments the kernel dropped, with its own reason. On top,
//! counts and drops per second per reason and per destination (the remote
//! end, seen from this host); below, the newest drops with their 4-tuple,
//! namespace, TCP flags, reason and where the kernel freed them; at the
//! bottom, the kernel stack of the drop under the cursor. The filter
//! applies (`reason:` matches part of a drop reason's name); with a filter
//! set, the counts are those of the kept newest drops that match.
//!
//! ```text
//! ── Drops by reason (12) ────────────── ── By destination ──────────────
//!   Reason          Count   /s             Remote           Count   /s
//!   NETFILTER_DROP     10  1.0             10.0.0.1:40112      10  1.0
//! ── Newest drops ────────────────────────────────────────────────────────
//!   When      Netns       Local        Remote          Flags  Reason  Location
//! kernel stack of the drop:
//!   sk_skb_reason_drop+0x90
//! ```

use ratatui::{
    buffer::Buffer,
    layout::{Constraint, Layout, Rect},
    widgets::Widget as _,
};

use super::{
    pane::{self, Rows, column},
    stack,
    theme::Theme,
};
use crate::app::{
    state::State,
    view::{
        Tone,
        drops::{self, CountRow},
        window_start,
    },
};

/// Rows of the reason and destination tables, at most.
const SUMMARY_ROWS: u16 = 8;

pub fn render(state: &State, area: Rect, buf: &mut Buffer) {
    let theme = Theme::new(state.color);
    let view = state.view();
    let summary = drops::page(&view, &state.filter);
    let cursor = state
        .cursors
        .drops
        .min(summary.newest.len().saturating_sub(1));
    let selected = summary.newest.get(cursor).copied();
    let counted = summary.by_reason.len().max(summary.by_destination.len()) as u16;
    let summary_height = (counted.max(1) + 2).min(SUMMARY_ROWS + 2);
    let [top, list_and_stack] =
        Layout::vertical([Constraint::Length(summary_height), Constraint::Min(0)]).areas(area);
    let [reasons, destinations] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(top);
    counts_table(
        format!("Drops by reason ({}{})", summary.total, summary.scope),
        ("Reason", 12, 32),
        summary.by_reason,
        reasons,
        buf,
        &theme,
    );
    counts_table(
        "By destination".to_string(),
        ("Remote", 15, 47),
        summary.by_destination,
        destinations,
        buf,
        &theme,
    );

    let stack = selected
        .and_then(|dropped| dropped.drop.stack.as_deref())
        .filter(|stack| !stack.is_empty());
    let split = stack::split(list_and_stack, stack.map(<[String]>::len));
    let list = split.list;
    let height = usize::from(list.height.saturating_sub(2));
    let start = window_start(cursor, height);
    let columns = [
        column("When", 8, 8),
        column("Netns", 10, 10),
        column("Local", 21, 47),
        column("Remote", 21, 47),
        column("Flags", 3, 15),
        column("Reason", 10, 32),
        column("Location", 8, 48),
    ];
    let rows = summary
        .newest
        .iter()
        .skip(start)
        .take(height)
        .map(|dropped| {
            let row = drops::row(dropped, state.utc_offset);
            let cells = vec![
                row.when,
                row.netns,
                row.local,
                row.remote,
                row.flags,
                row.reason,
                row.location,
            ];
            (Tone::Normal, cells)
        })
        .collect();
    let focused = true;
    Rows {
        columns: &columns,
        rows,
        start,
        cursor,
        focused,
    }
    .table(list.width, &theme)
    .block(pane::block(
        format!("Newest drops ({})", summary.newest.len()),
        focused,
        &theme,
    ))
    .render(list, buf);
    if summary.newest.is_empty() {
        pane::empty("The kernel has dropped no TCP segment.", list, buf, &theme);
    }
    if let Some(stack) = stack {
        split.render_stack("kernel stack of the drop:", stack, buf, &theme);
    }
}

/// A table of counts with drops per second, most first.
fn counts_table(
    title: String,
    (heading, min, max): (&'static str, u16, u16),
    rows: Vec<CountRow>,
    area: Rect,
    buf: &mut Buffer,
    theme: &Theme,
) {
    let columns = [
        column(heading, min, max),
        column("Count", 5, 10),
        column("/s", 3, 8),
    ];
    let rows = rows
        .into_iter()
        .take(usize::from(SUMMARY_ROWS))
        .map(|row| (Tone::Normal, vec![row.key, row.count, row.per_second]))
        .collect();
    Rows {
        columns: &columns,
        rows,
        start: 0,
        cursor: usize::MAX,
        focused: false,
    }
    .table(area.width, theme)
    .block(pane::block(title, false, theme))
    .render(area, buf);
}

#[cfg(test)]
#[path = "drops_tests.rs"]
mod tests;
