//! `tcpscope --replay FILE`: a source that reads a recording made with
//! `tcpscope --json` and sends its events as [`Batch`]es, paced by their
//! timestamps divided by the speed (0: as fast as possible). Event lines
//! become [`Event`]s again; the lines of each survey (`flow`, `sockinfo`,
//! `listener`, `counters`) become that [`Survey`] again (see
//! [`super::replay_survey`]); `flow_end`, `stall` and `destination` lines
//! are skipped (the model works them out itself) and `stats` lines carry
//! the recorded `lost` and `malformed` totals; a line of a kind this version
//! does not know is counted as malformed. A corrupt line, or one longer
//! than [`MOST_LINE_BYTES`], stops the replay with an error that names the
//! file, the line and the problem; what came before it has been sent. The
//! recording is read once, front to back, so it may be a pipe.

use std::{
    fs::File,
    io::{self, BufRead, BufReader, Read as _},
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use anyhow::{Context as _, anyhow};
use tokio::{sync::mpsc, time::Instant};

use super::{
    Batch, ProbeStatus, SourceInfo,
    clock::Clock,
    replay_survey::{self, SurveyLine, Surveys},
};
use crate::{
    model::{
        errno,
        event::{
            Event, EventKind, Nanos, PacketDrop, Retransmit, RetransmitCause, SockId, SocketLimits,
            Task, TcpFlags, TcpState,
        },
        socket::Survey,
    },
    wire::{DERIVED_KINDS, EventFields, Head, Line, parse_rfc3339},
};

/// Most events sent downstream in one batch.
const BATCH: usize = 4096;
/// Longest line a recording may hold; tcpscope's own lines are a few KiB.
pub const MOST_LINE_BYTES: usize = 1 << 20;
/// While waiting for the next line, the recording clock still advances in
/// steps this long, so that ages on screen keep counting.
const CLOCK_STEP: Duration = Duration::from_millis(250);

/// A recording ready to play.
pub struct Replay {
    path: PathBuf,
    reader: BufReader<File>,
    /// The first line, read at open to learn the recorded probes.
    first: Option<Vec<u8>>,
    speed: f64,
    clock: Arc<AtomicU64>,
}

/// What one line of a recording holds.
#[derive(Debug, Clone, PartialEq)]
pub enum Recorded {
    Event(Event),
    /// A line of the survey at `ts`.
    Survey {
        ts: Nanos,
        line: SurveyLine,
    },
    /// The running totals a `stats` line reports.
    Stats {
        ts: Nanos,
        lost: u64,
        malformed: u64,
    },
    /// A line the table does not need (`flow_end`...): only its time counts.
    Skipped {
        ts: Nanos,
    },
    /// A line of a kind this version does not know: counted, then skipped.
    Unknown {
        ts: Nanos,
    },
}

impl Recorded {
    fn ts(&self) -> Nanos {
        match self {
            Self::Event(event) => event.ts,
            Self::Survey { ts, .. }
            | Self::Stats { ts, .. }
            | Self::Skipped { ts }
            | Self::Unknown { ts } => *ts,
        }
    }
}

impl Replay {
    /// Opens `path`; the probes it reports are those of its first `stats`
    /// line (the recording's own, not this machine's).
    pub fn open(path: &Path, speed: f64) -> anyhow::Result<(Self, SourceInfo)> {
        let file = File::open(path)
            .with_context(|| format!("cannot open the recording {}", path.display()))?;
        let mut reader = BufReader::new(file);
        let mut first = Vec::new();
        read_line(&mut reader, &mut first)
            .with_context(|| format!("cannot read the recording {}", path.display()))?;
        if first.starts_with(UTF8_BOM) {
            first.drain(..UTF8_BOM.len());
        }
        let clock = Arc::new(AtomicU64::new(0));
        let info = SourceInfo {
            origin: path.display().to_string(),
            probes: recorded_probes(&String::from_utf8_lossy(&first)),
            missing_fields: Vec::new(),
            clock: Clock::Recording(Arc::clone(&clock)),
        };
        let replay = Self {
            path: path.to_path_buf(),
            reader,
            first: Some(first),
            speed: if speed.is_finite() {
                speed.max(0.0)
            } else {
                0.0
            },
            clock,
        };
        Ok((replay, info))
    }

    /// Plays the recording into `sink` until its end, a corrupt line, or
    /// the receiver going away.
    pub async fn run(mut self, sink: mpsc::Sender<Batch>) -> anyhow::Result<()> {
        let mut pace: Option<Pace> = None;
        let mut batch = Batch::default();
        let mut surveys = Surveys::default();
        let mut line = Vec::new();
        let mut number = 0usize;
        // Lines of unknown kinds, counted with the recorded malformed ones.
        let mut unknown = 0;
        loop {
            line.clear();
            let read = match self.first.take() {
                Some(first) => {
                    line = first;
                    Ok(line.len())
                }
                None => read_line(&mut self.reader, &mut line),
            };
            if matches!(read, Ok(0)) {
                break;
            }
            number += 1;
            let record = match read.map(|_| std::str::from_utf8(&line)) {
                Ok(Ok(text)) if text.trim().is_empty() => continue,
                Ok(Ok(text)) => parse_line(text),
                Ok(Err(_)) => Err("not UTF-8 text".to_string()),
                Err(error) => Err(error.to_string()),
            };
            let record = match record {
                Ok(record) => record,
                Err(problem) => {
                    send(&sink, &mut batch).await;
                    send_survey(&sink, &mut batch, surveys.finish()).await;
                    let path = self.path.display();
                    return Err(anyhow!("{path} line {number}: {problem}"));
                }
            };
            let ts = record.ts();
            let pace = pace.get_or_insert_with(|| Pace::new(ts, self.speed));
            if let Some(due) = pace.due(ts)
                && (!send(&sink, &mut batch).await || !pace.wait(due, ts, &self.clock, &sink).await)
            {
                return Ok(());
            }
            self.clock.fetch_max(ts, Ordering::Relaxed);
            // A survey's lines follow the events before it; the next event
            // or a later survey's line ends it.
            match record {
                Recorded::Event(event) => {
                    if !send_survey(&sink, &mut batch, surveys.finish()).await {
                        return Ok(());
                    }
                    batch.events.push(event);
                }
                Recorded::Survey { ts, line } => {
                    if !send_survey(&sink, &mut batch, surveys.add(ts, line)).await {
                        return Ok(());
                    }
                }
                Recorded::Stats {
                    lost, malformed, ..
                } => {
                    batch.lost = lost;
                    batch.malformed = malformed + unknown;
                }
                Recorded::Skipped { .. } => {}
                Recorded::Unknown { .. } => {
                    unknown += 1;
                    batch.malformed += 1;
                }
            }
            if batch.events.len() >= BATCH && !send(&sink, &mut batch).await {
                return Ok(());
            }
        }
        send(&sink, &mut batch).await;
        send_survey(&sink, &mut batch, surveys.finish()).await;
        Ok(())
    }
}

const UTF8_BOM: &[u8] = b"\xef\xbb\xbf";

/// Reads one line (with its newline, if any) into `line`; returns its
/// length, 0 at the end. A line longer than [`MOST_LINE_BYTES`] is an
/// error: a corrupt file (or /dev/zero) must not fill memory.
fn read_line(reader: &mut BufReader<File>, line: &mut Vec<u8>) -> io::Result<usize> {
    let limit = MOST_LINE_BYTES as u64 + 1;
    let read = reader.by_ref().take(limit).read_until(b'\n', line)?;
    if read > MOST_LINE_BYTES && !line.ends_with(b"\n") {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a line longer than {MOST_LINE_BYTES} bytes"),
        ));
    }
    Ok(read)
}

