//! What a survey of the socket tables adds to the connection table: the
//! flows open before tcpscope started, and later the connections whose
//! open the probes never told (keyed by a stand-in until the probes
//! report their socket's address), owners read from /proc for flows no
//! process-context event named, and each flow's latest `tcp_info`.

use std::{
    collections::HashMap,
    hash::{BuildHasher, RandomState},
};

use super::ConnectionTable;
use crate::model::{
    event::{Event, Nanos, SockId, TcpState},
    flow::Flow,
    seed,
    socket::{Scope, SocketEntry, Survey, Tuple},
};

/// Above this many sockets a survey is joined to the live flows by sorting
/// it; below it (a watched socket) a scan of the flows is cheaper.
const SORTED_FROM: usize = 8;

/// How long after its latest event a flow missing from a survey is kept.
const VANISHED_AFTER: Nanos = 2_000_000_000;

/// How long a socket the table does not know must stay in the surveys
/// before it becomes a flow of its own. The probes tell every connection
/// within two seconds of its open (a quiet one, its handshake done, within
/// a second of its first); one still unknown after that lost its open: an
/// entry the probes' LRU evicted in a burst of opens, or a lost record.
const ADOPTED_AFTER: Nanos = 2_500_000_000;

impl ConnectionTable {
    /// Applies `survey`; returns the flows it added: those open before
    /// tcpscope started (the initial survey), or whose open the probes
    /// never told (see [`ADOPTED_AFTER`]).
    pub fn apply_survey(&mut self, survey: &Survey) -> Vec<SockId> {
        let learnt = self.learn(survey);
        let mut added = Vec::new();
        let mut unknown = HashMap::new();
        for (entry, _) in survey
            .sockets
            .iter()
            .zip(learnt)
            .filter(|(_, learnt)| !learnt)
        {
            let tuple = entry.tuple();
            // Adopting past --max-flows would count an eviction a survey.
            let room = self.live.len() < self.capacity.live;
            match entry.state {
                // A SYN_RECV entry is a request socket, a half-open
                // connection of a listener: it becomes a flow only when
                // accepted, as another socket.
                TcpState::SynRecv => {}
                _ if survey.scope == Scope::Initial => {
                    added.extend(self.add_preexisting(entry, survey))
                }
                // A socket bound and never connected is no connection.
                state if survey.scope == Scope::Full && room && state != TcpState::Close => {
                    let since = self.unknown.get(&tuple).copied().unwrap_or(survey.at);
                    if survey.at.saturating_sub(since) >= ADOPTED_AFTER {
                        added.extend(self.add_preexisting(entry, survey));
                    } else if unknown.len() < self.capacity.live {
                        unknown.insert(tuple, since);
                    }
                }
                _ => {}
            }
        }
        if survey.scope == Scope::Full {
            self.unknown = unknown;
        }
        // A survey that left sockets out (past --max-flows) proves no
        // flow gone.
        if survey.scope != Scope::Watched && survey.sockets_left_out == 0 {
            self.forget_vanished(survey);
        }
        added
    }

    /// Has each live flow learn its sockets in the survey (see
    /// [`Flow::learn`]); returns, in the survey's order, which sockets a
    /// flow took. Two flows with one 4-tuple (a close the probes lost, a
    /// new socket on the same ports) get its socket once.
    fn learn(&mut self, survey: &Survey) -> Vec<bool> {
        match survey.sockets.len() < SORTED_FROM {
            true => self.learn_by_scan(survey),
            false => self.learn_by_sorting(survey),
        }
    }

    fn learn_by_scan(&mut self, survey: &Survey) -> Vec<bool> {
        let mut learnt = Vec::with_capacity(survey.sockets.len());
        for entry in &survey.sockets {
            let tuple = entry.tuple();
            let flow = self.live.values_mut().find(|flow| flow.tuple() == tuple);
            learnt.push(flow.map(|flow| flow.learn(entry, survey.at)).is_some());
        }
        learnt
    }

    /// The survey's sockets sorted by the hash of their 4-tuple (16 bytes
    /// a socket), and each flow looked up among them, rather than every
    /// flow indexed by its 4-tuple each second (80 bytes a flow) and
    /// looked up again by its socket to learn.
    fn learn_by_sorting(&mut self, survey: &Survey) -> Vec<bool> {
        let sockets = &survey.sockets;
        let hasher = RandomState::new();
        let mut sorted: Vec<(u64, u32)> = (0..sockets.len() as u32)
            .map(|at| (hasher.hash_one(sockets[at as usize].tuple()), at))
            .collect();
        sorted.sort_unstable();
        let mut learnt = vec![false; sockets.len()];
        for flow in self.live.values_mut() {
            let tuple = flow.tuple();
            let hash = hasher.hash_one(tuple);
            let first = sorted.partition_point(|&(other, _)| other < hash);
            let same_hash = sorted[first..]
                .iter()
                .take_while(|&&(other, _)| other == hash);
            for &(_, at) in same_hash {
                let entry = &sockets[at as usize];
                if !learnt[at as usize] && entry.tuple() == tuple {
                    flow.learn(entry, survey.at);
                    learnt[at as usize] = true;
                }
            }
        }
        learnt
    }

