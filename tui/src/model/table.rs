//! The connection table: joins kernel events into flows keyed by socket,
//! keeps the owner learnt in process context, ends a flow at CLOSE with its
//! reason, and stays within a fixed size, counting what it evicts. Drops
//! join their flow by socket, or by namespace and 4-tuple when the kernel
//! dropped the segment before finding a socket.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    net::SocketAddr,
};

use super::{
    event::{Event, EventKind, Nanos, SockId, Stack, Task, TcpState},
    flow::{EndReason, Flow, FlowEnd, RetransmitRecord, aborts},
    socket::Tuple,
};

/// How many of the latest ended flows a RST of an ended socket is looked
/// up among (see the `ResetSent` arm of `apply_to`).
const RECENTLY_ENDED: usize = 16;

/// How many flows the table holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity {
    pub live: usize,
    pub ended: usize,
}

impl Default for Capacity {
    fn default() -> Self {
        Self {
            live: 200_000,
            ended: 20_000,
        }
    }
}

/// Sizes and eviction counts, for the stats line and the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TableCounts {
    pub live: usize,
    pub ended: usize,
    pub evicted_live: u64,
    pub evicted_ended: u64,
}

/// What applying one event did.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Applied {
    /// Where the event's flow is now, for [`ConnectionTable::flow_at`]
    /// (None when the table has no flow for it).
    pub flow: Option<FlowAt>,
    /// The drop was a SYN retransmission local congestion kept on this
    /// host, which the kernel counted as this one.
    pub kept_on_host: Option<u8>,
}

impl Applied {
    /// The event ended its flow: see [`ConnectionTable::last_ended`].
    pub fn ended(&self) -> bool {
        self.flow == Some(FlowAt::LastEnded)
    }
}

/// Where the flow of an event just applied is in the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowAt {
    Live(SockId),
    /// The event ended it: the newest ended flow.
    LastEnded,
}

/// A live flow's namespace, local and remote end.
type Ends = (u32, SocketAddr, SocketAddr);

#[derive(Debug, Default, Clone)]
pub struct ConnectionTable {
    live: HashMap<SockId, Flow>,
    /// Live flows by 4-tuple, for drops without a socket. Built at the
    /// first such drop and kept from then on, so that a box without drops
    /// does not pay for it; entries are checked against the flow on use.
    by_tuple: Option<HashMap<Ends, SockId>>,
    /// The live flows in SYN_SENT: a screen lists connect attempts on every
    /// frame without scanning every flow.
    connecting: HashSet<SockId>,
    /// Oldest first.
    ended: VecDeque<Flow>,
    capacity: Capacity,
    evicted_live: u64,
    evicted_ended: u64,
    /// Flows found by the start-up survey that the probes have not reported
    /// yet, by 4-tuple, with the stand-in key they are kept under.
    preexisting: HashMap<Tuple, SockId>,
    /// Stand-in keys handed out so far.
    stand_ins: u64,
    /// Live flows the latest full survey did not find, with the time of
    /// the first survey that missed them.
    missing: HashMap<SockId, Nanos>,
    /// Sockets the latest full survey found that no flow matches, with the
    /// time of the first survey that found them so.
    unknown: HashMap<Tuple, Nanos>,
}

impl ConnectionTable {
    pub fn new(capacity: Capacity) -> Self {
        Self {
            live: HashMap::with_capacity(capacity.live.min(4096)),
            capacity: Capacity {
                live: capacity.live.max(1),
                ended: capacity.ended.max(1),
            },
            ..Self::default()
        }
    }

    pub fn apply(&mut self, event: &Event) -> Applied {
        if let EventKind::Drop(_) = event.kind {
            return self.apply_drop(event);
        }
        let Some(sock) = event.sock else {
            return Applied::default();
        };
        self.adopt_preexisting(sock, event);
        let applied = self.apply_to(sock, event);
        self.track_connecting(sock);
        applied
    }

