//! One thin entry point per kernel event. Each reserves a record, fills it
//! and submits it; a record that finds the ring buffer full is counted in
//! `LOST` so that userspace can show how many events it never saw.
//!
//! Every event has two entry points over one handler: a BTF tracepoint
//! (tp_btf, the cheaper hook) and a raw tracepoint, for kernels without BTF
//! (userspace picks one). `kfree_skb` has one pair per prototype the kernel
//! has had: userspace reads the running kernel's from BTF.

use core::ffi::c_void;

use aya_ebpf::{
    Argument, EbpfContext,
    helpers::{bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_get_stack, bpf_ktime_get_ns},
    macros::{btf_tracepoint, map, raw_tracepoint},
    maps::{Array, PerCpuArray, RingBuf},
    programs::{BtfTracePointContext, RawTracePointContext},
};
use tcpscope_common::{
    DropFilter, DropRecord, Limits, NO_DROP_REASON, Opening, Record, STACK_DEPTH, StackedRecord,
    kind,
};

use crate::{
    healthy::{self, Change, Claim},
    kernel::{
        IPPROTO_TCP, TCP_CLOSE, TCP_CLOSE_WAIT, TCP_ESTABLISHED, TCP_FIN_WAIT1, TCP_FLAGS_BYTE,
        TCP_LAST_ACK, TCP_LISTEN, TCP_NEW_SYN_RECV, TCP_SYN_SENT, TCP_TIME_WAIT, fill_from_headers,
        fill_from_packet, fill_from_sock_common, fill_limits, fill_local_port,
        fill_retransmit_state, netns_at, offset, read, tcp_headers,
    },
};

/// What a handler needs of the hook it runs under: the tracepoint's
/// `TP_PROTO` arguments by position (a BTF and a raw tracepoint both lay
/// them out as an array of u64) and the context for `bpf_get_stack`.
trait Hook: EbpfContext {
    fn arg<T: Argument>(&self, n: usize) -> T;
}

impl Hook for BtfTracePointContext {
    #[inline(always)]
    fn arg<T: Argument>(&self, n: usize) -> T {
        BtfTracePointContext::arg(self, n)
    }
}

impl Hook for RawTracePointContext {
    #[inline(always)]
    fn arg<T: Argument>(&self, n: usize) -> T {
        RawTracePointContext::arg(self, n)
    }
}

/// The two entry points of one event: `$btf` as a BTF tracepoint, `$raw` as
/// a raw tracepoint, both running `$handler`.
macro_rules! entry_points {
    ($event:tt, $btf:ident, $raw:ident, $handler:ident) => {
        #[btf_tracepoint(function = $event)]
        pub fn $btf(ctx: BtfTracePointContext) -> i32 {
            $handler(&ctx)
        }

        #[raw_tracepoint(tracepoint = $event)]
        pub fn $raw(ctx: RawTracePointContext) -> i32 {
            $handler(&ctx)
        }
    };
}

/// Room for about 20,000 records: several seconds of a connect storm.
#[map]
static EVENTS: RingBuf = RingBuf::with_byte_size(8 << 20, 0);

/// Records dropped because `EVENTS` was full, per CPU.
#[map]
static LOST: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

/// The drop reasons [`kfree_skb`] leaves out; overridden by userspace at
/// load time with this kernel's numbers.
#[unsafe(no_mangle)]
static DROP_FILTER: DropFilter = DropFilter { noise: [0; 4] };

/// Kernel stacks of drops each CPU may unwind per second. Unwinding costs
/// more than the rest of a drop's record, and drops come in floods (a
/// storm of resets into closed sockets): past the budget a drop is still
/// reported, with its location, without a stack.
const DROP_STACKS_PER_SECOND: u32 = 16;

/// Per CPU: the second (of `bpf_ktime_get_ns`) and the drop stacks taken in it.
#[map]
static DROP_STACKS: PerCpuArray<[u32; 2]> = PerCpuArray::with_max_entries(1, 0);

