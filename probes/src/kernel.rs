//! Reading kernel memory at offsets resolved from BTF by userspace.
//!
//! There are no CO-RE relocations for Rust eBPF programs, so every field is
//! read with `bpf_probe_read_kernel` at `base + offset`, the offset coming
//! from the `OFFSETS` global that userspace overrides at load time.

use aya_ebpf::helpers::bpf_probe_read_kernel;
use tcpscope_common::{ABSENT, HEAD_BYTES, Offsets, Opening, Record};

/// Overridden by userspace at load time with this kernel's offsets.
#[unsafe(no_mangle)]
pub(crate) static OFFSETS: Offsets = Offsets::ABSENT;

/// The offset of one field, read through a volatile load so that the compiler
/// cannot fold in the placeholder value the object was built with.
macro_rules! offset {
    ($field:ident) => {
        // SAFETY: OFFSETS is a plain static of integers that userspace
        // fills before load and nothing writes afterwards.
        unsafe { core::ptr::read_volatile(&raw const $crate::kernel::OFFSETS.$field) }
    };
}
pub(crate) use offset;

pub const AF_INET: u16 = 2;
pub const AF_INET6: u16 = 10;
pub const IPPROTO_TCP: u16 = 6;
pub const ETH_P_IP: u16 = 0x0800;
pub const ETH_P_IPV6: u16 = 0x86dd;
pub const IPV6_HEADER: usize = 40;
pub const TCP_FLAGS_BYTE: usize = 13;
pub const TCP_ESTABLISHED: u8 = 1;
pub const TCP_SYN_SENT: u8 = 2;
pub const TCP_SYN_RECV: u8 = 3;
pub const TCP_FIN_WAIT1: u8 = 4;
pub const TCP_TIME_WAIT: u8 = 6;
pub const TCP_CLOSE: u8 = 7;
pub const TCP_CLOSE_WAIT: u8 = 8;
pub const TCP_LAST_ACK: u8 = 9;
pub const TCP_LISTEN: u8 = 10;
pub const TCP_NEW_SYN_RECV: u8 = 12;

/// Reads a `T` at `base + offset`; zero when the field is absent on this
/// kernel, the base is null or the read faults.
#[inline(always)]
pub fn read<T: Copy + Default>(base: *const u8, offset: u32) -> T {
    if base.is_null() || offset == ABSENT {
        return T::default();
    }
    // SAFETY: bpf_probe_read_kernel checks the address itself and fails
    // (read as the default) rather than fault; `base` is not null.
    unsafe { bpf_probe_read_kernel(base.wrapping_add(offset as usize).cast::<T>()) }
        .unwrap_or_default()
}

/// What holds a socket's 4-tuple, family and network namespace: a record,
/// or the probes' own note of a connection. The fields are written in
/// place (a copy through the stack would cost the programs stack room).
pub trait Ends {
    fn saddr(&mut self) -> &mut [u8; 16];
    fn daddr(&mut self) -> &mut [u8; 16];
    fn netns(&mut self) -> &mut u32;
    /// Host byte order.
    fn sport(&mut self) -> &mut u16;
    fn dport(&mut self) -> &mut u16;
    fn family(&mut self) -> &mut u16;
}

macro_rules! ends_of {
    ($type:ty) => {
        impl Ends for $type {
            #[inline(always)]
            fn saddr(&mut self) -> &mut [u8; 16] {
                &mut self.saddr
            }
            #[inline(always)]
            fn daddr(&mut self) -> &mut [u8; 16] {
                &mut self.daddr
            }
            #[inline(always)]
            fn netns(&mut self) -> &mut u32 {
                &mut self.netns
            }
            #[inline(always)]
            fn sport(&mut self) -> &mut u16 {
                &mut self.sport
            }
            #[inline(always)]
            fn dport(&mut self) -> &mut u16 {
                &mut self.dport
            }
            #[inline(always)]
            fn family(&mut self) -> &mut u16 {
                &mut self.family
            }
        }
    };
}
ends_of!(Record);
ends_of!(Opening);

