//! The live source: checks privileges, resolves offsets from BTF, loads and
//! attaches the probes, then drains their ring buffer into decoded batches.

pub mod clock;
mod kept;
pub mod offsets;
pub mod preflight;
pub mod probes;
mod skipped;

use std::{
    fs,
    path::{Path, PathBuf},
    thread,
    time::Duration,
};

use anyhow::{Context as _, bail};
use aya::maps::{MapData, PerCpuArray, RingBuf};
use tokio::{
    io::{Interest, unix::AsyncFd},
    sync::mpsc,
    time::{self, Instant, MissedTickBehavior},
};

use kept::Kept;

use super::{
    Batch, Lease, SourceInfo,
    clock::Clock,
    survey::{Surveyor, Watch, pods::Pods},
};
use crate::{
    decode::{Bitfields, Decoder, drop_reasons::DropReasons, kallsyms::Symbols},
    model::{event::Event, socket::Survey},
};
use probes::{DropPrototype, Hooks, Plan, Probes};

/// Most events sent downstream in one batch.
const BATCH: usize = 4096;
/// How often the kernel's lost-record counter is read.
const LOST_EVERY: Duration = Duration::from_millis(250);
/// How often the ring buffer is drained when the probes do not wake us.
const DRAIN_EVERY: Duration = Duration::from_millis(50);
/// How often the healthy path's counts and quiet connections are read.
const KEPT_EVERY: Duration = Duration::from_secs(1);
/// How often every namespace's socket tables are surveyed.
const SURVEY_EVERY: Duration = Duration::from_secs(1);
/// How often the watched socket's details are read.
const WATCH_EVERY: Duration = Duration::from_millis(250);
/// A full survey waits this long at most for the one before it to be
/// dropped: a consumer slow to apply it delays surveys, never stops them.
const LEASE_HELD_AT_MOST: Duration = Duration::from_secs(5);

/// How to reach the kernel, from the command line.
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// BTF to take offsets and enums from instead of the kernel's own
    /// (`--btf`), for kernels that do not expose theirs.
    pub btf_file: Option<PathBuf>,
    /// Attach raw tracepoints even where BTF tracepoints work
    /// (`--raw-tracepoints`): what a kernel without BTF gets.
    pub raw_tracepoints: bool,
    /// The most sockets a survey keeps (`--max-flows`): more cannot be
    /// flows, and keeping them would let a flood grow tcpscope's memory.
    pub surveyed_sockets_max: usize,
    /// Where container runtimes keep their state (`--runtime-root`), for
    /// the pods of containers.
    pub runtime_root: PathBuf,
    /// Have the probes send every state change of every flow, not only
    /// the flows in trouble or past a second (`--every-flow`).
    pub every_flow: bool,
}

/// Probes loaded and attached, ready to run.
pub struct Live {
    /// Owns the programs: dropping it detaches them.
    probes: Probes,
    ring: AsyncFd<RingBuf<MapData>>,
    lost: PerCpuArray<MapData, u64>,
    /// The healthy path's maps (None with `--every-flow`).
    kept: Option<Kept>,
    decoder: Decoder,
    /// Moves to its own thread when the source runs.
    surveyor: Option<Surveyor>,
    watch: Watch,
    /// The events' clock (see [`clock::events_now`]).
    pub monotonic_to_wall_ns: i64,
    /// The verifier's whole log of each program it refused: `(event, log)`.
    pub verifier_logs: Vec<(&'static str, String)>,
    /// What the socket survey cannot do with this process's capabilities.
    pub survey_limits: Vec<String>,
}

impl Live {
    /// Everything up to attached probes; fails with each cause named.
    /// `watch`: the socket whose details the screen wants refreshed.
    pub fn open(watch: Watch, access: &Access) -> anyhow::Result<(Self, SourceInfo)> {
        let kernel_btf = fs::metadata(preflight::VMLINUX_BTF).is_ok();
        let btf = read_btf(access.btf_file.as_deref(), kernel_btf)?;
        let problems = preflight::check(btf.as_ref());
        if !problems.is_empty() {
            let mut lines: Vec<String> =
                problems.iter().map(|p| format!("  - {}", p.what)).collect();
            let mut fixes: Vec<&str> = problems.iter().map(|p| p.fix.as_str()).collect();
            fixes.dedup();
            lines.extend(fixes.iter().map(|fix| format!("  fix: {fix}")));
            bail!("cannot watch the kernel:\n{}", lines.join("\n"));
        }
        let Some(btf) = btf else {
            bail!("no BTF to read the kernel's structures from");
        };
        let resolved = offsets::resolve(&btf).context(
            "this kernel's socket structures differ from what tcpscope reads; please report it \
             with the output of `uname -a`",
        )?;
        let clock = clock::kernel_clock().context(
            "could not learn the kernel's HZ from /proc/config.gz, /boot/config-* or \
             /proc/timer_list",
        )?;
        let kallsyms = fs::read_to_string("/proc/kallsyms").context("reading /proc/kallsyms")?;
        let hz = clock.hz;
        let monotonic_to_wall_ns = clock.monotonic_to_wall_ns;
        let drop_reasons = DropReasons::new(offsets::drop_reasons(&btf));
        let drop_filter = drop_reasons.noise_filter();
        let decoder = Decoder::new(
            clock,
            Bitfields::from_offsets(&resolved.offsets),
            Symbols::parse(&kallsyms),
        )
        .with_drop_reasons(drop_reasons);
        let hooks = match kernel_btf && !access.raw_tracepoints {
            true => Hooks::Btf,
            false => Hooks::Raw,
        };
        let plan = Plan {
            hooks,
            drop_prototype: DropPrototype::of_kernel(&btf),
            every_flow: access.every_flow,
        };
        let hook_btf = match hooks {
            Hooks::Btf => Some(
                aya::Btf::from_sys_fs()
                    .with_context(|| format!("reading {}", preflight::VMLINUX_BTF))?,
            ),
            Hooks::Raw => None,
        };
        let mut probes = Probes::load(&resolved.offsets, &drop_filter, plan, hook_btf.as_ref())?;
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
        let kept = match access.every_flow {
            true => None,
            false => Some(Kept::take(&mut probes)?),
        };
        let verifier_logs = std::mem::take(&mut probes.verifier_logs);
        let surveyor = Surveyor::new(hz, access.surveyed_sockets_max)
            .with_pods(Pods::new(access.runtime_root.clone()));
        let info = SourceInfo {
            origin: "live".to_string(),
            probes: probes.status.clone(),
            missing_fields: resolved.missing,
            clock: Clock::Live {
                monotonic_to_wall_ns,
            },
        };
        Ok((
            Self {
                probes,
                ring,
                lost,
                kept,
                decoder,
                surveyor: Some(surveyor),
                watch,
                monotonic_to_wall_ns,
                verifier_logs,
                survey_limits: preflight::survey_limits(),
            },
            info,
        ))
    }

