//! Resolves the kernel struct offsets the probes need from the running
//! kernel's BTF (/sys/kernel/btf/vmlinux), so no offset is compiled in.
//!
//! Anonymous structs and unions are searched through, as the C compiler does
//! when code names `sk->skc_family`. A required field that is missing stops
//! start-up with its name; an optional one (newer kernels only) is marked
//! absent and the probes read zero for it.

use btf_rs::{Btf, Type};
use tcpscope_common::{ABSENT, HEAD_BYTES, Offsets};

#[derive(Debug, thiserror::Error)]
pub enum OffsetError {
    #[error("the kernel's BTF has no struct {0}")]
    NoStruct(&'static str),
    #[error("the kernel's BTF has no field {0}.{1}")]
    NoField(&'static str, String),
    #[error("{0}.{1} is {2} bytes in this kernel's BTF, tcpscope reads {3}")]
    Size(&'static str, String, usize, usize),
    #[error("reading the kernel's BTF: {0}")]
    Btf(#[from] btf_rs::Error),
}

/// Where a field sits, in bits from the start of the outer struct.
#[derive(Debug, Clone, Copy)]
struct Field {
    bit_offset: u32,
    /// Size in bytes of the field's type (0 for a bitfield).
    size: usize,
}

/// Looks up `struct outer` and follows `path` through named and anonymous
/// members.
struct Resolver<'a> {
    btf: &'a Btf,
}

impl Resolver<'_> {
    fn field(&self, outer: &'static str, path: &str) -> Result<Field, OffsetError> {
        let mut current = self.struct_named(outer)?;
        let mut bits = 0;
        let mut found = None;
        for name in path.split('.') {
            let (offset, member) = self
                .find_member(&current, name)?
                .ok_or_else(|| OffsetError::NoField(outer, path.to_string()))?;
            bits += offset;
            let member_type = self.strip(self.btf.resolve_chained_type(&member)?)?;
            let size = if member.bitfield_size().is_some_and(|size| size > 0) {
                0
            } else {
                type_size(&member_type)
            };
            found = Some(Field {
                bit_offset: bits,
                size,
            });
            if let Type::Struct(inner) | Type::Union(inner) = member_type {
                current = inner;
            }
        }
        found.ok_or_else(|| OffsetError::NoField(outer, path.to_string()))
    }

    fn struct_named(&self, name: &'static str) -> Result<btf_rs::Struct, OffsetError> {
        self.btf
            .resolve_types_by_name(name)
            .unwrap_or_default()
            .into_iter()
            .find_map(|candidate| match candidate {
                Type::Struct(found) if !found.members.is_empty() => Some(found),
                _ => None,
            })
            .ok_or(OffsetError::NoStruct(name))
    }

    /// Depth-first through anonymous members; returns the member's bit
    /// offset from the start of `within`.
    fn find_member(
        &self,
        within: &btf_rs::Struct,
        name: &str,
    ) -> Result<Option<(u32, btf_rs::Member)>, OffsetError> {
        for member in &within.members {
            let member_name = self.btf.resolve_name(member).unwrap_or_default();
            if member_name == name {
                return Ok(Some((member.bit_offset(), member.clone())));
            }
            if member_name.is_empty()
                && let Type::Struct(inner) | Type::Union(inner) =
                    self.strip(self.btf.resolve_chained_type(member)?)?
                && let Some((offset, found)) = self.find_member(&inner, name)?
            {
                return Ok(Some((member.bit_offset() + offset, found)));
            }
        }
        Ok(None)
    }

    /// Follows typedefs and qualifiers to the underlying type.
    fn strip(&self, mut current: Type) -> Result<Type, OffsetError> {
        for _ in 0..16 {
            current = match &current {
                Type::Typedef(inner) => self.btf.resolve_chained_type(inner)?,
                Type::Const(inner) | Type::Volatile(inner) | Type::Restrict(inner) => {
                    self.btf.resolve_chained_type(inner)?
                }
                Type::TypeTag(inner) => self.btf.resolve_chained_type(inner)?,
                _ => return Ok(current),
            };
        }
        Ok(current)
    }
}

/// Byte offset of `outer.path` in the running kernel's BTF.
pub fn byte_offset(btf: &Btf, outer: &'static str, path: &str) -> Result<u32, OffsetError> {
    Ok(Resolver { btf }.field(outer, path)?.bit_offset / 8)
}

fn type_size(resolved: &Type) -> usize {
    match resolved {
        Type::Int(int) => int.size(),
        Type::Enum(enumeration) => enumeration.size(),
        Type::Enum64(enumeration) => enumeration.size(),
        Type::Ptr(_) => std::mem::size_of::<usize>(),
        Type::Struct(inner) | Type::Union(inner) => inner.size(),
        Type::Array(_) => 0,
        _ => 0,
    }
}

/// How much the probes need a field, and what its absence means.
#[derive(Clone, Copy, PartialEq)]
enum Need {
    /// Start-up stops without it.
    Required,
    /// Without it something is not shown: the text says what.
    Lossy(&'static str),
    /// Older kernels lack it and behave as the text says, which is what
    /// tcpscope then assumes: nothing is lost.
    Newer(&'static str),
}

/// An optional field this kernel lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    /// `struct.member`.
    pub field: String,
    /// What its absence costs, or what tcpscope assumes instead.
    pub meaning: &'static str,
    /// Whether something is not shown because of it.
    pub lossy: bool,
}

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "this kernel has no {}: {}", self.field, self.meaning)
    }
}

