//! The healthy path: what the probes keep to themselves instead of sending
//! one record per state change.
//!
//! A connection that opens, lives less than [`KEPT_FOR_NS`] and closes
//! cleanly needs no records: the probes remember it in [`OPENINGS`] from its
//! open and count its connect and handshake per destination in [`OPENS`],
//! which userspace reads every second. Everything else about it is sent,
//! whole and at once: the first change that is not part of a clean life
//! (a retransmission, a reset, a drop, a close that is an error, an abort
//! or a handshake that never completed), or any change after its first
//! second, is preceded by a [`tcpscope_common::kind::OPENED`] record that tells its open
//! (time, owner, 4-tuple) and handshake. Userspace tells the quiet ones
//! that outlive a second itself, from the map, once their handshake is
//! done (a connect's local port is chosen after its change to SYN_SENT:
//! only its next change can tell it whole). The rule lives here and
//! only here; `--every-flow` (the [`EVERY_FLOW`] global) turns it off.

use aya_ebpf::{
    helpers::{bpf_get_current_comm, bpf_get_current_pid_tgid},
    macros::map,
    maps::{LruHashMap, LruPerCpuHashMap, PerCpuArray},
};
use tcpscope_common::{Destination, KEPT_FOR_NS, Opening, Opens};

use crate::kernel::{
    TCP_CLOSE, TCP_CLOSE_WAIT, TCP_ESTABLISHED, TCP_LISTEN, TCP_SYN_RECV, TCP_SYN_SENT, fill_ends,
    offset, read,
};

/// 1 to send every state change as a record, the way before the healthy
/// path (`--every-flow`); overridden by userspace at load time.
#[unsafe(no_mangle)]
static EVERY_FLOW: u8 = 0;

/// Connections kept to the probes, by socket address. An entry the LRU
/// evicts (more than this many opens within about a second) loses only
/// its open: the connection's later changes are then sent as records.
/// Each CPU keeps its own LRU lists (BPF_F_NO_COMMON_LRU): an insert takes
/// no lock another CPU's inserts contend for.
#[map]
static OPENINGS: LruHashMap<u64, Opening> =
    LruHashMap::with_max_entries(65_536, BPF_F_NO_COMMON_LRU);

const BPF_F_NO_COMMON_LRU: u32 = 1 << 1;

/// Connects and handshakes per destination (see [`Opens`]).
#[map]
static OPENS: LruPerCpuHashMap<Destination, Opens> = LruPerCpuHashMap::with_max_entries(16_384, 0);

const BPF_NOEXIST: u64 = 1;

/// Whether every state change is to be sent as a record.
#[inline(always)]
pub fn every_flow() -> bool {
    // SAFETY: a plain static that userspace fills before load.
    unsafe { core::ptr::read_volatile(&raw const EVERY_FLOW) != 0 }
}

/// What the probes do with one state change of a TCP socket.
pub enum Change {
    /// Nothing leaves the kernel: the connection is healthy and young.
    Kept,
    /// Send the change as a record, preceded by its connection's open when
    /// it was kept until now.
    Send,
}

/// The right to send a kept connection's OPENED record: taken by deleting
/// its entry, which only one side (a program, or userspace) manages.
pub struct Claim(u64);

impl Claim {
    /// Whether this program took the entry out of the map (and so tells it).
    #[inline(always)]
    pub fn take(self) -> bool {
        OPENINGS.remove(self.0).is_ok()
    }
}

/// The healthy path's part in `inet_sock_set_state`; `trouble` is a close
/// that is not a clean end. `tell` fills the OPENED record from the entry
/// in place and sends it if its claim is taken. Called only without
/// `--every-flow`.
#[inline(always)]
pub fn on_state_change(
    sk: *const u8,
    old: u8,
    new: u8,
    trouble: bool,
    now_ns: u64,
    tell: impl FnOnce(&Opening, Claim),
) -> Change {
    // An accepted socket is cloned from its listener: its first change
    // leaves LISTEN (CLOSE on older kernels).
    let accepted = matches!(old, TCP_CLOSE | TCP_LISTEN) && new == TCP_SYN_RECV;
    if (old == TCP_CLOSE && new == TCP_SYN_SENT) || accepted {
        open(sk, new, now_ns);
        return Change::Kept;
    }
    let Some(entry) = OPENINGS.get_ptr_mut(sk as u64) else {
        return Change::Send;
    };
    // SAFETY: a value of the map, valid for the program's run. The LRU
    // may reuse it once deleted, which only this socket's changes and
    // userspace do, and a delete decides who tells it.
    let opening = unsafe { &mut *entry };
    let young = now_ns.wrapping_sub(opening.opened_ns) < KEPT_FOR_NS;
    if young && !trouble {
        match new {
            TCP_ESTABLISHED => {
                let after_us = (now_ns.wrapping_sub(opening.opened_ns) / 1000).max(1);
                opening.established_after_us = after_us as u32;
                let port = u16::from_be(read(sk, offset!(inet_sport)));
                if port != 0 {
                    opening.sport = port;
                }
                if opening.opened_as == TCP_SYN_SENT {
                    count(&destination(opening), true);
                }
                return Change::Kept;
            }
            // A clean end: gone unless userspace told it meanwhile (it
            // deleted the entry first), and then its end is sent too.
            TCP_CLOSE if OPENINGS.remove(sk as u64).is_ok() => return Change::Kept,
            TCP_CLOSE => return Change::Send,
            // FIN_WAIT1, CLOSE_WAIT and the rest of a clean close.
            _ => return Change::Kept,
        }
    }
    tell(opening, Claim(sk as u64));
    Change::Send
}