    /// Sends the start-up survey of the sockets (taken after the probes
    /// attached, so nothing falls between the two; events wait in the ring
    /// meanwhile), then drains the ring buffer into `sink` until the
    /// receiver goes away: every [`DRAIN_EVERY`], or at once when the probes
    /// wake it because the ring is filling up. Surveys come from a thread of
    /// their own (sock_diag and /proc are blocking reads), so the screen
    /// draws its first frame while the first one runs.
    pub async fn run(mut self, sink: mpsc::Sender<Batch>) -> anyhow::Result<()> {
        let mut drain = time::interval(DRAIN_EVERY);
        drain.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let (lost, malformed) = (0, 0);
        let mut totals = Undelivered { lost, malformed };
        let mut surveys = match self.surveyor.take() {
            Some(surveyor) => {
                spawn_surveys(surveyor, self.watch.clone(), self.monotonic_to_wall_ns)?
            }
            None => mpsc::channel(1).1,
        };
        let initial = tokio::select! {
            initial = surveys.recv() => initial,
            () = sink.closed() => return Ok(()),
        };
        let first = match initial {
            Some(initial) => totals.surveyed(initial),
            None => totals.batch(Vec::new()),
        };
        if sink.send(first).await.is_err() {
            return Ok(());
        }
        let mut surveying = true;
        // The counters last sent: an idle tick with nothing new sends nothing.
        let mut sent = totals;
        let mut lost_read = Instant::now();
        let mut kept_read = Instant::now();
        loop {
            tokio::select! {
                ready = self.ring.readable_mut() => {
                    ready.context("waiting on the ring buffer")?.clear_ready();
                }
                _ = drain.tick() => {}
                survey = surveys.recv(), if surveying => match survey {
                    Some(survey) => {
                        if sink.send(totals.surveyed(survey)).await.is_err() {
                            return Ok(());
                        }
                    }
                    None => surveying = false,
                },
                () = sink.closed() => return Ok(()),
            }
            if lost_read.elapsed() >= LOST_EVERY {
                let skipped = skipped::skipped_runs(&self.probes.ebpf);
                if skipped > 0 {
                    // Closes may be among them: have the probes send the
                    // socket destructions that end such flows.
                    self.probes.mark_lossy();
                }
                totals.lost = probes::lost_records(&self.lost) + skipped;
                lost_read = Instant::now();
            }
            if kept_read.elapsed() >= KEPT_EVERY
                && let Some(kept) = &mut self.kept
            {
                kept_read = Instant::now();
                let now = clock::events_now(self.monotonic_to_wall_ns);
                let monotonic = now.saturating_add_signed(-self.monotonic_to_wall_ns);
                let events = kept.read(&mut self.decoder, now, monotonic);
                if !events.is_empty() && sink.send(totals.batch(events)).await.is_err() {
                    return Ok(());
                }
            }
            loop {
                let events = self.read_batch(&mut totals.malformed);
                let full = events.len() == BATCH;
                let news = !events.is_empty() || totals != sent;
                if news {
                    sent = totals;
                    if sink.send(totals.batch(events)).await.is_err() {
                        return Ok(());
                    }
                }
                if !full {
                    break;
                }
            }
        }
    }

