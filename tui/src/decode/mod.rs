//! Turns the probes' raw ring-buffer records into model events: kernel units
//! to human ones (jiffies to ms, monotonic to wall-clock time), states and
//! addresses checked, stacks named. Nothing from the kernel is trusted: a
//! record that does not make sense is an error the caller counts.

pub mod drop_reasons;
pub mod kallsyms;

use std::{
    collections::HashMap,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    ops::Range,
    sync::Arc,
};

use tcpscope_common::{ABSENT, COMM_LEN, DropRecord, Record, STACK_DEPTH, StackedRecord, kind};

use crate::model::event::{
    Event, EventKind, PacketDrop, Retransmit, RetransmitCause, SockId, SocketLimits, Stack, Task,
    TcpFlags, TcpState,
};
use drop_reasons::DropReasons;
use kallsyms::Symbols;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("record of {0} bytes, expected at least {size}", size = size_of::<Record>())]
    Size(usize),
    #[error("drop record of {0} bytes, expected {size}", size = size_of::<DropRecord>())]
    DropSize(usize),
    #[error("unknown record kind {0}")]
    Kind(u8),
    #[error("unknown TCP state {0}")]
    State(u8),
    #[error("unknown address family {0}")]
    Family(u16),
}

/// Facts about the running kernel the decoder needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelClock {
    /// The kernel's timer frequency (CONFIG_HZ): jiffies per second.
    pub hz: u32,
    /// Wall-clock minus monotonic time, ns: added to `bpf_ktime_get_ns`.
    pub monotonic_to_wall_ns: i64,
}

/// Bit positions of kernel bitfields, resolved from BTF with the offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Bitfields {
    pub usec_ts: Option<u8>,
    pub num_timeout: Option<u8>,
}

impl Bitfields {
    pub fn from_offsets(offsets: &tcpscope_common::Offsets) -> Self {
        let bit = |value: u32| (value != ABSENT).then_some((value % 8) as u8);
        Self {
            usec_ts: bit(offsets.usec_ts_bit),
            num_timeout: bit(offsets.req_num_timeout_bit),
        }
    }
}

/// Stacks kept named; beyond this many distinct ones the cache starts over.
const STACK_CACHE: usize = 4096;

/// Frames that belong to the tracing machinery, not to the kernel's path:
/// the probe itself (JIT code, unnamed or `bpf_prog_*`) and the tracepoint
/// trampolines. They sit within the first few frames; everything up to the
/// last of them is left out.
const TRACING_FRAMES: [&str; 3] = ["bpf_", "__bpf_", "__traceiter_"];
const TRACING_DEPTH: usize = 4;

pub struct Decoder {
    clock: KernelClock,
    bits: Bitfields,
    symbols: Symbols,
    loss_probe: Option<Range<u64>>,
    retransmit_timer: Option<Range<u64>>,
    stacks: HashMap<Vec<u64>, Stack>,
    comms: HashMap<[u8; COMM_LEN], Arc<str>>,
    drop_reasons: DropReasons,
    /// Drop locations named, by address (a kernel has a few hundred).
    locations: HashMap<u64, Arc<str>>,
}

impl Decoder {
    pub fn new(clock: KernelClock, bits: Bitfields, symbols: Symbols) -> Self {
        Self {
            clock: KernelClock {
                hz: clock.hz.max(1),
                ..clock
            },
            bits,
            loss_probe: symbols.range("tcp_send_loss_probe"),
            retransmit_timer: symbols.range("tcp_retransmit_timer"),
            symbols,
            stacks: HashMap::new(),
            comms: HashMap::new(),
            drop_reasons: DropReasons::default(),
            locations: HashMap::new(),
        }
    }

    /// Names drop reasons with `reasons` (else they show as numbers).
    pub fn with_drop_reasons(self, reasons: DropReasons) -> Self {
        Self {
            drop_reasons: reasons,
            ..self
        }
    }