/// Whether this drop may take its stack, spending the CPU's budget.
#[inline(always)]
fn drop_stack_allowed(now_ns: u64) -> bool {
    let Some(budget) = DROP_STACKS.get_ptr_mut(0) else {
        return false;
    };
    // SAFETY: a per-CPU array slot, valid for the program's run, which no
    // other program touches on this CPU meanwhile.
    let budget = unsafe { &mut *budget };
    let second = (now_ns / 1_000_000_000) as u32;
    if budget[0] != second {
        *budget = [second, 0];
    }
    if budget[1] >= DROP_STACKS_PER_SECOND {
        return false;
    }
    budget[1] += 1;
    true
}

/// Set to 1, for good, the first time any CPU loses a record.
#[map]
static LOSSY: Array<u32> = Array::with_max_entries(1, 0);

fn count_lost() {
    if let Some(lost) = LOST.get_ptr_mut(0) {
        // SAFETY: a per-CPU array slot, as in `drop_stack_allowed`.
        unsafe { *lost += 1 };
    }
    if let Some(lossy) = LOSSY.get_ptr_mut(0) {
        // SAFETY: an array slot valid while the map lives; every writer
        // stores the same value, so a race between CPUs loses nothing.
        unsafe { *lossy = 1 };
    }
}

/// Whether a record carries the task the CPU was running: only where that
/// task is the socket's owner (userspace's `runs_in_owner_context` is the
/// same rule), since reading its name costs a helper call.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Task {
    Current,
    Omitted,
}

/// Reserves a record, fills what every kind carries (time, kind, socket,
/// maybe the task; everything else zero), then `fill`s it.
#[inline(always)]
fn emit(record_kind: u8, sock: *const u8, task: Task, fill: impl FnOnce(&mut Record)) {
    let Some(mut entry) = EVENTS.reserve::<Record>(0) else {
        count_lost();
        return;
    };
    // SAFETY: the reserved ring-buffer entry is ours until submitted, sized
    // and aligned for a Record.
    let record = unsafe { &mut *entry.as_mut_ptr() };
    fill_header(record, record_kind, sock, task);
    fill(record);
    entry.submit(wakeup());
}

/// Sends a connection the probes kept to themselves until now, filled from
/// its entry in place, if `claim` is this program's to take; if userspace
/// took it first, it tells it and the record is discarded.
#[inline(always)]
fn emit_opened(sock: *const u8, opening: &Opening, claim: Claim) {
    let Some(mut entry) = EVENTS.reserve::<Record>(0) else {
        count_lost();
        // Its later events then go out as records of their own.
        let _ = claim.take();
        return;
    };
    // SAFETY: as in `emit`.
    let record = unsafe { &mut *entry.as_mut_ptr() };
    fill_header(record, kind::OPENED, sock, Task::Omitted);
    record.fill_opened(opening);
    if record.sport == 0 {
        fill_local_port(record, sock);
    }
    if claim.take() {
        entry.submit(wakeup());
    } else {
        entry.discard(0);
    }
}

/// As [`emit`], followed by the kernel stack of the event.
#[inline(always)]
fn emit_with_stack(
    ctx: &impl EbpfContext,
    record_kind: u8,
    sock: *const u8,
    task: Task,
    fill: impl FnOnce(&mut Record),
) {
    let Some(mut entry) = EVENTS.reserve::<StackedRecord>(0) else {
        count_lost();
        return;
    };
    // SAFETY: as for a Record: the reserved entry is ours, sized and
    // aligned for a StackedRecord.
    let stacked = unsafe { &mut *entry.as_mut_ptr() };
    fill_header(&mut stacked.record, record_kind, sock, task);
    fill(&mut stacked.record);
    stacked.record.stack_bytes = fill_stack(ctx, &mut stacked.stack);
    entry.submit(wakeup());
}

/// Puts the kernel stack of the event in `stack`; returns the bytes
/// filled, or a negative errno.
#[inline(always)]
fn fill_stack(ctx: &impl EbpfContext, stack: &mut [u64; STACK_DEPTH]) -> i32 {
    let buffer = stack.as_mut_ptr().cast::<c_void>();
    let size = (STACK_DEPTH * core::mem::size_of::<u64>()) as u32;
    // SAFETY: `buffer` is `size` bytes of `stack`, which the helper writes
    // at most; the context is the program's own.
    unsafe { bpf_get_stack(ctx.as_ptr(), buffer, size, 0) as i32 }
}

