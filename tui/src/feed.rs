//! tcpscope without a screen: `--json`, `--metrics`, or both. Applies every
//! event to the connection table, until the duration ends, the source
//! ends, or a signal arrives. With `--json` it prints the matching events,
//! flow ends and a stats line about once a second, then a last stats line
//! and a `destination` line per remote address:port; live, also a
//! `counters` line per namespace whose TCP counters moved, from a survey
//! of every namespace each second. With `--metrics` it counts each event
//! into the metrics and sets their gauges each second (the server answers
//! scrapes beside this loop).

use std::{
    io::{self, Write},
    time::Duration,
};

use tokio::{sync::mpsc, time::MissedTickBehavior};

use crate::{
    metrics::Metrics,
    model::{
        collected::Collected,
        event::{Event, EventKind, Nanos},
        filter::{Filter, Subject},
        forecast::forecast,
        socket::{Scope, Survey},
        stall::{StallChange, StallWatch},
        table::{Applied, Capacity, ConnectionTable},
    },
    output::{json, json_health},
    session::{Ended, Session, Step},
    source::{Batch, Delivered, SourceInfo},
};

const STATS_EVERY: Duration = Duration::from_secs(1);

pub struct FeedOptions {
    /// Print JSON lines on the output.
    pub json: bool,
    pub duration: Option<Duration>,
    pub filter: Filter,
    /// Print a `sockinfo` line per matching flow at every survey.
    pub sockinfo: bool,
    /// How many flows the table holds.
    pub capacity: Capacity,
}

/// Runs until done; the source's channel is dropped on return, which stops it.
pub async fn run(
    events: mpsc::Receiver<Batch>,
    source: &SourceInfo,
    options: &FeedOptions,
    metrics: Option<Metrics>,
    out: &mut impl Write,
) -> anyhow::Result<Ended> {
    match print(events, source, options, metrics, out).await {
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => Ok(Ended::OutputClosed),
        ended => Ok(ended?),
    }
}

async fn print(
    events: mpsc::Receiver<Batch>,
    source: &SourceInfo,
    options: &FeedOptions,
    metrics: Option<Metrics>,
    out: &mut impl Write,
) -> io::Result<Ended> {
    let mut session = Session::new(
        events,
        options.duration,
        STATS_EVERY,
        MissedTickBehavior::Delay,
    )?;
    let mut printer = Printer {
        collected: Collected::new(ConnectionTable::new(options.capacity)),
        totals: Delivered::default(),
        filter: &options.filter,
        sockinfo: options.sockinfo,
        survey_failures: Vec::new(),
        stalls: StallWatch::default(),
        lines: options.json,
        metrics,
    };
    // The first line says the probes are attached and, live, that the
    // start-up survey (the first batch) is in: scripts wait for it. The
    // flows that survey found follow it. A stop before it ends the run
    // after that line; the duration counts from the start.
    let mut ended = None;
    let first = loop {
        match session.next().await {
            Step::Batch(batch) => break Some(batch),
            Step::Tick => {}
            Step::SourceClosed => {
                ended = Some(Ended::SourceDone);
                break None;
            }
            Step::Stop(stop) => {
                ended = Some(Ended::from(stop));
                break None;
            }
        }
    };
    printer.stats(source, out)?;
    // Consumed, not borrowed: a survey held keeps the next one waiting.
    if let Some(batch) = first {
        printer.batch(&batch, out)?;
    }
    out.flush()?;
    let ended = loop {
        if let Some(ended) = ended {
            break ended;
        }
        let written = match session.next().await {
            Step::Batch(batch) => printer.batch(&batch, out),
            Step::Tick => {
                printer.refresh_metrics(source);
                printer.stats(source, out)
            }
            Step::SourceClosed => break Ended::SourceDone,
            Step::Stop(stop) => break Ended::from(stop),
        };
        written.and_then(|()| out.flush())?;
    };
    for batch in session.drain() {
        printer.batch(&batch, out)?;
    }
    printer.stats(source, out)?;
    printer.destinations(source, out)?;
    out.flush()?;
    Ok(ended)
}

struct Printer<'a> {
    collected: Collected,
    totals: Delivered,
    filter: &'a Filter,
    sockinfo: bool,
    /// The latest survey's failures, said once each time they change.
    survey_failures: Vec<String>,
    stalls: StallWatch,
    /// Print JSON lines (`--json`).
    lines: bool,
    metrics: Option<Metrics>,
}

