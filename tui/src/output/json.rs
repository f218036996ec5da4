//! The `--json` writer: each model type converted into its line of the
//! contract in [`crate::wire`], one JSON object per line.

use std::collections::BTreeMap;

use crate::{
    model::{
        counters::Counters,
        destinations::{Summary, WINDOW},
        errno,
        event::{Event, EventKind, Nanos, RetransmitCause, Task},
        flow::Flow,
        forecast::Forecast,
        table::{Applied, TableCounts},
    },
    source::{Delivered, SourceInfo},
    wire::{
        self, CountersLine, DestinationLine, DropLine, Endpoints, EventFields, FlowEndLine,
        FlowLine, Line, OpenedLine, OpensLine, OwnerFields, PodFields, ProbeFailure,
        RetransmitLine, SockinfoLine, StateLine, StatsLine, SynAckLine, rfc3339,
    },
};

/// A forecast's three fields, as every line that carries one writes them.
struct GiveUp {
    earliest: Option<String>,
    latest: Option<String>,
    error: Option<String>,
}

impl GiveUp {
    fn of(forecast: Option<&Forecast>) -> Self {
        Self {
            earliest: forecast.map(|forecast| rfc3339(forecast.give_up_earliest)),
            latest: forecast.map(|forecast| rfc3339(forecast.give_up_latest)),
            error: forecast.map(|forecast| forecast.error.to_string()),
        }
    }
}

/// A flow's owner as `flow` and `sockinfo` lines carry it.
fn owner_fields(flow: &Flow) -> OwnerFields {
    OwnerFields {
        owner_pid: flow.owner.as_ref().map(|task| task.pid),
        owner_comm: flow.owner.as_ref().map(|task| task.comm.to_string()),
        unit: flow.unit.as_deref().map(str::to_string),
        pod: flow.pod.as_deref().map(PodFields::from),
    }
}

/// An event line; `owner` is its flow's, `applied` what the table made
/// of it, and `forecast` the flow's give-up forecast after a
/// retransmission, sent or kept on this host.
pub fn event_line(
    event: &Event,
    owner: Option<&Task>,
    applied: &Applied,
    forecast: Option<&Forecast>,
) -> String {
    let fields = EventFields {
        ts: rfc3339(event.ts),
        sock: event.sock.map(|sock| sock.to_string()),
        endpoints: Endpoints::new(event.local, event.remote, event.netns),
        pid: owner.map(|task| task.pid),
        comm: owner.map(|task| task.comm.to_string()),
    };
    let give_up = GiveUp::of(forecast);
    let line = match &event.kind {
        EventKind::State {
            old,
            new,
            err,
            stack,
        } => Line::State(StateLine {
            event: fields,
            old_state: old.name().to_string(),
            new_state: new.name().to_string(),
            err: errno::label(*err),
            stack: stack.as_deref().map(<[String]>::to_vec),
        }),
        EventKind::Retransmit(retransmit) => Line::Retransmit(RetransmitLine {
            event: fields,
            rto_ms: retransmit.rto_ms,
            backoff: retransmit.backoff,
            retransmits: retransmit.retransmits,
            tlp: retransmit.cause == RetransmitCause::LossProbe,
            cause: retransmit.cause.name().to_string(),
            state: retransmit.state.map(|state| state.name().to_string()),
            limits: retransmit.limits.as_ref().map(wire::LimitsField::from),
            give_up_earliest: give_up.earliest,
            give_up_latest: give_up.latest,
            give_up_error: give_up.error,
        }),
        EventKind::SynAckRetransmit {
            retransmits,
            timeouts,
        } => Line::SynackRetransmit(SynAckLine {
            event: fields,
            retransmits: *retransmits,
            timeouts: *timeouts,
        }),
        EventKind::Drop(dropped) => Line::Drop(DropLine {
            event: fields,
            reason: dropped.reason.to_string(),
            location: dropped.location.to_string(),
            flags: dropped.flags.to_string(),
            outgoing: dropped.outgoing,
            stack: dropped.stack.as_deref().unwrap_or(&[]).to_vec(),
            kept_retransmit: applied.kept_on_host,
            give_up_earliest: give_up.earliest,
            give_up_latest: give_up.latest,
            give_up_error: give_up.error,
        }),
        EventKind::ResetSent => Line::ResetSent(fields),
        EventKind::ResetReceived => Line::ResetReceived(fields),
        EventKind::Destroyed => Line::Destroy(fields),
        EventKind::Opened {
            opened_as,
            established_at,
        } => Line::Opened(OpenedLine {
            event: fields,
            opened_as: opened_as.name().to_string(),
            established_ts: established_at.map(rfc3339),
        }),
        EventKind::Opens {
            attempts,
            established,
        } => Line::Opens(OpensLine {
            event: fields,
            attempts: *attempts,
            established: *established,
        }),
    };
    line.to_json()
}

/// The `flow_end` line of an ended flow (None while the flow is live).
pub fn flow_end_line(flow: &Flow) -> Option<String> {
    let end = flow.end.as_ref()?;
    let line = Line::FlowEnd(FlowEndLine {
        ts: rfc3339(end.at),
        sock: flow.sock.to_string(),
        endpoints: Endpoints::new(flow.local, flow.remote, flow.netns),
        owner_pid: flow.owner.as_ref().map(|task| task.pid),
        owner_comm: flow.owner.as_ref().map(|task| task.comm.to_string()),
        reason: end.reason.name().to_string(),
        duration_ms: flow.duration(end.at) / 1_000_000,
        seen_from_start: flow.seen_from_start,
        retransmits: flow.retransmit_count,
        resets_received: flow.resets_received,
        err: errno::label(end.err),
        last_state: end.last_state.name().to_string(),
        stack: end.stack.as_deref().unwrap_or(&[]).to_vec(),
    });
    Some(line.to_json())
}