/// When each line is due: the recording's time since its first line,
/// divided by the speed, after the replay started.
struct Pace {
    started: Instant,
    first: Nanos,
    speed: f64,
}

impl Pace {
    fn new(first: Nanos, speed: f64) -> Self {
        Self {
            started: Instant::now(),
            first,
            speed,
        }
    }

    /// When the line at `ts` is due, if that is still to come.
    fn due(&self, ts: Nanos) -> Option<Instant> {
        if self.speed <= 0.0 {
            return None;
        }
        let offset = ts.saturating_sub(self.first) as f64 / self.speed;
        let due = self.started + Duration::from_nanos(offset as u64);
        (due > Instant::now()).then_some(due)
    }

    /// Sleeps until `due`, moving `clock` along meanwhile (up to `next`,
    /// the time of the line waited for); false when the receiver went away.
    async fn wait(
        &self,
        due: Instant,
        next: Nanos,
        clock: &AtomicU64,
        sink: &mpsc::Sender<Batch>,
    ) -> bool {
        loop {
            let now = Instant::now();
            if now >= due {
                return true;
            }
            tokio::select! {
                () = tokio::time::sleep((due - now).min(CLOCK_STEP)) => {}
                () = sink.closed() => return false,
            }
            let played = self.started.elapsed().as_nanos() as f64 * self.speed;
            clock.fetch_max((self.first + played as Nanos).min(next), Ordering::Relaxed);
        }
    }
}

