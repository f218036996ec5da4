//! Listeners: each LISTEN socket the surveys find, with its accept queue
//! against its backlog, its drop count and how much it rose, the half-open
//! connections waiting on it, and the SYN-ACK retransmissions the probes
//! saw for them. A SYN into a full accept queue is dropped without any
//! drop event: the queue and the listener's drop count are the evidence,
//! so a listener whose queue is full or whose drops rose is flagged.

use std::{
    collections::{BTreeMap, HashMap},
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::Arc,
};

use super::{
    event::{Nanos, Task, TcpState},
    filter::Subject,
    socket::{Pod, Scope, SocketEntry, Survey},
};

/// How long a listener stays flagged as dropping after its count rose.
pub const DROPPING_FOR: Nanos = 5_000_000_000;

/// A listener as of the latest survey.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    pub netns: u32,
    pub local: SocketAddr,
    pub owner: Option<Task>,
    /// The owner's container or systemd unit, when known.
    pub unit: Option<Arc<str>>,
    /// The owner's Kubernetes pod, when known.
    pub pod: Option<Arc<Pod>>,
    /// Connections in the accept queue, not yet accepted.
    pub depth: u32,
    /// The backlog passed to listen(), as the kernel capped it.
    pub backlog: u32,
    /// Packets the listener dropped (`sk_drops`), when the survey read it.
    pub drops: Option<u32>,
    /// How much `drops` rose since the previous survey.
    pub drops_delta: u32,
    /// When `drops` last rose.
    pub drops_rose_at: Option<Nanos>,
    /// Request sockets (SYN received, handshake not finished) for it.
    pub half_open: u32,
    /// SYN-ACKs the kernel retransmitted for its half-open connections.
    pub synack_retransmits: u64,
    /// The survey this is from.
    pub at: Nanos,
}

impl Listener {
    /// The accept queue is full: the kernel drops the next SYN (and the
    /// next handshake's final ACK).
    pub fn full(&self) -> bool {
        self.depth > self.backlog
    }

    /// The drop count rose within [`DROPPING_FOR`] of the latest survey.
    pub fn dropping(&self) -> bool {
        self.drops_rose_at
            .is_some_and(|rose| self.at.saturating_sub(rose) < DROPPING_FOR)
    }

    /// Full or dropping: a listener in trouble.
    pub fn flagged(&self) -> bool {
        self.full() || self.dropping()
    }
}

/// A listener as the filter sees it: a LISTEN socket with no remote end.
impl<'a> From<&'a Listener> for Subject<'a> {
    fn from(listener: &'a Listener) -> Self {
        let nowhere = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);
        Self {
            owner: listener.owner.as_ref(),
            unit: listener.unit.as_deref(),
            pod: listener.pod.as_deref(),
            state: Some(TcpState::Listen),
            ..Subject::ends(listener.local, nowhere, listener.netns)
        }
    }
}

/// Where a listener is: its namespace and local address.
type Key = (u32, SocketAddr);

/// Every listener of the latest full survey.
#[derive(Debug, Clone, Default)]
pub struct Listeners {
    by_address: BTreeMap<Key, Listener>,
    /// SYN-ACK retransmissions by the namespace and local address of the
    /// request, including those of listeners no survey has found yet.
    synacks: HashMap<Key, u64>,
}

impl Listeners {
    /// Takes the listeners of a full survey (a watched socket's survey says
    /// nothing about them); listeners it did not find are gone.
    pub fn apply_survey(&mut self, survey: &Survey) {
        if survey.scope == Scope::Watched {
            return;
        }
        // SYN-ACK tallies of namespaces that are gone go with them.
        let present = |netns: u32| {
            survey.namespaces.iter().any(|ns| ns.netns == netns)
                || survey.sockets.iter().any(|entry| entry.netns == netns)
        };
        self.synacks.retain(|(netns, _), _| present(*netns));
        let mut previous = std::mem::take(&mut self.by_address);
        for entry in survey
            .sockets
            .iter()
            .filter(|e| e.state == TcpState::Listen)
        {
            let key = (entry.netns, entry.local);
            let listener = self.observe(entry, previous.remove(&key), survey.at);
            self.by_address.insert(key, listener);
        }
        let half_open = survey
            .sockets
            .iter()
            .filter(|entry| entry.state == TcpState::SynRecv);
        for request in half_open {
            if let Some(listener) = self.serving_mut(request.netns, request.local) {
                listener.half_open += 1;
            }
        }
    }

    fn observe(&self, entry: &SocketEntry, previous: Option<Listener>, at: Nanos) -> Listener {
        let earlier_drops = previous.as_ref().and_then(|listener| listener.drops);
        let drops_delta = match (earlier_drops, entry.drops) {
            // A listener restarted at the same address counts from 0 again.
            (Some(then), Some(now)) => now.saturating_sub(then),
            _ => 0,
        };
        let drops_rose_at = match drops_delta {
            0 => previous.and_then(|listener| listener.drops_rose_at),
            _ => Some(at),
        };
        Listener {
            netns: entry.netns,
            local: entry.local,
            owner: entry.owner.as_ref().map(|owner| owner.task.clone()),
            unit: entry.owner.as_ref().and_then(|owner| owner.unit.clone()),
            pod: entry.owner.as_ref().and_then(|owner| owner.pod.clone()),
            depth: entry.receive_queue,
            backlog: entry.send_queue,
            drops: entry.drops,
            drops_delta,
            drops_rose_at,
            half_open: 0,
            synack_retransmits: self.synacks_for(entry.netns, entry.local),
            at,
        }
    }

    /// Counts a SYN-ACK retransmission of a request to `local` in `netns`.
    pub fn synack_retransmit(&mut self, netns: u32, local: SocketAddr) {
        let count = self.synacks.entry((netns, local)).or_default();
        *count = count.saturating_add(1);
        if let Some(listener) = self.serving_mut(netns, local) {
            listener.synack_retransmits = listener.synack_retransmits.saturating_add(1);
        }
    }

    /// The SYN-ACK retransmissions of requests a listener on `local` serves.
    fn synacks_for(&self, netns: u32, local: SocketAddr) -> u64 {
        self.synacks
            .iter()
            .filter(|((ns, addr), _)| *ns == netns && serves(local, *addr))
            .map(|(_, count)| count)
            .sum()
    }

    /// The listener that takes connections to `local` in `netns`: one bound
    /// to that address, else one bound to the wildcard address of its port.
    fn serving_mut(&mut self, netns: u32, local: SocketAddr) -> Option<&mut Listener> {
        let exact = (netns, local);
        if self.by_address.contains_key(&exact) {
            return self.by_address.get_mut(&exact);
        }
        self.by_address
            .values_mut()
            .find(|listener| listener.netns == netns && serves(listener.local, local))
    }

    /// Every listener, by namespace then address.
    pub fn iter(&self) -> impl Iterator<Item = &Listener> {
        self.by_address.values()
    }

    pub fn len(&self) -> usize {
        self.by_address.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_address.is_empty()
    }
}

/// Whether a listener bound to `listening` takes connections to `local`.
fn serves(listening: SocketAddr, local: SocketAddr) -> bool {
    listening.port() == local.port()
        && (listening.ip().is_unspecified()
            || listening.ip().to_canonical() == local.ip().to_canonical())
}

#[cfg(test)]
#[path = "listeners_tests.rs"]
mod tests;
