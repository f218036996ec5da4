//! The RTO timeline pane of the selected flow: a time axis with every
//! retransmission (●), reset (R) and the end (×), the projected
//! retransmissions (○) and give-up window (░) drawn dim, then one line per
//! entry that reads the same in plain text: offset, marker, what happened.

use ratatui::{
    buffer::Buffer,
    layout::Rect,
    style::Style,
    text::{Line, Span},
    widgets::{Paragraph, Widget as _},
};

use super::{pane, theme::Theme};
use crate::{
    app::{
        observed::FlowKey,
        state::{Pane, State},
        view::{
            Tone, format, sockinfo,
            timeline::{self, Mark},
            window_start,
        },
    },
    model::{flow::Flow, socket::Tuple},
};

pub fn render(state: &State, area: Rect, buf: &mut Buffer) {
    render_flow(state, state.timeline_flow(), area, buf);
}

/// Draws the pane when the flow under the Flows cursor is known.
pub fn render_following(
    state: &State,
    under_cursor: Option<FlowKey>,
    area: Rect,
    buf: &mut Buffer,
) -> Option<Tuple> {
    let shown = state.timeline_flow_or(|| under_cursor);
    let live = shown.and_then(|(flow, _)| flow.end.is_none().then(|| flow.tuple()));
    render_flow(state, shown, area, buf);
    live
}

fn render_flow(state: &State, shown: Option<(&Flow, bool)>, area: Rect, buf: &mut Buffer) {
    let theme = Theme::new(state.color);
    let focused = state.focus == Pane::Timeline;
    let view = state.view();
    let Some((flow, pinned)) = shown else {
        let block = pane::block("RTO timeline".to_string(), focused, &theme);
        let hint = "No flow to show: move to one in Flows, or press Enter on a flow, \
                    an attempt or a closed entry.";
        Paragraph::new(Span::styled(hint, theme.tone(Tone::Dim)))
            .wrap(ratatui::widgets::Wrap { trim: true })
            .block(block)
            .render(area, buf);
        return;
    };
    let timeline = timeline::build(flow, view.recent, view.now);
    let pinned = if pinned { " [selected]" } else { "" };
    let title = format!("RTO timeline: {}{pinned}", timeline.title);
    let block = pane::block(title, focused, &theme);
    let inner = block.inner(area);
    block.render(area, buf);
    let mut lines = vec![axis(&timeline, inner.width, &theme)];
    // The socket's details, as room allows: entries come first.
    let info = sockinfo::lines(flow, view.now);
    let shown = match inner.height {
        9.. => info.len(),
        5..=8 => 1,
        _ => 0,
    };
    lines.extend(
        info.into_iter()
            .take(shown)
            .map(|line| Line::styled(format!(" {line}"), theme.label())),
    );
    let height = usize::from(inner.height).saturating_sub(lines.len());
    let cursor = state.cursors.timeline;
    let start = window_start(cursor, height);
    for (index, entry) in timeline.entries.iter().enumerate().skip(start).take(height) {
        let style = entry_style(entry.mark, &theme);
        let at_cursor = focused && index == cursor;
        let marker = if at_cursor { ">" } else { " " };
        let text = format!(
            "{marker}{:>9} {} {}",
            entry.offset,
            entry.mark.symbol(),
            entry.text
        );
        let style = match at_cursor {
            true => style.patch(theme.cursor()),
            false => style,
        };
        lines.push(Line::styled(text, style));
    }
    Paragraph::new(lines).render(inner, buf);
}

fn entry_style(mark: Mark, theme: &Theme) -> Style {
    match mark {
        Mark::Start | Mark::Now => theme.tone(Tone::Normal),
        Mark::Retransmit => theme.tone(Tone::Warn),
        Mark::Reset | Mark::End => theme.tone(Tone::Bad),
        Mark::Projected | Mark::GiveUp => theme.projected(),
    }
}

/// `0s ├──●───●──○───░░░ +23.0s`: the axis between its start and end.
fn axis<'a>(timeline: &timeline::Timeline, width: u16, theme: &Theme) -> Line<'a> {
    let start_label = " 0s ";
    let end_label = format!(" {}", format::offset(timeline.end - timeline.start));
    let room = usize::from(width).saturating_sub(start_label.len() + end_label.len());
    let mut spans = vec![Span::styled(start_label, theme.label())];
    spans.extend(
        timeline::axis(timeline, room)
            .into_iter()
            .map(|(symbol, mark)| {
                let style = mark.map_or_else(|| theme.label(), |mark| entry_style(mark, theme));
                Span::styled(symbol.to_string(), style)
            }),
    );
    spans.push(Span::styled(end_label, theme.label()));
    Line::from(spans)
}