/// Copies the 4-tuple, family, state and network namespace of anything that
/// starts with a `struct sock_common`: full, request and timewait sockets.
#[inline(always)]
pub fn fill_from_sock_common(record: &mut Record, sk: *const u8) {
    let state = fill_ends(record, sk);
    record.old_state = state;
    record.new_state = state;
}

/// Fills `ends` from anything that starts with a `struct sock_common`;
/// returns the socket's state.
#[inline(always)]
pub fn fill_ends(ends: &mut impl Ends, sk: *const u8) -> u8 {
    let (family, state) = if offset!(skc_in_head) == 1 {
        fill_from_head(ends, &read::<[u8; HEAD_BYTES]>(sk, 0))
    } else {
        fill_field_by_field(ends, sk)
    };
    *ends.family() = family;
    if family == AF_INET6 {
        *ends.saddr() = read(sk, offset!(skc_v6_rcv_saddr));
        *ends.daddr() = read(sk, offset!(skc_v6_daddr));
    }
    let net: *const u8 = read::<usize>(sk, offset!(skc_net)) as *const u8;
    *ends.netns() = read(net, offset!(net_ns_inum));
    state
}

/// Ports and IPv4 addresses from the socket's first bytes, copied at once;
/// returns the family and state. Indexes are masked to the field's
/// alignment within the copy (userspace checked they fit).
#[inline(always)]
fn fill_from_head(ends: &mut impl Ends, head: &[u8; HEAD_BYTES]) -> (u16, u8) {
    let u16_at = |offset: u32| {
        let at = (offset as usize) & (HEAD_BYTES - 2);
        u16::from_ne_bytes([head[at], head[at + 1]])
    };
    let ipv4_at = |offset: u32| {
        let at = (offset as usize) & (HEAD_BYTES - 4);
        [head[at], head[at + 1], head[at + 2], head[at + 3]]
    };
    *ends.sport() = u16_at(offset!(skc_num));
    *ends.dport() = u16::from_be(u16_at(offset!(skc_dport)));
    ends.saddr()[..4].copy_from_slice(&ipv4_at(offset!(skc_rcv_saddr)));
    ends.daddr()[..4].copy_from_slice(&ipv4_at(offset!(skc_daddr)));
    let state = head[(offset!(skc_state) as usize) & (HEAD_BYTES - 1)];
    (u16_at(offset!(skc_family)), state)
}

/// The same fields read one by one, for a kernel whose layout differs.
#[inline(always)]
fn fill_field_by_field(ends: &mut impl Ends, sk: *const u8) -> (u16, u8) {
    *ends.sport() = read(sk, offset!(skc_num));
    *ends.dport() = u16::from_be(read(sk, offset!(skc_dport)));
    let saddr: [u8; 4] = read(sk, offset!(skc_rcv_saddr));
    let daddr: [u8; 4] = read(sk, offset!(skc_daddr));
    ends.saddr()[..4].copy_from_slice(&saddr);
    ends.daddr()[..4].copy_from_slice(&daddr);
    (read(sk, offset!(skc_family)), read(sk, offset!(skc_state)))
}

/// The local port of a full socket from `inet_sport`, which, unlike
/// `skc_num`, survives the release of the port when the socket closes.
#[inline(always)]
pub fn fill_local_port(record: &mut Record, sk: *const u8) {
    let port = u16::from_be(read(sk, offset!(inet_sport)));
    if port != 0 {
        record.sport = port;
    }
}

/// Copies the 4-tuple of a TCP segment from its headers, seen from this host:
/// the packet's destination is the local end. For a RST sent in reply to a
/// segment that matched no socket.
#[inline(always)]
pub fn fill_from_packet(record: &mut Record, skb: *const u8) {
    let head: *const u8 = read::<usize>(skb, offset!(skb_head)) as *const u8;
    if head.is_null() {
        return;
    }
    let network: u16 = read(skb, offset!(skb_network_header));
    let transport: u16 = read(skb, offset!(skb_transport_header));
    let ip = head.wrapping_add(network as usize);
    let tcp = head.wrapping_add(transport as usize);
    fill_from_headers(record, ip, tcp);
}

