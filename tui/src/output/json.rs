//! The JSON-lines contract of `tcpscope --json`: one object per line, for
//! scripts, tests and recordings. Field names are stable; add, never rename.

use std::{
    collections::BTreeMap,
    net::{IpAddr, SocketAddr},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use serde::Serialize;

use crate::{
    model::{
        counters::Counters,
        destinations::{Summary, WINDOW},
        errno,
        event::{Event, EventKind, Nanos, SocketLimits, TcpState},
        flow::Flow,
        forecast::Forecast,
        socket::TcpDetails,
        table::{Applied, TableCounts},
    },
    source::SourceInfo,
};

/// RFC 3339 in UTC with microseconds.
pub fn rfc3339(at: Nanos) -> String {
    let time = UNIX_EPOCH + Duration::from_nanos(at);
    humantime::format_rfc3339_micros(time.max(UNIX_EPOCH)).to_string()
}

/// Parses [`rfc3339`] output back to nanoseconds.
pub fn parse_rfc3339(text: &str) -> Option<Nanos> {
    let (local, offset_s) = split_utc_offset(text)?;
    let time: SystemTime = humantime::parse_rfc3339(&format!("{local}Z")).ok()?;
    let utc_ns = i128::try_from(time.duration_since(UNIX_EPOCH).ok()?.as_nanos()).ok()?
        - i128::from(offset_s) * 1_000_000_000;
    u64::try_from(utc_ns).ok()
}

/// An RFC 3339 time's local part and its offset from UTC in seconds:
/// `Z`, or `+hh:mm` / `-hh:mm`.
fn split_utc_offset(text: &str) -> Option<(&str, i64)> {
    if let Some(local) = text.strip_suffix(['Z', 'z']) {
        return Some((local, 0));
    }
    let split = text.len().checked_sub(6)?;
    let (local, zone) = (text.get(..split)?, text.get(split..)?.as_bytes());
    let sign = match zone[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let two = |at: usize| -> Option<i64> {
        let digits = zone.get(at..at + 2)?;
        digits
            .iter()
            .all(u8::is_ascii_digit)
            .then(|| i64::from(digits[0] - b'0') * 10 + i64::from(digits[1] - b'0'))
    };
    let (hours, minutes) = (two(1)?, two(4)?);
    (zone[3] == b':' && hours < 24 && minutes < 60)
        .then_some((local, sign * (hours * 3600 + minutes * 60)))
}

/// Where a line's flow is: the same fields on event and flow_end lines.
#[derive(Serialize, serde::Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoints {
    pub family: u8,
    /// The local end.
    pub saddr: IpAddr,
    pub sport: u16,
    /// The remote end.
    pub daddr: IpAddr,
    pub dport: u16,
    /// Inode of the network namespace.
    pub netns: u32,
}

impl Endpoints {
    pub fn new(local: SocketAddr, remote: SocketAddr, netns: u32) -> Self {
        Self {
            family: if local.is_ipv4() { 4 } else { 6 },
            saddr: local.ip(),
            sport: local.port(),
            daddr: remote.ip(),
            dport: remote.port(),
            netns,
        }
    }
}

#[derive(Serialize)]
struct EventLine<'a> {
    kind: &'static str,
    ts: String,
    sock: Option<String>,
    #[serde(flatten)]
    endpoints: Endpoints,
    pid: Option<u32>,
    comm: Option<&'a str>,
    #[serde(flatten)]
    detail: Detail<'a>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Detail<'a> {
    State {
        old_state: &'static str,
        new_state: &'static str,
        err: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        stack: Option<&'a [String]>,
    },
    Retransmit {
        rto_ms: u32,
        backoff: u8,
        retransmits: u8,
        tlp: bool,
        cause: &'static str,
        /// The socket's state then.
        state: Option<&'static str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        limits: Option<SocketLimits>,
        /// When the kernel will give up on the flow, if nothing answers.
        give_up_earliest: Option<String>,
        give_up_latest: Option<String>,
        give_up_error: Option<&'static str>,
    },
    SynAck {
        retransmits: u8,
        timeouts: u8,
    },
    Drop {
        reason: &'a str,
        location: &'a str,
        /// The TCP flags of the segment, e.g. `SYN` or `ACK|PSH`.
        flags: String,
        /// This host was sending the segment (usually it was receiving).
        outgoing: bool,
        stack: &'a [String],
        /// A SYN retransmission kept on this host by local congestion: the
        /// kernel counted it as this one and retries in 500 ms.
        #[serde(skip_serializing_if = "Option::is_none")]
        kept_retransmit: Option<u8>,
        #[serde(skip_serializing_if = "Option::is_none")]
        give_up_earliest: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        give_up_latest: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        give_up_error: Option<&'static str>,
    },
    None {},
}

/// An event line; `applied` is what the table made of it (the flow's
/// owner), and `forecast` the flow's give-up forecast after a
/// retransmission, sent or kept on this host.
pub fn event_line(event: &Event, applied: &Applied, forecast: Option<&Forecast>) -> String {
    let owner = applied.owner.as_ref();
    let detail = match &event.kind {
        EventKind::State {
            old,
            new,
            err,
            stack,
        } => Detail::State {
            old_state: old.name(),
            new_state: new.name(),
            err: errno::label(*err),
            stack: stack.as_deref(),
        },
        EventKind::Retransmit(retransmit) => Detail::Retransmit {
            rto_ms: retransmit.rto_ms,
            backoff: retransmit.backoff,
            retransmits: retransmit.retransmits,
            tlp: retransmit.cause == crate::model::event::RetransmitCause::LossProbe,
            cause: retransmit.cause.name(),
            state: retransmit.state.map(TcpState::name),
            limits: retransmit.limits,
            give_up_earliest: forecast.map(|forecast| rfc3339(forecast.give_up_earliest)),
            give_up_latest: forecast.map(|forecast| rfc3339(forecast.give_up_latest)),
            give_up_error: forecast.map(|forecast| forecast.error),
        },
        EventKind::SynAckRetransmit {
            retransmits,
            timeouts,
        } => Detail::SynAck {
            retransmits: *retransmits,
            timeouts: *timeouts,
        },
        EventKind::Drop(dropped) => Detail::Drop {
            reason: &dropped.reason,
            location: &dropped.location,
            flags: dropped.flags.to_string(),
            outgoing: dropped.outgoing,
            stack: dropped.stack.as_deref().unwrap_or(&[]),
            kept_retransmit: applied.kept_on_host,
            give_up_earliest: forecast.map(|forecast| rfc3339(forecast.give_up_earliest)),
            give_up_latest: forecast.map(|forecast| rfc3339(forecast.give_up_latest)),
            give_up_error: forecast.map(|forecast| forecast.error),
        },
        EventKind::ResetSent | EventKind::ResetReceived | EventKind::Destroyed => Detail::None {},
    };
    let line = EventLine {
        kind: event.kind.name(),
        ts: rfc3339(event.ts),
        sock: event.sock.map(|sock| sock.to_string()),
        endpoints: Endpoints::new(event.local, event.remote, event.netns),
        pid: owner.map(|task| task.pid),
        comm: owner.map(|task| &*task.comm),
        detail,
    };
    to_line(&line)
}

#[derive(Serialize)]
struct FlowEndLine<'a> {
    kind: &'static str,
    ts: String,
    sock: String,
    #[serde(flatten)]
    endpoints: Endpoints,
    owner_pid: Option<u32>,
    owner_comm: Option<&'a str>,
    reason: &'static str,
    duration_ms: u64,
    /// False when the flow was already open when tcpscope started: its
    /// duration then counts from when tcpscope first saw it.
    seen_from_start: bool,
    retransmits: u32,
    resets_received: u32,
    err: Option<String>,
    last_state: &'static str,
    stack: &'a [String],
}