struct Collector<'a> {
    resolver: Resolver<'a>,
    /// The optional fields this kernel lacks, for the start-up report.
    missing: Vec<Missing>,
}

impl Collector<'_> {
    /// Byte offset of `outer.path`, checked to be `size` bytes wide
    /// (0: any size).
    fn byte(
        &mut self,
        outer: &'static str,
        path: &str,
        size: usize,
        need: Need,
    ) -> Result<u32, OffsetError> {
        match self.resolver.field(outer, path) {
            Ok(field) if size == 0 || field.size == size => Ok(field.bit_offset / 8),
            Ok(field) if need == Need::Required => {
                Err(OffsetError::Size(outer, path.to_string(), field.size, size))
            }
            Err(error) if need == Need::Required => Err(error),
            _ => {
                self.note_missing(outer, path, need);
                Ok(ABSENT)
            }
        }
    }

    fn note_missing(&mut self, outer: &'static str, path: &str, need: Need) {
        let (meaning, lossy) = match need {
            Need::Required => ("required", true),
            Need::Lossy(loses) => (loses, true),
            Need::Newer(assumed) => (assumed, false),
        };
        self.missing.push(Missing {
            field: format!("{outer}.{path}"),
            meaning,
            lossy,
        });
    }

    /// Byte and bit of a one-bit or few-bit bitfield.
    fn bits(&mut self, outer: &'static str, path: &str, need: Need) -> (u32, u32) {
        match self.resolver.field(outer, path) {
            Ok(field) => (field.bit_offset / 8, field.bit_offset % 8),
            Err(_) => {
                self.note_missing(outer, path, need);
                (ABSENT, ABSENT)
            }
        }
    }
}

// What an optional field's absence means (see [`Need`]).
const MS_STAMPS: &str = "retransmission stamps are kept in ms, as older kernels do";
const NO_SYNACK: &str = "SYN-ACK retransmits carry no retry count";
const NO_IPV6: &str = "IPv6 flows show no addresses";
const NO_NETNS: &str = "flows show no network namespace";
const NO_SYSCTL: &str = "forecasts lack this namespace's retry limit";
const NO_LINEAR: &str = "SYN retries double from the first one, as older kernels do";
const RTO_MAX: &str = "the RTO cap is the compile-time TCP_RTO_MAX, 120 s, as before Linux 6.15";
const RTO_MIN: &str = "the RTO floor is TCP_RTO_MIN, 200 ms, as older kernels have it";
const NO_SOCKOPT: &str = "a socket's own TCP_SYNCNT / TCP_USER_TIMEOUT is not seen";
const NO_STAMP: &str = "forecasts count from the event, not the first retransmission";
const NO_TOTAL: &str = "flows show no total retransmission count";
const NO_PACKET: &str = "drops and resets without a socket show no 4-tuple";
const NO_DROP_NETNS: &str = "drops show no network namespace";
const NO_DROP_SOCKET: &str = "drops are not joined to their socket";

/// The resolved offsets, and the optional fields this kernel does not have.
pub struct Resolved {
    pub offsets: Offsets,
    pub missing: Vec<Missing>,
}