/// Sends what `batch` holds (keeping its totals for the next one); false
/// when nobody listens any more.
async fn send(sink: &mpsc::Sender<Batch>, batch: &mut Batch) -> bool {
    let events = std::mem::take(&mut batch.events);
    let next = Batch {
        events,
        lost: batch.lost,
        malformed: batch.malformed,
        ..Batch::default()
    };
    sink.send(next).await.is_ok()
}

/// Sends the events before `survey`, then `survey`; false when nobody
/// listens any more.
async fn send_survey(
    sink: &mpsc::Sender<Batch>,
    batch: &mut Batch,
    survey: Option<Survey>,
) -> bool {
    let Some(survey) = survey else {
        return true;
    };
    if !batch.events.is_empty() && !send(sink, batch).await {
        return false;
    }
    let next = Batch {
        events: Vec::new(),
        lost: batch.lost,
        malformed: batch.malformed,
        survey: Some(survey),
        ..Batch::default()
    };
    sink.send(next).await.is_ok()
}

/// Most probes a recording may claim: past it, a corrupt count would only
/// allocate.
const MOST_RECORDED_PROBES: usize = 64;

/// The probes a recording's first `stats` line reports.
fn recorded_probes(first_line: &str) -> Vec<ProbeStatus> {
    let Ok(Line::Stats(stats)) = serde_json::from_str::<Line>(first_line) else {
        return Vec::new();
    };
    let attached = (0..stats.probes_attached).map(|_| ProbeStatus {
        name: "recorded".to_string(),
        failure: None,
    });
    let failed = stats.probes_failed.into_iter().map(|failed| ProbeStatus {
        name: failed.probe,
        failure: Some(failed.error),
    });
    attached.chain(failed).take(MOST_RECORDED_PROBES).collect()
}

