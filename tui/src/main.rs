//! The `tcpscope` binary: parses the command line and runs the chosen mode
//! (modules are in lib.rs).

use std::{
    io::{self, BufWriter},
    process::ExitCode,
};

use anyhow::{Context as _, bail};
use clap::Parser as _;
use tokio::sync::mpsc;

use tcpscope::{cli::Cli, headless, source::live::Live};

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
    let options = headless::Options {
        duration: cli.duration,
        filter: cli.filter()?,
    };
    if !cli.json {
        bail!("the live screen is not available yet: run `tcpscope --json`");
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the event loop")?;
    runtime.block_on(async {
        let (live, info) = Live::open()?;
        for probe in info.probes.iter().filter(|probe| probe.failure.is_some()) {
            eprintln!("tcpscope: {probe}");
        }
        let (sink, events) = mpsc::channel(CHANNEL_BATCHES);
        let mut out = BufWriter::new(io::stdout().lock());
        tokio::select! {
            ended = headless::run(events, &info, &options, &mut out) => ended.map(drop),
            failed = live.run(sink) => failed.context("reading the probes' ring buffer"),
        }
    })
}
