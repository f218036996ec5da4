//! The live source: checks privileges, resolves offsets from BTF, loads and
//! attaches the probes, then drains their ring buffer into decoded batches.

pub mod clock;
pub mod offsets;
pub mod preflight;
pub mod probes;

use std::{fs, time::Duration};

use anyhow::{Context as _, bail};
use aya::maps::{MapData, PerCpuArray, RingBuf};
use tokio::{
    io::{Interest, unix::AsyncFd},
    sync::mpsc,
    time::Instant,
};

use super::{Batch, SourceInfo};
use crate::decode::{Bitfields, Decoder, kallsyms::Symbols};
use probes::Probes;

/// Most events sent downstream in one batch.
const BATCH: usize = 4096;
/// How often the kernel's lost-record counter is read.
const LOST_EVERY: Duration = Duration::from_millis(250);

/// Probes loaded and attached, ready to run.
pub struct Live {
    /// Owns the programs: dropping it detaches them.
    _probes: Probes,
    ring: AsyncFd<RingBuf<MapData>>,
    lost: PerCpuArray<MapData, u64>,
    decoder: Decoder,
}

impl Live {
    /// Everything up to attached probes; fails with each cause named.
    pub fn open() -> anyhow::Result<(Self, SourceInfo)> {
        let problems = preflight::check();
        if !problems.is_empty() {
            let list: Vec<String> = problems.iter().map(|p| format!("  - {p}")).collect();
            bail!("tcpscope cannot watch the kernel:\n{}", list.join("\n"));
        }
        let btf = btf_rs::Btf::from_file(preflight::VMLINUX_BTF)
            .with_context(|| format!("parsing {}", preflight::VMLINUX_BTF))?;
        let resolved = offsets::resolve(&btf).context(
            "this kernel's socket structures differ from what tcpscope reads; please report it \
             with the output of `uname -a`",
        )?;
        let clock = clock::kernel_clock().context(
            "could not learn the kernel's HZ from /proc/config.gz, /boot/config-* or \
             /proc/timer_list",
        )?;
        let kallsyms = fs::read_to_string("/proc/kallsyms").context("reading /proc/kallsyms")?;
        let decoder = Decoder::new(
            clock,
            Bitfields::from_offsets(&resolved.offsets),
            Symbols::parse(&kallsyms),
        );
        let mut probes = Probes::load(&resolved.offsets)?;
        if probes.status.iter().all(|probe| probe.failure.is_some()) {
            let reasons: Vec<String> = probes.status.iter().map(|p| format!("  - {p}")).collect();
            bail!("no probe could attach:\n{}", reasons.join("\n"));
        }
        // SAFETY: the ring buffer owns its file descriptor and is moved into
        // the AsyncFd, which deregisters it before dropping it.
        let ring =
            unsafe { AsyncFd::register_with_interest(probes.take_events()?, Interest::READABLE) }
                .map_err(|error| anyhow::anyhow!("polling the ring buffer: {error}"))?;
        let lost = probes.take_lost()?;
        let info = SourceInfo {
            origin: "live".to_string(),
            probes: probes.status.clone(),
            missing_fields: resolved.missing,
        };
        Ok((
            Self {
                _probes: probes,
                ring,
                lost,
                decoder,
            },
            info,
        ))
    }

    /// Drains the ring buffer into `sink` until the receiver goes away.
    pub async fn run(mut self, sink: mpsc::Sender<Batch>) -> anyhow::Result<()> {
        let mut malformed = 0;
        let mut lost = 0;
        let mut lost_read = Instant::now();
        loop {
            let mut guard = tokio::select! {
                ready = self.ring.readable_mut() => ready.context("waiting on the ring buffer")?,
                () = sink.closed() => return Ok(()),
            };
            let mut events = Vec::new();
            let ring = guard.get_inner_mut();
            while events.len() < BATCH {
                let Some(item) = ring.next() else { break };
                match self.decoder.decode(&item) {
                    Ok(event) => events.push(event),
                    Err(_) => malformed += 1,
                }
            }
            if events.len() < BATCH {
                guard.clear_ready();
            }
            if lost_read.elapsed() >= LOST_EVERY {
                lost = probes::lost_records(&self.lost);
                lost_read = Instant::now();
            }
            let batch = Batch {
                events,
                lost,
                malformed,
            };
            if sink.send(batch).await.is_err() {
                return Ok(());
            }
        }
    }
}