/// The `flow` line of a flow found open at start-up, with what its
/// `tcp_info` said and, when it is retransmitting, its give-up forecast.
pub fn flow_line(flow: &Flow, forecast: Option<&Forecast>) -> String {
    let details = flow.socket.as_ref().map(|sample| sample.details);
    let give_up = GiveUp::of(forecast);
    let line = Line::Flow(FlowLine {
        ts: rfc3339(flow.first_seen),
        endpoints: Endpoints::new(flow.local, flow.remote, flow.netns),
        preexisting: flow.preexisting,
        state: flow.state.name().to_string(),
        owner: owner_fields(flow),
        rto_ms: details.map(|d| d.rto_ms),
        backoff: details.map(|d| d.backoff),
        retransmits: details.map(|d| d.retransmits),
        unacked: details.map(|d| d.unacked),
        last_send_ms: details.map(|d| d.last_send_ms),
        give_up_earliest: give_up.earliest,
        give_up_latest: give_up.latest,
        give_up_error: give_up.error,
    });
    line.to_json()
}

/// A `sockinfo` line: the flow's `tcp_info` at the latest survey (None
/// when no survey read it).
pub fn sockinfo_line(flow: &Flow) -> Option<String> {
    let sample = flow.socket.as_ref()?;
    let line = Line::Sockinfo(SockinfoLine {
        ts: rfc3339(sample.at),
        endpoints: Endpoints::new(flow.local, flow.remote, flow.netns),
        state: flow.state.name().to_string(),
        owner: owner_fields(flow),
        send_queue: sample.send_queue,
        receive_queue: sample.receive_queue,
        info: wire::TcpInfo::from(&sample.details),
    });
    Some(line.to_json())
}

pub fn stats_line(
    at: Nanos,
    totals: Delivered,
    counts: TableCounts,
    source: &SourceInfo,
) -> String {
    let line = Line::Stats(StatsLine {
        ts: rfc3339(at),
        events: totals.events,
        lost: totals.lost,
        malformed: totals.malformed,
        netns_unreadable: totals.netns_unreadable,
        flows_live: counts.live as u64,
        flows_ended: counts.ended as u64,
        flows_evicted: counts.evicted_live + counts.evicted_ended,
        probes_attached: source.attached() as u64,
        probes_failed: source
            .probes
            .iter()
            .filter_map(|probe| {
                Some(ProbeFailure {
                    probe: probe.name.clone(),
                    error: probe.failure.clone()?,
                })
            })
            .collect(),
    });
    line.to_json()
}

/// The `destination` line of one remote address:port: its counts over the
/// window that ends at `at`, and its verdict.
pub fn destination_line(at: Nanos, summary: &Summary<'_>) -> String {
    let tally = &summary.tally;
    let line = Line::Destination(DestinationLine {
        ts: rfc3339(at),
        family: wire::family(summary.remote),
        daddr: summary.remote.ip(),
        dport: summary.remote.port(),
        window_s: WINDOW / 1_000_000_000,
        verdict: summary.verdict.name().to_string(),
        attempts: tally.attempts,
        established: tally.established,
        timeouts: tally.timeouts,
        refused: tally.refused,
        resets: tally.resets,
        abandoned: tally.abandoned,
        syn_retransmits: tally.syn_retransmits,
        retransmits: tally.retransmits,
        drops: tally.drops,
        last_drop_reason: summary.last_drop_reason.map(str::to_string),
    });
    line.to_json()
}

/// The `counters` line of one namespace: the watched counters that moved
/// in its latest sample (None when none did).
pub fn counters_line(netns: u32, counters: &Counters) -> Option<String> {
    let deltas: BTreeMap<String, i64> = counters
        .moved()
        .map(|reading| (reading.counter.name.to_string(), reading.delta))
        .collect();
    if deltas.is_empty() {
        return None;
    }
    let line = Line::Counters(CountersLine {
        ts: rfc3339(counters.at),
        netns,
        deltas,
    });
    Some(line.to_json())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        model::socket::{Scope, Survey},
        source::Batch,
    };

    fn surveyed(scope: Scope, failures: &[&str]) -> Batch {
        Batch {
            survey: Some(Survey {
                scope,
                failures: failures.iter().map(|f| f.to_string()).collect(),
                ..Survey::default()
            }),
            ..Batch::default()
        }
    }

    #[test]
    fn unreadable_namespaces_are_counted_until_a_full_survey_reads_them() {
        let mut totals = Delivered::default();
        totals.take(&surveyed(
            Scope::Initial,
            &["netns 1: EPERM", "netns 2: EPERM"],
        ));
        assert_eq!(totals.netns_unreadable, 2);
        totals.take(&surveyed(Scope::Watched, &[]));
        assert_eq!(
            totals.netns_unreadable, 2,
            "one socket's look-up says nothing"
        );
        let line = stats_line(0, totals, TableCounts::default(), &SourceInfo::default());
        assert!(line.contains("\"netns_unreadable\":2"), "{line}");
        totals.take(&surveyed(Scope::Full, &[]));
        assert_eq!(totals.netns_unreadable, 0);
    }
}
