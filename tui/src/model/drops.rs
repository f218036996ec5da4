//! What the Drops page reads: the segments the kernel dropped, counted per
//! reason and per destination (the remote end, seen from this host), with
//! rates over the last [`RATE_WINDOW`] seconds, and the newest drops kept
//! whole. Memory is bounded: at most [`NEWEST`] drops, [`KEYS`] reasons and
//! [`KEYS`] destinations (the least-dropped give way).

use std::{
    collections::{HashMap, VecDeque},
    net::SocketAddr,
    sync::Arc,
};

use super::{
    event::{Event, EventKind, Nanos, PacketDrop, Task, TcpState},
    filter::{Filter, Subject},
    flow::Flow,
};

/// Drops kept whole, newest last.
pub const NEWEST: usize = 1024;
/// Reasons and destinations counted, at most.
pub const KEYS: usize = 1024;
/// Seconds a rate is averaged over.
pub const RATE_WINDOW: u64 = 10;
const SECOND: Nanos = 1_000_000_000;

/// One dropped segment.
#[derive(Debug, Clone, PartialEq)]
pub struct Dropped {
    pub at: Nanos,
    pub netns: u32,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// The owner of the flow the segment belonged to, when known.
    pub owner: Option<Task>,
    /// That flow's container or systemd unit, when known.
    pub unit: Option<Arc<str>>,
    /// That flow's state when the segment was dropped.
    pub state: Option<TcpState>,
    pub drop: PacketDrop,
}

impl Dropped {
    pub fn subject(&self) -> Subject<'_> {
        Subject {
            owner: self.owner.as_ref(),
            unit: self.unit.as_deref(),
            state: self.state,
            drop_reason: Some(&self.drop.reason),
            ..Subject::ends(self.local, self.remote, self.netns)
        }
    }
}

/// A count and the drops of the last [`RATE_WINDOW`] seconds, by second.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RatedCount {
    pub count: u64,
    /// (second, drops in it), one slot per second of the window.
    seconds: [(u64, u32); RATE_WINDOW as usize],
}

impl RatedCount {
    fn add(&mut self, at: Nanos) {
        self.count += 1;
        let second = at / SECOND;
        let slot = &mut self.seconds[(second % RATE_WINDOW) as usize];
        if slot.0 != second {
            *slot = (second, 0);
        }
        slot.1 = slot.1.saturating_add(1);
    }

    /// Drops per second over the window ending at `now`.
    pub fn rate(&self, now: Nanos) -> f64 {
        let current = now / SECOND;
        let recent: u32 = self
            .seconds
            .iter()
            .filter(|(second, _)| *second <= current && current - second < RATE_WINDOW)
            .map(|(_, count)| count)
            .sum();
        f64::from(recent) / RATE_WINDOW as f64
    }
}

/// Counts by key, bounded: at [`KEYS`] the least-counted eighth goes.
#[derive(Debug, Clone)]
struct Tallies<K> {
    by: HashMap<K, RatedCount>,
}

impl<K> Default for Tallies<K> {
    fn default() -> Self {
        Self { by: HashMap::new() }
    }
}

impl<K: std::hash::Hash + Eq + Clone> Tallies<K> {
    fn add(&mut self, key: &K, at: Nanos) {
        if !self.by.contains_key(key) && self.by.len() >= KEYS {
            let mut counts: Vec<u64> = self.by.values().map(|tally| tally.count).collect();
            let cut = KEYS / 8;
            let (_, &mut threshold, _) = counts.select_nth_unstable(cut);
            self.by.retain(|_, tally| tally.count > threshold);
        }
        self.by.entry(key.clone()).or_default().add(at);
    }

    /// Most dropped first, then by key.
    fn sorted(&self, now: Nanos) -> Vec<(K, u64, f64)>
    where
        K: Ord,
    {
        let mut rows: Vec<(K, u64, f64)> = self
            .by
            .iter()
            .map(|(key, tally)| (key.clone(), tally.count, tally.rate(now)))
            .collect();
        rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        rows
    }
}

/// Every drop seen: totals, and the newest ones whole.
#[derive(Debug, Clone, Default)]
pub struct Drops {
    pub total: u64,
    by_reason: Tallies<Arc<str>>,
    by_destination: Tallies<SocketAddr>,
    newest: VecDeque<Dropped>,
}

/// What the page shows: counts with drops per second, most first.
#[derive(Debug, Clone, PartialEq)]
pub struct DropCounts<'a> {
    pub by_reason: Vec<(Arc<str>, u64, f64)>,
    pub by_destination: Vec<(SocketAddr, u64, f64)>,
    /// Newest first.
    pub newest: Vec<&'a Dropped>,
    /// False when a filter is set: the counts are then those of the kept
    /// newest drops that match it, not of every drop.
    pub all: bool,
}

impl Drops {
    /// Records a drop event; `flow` is the live flow it belongs to, when
    /// the table knows it.
    pub fn record(&mut self, event: &Event, flow: Option<&Flow>) {
        let EventKind::Drop(drop) = &event.kind else {
            return;
        };
        self.total += 1;
        self.by_reason.add(&drop.reason, event.ts);
        self.by_destination.add(&event.remote, event.ts);
        if self.newest.len() == NEWEST {
            self.newest.pop_front();
        }
        self.newest.push_back(Dropped {
            at: event.ts,
            netns: event.netns,
            local: event.local,
            remote: event.remote,
            owner: flow.and_then(|flow| flow.owner.clone()),
            unit: flow.and_then(|flow| flow.unit.clone()),
            state: flow.map(|flow| flow.state),
            drop: drop.clone(),
        });
    }

