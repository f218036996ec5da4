//! The `tcpscope` binary: parses the command line and runs the chosen mode
//! (modules are in lib.rs).

use std::{
    future::Future,
    io::{self, BufWriter},
    pin::Pin,
    process::ExitCode,
};

use anyhow::Context as _;
use clap::Parser as _;
use tokio::sync::mpsc;

use tcpscope::{
    app::{launch, snapshot},
    cli::{Cli, Command},
    feed, metrics,
    model::table::Capacity,
    predict,
    source::{
        Batch, SourceInfo,
        live::{Access, Live},
        replay::Replay,
        survey::Watch,
    },
};

/// Batches in flight between a source and its consumer; when the consumer
/// falls behind, the kernel's ring buffer fills and counts what it drops.
const CHANNEL_BATCHES: usize = 64;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("tcpscope: {}", describe(&error));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line, leaving out a cause whose text
/// is already said (many errors print their source as part of their own).
fn describe(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain().map(ToString::to_string) {
        if text.contains(&cause) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&cause);
    }
    text
}

fn run(cli: &Cli) -> anyhow::Result<()> {
    if let Some(Command::Predict(args)) = &cli.command {
        return predict::run(args, &mut io::stdout().lock());
    }
    let filter = cli.filter()?;
    if let Some(file) = &cli.snapshot {
        snapshot::check_target(file)?;
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the event loop")?;
    runtime.block_on(async {
        // A taken port is said before the probes load.
        let metrics_listener = match cli.metrics {
            Some(addr) => Some(
                metrics::server::bind(addr)
                    .await
                    .with_context(|| format!("--metrics {addr}: cannot listen there"))?,
            ),
            None => None,
        };
        let (sink, events) = mpsc::channel(CHANNEL_BATCHES);
        let watch = Watch::default();
        let (source, info) = open_source(cli, sink, watch.clone())?;
        let capacity = Capacity {
            live: cli.max_flows as usize,
            ..Capacity::default()
        };
        if !cli.json && cli.metrics.is_none() {
            let settings = launch::Settings {
                filter,
                replay_speed: cli.replay.is_some().then_some(cli.speed),
                refresh: cli.refresh,
                duration: cli.duration,
                snapshot_file: cli.snapshot.clone(),
                snapshot_dir: cli.snapshot_dir.clone(),
                watch,
                capacity,
            };
            return launch::run(events, source, &info, settings).await;
        }
        let options = feed::FeedOptions {
            json: cli.json,
            duration: cli.duration,
            filter,
            sockinfo: cli.sockinfo,
            capacity,
        };
        let metrics = metrics_listener.map(|listener| {
            let settings = metrics::Settings {
                destinations: cli.metrics_destinations,
            };
            let metrics = metrics::Metrics::new(settings, &info);
            tokio::spawn(metrics::server::serve(listener, metrics.registry()));
            metrics
        });
        // The source stops once the feed is done and drops its receiver;
        // the feed stops once a finished source's events are taken.
        let (fed, read) = match cli.json {
            true => {
                let mut out = BufWriter::new(io::stdout().lock());
                tokio::join!(
                    feed::run(events, &info, &options, metrics, &mut out),
                    source
                )
            }
            false => {
                let mut out = io::sink();
                tokio::join!(
                    feed::run(events, &info, &options, metrics, &mut out),
                    source
                )
            }
        };
        fed.map(drop).and(read)
    })
}

/// The events' source: a recording with --replay, else the live probes.
type Source = Pin<Box<dyn Future<Output = anyhow::Result<()>>>>;

fn open_source(
    cli: &Cli,
    sink: mpsc::Sender<Batch>,
    watch: Watch,
) -> anyhow::Result<(Source, SourceInfo)> {
    if let Some(path) = &cli.replay {
        let (replay, info) = Replay::open(path, cli.speed)?;
        return Ok((Box::pin(replay.run(sink)), info));
    }
    let access = Access {
        btf_file: cli.btf.clone(),
        raw_tracepoints: cli.raw_tracepoints,
        every_flow: cli.every_flow,
        surveyed_sockets_max: cli.max_flows as usize,
        runtime_root: cli.runtime_root.clone(),
    };
    let (live, info) = Live::open(watch, &access)?;
    report_kernel(&live, &info, cli.verbose);
    let run = async move {
        live.run(sink)
            .await
            .context("reading the probes' ring buffer")
    };
    Ok((Box::pin(run), info))
}

/// One line on stderr for each probe that did not attach and each kernel
/// field whose absence hides something; with `verbose`, the verifier's
/// whole log of each refused probe and the newer fields this kernel lacks.
fn report_kernel(live: &Live, info: &SourceInfo, verbose: bool) {
    for probe in info.probes.iter().filter(|probe| probe.failure.is_some()) {
        eprintln!("tcpscope: {probe}");
    }
    if !live.verifier_logs.is_empty() && !verbose {
        eprintln!("tcpscope: run with --verbose for the verifier's whole log");
    }
    for limit in &live.survey_limits {
        eprintln!("tcpscope: {limit}");
    }
    for missing in info.missing_fields.iter().filter(|m| verbose || m.lossy) {
        eprintln!("tcpscope: {missing}");
    }
    if verbose {
        for (event, log) in &live.verifier_logs {
            eprintln!("tcpscope: the verifier's log of {event}:\n{log}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An error that prints its source as part of its own message.
    #[derive(Debug, thiserror::Error)]
    #[error("i/o error: {0}")]
    struct Repeating(#[source] io::Error);

    #[test]
    fn a_cause_already_said_is_not_said_again() {
        let enoent = || io::Error::from_raw_os_error(2);
        let repeated = anyhow::Error::new(Repeating(enoent())).context("--btf x: not a BTF file");
        assert_eq!(repeated.chain().count(), 3);
        assert_eq!(
            describe(&repeated),
            "--btf x: not a BTF file: i/o error: No such file or directory (os error 2)"
        );
        let chained = anyhow::Error::new(enoent()).context("cannot open the recording x");
        assert_eq!(
            describe(&chained),
            "cannot open the recording x: No such file or directory (os error 2)"
        );
    }
}