impl Printer<'_> {
    fn batch(&mut self, batch: &Batch, out: &mut impl Write) -> io::Result<()> {
        self.totals.take(batch);
        for event in &batch.events {
            let applied = self.collected.apply_event(event);
            if let Some(metrics) = &mut self.metrics {
                let flow = self.collected.table.flow_at(applied.flow);
                metrics.event(event, &applied, flow);
            }
            if self.lines {
                self.print(event, &applied, out)?;
            }
        }
        if let Some(metrics) = &mut self.metrics {
            metrics.delivered(self.totals);
        }
        if let Some(survey) = &batch.survey {
            self.survey(survey, out)?;
        }
        Ok(())
    }

    /// A `flow` line per flow the start-up survey found, then, with
    /// `--sockinfo`, a `sockinfo` line per flow a full survey read; the
    /// stalls that began, changed or ended, and the listeners in trouble.
    fn survey(&mut self, survey: &Survey, out: &mut impl Write) -> io::Result<()> {
        if survey.scope != Scope::Watched && survey.failures != self.survey_failures {
            for failure in &survey.failures {
                eprintln!("tcpscope: cannot survey the sockets of {failure}");
            }
            self.survey_failures.clone_from(&survey.failures);
        }
        let added = self.collected.apply_survey(survey);
        if survey.scope != Scope::Watched {
            self.refresh_metrics_at(survey.at);
        }
        if !self.lines {
            return Ok(());
        }
        for flow in added
            .into_iter()
            .filter_map(|sock| self.collected.table.flow(sock))
        {
            if self.filter.matches_flow(flow) {
                let forecast = forecast(flow, survey.at);
                writeln!(out, "{}", json::flow_line(flow, forecast.as_ref()))?;
            }
        }
        if survey.scope == Scope::Watched {
            return Ok(());
        }
        self.counters(survey, out)?;
        self.stalls(out)?;
        self.listeners(out)?;
        if !self.sockinfo {
            return Ok(());
        }
        for flow in self.collected.table.live() {
            let sampled = flow
                .socket
                .as_ref()
                .is_some_and(|sample| sample.at == survey.at);
            if sampled && self.filter.matches_flow(flow) {
                writeln!(out, "{}", json::sockinfo_line(flow).unwrap_or_default())?;
            }
        }
        Ok(())
    }

    /// A `stall` line per flow that became stalled (or stalled for another
    /// cause) and a `stall_end` line per stall that ended.
    fn stalls(&mut self, out: &mut impl Write) -> io::Result<()> {
        for change in self.stalls.update(self.collected.table.live()) {
            match change {
                StallChange::Stalled(sock) => {
                    let Some(flow) = self.collected.table.flow(sock) else {
                        continue;
                    };
                    if let Some(line) = json_health::stall_line(flow)
                        && self.filter.matches_flow(flow)
                    {
                        writeln!(out, "{line}")?;
                    }
                }
                StallChange::Ended(end) => {
                    let subject = Subject {
                        owner: end.owner.as_ref(),
                        unit: end.unit.as_deref(),
                        state: Some(end.state),
                        stalled: true,
                        ..Subject::ends(end.tuple.local, end.tuple.remote, end.tuple.netns)
                    };
                    if self.filter.matches(&subject) {
                        writeln!(out, "{}", json_health::stall_end_line(&end))?;
                    }
                }
            }
        }
        Ok(())
    }

    /// A `listener` line per listener whose queue is full or whose drops
    /// rose.
    fn listeners(&self, out: &mut impl Write) -> io::Result<()> {
        for listener in self
            .collected
            .listeners
            .iter()
            .filter(|listener| listener.flagged())
        {
            if self.filter.matches(&Subject::from(listener)) {
                writeln!(out, "{}", json_health::listener_line(listener))?;
            }
        }
        Ok(())
    }

    fn print(&self, event: &Event, applied: &Applied, out: &mut impl Write) -> io::Result<()> {
        if matches!(event.kind, EventKind::Destroyed) {
            return Ok(());
        }
        let flow = self.collected.table.flow_at(applied.flow);
        let ended = flow.filter(|_| applied.ended());
        let mut subject = match flow {
            Some(flow) => Subject::from(flow),
            None => Subject::ends(event.local, event.remote, event.netns),
        };
        if let EventKind::Drop(dropped) = &event.kind {
            subject.drop_reason = Some(&dropped.reason);
        }
        if !self.filter.matches(&subject) {
            return Ok(());
        }
        let retransmitted =
            matches!(event.kind, EventKind::Retransmit(_)) || applied.kept_on_host.is_some();
        let forecast = flow
            .filter(|_| retransmitted)
            .and_then(|flow| forecast(flow, event.ts));
        let owner = self.collected.table.owner(event, applied);
        let line = json::event_line(event, owner, applied, forecast.as_ref());
        writeln!(out, "{line}")?;
        if let Some(line) = ended.and_then(json::flow_end_line) {
            writeln!(out, "{line}")?;
        }
        Ok(())
    }

    /// A `destination` line per remote address:port that passes the
    /// filter, over the window ending at the source's now (in a replay,
    /// the time of the recording's last line).
    fn destinations(&self, source: &SourceInfo, out: &mut impl Write) -> io::Result<()> {
        if !self.lines {
            return Ok(());
        }
        let at = source.clock.now();
        for summary in self.collected.destinations.summaries(at) {
            if self.filter.matches_destination(summary.remote) {
                writeln!(out, "{}", json::destination_line(at, &summary))?;
            }
        }
        Ok(())
    }

    /// A `counters` line per namespace whose watched counters moved.
    fn counters(&self, survey: &Survey, out: &mut impl Write) -> io::Result<()> {
        for (netns, _) in &survey.counters {
            if !self.filter.matches_namespace(*netns) {
                continue;
            }
            let line = self
                .collected
                .counters
                .get(*netns)
                .and_then(|counters| json::counters_line(*netns, counters));
            if let Some(line) = line {
                writeln!(out, "{line}")?;
            }
        }
        Ok(())
    }

    /// The metrics' gauges as of the source's now.
    fn refresh_metrics(&mut self, source: &SourceInfo) {
        self.refresh_metrics_at(source.clock.now());
    }

    fn refresh_metrics_at(&mut self, at: Nanos) {
        if let Some(metrics) = &mut self.metrics {
            metrics.refresh(&self.collected, at);
        }
    }

    fn stats(&self, source: &SourceInfo, out: &mut impl Write) -> io::Result<()> {
        if !self.lines {
            return Ok(());
        }
        let at = source.clock.now();
        let line = json::stats_line(at, self.totals, self.collected.table.counts(), source);
        writeln!(out, "{line}")
    }
}
