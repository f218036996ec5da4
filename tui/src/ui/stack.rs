//! The kernel stack of the row under a list's cursor, drawn below the list:
//! a heading and a line per frame when the list still keeps [`LIST_ROWS`]
//! rows, else the frames on one line. The Closed and Drops panes use it.

use ratatui::{
    buffer::Buffer,
    layout::{Constraint, Layout, Rect},
    text::{Line, Span},
    widgets::{Paragraph, Widget as _, Wrap},
};

use super::theme::Theme;
use crate::app::view::{Tone, closed::stack_line};

/// Rows the list keeps before the stack gets a line per frame.
const LIST_ROWS: u16 = 6;

/// Where a list and the stack of its selected row go.
pub struct Split {
    pub list: Rect,
    stack: Rect,
    /// A line per frame (else one line).
    tall: bool,
}

/// Splits `area` (a pane whose top line is its title) between the list
/// and the stack of `frames` frames, if there is one.
pub fn split(area: Rect, frames: Option<usize>) -> Split {
    let inner_height = area.height.saturating_sub(1);
    let tall = inner_height >= LIST_ROWS + 4;
    let rows = match (frames, tall) {
        (None, _) => 0,
        (Some(frames), true) => {
            let frames = u16::try_from(frames).unwrap_or(u16::MAX);
            frames.saturating_add(1).min(inner_height - LIST_ROWS)
        }
        (Some(_), false) => 1,
    };
    let [list, stack] =
        Layout::vertical([Constraint::Min(0), Constraint::Length(rows)]).areas(area);
    Split { list, stack, tall }
}

impl Split {
    /// Draws `stack` under `heading` ("kernel stack of the close:").
    pub fn render_stack(&self, heading: &str, stack: &[String], buf: &mut Buffer, theme: &Theme) {
        let lines = match self.tall {
            true => std::iter::once(Line::styled(heading.to_string(), theme.label()))
                .chain(stack.iter().map(|frame| Line::from(format!("  {frame}"))))
                .collect(),
            false => vec![Line::from(vec![
                Span::styled("stack: ", theme.label()),
                Span::styled(stack_line(stack), theme.tone(Tone::Normal)),
            ])],
        };
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .render(self.stack, buf);
    }
}