/// [`fill_from_packet`] for headers already located.
#[inline(always)]
pub fn fill_from_headers(record: &mut Record, ip: *const u8, tcp: *const u8) {
    let version: u8 = read::<u8>(ip, 0) >> 4;
    if version == 6 {
        record.family = AF_INET6;
        record.daddr = read(ip, 8);
        record.saddr = read(ip, 24);
    } else {
        record.family = AF_INET;
        let source: [u8; 4] = read(ip, 12);
        let destination: [u8; 4] = read(ip, 16);
        record.daddr[..4].copy_from_slice(&source);
        record.saddr[..4].copy_from_slice(&destination);
    }
    record.dport = u16::from_be(read(tcp, 0));
    record.sport = u16::from_be(read(tcp, 2));
}

/// The IP and TCP headers of a TCP packet over IPv4 or IPv6, or None for
/// any other packet. The TCP header is found from the IP header (IPv4's
/// header length; IPv6 without extension headers), since a packet can be
/// dropped before the kernel sets its transport header.
#[inline(always)]
pub fn tcp_headers(skb: *const u8) -> Option<(*const u8, *const u8)> {
    let ipv6 = match u16::from_be(read(skb, offset!(skb_protocol))) {
        ETH_P_IP => false,
        ETH_P_IPV6 => true,
        _ => return None,
    };
    let head: *const u8 = read::<usize>(skb, offset!(skb_head)) as *const u8;
    if head.is_null() {
        return None;
    }
    let network: u16 = read(skb, offset!(skb_network_header));
    let ip = head.wrapping_add(network as usize);
    let start: [u8; 10] = read(ip, 0);
    if ipv6 {
        (start[6] == IPPROTO_TCP as u8).then_some((ip, ip.wrapping_add(IPV6_HEADER)))
    } else {
        let length = usize::from(start[0] & 0x0f) * 4;
        (start[9] == IPPROTO_TCP as u8).then_some((ip, ip.wrapping_add(length)))
    }
}

/// The inode of a network namespace, from anything holding a
/// `possible_net_t` at `offset`.
#[inline(always)]
pub fn netns_at(base: *const u8, offset: u32) -> u32 {
    let net: *const u8 = read::<usize>(base, offset) as *const u8;
    read(net, offset!(net_ns_inum))
}

/// Retransmission state of a full TCP socket.
#[inline(always)]
pub fn fill_retransmit_state(record: &mut Record, sk: *const u8) {
    record.rto_jiffies = read(sk, offset!(icsk_rto));
    record.backoff = read(sk, offset!(icsk_backoff));
    record.retransmits = read(sk, offset!(icsk_retransmits));
    record.limits.total_retrans = read(sk, offset!(tp_total_retrans));
}

/// The limits in force for this socket: its own options and its network
/// namespace's sysctls, plus the clocks needed to place `retrans_stamp`.
#[inline(always)]
pub fn fill_limits(record: &mut Record, sk: *const u8) {
    let limits = &mut record.limits;
    limits.user_timeout_ms = read(sk, offset!(icsk_user_timeout));
    limits.rto_max_jiffies = read(sk, offset!(icsk_rto_max));
    limits.rto_min_jiffies = read(sk, offset!(icsk_rto_min));
    limits.sock_syn_retries = read(sk, offset!(icsk_syn_retries));
    limits.retrans_stamp = read(sk, offset!(tp_retrans_stamp));
    limits.tcp_mstamp_us = read(sk, offset!(tp_mstamp));
    limits.usec_ts_byte = read(sk, offset!(tp_usec_ts_byte));
    let net: *const u8 = read::<usize>(sk, offset!(skc_net)) as *const u8;
    limits.ns_retries2 = read(net, offset!(net_retries2));
    limits.ns_syn_retries = read(net, offset!(net_syn_retries));
    limits.ns_synack_retries = read(net, offset!(net_synack_retries));
    limits.ns_orphan_retries = read(net, offset!(net_orphan_retries));
    limits.ns_syn_linear_timeouts = read(net, offset!(net_syn_linear_timeouts));
    limits.ns_rto_max_ms = read(net, offset!(net_rto_max_ms));
}
