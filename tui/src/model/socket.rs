//! Sockets as the kernel's socket tables list them (sock_diag), for what the
//! probes cannot see: flows already open when tcpscope started, owners of
//! accepted connections, and the live `tcp_info` of a flow. A [`Survey`] is
//! one pass over every network namespace; the model never asks for one, a
//! source delivers it.

use std::{net::SocketAddr, sync::Arc};

use super::{
    counters::Snapshot,
    event::{Nanos, SocketLimits, Task, TcpState},
};

/// Who holds a socket open, as /proc tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub task: Task,
    /// The container or systemd unit, when the cgroup path names one.
    pub unit: Option<Arc<str>>,
    /// The Kubernetes pod of the container, when its runtime names one.
    pub pod: Option<Arc<Pod>>,
}

/// A Kubernetes pod and the container in it, as the container runtime's
/// annotations name them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pod {
    pub namespace: Arc<str>,
    pub name: Arc<str>,
    pub container: Arc<str>,
}

impl Pod {
    /// `namespace/name`, as kubectl and the `pod:` filter say it.
    pub fn qualified(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

impl std::fmt::Display for Pod {
    /// `namespace/name/container`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/{}", self.namespace, self.name, self.container)
    }
}

/// A socket's `tcp_info`, in the units `ss -ti` prints (a `sockinfo` line
/// carries it as `wire::TcpInfo`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpDetails {
    pub rto_ms: u32,
    pub backoff: u8,
    /// Retransmissions of the segment at the head of the queue
    /// (`icsk_retransmits`).
    pub retransmits: u8,
    /// Zero-window probes sent without an answer.
    pub probes: u8,
    pub srtt_us: u32,
    pub rttvar_us: u32,
    pub cwnd: u32,
    pub ssthresh: u32,
    pub mss: u32,
    /// Segments sent and not yet acknowledged.
    pub unacked: u32,
    pub lost: u32,
    /// Segments retransmitted and not yet acknowledged.
    pub retrans: u32,
    pub total_retrans: u32,
    /// Bytes queued that have not left yet.
    pub notsent_bytes: u32,
    pub bytes_acked: u64,
    pub bytes_received: u64,
    /// The peer's advertised window, bytes.
    pub snd_wnd: u32,
    /// The receive space tcpscope's side advertises from, bytes.
    pub rcv_space: u32,
    /// The window this side advertises now, bytes (kernels from 6.2).
    pub rcv_wnd: Option<u32>,
    pub last_send_ms: u32,
    pub last_receive_ms: u32,
    pub last_ack_ms: u32,
}

/// One TCP socket as a survey found it.
#[derive(Debug, Clone, PartialEq)]
pub struct SocketEntry {
    pub netns: u32,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub state: TcpState,
    /// The socket's inode: 0 for a socket no file holds (TIME_WAIT, an
    /// orphan after close).
    pub inode: u64,
    /// Bytes in the receive queue; for a listener, connections waiting in
    /// its accept queue.
    pub receive_queue: u32,
    /// Bytes in the send queue; for a listener, its backlog.
    pub send_queue: u32,
    /// Packets the socket dropped (`sk_drops`).
    pub drops: Option<u32>,
    /// Time until the retransmission (or loss probe) timer fires, ms, when
    /// it is armed.
    pub retransmit_timer_ms: Option<u32>,
    /// Shared by every socket of its process.
    pub owner: Option<Arc<Owner>>,
    pub details: Option<TcpDetails>,
}

impl SocketEntry {
    /// The sample a flow keeps, when the survey read `tcp_info`.
    pub fn sample(&self, at: Nanos) -> Option<SocketSample> {
        Some(SocketSample {
            at,
            details: self.details?,
            send_queue: self.send_queue,
            receive_queue: self.receive_queue,
            drops: self.drops,
        })
    }

    pub fn tuple(&self) -> Tuple {
        Tuple {
            netns: self.netns,
            local: self.local,
            remote: self.remote,
        }
    }
}

/// What a flow's socket looked like at one survey.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketSample {
    pub at: Nanos,
    pub details: TcpDetails,
    pub send_queue: u32,
    pub receive_queue: u32,
    pub drops: Option<u32>,
}

/// A socket's identity across the probes and the socket tables: its
/// network namespace and 4-tuple.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tuple {
    pub netns: u32,
    pub local: SocketAddr,
    pub remote: SocketAddr,
}

/// The retransmission sysctls of one network namespace, for forecasting
/// flows the probes have not seen retransmit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NamespaceLimits {
    pub netns: u32,
    pub limits: SocketLimits,
}

/// What a survey covered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scope {
    /// The first pass over every namespace: its sockets were open before
    /// tcpscope started.
    Initial,
    /// A later pass over every namespace.
    #[default]
    Full,
    /// The one socket the screen shows details of.
    Watched,
}

/// A pass over the socket tables: of every network namespace, or of one
/// watched socket.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Survey {
    pub at: Nanos,
    pub scope: Scope,
    pub sockets: Vec<SocketEntry>,
    pub namespaces: Vec<NamespaceLimits>,
    /// Each namespace's TCP counters (netstat and snmp), by inode.
    pub counters: Vec<(u32, Snapshot)>,
    /// The counters count from zero, as a recording's do (the moves it
    /// recorded, summed): a namespace's first sample is then all moves,
    /// where a live one is the baseline moves are counted from.
    pub counters_from_zero: bool,
    /// The root namespace's inode (init's, or tcpscope's own when init's
    /// cannot be read).
    pub root: Option<u32>,
    /// Namespaces that could not be read, with why.
    pub failures: Vec<String>,
    /// Sockets past the most a survey keeps (`--max-flows`), left out: a
    /// flow missing from such a survey may still exist.
    pub sockets_left_out: u64,
    /// Every network namespace on the box when the survey listed them
    /// (live; None in a replay): a flow in a namespace not among them went
    /// with its namespace.
    pub listed: Option<Vec<u32>>,
}

impl Survey {
    /// The sysctls of `netns`, when the survey read them.
    pub fn limits(&self, netns: u32) -> Option<SocketLimits> {
        self.namespaces
            .iter()
            .find(|namespace| namespace.netns == netns)
            .map(|namespace| namespace.limits)
    }
}