#[inline(always)]
fn fill_header(record: &mut Record, record_kind: u8, sock: *const u8, task: Task) {
    // SAFETY: a helper without arguments.
    record.ts_ns = unsafe { bpf_ktime_get_ns() };
    record.sock = sock as u64;
    if task == Task::Current {
        record.pid_tgid = bpf_get_current_pid_tgid();
        record.comm = bpf_get_current_comm().unwrap_or_default();
    } else {
        record.pid_tgid = 0;
        record.comm = [0; 16];
    }
    record.saddr = [0; 16];
    record.daddr = [0; 16];
    record.limits = Limits::default();
    record.netns = 0;
    record.sk_err = 0;
    record.rto_jiffies = 0;
    record.stack_bytes = 0;
    record.established_after_us = 0;
    record.sport = 0;
    record.dport = 0;
    record.family = 0;
    record.kind = record_kind;
    record.old_state = 0;
    record.new_state = 0;
    record.backoff = 0;
    record.retransmits = 0;
    record._pad = 0;
}

/// Unread bytes past which a record wakes the reader at once. Below it the
/// reader is not woken: it drains the ring on its own short tick, which
/// spares a connect storm a wakeup per record.
const WAKE_AT: u64 = 1 << 20;
const BPF_RB_NO_WAKEUP: u64 = 1;
const BPF_RB_FORCE_WAKEUP: u64 = 2;
const BPF_RB_AVAIL_DATA: u64 = 0;

fn wakeup() -> u64 {
    if EVENTS.query(BPF_RB_AVAIL_DATA) >= WAKE_AT {
        BPF_RB_FORCE_WAKEUP
    } else {
        BPF_RB_NO_WAKEUP
    }
}

entry_points!(
    "inet_sock_set_state",
    inet_sock_set_state,
    inet_sock_set_state_raw,
    on_state_change
);

/// `inet_sock_set_state(const struct sock *sk, int oldstate, int newstate)`
#[inline(always)]
fn on_state_change(ctx: &impl Hook) -> i32 {
    let sk: *const u8 = ctx.arg(0);
    let protocol: u16 = read(sk, offset!(sk_protocol));
    if protocol != IPPROTO_TCP {
        return 0;
    }
    let old_state = ctx.arg::<i32>(1) as u8;
    let new_state = ctx.arg::<i32>(2) as u8;
    // Only a change to CLOSE needs the error: to tell trouble, and owners.
    let sk_err: i32 = match new_state == TCP_CLOSE {
        true => read(sk, offset!(sk_err)),
        false => 0,
    };
    // The stack costs more than the rest of the record: it goes with the
    // closes that are not a clean end.
    let trouble = healthy::is_trouble(old_state, new_state, sk_err);
    if !healthy::every_flow() {
        // SAFETY: a helper without arguments.
        let now_ns = unsafe { bpf_ktime_get_ns() };
        let told = |opening: &Opening, claim| emit_opened(sk, opening, claim);
        let change = healthy::on_state_change(sk, old_state, new_state, trouble, now_ns, told);
        if let Change::Kept = change {
            return 0;
        }
    }
    let task = match owner_context(old_state, new_state, sk_err) {
        true => Task::Current,
        false => Task::Omitted,
    };
    // One closure per call, each inlined: a closure shared by both would be
    // outlined, and its stack frame added to the program's.
    if trouble {
        emit_with_stack(ctx, kind::STATE, sk, task, |record| {
            fill_state(record, sk, old_state, new_state, sk_err);
        });
    } else {
        emit(kind::STATE, sk, task, |record| {
            fill_state(record, sk, old_state, new_state, sk_err);
        });
    }
    0
}

#[inline(always)]
fn fill_state(record: &mut Record, sk: *const u8, old_state: u8, new_state: u8, sk_err: i32) {
    fill_from_sock_common(record, sk);
    fill_local_port(record, sk);
    record.old_state = old_state;
    record.new_state = new_state;
    record.sk_err = sk_err;
    if new_state == TCP_CLOSE {
        fill_retransmit_state(record, sk);
    }
}

