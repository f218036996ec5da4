//! The lines about one flow: `flow_end` when it ended, `flow` for one open
//! before tcpscope started, `sockinfo` for its `tcp_info`; and the socket
//! limits a `retransmit` line carries.

use serde::{Deserialize, Serialize};

use super::Endpoints;
use crate::model::{
    event::SocketLimits,
    socket::{Pod, TcpDetails},
};

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct FlowEndLine {
    pub ts: String,
    pub sock: String,
    #[serde(flatten)]
    pub endpoints: Endpoints,
    pub owner_pid: Option<u32>,
    pub owner_comm: Option<String>,
    /// Why it ended: `timeout`, `reset`, `refused`...
    pub reason: String,
    pub duration_ms: u64,
    /// False when the flow was already open when tcpscope started: its
    /// duration then counts from when tcpscope first saw it.
    pub seen_from_start: bool,
    pub retransmits: u32,
    pub resets_received: u32,
    pub err: Option<String>,
    pub last_state: String,
    #[serde(default)]
    pub stack: Vec<String>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct FlowLine {
    pub ts: String,
    #[serde(flatten)]
    pub endpoints: Endpoints,
    #[serde(default)]
    pub preexisting: bool,
    pub state: String,
    #[serde(flatten)]
    pub owner: OwnerFields,
    #[serde(default)]
    pub rto_ms: Option<u32>,
    #[serde(default)]
    pub backoff: Option<u8>,
    #[serde(default)]
    pub retransmits: Option<u8>,
    #[serde(default)]
    pub unacked: Option<u32>,
    #[serde(default)]
    pub last_send_ms: Option<u32>,
    #[serde(default)]
    pub give_up_earliest: Option<String>,
    #[serde(default)]
    pub give_up_latest: Option<String>,
    #[serde(default)]
    pub give_up_error: Option<String>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct SockinfoLine {
    pub ts: String,
    #[serde(flatten)]
    pub endpoints: Endpoints,
    pub state: String,
    #[serde(flatten)]
    pub owner: OwnerFields,
    pub send_queue: u32,
    pub receive_queue: u32,
    #[serde(flatten)]
    pub info: TcpInfo,
}

/// Who holds a flow's or listener's socket: the same fields on `flow`,
/// `sockinfo` and `listener` lines.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct OwnerFields {
    pub owner_pid: Option<u32>,
    pub owner_comm: Option<String>,
    /// The owner's container or systemd unit.
    #[serde(default)]
    pub unit: Option<String>,
    /// The owner's Kubernetes pod, when its container runtime names one.
    #[serde(default, flatten, skip_serializing_if = "Option::is_none")]
    pub pod: Option<PodFields>,
}

/// The Kubernetes pod of a flow's or listener's owner.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct PodFields {
    pub pod_namespace: String,
    pub pod: String,
    pub container: String,
}

impl From<&Pod> for PodFields {
    fn from(pod: &Pod) -> Self {
        Self {
            pod_namespace: pod.namespace.to_string(),
            pod: pod.name.to_string(),
            container: pod.container.to_string(),
        }
    }
}

impl From<&PodFields> for Pod {
    fn from(fields: &PodFields) -> Self {
        Self {
            namespace: fields.pod_namespace.as_str().into(),
            name: fields.pod.as_str().into(),
            container: fields.container.as_str().into(),
        }
    }
}

/// A socket's `tcp_info`, in the units `ss -ti` prints.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpInfo {
    pub rto_ms: u32,
    pub backoff: u8,
    pub retransmits: u8,
    pub probes: u8,
    pub srtt_us: u32,
    pub rttvar_us: u32,
    pub cwnd: u32,
    pub ssthresh: u32,
    pub mss: u32,
    pub unacked: u32,
    pub lost: u32,
    pub retrans: u32,
    pub total_retrans: u32,
    pub notsent_bytes: u32,
    pub bytes_acked: u64,
    pub bytes_received: u64,
    pub snd_wnd: u32,
    pub rcv_space: u32,
    /// Kernels from 6.2.
    pub rcv_wnd: Option<u32>,
    pub last_send_ms: u32,
    pub last_receive_ms: u32,
    pub last_ack_ms: u32,
}

/// What bounds a socket's retransmissions, so that a replay forecasts
/// like the live view.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitsField {
    pub retries2: u8,
    pub syn_retries: u8,
    pub synack_retries: u8,
    pub orphan_retries: u8,
    pub syn_linear_timeouts: u8,
    pub sock_syn_retries: Option<u8>,
    pub user_timeout_ms: Option<u32>,
    pub rto_min_ms: Option<u32>,
    pub rto_max_ms: Option<u32>,
    pub since_first_retransmit_ms: Option<u32>,
    /// Absent from older recordings: then 0, no slack.
    #[serde(default)]
    pub hz: u32,
}

/// Lists the fields of two structs with the same fields, to convert one
/// into the other both ways.
macro_rules! same_fields {
    ($model:ty, $wire:ty, [$($field:ident),* $(,)?]) => {
        impl From<&$model> for $wire {
            fn from(from: &$model) -> Self {
                Self { $($field: from.$field),* }
            }
        }
        impl From<&$wire> for $model {
            fn from(from: &$wire) -> Self {
                Self { $($field: from.$field),* }
            }
        }
    };
}

same_fields!(
    TcpDetails,
    TcpInfo,
    [
        rto_ms,
        backoff,
        retransmits,
        probes,
        srtt_us,
        rttvar_us,
        cwnd,
        ssthresh,
        mss,
        unacked,
        lost,
        retrans,
        total_retrans,
        notsent_bytes,
        bytes_acked,
        bytes_received,
        snd_wnd,
        rcv_space,
        rcv_wnd,
        last_send_ms,
        last_receive_ms,
        last_ack_ms,
    ]
);

same_fields!(
    SocketLimits,
    LimitsField,
    [
        retries2,
        syn_retries,
        synack_retries,
        orphan_retries,
        syn_linear_timeouts,
        sock_syn_retries,
        user_timeout_ms,
        rto_min_ms,
        rto_max_ms,
        since_first_retransmit_ms,
        hz,
    ]
);
