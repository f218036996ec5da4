//! Where events come from. Every source (the live eBPF probes, a replayed
//! recording, a test's fake) sends the same [`Batch`]es down the same
//! channel, so everything downstream is indifferent to which one runs.

pub mod counters;
pub mod live;
pub mod replay;
mod replay_survey;
pub mod survey;

use std::fmt;

use crate::model::{event::Event, socket::Survey};

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
}

/// Whether one probe is live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeStatus {
    pub name: &'static str,
    /// None when attached; the kernel's or loader's reason otherwise.
    pub failure: Option<String>,
}

impl fmt::Display for ProbeStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.failure {
            None => write!(f, "{}: attached", self.name),
            Some(reason) => write!(f, "{}: not attached ({reason})", self.name),
        }
    }
}

/// What a running source says about itself, for the header and stats.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceInfo {
    /// "live" or the recording's path.
    pub origin: String,
    pub probes: Vec<ProbeStatus>,
    /// Optional kernel fields this kernel lacks (the probes read zero).
    pub missing_fields: Vec<String>,
    /// Live only: wall-clock minus monotonic time, ns, as the events are
    /// timed (see [`live::clock::events_now`]).
    pub monotonic_to_wall_ns: Option<i64>,
}

impl SourceInfo {
    pub fn attached(&self) -> usize {
        self.probes
            .iter()
            .filter(|probe| probe.failure.is_none())
            .count()
    }
}
