//! The JSON-lines contract of `tcpscope --json`, written once: one owned
//! type per line kind, all of them in [`Line`], tagged by `kind`. The
//! `--json` writer (`output`) converts the model into these types and the
//! replay reader (`source::replay`) converts them back, so the two cannot
//! drift. Field names are stable: add fields (read with a default, for
//! older recordings), never rename or remove one; `wire/tests.rs` holds a
//! sample of every kind that fails when a field changes.

mod events;
mod flows;
mod health;
mod time;

use std::net::{IpAddr, SocketAddr};

use serde::{Deserialize, Serialize};

pub use events::{
    DropLine, EventFields, OpenedLine, OpensLine, RetransmitLine, StateLine, SynAckLine,
};
pub use flows::{
    FlowEndLine, FlowLine, LimitsField, OwnerFields, PodFields, SockinfoLine, TcpInfo,
};
pub use health::{
    CountersLine, DestinationLine, ListenerLine, ProbeFailure, StallEndLine, StallLine, StatsLine,
};
pub use time::{parse_rfc3339, rfc3339};

/// One line of `tcpscope --json`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Line {
    State(StateLine),
    Retransmit(RetransmitLine),
    SynackRetransmit(SynAckLine),
    ResetSent(EventFields),
    ResetReceived(EventFields),
    Destroy(EventFields),
    Drop(DropLine),
    Opened(OpenedLine),
    Opens(OpensLine),
    FlowEnd(FlowEndLine),
    Flow(FlowLine),
    Sockinfo(SockinfoLine),
    Stall(StallLine),
    StallEnd(StallEndLine),
    Listener(ListenerLine),
    Destination(DestinationLine),
    Counters(CountersLine),
    Stats(StatsLine),
    /// A kind this version does not know (a newer tcpscope's).
    #[serde(other)]
    Unknown,
}

/// The start of every line: enough to place it in time and to say which
/// kind failed to parse.
#[derive(Deserialize, Debug)]
pub struct Head {
    pub kind: String,
    pub ts: String,
}

/// Kinds the model works out again from the events (a replay skips them
/// unread).
pub const DERIVED_KINDS: [&str; 4] = ["flow_end", "stall", "stall_end", "destination"];

impl Head {
    /// Reads the kind and time of a line.
    pub fn read(text: &str) -> Result<Self, String> {
        serde_json::from_str(text).map_err(|error| format!("not an event: {error}"))
    }
}

impl Line {
    /// The line as one line of JSON, without its newline.
    pub fn to_json(&self) -> String {
        // Plain structs of strings and numbers always serialize; should a
        // future field fail to, the line says so instead of vanishing.
        serde_json::to_string(self)
            .unwrap_or_else(|error| format!("{{\"kind\":\"error\",\"error\":\"{error}\"}}"))
    }

    /// Parses the line whose head is `head`; the error says which kind
    /// failed and why.
    pub fn read(text: &str, head: &Head) -> Result<Self, String> {
        serde_json::from_str(text)
            .map_err(|error| format!("a {} line that does not parse: {error}", head.kind))
    }
}

/// Where a line's socket is: the same fields on every line about a flow.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoints {
    pub family: u8,
    /// The local end.
    pub saddr: IpAddr,
    pub sport: u16,
    /// The remote end.
    pub daddr: IpAddr,
    pub dport: u16,
    /// Inode of the network namespace.
    pub netns: u32,
}

impl Endpoints {
    pub fn new(local: SocketAddr, remote: SocketAddr, netns: u32) -> Self {
        Self {
            family: family(local),
            saddr: local.ip(),
            sport: local.port(),
            daddr: remote.ip(),
            dport: remote.port(),
            netns,
        }
    }

    pub fn local(&self) -> SocketAddr {
        SocketAddr::new(self.saddr, self.sport)
    }

    pub fn remote(&self) -> SocketAddr {
        SocketAddr::new(self.daddr, self.dport)
    }
}

/// 4 or 6, as the `family` fields say it.
pub fn family(addr: SocketAddr) -> u8 {
    if addr.is_ipv4() { 4 } else { 6 }
}

#[cfg(test)]
mod tests;
