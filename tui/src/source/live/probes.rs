//! Loads the embedded eBPF object with this kernel's offsets and attaches
//! each program to its BTF tracepoint. A program that cannot load or attach
//! is reported with the kernel's reason; the others keep working.

use anyhow::Context as _;
use aya::{
    Btf as AyaBtf, Ebpf, EbpfLoader,
    maps::{MapData, PerCpuArray, RingBuf},
    programs::BtfTracePoint,
};
use tcpscope_common::{DropFilter, Offsets};

use crate::source::ProbeStatus;

/// The probes, built by build.rs from probes/ and embedded in the binary.
static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/tcpscope"));

/// Each program and the kernel event it attaches to (they share a name).
pub const PROGRAMS: [&str; 7] = [
    "inet_sock_set_state",
    "tcp_retransmit_skb",
    "tcp_retransmit_synack",
    "tcp_send_reset",
    "tcp_receive_reset",
    "tcp_destroy_sock",
    "kfree_skb",
];

/// The loaded object: dropping it detaches every program.
pub struct Probes {
    pub ebpf: Ebpf,
    pub status: Vec<ProbeStatus>,
}

impl Probes {
    /// Loads the object with `offsets` and the drop reasons to leave out,
    /// and attaches every program.
    pub fn load(offsets: &Offsets, drop_filter: &DropFilter) -> anyhow::Result<Self> {
        let btf = AyaBtf::from_sys_fs().context("reading /sys/kernel/btf/vmlinux")?;
        let mut ebpf = EbpfLoader::new()
            .btf(Some(&btf))
            .override_global("OFFSETS", offsets, true)
            .override_global("DROP_FILTER", drop_filter, true)
            .load(OBJECT)
            .context("loading tcpscope's eBPF object into the kernel")?;
        let status = PROGRAMS
            .iter()
            .map(|&name| ProbeStatus {
                name,
                failure: attach(&mut ebpf, name, &btf)
                    .err()
                    .map(|e| format!("{e:#}")),
            })
            .collect();
        Ok(Self { ebpf, status })
    }

    /// Takes the ring buffer the programs write records into.
    pub fn take_events(&mut self) -> anyhow::Result<RingBuf<MapData>> {
        let map = self
            .ebpf
            .take_map("EVENTS")
            .context("the object has no EVENTS map")?;
        RingBuf::try_from(map).context("EVENTS is not a ring buffer")
    }

    /// Takes the per-CPU count of records dropped because the ring was full.
    pub fn take_lost(&mut self) -> anyhow::Result<PerCpuArray<MapData, u64>> {
        let map = self
            .ebpf
            .take_map("LOST")
            .context("the object has no LOST map")?;
        PerCpuArray::try_from(map).context("LOST is not a per-CPU array")
    }
}

fn attach(ebpf: &mut Ebpf, name: &str, btf: &AyaBtf) -> anyhow::Result<()> {
    let program: &mut BtfTracePoint = ebpf
        .program_mut(name)
        .with_context(|| format!("program {name} missing from the object"))?
        .try_into()?;
    program.load(name, btf)?;
    program.attach()?;
    Ok(())
}

/// Sum of the per-CPU lost-record counters.
pub fn lost_records(lost: &PerCpuArray<MapData, u64>) -> u64 {
    lost.get(&0, 0)
        .map(|per_cpu| per_cpu.iter().sum())
        .unwrap_or(0)
}
