//! The lines about the box rather than one event: `stall` and `stall_end`
//! for senders without progress, `listener` for a listener in trouble,
//! `destination` for a remote address:port's counts and verdict,
//! `counters` for a namespace's TCP counters, and `stats`.

use std::{collections::BTreeMap, net::IpAddr};

use serde::{Deserialize, Serialize};

use super::{Endpoints, flows::OwnerFields};

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct StallLine {
    pub ts: String,
    pub sock: String,
    #[serde(flatten)]
    pub endpoints: Endpoints,
    pub state: String,
    pub owner_pid: Option<u32>,
    pub owner_comm: Option<String>,
    /// `zero_window`, `retransmitting`...
    pub cause: String,
    /// For a zero window: whether the peer answers the window probes.
    pub peer_alive: Option<bool>,
    /// Since the last sample that saw progress.
    pub stalled_ms: u64,
    pub unacked: u32,
    pub notsent_bytes: u32,
    pub send_queue: u32,
    pub snd_wnd: u32,
    pub probes: u8,
    pub backoff: u8,
    pub retransmits: u8,
    pub total_retrans: u32,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct StallEndLine {
    pub ts: String,
    #[serde(flatten)]
    pub endpoints: Endpoints,
    pub owner_pid: Option<u32>,
    pub owner_comm: Option<String>,
    pub cause: String,
    pub peer_alive: Option<bool>,
    /// From the last progress before the stall to the last sample that
    /// saw the flow stalled.
    pub stalled_ms: u64,
    /// The flow closed while stalled (else it made progress again).
    pub closed: bool,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ListenerLine {
    pub ts: String,
    pub family: u8,
    pub saddr: IpAddr,
    pub sport: u16,
    pub netns: u32,
    #[serde(flatten)]
    pub owner: OwnerFields,
    /// Connections waiting in the accept queue.
    pub depth: u32,
    pub backlog: u32,
    /// The queue holds more than the backlog: the next SYN is dropped.
    pub full: bool,
    /// The drop count rose within the last few seconds.
    pub dropping: bool,
    pub drops: Option<u32>,
    /// The rise since the previous survey.
    pub drops_delta: u32,
    pub half_open: u32,
    pub synack_retransmits: u64,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct DestinationLine {
    pub ts: String,
    pub family: u8,
    pub daddr: IpAddr,
    pub dport: u16,
    /// How far back the counts reach.
    pub window_s: u64,
    pub verdict: String,
    pub attempts: u32,
    pub established: u32,
    pub timeouts: u32,
    pub refused: u32,
    pub resets: u32,
    pub abandoned: u32,
    pub syn_retransmits: u32,
    pub retransmits: u32,
    pub drops: u32,
    pub last_drop_reason: Option<String>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct CountersLine {
    pub ts: String,
    pub netns: u32,
    /// Watched counters that moved since the previous sample, by name.
    pub deltas: BTreeMap<String, i64>,
}

/// About once a second: what tcpscope delivered and what it could not.
/// Every count reads 0 when a line lacks it.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
pub struct StatsLine {
    pub ts: String,
    #[serde(default)]
    pub events: u64,
    #[serde(default)]
    pub lost: u64,
    #[serde(default)]
    pub malformed: u64,
    /// Network namespaces the socket survey could not read.
    #[serde(default)]
    pub netns_unreadable: u64,
    #[serde(default)]
    pub flows_live: u64,
    #[serde(default)]
    pub flows_ended: u64,
    #[serde(default)]
    pub flows_evicted: u64,
    #[serde(default)]
    pub probes_attached: u64,
    #[serde(default)]
    pub probes_failed: Vec<ProbeFailure>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ProbeFailure {
    pub probe: String,
    pub error: String,
}
