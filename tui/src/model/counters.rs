//! The kernel's TCP counters that matter in an incident, per network
//! namespace: parsed from the text of /proc/<pid>/net/netstat and
//! /proc/<pid>/net/snmp (a header line and a value line per prefix), each
//! with a one-line meaning, and a history per namespace that tells what
//! moved between samples and when each counter last moved.

use std::collections::BTreeMap;

use super::event::Nanos;

/// One counter tcpscope watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watched {
    /// The line prefix, without its colon: `TcpExt`, `Tcp`.
    pub prefix: &'static str,
    pub name: &'static str,
    pub meaning: &'static str,
}

const fn watched(prefix: &'static str, name: &'static str, meaning: &'static str) -> Watched {
    Watched {
        prefix,
        name,
        meaning,
    }
}

/// The counters an incident needs, in the order the pane lists them.
/// Counters a kernel does not print (PAWSPassive left with tcp_tw_recycle
/// in 4.12) are simply never read.
pub const WATCHED: [Watched; 25] = [
    watched(
        "TcpExt",
        "ListenOverflows",
        "connections dropped: a listener's accept queue was full",
    ),
    watched(
        "TcpExt",
        "ListenDrops",
        "connections dropped at a listener, for any reason (overflows included)",
    ),
    watched(
        "TcpExt",
        "TCPReqQFullDrop",
        "SYNs dropped: SYN queue full and syncookies off",
    ),
    watched(
        "TcpExt",
        "PAWSPassive",
        "SYNs rejected by PAWS: timestamp older than a recent connection's",
    ),
    watched(
        "TcpExt",
        "PAWSActive",
        "SYN-ACKs rejected by PAWS: timestamp older than expected",
    ),
    watched(
        "TcpExt",
        "PAWSEstab",
        "segments of established flows dropped by PAWS: old timestamp",
    ),
    watched(
        "TcpExt",
        "PAWSOldAck",
        "ACKs dropped by PAWS: old timestamp on an old ACK",
    ),
    watched(
        "TcpExt",
        "PAWSTimewait",
        "segments into TIME_WAIT dropped by PAWS",
    ),
    watched(
        "TcpExt",
        "TSEcrRejected",
        "segments dropped: timestamp echo not one this socket sent",
    ),
    watched(
        "TcpExt",
        "TCPTimeouts",
        "retransmission timeouts (RTO expiries), SYNs included",
    ),
    watched(
        "TcpExt",
        "TCPSynRetrans",
        "SYN and SYN-ACK retransmits: handshakes not answered",
    ),
    watched("Tcp", "RetransSegs", "segments retransmitted"),
    watched(
        "TcpExt",
        "TCPAbortOnTimeout",
        "connections the kernel gave up on: too many retransmits",
    ),
    watched(
        "TcpExt",
        "TCPAbortOnData",
        "RSTs sent: data arrived after the application closed",
    ),
    watched(
        "TcpExt",
        "TCPAbortOnClose",
        "RSTs sent: the application closed with unread data",
    ),
    watched("Tcp", "EstabResets", "established connections reset"),
    watched(
        "Tcp",
        "AttemptFails",
        "connect attempts that failed (SYN_SENT or SYN_RECV to CLOSE)",
    ),
    watched("Tcp", "OutRsts", "RSTs sent"),
    watched(
        "TcpExt",
        "TCPWinProbe",
        "zero-window probes sent: a peer has no room to receive",
    ),
    watched(
        "TcpExt",
        "TCPToZeroWindowAdv",
        "zero windows advertised: an application is not reading",
    ),
    watched(
        "TcpExt",
        "TCPZeroWindowDrop",
        "segments dropped: the receive window was zero",
    ),
    watched(
        "TcpExt",
        "TCPRcvQDrop",
        "segments dropped: receive queue over its memory limit",
    ),
    watched(
        "TcpExt",
        "TCPBacklogDrop",
        "segments dropped: socket backlog full while it was busy",
    ),
    watched(
        "Tcp",
        "InErrs",
        "segments received in error (bad checksum or header)",
    ),
    watched(
        "TcpExt",
        "TCPChallengeACK",
        "challenge ACKs sent: unexpected SYN or RST in window",
    ),
];

