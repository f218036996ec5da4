//! The bottom two lines: the status line (the last message: a snapshot's
//! path, an error, the end of a recording) and the keys that work in the
//! current mode, generated from the key table; keys that do not fit the
//! width are left out whole, the help (`?`) lists them all.

use ratatui::{
    buffer::Buffer,
    layout::Rect,
    text::{Line, Span},
    widgets::{Paragraph, Widget as _},
};

use super::theme::Theme;
use crate::app::{keys, state::State, view::Tone};

pub fn render_status(state: &State, area: Rect, buf: &mut Buffer) {
    let theme = Theme::new(state.color);
    let line = match &state.status {
        Some(status) if status.error => Line::styled(status.text.clone(), theme.alert()),
        Some(status) => Line::raw(status.text.clone()),
        None => Line::styled(
            "? shows every key and the filter language",
            theme.tone(Tone::Dim),
        ),
    };
    Paragraph::new(line).render(area, buf);
}

pub fn render_keys(state: &State, area: Rect, buf: &mut Buffer) {
    let theme = Theme::new(state.color);
    let mut spans = Vec::new();
    let mut used = 0;
    for binding in keys::bindings(state.mode) {
        let Some(short) = binding.short else { continue };
        let width = binding.label.chars().count() + 1 + short.len() + 1;
        if used + width > usize::from(area.width) + 1 {
            break;
        }
        used += width;
        spans.push(Span::styled(binding.label, theme.key()));
        spans.push(Span::raw(format!(":{short} ")));
    }
    if state.mode == crate::app::state::Mode::Filter {
        spans.push(Span::styled("type to edit", theme.tone(Tone::Dim)));
    }
    Paragraph::new(Line::from(spans)).render(area, buf);
}
