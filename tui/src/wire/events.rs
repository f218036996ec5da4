//! The lines of the probes' events: `state`, `retransmit`,
//! `synack_retransmit`, `drop`, `opened`, `opens`, and the bare
//! `reset_sent`, `reset_received` and `destroy`.

use serde::{Deserialize, Serialize};

use super::{Endpoints, flows::LimitsField};

/// What every event line carries first.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct EventFields {
    pub ts: String,
    /// The socket's kernel address, `0x...` (absent for a RST sent
    /// without a socket).
    pub sock: Option<String>,
    #[serde(flatten)]
    pub endpoints: Endpoints,
    /// The flow's owner.
    pub pid: Option<u32>,
    pub comm: Option<String>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct StateLine {
    #[serde(flatten)]
    pub event: EventFields,
    pub old_state: String,
    pub new_state: String,
    pub err: Option<String>,
    /// The kernel stack of a close on error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<Vec<String>>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct RetransmitLine {
    #[serde(flatten)]
    pub event: EventFields,
    pub rto_ms: u32,
    pub backoff: u8,
    pub retransmits: u8,
    #[serde(default)]
    pub tlp: bool,
    /// `timer`, `tlp`, `fast` or `unknown`.
    pub cause: String,
    /// The socket's state then (absent from older recordings).
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<LimitsField>,
    /// When the kernel will give up on the flow, if nothing answers.
    #[serde(default)]
    pub give_up_earliest: Option<String>,
    #[serde(default)]
    pub give_up_latest: Option<String>,
    #[serde(default)]
    pub give_up_error: Option<String>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct SynAckLine {
    #[serde(flatten)]
    pub event: EventFields,
    pub retransmits: u8,
    pub timeouts: u8,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct DropLine {
    #[serde(flatten)]
    pub event: EventFields,
    /// The kernel's drop reason, e.g. `NETFILTER_DROP`.
    pub reason: String,
    pub location: String,
    /// The TCP flags of the segment, e.g. `SYN` or `ACK|PSH`.
    pub flags: String,
    /// This host was sending the segment (usually it was receiving).
    #[serde(default)]
    pub outgoing: bool,
    #[serde(default)]
    pub stack: Vec<String>,
    /// A SYN retransmission kept on this host by local congestion: the
    /// kernel counted it as this one and retries in 500 ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kept_retransmit: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub give_up_earliest: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub give_up_latest: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub give_up_error: Option<String>,
}

/// A flow the probes kept to themselves while young and healthy, told
/// late: `ts` and the owner are its open's.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct OpenedLine {
    #[serde(flatten)]
    pub event: EventFields,
    /// `SYN_SENT` (a connect) or `SYN_RECV` (an accepted socket).
    pub opened_as: String,
    /// When its handshake completed, if it has.
    pub established_ts: Option<String>,
}

/// Connects to the remote end, and handshakes completed, that the probes
/// counted without sending each, since the last such line.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct OpensLine {
    #[serde(flatten)]
    pub event: EventFields,
    pub attempts: u32,
    pub established: u32,
}