/// Why counter text could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CountersError {
    #[error("line {line}: header {header:?} is followed by values for {values:?}")]
    PrefixMismatch {
        line: usize,
        header: String,
        values: String,
    },
    #[error("line {line}: {prefix} has {names} names but {values} values")]
    CountMismatch {
        line: usize,
        prefix: String,
        names: usize,
        values: usize,
    },
    #[error("line {line}: {prefix} {name} is not a number: {value:?}")]
    NotANumber {
        line: usize,
        prefix: String,
        name: String,
        value: String,
    },
}

/// Every counter of one read, by (prefix, name). Values are signed: the
/// snmp file prints `MaxConn -1`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    values: BTreeMap<(String, String), i64>,
}

impl Snapshot {
    /// Parses the text of a netstat or snmp file and adds its counters.
    /// A trailing header without values (a file cut short) is ignored.
    pub fn parse(&mut self, text: &str) -> Result<(), CountersError> {
        let mut lines = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty());
        while let (Some((_, header)), Some((number, values))) = (lines.next(), lines.next()) {
            let line = number + 1;
            let (prefix, names) = header.split_once(':').unwrap_or((header, ""));
            let (value_prefix, values) = values.split_once(':').unwrap_or((values, ""));
            if prefix != value_prefix {
                return Err(CountersError::PrefixMismatch {
                    line,
                    header: prefix.to_string(),
                    values: value_prefix.to_string(),
                });
            }
            let names: Vec<&str> = names.split_whitespace().collect();
            let values: Vec<&str> = values.split_whitespace().collect();
            if names.len() != values.len() {
                return Err(CountersError::CountMismatch {
                    line,
                    prefix: prefix.to_string(),
                    names: names.len(),
                    values: values.len(),
                });
            }
            for (name, value) in names.into_iter().zip(values) {
                let number = value.parse().map_err(|_| CountersError::NotANumber {
                    line,
                    prefix: prefix.to_string(),
                    name: name.to_string(),
                    value: value.to_string(),
                })?;
                self.values
                    .insert((prefix.to_string(), name.to_string()), number);
            }
        }
        Ok(())
    }

    /// Parses the text of netstat and snmp files together.
    pub fn from_texts<'a>(texts: impl IntoIterator<Item = &'a str>) -> Result<Self, CountersError> {
        let mut snapshot = Self::default();
        for text in texts {
            snapshot.parse(text)?;
        }
        Ok(snapshot)
    }

    /// Every watched counter at zero.
    pub fn zeros() -> Self {
        let mut zeros = Self::default();
        for counter in &WATCHED {
            zeros.set(counter.prefix, counter.name, 0);
        }
        zeros
    }

    /// Sets one counter, as a replay sums a recording's moves.
    pub fn set(&mut self, prefix: &str, name: &str, value: i64) {
        self.values
            .insert((prefix.to_string(), name.to_string()), value);
    }

    pub fn get(&self, prefix: &str, name: &str) -> Option<i64> {
        self.values
            .get(&(prefix.to_string(), name.to_string()))
            .copied()
    }

    /// The watched counters, in [`WATCHED`] order.
    fn watched(&self) -> [Option<i64>; WATCHED.len()] {
        WATCHED.map(|counter| self.get(counter.prefix, counter.name))
    }
}

/// One watched counter of one namespace as of the latest sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reading {
    pub counter: Watched,
    pub total: i64,
    /// The change since the sample before (0 on the first).
    pub delta: i64,
    /// When it last moved, if it moved since tcpscope started.
    pub last_moved: Option<Nanos>,
}

/// One namespace's watched counters over time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// Time of the latest sample.
    pub at: Nanos,
    totals: [Option<i64>; WATCHED.len()],
    deltas: [i64; WATCHED.len()],
    last_moved: [Option<Nanos>; WATCHED.len()],
}