/// The `flow_end` line of an ended flow (None while the flow is live).
pub fn flow_end_line(flow: &Flow) -> Option<String> {
    let end = flow.end.as_ref()?;
    let line = FlowEndLine {
        kind: "flow_end",
        ts: rfc3339(end.at),
        sock: flow.sock.to_string(),
        endpoints: Endpoints::new(flow.local, flow.remote, flow.netns),
        owner_pid: flow.owner.as_ref().map(|task| task.pid),
        owner_comm: flow.owner.as_ref().map(|task| &*task.comm),
        reason: end.reason.name(),
        duration_ms: flow.duration(end.at) / 1_000_000,
        seen_from_start: flow.seen_from_start,
        retransmits: flow.retransmit_count,
        resets_received: flow.resets_received,
        err: errno::label(end.err),
        last_state: end.last_state.name(),
        stack: end.stack.as_deref().unwrap_or(&[]),
    };
    Some(to_line(&line))
}

#[derive(Serialize)]
struct FlowLine<'a> {
    kind: &'static str,
    ts: String,
    #[serde(flatten)]
    endpoints: Endpoints,
    preexisting: bool,
    state: &'static str,
    owner_pid: Option<u32>,
    owner_comm: Option<&'a str>,
    /// The owner's container or systemd unit.
    unit: Option<&'a str>,
    rto_ms: Option<u32>,
    backoff: Option<u8>,
    retransmits: Option<u8>,
    unacked: Option<u32>,
    last_send_ms: Option<u32>,
    give_up_earliest: Option<String>,
    give_up_latest: Option<String>,
    give_up_error: Option<&'static str>,
}

