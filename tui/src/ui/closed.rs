//! The "closed on timeout" pane: flows the kernel gave up on, attempts
//! their application abandoned, and resets; newest first with when, owner,
//! 4-tuple, duration, retransmits and error. Below them, the kernel stack
//! of the close of the entry under the cursor: one frame per line when
//! there is room, else on one line.

use ratatui::{
    buffer::Buffer,
    layout::{Constraint, Layout, Rect},
    text::{Line, Span},
    widgets::{Paragraph, Widget as _, Wrap},
};

use super::{
    pane::{self, Rows, column},
    theme::Theme,
};
use crate::app::{
    state::{Pane, State},
    view::{Tone, closed, window_start},
};

/// Rows the list keeps before the stack gets a line per frame.
const LIST_ROWS: u16 = 6;

pub fn render(state: &State, area: Rect, buf: &mut Buffer) {
    let theme = Theme::new(state.color);
    let focused = state.focus == Pane::Closed;
    let view = state.view();
    let cursor = state.cursors.closed;
    let stack = closed::stack(&view, &state.filter, cursor);
    // Below the pane's top line.
    let inner_height = area.height.saturating_sub(1);
    let frames = stack.as_ref().map_or(0, |stack| stack.len() as u16);
    // The stack's own lines: a heading and the frames, when they fit under
    // a list of LIST_ROWS; otherwise a single wrapped line.
    let tall = inner_height >= LIST_ROWS + 4;
    let stack_rows = match (&stack, tall) {
        (None, _) => 0,
        (Some(_), true) => (frames + 1).min(inner_height - LIST_ROWS),
        (Some(_), false) => 1,
    };
    let [list, stack_area] =
        Layout::vertical([Constraint::Min(0), Constraint::Length(stack_rows)]).areas(area);
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
        let lines = match tall {
            true => std::iter::once(Line::styled("kernel stack of the close:", theme.label()))
                .chain(stack.iter().map(|frame| Line::from(format!("  {frame}"))))
                .collect(),
            false => vec![Line::from(vec![
                Span::styled("stack: ", theme.label()),
                Span::styled(closed::stack_line(&stack), theme.tone(Tone::Normal)),
            ])],
        };
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .render(stack_area, buf);
    }
}
