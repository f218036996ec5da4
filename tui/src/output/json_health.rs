//! JSON lines about trouble the socket tables reveal rather than the
//! probes: `stall` and `stall_end` for senders without progress, and
//! `listener` for a listener whose accept queue is full or whose drops
//! rose.

use crate::{
    model::{flow::Flow, listeners::Listener, stall::StallEnd},
    wire::{self, Endpoints, Line, ListenerLine, StallEndLine, StallLine, rfc3339},
};

/// The `stall` line of a stalled flow (None when it is not stalled).
pub fn stall_line(flow: &Flow) -> Option<String> {
    let stall = flow.progress.as_ref()?.stall?;
    let sample = flow.socket.as_deref()?;
    let details = &sample.details;
    let line = Line::Stall(StallLine {
        ts: rfc3339(stall.at),
        sock: flow.sock.to_string(),
        endpoints: Endpoints::new(flow.local, flow.remote, flow.netns),
        state: flow.state.name().to_string(),
        owner_pid: flow.owner.as_ref().map(|task| task.pid),
        owner_comm: flow.owner.as_ref().map(|task| task.comm.to_string()),
        cause: stall.cause.name().to_string(),
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
    });
    Some(line.to_json())
}

/// The `stall_end` line of a stall that ended.
pub fn stall_end_line(end: &StallEnd) -> String {
    let line = Line::StallEnd(StallEndLine {
        ts: rfc3339(end.until),
        endpoints: Endpoints::new(end.tuple.local, end.tuple.remote, end.tuple.netns),
        owner_pid: end.owner.as_ref().map(|task| task.pid),
        owner_comm: end.owner.as_ref().map(|task| task.comm.to_string()),
        cause: end.cause.name().to_string(),
        peer_alive: end.cause.peer_alive(),
        stalled_ms: end.until.saturating_sub(end.since) / 1_000_000,
        closed: end.closed,
    });
    line.to_json()
}

/// The `listener` line of a listener as of the latest survey.
pub fn listener_line(listener: &Listener) -> String {
    let line = Line::Listener(ListenerLine {
        ts: rfc3339(listener.at),
        family: wire::family(listener.local),
        saddr: listener.local.ip(),
        sport: listener.local.port(),
        netns: listener.netns,
        owner: wire::OwnerFields {
            owner_pid: listener.owner.as_ref().map(|task| task.pid),
            owner_comm: listener.owner.as_ref().map(|task| task.comm.to_string()),
            unit: listener.unit.as_deref().map(str::to_string),
            pod: listener.pod.as_deref().map(wire::PodFields::from),
        },
        depth: listener.depth,
        backlog: listener.backlog,
        full: listener.full(),
        dropping: listener.dropping(),
        drops: listener.drops,
        drops_delta: listener.drops_delta,
        half_open: listener.half_open,
        synack_retransmits: listener.synack_retransmits,
    });
    line.to_json()
}
