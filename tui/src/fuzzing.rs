//! Entry points for the fuzz targets (tui/fuzz): each parser of outside
//! input (the user, a recording, the kernel's netlink answers, BTF and
//! ring-buffer records, /proc text), called the way tcpscope calls it. Not
//! an API: the targets only need each call to return without a panic, an
//! abort or an unbounded allocation.

use std::str::FromStr;

use crate::{
    decode::{Bitfields, Decoder, KernelClock, kallsyms::Symbols},
    model::{counters::Snapshot, filter::Filter},
    source::{
        live::{offsets, probes},
        replay,
        survey::{cgroup, diag, owners},
    },
    wire::Line,
};

/// The filter language: a parse, and a parse of what it prints.
pub fn filter(text: &str) {
    if let Ok(filter) = Filter::from_str(text) {
        let printed = filter.to_string();
        assert!(
            Filter::from_str(&printed).is_ok(),
            "{text:?} parsed, but what it prints, {printed:?}, does not"
        );
    }
}

/// One line of a recording, as the replay reads it; and, when it is a line
/// of the contract, written again and read back unchanged.
pub fn recording_line(text: &str) {
    let _ = replay::parse_line(text);
    if let Ok(line) = serde_json::from_str::<Line>(text) {
        let written = line.to_json();
        match serde_json::from_str::<Line>(&written) {
            Ok(again) => assert_eq!(again, line, "{text:?} was written as {written:?}"),
            Err(error) => panic!("{text:?} was written as {written:?}, which reads as {error}"),
        }
    }
}

/// One netlink datagram of sock_diag answers, each read as the survey
/// reads it.
pub fn sock_diag(datagram: &[u8]) {
    let mut found = Vec::new();
    let _ = diag::read_datagram(datagram, 1, &mut found);
    for answer in &found {
        let _ = (
            answer.local(),
            answer.remote(),
            answer.tcp_info(),
            answer.drops(),
        );
    }
}

/// /proc text: netstat/snmp counters, kallsyms with lookups, an fd link and
/// a cgroup file.
pub fn proc_text(text: &str) {
    let _ = Snapshot::default().parse(text);
    let symbols = Symbols::parse(text);
    for address in [0, 1, u64::MAX / 2, u64::MAX] {
        let _ = symbols.frame(address);
    }
    let _ = symbols.range("tcp_retransmit_timer");
    let _ = owners::socket_inode(text);
    let _ = cgroup::unit(text);
}

/// A BTF blob, and the lookups tcpscope makes in the kernel's.
pub fn btf(bytes: &[u8]) {
    let Ok(btf) = btf_rs::Btf::from_bytes(bytes) else {
        return;
    };
    let _ = offsets::drop_reasons(&btf);
    let _ = offsets::byte_offset(&btf, "sock", "__sk_common.skc_state");
    let _ = offsets::byte_offset(&btf, "tcp_sock", "inet_conn.icsk_retransmits");
    let _ = probes::tracepoint_arguments(&btf, "kfree_skb");
}

/// One ring-buffer item as the probes would write it.
pub fn ring_record(bytes: &[u8]) {
    let clock = KernelClock {
        hz: 250,
        monotonic_to_wall_ns: 0,
    };
    let mut decoder = Decoder::new(clock, Bitfields::default(), Symbols::default());
    let _ = decoder.decode(bytes);
}
