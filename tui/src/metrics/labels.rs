//! The label sets of tcpscope's metrics. Every label's values are bounded:
//! names the kernel or tcpscope define (a reason, a cause, a phase, a
//! verdict), and the owner (its unit and pod), of which at most [`MOST_OWNERS`] distinct
//! ones get their own series (the rest read `other`). Never a pid, an
//! address or a 5-tuple, except the destinations of the worst-N series.

use std::collections::HashSet;

use prometheus_client::encoding::EncodeLabelSet;

/// Distinct units labelled by name; later ones are `other`.
pub const MOST_OWNERS: usize = 64;
/// What a unit past [`MOST_OWNERS`] (or a destination past the worst N)
/// reads as.
pub const OTHER: &str = "other";

/// The owner's container or systemd unit, and its Kubernetes pod
/// (`namespace/name`): empty when unknown.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ByUnit {
    pub unit: String,
    pub pod: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ByReason {
    pub reason: String,
    pub unit: String,
    pub pod: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ByCause {
    pub cause: String,
    pub unit: String,
    pub pod: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ByPhase {
    pub phase: String,
    pub error: String,
    pub unit: String,
    pub pod: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ByDirection {
    pub direction: String,
    pub unit: String,
    pub pod: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ByDropReason {
    pub reason: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ByStallCause {
    pub cause: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ByCondition {
    pub condition: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ByDestination {
    pub destination: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ByDestinationVerdict {
    pub destination: String,
    pub verdict: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ByDestinationKind {
    pub destination: String,
    pub kind: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ByProbe {
    pub probe: String,
}

/// An owner's label values: its unit and pod.
#[derive(Debug, Clone, Default, Hash, PartialEq, Eq)]
pub struct Owner {
    pub unit: String,
    pub pod: String,
}

/// The owners labelled so far, at most [`MOST_OWNERS`] of them; later ones
/// read `other`.
#[derive(Debug, Default)]
pub struct OwnerLabels {
    named: HashSet<Owner>,
}

impl OwnerLabels {
    /// The label values for an owner of `unit` and `pod` (`namespace/name`).
    pub fn label(&mut self, unit: Option<&str>, pod: Option<String>) -> Owner {
        let owner = Owner {
            unit: unit.unwrap_or_default().to_string(),
            pod: pod.unwrap_or_default(),
        };
        if owner == Owner::default() || self.named.contains(&owner) {
            return owner;
        }
        if self.named.len() >= MOST_OWNERS {
            return Owner {
                unit: OTHER.to_string(),
                pod: String::new(),
            };
        }
        self.named.insert(owner.clone());
        owner
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_past_the_bound_read_as_other() {
        let mut units = OwnerLabels::default();
        let unit = |units: &mut OwnerLabels, name: &str| units.label(Some(name), None).unit;
        for n in 0..MOST_OWNERS {
            let name = format!("s{n}.service");
            assert_eq!(unit(&mut units, &name), name);
        }
        assert_eq!(unit(&mut units, "late.service"), OTHER);
        assert_eq!(
            unit(&mut units, "s0.service"),
            "s0.service",
            "named ones stay named"
        );
        assert_eq!(units.label(None, None), Owner::default());
    }
}