    fn apply_to(&mut self, sock: SockId, event: &Event) -> Applied {
        match &event.kind {
            EventKind::State {
                old,
                new,
                err,
                stack,
            } => self.apply_state(sock, event, *old, *new, *err, stack),
            EventKind::Retransmit(retransmit) => {
                let flow = self.flow_for(sock, event);
                flow.record_retransmit(RetransmitRecord {
                    at: event.ts,
                    rto_ms: retransmit.rto_ms,
                    backoff: retransmit.backoff,
                    retransmits: retransmit.retransmits,
                    cause: retransmit.cause,
                    sent: true,
                });
                if retransmit.limits.is_some() {
                    flow.limits = retransmit.limits.map(Box::new);
                }
                if let Some(state) = retransmit.state {
                    flow.state = state;
                }
                applied_to(flow)
            }
            EventKind::ResetSent | EventKind::ResetReceived => {
                // An abort sends its RST after the change to CLOSE (and the
                // peer may have handled it in between): that RST belongs to
                // a flow that has just ended.
                let recent = self.ended.iter_mut().rev().take(RECENTLY_ENDED);
                let (flow, live) = match self.live.get_mut(&sock) {
                    Some(flow) => (flow, true),
                    None => match recent.into_iter().find(|flow| flow.sock == sock) {
                        Some(flow) => (flow, false),
                        None => return Applied::default(),
                    },
                };
                flow.touch(event);
                if event.kind == EventKind::ResetSent {
                    flow.resets_sent = flow.resets_sent.saturating_add(1);
                } else {
                    flow.resets_received = flow.resets_received.saturating_add(1);
                }
                match live {
                    true => applied_to(flow),
                    false => Applied::default(),
                }
            }
            EventKind::Destroyed => match self.remove_live(sock) {
                Some(flow) => self.end(flow, event.ts, 0, None, false),
                None => Applied::default(),
            },
            EventKind::Drop(_) => self.apply_drop(event),
            EventKind::Opened {
                opened_as,
                established_at,
            } => self.apply_opened(sock, event, *opened_as, established_at.is_some()),
            // Counts per destination: no socket.
            EventKind::Opens { .. } => Applied::default(),
            // A SYN-ACK belongs to a request socket, which never becomes a
            // flow of its own: the accepted socket is a different one. Its
            // event names the listener.
            EventKind::SynAckRetransmit { .. } => Applied {
                flow: self.live.contains_key(&sock).then_some(FlowAt::Live(sock)),
                ..Applied::default()
            },
        }
    }

    fn apply_state(
        &mut self,
        sock: SockId,
        event: &Event,
        old: TcpState,
        new: TcpState,
        err: i32,
        stack: &Option<Stack>,
    ) -> Applied {
        let begins = old == TcpState::Close
            && matches!(
                new,
                TcpState::SynSent | TcpState::SynRecv | TcpState::Listen
            );
        if begins && self.remove_live(sock).is_some() {
            // The socket was freed and reused without the table seeing its
            // CLOSE: the old flow's end is unknown.
            self.evicted_live += 1;
        }
        let flow = self.flow_for(sock, event);
        if begins {
            flow.seen_from_start = true;
            flow.first_seen = event.ts;
        }
        if flow.owner.is_none() && runs_in_owner_context(old, new, err) {
            flow.owner.clone_from(&event.task);
        }
        if new != TcpState::Close {
            flow.state = new;
            return applied_to(flow);
        }
        flow.state = old;
        match self.remove_live(sock) {
            Some(flow) => self.end(flow, event.ts, err, stack.clone(), true),
            None => Applied::default(),
        }
    }

    /// A flow the probes kept to themselves until now: it begins at the
    /// event, owned by the event's task (a connect's, which outranks what
    /// a survey read from /proc: the process, not the thread that
    /// connected). A survey may have found it first; any other flow at its
    /// address is an older one whose end was lost.
    fn apply_opened(
        &mut self,
        sock: SockId,
        event: &Event,
        opened_as: TcpState,
        established: bool,
    ) -> Applied {
        if self.live.get(&sock).is_some_and(|flow| !flow.preexisting) {
            self.remove_live(sock);
            self.evicted_live += 1;
        }
        let flow = self.flow_for(sock, event);
        flow.preexisting = false;
        flow.seen_from_start = true;
        flow.first_seen = event.ts;
        if event.task.is_some() {
            flow.owner.clone_from(&event.task);
        }
        flow.state = match established {
            true => TcpState::Established,
            false => opened_as,
        };
        applied_to(flow)
    }

    /// Keeps [`Self::connecting`] in step with the flow of `sock`.
    fn track_connecting(&mut self, sock: SockId) {
        match self.live.get(&sock) {
            Some(flow) if flow.state == TcpState::SynSent => {
                self.connecting.insert(sock);
            }
            _ => {
                self.connecting.remove(&sock);
            }
        }
    }

