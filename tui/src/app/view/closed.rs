//! The "closed on timeout" pane as data: flows the kernel gave up on
//! (timeout), that their application abandoned while connecting or aborted,
//! and resets (refused, reset); newest first, with the kernel stack of the
//! close for the selected one.

use super::{Tone, format};
use crate::{
    app::observed::{FlowKey, View},
    model::{
        event::Stack,
        filter::Filter,
        flow::{EndReason, Flow},
    },
};

/// The endings this pane lists.
const LISTED: [EndReason; 5] = [
    EndReason::Timeout,
    EndReason::Abandoned,
    EndReason::Refused,
    EndReason::Reset,
    EndReason::Aborted,
];

/// One ended flow as the pane shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ClosedRow {
    pub key: FlowKey,
    /// Time of day of the end.
    pub when: String,
    pub owner: String,
    pub local: String,
    pub remote: String,
    pub duration: String,
    pub retransmits: String,
    /// `timeout ETIMEDOUT`, `refused ECONNREFUSED`...
    pub error: String,
    pub tone: Tone,
}

fn listed<'a>(view: &View<'a>, filter: &'a Filter) -> impl Iterator<Item = &'a Flow> + 'a {
    view.flows.ended_newest_first().filter(move |flow| {
        flow.end
            .as_ref()
            .is_some_and(|end| LISTED.contains(&end.reason))
            && filter.matches_flow(flow)
    })
}

/// Rows `start..start + len` of the pane, and how many rows there are.
pub fn rows(
    view: &View<'_>,
    filter: &Filter,
    start: usize,
    len: usize,
    utc_offset: i64,
) -> (usize, Vec<ClosedRow>) {
    let mut total = 0;
    let mut rows = Vec::new();
    for (index, flow) in listed(view, filter).enumerate() {
        total += 1;
        if (start..start + len).contains(&index) {
            rows.push(row(flow, utc_offset));
        }
    }
    (total, rows)
}

/// The flow on row `index` of the pane.
pub fn at(view: &View<'_>, filter: &Filter, index: usize) -> Option<FlowKey> {
    listed(view, filter).nth(index).map(FlowKey::from)
}

/// How many rows the pane lists.
pub fn count(view: &View<'_>, filter: &Filter) -> usize {
    listed(view, filter).count()
}

/// The kernel stack of the close of the flow on row `index`.
pub fn stack(view: &View<'_>, filter: &Filter, index: usize) -> Option<Stack> {
    listed(view, filter)
        .nth(index)
        .and_then(|flow| flow.end.as_ref()?.stack.clone())
}

/// Frames every change of state runs through: they say nothing about why.
const PLUMBING: [&str; 3] = ["inet_sk_state_store", "tcp_set_state", "tcp_done"];

/// A stack on one line: the state-change plumbing at its top left out,
/// offsets dropped, callers after callees: `tcp_retransmit_timer <
/// tcp_write_timer < call_timer_fn`.
pub fn stack_line(stack: &[String]) -> String {
    let function = |frame: &String| frame.split('+').next().unwrap_or(frame).to_string();
    let frames: Vec<String> = stack.iter().map(function).collect();
    let skip = frames
        .iter()
        .take_while(|frame| PLUMBING.contains(&frame.as_str()))
        .count();
    frames[skip.min(frames.len().saturating_sub(1))..].join(" < ")
}

fn row(flow: &Flow, utc_offset: i64) -> ClosedRow {
    let (when, error, tone) = match &flow.end {
        Some(end) => (
            format::time_of_day(end.at, utc_offset),
            format::end(end),
            if matches!(end.reason, EndReason::Abandoned | EndReason::Aborted) {
                Tone::Warn
            } else {
                Tone::Bad
            },
        ),
        None => ("-".to_string(), "-".to_string(), Tone::Normal),
    };
    let ended = flow.end.as_ref().map_or(flow.last_event, |end| end.at);
    ClosedRow {
        key: FlowKey::from(flow),
        when,
        owner: format::owner(flow.owner.as_ref()),
        local: format::addr(flow.local),
        remote: format::addr(flow.remote),
        duration: format::duration(flow.duration(ended)),
        retransmits: flow.retransmit_count.to_string(),
        error,
        tone,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stack_line_starts_where_the_reason_is() {
        let stack: Vec<String> = [
            "inet_sk_state_store+0x62",
            "tcp_done+0x2e",
            "tcp_done_with_error+0x1c",
            "tcp_retransmit_timer+0x410",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            stack_line(&stack),
            "tcp_done_with_error < tcp_retransmit_timer"
        );
        assert_eq!(stack_line(&stack[..1]), "inet_sk_state_store");
        assert_eq!(stack_line(&[]), "");
    }
}
