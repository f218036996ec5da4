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
    app::{launch, run::Clock},
    cli::{Cli, Command},
    headless, predict,
    source::{Batch, SourceInfo, live::Live, replay::Replay, survey::Watch},
};

/// Batches in flight between a source and its consumer; when the consumer
/// falls behind, the kernel's ring buffer fills and counts what it drops.
const CHANNEL_BATCHES: usize = 64;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("tcpscope: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> anyhow::Result<()> {
    if let Some(Command::Predict(args)) = &cli.command {
        return predict::run(args, &mut io::stdout().lock());
    }
    let filter = cli.filter()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the event loop")?;
    runtime.block_on(async {
        let (sink, events) = mpsc::channel(CHANNEL_BATCHES);
        let watch = Watch::default();
        let (source, info, clock) = open_source(cli, sink, watch.clone())?;
        if !cli.json {
            let settings = launch::Settings {
                filter,
                replay_speed: cli.replay.is_some().then_some(cli.speed),
                clock,
                refresh: cli.refresh,
                duration: cli.duration,
                snapshot_file: cli.snapshot.clone(),
                snapshot_dir: cli.snapshot_dir.clone(),
                watch,
            };
            return launch::run(events, source, &info, settings).await;
        }
        let options = headless::Options {
            duration: cli.duration,
            filter,
            sockinfo: cli.sockinfo,
        };
        let mut out = BufWriter::new(io::stdout().lock());
        // The source stops once the printer is done and drops its receiver;
        // the printer stops once a finished source's events are printed.
        let (printed, fed) = tokio::join!(headless::run(events, &info, &options, &mut out), source);
        printed.map(drop).and(fed)
    })
}

/// The events' source: a recording with --replay, else the live probes.
type Source = Pin<Box<dyn Future<Output = anyhow::Result<()>>>>;

fn open_source(
    cli: &Cli,
    sink: mpsc::Sender<Batch>,
    watch: Watch,
) -> anyhow::Result<(Source, SourceInfo, Clock)> {
    if let Some(path) = &cli.replay {
        let (replay, info) = Replay::open(path, cli.speed)?;
        let clock = Clock::Recording(replay.clock());
        return Ok((Box::pin(replay.run(sink)), info, clock));
    }
    let (live, info) = Live::open(watch)?;
    let clock = Clock::Live {
        monotonic_to_wall_ns: live.monotonic_to_wall_ns,
    };
    for probe in info.probes.iter().filter(|probe| probe.failure.is_some()) {
        eprintln!("tcpscope: {probe}");
    }
    if !info.missing_fields.is_empty() {
        eprintln!(
            "tcpscope: this kernel lacks {}; the values that depend on them read as 0",
            info.missing_fields.join(", ")
        );
    }
    let run = async move {
        live.run(sink)
            .await
            .context("reading the probes' ring buffer")
    };
    Ok((Box::pin(run), info, clock))
}