/// The changes that run in the context of the socket's owner: a connect,
/// a listen, a close() (the first FIN, or an abort or failed connect
/// without error). The same rule as userspace's `runs_in_owner_context`.
#[inline(always)]
fn owner_context(old: u8, new: u8, sk_err: i32) -> bool {
    let opened = old == TCP_CLOSE && matches!(new, TCP_SYN_SENT | TCP_LISTEN);
    let closed = matches!(
        (old, new),
        (TCP_ESTABLISHED, TCP_FIN_WAIT1) | (TCP_CLOSE_WAIT, TCP_LAST_ACK)
    );
    let aborted = new == TCP_CLOSE
        && sk_err == 0
        && matches!(old, TCP_SYN_SENT | TCP_ESTABLISHED | TCP_CLOSE_WAIT);
    opened || closed || aborted
}

/// Before an event for `sk` is sent: its connection's open, if the
/// healthy path kept it until now.
#[inline(always)]
fn tell_if_kept(sk: *const u8) {
    if !healthy::every_flow() {
        healthy::tell_if_kept(sk, |opening, claim| emit_opened(sk, opening, claim));
    }
}

entry_points!(
    "tcp_retransmit_skb",
    tcp_retransmit_skb,
    tcp_retransmit_skb_raw,
    on_retransmit
);

/// `tcp_retransmit_skb(const struct sock *sk, const struct sk_buff *skb, ...)`
#[inline(always)]
fn on_retransmit(ctx: &impl Hook) -> i32 {
    let sk: *const u8 = ctx.arg(0);
    tell_if_kept(sk);
    emit_with_stack(ctx, kind::RETRANSMIT, sk, Task::Omitted, |record| {
        fill_from_sock_common(record, sk);
        fill_local_port(record, sk);
        fill_retransmit_state(record, sk);
        fill_limits(record, sk);
    });
    0
}

entry_points!(
    "tcp_retransmit_synack",
    tcp_retransmit_synack,
    tcp_retransmit_synack_raw,
    on_synack_retransmit
);

/// `tcp_retransmit_synack(const struct sock *sk, const struct request_sock *req)`
#[inline(always)]
fn on_synack_retransmit(ctx: &impl Hook) -> i32 {
    let listener: *const u8 = ctx.arg(0);
    let request: *const u8 = ctx.arg(1);
    emit(kind::SYNACK_RETRANSMIT, request, Task::Omitted, |record| {
        fill_from_sock_common(record, request);
        record.retransmits = read(request, offset!(req_num_retrans));
        record.backoff = read(request, offset!(req_num_timeout));
        record.limits.ns_synack_retries = {
            let net: *const u8 = read::<usize>(listener, offset!(skc_net)) as *const u8;
            read(net, offset!(net_synack_retries))
        };
    });
    0
}

entry_points!(
    "tcp_send_reset",
    tcp_send_reset,
    tcp_send_reset_raw,
    on_reset_sent
);

/// `tcp_send_reset(const struct sock *sk, const struct sk_buff *skb, ...)`;
/// `sk` is null when the segment being answered matched no socket.
#[inline(always)]
fn on_reset_sent(ctx: &impl Hook) -> i32 {
    let sk: *const u8 = ctx.arg(0);
    let skb: *const u8 = ctx.arg(1);
    tell_if_kept(sk);
    emit(kind::RESET_SENT, sk, Task::Omitted, |record| {
        if sk.is_null() {
            fill_from_packet(record, skb);
            // The namespace of the device the answered segment came in on.
            let dev: *const u8 = read::<usize>(skb, offset!(skb_dev)) as *const u8;
            record.netns = netns_at(dev, offset!(dev_nd_net));
        } else {
            fill_from_sock_common(record, sk);
            // Timewait and request sockets end after their sock_common.
            if !matches!(record.new_state, TCP_TIME_WAIT | TCP_NEW_SYN_RECV) {
                fill_local_port(record, sk);
            }
        }
    });
    0
}

entry_points!(
    "tcp_receive_reset",
    tcp_receive_reset,
    tcp_receive_reset_raw,
    on_reset_received
);

/// `tcp_receive_reset(struct sock *sk)`
#[inline(always)]
fn on_reset_received(ctx: &impl Hook) -> i32 {
    let sk: *const u8 = ctx.arg(0);
    tell_if_kept(sk);
    emit(kind::RESET_RECEIVED, sk, Task::Omitted, |record| {
        fill_from_sock_common(record, sk);
        fill_local_port(record, sk);
        fill_retransmit_state(record, sk);
    });
    0
}

