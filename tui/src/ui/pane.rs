//! What the panes share: a block with the title on its top border
//! (highlighted when focused), and a table of the visible rows whose
//! columns are as wide as their widest cell (up to a maximum; the last
//! column takes the rest), with the cursor row marked `>` (and reversed)
//! in the focused pane.

use ratatui::{
    buffer::Buffer,
    layout::{Constraint, Rect},
    text::{Line, Span},
    widgets::{Block, Borders, Cell, Row, Table},
};

use super::theme::Theme;
use crate::app::view::Tone;

pub fn block<'a>(title: String, focused: bool, theme: &Theme) -> Block<'a> {
    Block::new()
        .borders(Borders::TOP)
        .border_style(theme.border(focused))
        .title(Line::from(Span::styled(
            format!(" {title} "),
            theme.title(focused),
        )))
}

/// Says why a pane has no rows, where its first row would be.
pub fn empty(text: &str, area: Rect, buf: &mut Buffer, theme: &Theme) {
    if area.height > 2 {
        let width = usize::from(area.width.saturating_sub(2));
        buf.set_stringn(area.x + 2, area.y + 2, text, width, theme.tone(Tone::Dim));
    }
}

/// A column: its heading, and the fewest and most cells it may take.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub title: &'static str,
    pub min: u16,
    pub max: u16,
}

/// A column that may shrink to `min` when the pane is too narrow.
pub const fn column(title: &'static str, min: u16, max: u16) -> Column {
    Column { title, min, max }
}

/// Rows `start..` of a pane, each a tone and its cells.
pub struct Rows<'a> {
    pub columns: &'a [Column],
    pub rows: Vec<(Tone, Vec<String>)>,
    pub start: usize,
    pub cursor: usize,
    pub focused: bool,
}

impl<'a> Rows<'a> {
    /// Rows read at a glance: no cursor, no focus.
    pub fn glance(columns: &'a [Column], rows: Vec<(Tone, Vec<String>)>) -> Self {
        Self {
            columns,
            rows,
            start: 0,
            cursor: 0,
            focused: false,
        }
    }

    /// Draws the rows as a pane titled `title`, or says `empty` when
    /// there are none.
    pub fn render_pane(
        self,
        title: String,
        empty: &str,
        area: Rect,
        buf: &mut Buffer,
        theme: &Theme,
    ) {
        let none = self.rows.is_empty();
        ratatui::widgets::Widget::render(
            self.table(area.width, theme)
                .block(block(title, false, theme)),
            area,
            buf,
        );
        if none {
            self::empty(empty, area, buf, theme);
        }
    }

    /// The table, for a pane `width` cells wide.
    pub fn table(self, width: u16, theme: &Theme) -> Table<'static> {
        let mut widths: Vec<u16> = self
            .columns
            .iter()
            .enumerate()
            .map(|(index, column)| {
                let widest = self
                    .rows
                    .iter()
                    .filter_map(|(_, cells)| cells.get(index))
                    .map(|cell| cell.chars().count())
                    .chain([column.title.chars().count()])
                    .max()
                    .unwrap_or(0);
                (widest as u16).min(column.max)
            })
            .collect();
        shrink(&mut widths, self.columns, width);
        let last = widths.len().saturating_sub(1);
        let widths: Vec<Constraint> = widths
            .into_iter()
            .enumerate()
            .map(|(index, width)| match index == last {
                true => Constraint::Min(width),
                false => Constraint::Length(width),
            })
            .collect();
        let heading = Row::new(
            std::iter::once(Cell::from(""))
                .chain(self.columns.iter().map(|column| Cell::from(column.title))),
        )
        .style(theme.heading());
        let rows: Vec<Row> = self
            .rows
            .into_iter()
            .enumerate()
            .map(|(index, (tone, cells))| {
                let at_cursor = self.focused && self.start + index == self.cursor;
                let marker = if at_cursor { ">" } else { " " };
                let style = match at_cursor {
                    true => theme.tone(tone).patch(theme.cursor()),
                    false => theme.tone(tone),
                };
                Row::new(
                    std::iter::once(marker.to_string())
                        .chain(cells)
                        .map(Cell::from),
                )
                .style(style)
            })
            .collect();
        Table::new(rows, std::iter::once(Constraint::Length(1)).chain(widths)).header(heading)
    }
}

/// Narrows columns until they fit `width` (with the cursor column and one
/// space between columns): the last column first, then the others from
/// left to right, none below its minimum.
fn shrink(widths: &mut [u16], columns: &[Column], width: u16) {
    let spacing = widths.len() as u16 + 1;
    let mut excess = (widths.iter().sum::<u16>() + spacing).saturating_sub(width);
    let order = (0..widths.len())
        .rev()
        .take(1)
        .chain(0..widths.len().saturating_sub(1));
    for index in order {
        if excess == 0 {
            break;
        }
        let room = widths[index].saturating_sub(columns[index].min);
        let cut = room.min(excess);
        widths[index] -= cut;
        excess -= cut;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_column_then_the_leftmost_give_way() {
        let columns = [column("a", 8, 8), column("b", 4, 20), column("c", 5, 20)];
        let mut widths = [8, 18, 20];
        shrink(&mut widths, &columns, 40);
        assert_eq!(widths, [8, 18, 10]);
        let mut widths = [8, 18, 20];
        shrink(&mut widths, &columns, 10);
        assert_eq!(widths, [8, 4, 5]);
    }
}