    /// The counts and newest drops that pass `filter`, at `now`.
    pub fn summary(&self, filter: &Filter, now: Nanos) -> DropCounts<'_> {
        let newest: Vec<&Dropped> = self
            .newest
            .iter()
            .rev()
            .filter(|dropped| filter.matches(&dropped.subject()))
            .collect();
        if filter.is_empty() {
            return DropCounts {
                by_reason: self.by_reason.sorted(now),
                by_destination: self.by_destination.sorted(now),
                newest,
                all: true,
            };
        }
        let mut by_reason = Tallies::default();
        let mut by_destination = Tallies::default();
        for dropped in &newest {
            by_reason.add(&dropped.drop.reason, dropped.at);
            by_destination.add(&dropped.remote, dropped.at);
        }
        DropCounts {
            by_reason: by_reason.sorted(now),
            by_destination: by_destination.sorted(now),
            newest,
            all: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::event::{SockId, TcpFlags};

    fn drop_event(at: Nanos, reason: &str, remote: &str) -> Event {
        Event {
            ts: at,
            sock: None,
            netns: 7,
            local: "10.0.0.2:80".parse().expect("address"),
            remote: remote.parse().expect("address"),
            task: None,
            kind: EventKind::Drop(PacketDrop {
                reason: Arc::from(reason),
                location: Arc::from("nft_do_chain+0x1"),
                flags: TcpFlags(0x02),
                outgoing: false,
                stack: None,
            }),
        }
    }

    #[test]
    fn counts_and_rates_per_reason_and_destination() {
        let mut drops = Drops::default();
        for i in 0..20 {
            drops.record(
                &drop_event(i * SECOND / 2, "NETFILTER_DROP", "10.0.0.1:5000"),
                None,
            );
        }
        drops.record(&drop_event(9 * SECOND, "NO_SOCKET", "10.0.0.3:6000"), None);
        let summary = drops.summary(&Filter::default(), 9 * SECOND);
        assert_eq!(drops.total, 21);
        assert_eq!(summary.by_reason[0].0.as_ref(), "NETFILTER_DROP");
        assert_eq!(summary.by_reason[0].1, 20);
        assert!((summary.by_reason[0].2 - 2.0).abs() < 1e-9, "20 in 10 s");
        assert_eq!(
            summary.by_destination[1].0,
            "10.0.0.3:6000".parse().expect("addr")
        );
        assert_eq!(summary.newest[0].drop.reason.as_ref(), "NO_SOCKET");
        let later = drops.summary(&Filter::default(), 30 * SECOND);
        assert_eq!(later.by_reason[0].2, 0.0, "no drops in the last 10 s");
    }

    #[test]
    fn a_reason_filter_matches_part_of_the_name_in_any_case() {
        let mut drops = Drops::default();
        drops.record(&drop_event(1, "TCP_RFC7323_PAWS", "10.0.0.1:5000"), None);
        drops.record(&drop_event(2, "NO_SOCKET", "10.0.0.1:5001"), None);
        let filter: Filter = "reason:paws".parse().expect("filter");
        let summary = drops.summary(&filter, 2);
        assert!(!summary.all);
        assert_eq!(summary.newest.len(), 1);
        assert_eq!(summary.by_reason.len(), 1);
        let by_port: Filter = "dport:5001".parse().expect("filter");
        assert_eq!(
            drops.summary(&by_port, 2).newest[0].drop.reason.as_ref(),
            "NO_SOCKET"
        );
    }

    #[test]
    fn state_and_unit_filters_narrow_drops_to_those_of_matching_flows() {
        let mut drops = Drops::default();
        let event = drop_event(1, "NETFILTER_DROP", "10.0.0.1:5000");
        let mut flow = Flow::new(SockId(1), 7, event.local, event.remote, 0);
        flow.state = TcpState::SynSent;
        flow.unit = Some(Arc::from("api.service"));
        drops.record(&event, Some(&flow));
        drops.record(&drop_event(2, "NO_SOCKET", "10.0.0.1:5001"), None);
        let reasons = |filter: &str| -> Vec<String> {
            let filter: Filter = filter.parse().expect("filter");
            let summary = drops.summary(&filter, 2);
            summary
                .newest
                .iter()
                .map(|dropped| dropped.drop.reason.to_string())
                .collect()
        };
        assert_eq!(reasons("state:syn_sent"), ["NETFILTER_DROP"]);
        assert_eq!(reasons("unit:api"), ["NETFILTER_DROP"]);
        assert!(reasons("state:established").is_empty());
        assert!(reasons("unit:db").is_empty());
    }

    #[test]
    fn memory_stays_bounded() {
        let mut drops = Drops::default();
        for i in 0..(NEWEST as u64 * 3) {
            let remote = format!("10.0.{}.{}:1", i / 256 % 256, i % 256);
            drops.record(&drop_event(i, &format!("REASON_{i}"), &remote), None);
        }
        let summary = drops.summary(&Filter::default(), 0);
        assert_eq!(summary.newest.len(), NEWEST);
        assert!(summary.by_reason.len() <= KEYS);
        assert!(summary.by_destination.len() <= KEYS);
    }
}