/// The `flow` line of a flow found open at start-up, with what its
/// `tcp_info` said and, when it is retransmitting, its give-up forecast.
pub fn flow_line(flow: &Flow, forecast: Option<&Forecast>) -> String {
    let details = flow.socket.as_ref().map(|sample| sample.details);
    let line = FlowLine {
        kind: "flow",
        ts: rfc3339(flow.first_seen),
        endpoints: Endpoints::new(flow.local, flow.remote, flow.netns),
        preexisting: flow.preexisting,
        state: flow.state.name(),
        owner_pid: flow.owner.as_ref().map(|task| task.pid),
        owner_comm: flow.owner.as_ref().map(|task| &*task.comm),
        unit: flow.unit.as_deref(),
        rto_ms: details.map(|d| d.rto_ms),
        backoff: details.map(|d| d.backoff),
        retransmits: details.map(|d| d.retransmits),
        unacked: details.map(|d| d.unacked),
        last_send_ms: details.map(|d| d.last_send_ms),
        give_up_earliest: forecast.map(|forecast| rfc3339(forecast.give_up_earliest)),
        give_up_latest: forecast.map(|forecast| rfc3339(forecast.give_up_latest)),
        give_up_error: forecast.map(|forecast| forecast.error),
    };
    to_line(&line)
}

#[derive(Serialize)]
struct SockinfoLine<'a> {
    kind: &'static str,
    ts: String,
    #[serde(flatten)]
    endpoints: Endpoints,
    state: &'static str,
    owner_pid: Option<u32>,
    owner_comm: Option<&'a str>,
    unit: Option<&'a str>,
    send_queue: u32,
    receive_queue: u32,
    #[serde(flatten)]
    details: &'a TcpDetails,
}

/// A `sockinfo` line: the flow's `tcp_info` at the latest survey (None
/// when no survey read it).
pub fn sockinfo_line(flow: &Flow) -> Option<String> {
    let sample = flow.socket.as_ref()?;
    let line = SockinfoLine {
        kind: "sockinfo",
        ts: rfc3339(sample.at),
        endpoints: Endpoints::new(flow.local, flow.remote, flow.netns),
        state: flow.state.name(),
        owner_pid: flow.owner.as_ref().map(|task| task.pid),
        owner_comm: flow.owner.as_ref().map(|task| &*task.comm),
        unit: flow.unit.as_deref(),
        send_queue: sample.send_queue,
        receive_queue: sample.receive_queue,
        details: &sample.details,
    };
    Some(to_line(&line))
}

/// Totals since start, for the `stats` line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub events: u64,
    pub lost: u64,
    pub malformed: u64,
    /// Network namespaces the latest survey could not read.
    pub netns_unreadable: u64,
}

impl Totals {
    /// Takes a batch's running totals and what its survey could not read.
    pub fn take(&mut self, batch: &crate::source::Batch) {
        self.events += batch.events.len() as u64;
        self.lost = batch.lost;
        self.malformed = batch.malformed;
        if let Some(survey) = &batch.survey
            && survey.scope != crate::model::socket::Scope::Watched
        {
            self.netns_unreadable = survey.failures.len() as u64;
        }
    }
}