    /// Decodes one ring-buffer item: a [`Record`], a [`StackedRecord`] or
    /// a [`DropRecord`].
    pub fn decode(&mut self, bytes: &[u8]) -> Result<Event, DecodeError> {
        if bytes.get(std::mem::offset_of!(Record, kind)) == Some(&kind::DROP) {
            if bytes.len() < size_of::<DropRecord>() {
                return Err(DecodeError::DropSize(bytes.len()));
            }
            // SAFETY: as below, for DropRecord.
            let dropped: DropRecord = unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast()) };
            return self.decode_drop(&dropped);
        }
        if bytes.len() >= size_of::<StackedRecord>() {
            // SAFETY: the length was checked and StackedRecord is plain old
            // data for which every bit pattern is valid; the read is
            // unaligned-safe.
            let stacked: StackedRecord = unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast()) };
            return self.decode_record(&stacked.record, frames(&stacked));
        }
        if bytes.len() >= size_of::<Record>() {
            // SAFETY: as above, for Record.
            let record: Record = unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast()) };
            return self.decode_record(&record, &[]);
        }
        Err(DecodeError::Size(bytes.len()))
    }

    /// Decodes a record and the kernel stack that came with it, if any.
    pub fn decode_record(&mut self, record: &Record, stack: &[u64]) -> Result<Event, DecodeError> {
        let (local, remote) = endpoints(record)?;
        let kind = match record.kind {
            kind::STATE => self.state_change(record, stack)?,
            kind::RETRANSMIT => EventKind::Retransmit(self.retransmit(record, stack)),
            kind::SYNACK_RETRANSMIT => EventKind::SynAckRetransmit {
                retransmits: record.retransmits,
                timeouts: self.bits.num_timeout.map_or(0, |bit| record.backoff >> bit),
            },
            kind::RESET_SENT => EventKind::ResetSent,
            kind::RESET_RECEIVED => EventKind::ResetReceived,
            kind::DESTROY => EventKind::Destroyed,
            kind::OPENED => self.opened(record)?,
            // Only with its drop fields: see decode_drop.
            other => return Err(DecodeError::Kind(other)),
        };
        Ok(self.event(record, local, remote, kind))
    }

    /// The event of `record` between `local` and `remote`.
    fn event(
        &mut self,
        record: &Record,
        local: SocketAddr,
        remote: SocketAddr,
        kind: EventKind,
    ) -> Event {
        Event {
            ts: self.wall_time(record.ts_ns),
            sock: (record.sock != 0).then_some(SockId(record.sock)),
            netns: record.netns,
            local,
            remote,
            task: self.task(record),
            kind,
        }
    }

    /// A dropped segment. The probe filled the 4-tuple as received (the
    /// packet's destination is the local end); a packet whose source port
    /// is its socket's own port was on its way out, so the ends swap.
    pub fn decode_drop(&mut self, dropped: &DropRecord) -> Result<Event, DecodeError> {
        let record = &dropped.record;
        let (mut local, mut remote) = endpoints(record)?;
        let outgoing = dropped.sock_port != 0
            && dropped.sock_port == remote.port()
            && dropped.sock_port != local.port();
        if outgoing {
            std::mem::swap(&mut local, &mut remote);
        }
        let count = usize::try_from(record.stack_bytes).unwrap_or(0) / 8;
        let stack = self.stack(&dropped.stack[..count.min(STACK_DEPTH)]);
        if self.locations.len() >= STACK_CACHE {
            self.locations.clear();
        }
        let location = self
            .locations
            .entry(dropped.location)
            .or_insert_with(|| Arc::from(self.symbols.frame(dropped.location)))
            .clone();
        let kind = EventKind::Drop(PacketDrop {
            reason: self.drop_reasons.name(dropped.reason),
            location,
            flags: TcpFlags(dropped.tcp_flags),
            outgoing,
            stack,
        });
        Ok(self.event(record, local, remote, kind))
    }

    fn wall_time(&self, monotonic_ns: u64) -> u64 {
        monotonic_ns.saturating_add_signed(self.clock.monotonic_to_wall_ns)
    }

    fn jiffies_to_ms(&self, jiffies: u32) -> u32 {
        (u64::from(jiffies) * 1000 / u64::from(self.clock.hz)).min(u64::from(u32::MAX)) as u32
    }

    fn task(&mut self, record: &Record) -> Option<Task> {
        let pid = (record.pid_tgid >> 32) as u32;
        if pid == 0 {
            return None;
        }
        let comm = self
            .comms
            .entry(record.comm)
            .or_insert_with(|| {
                let end = record.comm.iter().position(|&b| b == 0).unwrap_or(COMM_LEN);
                Arc::from(String::from_utf8_lossy(&record.comm[..end]).as_ref())
            })
            .clone();
        Some(Task { pid, comm })
    }

    fn opened(&self, record: &Record) -> Result<EventKind, DecodeError> {
        let opened_as =
            TcpState::from_kernel(record.old_state).ok_or(DecodeError::State(record.old_state))?;
        let established_at = (record.established_after_us != 0).then(|| {
            let after_ns = u64::from(record.established_after_us) * 1000;
            self.wall_time(record.ts_ns.saturating_add(after_ns))
        });
        Ok(EventKind::Opened {
            opened_as,
            established_at,
        })
    }

    fn state_change(&mut self, record: &Record, stack: &[u64]) -> Result<EventKind, DecodeError> {
        let state = |number| TcpState::from_kernel(number).ok_or(DecodeError::State(number));
        let new = state(record.new_state)?;
        Ok(EventKind::State {
            old: state(record.old_state)?,
            new,
            err: record.sk_err,
            stack: (new == TcpState::Close)
                .then(|| self.stack(stack))
                .flatten(),
        })
    }

    fn retransmit(&self, record: &Record, stack: &[u64]) -> Retransmit {
        Retransmit {
            rto_ms: self.jiffies_to_ms(record.rto_jiffies),
            backoff: record.backoff,
            retransmits: record.retransmits,
            cause: self.retransmit_cause(stack),
            limits: Some(self.limits(record)),
            state: TcpState::from_kernel(record.new_state),
        }
    }

    fn retransmit_cause(&self, frames: &[u64]) -> RetransmitCause {
        let within = |range: &Option<Range<u64>>| {
            range
                .as_ref()
                .is_some_and(|range| frames.iter().any(|ip| range.contains(ip)))
        };
        if frames.is_empty() || self.symbols.is_empty() {
            RetransmitCause::Unknown
        } else if within(&self.loss_probe) {
            RetransmitCause::LossProbe
        } else if within(&self.retransmit_timer) {
            RetransmitCause::Timer
        } else {
            RetransmitCause::Fast
        }
    }

    fn limits(&self, record: &Record) -> SocketLimits {
        let raw = &record.limits;
        let nonzero = |value: u32| (value != 0).then_some(value);
        let usec = self
            .bits
            .usec_ts
            .is_some_and(|bit| raw.usec_ts_byte >> bit & 1 == 1);
        let since_first_retransmit_ms = nonzero(raw.retrans_stamp).map(|stamp| {
            if usec {
                (raw.tcp_mstamp_us as u32).wrapping_sub(stamp) / 1000
            } else {
                ((raw.tcp_mstamp_us / 1000) as u32).wrapping_sub(stamp)
            }
        });
        SocketLimits {
            retries2: raw.ns_retries2,
            syn_retries: raw.ns_syn_retries,
            synack_retries: raw.ns_synack_retries,
            orphan_retries: raw.ns_orphan_retries,
            syn_linear_timeouts: raw.ns_syn_linear_timeouts,
            sock_syn_retries: (raw.sock_syn_retries != 0).then_some(raw.sock_syn_retries),
            user_timeout_ms: nonzero(raw.user_timeout_ms),
            rto_min_ms: nonzero(raw.rto_min_jiffies).map(|j| self.jiffies_to_ms(j)),
            rto_max_ms: nonzero(raw.rto_max_jiffies)
                .map(|j| self.jiffies_to_ms(j))
                .or(nonzero(raw.ns_rto_max_ms)),
            since_first_retransmit_ms,
            hz: self.clock.hz,
        }
    }

    /// A stack, named, with the tracing frames on top left out.
    fn stack(&mut self, frames: &[u64]) -> Option<Stack> {
        if frames.is_empty() {
            return None;
        }
        if let Some(known) = self.stacks.get(frames) {
            return Some(known.clone());
        }
        let mut named: Vec<String> = frames.iter().map(|&ip| self.symbols.frame(ip)).collect();
        let tracing = named.iter().take(TRACING_DEPTH).rposition(|frame| {
            TRACING_FRAMES
                .iter()
                .any(|prefix| frame.starts_with(prefix))
        });
        if let Some(last) = tracing {
            named.drain(..=last);
        }
        let named: Stack = named.into();
        if self.stacks.len() >= STACK_CACHE {
            self.stacks.clear();
        }
        self.stacks.insert(frames.to_vec(), named.clone());
        Some(named)
    }
}

/// The filled part of a record's stack.
fn frames(stacked: &StackedRecord) -> &[u64] {
    let count = usize::try_from(stacked.record.stack_bytes).unwrap_or(0) / 8;
    &stacked.stack[..count.min(STACK_DEPTH)]
}

fn endpoints(record: &Record) -> Result<(SocketAddr, SocketAddr), DecodeError> {
    let end = |bytes: &[u8; 16], port| {
        endpoint(record.family, bytes, port).ok_or(DecodeError::Family(record.family))
    };
    Ok((
        end(&record.saddr, record.sport)?,
        end(&record.daddr, record.dport)?,
    ))
}

/// An address of `family` (AF_INET: the first four bytes; AF_INET6) and a
/// port, as the probes write them; None for another family.
pub fn endpoint(family: u16, bytes: &[u8; 16], port: u16) -> Option<SocketAddr> {
    let ip: IpAddr = match family {
        2 => Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]).into(),
        10 => Ipv6Addr::from(*bytes).into(),
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
