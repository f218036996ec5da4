//! "Now", as the source tells it: every source hands one [`Clock`] to the
//! loops, and every line, age and window they stamp reads it. Live, it is
//! the probes' clock (monotonic time moved to the wall clock once, at
//! start, as every event's time is); in a replay, the recording's time as
//! played so far.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{SystemTime, UNIX_EPOCH},
};

use super::live::clock::events_now;
use crate::model::event::Nanos;

#[derive(Debug, Clone)]
pub enum Clock {
    /// The live probes' clock: monotonic time moved by this offset.
    Live { monotonic_to_wall_ns: i64 },
    /// A recording's own time, as its replay has played it (0 before its
    /// first line).
    Recording(Arc<AtomicU64>),
}

impl Default for Clock {
    fn default() -> Self {
        Self::Recording(Arc::default())
    }
}

impl PartialEq for Clock {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (
                Self::Live {
                    monotonic_to_wall_ns: a,
                },
                Self::Live {
                    monotonic_to_wall_ns: b,
                },
            ) => a == b,
            (Self::Recording(a), Self::Recording(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl Eq for Clock {}

impl Clock {
    pub fn now(&self) -> Nanos {
        match self {
            Self::Live {
                monotonic_to_wall_ns,
            } => events_now(*monotonic_to_wall_ns),
            Self::Recording(played) => played.load(Ordering::Relaxed),
        }
    }
}

/// The wall clock, for what a person reads as the time of day: when a
/// snapshot was taken and its file's name.
pub fn wall_now() -> Nanos {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos() as Nanos)
}
