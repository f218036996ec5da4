//! What tcpscope's eBPF probes hand to userspace, and what userspace hands to
//! the probes: the ring-buffer record and the kernel struct offsets.
//!
//! Both sides are compiled from this one definition, so the layout cannot
//! drift. The probes fill records with raw kernel values (jiffies, errno,
//! state numbers); every interpretation happens in userspace.
#![no_std]

/// Kernel stack frames carried by one record (innermost first).
pub const STACK_DEPTH: usize = 32;
/// Length of a task's `comm`, as in the kernel's `TASK_COMM_LEN`.
pub const COMM_LEN: usize = 16;
/// Marks an offset this kernel does not have (the field is optional).
pub const ABSENT: u32 = u32::MAX;
/// Bytes at the start of a socket read in one copy (see [`Offsets::skc_in_head`]).
pub const HEAD_BYTES: usize = 32;

/// What a [`Record`] reports.
pub mod kind {
    /// `sock:inet_sock_set_state` for a TCP socket.
    pub const STATE: u8 = 1;
    /// `tcp:tcp_retransmit_skb`: a data or SYN segment sent again.
    pub const RETRANSMIT: u8 = 2;
    /// `tcp:tcp_retransmit_synack`: a listener re-sent a SYN-ACK.
    pub const SYNACK_RETRANSMIT: u8 = 3;
    /// `tcp:tcp_send_reset`: this host sent a RST.
    pub const RESET_SENT: u8 = 4;
    /// `tcp:tcp_receive_reset`: a RST arrived for a socket.
    pub const RESET_RECEIVED: u8 = 5;
    /// `tcp:tcp_destroy_sock`: the socket's memory is being freed.
    pub const DESTROY: u8 = 6;
    /// `skb:kfree_skb` for a TCP segment: the kernel dropped it, with a
    /// reason. Sent as a [`super::DropRecord`].
    pub const DROP: u8 = 7;
    /// A connection the probes kept to themselves while it was healthy
    /// (see [`super::Opening`]), told once it is in trouble or has lived
    /// past a second: `ts_ns` and the task are its open's, `old_state`
    /// how it opened (SYN_SENT or SYN_RECV), `new_state` ESTABLISHED or
    /// that state again, and [`super::Record::established_after_us`].
    pub const OPENED: u8 = 8;
}

/// The longest the probes keep a healthy connection to themselves, ns:
/// past it, its next state change tells it, and userspace takes the
/// quiet ones out of [`Opening`]'s map.
pub const KEPT_FOR_NS: u64 = 1_000_000_000;

/// What the probes remember of a connection from its open (connect, or a
/// child socket accepted) while it stays healthy, in an LRU hash map keyed
/// by the socket's address. Its first healthy changes are counted per
/// destination ([`Opens`]) instead of each sent as a record; the entry
/// leaves the map when the connection closes cleanly, or when it is told
/// as a [`kind::OPENED`] record, whichever comes first (the side that
/// deletes it tells it).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Opening {
    /// `bpf_ktime_get_ns()` at the open.
    pub opened_ns: u64,
    /// The task that connected; 0 for an accepted socket (its owner is
    /// learned later, or by a survey).
    pub pid_tgid: u64,
    pub saddr: [u8; 16],
    pub daddr: [u8; 16],
    pub comm: [u8; COMM_LEN],
    pub netns: u32,
    /// Since the open; 0 until the handshake completes.
    pub established_after_us: u32,
    /// Host byte order; the local port is 0 until a connect's is chosen.
    pub sport: u16,
    pub dport: u16,
    pub family: u16,
    /// SYN_SENT (a connect) or SYN_RECV (an accepted socket).
    pub opened_as: u8,
    pub _pad: u8,
}

/// `TCP_ESTABLISHED`, as in the kernel's include/net/tcp_states.h.
const TCP_ESTABLISHED: u8 = 1;