    /// The live flow of `sock`, created from `event` when new.
    fn flow_for(&mut self, sock: SockId, event: &Event) -> &mut Flow {
        let created = !self.live.contains_key(&sock);
        if created && self.live.len() >= self.capacity.live {
            self.evict_idle_live();
        }
        let flow = self
            .live
            .entry(sock)
            .or_insert_with(|| Flow::new(sock, event.netns, event.local, event.remote, event.ts));
        if let Some(index) = &mut self.by_tuple {
            let before = tuple(flow);
            flow.touch(event);
            if created || before != tuple(flow) {
                index_flow(index, flow);
            }
        } else {
            flow.touch(event);
        }
        flow
    }

    fn remove_live(&mut self, sock: SockId) -> Option<Flow> {
        let flow = self.live.remove(&sock)?;
        self.missing.remove(&sock);
        if let Some(index) = &mut self.by_tuple
            && index.get(&tuple(&flow)) == Some(&sock)
        {
            index.remove(&tuple(&flow));
        }
        Some(flow)
    }

    /// Counts a dropped segment on its flow, if the table has it: by the
    /// socket the kernel dropped it at, else by namespace and 4-tuple.
    fn apply_drop(&mut self, event: &Event) -> Applied {
        if event.sock.is_none() {
            self.refresh_tuple_index();
        }
        let Some(sock) = self.flow_of(event).map(|flow| flow.sock) else {
            return Applied::default();
        };
        let Some(flow) = self.live.get_mut(&sock) else {
            return Applied::default();
        };
        flow.drops = flow.drops.saturating_add(1);
        if let EventKind::Drop(drop) = &event.kind
            && drop.outgoing
            && drop.flags.has_syn()
            && event.sock == Some(sock)
            && flow.record_syn_kept_on_host(event.ts, &drop.reason)
        {
            return Applied {
                kept_on_host: flow.retransmits.last().map(|record| record.retransmits),
                ..applied_to(flow)
            };
        }
        applied_to(flow)
    }

    /// The live flow an event belongs to: by its socket, or, for an event
    /// without one (a drop before the socket lookup), by its namespace and
    /// 4-tuple once a drop has needed the tuple index.
    pub fn flow_of(&self, event: &Event) -> Option<&Flow> {
        let by_sock = event.sock.filter(|sock| {
            self.live
                .get(sock)
                .is_some_and(|flow| same_ends(flow, event))
        });
        let sock = match by_sock {
            Some(sock) => sock,
            None => {
                let key = canonical((event.netns, event.local, event.remote));
                *self.by_tuple.as_ref()?.get(&key)?
            }
        };
        self.live.get(&sock).filter(|flow| same_ends(flow, event))
    }

    /// Builds the tuple index at its first use, and rebuilds it when stale
    /// entries (flows whose ends changed) outnumber the flows.
    fn refresh_tuple_index(&mut self) {
        let stale = self
            .by_tuple
            .as_ref()
            .is_none_or(|index| index.len() > 2 * self.live.len() + 1024);
        if stale {
            let mut index = HashMap::with_capacity(self.live.len());
            for flow in self.live.values() {
                index_flow(&mut index, flow);
            }
            self.by_tuple = Some(index);
        }
    }

    /// Drops the longest-idle 1/64 of the live flows (at least one), so
    /// that a table at capacity does not scan on every new flow.
    fn evict_idle_live(&mut self) {
        let count = (self.live.len() / 64).max(1);
        let mut idle: Vec<(Nanos, SockId)> = self
            .live
            .values()
            .map(|flow| (flow.last_event, flow.sock))
            .collect();
        idle.select_nth_unstable(count - 1);
        for &(_, sock) in &idle[..count] {
            self.remove_live(sock);
            self.connecting.remove(&sock);
        }
        self.evicted_live += count as u64;
    }