/// Resolves every offset in [`Offsets`] from `btf`.
pub fn resolve(btf: &Btf) -> Result<Resolved, OffsetError> {
    use Need::{Lossy, Newer, Required};
    let mut c = Collector {
        resolver: Resolver { btf },
        missing: Vec::new(),
    };
    let pointer = std::mem::size_of::<usize>();
    let (usec_byte, usec_bit) = c.bits("tcp_sock", "tcp_usec_ts", Newer(MS_STAMPS));
    let (timeout_byte, timeout_bit) = c.bits("request_sock", "num_timeout", Lossy(NO_SYNACK));
    let offsets = Offsets {
        skc_in_head: 0,
        skc_family: c.byte("sock_common", "skc_family", 2, Required)?,
        skc_state: c.byte("sock_common", "skc_state", 1, Required)?,
        skc_num: c.byte("sock_common", "skc_num", 2, Required)?,
        skc_dport: c.byte("sock_common", "skc_dport", 2, Required)?,
        skc_rcv_saddr: c.byte("sock_common", "skc_rcv_saddr", 4, Required)?,
        skc_daddr: c.byte("sock_common", "skc_daddr", 4, Required)?,
        skc_v6_rcv_saddr: c.byte("sock_common", "skc_v6_rcv_saddr", 16, Lossy(NO_IPV6))?,
        skc_v6_daddr: c.byte("sock_common", "skc_v6_daddr", 16, Lossy(NO_IPV6))?,
        skc_net: c.byte("sock_common", "skc_net.net", pointer, Required)?,
        net_ns_inum: c.byte("net", "ns.inum", 4, Lossy(NO_NETNS))?,
        net_retries2: c.byte("net", "ipv4.sysctl_tcp_retries2", 1, Lossy(NO_SYSCTL))?,
        net_syn_retries: c.byte("net", "ipv4.sysctl_tcp_syn_retries", 1, Lossy(NO_SYSCTL))?,
        net_synack_retries: c.byte("net", "ipv4.sysctl_tcp_synack_retries", 1, Lossy(NO_SYSCTL))?,
        net_orphan_retries: c.byte("net", "ipv4.sysctl_tcp_orphan_retries", 1, Lossy(NO_SYSCTL))?,
        net_syn_linear_timeouts: c.byte(
            "net",
            "ipv4.sysctl_tcp_syn_linear_timeouts",
            1,
            Newer(NO_LINEAR),
        )?,
        net_rto_max_ms: c.byte("net", "ipv4.sysctl_tcp_rto_max_ms", 4, Newer(RTO_MAX))?,
        inet_sport: c.byte("inet_sock", "inet_sport", 2, Required)?,
        sk_protocol: c.byte("sock", "sk_protocol", 2, Required)?,
        sk_err: c.byte("sock", "sk_err", 4, Required)?,
        icsk_rto: c.byte("inet_connection_sock", "icsk_rto", 4, Required)?,
        icsk_rto_min: c.byte("inet_connection_sock", "icsk_rto_min", 4, Newer(RTO_MIN))?,
        icsk_rto_max: c.byte("inet_connection_sock", "icsk_rto_max", 4, Newer(RTO_MAX))?,
        icsk_retransmits: c.byte("inet_connection_sock", "icsk_retransmits", 1, Required)?,
        icsk_backoff: c.byte("inet_connection_sock", "icsk_backoff", 1, Required)?,
        icsk_syn_retries: c.byte(
            "inet_connection_sock",
            "icsk_syn_retries",
            1,
            Lossy(NO_SOCKOPT),
        )?,
        icsk_user_timeout: c.byte(
            "inet_connection_sock",
            "icsk_user_timeout",
            4,
            Lossy(NO_SOCKOPT),
        )?,
        tp_retrans_stamp: c.byte("tcp_sock", "retrans_stamp", 4, Lossy(NO_STAMP))?,
        tp_total_retrans: c.byte("tcp_sock", "total_retrans", 4, Lossy(NO_TOTAL))?,
        tp_mstamp: c.byte("tcp_sock", "tcp_mstamp", 8, Lossy(NO_STAMP))?,
        tp_usec_ts_byte: usec_byte,
        usec_ts_bit: usec_bit,
        req_num_retrans: c.byte("request_sock", "num_retrans", 1, Lossy(NO_SYNACK))?,
        req_num_timeout: timeout_byte,
        req_num_timeout_bit: timeout_bit,
        skb_head: c.byte("sk_buff", "head", pointer, Lossy(NO_PACKET))?,
        skb_network_header: c.byte("sk_buff", "network_header", 2, Lossy(NO_PACKET))?,
        skb_transport_header: c.byte("sk_buff", "transport_header", 2, Lossy(NO_PACKET))?,
        skb_protocol: c.byte("sk_buff", "protocol", 2, Lossy(NO_PACKET))?,
        skb_dev: c.byte("sk_buff", "dev", pointer, Lossy(NO_DROP_NETNS))?,
        skb_sk: c.byte("sk_buff", "sk", pointer, Lossy(NO_DROP_SOCKET))?,
        dev_nd_net: c.byte("net_device", "nd_net.net", pointer, Lossy(NO_DROP_NETNS))?,
    };
    Ok(Resolved {
        offsets: Offsets {
            skc_in_head: u32::from(head_holds_sock_common(&offsets)),
            ..offsets
        },
        missing: c.missing,
    })
}

