//! The filter box, over the bottom of the panes while the filter is being
//! typed: the expression with its cursor, and under it either why the last
//! expression was not applied (the previous filter stays) or the language.

use ratatui::{
    buffer::Buffer,
    layout::{Position, Rect},
    text::{Line, Span},
    widgets::{Block, Clear, Paragraph, Widget as _, Wrap},
};

use super::theme::Theme;
use crate::{
    app::{
        state::{Mode, State},
        view::Tone,
    },
    model::filter::KEYS,
};

/// Rows of the box, borders included.
const HEIGHT: u16 = 5;

/// Draws the box when the filter is being typed; returns where the
/// terminal's cursor goes.
pub fn render(state: &State, area: Rect, buf: &mut Buffer) -> Option<Position> {
    if state.mode != Mode::Filter || area.height < HEIGHT + 2 || area.width < 10 {
        return None;
    }
    let theme = Theme::new(state.color);
    let frame = Rect {
        x: area.x,
        y: area.bottom() - 2 - HEIGHT,
        width: area.width,
        height: HEIGHT,
    };
    Clear.render(frame, buf);
    let block = Block::bordered()
        .border_style(theme.border(true))
        .title(Span::styled(
            " Filter: Enter applies, Esc cancels ",
            theme.title(true),
        ));
    let inner = block.inner(frame);
    block.render(frame, buf);
    let prompt = "> ";
    let room = usize::from(inner.width).saturating_sub(prompt.len() + 1);
    let scroll = state.input.visual_scroll(room);
    let shown: String = state.input.value().chars().skip(scroll).collect();
    let mut lines = vec![Line::from(vec![
        Span::styled(prompt, theme.key()),
        Span::raw(shown),
    ])];
    lines.push(match &state.filter_error {
        Some(error) => Line::styled(format!("not applied: {error}"), theme.alert()),
        None => Line::styled(
            format!("all terms must match; keys: {KEYS}; e.g. port:443 comm:java state:syn_sent"),
            theme.tone(Tone::Dim),
        ),
    });
    Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .render(inner, buf);
    let column = prompt.len() + state.input.visual_cursor().saturating_sub(scroll);
    Some(Position::new(
        inner.x + (column as u16).min(inner.width.saturating_sub(1)),
        inner.y,
    ))
}
