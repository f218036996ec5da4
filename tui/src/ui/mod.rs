//! The screen, drawn from the state alone: one file per pane, each a pure
//! function of (&State, Rect, &mut Buffer). Layout at 80x24 (from 140
//! columns the timeline and the closed pane sit side by side):
//!
//! ```text
//! tcpscope host web-1  kernel 6.18.0  probes 6 attached   LIVE
//! events/s 120  lost 0  malformed 0  flows 812 live 40 ended 0 evicted  filter port:443
//! ── SYN_SENT retries (1) ──────────────────────────────────────────────
//!   Owner  Local  Remote  SYNs  Since  Last RTO  Outcome
//! ── Flows (812, by retransmits) ───────────────────────────────────────
//!   State  Owner  Local  Remote  Retr  RTO  Gives up
//! ── RTO timeline: curl[42] 10.0.0.1:4711 → 10.0.0.2:80 ───────────────
//!   0s ├───●──●────●────────○────────░░░░░░ +23.0s
//! ── Closed on timeout or reset (3) ────────────────────────────────────
//!   When  Owner  Local  Remote  Dur  Retr  Error
//!   kernel stack of the close: inet_sk_state_store < tcp_done < ...
//! status line
//! ?:help  q:quit  /:filter  Tab:pane ...
//! ```
//!
//! The filter box and the help are drawn over the panes.

pub mod closed;
pub mod counters;
pub mod destinations;
pub mod drops;
pub mod filter_box;
pub mod flows;
pub mod footer;
pub mod header;
pub mod help;
pub mod layout;
pub mod listeners;
pub mod pane;
pub mod stack;
pub mod syn_sent;
pub mod text;
pub mod theme;
pub mod timeline;

use ratatui::{Frame, buffer::Buffer, layout::Rect};

use crate::{
    app::state::{Page, State},
    model::socket::Tuple,
};

/// Draws the whole screen, overlays included, and places the cursor.
/// Returns the live flow whose socket details the timeline shows.
pub fn draw(frame: &mut Frame, state: &State) -> Option<Tuple> {
    let area = frame.area();
    let shown = render(state, area, frame.buffer_mut());
    help::render(state, area, frame.buffer_mut());
    if let Some(cursor) = filter_box::render(state, area, frame.buffer_mut()) {
        frame.set_cursor_position(cursor);
    }
    shown
}

/// Draws the current page, without overlays: the view a snapshot holds.
/// Returns the live flow the timeline shows.
pub fn render(state: &State, area: Rect, buf: &mut Buffer) -> Option<Tuple> {
    let areas = layout::areas(area);
    header::render(state, areas.header, buf);
    let shown = render_body(state, state.page, &areas, buf);
    footer::render_status(state, areas.status, buf);
    footer::render_keys(state, areas.footer, buf);
    shown
}

/// Draws `page`'s panes between the header and the status line.
pub fn render_body(
    state: &State,
    page: Page,
    areas: &layout::Areas,
    buf: &mut Buffer,
) -> Option<Tuple> {
    match page {
        Page::Connections => {
            syn_sent::render(state, areas.syn_sent, buf);
            let under_cursor = flows::render(state, areas.flows, buf);
            let shown = timeline::render_following(state, under_cursor, areas.timeline, buf);
            closed::render(state, areas.closed, buf);
            shown
        }
        Page::Drops => {
            drops::render(state, areas.body, buf);
            None
        }
        Page::Destinations => {
            destinations::render(state, areas.body, buf);
            None
        }
        Page::Counters => {
            counters::render(state, areas.body, buf);
            None
        }
        Page::Listeners => {
            listeners::render(state, areas.body, buf);
            None
        }
    }
}

#[cfg(test)]
mod tests;