impl Record {
    /// Fills this record as the [`kind::OPENED`] record of `opening`,
    /// leaving `sock` and the fields OPENED does not use as they are. The
    /// probes and userspace (for the quiet connections it tells) both
    /// build it here.
    #[inline(always)]
    pub fn fill_opened(&mut self, opening: &Opening) {
        self.ts_ns = opening.opened_ns;
        self.pid_tgid = opening.pid_tgid;
        self.comm = opening.comm;
        self.saddr = opening.saddr;
        self.daddr = opening.daddr;
        self.netns = opening.netns;
        self.sport = opening.sport;
        self.dport = opening.dport;
        self.family = opening.family;
        self.kind = kind::OPENED;
        self.old_state = opening.opened_as;
        self.new_state = match opening.established_after_us {
            0 => opening.opened_as,
            _ => TCP_ESTABLISHED,
        };
        self.established_after_us = opening.established_after_us;
    }
}

/// A remote end connections are opened to, as the probes count them.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Destination {
    /// IPv4 in the first four bytes, or IPv6.
    pub addr: [u8; 16],
    /// Host byte order.
    pub port: u16,
    pub family: u16,
}

/// Per destination and CPU, since the probes loaded: every connect
/// (CLOSE to SYN_SENT), none of which is sent as a record, and every
/// handshake completed while its connection was still in [`Opening`]'s map
/// (the others are sent as records). Userspace adds the CPUs together.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Opens {
    pub attempts: u64,
    pub established: u64,
}

/// [`DropRecord::reason`] of a drop on a kernel whose `kfree_skb` gives no
/// reason (before Linux 5.17).
pub const NO_DROP_REASON: u32 = u32::MAX;

/// Reason numbers below this are filtered by [`DropFilter`]; higher ones
/// (subsystem reasons) always pass.
pub const DROP_REASONS_FILTERED: u32 = 256;

/// Per-socket and per-network-namespace retransmission limits, read through
/// the socket at the moment of a retransmission so that the give-up model
/// uses what is in force for that socket, not the root namespace's sysctls.
/// A field whose offset is absent on this kernel reads as its `*_ABSENT` value.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// `icsk_user_timeout` (TCP_USER_TIMEOUT), ms; 0 when unset.
    pub user_timeout_ms: u32,
    /// `icsk_rto_max` (TCP_RTO_MAX_MS, 6.15+), jiffies; 0 when absent.
    pub rto_max_jiffies: u32,
    /// `icsk_rto_min`, jiffies; 0 when absent.
    pub rto_min_jiffies: u32,
    /// `net.ipv4.tcp_rto_max_ms` of the socket's namespace (6.15+); 0 when absent.
    pub ns_rto_max_ms: u32,
    /// `tcp_sock.retrans_stamp`: when the first unanswered retransmission
    /// went out, in ms (µs when `usec_ts` is set).
    pub retrans_stamp: u32,
    /// `tcp_sock.total_retrans`.
    pub total_retrans: u32,
    /// `tcp_sock.tcp_mstamp`, µs: the socket's clock at the event, to relate
    /// `retrans_stamp` to the record's timestamp.
    pub tcp_mstamp_us: u64,
    /// `icsk_syn_retries` (TCP_SYNCNT); 0 when unset.
    pub sock_syn_retries: u8,
    /// `net.ipv4.tcp_retries2` of the socket's namespace.
    pub ns_retries2: u8,
    /// `net.ipv4.tcp_syn_retries` of the socket's namespace.
    pub ns_syn_retries: u8,
    /// `net.ipv4.tcp_synack_retries` of the socket's namespace.
    pub ns_synack_retries: u8,
    /// `net.ipv4.tcp_orphan_retries` of the socket's namespace.
    pub ns_orphan_retries: u8,
    /// `net.ipv4.tcp_syn_linear_timeouts` (6.x); 0 when absent.
    pub ns_syn_linear_timeouts: u8,
    /// The byte of `tcp_sock` holding the `tcp_usec_ts` bit (see
    /// [`Offsets::usec_ts_bit`]); userspace extracts the bit.
    pub usec_ts_byte: u8,
    pub _pad: u8,
}

