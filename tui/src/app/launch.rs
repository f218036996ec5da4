//! Starts the screen for `main`: builds the state from the source and the
//! command line, then runs it on the terminal, or without one for
//! `--snapshot FILE`, which is written when the run ends.

use std::{future::Future, path::PathBuf, time::Duration};

use tokio::sync::mpsc;

use super::{
    host,
    run::{self, ScreenOptions},
    snapshot::write_exact,
    state::{SourceHeader, State},
};
use crate::{
    app::observed::Observed,
    model::{
        filter::Filter,
        table::{Capacity, ConnectionTable},
    },
    session::Ended,
    source::{Batch, SourceInfo, clock::wall_now, survey::Watch},
    ui,
};

/// The fixed size of a `--snapshot FILE` screen.
pub const SNAPSHOT_SIZE: (u16, u16) = (160, 48);

/// What the command line asks of the screen.
pub struct Settings {
    pub filter: Filter,
    /// The replay speed, for a recording; None for live probes.
    pub replay_speed: Option<f64>,
    pub refresh: Duration,
    pub duration: Option<Duration>,
    /// `--snapshot FILE`: no terminal, write FILE at the end.
    pub snapshot_file: Option<PathBuf>,
    pub snapshot_dir: PathBuf,
    /// Where the screen says which flow's socket details it shows.
    pub watch: Watch,
    /// How many flows the table holds.
    pub capacity: Capacity,
}

pub async fn run(
    events: mpsc::Receiver<Batch>,
    source: impl Future<Output = anyhow::Result<()>>,
    info: &SourceInfo,
    settings: Settings,
) -> anyhow::Result<()> {
    let header = match settings.replay_speed {
        Some(speed) => SourceHeader::replay(info, speed),
        None => SourceHeader::live(info),
    };
    let mut state = State::new(header, settings.filter);
    state.observed = Observed::new(ConnectionTable::new(settings.capacity));
    state.utc_offset = host::utc_offset();
    state.color = std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty());
    let options = ScreenOptions {
        refresh: settings.refresh,
        duration: settings.duration,
        snapshot_dir: settings.snapshot_dir,
        clock: info.clock.clone(),
        watch: settings.watch,
    };
    let Some(file) = settings.snapshot_file else {
        return match run::screen(events, source, &mut state, &options).await? {
            Ended::SourceFailed(error) => Err(error),
            _ => Ok(()),
        };
    };
    // main checked the target before the source opened (check_target).
    let ended = run::offscreen(events, source, &mut state, &options).await?;
    let (width, height) = SNAPSHOT_SIZE;
    let text = ui::text::snapshot(&state, width, height, wall_now());
    write_exact(&file, &text)?;
    eprintln!("tcpscope: snapshot written to {}", file.display());
    match ended {
        Ended::SourceFailed(error) => Err(error.context(format!(
            "the snapshot {} shows what came before",
            file.display()
        ))),
        _ => Ok(()),
    }
}
