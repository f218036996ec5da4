//! `tcpscope --metrics ADDR:PORT`: what the model knows, as Prometheus
//! metrics, for a fleet's monitoring to say which box to ssh into.
//! Counters move as events are applied (so none is missed between two
//! scrapes); gauges and the per-destination series are set from the
//! collected state once a second. Labels are bounded (see [`labels`]):
//! the worst [`Settings::destinations`] destinations get series of their
//! own, the rest are folded into one `other` series and counted. The
//! registry is shared with the HTTP [`server`], which only encodes it.

pub mod exposition;
pub mod labels;
pub mod server;

use std::sync::Arc;

use prometheus_client::{
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{Histogram, exponential_buckets},
        info::Info,
    },
    registry::{Registry, Unit},
};

use crate::{
    model::{
        collected::Collected,
        destinations::{Summary, Tally, Verdict},
        errno,
        event::{Event, EventKind, Nanos, RetransmitCause, TcpState},
        flow::{EndReason, Flow},
        forecast::forecast,
        socket::Pod,
        table::Applied,
    },
    source::{Delivered, SourceInfo},
};
use labels::{
    ByCause, ByCondition, ByDestination, ByDestinationKind, ByDestinationVerdict, ByDirection,
    ByDropReason, ByPhase, ByProbe, ByReason, ByStallCause, ByUnit, OTHER, Owner, OwnerLabels,
};

/// How many destinations get series of their own by default.
pub const DESTINATIONS: usize = 10;

#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// The worst this many destinations get series; the rest fold.
    pub destinations: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            destinations: DESTINATIONS,
        }
    }
}

/// Every metric family, and what the next refresh needs.
pub struct Metrics {
    registry: Arc<Registry>,
    settings: Settings,
    units: OwnerLabels,
    /// The source's lost and malformed totals at the latest batch.
    delivered: Delivered,
    connect_attempts: Family<ByUnit, Counter>,
    connections_established: Family<ByUnit, Counter>,
    connect_failures: Family<ByReason, Counter>,
    syn_retransmits: Family<ByUnit, Counter>,
    synack_retransmits: Family<ByUnit, Counter>,
    retransmits: Family<ByCause, Counter>,
    rto: Histogram,
    give_ups: Family<ByPhase, Counter>,
    resets: Family<ByDirection, Counter>,
    drops: Family<ByDropReason, Counter>,
    flows_live: Gauge,
    flows_backing_off: Family<ByUnit, Gauge>,
    stalled: Family<ByStallCause, Gauge>,
    listeners: Family<ByCondition, Gauge>,
    destination_verdict: Family<ByDestinationVerdict, Gauge>,
    destination_attempts: Family<ByDestination, Gauge>,
    destination_failures: Family<ByDestinationKind, Gauge>,
    destinations_folded: Gauge,
    destinations_evicted: Counter,
    events: Counter,
    lost: Counter,
    malformed: Counter,
}

