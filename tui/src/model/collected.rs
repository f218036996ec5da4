//! Everything the model collects from a source, fed the same way for the
//! screen and for `--json`: the connection table and the aggregates the
//! pages and JSON lines read (drops, destinations, counters, listeners).

use super::{
    counters::NamespaceCounters,
    destinations::Destinations,
    drops::Drops,
    event::{Event, EventKind, SockId},
    listeners::Listeners,
    socket::{Scope, Survey},
    table::{Applied, ConnectionTable},
};

#[derive(Debug, Default, Clone)]
pub struct Collected {
    pub table: ConnectionTable,
    /// Segments the kernel dropped.
    pub drops: Drops,
    /// Per remote address:port, the last minutes of connects and failures.
    pub destinations: Destinations,
    /// The TCP counters of every network namespace, as last surveyed.
    pub counters: NamespaceCounters,
    /// The listeners of the latest survey.
    pub listeners: Listeners,
}

impl Collected {
    pub fn new(table: ConnectionTable) -> Self {
        Self {
            table,
            ..Self::default()
        }
    }

    /// Applies one event to the table and to every aggregate it concerns.
    pub fn apply_event(&mut self, event: &Event) -> Applied {
        if let EventKind::SynAckRetransmit { .. } = event.kind {
            self.listeners.synack_retransmit(event.netns, event.local);
        }
        let applied = self.table.apply(event);
        let flow = self.table.flow_at(applied.flow);
        if let EventKind::Drop(_) = event.kind {
            self.drops.record(event, flow);
            self.destinations.record(event, None);
            return applied;
        }
        self.destinations.record(event, flow);
        applied
    }

    /// Applies a survey; returns the flows it found open before tcpscope
    /// started (only the start-up survey finds any).
    pub fn apply_survey(&mut self, survey: &Survey) -> Vec<SockId> {
        let added = self.table.apply_survey(survey);
        if survey.scope != Scope::Watched {
            let samples = survey
                .counters
                .iter()
                .map(|(netns, counters)| (*netns, counters));
            self.counters
                .survey(survey.at, survey.root, samples, survey.counters_from_zero);
            self.listeners.apply_survey(survey);
        }
        added
    }
}

#[cfg(test)]
mod tests {
    use std::{net::SocketAddr, sync::Arc};

    use super::*;
    use crate::model::{
        event::{PacketDrop, TcpFlags, TcpState},
        filter::Filter,
    };

    const SECOND: u64 = 1_000_000_000;

    fn event(at: u64, local: &str, remote: &str, sock: Option<u64>, kind: EventKind) -> Event {
        let addr = |text: &str| text.parse::<SocketAddr>().expect("address");
        Event {
            ts: at,
            sock: sock.map(SockId),
            netns: 1,
            local: addr(local),
            remote: addr(remote),
            task: None,
            kind,
        }
    }

    #[test]
    fn a_drop_counts_on_the_drops_page_and_on_the_destination_it_was_headed_to() {
        let mut collected = Collected::default();
        let connect = EventKind::State {
            old: TcpState::Close,
            new: TcpState::SynSent,
            err: 0,
            stack: None,
        };
        collected.apply_event(&event(
            SECOND,
            "10.0.0.1:40000",
            "10.0.0.2:80",
            Some(7),
            connect,
        ));
        // The server's firewall drops the SYN: seen from the server.
        let dropped = EventKind::Drop(PacketDrop {
            reason: Arc::from("NETFILTER_DROP"),
            location: Arc::from("nft_do_chain+0x1"),
            flags: TcpFlags::default(),
            outgoing: false,
            stack: None,
        });
        collected.apply_event(&event(
            2 * SECOND,
            "10.0.0.2:80",
            "10.0.0.1:40000",
            None,
            dropped,
        ));
        let summaries = collected.destinations.summaries(3 * SECOND);
        let [summary] = summaries.as_slice() else {
            panic!("one destination: {summaries:?}");
        };
        assert_eq!(
            summary.remote,
            "10.0.0.2:80".parse::<SocketAddr>().expect("address")
        );
        assert_eq!((summary.tally.attempts, summary.tally.drops), (1, 1));
        let drops = collected.drops.summary(&Filter::default(), 3 * SECOND);
        assert_eq!(drops.newest.len(), 1);
    }
}
