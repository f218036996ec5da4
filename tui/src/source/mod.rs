//! Where events come from. Every source (the live eBPF probes, a replayed
//! recording, a test's fake) sends the same [`Batch`]es down the same
//! channel, so everything downstream is indifferent to which one runs.

pub mod clock;
pub mod counters;
pub mod events;
pub mod live;
pub mod replay;
pub(crate) mod replay_survey;
pub mod survey;

use crate::model::{event::Event, socket::Survey};

pub use events::ProbeStatus;

/// Events in arrival order, with the source's running totals of what it
/// could not deliver.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Batch {
    pub events: Vec<Event>,
    /// Records the kernel dropped because the ring buffer was full.
    pub lost: u64,
    /// Records that did not decode (counted, never passed on).
    pub malformed: u64,
    /// A pass over the socket tables, when one is due.
    pub survey: Option<Survey>,
    /// Held with a live survey: the next one waits until it is dropped.
    pub lease: Lease,
}

/// A live survey's claim on memory: its surveyor starts the next full
/// survey only once every copy of the batch carrying this one is gone, so
/// that a dump of 100,000 sockets is never held twice (one being applied,
/// the next being read). Empty for every other source.
#[derive(Debug, Default, Clone)]
pub struct Lease {
    /// Never read: its drop is what the surveyor waits for.
    _held: Option<std::sync::Arc<()>>,
}

impl Lease {
    /// A lease, and what its surveyor asks whether it is still held.
    pub fn new() -> (Self, std::sync::Weak<()>) {
        let held = std::sync::Arc::new(());
        let watch = std::sync::Arc::downgrade(&held);
        (Self { _held: Some(held) }, watch)
    }
}

/// Leases say nothing of what a batch holds.
impl PartialEq for Lease {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// What a source delivered since start, and what it could not: the
/// `stats` line and the header report it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delivered {
    pub events: u64,
    pub lost: u64,
    pub malformed: u64,
    /// Network namespaces the latest survey could not read.
    pub netns_unreadable: u64,
}

impl Delivered {
    /// Takes a batch's running totals and what its survey could not read.
    pub fn take(&mut self, batch: &Batch) {
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

/// What a running source says about itself, for the header and stats.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceInfo {
    /// "live" or the recording's path.
    pub origin: String,
    pub probes: Vec<ProbeStatus>,
    /// Kernel fields this kernel lacks, each with what that means.
    pub missing_fields: Vec<live::offsets::Missing>,
    /// The source's "now", that of its events.
    pub clock: clock::Clock,
}

impl SourceInfo {
    pub fn attached(&self) -> usize {
        self.probes
            .iter()
            .filter(|probe| probe.failure.is_none())
            .count()
    }

    /// The pages that show less because a probe failed, each once.
    pub fn degraded_pages(&self) -> Vec<&'static str> {
        let mut pages: Vec<&'static str> = Vec::new();
        for page in self.probes.iter().filter_map(ProbeStatus::degraded_page) {
            if !pages.contains(&page) {
                pages.push(page);
            }
        }
        pages
    }
}
