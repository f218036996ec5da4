//! The screen's event loop: one select over the [`Session`] (the source's
//! batches, a once-a-second tick as ages move, the duration, signals),
//! the source itself finishing, terminal input and a pending redraw. It draws only when something changed, at most once per
//! `--refresh` (input redraws at once), and sleeps otherwise. Without a
//! terminal (`--snapshot FILE`) the same loop runs until the duration, a
//! signal or the end of a recording, and the caller writes the snapshot.

use std::{future::Future, path::PathBuf, time::Duration};

use anyhow::Context as _;
use crossterm::event::{Event as TermEvent, EventStream};
use futures_util::StreamExt as _;
use tokio::{
    sync::mpsc,
    time::{self, Instant, MissedTickBehavior},
};

use super::{
    action::{Effect, update},
    keys,
    snapshot::write_new,
    state::State,
    terminal::Tty,
    view::format,
};
use crate::{
    session::{Ended, Session, Step, Stop},
    source::{
        Batch,
        clock::{Clock, wall_now},
        survey::Watch,
    },
    ui,
};

/// How often ages and the event rate move on.
const CLOCK_TICK: Duration = Duration::from_secs(1);

pub struct ScreenOptions {
    /// Shortest time between two redraws for new data.
    pub refresh: Duration,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Where `s` writes snapshots.
    pub snapshot_dir: PathBuf,
    /// The source's.
    pub clock: Clock,
    /// Told which flow's socket details the screen shows.
    pub watch: Watch,
}

/// Runs the interactive screen until the user quits, the duration ends
/// or a signal arrives. The terminal is restored on every way out.
pub async fn screen(
    events: mpsc::Receiver<Batch>,
    source: impl Future<Output = anyhow::Result<()>>,
    state: &mut State,
    options: &ScreenOptions,
) -> anyhow::Result<Ended> {
    let mut tty = Tty::open().context("cannot use this terminal (is stdout a terminal?)")?;
    run(events, source, state, options, Some(&mut tty)).await
}

/// Collects into `state` without a terminal, until the duration, a signal,
/// or the end of the source.
pub async fn offscreen(
    events: mpsc::Receiver<Batch>,
    source: impl Future<Output = anyhow::Result<()>>,
    state: &mut State,
    options: &ScreenOptions,
) -> anyhow::Result<Ended> {
    run(events, source, state, options, None).await
}