impl Counters {
    /// Takes a new sample: deltas against the previous one. A counter that
    /// went down (a namespace recreated under the same inode) starts over.
    pub fn update(&mut self, at: Nanos, snapshot: &Snapshot) {
        let totals = snapshot.watched();
        for (index, total) in totals.iter().enumerate() {
            let delta = match (self.totals[index], *total) {
                (Some(before), Some(now)) if now >= before => now - before,
                _ => 0,
            };
            self.deltas[index] = delta;
            if delta != 0 {
                self.last_moved[index] = Some(at);
            }
        }
        self.totals = totals;
        self.at = at;
    }

    fn reading(&self, index: usize) -> Option<Reading> {
        Some(Reading {
            counter: WATCHED[index],
            total: self.totals[index]?,
            delta: self.deltas[index],
            last_moved: self.last_moved[index],
        })
    }

    /// The counters that moved in the latest sample.
    pub fn moved(&self) -> impl Iterator<Item = Reading> + '_ {
        (0..WATCHED.len())
            .filter_map(|index| self.reading(index))
            .filter(|reading| reading.delta != 0)
    }

    /// The counters that moved since tcpscope started, in [`WATCHED`] order.
    pub fn ever_moved(&self) -> impl Iterator<Item = Reading> + '_ {
        (0..WATCHED.len())
            .filter_map(|index| self.reading(index))
            .filter(|reading| reading.last_moved.is_some())
    }

    /// Every watched counter this kernel prints.
    pub fn all(&self) -> impl Iterator<Item = Reading> + '_ {
        (0..WATCHED.len()).filter_map(|index| self.reading(index))
    }

    /// When any counter last moved.
    pub fn last_moved(&self) -> Option<Nanos> {
        self.last_moved.iter().flatten().max().copied()
    }
}

/// The counters of every network namespace, by namespace inode.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NamespaceCounters {
    namespaces: BTreeMap<u32, Counters>,
    /// The root namespace's inode (init's), when known.
    pub root: Option<u32>,
}

impl NamespaceCounters {
    /// Takes one sample of the namespace `netns`.
    pub fn update(&mut self, netns: u32, at: Nanos, snapshot: &Snapshot) {
        self.namespaces
            .entry(netns)
            .or_default()
            .update(at, snapshot);
    }

    /// Takes a survey of every namespace at `at`: the namespaces not in
    /// it are forgotten (they were deleted). With `from_zero`, a namespace
    /// seen for the first time moved from zero; otherwise its first sample
    /// is the baseline.
    pub fn survey<'a>(
        &mut self,
        at: Nanos,
        root: Option<u32>,
        samples: impl IntoIterator<Item = (u32, &'a Snapshot)>,
        from_zero: bool,
    ) {
        let mut alive = Vec::new();
        for (netns, snapshot) in samples {
            if from_zero && !self.namespaces.contains_key(&netns) {
                self.update(netns, at, &Snapshot::zeros());
            }
            self.update(netns, at, snapshot);
            alive.push(netns);
        }
        self.namespaces.retain(|netns, _| alive.contains(netns));
        self.root = root;
    }

    pub fn get(&self, netns: u32) -> Option<&Counters> {
        self.namespaces.get(&netns)
    }

    /// Root first, then the others by when something last moved, latest
    /// first, then by inode.
    pub fn by_activity(&self) -> Vec<(u32, &Counters)> {
        let mut all: Vec<(u32, &Counters)> = self
            .namespaces
            .iter()
            .map(|(netns, counters)| (*netns, counters))
            .collect();
        all.sort_by_key(|(netns, counters)| {
            (
                Some(*netns) != self.root,
                std::cmp::Reverse(counters.last_moved()),
                *netns,
            )
        });
        all
    }

    pub fn len(&self) -> usize {
        self.namespaces.len()
    }

    pub fn is_empty(&self) -> bool {
        self.namespaces.is_empty()
    }
}

#[cfg(test)]
#[path = "counters_tests.rs"]
mod tests;