/// Tells the kept connection of `sk`, if there is one, before the event
/// that is about to be sent for it (a retransmission, a reset, a drop).
#[inline(always)]
pub fn tell_if_kept(sk: *const u8, tell: impl FnOnce(&Opening, Claim)) {
    if sk.is_null() {
        return;
    }
    let Some(entry) = OPENINGS.get_ptr(sk as u64) else {
        return;
    };
    // SAFETY: as in `on_state_change`.
    tell(unsafe { &*entry }, Claim(sk as u64));
}

/// Forgets the socket being freed: its entry, if a path missed it. The
/// look-up takes no lock, a delete does: most sockets have no entry left.
#[inline(always)]
pub fn forget(sk: *const u8) {
    if OPENINGS.get_ptr(sk as u64).is_some() {
        let _ = OPENINGS.remove(sk as u64);
    }
}

/// Where each CPU builds an entry before it goes into [`OPENINGS`]: a
/// program's stack has no room for one.
#[map]
static SCRATCH: PerCpuArray<Opening> = PerCpuArray::with_max_entries(1, 0);

/// Remembers a connect (with the task making it, and counted for its
/// destination) or an accepted socket.
#[inline(always)]
fn open(sk: *const u8, opened_as: u8, now_ns: u64) {
    let Some(scratch) = SCRATCH.get_ptr_mut(0) else {
        return;
    };
    // SAFETY: this CPU's slot of a per-CPU array, which no other program
    // touches on this CPU meanwhile.
    let opening = unsafe { &mut *scratch };
    opening.opened_ns = now_ns;
    opening.opened_as = opened_as;
    opening.established_after_us = 0;
    opening.saddr = [0; 16];
    opening.daddr = [0; 16];
    fill_ends(opening, sk);
    if opened_as == TCP_SYN_SENT {
        // A connect runs in the task that owns the socket.
        opening.pid_tgid = bpf_get_current_pid_tgid();
        opening.comm = bpf_get_current_comm().unwrap_or_default();
        count(&destination(opening), false);
    } else {
        opening.pid_tgid = 0;
        opening.comm = [0; 16];
    }
    #[expect(
        clippy::needless_borrows_for_generic_args,
        reason = "by value it would be copied through the stack"
    )]
    let _ = OPENINGS.insert(sk as u64, &*opening, 0);
}

#[inline(always)]
fn destination(opening: &Opening) -> Destination {
    Destination {
        addr: opening.daddr,
        port: opening.dport,
        family: opening.family,
    }
}

/// Adds one connect, or one handshake, to this CPU's count for `to`.
#[inline(always)]
fn count(to: &Destination, established: bool) {
    let add = |opens: &mut Opens| match established {
        true => opens.established += 1,
        false => opens.attempts += 1,
    };
    if let Some(opens) = OPENS.get_ptr_mut(to) {
        // SAFETY: this CPU's slot of a per-CPU value, which no other
        // program touches on this CPU meanwhile.
        add(unsafe { &mut *opens });
        return;
    }
    let mut first = Opens::default();
    add(&mut first);
    if OPENS.insert(to, first, BPF_NOEXIST).is_err()
        && let Some(opens) = OPENS.get_ptr_mut(to)
    {
        // Another CPU created it meanwhile. SAFETY: as above.
        add(unsafe { &mut *opens });
    }
}

/// The closes that are not a clean end: an error, a handshake that never
/// completed, or an abort (straight from a synchronized state to CLOSE,
/// skipping the FIN states).
#[inline(always)]
pub fn is_trouble(old: u8, new: u8, sk_err: i32) -> bool {
    let handshake = matches!(old, TCP_SYN_SENT | TCP_SYN_RECV);
    let abort = matches!(old, TCP_ESTABLISHED | TCP_CLOSE_WAIT);
    new == TCP_CLOSE && (sk_err != 0 || handshake || abort)
}
