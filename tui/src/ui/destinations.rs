//! The destinations pane: per remote address:port, the last 5 minutes of
//! connects (attempts, established), how flows failed (timeout, refused,
//! reset, abandoned), SYN and data retransmits and kernel drops, with a
//! one-word verdict; worst first, so a black-holed destination is the top
//! line.

use ratatui::{buffer::Buffer, layout::Rect};

use super::{
    pane::{Column, Rows, column},
    theme::Theme,
};
use crate::{
    app::{state::State, view::destinations},
    model::{destinations::WINDOW, event::Nanos},
};

/// From this width on, the columns have their whole names.
const WIDE: u16 = 100;
const MINUTE: Nanos = 60_000_000_000;

const WIDE_COLUMNS: [Column; 12] = [
    column("Remote", 15, 47),
    column("Verdict", 11, 11),
    column("Conns", 5, 6),
    column("Est", 3, 6),
    column("Timeout", 7, 7),
    column("Refused", 7, 7),
    column("Reset", 5, 6),
    column("Abandon", 7, 7),
    column("SYN rtx", 7, 7),
    column("Retrans", 7, 7),
    column("Idle", 5, 6),
    column("Drops", 5, 40),
];

/// The same columns under short names: timeouts, refused, resets,
/// abandoned, SYN retransmits, data retransmits.
const NARROW_COLUMNS: [Column; 12] = [
    column("Remote", 15, 47),
    column("Verdict", 11, 11),
    column("Conn", 4, 6),
    column("Est", 3, 6),
    column("T/O", 3, 6),
    column("Ref", 3, 6),
    column("RST", 3, 6),
    column("Abd", 3, 6),
    column("SYNr", 4, 6),
    column("Retr", 4, 6),
    column("Idle", 5, 6),
    column("Drops", 5, 40),
];

pub fn render(state: &State, area: Rect, buf: &mut Buffer) {
    let theme = Theme::new(state.color);
    let view = state.view();
    // The block's top line and the table's heading take two rows.
    let height = usize::from(area.height.saturating_sub(2));
    let (total, rows) = destinations::rows(&view, &state.filter, 0, height);
    let skipped = match state.filter.skips_terms_for_destinations() {
        true => "; filter: only port, dport and addr apply",
        false => "",
    };
    let title = format!(
        "Destinations ({total}, last {} min, worst first{skipped})",
        WINDOW / MINUTE
    );
    let columns = match area.width >= WIDE {
        true => WIDE_COLUMNS,
        false => NARROW_COLUMNS,
    };
    let rows = rows
        .into_iter()
        .map(|row| {
            let cells = vec![
                row.remote,
                row.verdict.to_string(),
                row.attempts,
                row.established,
                row.timeouts,
                row.refused,
                row.resets,
                row.abandoned,
                row.syn_retransmits,
                row.retransmits,
                row.idle,
                row.drops,
            ];
            (row.tone, cells)
        })
        .collect();
    Rows::glance(&columns, rows).render_pane(
        title,
        "No connect attempt in the last 5 minutes passes the filter.",
        area,
        buf,
        &theme,
    );
}

#[cfg(test)]
#[path = "destinations_tests.rs"]
mod tests;