#[derive(Serialize)]
struct StatsLine<'a> {
    kind: &'static str,
    ts: String,
    events: u64,
    lost: u64,
    malformed: u64,
    /// Network namespaces the socket survey could not read.
    netns_unreadable: u64,
    flows_live: usize,
    flows_ended: usize,
    flows_evicted: u64,
    probes_attached: usize,
    probes_failed: Vec<ProbeFailure<'a>>,
}

#[derive(Serialize)]
struct ProbeFailure<'a> {
    probe: &'a str,
    error: &'a str,
}

pub fn stats_line(at: Nanos, totals: Totals, counts: TableCounts, source: &SourceInfo) -> String {
    let line = StatsLine {
        kind: "stats",
        ts: rfc3339(at),
        events: totals.events,
        lost: totals.lost,
        malformed: totals.malformed,
        netns_unreadable: totals.netns_unreadable,
        flows_live: counts.live,
        flows_ended: counts.ended,
        flows_evicted: counts.evicted_live + counts.evicted_ended,
        probes_attached: source.attached(),
        probes_failed: source
            .probes
            .iter()
            .filter_map(|probe| {
                Some(ProbeFailure {
                    probe: &probe.name,
                    error: probe.failure.as_deref()?,
                })
            })
            .collect(),
    };
    to_line(&line)
}

#[derive(Serialize)]
struct DestinationLine<'a> {
    kind: &'static str,
    ts: String,
    family: u8,
    daddr: IpAddr,
    dport: u16,
    /// How far back the counts reach.
    window_s: u64,
    verdict: &'static str,
    attempts: u32,
    established: u32,
    timeouts: u32,
    refused: u32,
    resets: u32,
    abandoned: u32,
    syn_retransmits: u32,
    retransmits: u32,
    drops: u32,
    last_drop_reason: Option<&'a str>,
}

/// The `destination` line of one remote address:port: its counts over the
/// window that ends at `at`, and its verdict.
pub fn destination_line(at: Nanos, summary: &Summary<'_>) -> String {
    let tally = &summary.tally;
    let line = DestinationLine {
        kind: "destination",
        ts: rfc3339(at),
        family: if summary.remote.is_ipv4() { 4 } else { 6 },
        daddr: summary.remote.ip(),
        dport: summary.remote.port(),
        window_s: WINDOW / 1_000_000_000,
        verdict: summary.verdict.name(),
        attempts: tally.attempts,
        established: tally.established,
        timeouts: tally.timeouts,
        refused: tally.refused,
        resets: tally.resets,
        abandoned: tally.abandoned,
        syn_retransmits: tally.syn_retransmits,
        retransmits: tally.retransmits,
        drops: tally.drops,
        last_drop_reason: summary.last_drop_reason,
    };
    to_line(&line)
}

#[derive(Serialize)]
struct CountersLine<'a> {
    kind: &'static str,
    ts: String,
    netns: u32,
    /// Watched counters that moved since the previous sample, by name.
    deltas: BTreeMap<&'a str, i64>,
}

/// The `counters` line of one namespace: the watched counters that moved
/// in its latest sample (None when none did).
pub fn counters_line(netns: u32, counters: &Counters) -> Option<String> {
    let deltas: BTreeMap<&str, i64> = counters
        .moved()
        .map(|reading| (reading.counter.name, reading.delta))
        .collect();
    if deltas.is_empty() {
        return None;
    }
    let line = CountersLine {
        kind: "counters",
        ts: rfc3339(counters.at),
        netns,
        deltas,
    };
    Some(to_line(&line))
}

pub(crate) fn to_line(line: &impl Serialize) -> String {
    // Serializing plain structs of strings and numbers cannot fail; should a
    // future field make it fail, the line says so instead of vanishing.
    serde_json::to_string(line)
        .unwrap_or_else(|error| format!("{{\"kind\":\"error\",\"error\":\"{error}\"}}"))
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
        let mut totals = Totals::default();
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
