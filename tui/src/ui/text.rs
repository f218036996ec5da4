//! The screen as plain text, for snapshots: the same frame drawn into a
//! buffer, dumped line by line without styles, trailing spaces trimmed,
//! under a header block that says when, where, what filter and how
//! complete the data is.

use ratatui::{
    buffer::{Buffer, CellWidth as _},
    layout::Rect,
};

use crate::{
    app::{
        state::{Origin, Page, State},
        view::format,
    },
    model::event::Nanos,
    wire::rfc3339,
};

/// The text of `buf`, one line per row, trailing spaces trimmed.
pub fn buffer_text(buf: &Buffer) -> String {
    let width = usize::from(buf.area.width).max(1);
    let mut text = String::with_capacity(buf.content().len() + usize::from(buf.area.height));
    for row in buf.content().chunks(width) {
        let mut line = String::with_capacity(width);
        let mut hidden = 0u16;
        for cell in row {
            if hidden == 0 {
                line.push_str(cell.symbol());
            }
            hidden = hidden.max(cell.cell_width()).saturating_sub(1);
        }
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}

/// The screen of `state` at `width` x `height`, as text.
pub fn screen(state: &State, width: u16, height: u16) -> String {
    let area = Rect::new(0, 0, width, height);
    let mut buf = Buffer::empty(area);
    let _ = super::render(state, area, &mut buf);
    buffer_text(&buf)
}

/// The other pages' bodies at `width` x `height`, each under its name, so
/// that a snapshot holds every page whichever one is on screen.
fn other_pages(state: &State, width: u16, height: u16) -> String {
    let area = Rect::new(0, 0, width, height);
    let areas = super::layout::areas(area);
    let mut text = String::new();
    for page in Page::ALL.into_iter().filter(|page| *page != state.page) {
        let mut buf = Buffer::empty(areas.body);
        let _ = super::render_body(state, page, &areas, &mut buf);
        text.push_str(&format!("\n[page: {}]\n", page.name()));
        text.push_str(&buffer_text(&buf));
    }
    text
}

/// A snapshot file's text: the header block, the screen, then the other
/// pages.
pub fn snapshot(state: &State, width: u16, height: u16, taken: Nanos) -> String {
    let view = state.view();
    let mut text = String::from("tcpscope snapshot\n");
    let mut field = |name: &str, value: String| {
        text.push_str(&format!("{name:<13}{value}\n"));
    };
    field(
        "time:",
        format!(
            "{} (local {})",
            rfc3339(taken),
            format::time_of_day(taken, state.utc_offset)
        ),
    );
    match &state.source.origin {
        Origin::Live { host, kernel } => {
            field("host:", host.clone());
            field("kernel:", kernel.clone());
        }
        Origin::Replay { path, .. } => {
            field("host:", format!("replay of the recording {path}"));
            field("kernel:", "as recorded".to_string());
        }
    }
    let filter = match state.filter.is_empty() {
        true => "none".to_string(),
        false => state.filter.to_string(),
    };
    field("filter:", filter);
    let failed = &state.source.probes_failed;
    let probes = match failed.is_empty() {
        true => format!("{} attached", state.source.probes_attached),
        false => format!(
            "{} attached, {} failed: {}",
            state.source.probes_attached,
            failed.len(),
            failed.join("; ")
        ),
    };
    field("probes:", probes);
    field("events lost:", view.totals.lost.to_string());
    field("malformed:", view.totals.malformed.to_string());
    let shown = match (&state.frozen, &state.source.origin) {
        (Some(_), _) => format!("FROZEN at {}", rfc3339(view.now)),
        (None, Origin::Replay { .. }) => format!("REPLAY at {}", rfc3339(view.now)),
        (None, Origin::Live { .. }) => "LIVE".to_string(),
    };
    field("view:", shown);
    text.push('\n');
    text.push_str(&screen(state, width, height));
    text.push_str(&other_pages(state, width, height));
    text
}
