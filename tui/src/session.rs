//! What every loop over a source waits on, written once for the screen,
//! the `--snapshot` run and the `--json` stream: the source's batches, a
//! tick at a steady interval, the duration, and SIGINT, SIGTERM or SIGHUP
//! (a dropped ssh); and, once the loop ends, the batches the source had
//! already sent. A loop selects on [`Session::next`] beside its own work
//! (terminal input, a redraw); `next` is cancel-safe for that.

use std::{io, pin::Pin, time::Duration};

use tokio::{
    signal::unix::{Signal, SignalKind, signal},
    sync::mpsc,
    time::{self, Interval, MissedTickBehavior, Sleep},
};

use crate::source::Batch;

/// What a session has for its loop next.
#[derive(Debug)]
pub enum Step {
    Batch(Batch),
    /// The source hung up: it sent everything it had.
    SourceClosed,
    /// The interval passed (the first tick comes at once).
    Tick,
    Stop(Stop),
}

/// Why a session stops before its source ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    Duration,
    Signal,
}

/// Why a loop over a source ended.
#[derive(Debug)]
pub enum Ended {
    /// The user quit the screen.
    Quit,
    Duration,
    Signal,
    /// The source sent everything it had (a recording's end).
    SourceDone,
    /// The source failed; what it sent before still counts.
    SourceFailed(anyhow::Error),
    /// Nobody reads the output any more (`--json | head`).
    OutputClosed,
}

impl From<Stop> for Ended {
    fn from(stop: Stop) -> Self {
        match stop {
            Stop::Duration => Self::Duration,
            Stop::Signal => Self::Signal,
        }
    }
}

pub struct Session {
    events: mpsc::Receiver<Batch>,
    open: bool,
    tick: Interval,
    deadline: Option<Pin<Box<Sleep>>>,
    interrupt: Signal,
    terminate: Signal,
    hangup: Signal,
}

impl Session {
    /// Listens for the signals; ticks every `tick`, and, when a tick is
    /// late, as `missed` says.
    pub fn new(
        events: mpsc::Receiver<Batch>,
        duration: Option<Duration>,
        tick: Duration,
        missed: MissedTickBehavior,
    ) -> io::Result<Self> {
        let mut tick = time::interval(tick);
        tick.set_missed_tick_behavior(missed);
        Ok(Self {
            events,
            open: true,
            tick,
            deadline: duration.map(|duration| Box::pin(time::sleep(duration))),
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
            hangup: signal(SignalKind::hangup())?,
        })
    }

    /// The next step; after [`Step::SourceClosed`], never a batch again.
    pub async fn next(&mut self) -> Step {
        tokio::select! {
            batch = self.events.recv(), if self.open => match batch {
                Some(batch) => Step::Batch(batch),
                None => {
                    self.open = false;
                    Step::SourceClosed
                }
            },
            _ = self.tick.tick() => Step::Tick,
            () = until(&mut self.deadline) => Step::Stop(Stop::Duration),
            _ = self.interrupt.recv() => Step::Stop(Stop::Signal),
            _ = self.terminate.recv() => Step::Stop(Stop::Signal),
            _ = self.hangup.recv() => Step::Stop(Stop::Signal),
        }
    }

    /// The source still sends.
    pub fn is_open(&self) -> bool {
        self.open
    }

    /// The batches already sent and not yet taken, without waiting: what
    /// the source had read still counts when a loop ends.
    pub fn drain(&mut self) -> impl Iterator<Item = Batch> + '_ {
        std::iter::from_fn(|| self.events.try_recv().ok())
    }
}

/// Resolves at the deadline; never without one.
async fn until(deadline: &mut Option<Pin<Box<Sleep>>>) {
    match deadline {
        Some(sleep) => sleep.as_mut().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
    }

    #[test]
    fn batches_then_the_source_closing_then_the_duration() {
        runtime().block_on(async {
            let (sink, events) = mpsc::channel(4);
            let duration = Some(Duration::from_millis(200));
            let mut session = Session::new(
                events,
                duration,
                Duration::from_secs(60),
                MissedTickBehavior::Delay,
            )
            .expect("signals");
            assert!(
                matches!(session.next().await, Step::Tick),
                "the first tick is at once"
            );
            sink.send(Batch::default()).await.expect("sent");
            drop(sink);
            assert!(matches!(session.next().await, Step::Batch(_)));
            assert!(matches!(session.next().await, Step::SourceClosed));
            assert!(!session.is_open());
            assert!(matches!(session.next().await, Step::Stop(Stop::Duration)));
        });
    }

    #[test]
    fn what_the_source_sent_before_the_end_is_drained() {
        runtime().block_on(async {
            let (sink, events) = mpsc::channel(4);
            let mut session = Session::new(
                events,
                None,
                Duration::from_secs(1),
                MissedTickBehavior::Skip,
            )
            .expect("signals");
            for lost in 1..=3 {
                sink.send(Batch {
                    lost,
                    ..Batch::default()
                })
                .await
                .expect("sent");
            }
            let drained: Vec<u64> = session.drain().map(|batch| batch.lost).collect();
            assert_eq!(drained, [1, 2, 3]);
        });
    }
}