impl Metrics {
    pub fn new(settings: Settings, source: &SourceInfo) -> Self {
        let mut registry = Registry::with_prefix("tcpscope");
        let connect_attempts = Family::default();
        registry.register(
            "connect_attempts",
            "Connects started (CLOSE to SYN_SENT), by the owner's unit",
            Family::clone(&connect_attempts),
        );
        let connections_established = Family::default();
        registry.register(
            "connections_established",
            "Connects that completed (SYN_SENT to ESTABLISHED)",
            Family::clone(&connections_established),
        );
        let connect_failures = Family::default();
        registry.register(
            "connect_failures",
            "Connects that ended without completing, by reason (timeout, refused, reset, abandoned)",
            Family::clone(&connect_failures),
        );
        let syn_retransmits = Family::default();
        registry.register(
            "syn_retransmits",
            "SYNs the kernel sent again (connects waiting for an answer)",
            Family::clone(&syn_retransmits),
        );
        let synack_retransmits = Family::default();
        registry.register(
            "synack_retransmits",
            "SYN-ACKs a listener sent again (clients not completing the handshake)",
            Family::clone(&synack_retransmits),
        );
        let retransmits = Family::default();
        registry.register(
            "retransmits",
            "Data retransmissions, by cause (timer, tlp, fast, unknown)",
            Family::clone(&retransmits),
        );
        let rto = Histogram::new(exponential_buckets(0.2, 2.0, 10));
        registry.register_with_unit(
            "retransmission_timeout",
            "The retransmission timeout that expired, at each timer retransmission",
            Unit::Seconds,
            rto.clone(),
        );
        let give_ups = Family::default();
        registry.register(
            "give_ups",
            "Flows the kernel closed after retrying too long, by phase (connect, handshake, established, closing) and error",
            Family::clone(&give_ups),
        );
        let resets = Family::default();
        registry.register(
            "resets",
            "RSTs sent and received by flows, by direction",
            Family::clone(&resets),
        );
        let drops = Family::default();
        registry.register(
            "drops",
            "TCP segments the kernel dropped, by its reason",
            Family::clone(&drops),
        );
        let flows_live = Gauge::default();
        registry.register("flows", "Live flows in the table", flows_live.clone());
        let flows_backing_off = Family::default();
        registry.register(
            "flows_backing_off",
            "Live flows retransmitting now, toward a give-up if nothing answers",
            Family::clone(&flows_backing_off),
        );
        let stalled = Family::default();
        registry.register(
            "stalled_flows",
            "Live flows whose sender makes no progress, by cause",
            Family::clone(&stalled),
        );
        let listeners = Family::default();
        registry.register(
            "listeners_in_trouble",
            "Listeners whose accept queue is full, or whose drops rose in the last seconds",
            Family::clone(&listeners),
        );
        let destination_verdict = Family::default();
        registry.register(
            "destination_verdict",
            "1 for each of the worst destinations (address:port) with its verdict over the last 5 minutes; other holds the rest",
            Family::clone(&destination_verdict),
        );
        let destination_attempts = Family::default();
        registry.register(
            "destination_connect_attempts",
            "Connects to the destination over the last 5 minutes",
            Family::clone(&destination_attempts),
        );
        let destination_failures = Family::default();
        registry.register(
            "destination_failures",
            "Failures toward the destination over the last 5 minutes, by kind",
            Family::clone(&destination_failures),
        );
        let destinations_folded = Gauge::default();
        registry.register(
            "destinations_folded",
            "Destinations counted in the other series instead of their own",
            destinations_folded.clone(),
        );
        let destinations_evicted = Counter::default();
        registry.register(
            "destinations_evicted",
            "Destinations forgotten to keep the table of destinations bounded (the least active go)",
            destinations_evicted.clone(),
        );
        let events = Counter::default();
        registry.register("events", "Events the probes delivered", events.clone());
        let lost = Counter::default();
        registry.register(
            "lost_events",
            "Events lost before tcpscope read them (ring buffer full, probe runs the kernel skipped)",
            lost.clone(),
        );
        let malformed = Counter::default();
        registry.register(
            "malformed_records",
            "Records that did not decode",
            malformed.clone(),
        );
        let probe_attached: Family<ByProbe, Gauge> = Family::default();
        registry.register(
            "probe_attached",
            "1 for each probe attached, 0 for one that failed",
            Family::clone(&probe_attached),
        );
        for probe in &source.probes {
            let labels = ByProbe {
                probe: probe.name.clone(),
            };
            probe_attached
                .get_or_create(&labels)
                .set(i64::from(probe.failure.is_none()));
        }
        registry.register(
            "build",
            "tcpscope's version",
            Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
        );
        Self {
            registry: Arc::new(registry),
            settings,
            units: OwnerLabels::default(),
            delivered: Delivered::default(),
            connect_attempts,
            connections_established,
            connect_failures,
            syn_retransmits,
            synack_retransmits,
            retransmits,
            rto,
            give_ups,
            resets,
            drops,
            flows_live,
            flows_backing_off,
            stalled,
            listeners,
            destination_verdict,
            destination_attempts,
            destination_failures,
            destinations_folded,
            destinations_evicted,
            events,
            lost,
            malformed,
        }
    }

