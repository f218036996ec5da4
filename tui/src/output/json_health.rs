//! JSON lines about trouble the socket tables reveal rather than the
//! probes: `stall` and `stall_end` for senders without progress, and
//! `listener` for a listener whose accept queue is full or whose drops
//! rose. Same contract as [`super::json`]: add fields, never rename.

use serde::Serialize;

use super::json::{Endpoints, rfc3339, to_line};
use crate::model::{flow::Flow, listeners::Listener, stall::StallEnd};

#[derive(Serialize)]
struct StallLine<'a> {
    kind: &'static str,
    ts: String,
    sock: String,
    #[serde(flatten)]
    endpoints: Endpoints,
    state: &'static str,
    owner_pid: Option<u32>,
    owner_comm: Option<&'a str>,
    cause: &'static str,
    /// For a zero window: whether the peer answers the window probes.
    peer_alive: Option<bool>,
    /// Since the last sample that saw progress.
    stalled_ms: u64,
    unacked: u32,
    notsent_bytes: u32,
    send_queue: u32,
    snd_wnd: u32,
    probes: u8,
    backoff: u8,
    retransmits: u8,
    total_retrans: u32,
}

/// The `stall` line of a stalled flow (None when it is not stalled).
pub fn stall_line(flow: &Flow) -> Option<String> {
    let stall = flow.progress.as_ref()?.stall?;
    let sample = flow.socket.as_deref()?;
    let details = &sample.details;
    let line = StallLine {
        kind: "stall",
        ts: rfc3339(stall.at),
        sock: flow.sock.to_string(),
        endpoints: Endpoints::new(flow.local, flow.remote, flow.netns),
        state: flow.state.name(),
        owner_pid: flow.owner.as_ref().map(|task| task.pid),
        owner_comm: flow.owner.as_ref().map(|task| &*task.comm),
        cause: stall.cause.name(),
        peer_alive: stall.cause.peer_alive(),
        stalled_ms: stall.duration() / 1_000_000,
        unacked: details.unacked,
        notsent_bytes: details.notsent_bytes,
        send_queue: sample.send_queue,
        snd_wnd: details.snd_wnd,
        probes: details.probes,
        backoff: details.backoff,
        retransmits: details.retransmits,
        total_retrans: details.total_retrans,
    };
    Some(to_line(&line))
}

#[derive(Serialize)]
struct StallEndLine<'a> {
    kind: &'static str,
    ts: String,
    #[serde(flatten)]
    endpoints: Endpoints,
    owner_pid: Option<u32>,
    owner_comm: Option<&'a str>,
    cause: &'static str,
    peer_alive: Option<bool>,
    /// From the last progress before the stall to the last sample that
    /// saw the flow stalled.
    stalled_ms: u64,
    /// The flow closed while stalled (else it made progress again).
    closed: bool,
}

/// The `stall_end` line of a stall that ended.
pub fn stall_end_line(end: &StallEnd) -> String {
    let line = StallEndLine {
        kind: "stall_end",
        ts: rfc3339(end.until),
        endpoints: Endpoints::new(end.tuple.local, end.tuple.remote, end.tuple.netns),
        owner_pid: end.owner.as_ref().map(|task| task.pid),
        owner_comm: end.owner.as_ref().map(|task| &*task.comm),
        cause: end.cause.name(),
        peer_alive: end.cause.peer_alive(),
        stalled_ms: end.until.saturating_sub(end.since) / 1_000_000,
        closed: end.closed,
    };
    to_line(&line)
}

#[derive(Serialize)]
struct ListenerLine<'a> {
    kind: &'static str,
    ts: String,
    family: u8,
    saddr: std::net::IpAddr,
    sport: u16,
    netns: u32,
    owner_pid: Option<u32>,
    owner_comm: Option<&'a str>,
    /// Connections waiting in the accept queue.
    depth: u32,
    backlog: u32,
    /// The queue holds more than the backlog: the next SYN is dropped.
    full: bool,
    /// The drop count rose within the last few seconds.
    dropping: bool,
    drops: Option<u32>,
    /// The rise since the previous survey.
    drops_delta: u32,
    half_open: u32,
    synack_retransmits: u64,
}

/// The `listener` line of a listener as of the latest survey.
pub fn listener_line(listener: &Listener) -> String {
    let line = ListenerLine {
        kind: "listener",
        ts: rfc3339(listener.at),
        family: if listener.local.is_ipv4() { 4 } else { 6 },
        saddr: listener.local.ip(),
        sport: listener.local.port(),
        netns: listener.netns,
        owner_pid: listener.owner.as_ref().map(|task| task.pid),
        owner_comm: listener.owner.as_ref().map(|task| &*task.comm),
        depth: listener.depth,
        backlog: listener.backlog,
        full: listener.full(),
        dropping: listener.dropping(),
        drops: listener.drops,
        drops_delta: listener.drops_delta,
        half_open: listener.half_open,
        synack_retransmits: listener.synack_retransmits,
    };
    to_line(&line)
}
