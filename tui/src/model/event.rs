//! Decoded kernel events: what the model consumes, whichever source produced
//! them (live probes, a replayed recording or a test).

use std::{fmt, net::SocketAddr, sync::Arc};

/// Wall-clock time in nanoseconds since the Unix epoch.
pub type Nanos = u64;

/// The kernel's address of a socket: the identity of a flow while it lives.
/// Addresses are reused after a socket is freed, so a flow ends at CLOSE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SockId(pub u64);

impl fmt::Display for SockId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

/// TCP states, numbered as in the kernel's include/net/tcp_states.h.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TcpState {
    Established = 1,
    SynSent,
    SynRecv,
    FinWait1,
    FinWait2,
    TimeWait,
    Close,
    CloseWait,
    LastAck,
    Listen,
    Closing,
    NewSynRecv,
    BoundInactive,
}

impl TcpState {
    const ALL: [TcpState; 13] = [
        Self::Established,
        Self::SynSent,
        Self::SynRecv,
        Self::FinWait1,
        Self::FinWait2,
        Self::TimeWait,
        Self::Close,
        Self::CloseWait,
        Self::LastAck,
        Self::Listen,
        Self::Closing,
        Self::NewSynRecv,
        Self::BoundInactive,
    ];

    /// The state with the kernel's number, if there is one.
    pub fn from_kernel(number: u8) -> Option<Self> {
        Self::ALL.get(usize::from(number).checked_sub(1)?).copied()
    }

    /// The kernel's name, as `ss` and the tracepoints print it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Established => "ESTABLISHED",
            Self::SynSent => "SYN_SENT",
            Self::SynRecv => "SYN_RECV",
            Self::FinWait1 => "FIN_WAIT1",
            Self::FinWait2 => "FIN_WAIT2",
            Self::TimeWait => "TIME_WAIT",
            Self::Close => "CLOSE",
            Self::CloseWait => "CLOSE_WAIT",
            Self::LastAck => "LAST_ACK",
            Self::Listen => "LISTEN",
            Self::Closing => "CLOSING",
            Self::NewSynRecv => "NEW_SYN_RECV",
            Self::BoundInactive => "BOUND_INACTIVE",
        }
    }

    /// Parses a kernel name, case-insensitively.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|state| state.name().eq_ignore_ascii_case(name))
    }
}

impl fmt::Display for TcpState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A process, as the kernel names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Task {
    /// Thread-group id: the pid `ps` shows.
    pub pid: u32,
    pub comm: Arc<str>,
}

/// A kernel stack, innermost frame first, each as `function+0xoffset`.
pub type Stack = Arc<[String]>;

/// How a retransmission came about, read from the kernel stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetransmitCause {
    /// The retransmission timer expired (RTO).
    Timer,
    /// A tail loss probe: the probe timer, not a loss yet.
    LossProbe,
    /// Fast retransmit or recovery, driven by incoming ACKs.
    Fast,
    /// No stack was available to tell.
    Unknown,
}

impl RetransmitCause {
    pub fn name(self) -> &'static str {
        match self {
            Self::Timer => "timer",
            Self::LossProbe => "tlp",
            Self::Fast => "fast",
            Self::Unknown => "unknown",
        }
    }
}

/// Retransmission limits in force for one socket when it retransmitted:
/// its own options and its network namespace's sysctls (a `retransmit`
/// line carries them as `wire::Limits`, so that a replay forecasts like
/// the live view).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SocketLimits {
    pub retries2: u8,
    pub syn_retries: u8,
    pub synack_retries: u8,
    pub orphan_retries: u8,
    pub syn_linear_timeouts: u8,
    /// TCP_SYNCNT, when the socket sets it.
    pub sock_syn_retries: Option<u8>,
    /// TCP_USER_TIMEOUT, when the socket sets it.
    pub user_timeout_ms: Option<u32>,
    /// The socket's RTO bounds, ms (the kernel's constants when absent).
    pub rto_min_ms: Option<u32>,
    pub rto_max_ms: Option<u32>,
    /// Time since the socket's `retrans_stamp`, ms: the start of the
    /// retransmission episode the kernel's give-up budget counts from.
    pub since_first_retransmit_ms: Option<u32>,
    /// The kernel's timer frequency: how late its timers may fire (absent
    /// from recordings made before it was recorded: then 0, no slack).
    pub hz: u32,
}