    /// The registry, for the server to encode.
    pub fn registry(&self) -> Arc<Registry> {
        Arc::clone(&self.registry)
    }

    /// Counts what one applied event did; `flow` is where the table put it.
    pub fn event(&mut self, event: &Event, applied: &Applied, flow: Option<&Flow>) {
        let owner = self.units.label(
            flow.and_then(|flow| flow.unit.as_deref()),
            flow.and_then(|flow| flow.pod.as_deref())
                .map(Pod::qualified),
        );
        let by_unit = ByUnit {
            unit: owner.unit.clone(),
            pod: owner.pod.clone(),
        };
        match &event.kind {
            EventKind::State { old, new, .. } => {
                if *old == TcpState::Close && *new == TcpState::SynSent {
                    self.connect_attempts.get_or_create(&by_unit).inc();
                }
                if *old == TcpState::SynSent && *new == TcpState::Established {
                    self.connections_established.get_or_create(&by_unit).inc();
                }
            }
            EventKind::Retransmit(retransmit) => {
                if retransmit.cause == RetransmitCause::Timer {
                    self.rto.observe(f64::from(retransmit.rto_ms) / 1000.0);
                }
                let state = flow.map(|flow| flow.state).or(retransmit.state);
                if state == Some(TcpState::SynSent) {
                    self.syn_retransmits.get_or_create(&by_unit).inc();
                } else {
                    let labels = ByCause {
                        cause: retransmit.cause.name().to_string(),
                        unit: owner.unit.clone(),
                        pod: owner.pod.clone(),
                    };
                    self.retransmits.get_or_create(&labels).inc();
                }
            }
            EventKind::SynAckRetransmit { .. } => {
                self.synack_retransmits.get_or_create(&by_unit).inc();
            }
            EventKind::ResetSent | EventKind::ResetReceived => {
                let direction = match event.kind {
                    EventKind::ResetSent => "sent",
                    _ => "received",
                };
                let labels = ByDirection {
                    direction: direction.to_string(),
                    unit: owner.unit.clone(),
                    pod: owner.pod.clone(),
                };
                self.resets.get_or_create(&labels).inc();
            }
            EventKind::Drop(dropped) => {
                let labels = ByDropReason {
                    reason: dropped.reason.to_string(),
                };
                self.drops.get_or_create(&labels).inc();
            }
            EventKind::Opens {
                attempts,
                established,
            } => {
                self.connect_attempts
                    .get_or_create(&by_unit)
                    .inc_by(u64::from(*attempts));
                self.connections_established
                    .get_or_create(&by_unit)
                    .inc_by(u64::from(*established));
            }
            EventKind::Destroyed | EventKind::Opened { .. } => {}
        }
        if applied.ended()
            && let Some(flow) = flow
        {
            self.ended(flow, owner);
        }
    }

    /// Counts how a flow ended: a failed connect, a give-up.
    fn ended(&mut self, flow: &Flow, owner: Owner) {
        let Some(end) = &flow.end else { return };
        if end.last_state == TcpState::SynSent && end.reason != EndReason::Closed {
            let labels = ByReason {
                reason: end.reason.name().to_string(),
                unit: owner.unit.clone(),
                pod: owner.pod.clone(),
            };
            self.connect_failures.get_or_create(&labels).inc();
        }
        if end.reason == EndReason::Timeout {
            let labels = ByPhase {
                phase: phase(end.last_state).to_string(),
                error: errno::label(end.err).unwrap_or_else(|| "ETIMEDOUT".to_string()),
                unit: owner.unit,
                pod: owner.pod,
            };
            self.give_ups.get_or_create(&labels).inc();
        }
    }