/// Parses one line of a `tcpscope --json` recording; the error says what
/// is wrong with it.
pub fn parse_line(text: &str) -> Result<Recorded, String> {
    let head = Head::read(text)?;
    let ts = parse_rfc3339(&head.ts)
        .ok_or_else(|| format!("ts {:?} is not an RFC 3339 time", head.ts))?;
    if DERIVED_KINDS.contains(&head.kind.as_str()) {
        return Ok(Recorded::Skipped { ts });
    }
    let (fields, kind) = match Line::read(text, &head)? {
        Line::State(line) => {
            let err = match line.err.as_deref() {
                None => 0,
                Some(label) => errno::from_label(label)
                    .ok_or_else(|| format!("unknown error {label:?} in err"))?,
            };
            let kind = EventKind::State {
                old: state(&line.old_state)?,
                new: state(&line.new_state)?,
                err,
                stack: line.stack.map(Into::into),
            };
            (line.event, kind)
        }
        Line::Retransmit(line) => {
            let kind = EventKind::Retransmit(Retransmit {
                rto_ms: line.rto_ms,
                backoff: line.backoff,
                retransmits: line.retransmits,
                cause: cause(&line.cause)?,
                limits: line.limits.as_ref().map(SocketLimits::from),
                state: line.state.as_deref().map(state).transpose()?,
            });
            (line.event, kind)
        }
        Line::SynackRetransmit(line) => {
            let kind = EventKind::SynAckRetransmit {
                retransmits: line.retransmits,
                timeouts: line.timeouts,
            };
            (line.event, kind)
        }
        Line::ResetSent(fields) => (fields, EventKind::ResetSent),
        Line::ResetReceived(fields) => (fields, EventKind::ResetReceived),
        Line::Destroy(fields) => (fields, EventKind::Destroyed),
        Line::Drop(line) => {
            let kind = EventKind::Drop(PacketDrop {
                reason: line.reason.into(),
                location: line.location.into(),
                flags: TcpFlags::from_names(&line.flags)
                    .ok_or_else(|| format!("unknown TCP flags {:?}", line.flags))?,
                outgoing: line.outgoing,
                stack: (!line.stack.is_empty()).then(|| line.stack.into()),
            });
            (line.event, kind)
        }
        Line::Opened(line) => {
            let established_at =
                match line.established_ts.as_deref() {
                    None => None,
                    Some(text) => Some(parse_rfc3339(text).ok_or_else(|| {
                        format!("established_ts {text:?} is not an RFC 3339 time")
                    })?),
                };
            let kind = EventKind::Opened {
                opened_as: state(&line.opened_as)?,
                established_at,
            };
            (line.event, kind)
        }
        Line::Opens(line) => {
            let kind = EventKind::Opens {
                attempts: line.attempts,
                established: line.established,
            };
            (line.event, kind)
        }
        Line::Stats(line) => {
            return Ok(Recorded::Stats {
                ts,
                lost: line.lost,
                malformed: line.malformed,
            });
        }
        Line::Unknown => return Ok(Recorded::Unknown { ts }),
        survey => {
            return match replay_survey::survey_line(survey) {
                Some(line) => Ok(Recorded::Survey { ts, line: line? }),
                None => Ok(Recorded::Skipped { ts }),
            };
        }
    };
    Ok(Recorded::Event(event(ts, fields, kind)?))
}

/// The event of `kind` that `fields` place.
fn event(ts: Nanos, fields: EventFields, kind: EventKind) -> Result<Event, String> {
    let sock = match fields.sock.as_deref() {
        None => None,
        Some(text) => Some(SockId(
            text.strip_prefix("0x")
                .and_then(|hex| u64::from_str_radix(hex, 16).ok())
                .ok_or_else(|| format!("sock {text:?} is not a hex address like 0xffff8881..."))?,
        )),
    };
    let task = match (fields.pid, fields.comm) {
        (Some(pid), Some(comm)) => Some(Task {
            pid,
            comm: comm.into(),
        }),
        _ => None,
    };
    Ok(Event {
        ts,
        sock,
        netns: fields.endpoints.netns,
        local: fields.endpoints.local(),
        remote: fields.endpoints.remote(),
        task,
        kind,
    })
}

pub(super) fn state(name: &str) -> Result<TcpState, String> {
    TcpState::from_name(name).ok_or_else(|| format!("unknown TCP state {name:?}"))
}

fn cause(name: &str) -> Result<RetransmitCause, String> {
    [
        RetransmitCause::Timer,
        RetransmitCause::LossProbe,
        RetransmitCause::Fast,
        RetransmitCause::Unknown,
    ]
    .into_iter()
    .find(|cause| cause.name() == name)
    .ok_or_else(|| format!("unknown retransmit cause {name:?} (timer, tlp, fast, unknown)"))
}

/// Plays the recording at `path` to its end on a runtime of its own, for
/// tests: every batch sent, how the replay ended, and its clock at the end.
#[cfg(test)]
pub(crate) fn play_all(path: &Path, speed: f64) -> (Vec<Batch>, anyhow::Result<()>, Nanos) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let (replay, info) = Replay::open(path, speed).expect("open the recording");
        let (sink, mut batches) = mpsc::channel(1024);
        let result = replay.run(sink).await;
        let mut got = Vec::new();
        while let Ok(batch) = batches.try_recv() {
            got.push(batch);
        }
        (got, result, info.clock.now())
    })
}

#[cfg(test)]
#[path = "replay_tests.rs"]
mod tests;