/// One ring-buffer record. Fields a kind does not use are zero.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Record {
    /// `bpf_ktime_get_ns()`: CLOCK_MONOTONIC nanoseconds.
    pub ts_ns: u64,
    /// Address of the socket (of the request socket for SYN-ACK retransmits).
    pub sock: u64,
    /// `bpf_get_current_pid_tgid()`: whatever task the CPU was running.
    pub pid_tgid: u64,
    pub saddr: [u8; 16],
    pub daddr: [u8; 16],
    pub comm: [u8; COMM_LEN],
    pub limits: Limits,
    /// Inode number of the socket's network namespace.
    pub netns: u32,
    /// `sk_err` (a positive errno value). At a give-up the kernel puts the
    /// pending soft error there, so `sk_err_soft` is not read.
    pub sk_err: i32,
    /// `icsk_rto`, jiffies.
    pub rto_jiffies: u32,
    /// Bytes of [`StackedRecord::stack`] filled by `bpf_get_stack`, or a
    /// negative errno; 0 in a record sent without a stack.
    pub stack_bytes: i32,
    /// For OPENED: µs from the open to ESTABLISHED (0: not established).
    pub established_after_us: u32,
    /// Host byte order.
    pub sport: u16,
    pub dport: u16,
    /// AF_INET (2) or AF_INET6 (10).
    pub family: u16,
    /// One of [`kind`].
    pub kind: u8,
    /// For STATE: the state left. Otherwise the socket's current state.
    pub old_state: u8,
    /// For STATE: the state entered. Otherwise the socket's current state.
    pub new_state: u8,
    /// `icsk_backoff` (SYN-ACK: the request's `num_timeout`).
    pub backoff: u8,
    /// `icsk_retransmits` (SYN-ACK: the request's `num_retrans`).
    pub retransmits: u8,
    pub _pad: u8,
}

/// A record followed by a kernel stack: sent only for the events whose
/// stack userspace shows (closes that are not an orderly end, and
/// retransmissions), so that the common records stay small.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct StackedRecord {
    pub record: Record,
    /// Return addresses, innermost first; `record.stack_bytes` are valid.
    pub stack: [u64; STACK_DEPTH],
}

/// A TCP segment the kernel freed with a drop reason: the 4-tuple in
/// `record` is the packet's, seen as received (its destination is the local
/// end); `record.sock` is the socket it was dropped at, if any.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct DropRecord {
    pub record: Record,
    /// The kernel address that freed the packet (`location`).
    pub location: u64,
    /// `enum skb_drop_reason`, numbered as in this kernel's BTF, or
    /// [`NO_DROP_REASON`].
    pub reason: u32,
    /// The local port of `record.sock` (0 without one): when it is the
    /// packet's source port, the packet was on its way out.
    pub sock_port: u16,
    /// The TCP header's flags byte (CWR ECE URG ACK PSH RST SYN FIN).
    pub tcp_flags: u8,
    pub _pad: u8,
    /// Return addresses, innermost first; `record.stack_bytes` are valid.
    pub stack: [u64; STACK_DEPTH],
}

/// Which drop reasons the drop probe leaves out: bit `n` of the bitmap set
/// means reason number `n` is noise (a socket's queue purged at close...).
/// Filled by userspace from this kernel's BTF and handed over as a global.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DropFilter {
    pub noise: [u64; (DROP_REASONS_FILTERED / 64) as usize],
}

impl DropFilter {
    /// Whether reason number `reason` is marked as noise.
    pub fn is_noise(&self, reason: u32) -> bool {
        reason < DROP_REASONS_FILTERED
            && self.noise[(reason / 64) as usize] >> (reason % 64) & 1 == 1
    }

    /// Marks reason number `reason` as noise (ignored past the bitmap).
    pub fn mark_noise(&mut self, reason: u32) {
        if reason < DROP_REASONS_FILTERED {
            self.noise[(reason / 64) as usize] |= 1 << (reason % 64);
        }
    }
}

