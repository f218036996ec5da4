//! The kernel's drop reasons by number, named from the running kernel's
//! `enum skb_drop_reason` (the numbers change between kernels), and which
//! of them the drop probe leaves out as noise.

use std::{collections::HashMap, sync::Arc};

use tcpscope_common::{DropFilter, NO_DROP_REASON};

/// What the kernel's enum members start with; names are shown without it.
const PREFIX: &str = "SKB_DROP_REASON_";

/// Reasons that are not news: a socket's queues purged when it closes, a
/// packet freed without a reason (also RST segments into TIME_WAIT), and
/// packets consumed rather than dropped.
pub const NOISE: [&str; 4] = [
    "NOT_SPECIFIED",
    "QUEUE_PURGE",
    "SOCKET_CLOSE",
    "SKB_CONSUMED",
];

#[derive(Debug, Clone, Default)]
pub struct DropReasons {
    names: HashMap<u32, Arc<str>>,
}

impl DropReasons {
    /// From the enum's `(member name, number)` pairs.
    pub fn new(members: impl IntoIterator<Item = (String, u32)>) -> Self {
        let names = members
            .into_iter()
            .filter(|(name, _)| !name.ends_with("_MAX"))
            .map(|(name, number)| {
                let short = name.strip_prefix(PREFIX).unwrap_or(&name);
                (number, Arc::from(short))
            })
            .collect();
        Self { names }
    }

    /// The reason's name, `unknown` where the kernel gives none, or
    /// `REASON_<n>` for a number this kernel's BTF did not name.
    pub fn name(&self, number: u32) -> Arc<str> {
        if number == NO_DROP_REASON {
            return Arc::from("unknown");
        }
        self.names
            .get(&number)
            .cloned()
            .unwrap_or_else(|| Arc::from(format!("REASON_{number}")))
    }

    /// The probe's filter: the [`NOISE`] reasons this kernel has.
    pub fn noise_filter(&self) -> DropFilter {
        let mut filter = DropFilter::default();
        for (&number, name) in &self.names {
            if NOISE.contains(&&**name) {
                filter.mark_noise(number);
            }
        }
        filter
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reasons() -> DropReasons {
        DropReasons::new([
            ("SKB_NOT_DROPPED_YET".to_string(), 0),
            ("SKB_CONSUMED".to_string(), 1),
            ("SKB_DROP_REASON_NOT_SPECIFIED".to_string(), 2),
            ("SKB_DROP_REASON_NO_SOCKET".to_string(), 3),
            ("SKB_DROP_REASON_QUEUE_PURGE".to_string(), 70),
            ("SKB_DROP_REASON_MAX".to_string(), 120),
        ])
    }

    #[test]
    fn names_lose_the_prefix_and_unknown_numbers_say_so() {
        let reasons = reasons();
        assert_eq!(&*reasons.name(NO_DROP_REASON), "unknown");
        assert_eq!(&*reasons.name(3), "NO_SOCKET");
        assert_eq!(&*reasons.name(1), "SKB_CONSUMED");
        assert_eq!(&*reasons.name(120), "REASON_120");
    }

    #[test]
    fn noise_reasons_are_marked_for_the_probe_by_this_kernels_numbers() {
        let filter = reasons().noise_filter();
        assert!(filter.is_noise(1) && filter.is_noise(2) && filter.is_noise(70));
        assert!(!filter.is_noise(0) && !filter.is_noise(3));
        assert!(!filter.is_noise(1 << 16), "subsystem reasons always pass");
    }
}
