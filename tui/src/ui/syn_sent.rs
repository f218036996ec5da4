//! The SYN_SENT retries pane: connect attempts in progress with their
//! owner, 4-tuple (the local port the kernel picked), SYNs sent, time since
//! the first SYN and last RTO; finished attempts stay ten seconds, marked
//! with how they finished.

use ratatui::{buffer::Buffer, layout::Rect, widgets::Widget as _};

use super::{
    pane::{self, Rows, column},
    theme::Theme,
};
use crate::app::{
    state::{Pane, State},
    view::{attempts, window_start},
};

pub fn render(state: &State, area: Rect, buf: &mut Buffer) {
    let theme = Theme::new(state.color);
    let focused = state.focus == Pane::SynSent;
    let view = state.view();
    // The block's top line and the table's heading take two rows.
    let height = usize::from(area.height.saturating_sub(2));
    let cursor = state.cursors.syn_sent;
    let start = window_start(cursor, height);
    let (total, rows) = attempts::rows(&view, &state.filter, start, height);
    let block = pane::block(format!("SYN_SENT retries ({total})"), focused, &theme);
    let columns = [
        column("Owner", 8, 20),
        column("Local", 15, 47),
        column("Remote", 15, 47),
        column("SYNs", 4, 4),
        column("Since", 5, 6),
        column("Last RTO", 8, 8),
        column("Outcome", 11, 11),
    ];
    let table = Rows {
        columns: &columns,
        rows: rows
            .into_iter()
            .map(|row| {
                let cells = vec![
                    row.owner,
                    row.local,
                    row.remote,
                    row.attempts,
                    row.elapsed,
                    row.last_rto,
                    row.outcome,
                ];
                (row.tone, cells)
            })
            .collect(),
        start,
        cursor,
        focused,
    }
    .table(area.width, &theme)
    .block(block);
    table.render(area, buf);
    if total == 0 {
        let text = "No connect attempt in progress, nor finished in the last 10 s.";
        pane::empty(text, area, buf, &theme);
    }
}