/// Byte offsets of the kernel fields the probes read, resolved at start-up
/// from the running kernel's BTF and handed to the probes as a global.
/// [`ABSENT`] marks a field this kernel does not have.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Offsets {
    /// 1 when the six `skc_*` fields below up to `skc_state` all lie in the
    /// first [`HEAD_BYTES`] bytes of the socket, so that the probes read
    /// them with one copy instead of six.
    pub skc_in_head: u32,
    // struct sock_common (also the head of request and timewait sockets)
    pub skc_family: u32,
    pub skc_state: u32,
    pub skc_num: u32,
    pub skc_dport: u32,
    pub skc_rcv_saddr: u32,
    pub skc_daddr: u32,
    pub skc_v6_rcv_saddr: u32,
    pub skc_v6_daddr: u32,
    pub skc_net: u32,
    // struct net
    pub net_ns_inum: u32,
    pub net_retries2: u32,
    pub net_syn_retries: u32,
    pub net_synack_retries: u32,
    pub net_orphan_retries: u32,
    pub net_syn_linear_timeouts: u32,
    pub net_rto_max_ms: u32,
    // struct inet_sock: the local port, kept after CLOSE releases skc_num
    pub inet_sport: u32,
    // struct sock
    pub sk_protocol: u32,
    pub sk_err: u32,
    // struct inet_connection_sock
    pub icsk_rto: u32,
    pub icsk_rto_min: u32,
    pub icsk_rto_max: u32,
    pub icsk_retransmits: u32,
    pub icsk_backoff: u32,
    pub icsk_syn_retries: u32,
    pub icsk_user_timeout: u32,
    // struct tcp_sock
    pub tp_retrans_stamp: u32,
    pub tp_total_retrans: u32,
    pub tp_mstamp: u32,
    pub tp_usec_ts_byte: u32,
    /// Bit of the `tcp_usec_ts` flag within `tp_usec_ts_byte`.
    pub usec_ts_bit: u32,
    // struct request_sock
    pub req_num_retrans: u32,
    pub req_num_timeout: u32,
    /// Bit where the `num_timeout` bitfield starts within `req_num_timeout`.
    pub req_num_timeout_bit: u32,
    // struct sk_buff, to take the 4-tuple from a packet when there is no socket
    pub skb_head: u32,
    pub skb_network_header: u32,
    pub skb_transport_header: u32,
    /// `sk_buff.protocol`: the ethertype, big-endian.
    pub skb_protocol: u32,
    /// `sk_buff.dev` and `sk_buff.sk`, for a dropped packet's namespace.
    pub skb_dev: u32,
    pub skb_sk: u32,
    // struct net_device
    pub dev_nd_net: u32,
}

impl Offsets {
    /// Every field absent: what the probes see before userspace fills it in.
    pub const ABSENT: Self = Self {
        skc_in_head: 0,
        skc_family: ABSENT,
        skc_state: ABSENT,
        skc_num: ABSENT,
        skc_dport: ABSENT,
        skc_rcv_saddr: ABSENT,
        skc_daddr: ABSENT,
        skc_v6_rcv_saddr: ABSENT,
        skc_v6_daddr: ABSENT,
        skc_net: ABSENT,
        net_ns_inum: ABSENT,
        net_retries2: ABSENT,
        net_syn_retries: ABSENT,
        net_synack_retries: ABSENT,
        net_orphan_retries: ABSENT,
        net_syn_linear_timeouts: ABSENT,
        net_rto_max_ms: ABSENT,
        inet_sport: ABSENT,
        sk_protocol: ABSENT,
        sk_err: ABSENT,
        icsk_rto: ABSENT,
        icsk_rto_min: ABSENT,
        icsk_rto_max: ABSENT,
        icsk_retransmits: ABSENT,
        icsk_backoff: ABSENT,
        icsk_syn_retries: ABSENT,
        icsk_user_timeout: ABSENT,
        tp_retrans_stamp: ABSENT,
        tp_total_retrans: ABSENT,
        tp_mstamp: ABSENT,
        tp_usec_ts_byte: ABSENT,
        usec_ts_bit: ABSENT,
        req_num_retrans: ABSENT,
        req_num_timeout: ABSENT,
        req_num_timeout_bit: ABSENT,
        skb_head: ABSENT,
        skb_network_header: ABSENT,
        skb_transport_header: ABSENT,
        skb_protocol: ABSENT,
        skb_dev: ABSENT,
        skb_sk: ABSENT,
        dev_nd_net: ABSENT,
    };
}

#[cfg(feature = "user")]
mod pod {
    // Each: plain #[repr(C)] data of integers and arrays of integers, where
    // any bit pattern is a valid value.
    // SAFETY: as above.
    unsafe impl aya::Pod for super::Offsets {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::Record {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::StackedRecord {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::DropRecord {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::DropFilter {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::Opening {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::Destination {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::Opens {}
}