    /// Ends `flow` at `at`; `seen_close`: its change to CLOSE was seen
    /// (not only its socket's destruction).
    fn end(
        &mut self,
        mut flow: Flow,
        at: Nanos,
        err: i32,
        stack: Option<Stack>,
        seen_close: bool,
    ) -> Applied {
        let last_state = flow.state;
        flow.state = TcpState::Close;
        flow.last_event = at;
        let resets_received = flow.resets_received > 0;
        flow.end = Some(Box::new(FlowEnd {
            at,
            reason: EndReason::classify(last_state, err, resets_received, seen_close),
            err,
            last_state,
            stack,
        }));
        if self.ended.len() >= self.capacity.ended {
            self.ended.pop_front();
            self.evicted_ended += 1;
        }
        self.ended.push_back(flow);
        Applied {
            flow: Some(FlowAt::LastEnded),
            ..Applied::default()
        }
    }

    /// The flow the latest event ended.
    pub fn last_ended(&self) -> Option<&Flow> {
        self.ended.back()
    }

    /// The flow an event was applied to, where [`Applied::flow`] says.
    pub fn flow_at(&self, at: Option<FlowAt>) -> Option<&Flow> {
        match at? {
            FlowAt::Live(sock) => self.live.get(&sock),
            FlowAt::LastEnded => self.ended.back(),
        }
    }

    /// The owner of the flow `event` was applied to: where `applied`
    /// says, or, for a reset after its flow ended, that ended flow's.
    pub fn owner(&self, event: &Event, applied: &Applied) -> Option<&Task> {
        if let Some(flow) = self.flow_at(applied.flow) {
            return flow.owner.as_ref();
        }
        if !matches!(event.kind, EventKind::ResetSent | EventKind::ResetReceived) {
            return None;
        }
        let sock = event.sock?;
        let recent = self.ended.iter().rev().take(RECENTLY_ENDED);
        recent
            .into_iter()
            .find(|flow| flow.sock == sock)?
            .owner
            .as_ref()
    }

    pub fn live(&self) -> impl Iterator<Item = &Flow> {
        self.live.values()
    }

    /// The live flows in SYN_SENT: connect attempts in progress.
    pub fn connecting(&self) -> impl Iterator<Item = &Flow> {
        self.connecting
            .iter()
            .filter_map(|sock| self.live.get(sock))
    }

    /// Ended flows, oldest first.
    pub fn ended(&self) -> impl DoubleEndedIterator<Item = &Flow> + ExactSizeIterator {
        self.ended.iter()
    }

    pub fn flow(&self, sock: SockId) -> Option<&Flow> {
        self.live.get(&sock)
    }

    pub fn counts(&self) -> TableCounts {
        TableCounts {
            live: self.live.len(),
            ended: self.ended.len(),
            evicted_live: self.evicted_live,
            evicted_ended: self.evicted_ended,
        }
    }
}

fn tuple(flow: &Flow) -> Ends {
    canonical((flow.netns, flow.local, flow.remote))
}

/// An IPv4-mapped IPv6 end (a dual-stack socket's) as the IPv4 end its
/// packets carry.
fn canonical((netns, local, remote): Ends) -> Ends {
    let plain = |end: SocketAddr| SocketAddr::new(end.ip().to_canonical(), end.port());
    (netns, plain(local), plain(remote))
}

/// Indexes a flow whose local port is known (a connect's is 0 at first).
pub(super) fn index_flow(index: &mut HashMap<Ends, SockId>, flow: &Flow) {
    if flow.local.port() != 0 {
        index.insert(tuple(flow), flow.sock);
    }
}

fn same_ends(flow: &Flow, event: &Event) -> bool {
    tuple(flow) == canonical((event.netns, event.local, event.remote))
}

/// What applying an event to the live `flow` did, at least.
fn applied_to(flow: &Flow) -> Applied {
    Applied {
        flow: Some(FlowAt::Live(flow.sock)),
        ..Applied::default()
    }
}

/// Transitions the kernel makes from a system call of the owning process:
/// connect(), listen(), and close() or shutdown(), an abort included.
/// Everything else can run from a timer or softirq on behalf of whichever
/// task was on the CPU.
fn runs_in_owner_context(old: TcpState, new: TcpState, err: i32) -> bool {
    use TcpState::*;
    matches!(
        (old, new),
        (Close, SynSent) | (Close, Listen) | (Established, FinWait1) | (CloseWait, LastAck)
    ) || (new == Close && err == 0 && (old == SynSent || aborts(old)))
}

#[path = "table_survey.rs"]
mod survey;

#[cfg(test)]
#[path = "table_tests.rs"]
mod tests;
