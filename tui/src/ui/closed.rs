//! The "closed on timeout" pane: flows the kernel gave up on, attempts
//! their application abandoned, and resets; newest first with when, owner,
//! 4-tuple, duration, retransmits and error. Below them, the kernel stack
//! of the close of the entry under the cursor: one frame per line when
//! there is room, else on one line.

use ratatui::{buffer::Buffer, layout::Rect, widgets::Widget as _};

use super::{
    pane::{self, Rows, column},
    stack,
    theme::Theme,
};
use crate::app::{
    state::{Pane, State},
    view::{closed, window_start},
};

pub fn render(state: &State, area: Rect, buf: &mut Buffer) {
    let theme = Theme::new(state.color);
    let focused = state.focus == Pane::Closed;
    let view = state.view();
    let cursor = state.cursors.closed;
    let stack = closed::stack(&view, &state.filter, cursor);
    let split = stack::split(area, stack.as_ref().map(|stack| stack.len()));
    let list = split.list;
    let height = usize::from(list.height.saturating_sub(2));
    let start = window_start(cursor, height);
    let (total, rows) = closed::rows(&view, &state.filter, start, height, state.utc_offset);
    let title = format!("Closed on timeout or reset ({total})");
    // Narrow panes show the reason alone; the errno is in the stack's view.
    let wide = area.width >= 88;
    let columns = [
        column("When", 8, 8),
        column("Owner", 8, 20),
        column("Local", 15, 47),
        column("Remote", 15, 47),
        column("Dur", 5, 6),
        column("Retr", 4, 4),
        column("Error", if wide { 17 } else { 9 }, 24),
    ];
    let rows = rows
        .into_iter()
        .map(|row| {
            let error = match wide {
                true => row.error,
                false => row.error.split(' ').next().unwrap_or_default().to_string(),
            };
            let cells = vec![
                row.when,
                row.owner,
                row.local,
                row.remote,
                row.duration,
                row.retransmits,
                error,
            ];
            (row.tone, cells)
        })
        .collect();
    Rows {
        columns: &columns,
        rows,
        start,
        cursor,
        focused,
    }
    .table(area.width, &theme)
    .block(pane::block(title, focused, &theme))
    .render(list, buf);
    if total == 0 {
        let text = "No flow has ended on a timeout, an abandoned connect or a reset.";
        pane::empty(text, list, buf, &theme);
    }
    if let Some(stack) = stack {
        split.render_stack("kernel stack of the close:", &stack, buf, &theme);
    }
}