/// One retransmission of a data or SYN segment.
#[derive(Debug, Clone, PartialEq)]
pub struct Retransmit {
    /// The retransmission timeout that just expired, ms.
    pub rto_ms: u32,
    pub backoff: u8,
    /// Retransmissions of this segment so far (`icsk_retransmits`).
    pub retransmits: u8,
    pub cause: RetransmitCause,
    pub limits: Option<SocketLimits>,
    /// The socket's state when it retransmitted: what a flow first seen
    /// mid-life learns its state from.
    pub state: Option<TcpState>,
}

/// The flags byte of a TCP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    /// Whether the segment carries a SYN.
    pub fn has_syn(self) -> bool {
        self.0 & 0x02 != 0
    }

    /// Flag names, highest bit first, as tcpdump spells them.
    const NAMES: [(u8, &'static str); 8] = [
        (0x80, "CWR"),
        (0x40, "ECE"),
        (0x20, "URG"),
        (0x10, "ACK"),
        (0x08, "PSH"),
        (0x04, "RST"),
        (0x02, "SYN"),
        (0x01, "FIN"),
    ];

    /// Parses [`fmt::Display`] output (`SYN|ACK`); None on an unknown name.
    pub fn from_names(text: &str) -> Option<Self> {
        text.split('|')
            .filter(|name| !name.is_empty())
            .try_fold(0u8, |bits, name| {
                let (bit, _) = Self::NAMES
                    .iter()
                    .find(|(_, known)| known.eq_ignore_ascii_case(name))?;
                Some(bits | bit)
            })
            .map(Self)
    }
}

/// `SYN|ACK`, flags in header order from the lowest bit; empty for none.
impl fmt::Display for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (bit, name) in Self::NAMES.iter().rev() {
            if self.0 & bit != 0 {
                if !first {
                    f.write_str("|")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        Ok(())
    }
}

/// A TCP segment the kernel dropped, with the kernel's own reason.
#[derive(Debug, Clone, PartialEq)]
pub struct PacketDrop {
    /// The kernel's name of the reason without its prefix, e.g.
    /// `NETFILTER_DROP`, `NO_SOCKET`, `TCP_RFC7323_PAWS`.
    pub reason: Arc<str>,
    /// Where the kernel freed the packet, as `function+0xoffset`.
    pub location: Arc<str>,
    pub flags: TcpFlags,
    /// Whether this host was sending the packet (it is usually receiving).
    pub outgoing: bool,
    pub stack: Option<Stack>,
}

/// What happened.
#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    State {
        old: TcpState,
        new: TcpState,
        /// `sk_err` at the change: positive errno, 0 for none.
        err: i32,
        /// Kernel stack, for changes into CLOSE.
        stack: Option<Stack>,
    },
    Retransmit(Retransmit),
    SynAckRetransmit {
        retransmits: u8,
        timeouts: u8,
    },
    ResetSent,
    ResetReceived,
    Destroyed,
    /// A segment of the flow (or of no flow) dropped by the kernel.
    Drop(PacketDrop),
    /// A flow the probes kept to themselves while it was young and healthy
    /// (its connect and handshake counted in an [`EventKind::Opens`]
    /// instead), told now that it is in trouble or has
    /// lived past a second. The event's time and task are its open's.
    Opened {
        /// SYN_SENT (a connect) or SYN_RECV (an accepted socket).
        opened_as: TcpState,
        /// When its handshake completed, if it has.
        established_at: Option<Nanos>,
    },
    /// Connects to the event's remote end, and handshakes completed, that
    /// the probes counted since the last such event instead of sending
    /// each (the healthy path). Has no socket.
    Opens {
        attempts: u32,
        established: u32,
    },
}

impl EventKind {
    /// The `kind` of a JSON event line.
    pub fn name(&self) -> &'static str {
        match self {
            Self::State { .. } => "state",
            Self::Retransmit(_) => "retransmit",
            Self::SynAckRetransmit { .. } => "synack_retransmit",
            Self::ResetSent => "reset_sent",
            Self::ResetReceived => "reset_received",
            Self::Destroyed => "destroy",
            Self::Drop(_) => "drop",
            Self::Opened { .. } => "opened",
            Self::Opens { .. } => "opens",
        }
    }
}

/// One kernel event about one socket.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub ts: Nanos,
    /// None for a RST sent in reply to a segment that matched no socket,
    /// and for most drops of received segments (they have none yet).
    pub sock: Option<SockId>,
    /// Network namespace inode (0 when unknown).
    pub netns: u32,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// The task the CPU was running (None for the idle task). Only some
    /// transitions run in the owning process's context: the table decides
    /// which ones to believe.
    pub task: Option<Task>,
    pub kind: EventKind,
}