    /// Drops the live flows that two surveys in a row, in a namespace they
    /// read (or in one that no longer exists), did not find, whether an earlier survey found them or only the
    /// probes did: their sockets are gone and the probes' record of the end
    /// was lost (a full ring, or a run the kernel skipped). Counted as
    /// evicted, never left live or showing stale `tcp_info` (a stall) for
    /// ever, so that after any loss the table converges back to the
    /// kernel's sockets. One miss is not enough:
    /// the close may have happened during the dump, its event still on its
    /// way through the ring buffer. A flow with an event in the last
    /// [`VANISHED_AFTER`] may have changed since the dump: it waits too.
    fn forget_vanished(&mut self, survey: &Survey) {
        // A namespace the survey read, or one that is gone.
        let read = |netns: u32| {
            survey.namespaces.iter().any(|ns| ns.netns == netns)
                || survey
                    .listed
                    .as_ref()
                    .is_some_and(|listed| !listed.contains(&netns))
        };
        let missing: HashMap<SockId, Nanos> = self
            .live
            .values()
            .filter(|flow| {
                flow.socket
                    .as_ref()
                    .is_none_or(|sample| sample.at < survey.at)
                    && flow.last_event.saturating_add(VANISHED_AFTER) < survey.at
                    && read(flow.netns)
            })
            .map(|flow| {
                let since = self.missing.get(&flow.sock).copied();
                (flow.sock, since.unwrap_or(survey.at))
            })
            .collect();
        self.missing = missing;
        let vanished: Vec<SockId> = self
            .missing
            .iter()
            .filter(|&(_, &since)| since < survey.at)
            .map(|(&sock, _)| sock)
            .collect();
        for sock in vanished {
            self.missing.remove(&sock);
            if self.remove_live(sock).is_some() {
                self.connecting.remove(&sock);
                self.evicted_live += 1;
            }
        }
    }

    fn add_preexisting(&mut self, entry: &SocketEntry, survey: &Survey) -> Option<SockId> {
        if self.live.len() >= self.capacity.live {
            self.evicted_live += 1;
            return None;
        }
        self.stand_ins += 1;
        // Kernel addresses are never this small: no clash with a real one.
        let sock = SockId(self.stand_ins);
        let mut flow = Flow::new(sock, entry.netns, entry.local, entry.remote, survey.at);
        flow.state = entry.state;
        flow.preexisting = true;
        flow.learn(entry, survey.at);
        if let Some(limits) = survey.limits(entry.netns)
            && let Some((record, limits)) = seed::latest_retransmit(entry, limits, survey.at)
        {
            flow.limits = Some(Box::new(limits));
            flow.record_retransmit(record);
        }
        self.preexisting.insert(entry.tuple(), sock);
        self.live.insert(sock, flow);
        if entry.state == TcpState::SynSent {
            self.connecting.insert(sock);
        }
        Some(sock)
    }

    /// Moves a flow found by a survey to the key of its socket's address,
    /// the first time the probes report that socket with its 4-tuple. A
    /// connect the start-up survey caught in SYN_SENT may already have a
    /// flow of its own (its first event has no local port yet): the
    /// survey's copy then only lends it what the probes did not say.
    pub(super) fn adopt_preexisting(&mut self, sock: SockId, event: &Event) {
        if self.preexisting.is_empty() || event.local.port() == 0 {
            return;
        }
        // Only a new flow, or a connect the probes saw begin, can have a
        // stand-in: every other event skips the look-up.
        if self.live.contains_key(&sock) && !self.connecting.contains(&sock) {
            return;
        }
        let tuple = Tuple {
            netns: event.netns,
            local: event.local,
            remote: event.remote,
        };
        let Some(stand_in) = self.preexisting.remove(&tuple) else {
            return;
        };
        let Some(mut found) = self.live.remove(&stand_in) else {
            return;
        };
        self.connecting.remove(&stand_in);
        if let Some(flow) = self.live.get_mut(&sock) {
            flow.owner = flow.owner.take().or(found.owner);
            flow.unit = flow.unit.take().or(found.unit);
            flow.pod = flow.pod.take().or(found.pod);
            flow.socket = flow.socket.take().or(found.socket);
            return;
        }
        found.sock = sock;
        if let Some(index) = &mut self.by_tuple {
            super::index_flow(index, &found);
        }
        self.live.insert(sock, found);
    }
}

#[cfg(test)]
#[path = "table_survey_tests.rs"]
mod tests;
