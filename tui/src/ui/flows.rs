//! The Flows pane: every tracked flow that passes the filter, sorted by the
//! chosen column, with its state (or how it ended), age, owner, 4-tuple,
//! retransmits, current RTO, last event and, when the kernel is retrying,
//! when it gives up. Narrow terminals drop the age and last-event columns.

use ratatui::{buffer::Buffer, layout::Rect, widgets::Widget as _};

use super::{
    layout::WIDE,
    pane::{self, Column, Rows, column},
    theme::Theme,
};
use crate::app::{
    observed::FlowKey,
    state::{Pane, State},
    view::{flows, window_start},
};

const WIDE_COLUMNS: [Column; 9] = [
    column("State", 11, 11),
    column("Age", 5, 6),
    column("Owner", 8, 20),
    column("Local", 15, 47),
    column("Remote", 15, 47),
    column("Retr", 4, 4),
    column("RTO", 5, 6),
    column("Last event", 10, 11),
    column("Forecast", 8, 30),
];

const NARROW_COLUMNS: [Column; 7] = [
    column("State", 11, 11),
    column("Owner", 8, 12),
    column("Local", 15, 47),
    column("Remote", 15, 47),
    column("Retr", 4, 4),
    column("RTO", 5, 5),
    column("Gives up", 8, 20),
];

/// Draws the pane; returns the flow under the cursor, which the timeline
/// follows until one is picked.
pub fn render(state: &State, area: Rect, buf: &mut Buffer) -> Option<FlowKey> {
    let theme = Theme::new(state.color);
    let focused = state.focus == Pane::Flows;
    let view = state.view();
    let height = usize::from(area.height.saturating_sub(2));
    let cursor = state.cursors.flows;
    let start = window_start(cursor, height);
    let (total, rows) = flows::rows(&view, &state.filter, state.sort, start, height);
    let title = format!("Flows ({total}, by {})", state.sort.name());
    let under_cursor = rows.get(cursor - start).map(|row| row.key);
    let wide = area.width >= WIDE;
    let rows = rows
        .into_iter()
        .map(|row| {
            let cells = if wide {
                vec![
                    row.state,
                    row.age,
                    row.owner,
                    row.local,
                    row.remote,
                    row.retransmits,
                    row.rto,
                    row.last_event,
                    row.gives_up,
                ]
            } else {
                let gives_up = row.gives_up.trim_start_matches("gives up ").to_string();
                vec![
                    row.state,
                    row.owner,
                    row.local,
                    row.remote,
                    row.retransmits,
                    row.rto,
                    gives_up,
                ]
            };
            (row.tone, cells)
        })
        .collect();
    Rows {
        columns: if wide { &WIDE_COLUMNS } else { &NARROW_COLUMNS },
        rows,
        start,
        cursor,
        focused,
    }
    .table(area.width, &theme)
    .block(pane::block(title, focused, &theme))
    .render(area, buf);
    if total == 0 {
        pane::empty("No flow passes the filter.", area, buf, &theme);
    }
    under_cursor
}
