//! What the user can ask for, as data, and `update`: the one place that
//! changes the state in answer. Work outside the state (writing a snapshot,
//! leaving) is returned as an [`Effect`] for the event loop to carry out.

use tui_input::InputRequest;

use super::{
    state::{Mode, Page, Pane, State},
    view::{attempts, closed, flows, timeline},
};
use crate::model::filter::Filter;

/// Rows one PageUp/PageDown moves.
const PAGE: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Quit,
    OpenFilter,
    /// Edit the filter box's text.
    EditFilter(InputRequest),
    ApplyFilter,
    CancelFilter,
    FocusNext,
    FocusPrevious,
    /// Show a page of the screen.
    ShowPage(Page),
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    /// Show the flow under the cursor in the timeline.
    Pick,
    CycleSort,
    ToggleFreeze,
    Snapshot,
    ToggleHelp,
}

/// Work for the event loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    None,
    Quit,
    /// Write the current view to a snapshot file.
    Snapshot,
}

pub fn update(state: &mut State, action: Action) -> Effect {
    match action {
        Action::Quit => return Effect::Quit,
        Action::Snapshot => return Effect::Snapshot,
        Action::OpenFilter => {
            state.mode = Mode::Filter;
            state.input = state.filter.to_string().into();
            state.filter_error = None;
        }
        Action::EditFilter(request) => {
            state.input.handle(request);
        }
        Action::ApplyFilter => apply_filter(state),
        Action::CancelFilter => {
            state.mode = Mode::Normal;
            state.filter_error = None;
        }
        Action::FocusNext => state.focus = state.focus.next(state.page),
        Action::FocusPrevious => state.focus = state.focus.previous(state.page),
        Action::ShowPage(page) => {
            if state.page != page {
                state.page = page;
                state.focus = match page {
                    Page::Connections => Pane::Flows,
                    _ => page.panes()[0],
                };
            }
        }
        Action::Up => move_cursor(state, |cursor, _| cursor.saturating_sub(1)),
        Action::Down => move_cursor(state, |cursor, _| cursor + 1),
        Action::PageUp => move_cursor(state, |cursor, _| cursor.saturating_sub(PAGE)),
        Action::PageDown => move_cursor(state, |cursor, _| cursor + PAGE),
        Action::Top => move_cursor(state, |_, _| 0),
        Action::Bottom => move_cursor(state, |_, len| len),
        Action::Pick => pick(state),
        Action::CycleSort => {
            state.sort = state.sort.next();
            state.set_status(format!("flows sorted by {}", state.sort.name()), false);
        }
        Action::ToggleFreeze => toggle_freeze(state),
        Action::ToggleHelp => {
            state.mode = match state.mode {
                Mode::Help => Mode::Normal,
                _ => Mode::Help,
            };
        }
    }
    Effect::None
}

fn apply_filter(state: &mut State) {
    match state.input.value().parse::<Filter>() {
        Ok(filter) => {
            state.filter = filter;
            state.mode = Mode::Normal;
            state.filter_error = None;
            state.cursors = Default::default();
            let shown = if state.filter.is_empty() {
                "none (every flow)".to_string()
            } else {
                state.filter.to_string()
            };
            state.set_status(format!("filter: {shown}"), false);
        }
        Err(error) => state.filter_error = Some(error.to_string()),
    }
}

/// Moves the focused pane's cursor to `to(cursor, rows)`, kept on a row.
fn move_cursor(state: &mut State, to: impl Fn(usize, usize) -> usize) {
    let rows = rows(state, state.focus);
    let cursor = state.cursors.get_mut(state.focus);
    *cursor = to(*cursor, rows).min(rows.saturating_sub(1));
}

/// How many rows `pane` has.
fn rows(state: &State, pane: Pane) -> usize {
    let view = state.view();
    match pane {
        Pane::SynSent => attempts::count(&view, &state.filter),
        Pane::Flows => flows::count(&view, &state.filter),
        Pane::Closed => closed::count(&view, &state.filter),
        Pane::Timeline => state.timeline_flow().map_or(0, |(flow, _)| {
            timeline::build(flow, view.recent, view.now).entries.len()
        }),
        Pane::Drops => view.drops.summary(&state.filter, view.now).newest.len(),
        Pane::Destinations | Pane::Counters | Pane::Listeners => 0,
    }
}

fn pick(state: &mut State) {
    let view = state.view();
    let cursor = state.cursors.get(state.focus);
    let key = match state.focus {
        Pane::SynSent => attempts::at(&view, &state.filter, cursor),
        Pane::Flows => flows::at(&view, &state.filter, state.sort, cursor),
        Pane::Closed => closed::at(&view, &state.filter, cursor),
        // Enter on the timeline lets it follow the Flows cursor again.
        Pane::Timeline => None,
        // The Drops page shows the stack of the drop under the cursor; the
        // other pages have no rows to pick.
        Pane::Drops | Pane::Destinations | Pane::Counters | Pane::Listeners => return,
    };
    state.pinned = key;
    state.cursors.timeline = 0;
}

fn toggle_freeze(state: &mut State) {
    if state.frozen.take().is_none() {
        state.frozen = Some(state.observed.freeze());
        state.set_status(
            "frozen: the view stays as it is, data is still collected",
            false,
        );
    } else {
        state.set_status("live again", false);
    }
}
