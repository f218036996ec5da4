//! The header: where the data comes from (host and kernel, or the
//! recording), the probes and, on the right, whether the view is LIVE,
//! FROZEN or a REPLAY; under them the event rate, lost and malformed events
//! (never hidden: lost ones alert), the flow counts and the active filter
//! (on the first line when only there it fits).

use std::path::Path;

use ratatui::{
    buffer::Buffer,
    layout::{Constraint, Layout, Rect},
    text::{Line, Span},
    widgets::{Paragraph, Widget as _},
};

use super::theme::Theme;
use crate::app::{
    state::{Origin, State},
    view::format,
};

pub fn render(state: &State, area: Rect, buf: &mut Buffer) {
    let theme = Theme::new(state.color);
    let view = state.view();
    let label = |text: &'static str| Span::styled(text, theme.label());
    let mut first = vec![Span::styled("tcpscope  ", theme.title(false))];
    match &state.source.origin {
        Origin::Live { host, kernel } => first.extend([
            Span::raw(format!("{host}  ")),
            label("Linux "),
            Span::raw(format!("{kernel}  ")),
        ]),
        Origin::Replay { path, speed } => {
            let name = Path::new(path)
                .file_name()
                .map_or_else(|| path.clone(), |name| name.to_string_lossy().into_owned());
            let pace = if *speed > 0.0 {
                format!("x{speed}")
            } else {
                "max speed".to_string()
            };
            first.extend([label("replay "), Span::raw(format!("{name} ({pace})  "))]);
        }
    }
    first.push(label("probes "));
    first.push(Span::raw(format!(
        "{} attached",
        state.source.probes_attached
    )));
    if !state.source.probes_failed.is_empty() {
        first.push(Span::raw(", "));
        let mut failed = format!("{} failed", state.source.probes_failed.len());
        if !state.source.degraded_pages.is_empty() {
            let pages = state.source.degraded_pages.join(", ");
            failed.push_str(&format!(" (degraded: {pages})"));
        }
        first.push(Span::styled(failed, theme.alert()));
    }
    if view.totals.netns_unreadable > 0 {
        let unreadable = format!("  {} netns unreadable", view.totals.netns_unreadable);
        first.push(Span::styled(unreadable, theme.alert()));
    }

    let totals = view.totals;
    let counts = view.counts;
    let lost = format::count(totals.lost);
    let second = vec![
        label("events/s "),
        Span::raw(format!("{:.0}", view.events_per_sec)),
        label("  lost "),
        match totals.lost {
            0 => Span::raw(lost),
            _ => Span::styled(lost, theme.alert()),
        },
        label("  malformed "),
        Span::raw(format::count(totals.malformed)),
        label("  flows "),
        Span::raw(format!(
            "{} live {} ended {} evicted",
            format::count(counts.live as u64),
            format::count(counts.ended as u64),
            format::count(counts.evicted_live + counts.evicted_ended),
        )),
    ];
    let filter = [
        label("  filter "),
        match state.filter.is_empty() {
            true => Span::raw("none"),
            false => Span::styled(state.filter.to_string(), theme.key()),
        },
    ];
    let badge = badge(state, &theme);
    // The filter goes where it fits: after the counts, else after the
    // source, else after the counts again (cut at the edge).
    let (mut first, mut second) = (Line::from(first), Line::from(second));
    let filter_width = filter.iter().map(Span::width).sum::<usize>();
    let room = usize::from(area.width);
    if second.width() + filter_width > room && first.width() + filter_width + badge.width() <= room
    {
        first.extend(filter);
    } else {
        second.extend(filter);
    }
    let [top, bottom] = Layout::vertical([Constraint::Length(1); 2]).areas(area);
    let [left, right] =
        Layout::horizontal([Constraint::Min(0), Constraint::Length(badge.width() as u16)])
            .areas(top);
    Paragraph::new(first).render(left, buf);
    Paragraph::new(Line::from(badge)).render(right, buf);
    Paragraph::new(second).render(bottom, buf);
}

fn badge(state: &State, theme: &Theme) -> Span<'static> {
    let replay = matches!(state.source.origin, Origin::Replay { .. });
    let (text, live) = match (&state.frozen, replay, state.source_done) {
        (Some(_), _, _) => (" FROZEN ", false),
        (None, true, true) => (" REPLAY ended ", false),
        (None, true, false) => (" REPLAY ", true),
        (None, false, _) => (" LIVE ", true),
    };
    Span::styled(text, theme.badge(live))
}