async fn run(
    events: mpsc::Receiver<Batch>,
    source: impl Future<Output = anyhow::Result<()>>,
    state: &mut State,
    options: &ScreenOptions,
    mut tty: Option<&mut Tty>,
) -> anyhow::Result<Ended> {
    let mut session = Session::new(
        events,
        options.duration,
        CLOCK_TICK,
        MissedTickBehavior::Skip,
    )?;
    let mut input = tty.is_some().then(EventStream::new);
    tokio::pin!(source);
    let mut source_running = true;
    let mut failure = None;
    let mut redraw = Redraw::new(options.refresh);
    let ended = loop {
        if let Some(tty) = tty.as_deref_mut()
            && redraw.due()
        {
            state.observed.tick(options.clock.now());
            let mut shown = None;
            tty.screen
                .draw(|frame| shown = ui::draw(frame, state))
                .context("drawing the screen")?;
            options.watch.set(shown);
            redraw.done();
        }
        if !session.is_open() && !source_running && tty.is_none() {
            break Ended::SourceDone;
        }
        let pending_draw = if tty.is_some() { redraw.at() } else { None };
        tokio::select! {
            step = session.next() => match step {
                Step::Batch(batch) => {
                    state.observed.apply(&batch);
                    for batch in session.drain() {
                        state.observed.apply(&batch);
                    }
                    redraw.data(state.frozen.is_none());
                }
                Step::SourceClosed => {
                    source_done(state, failure.is_some());
                    redraw.now();
                }
                Step::Tick => {
                    state.observed.tick(options.clock.now());
                    redraw.data(state.frozen.is_none());
                }
                Step::Stop(Stop::Duration) => break Ended::Duration,
                Step::Stop(Stop::Signal) => break Ended::Signal,
            },
            result = &mut source, if source_running => {
                source_running = false;
                // Show what it sent before it stopped along with how it stopped.
                for batch in session.drain() {
                    state.observed.apply(&batch);
                }
                if let Err(error) = result {
                    state.set_status(format!("source stopped: {error:#}"), true);
                    failure = Some(error);
                    redraw.now();
                }
            }
            event = next_input(&mut input) => match event {
                Some(Ok(TermEvent::Key(key))) => {
                    let Some(action) = keys::action(state.mode, &key) else { continue };
                    match update(state, action) {
                        Effect::Quit => break Ended::Quit,
                        Effect::Snapshot => {
                            let size = tty.as_deref_mut().map(|tty| tty.screen.size());
                            if let Some(Ok(size)) = size {
                                snapshot(state, options, size.width, size.height);
                            }
                        }
                        Effect::None => {}
                    }
                    redraw.now();
                }
                Some(Ok(TermEvent::Resize(..))) => redraw.now(),
                Some(Ok(_)) => {}
                Some(Err(error)) => return Err(error).context("reading the terminal"),
                None => input = None,
            },
            () = time::sleep_until(pending_draw.unwrap_or_else(Instant::now)), if pending_draw.is_some() => {}
        }
    };
    for batch in session.drain() {
        state.observed.apply(&batch);
    }
    state.observed.tick(options.clock.now());
    Ok(match failure {
        Some(error) => Ended::SourceFailed(error),
        None => ended,
    })
}

/// The next terminal event; never, without a terminal.
async fn next_input(input: &mut Option<EventStream>) -> Option<std::io::Result<TermEvent>> {
    match input {
        Some(stream) => stream.next().await,
        None => std::future::pending().await,
    }
}

fn source_done(state: &mut State, failed: bool) {
    state.source_done = true;
    if !failed && matches!(state.source.origin, super::state::Origin::Replay { .. }) {
        state.set_status("the recording has been played to its end", false);
    }
}

/// Writes the view as it is on screen to a new file in the snapshot
/// directory, and says where (or why not) on the status line.
fn snapshot(state: &mut State, options: &ScreenOptions, width: u16, height: u16) {
    let taken = wall_now();
    let text = ui::text::snapshot(state, width, height, taken);
    let stem = format!("tcpscope-{}", format::file_stamp(taken, state.utc_offset));
    match write_new(&options.snapshot_dir, &stem, &text) {
        Ok(path) => state.set_status(format!("snapshot written to {}", path.display()), false),
        Err(error) => state.set_status(error.to_string(), true),
    }
}

/// When to draw next: at once for input, within `--refresh` for data.
struct Redraw {
    refresh: Duration,
    last: Option<Instant>,
    dirty: bool,
    urgent: bool,
}

impl Redraw {
    fn new(refresh: Duration) -> Self {
        Self {
            refresh,
            last: None,
            dirty: true,
            urgent: true,
        }
    }

    /// New data arrived; it shows only when the view is not frozen.
    fn data(&mut self, shows: bool) {
        self.dirty |= shows;
    }

    fn now(&mut self) {
        self.dirty = true;
        self.urgent = true;
    }

    fn at(&self) -> Option<Instant> {
        match (self.dirty, self.last) {
            (false, _) => None,
            (true, Some(last)) if !self.urgent => Some(last + self.refresh),
            (true, _) => Some(Instant::now()),
        }
    }

    fn due(&self) -> bool {
        self.at().is_some_and(|at| at <= Instant::now())
    }

    fn done(&mut self) {
        self.last = Some(Instant::now());
        self.dirty = false;
        self.urgent = false;
    }
}
