//! The Listeners pane: every listener that passes the filter, those whose
//! accept queue is full or whose drops rose first, with owner, address,
//! namespace, accept queue against backlog, drops (and their rise), half-open
//! connections and SYN-ACK retransmissions. A SYN into a full accept queue
//! leaves no drop event: this pane is where it shows.

use ratatui::{buffer::Buffer, layout::Rect};

use super::{
    pane::{Column, Rows, column},
    theme::Theme,
};
use crate::app::{state::State, view::listeners};

const WIDE_COLUMNS: [Column; 8] = [
    column("Flag", 4, 13),
    column("Owner", 8, 20),
    column("Local", 15, 47),
    column("Netns", 5, 10),
    column("Queue", 5, 11),
    column("Drops", 5, 16),
    column("Half-open", 4, 9),
    column("SYN-ACK retr", 4, 12),
];

const NARROW_COLUMNS: [Column; 7] = [
    column("Flag", 4, 13),
    column("Owner", 8, 12),
    column("Local", 15, 47),
    column("Queue", 5, 11),
    column("Drops", 5, 12),
    column("Half-open", 4, 9),
    column("SYN-ACK retr", 4, 12),
];

/// Narrower panes leave out the namespace.
const WIDE: u16 = 100;

pub fn render(state: &State, area: Rect, buf: &mut Buffer) {
    let theme = Theme::new(state.color);
    let view = state.view();
    let height = usize::from(area.height.saturating_sub(2));
    let listed = listeners::rows(&view, &state.filter, 0, height);
    let (total, flagged) = (listed.total, listed.flagged);
    let title = match flagged {
        0 => format!("Listeners ({total})"),
        _ => format!("Listeners ({total}, {flagged} full or dropping)"),
    };
    let wide = area.width >= WIDE;
    let rows = listed
        .rows
        .into_iter()
        .map(|row| {
            let mut cells = vec![row.flag, row.owner, row.local];
            if wide {
                cells.push(row.netns);
            }
            cells.extend([row.queue, row.drops, row.half_open, row.synack_retransmits]);
            (row.tone, cells)
        })
        .collect();
    Rows::glance(if wide { &WIDE_COLUMNS } else { &NARROW_COLUMNS }, rows).render_pane(
        title,
        "No listener passes the filter (they appear with the first survey).",
        area,
        buf,
        &theme,
    );
}

#[cfg(test)]
#[path = "listeners_tests.rs"]
mod tests;