    /// Takes a batch's running totals of what the source delivered.
    pub fn delivered(&mut self, delivered: Delivered) {
        self.events
            .inc_by(delivered.events.saturating_sub(self.delivered.events));
        self.lost
            .inc_by(delivered.lost.saturating_sub(self.delivered.lost));
        self.malformed
            .inc_by(delivered.malformed.saturating_sub(self.delivered.malformed));
        self.delivered = delivered;
    }

    /// Sets the gauges and the destinations' series from the collected
    /// state as of `now`.
    pub fn refresh(&mut self, collected: &Collected, now: Nanos) {
        self.flows_live
            .set(i64::try_from(collected.table.counts().live).unwrap_or(i64::MAX));
        self.flows_backing_off.clear();
        self.stalled.clear();
        for flow in collected.table.live() {
            if let Some(stall) = flow.progress.as_ref().and_then(|progress| progress.stall) {
                let labels = ByStallCause {
                    cause: stall.cause.name().to_string(),
                };
                self.stalled.get_or_create(&labels).inc();
            }
            if !flow.retransmits.is_empty() && forecast(flow, now).is_some() {
                let owner = self.units.label(
                    flow.unit.as_deref(),
                    flow.pod.as_deref().map(Pod::qualified),
                );
                let labels = ByUnit {
                    unit: owner.unit,
                    pod: owner.pod,
                };
                self.flows_backing_off.get_or_create(&labels).inc();
            }
        }
        self.listeners.clear();
        for listener in collected.listeners.iter() {
            for (condition, holds) in [("full", listener.full()), ("dropping", listener.dropping())]
            {
                let gauge = self.listeners.get_or_create(&ByCondition {
                    condition: condition.to_string(),
                });
                gauge.inc_by(i64::from(holds));
            }
        }
        self.destinations(&collected.destinations.summaries(now));
        let evicted = collected.destinations.evicted();
        self.destinations_evicted
            .inc_by(evicted.saturating_sub(self.destinations_evicted.get()));
    }

    /// The worst destinations' series, the others folded into `other`.
    fn destinations(&mut self, summaries: &[Summary<'_>]) {
        self.destination_verdict.clear();
        self.destination_attempts.clear();
        self.destination_failures.clear();
        let shown = self.settings.destinations.min(summaries.len());
        let (worst, rest) = summaries.split_at(shown);
        for summary in worst {
            let destination = summary.remote.to_string();
            self.destination(&destination, summary.verdict, &summary.tally);
        }
        if let Some(first) = rest.first() {
            let mut folded = Tally::default();
            for summary in rest {
                folded.add(&summary.tally);
            }
            // Sorted worst first: the first folded verdict is their worst.
            self.destination(OTHER, first.verdict, &folded);
        }
        self.destinations_folded
            .set(i64::try_from(rest.len()).unwrap_or(i64::MAX));
    }

    fn destination(&self, destination: &str, verdict: Verdict, tally: &Tally) {
        let verdict = ByDestinationVerdict {
            destination: destination.to_string(),
            verdict: verdict.name().to_string(),
        };
        self.destination_verdict.get_or_create(&verdict).set(1);
        let attempts = ByDestination {
            destination: destination.to_string(),
        };
        self.destination_attempts
            .get_or_create(&attempts)
            .set(i64::from(tally.attempts));
        for (kind, count) in [
            ("timeout", tally.timeouts),
            ("refused", tally.refused),
            ("reset", tally.resets),
            ("abandoned", tally.abandoned),
            ("syn_retransmit", tally.syn_retransmits),
            ("retransmit", tally.retransmits),
            ("drop", tally.drops),
        ] {
            let labels = ByDestinationKind {
                destination: destination.to_string(),
                kind: kind.to_string(),
            };
            self.destination_failures
                .get_or_create(&labels)
                .set(i64::from(count));
        }
    }
}

/// Where in its life a flow was when the kernel gave up on it.
fn phase(last_state: TcpState) -> &'static str {
    match last_state {
        TcpState::SynSent => "connect",
        TcpState::SynRecv => "handshake",
        TcpState::Established | TcpState::CloseWait => "established",
        _ => "closing",
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