/// The members of `enum skb_drop_reason` as this kernel numbers them:
/// `(name, number)`, e.g. `("SKB_DROP_REASON_NO_SOCKET", 3)`. Empty when
/// the kernel has no such enum (before 5.17).
pub fn drop_reasons(btf: &Btf) -> Vec<(String, u32)> {
    btf.resolve_types_by_name("skb_drop_reason")
        .unwrap_or_default()
        .into_iter()
        .find_map(|candidate| match candidate {
            Type::Enum(found) => Some(found),
            _ => None,
        })
        .map(|found| {
            found
                .members
                .iter()
                .filter_map(|member| Some((btf.resolve_name(member).ok()?, member.val())))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether the 4-tuple, family and state fit in the socket's first
/// [`HEAD_BYTES`], aligned as the probes index them.
fn head_holds_sock_common(offsets: &Offsets) -> bool {
    let fits = |offset: u32, size: u32| {
        offset != ABSENT && offset.is_multiple_of(size) && (offset + size) as usize <= HEAD_BYTES
    };
    fits(offsets.skc_daddr, 4)
        && fits(offsets.skc_rcv_saddr, 4)
        && fits(offsets.skc_dport, 2)
        && fits(offsets.skc_num, 2)
        && fits(offsets.skc_family, 2)
        && fits(offsets.skc_state, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const VMLINUX: &str = "/sys/kernel/btf/vmlinux";

    /// Offsets recorded on this project's 6.18 machines (PLATFORM.md); a
    /// different kernel skips the comparison, not the resolution.
    #[test]
    fn resolves_every_required_field_of_the_running_kernel() {
        let Ok(btf) = Btf::from_file(VMLINUX) else {
            eprintln!("skipped: {VMLINUX} is not readable on this machine");
            return;
        };
        let resolved = resolve(&btf).expect("offsets of the running kernel");
        let offsets = resolved.offsets;
        assert_eq!(offsets.skc_family, 16, "sock_common starts with addresses");
        assert_eq!(offsets.skc_in_head, 1, "one copy reads the 4-tuple");
        assert_ne!(offsets.skc_net, ABSENT);
        assert_ne!(offsets.skb_head, ABSENT);
        assert_ne!(offsets.skb_protocol, ABSENT);
        assert_ne!(offsets.skb_dev, ABSENT);
        assert_ne!(offsets.skb_sk, ABSENT);
        assert_ne!(offsets.dev_nd_net, ABSENT);
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        if release.starts_with("6.18") {
            assert_eq!(offsets.icsk_rto, 1184);
            assert_eq!(offsets.icsk_retransmits, 1249);
            assert_eq!(offsets.icsk_backoff, 1251);
            assert_eq!(offsets.sk_err, 284);
            assert_eq!(offsets.tp_retrans_stamp, 2176);
            assert_eq!(offsets.tp_total_retrans, 2200);
        }
    }
}

#[cfg(test)]
mod drop_reason_tests {
    use super::*;

    #[test]
    fn the_running_kernel_names_its_drop_reasons() {
        let Ok(btf) = Btf::from_file("/sys/kernel/btf/vmlinux") else {
            eprintln!("skipped: no readable kernel BTF on this machine");
            return;
        };
        let reasons = drop_reasons(&btf);
        let named = |name: &str| reasons.iter().any(|(known, _)| known == name);
        assert!(named("SKB_DROP_REASON_NOT_SPECIFIED"), "{reasons:?}");
        assert!(named("SKB_DROP_REASON_NO_SOCKET"));
        assert!(named("SKB_DROP_REASON_NETFILTER_DROP"));
    }
}