    /// Up to [`BATCH`] decoded events from the ring buffer.
    fn read_batch(&mut self, malformed: &mut u64) -> Vec<Event> {
        let ring = self.ring.get_mut();
        let mut events = Vec::new();
        while events.len() < BATCH {
            let Some(item) = ring.next() else { break };
            match self.decoder.decode(&item) {
                Ok(event) => events.push(event),
                Err(_) => *malformed += 1,
            }
        }
        events
    }
}

/// The BTF to read the kernel's structures from: the `--btf` file, else
/// the kernel's own when it has one.
fn read_btf(file: Option<&Path>, kernel_btf: bool) -> anyhow::Result<Option<btf_rs::Btf>> {
    let read = |path: &Path| btf_rs::Btf::from_file(path);
    match file {
        Some(path) => read(path)
            .map(Some)
            .with_context(|| format!("--btf {}: not a BTF file tcpscope can read", path.display())),
        None if kernel_btf => read(Path::new(preflight::VMLINUX_BTF))
            .map(Some)
            .with_context(|| format!("reading {}", preflight::VMLINUX_BTF)),
        None => Ok(None),
    }
}

/// What the source could not deliver so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Undelivered {
    lost: u64,
    malformed: u64,
}

impl Undelivered {
    fn batch(self, events: Vec<Event>) -> Batch {
        Batch {
            events,
            lost: self.lost,
            malformed: self.malformed,
            ..Batch::default()
        }
    }

    fn surveyed(self, (survey, lease): (Survey, Lease)) -> Batch {
        Batch {
            survey: Some(survey),
            lease,
            ..self.batch(Vec::new())
        }
    }
}

/// Whether the next full survey is due, `since` the last one began, while
/// that one is still `held` (its [`Lease`]) or not.
fn full_survey_due(since: Duration, held: bool) -> bool {
    since
        >= if held {
            LEASE_HELD_AT_MOST
        } else {
            SURVEY_EVERY
        }
}

/// Surveys every [`SURVEY_EVERY`] and the watched socket every
/// [`WATCH_EVERY`], on a thread that ends when the receiver goes away. A
/// full survey waits, past its second if need be, until the one before it
/// has been applied and dropped (its [`Lease`]), for
/// [`LEASE_HELD_AT_MOST`] at most.
fn spawn_surveys(
    mut surveyor: Surveyor,
    watch: Watch,
    monotonic_to_wall_ns: i64,
) -> anyhow::Result<mpsc::Receiver<(Survey, Lease)>> {
    let (sink, surveys) = mpsc::channel(4);
    let now = move || clock::events_now(monotonic_to_wall_ns);
    let work = move || {
        let (lease, mut held) = Lease::new();
        if sink.blocking_send((surveyor.survey(now()), lease)).is_err() {
            return;
        }
        let mut last_full = std::time::Instant::now();
        loop {
            thread::sleep(WATCH_EVERY);
            let survey = if full_survey_due(last_full.elapsed(), held.strong_count() > 0) {
                last_full = std::time::Instant::now();
                let (lease, watch) = Lease::new();
                held = watch;
                Some((surveyor.survey(now()), lease))
            } else {
                let tuple = watch.get();
                let found = tuple.and_then(|tuple| surveyor.look_up(tuple, now()));
                found.map(|survey| (survey, Lease::default()))
            };
            if let Some(survey) = survey
                && sink.blocking_send(survey).is_err()
            {
                return;
            }
            if sink.is_closed() {
                return;
            }
        }
    };
    thread::Builder::new()
        .name("survey".into())
        .spawn(work)
        .context("starting the socket survey thread")?;
    Ok(surveys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_survey_waits_for_the_one_before_it_for_five_seconds_at_most() {
        let released = |since| full_survey_due(since, false);
        let held = |since| full_survey_due(since, true);
        assert!(!released(Duration::from_millis(999)));
        assert!(released(SURVEY_EVERY));
        assert!(!held(SURVEY_EVERY));
        assert!(!held(LEASE_HELD_AT_MOST - Duration::from_millis(1)));
        assert!(held(LEASE_HELD_AT_MOST));
    }

    #[test]
    fn a_lease_is_held_while_any_copy_of_its_batch_lives() {
        let (lease, held) = Lease::new();
        let batch = Batch {
            lease,
            ..Batch::default()
        };
        let copy = batch.clone();
        drop(batch);
        assert_eq!(held.strong_count(), 1, "the copy still holds it");
        drop(copy);
        assert_eq!(held.strong_count(), 0);
    }
}
