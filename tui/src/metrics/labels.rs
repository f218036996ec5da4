//! The label sets of tcpscope's metrics. Every label's values are bounded:
//! names the kernel or tcpscope define (a reason, a cause, a phase, a
//! verdict), and the owner's unit, of which at most [`MOST_UNITS`] distinct
//! ones get their own series (the rest read `other`). Never a pid, an
//! address or a 5-tuple, except the destinations of the worst-N series.

use std::collections::HashSet;

use prometheus_client::encoding::EncodeLabelSet;

/// Distinct units labelled by name; later ones are `other`.
pub const MOST_UNITS: usize = 64;
/// What a unit past [`MOST_UNITS`] (or a destination past the worst N)
/// reads as.
pub const OTHER: &str = "other";

/// The owner's container or systemd unit: empty when unknown.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ByUnit {
    pub unit: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ByReason {
    pub reason: String,
    pub unit: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ByCause {
    pub cause: String,
    pub unit: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ByPhase {
    pub phase: String,
    pub error: String,
    pub unit: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ByDirection {
    pub direction: String,
    pub unit: String,
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

/// The unit label values handed out so far, at most [`MOST_UNITS`].
#[derive(Debug, Default)]
pub struct Units {
    named: HashSet<String>,
}

impl Units {
    /// The label value for `unit`.
    pub fn label(&mut self, unit: Option<&str>) -> String {
        let Some(unit) = unit.filter(|unit| !unit.is_empty()) else {
            return String::new();
        };
        if self.named.contains(unit) {
            return unit.to_string();
        }
        if self.named.len() >= MOST_UNITS {
            return OTHER.to_string();
        }
        self.named.insert(unit.to_string());
        unit.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_past_the_bound_read_as_other() {
        let mut units = Units::default();
        for n in 0..MOST_UNITS {
            assert_eq!(
                units.label(Some(&format!("s{n}.service"))),
                format!("s{n}.service")
            );
        }
        assert_eq!(units.label(Some("late.service")), OTHER);
        assert_eq!(
            units.label(Some("s0.service")),
            "s0.service",
            "named ones stay named"
        );
        assert_eq!(units.label(None), "");
    }
}