entry_points!(
    "tcp_destroy_sock",
    tcp_destroy_sock,
    tcp_destroy_sock_raw,
    on_destroy
);

/// `tcp_destroy_sock(struct sock *sk)`. Every socket reaches it in CLOSE,
/// after its change to CLOSE was recorded: its record only helps userspace
/// end a flow whose CLOSE record was lost. So it is sent only once a record
/// has been lost, sparing a busy box two records per connection.
#[inline(always)]
fn on_destroy(ctx: &impl Hook) -> i32 {
    let sk: *const u8 = ctx.arg(0);
    if !healthy::every_flow() {
        healthy::forget(sk);
    }
    if LOSSY.get(0).is_none_or(|&lossy| lossy == 0) {
        return 0;
    }
    emit(kind::DESTROY, sk, Task::Omitted, |record| {
        fill_from_sock_common(record, sk);
        fill_local_port(record, sk);
    });
    0
}

// `kfree_skb` as newer kernels declare it: (skb, location, reason, rx_sk);
// then older ones: (skb, location, reason), and (skb, location).
entry_points!("kfree_skb", kfree_skb, kfree_skb_raw, on_drop_at_rx_sk);
entry_points!(
    "kfree_skb",
    kfree_skb_no_rx_sk,
    kfree_skb_no_rx_sk_raw,
    on_drop_with_reason
);
entry_points!(
    "kfree_skb",
    kfree_skb_no_reason,
    kfree_skb_no_reason_raw,
    on_drop_without_reason
);

#[inline(always)]
fn on_drop_at_rx_sk(ctx: &impl Hook) -> i32 {
    on_drop(ctx, ctx.arg(2), ctx.arg(3))
}

#[inline(always)]
fn on_drop_with_reason(ctx: &impl Hook) -> i32 {
    on_drop(ctx, ctx.arg(2), core::ptr::null())
}

#[inline(always)]
fn on_drop_without_reason(ctx: &impl Hook) -> i32 {
    on_drop(ctx, NO_DROP_REASON, core::ptr::null())
}

/// A packet the kernel freed with a drop reason (`NO_DROP_REASON` where the
/// kernel gives none). Fires for every packet of every protocol, so the
/// cheap checks come first: the reason, then the packet's protocol.
/// `rx_sk` is the receiving socket where the kernel names it.
#[inline(always)]
fn on_drop(ctx: &impl Hook, reason: u32, rx_sk: *const u8) -> i32 {
    // SAFETY: a plain static that userspace fills before load.
    let filter = unsafe { core::ptr::read_volatile(&raw const DROP_FILTER) };
    if filter.is_noise(reason) {
        return 0;
    }
    let skb: *const u8 = ctx.arg(0);
    let Some((ip, tcp)) = tcp_headers(skb) else {
        return 0;
    };
    let location: u64 = ctx.arg(1);
    let sk = match rx_sk.is_null() {
        true => read::<usize>(skb, offset!(skb_sk)) as *const u8,
        false => rx_sk,
    };
    tell_if_kept(sk);
    let Some(mut entry) = EVENTS.reserve::<DropRecord>(0) else {
        count_lost();
        return 0;
    };
    // SAFETY: as for a Record: the reserved entry is ours, sized and
    // aligned for a DropRecord.
    let dropped = unsafe { &mut *entry.as_mut_ptr() };
    let record = &mut dropped.record;
    fill_header(record, kind::DROP, sk, Task::Omitted);
    fill_from_headers(record, ip, tcp);
    // The device's namespace; a packet not yet (or no longer) on a device
    // has its socket's.
    let dev: *const u8 = read::<usize>(skb, offset!(skb_dev)) as *const u8;
    record.netns = match dev.is_null() {
        false => netns_at(dev, offset!(dev_nd_net)),
        true => netns_at(sk, offset!(skc_net)),
    };
    if drop_stack_allowed(record.ts_ns) {
        record.stack_bytes = fill_stack(ctx, &mut dropped.stack);
    }
    dropped.location = location;
    dropped.reason = reason;
    dropped.sock_port = read(sk, offset!(skc_num));
    dropped.tcp_flags = read(tcp, TCP_FLAGS_BYTE as u32);
    dropped._pad = 0;
    entry.submit(wakeup());
    0
}
