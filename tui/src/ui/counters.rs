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
use crate::{
    app::{
        state::State,
        view::{Tone, format},
    },
    model::{counters::Counters, event::Nanos},
};

/// How long a counter stands out after it moved.
pub const HIGHLIGHT: Nanos = 5_000_000_000;

pub fn render(state: &State, area: Rect, buf: &mut Buffer) {
    let theme = Theme::new(state.color);
    let all = state.view().counters;
    let namespaces: Vec<_> = all
        .by_activity()
        .into_iter()
        .filter(|(netns, _)| state.filter.matches_namespace(*netns))
        .collect();
    let mut rows = Vec::new();
    let mut quiet = 0;
    for (netns, counters) in &namespaces {
        let root = all.root == Some(*netns);
        let label = match root {
            true => format!("{netns} root"),
            false => netns.to_string(),
        };
        let before = rows.len();
        rows.extend(namespace_rows(counters).into_iter().enumerate().map(
            |(index, (tone, mut cells))| {
                cells.insert(
                    0,
                    if index == 0 {
                        label.clone()
                    } else {
                        String::new()
                    },
                );
                (tone, cells)
            },
        ));
        if rows.len() == before {
            quiet += 1;
            if root {
                let cells = [label, "nothing moved".to_string()];
                let cells = cells
                    .into_iter()
                    .chain(std::iter::repeat_n(String::new(), 4));
                rows.push((Tone::Dim, cells.collect()));
            }
        }
    }
    let title = format!(
        "TCP counters ({} namespaces, {quiet} quiet; moved in the last {} highlighted)",
        namespaces.len(),
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
    rows.truncate(height);
    Rows::glance(&columns, rows).render_pane(
        title,
        "No counter has moved yet (they are read once a second, live only).",
        area,
        buf,
        &theme,
    );
}

/// The counters of one namespace that ever moved, as cells after the
/// namespace's own.
fn namespace_rows(counters: &Counters) -> Vec<(Tone, Vec<String>)> {
    counters
        .ever_moved()
        .map(|reading| {
            let since = reading
                .last_moved
                .map(|moved| counters.at.saturating_sub(moved));
            let tone = match since {
                Some(since) if since <= HIGHLIGHT => Tone::Bad,
                _ => Tone::Dim,
            };
            let delta = match reading.delta {
                0 => "-".to_string(),
                delta => format!("{delta:+}"),
            };
            let total = format::count(u64::try_from(reading.total).unwrap_or(0));
            let moved = since.map_or_else(|| "-".to_string(), format::duration);
            let cells = vec![
                reading.counter.name.to_string(),
                delta,
                total,
                moved,
                reading.counter.meaning.to_string(),
            ];
            (tone, cells)
        })
        .collect()
}

#[cfg(test)]
#[path = "counters_tests.rs"]
mod tests;
