//! The counters pane: per network namespace (the root one first, then the
//! others by when something last moved), each watched TCP counter that
//! moved since tcpscope started, with its change over the latest sample,
//! its total, when it last moved and what it means; a counter that moved
//! in the last few seconds stands out.

use ratatui::{buffer::Buffer, layout::Rect};

use super::{
    pane::{Rows, column},
    theme::Theme,
};
use crate::app::{
    state::State,
    view::{
        counters::{self, HIGHLIGHT},
        format,
    },
};

pub fn render(state: &State, area: Rect, buf: &mut Buffer) {
    let theme = Theme::new(state.color);
    let listed = counters::rows(&state.view(), &state.filter);
    let title = format!(
        "TCP counters ({} namespaces, {} quiet; moved in the last {} highlighted)",
        listed.namespaces,
        listed.quiet,
        format::duration(HIGHLIGHT)
    );
    let columns = [
        column("Netns", 10, 16),
        column("Counter", 11, 18),
        column("Delta", 5, 7),
        column("Total", 5, 12),
        column("Moved", 5, 6),
        column("Meaning", 10, 80),
    ];
    let height = usize::from(area.height.saturating_sub(2));
    let rows = listed
        .rows
        .into_iter()
        .take(height)
        .map(|row| {
            let cells = vec![
                row.netns,
                row.counter,
                row.delta,
                row.total,
                row.moved,
                row.meaning,
            ];
            (row.tone, cells)
        })
        .collect();
    Rows::glance(&columns, rows).render_pane(
        title,
        "No counter has moved yet (they are read once a second, live only).",
        area,
        buf,
        &theme,
    );
}

#[cfg(test)]
#[path = "counters_tests.rs"]
mod tests;
