//! Decode + table-update throughput: the work done for every record the
//! probes send (goal: at least 1,000,000 records/s on one core), and what
//! applying each second's survey costs with 100,000 flows. Run:
//! `cargo bench --bench pipeline`.

use std::net::SocketAddr;

use divan::{Bencher, counter::ItemsCount};
use tcpscope::{
    decode::{Bitfields, Decoder, KernelClock, kallsyms::Symbols},
    model::{
        event::TcpState,
        socket::{Scope, SocketEntry, Survey, TcpDetails},
        table::ConnectionTable,
    },
};
use tcpscope_common::{Record, STACK_DEPTH, StackedRecord, kind};

fn main() {
    divan::main();
}

/// Sockets cycled through; each lives a connect-to-close life.
const SOCKETS: u64 = 10_000;
const BASE: u64 = 0xffffffff81000000;

/// A kallsyms of about the size of a real kernel's (100,000 text symbols).
fn symbols() -> Symbols {
    let text: String = (0..100_000u64)
        .map(|i| format!("{:x} T function_{i}\n", BASE + i * 0x100))
        .collect();
    Symbols::parse(&text)
}

fn record(sock: u64, record_kind: u8, old: u8, new: u8) -> Record {
    // SAFETY: Record is plain integers and arrays; all zeroes is valid.
    let mut record: Record = unsafe { std::mem::zeroed() };
    record.kind = record_kind;
    record.sock = 0xffff_8881_0000_0000 + sock * 0x800;
    record.family = 2;
    record.saddr[..4].copy_from_slice(&[10, 0, 0, 1]);
    record.daddr[..4].copy_from_slice(&[10, 0, 0, 2]);
    record.sport = 30_000 + (sock % 30_000) as u16;
    record.dport = 443;
    record.pid_tgid = 4242 << 32;
    record.comm[..4].copy_from_slice(b"curl");
    record.old_state = old;
    record.new_state = new;
    record.rto_jiffies = 250;
    record
}

/// A record with a 16-frame kernel stack, as closes and retransmits carry.
fn stacked(record: Record) -> Vec<u8> {
    let mut stacked = StackedRecord {
        record,
        stack: [0; STACK_DEPTH],
    };
    for (depth, frame) in stacked.stack.iter_mut().take(16).enumerate() {
        *frame = BASE + (depth as u64 * 7 + 3) * 0x100 + 0x10;
    }
    stacked.record.stack_bytes = 16 * 8;
    bytes(&stacked)
}

/// The bytes of a record as the ring buffer hands them over.
fn bytes<T>(value: &T) -> Vec<u8> {
    // SAFETY: viewing the value's own bytes for its size.
    unsafe { std::slice::from_raw_parts((value as *const T).cast::<u8>(), size_of::<T>()) }.to_vec()
}

/// The records of one connection: connect, one retransmit, a close that
/// timed out (with its stack), free.
fn connection(sock: u64) -> Vec<Vec<u8>> {
    vec![
        bytes(&record(sock, kind::STATE, 7, 2)),
        stacked(record(sock, kind::RETRANSMIT, 2, 2)),
        bytes(&record(sock, kind::STATE, 2, 1)),
        bytes(&record(sock, kind::STATE, 1, 4)),
        bytes(&record(sock, kind::STATE, 4, 5)),
        stacked(record(sock, kind::STATE, 5, 7)),
        bytes(&record(sock, kind::DESTROY, 7, 7)),
    ]
}

#[divan::bench(sample_count = 20)]
fn decode_and_apply(bencher: Bencher) {
    let records: Vec<Vec<u8>> = (0..SOCKETS).flat_map(connection).collect();
    let clock = KernelClock {
        hz: 250,
        monotonic_to_wall_ns: 0,
    };
    let mut decoder = Decoder::new(clock, Bitfields::default(), symbols());
    let mut table = ConnectionTable::default();
    bencher
        .counter(ItemsCount::new(records.len()))
        .bench_local(|| {
            for bytes in &records {
                if let Ok(event) = decoder.decode(bytes) {
                    divan::black_box(table.apply(&event));
                }
            }
        });
}

/// The flows of a survey second on a box with 100,000 open connections:
/// a full survey of them all (in the kernel's order, not the table's)
/// applied to the table that holds them. Each second's cost of surveys.
#[divan::bench(sample_count = 10)]
fn apply_survey_of_100k_sockets(bencher: Bencher) {
    let sockets: Vec<SocketEntry> = (0..100_000u32)
        .map(|n| {
            let octets = n.to_be_bytes();
            let peer = std::net::Ipv4Addr::new(10, octets[1], octets[2], octets[3]);
            SocketEntry {
                netns: 4026531840,
                local: SocketAddr::from(([10, 0, 0, 1], 443)),
                remote: SocketAddr::from((peer, 40_000 + (n % 20_000) as u16)),
                state: TcpState::Established,
                inode: u64::from(n) + 1,
                receive_queue: 0,
                send_queue: 0,
                drops: Some(0),
                retransmit_timer_ms: None,
                owner: None,
                details: Some(TcpDetails::default()),
            }
        })
        .collect();
    let initial = Survey {
        at: 1_000_000_000,
        scope: Scope::Initial,
        sockets: sockets.clone(),
        ..Survey::default()
    };
    let mut table = ConnectionTable::default();
    table.apply_survey(&initial);
    let mut reordered = sockets;
    reordered.reverse();
    let mut full = Survey {
        at: 2_000_000_000,
        scope: Scope::Full,
        sockets: reordered,
        ..Survey::default()
    };
    bencher
        .counter(ItemsCount::new(full.sockets.len()))
        .bench_local(|| {
            full.at += 1_000_000_000;
            divan::black_box(table.apply_survey(&full));
        });
    assert_eq!(table.counts().live, 100_000);
}
