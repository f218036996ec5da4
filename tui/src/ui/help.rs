//! The help overlay: every binding of the key table with the modes it
//! works in, and the filter language.

use ratatui::{
    buffer::Buffer,
    layout::Rect,
    text::{Line, Span},
    widgets::{Block, Clear, Paragraph, Widget as _, Wrap},
};

use super::theme::Theme;
use crate::{
    app::{
        keys::BINDINGS,
        state::{Mode, State},
    },
    model::filter::KEYS,
};

pub fn render(state: &State, area: Rect, buf: &mut Buffer) {
    if state.mode != Mode::Help {
        return;
    }
    let theme = Theme::new(state.color);
    let width = area.width.min(100);
    let described = BINDINGS.iter().filter(|binding| !binding.help.is_empty());
    let height = area.height.min(described.clone().count() as u16 + 6);
    let frame = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    };
    Clear.render(frame, buf);
    let block = Block::bordered()
        .border_style(theme.border(true))
        .title(Span::styled(" Keys (? or Esc closes) ", theme.title(true)));
    let label_width = BINDINGS
        .iter()
        .map(|binding| binding.label.chars().count())
        .max()
        .unwrap_or(0);
    let mut lines: Vec<Line> = described
        .map(|binding| {
            let modes = match binding.modes {
                [Mode::Filter] => " (filter box)",
                [Mode::Help] => " (help)",
                _ => "",
            };
            let label = format!("{:<label_width$}  ", binding.label);
            Line::from(vec![
                Span::styled(label, theme.key()),
                Span::raw(format!("{}{modes}", binding.help)),
            ])
        })
        .collect();
    lines.push(Line::raw(""));
    lines.push(Line::raw(format!(
        "Filter: terms that must all match, key:value[,value...]; keys: {KEYS}; a bare number is a port."
    )));
    Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .block(block)
        .render(frame, buf);
}
