//! The screen's state: the collected data (and its frozen copy), what the
//! header says about the source, the input mode, which pane has focus,
//! cursors, sort order, the filter and its input box, and the status line.
//! Changed only by [`super::action::update`] and the event loop's feeding.

use tui_input::Input;

use super::{
    host,
    observed::{FlowKey, Observed, View},
    view::flows::{self, SortKey},
};
use crate::{
    model::{filter::Filter, flow::Flow},
    source::SourceInfo,
};

/// What keys do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Normal,
    /// Typing a filter expression.
    Filter,
    /// The help overlay is open.
    Help,
}

/// The screen's pages, chosen with the number keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    /// Connect attempts, flows, the RTO timeline and closed flows.
    Connections,
    /// Segments the kernel dropped, with its reasons.
    Drops,
    /// Per remote address:port, the last minutes of connects and failures.
    Destinations,
    /// Every namespace's TCP counters that moved.
    Counters,
    /// Listeners: accept queues, drops, half-open connections.
    Listeners,
}

impl Page {
    pub const ALL: [Page; 5] = [
        Self::Connections,
        Self::Drops,
        Self::Destinations,
        Self::Counters,
        Self::Listeners,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Connections => "connections",
            Self::Drops => "drops",
            Self::Destinations => "destinations",
            Self::Counters => "counters",
            Self::Listeners => "listeners",
        }
    }

    /// The page's panes, in Tab order.
    pub fn panes(self) -> &'static [Pane] {
        match self {
            Self::Connections => &[Pane::SynSent, Pane::Flows, Pane::Timeline, Pane::Closed],
            Self::Drops => &[Pane::Drops],
            Self::Destinations => &[Pane::Destinations],
            Self::Counters => &[Pane::Counters],
            Self::Listeners => &[Pane::Listeners],
        }
    }
}

/// The panes that take focus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    SynSent,
    Flows,
    Timeline,
    Closed,
    Drops,
    Destinations,
    Counters,
    Listeners,
}

impl Pane {
    /// The next pane of `page` in Tab order.
    pub fn next(self, page: Page) -> Self {
        let order = page.panes();
        order[(self.index(order) + 1) % order.len()]
    }

    pub fn previous(self, page: Page) -> Self {
        let order = page.panes();
        order[(self.index(order) + order.len() - 1) % order.len()]
    }

    fn index(self, order: &[Pane]) -> usize {
        order.iter().position(|&pane| pane == self).unwrap_or(0)
    }
}

/// Where the source's data comes from, for the header.
#[derive(Debug, Clone, PartialEq)]
pub enum Origin {
    Live { host: String, kernel: String },
    Replay { path: String, speed: f64 },
}

/// What the header says about the source.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceHeader {
    pub origin: Origin,
    pub probes_attached: usize,
    /// `probe: not attached: reason; what is lost` for each probe that did
    /// not attach.
    pub probes_failed: Vec<String>,
    /// The pages those failures degrade.
    pub degraded_pages: Vec<&'static str>,
}

impl SourceHeader {
    /// The live probes on this machine.
    pub fn live(info: &SourceInfo) -> Self {
        let (host, kernel) = host::uname();
        Self::new(Origin::Live { host, kernel }, info)
    }

    /// A recording played at `speed` (0: as fast as possible).
    pub fn replay(info: &SourceInfo, speed: f64) -> Self {
        let path = info.origin.clone();
        Self::new(Origin::Replay { path, speed }, info)
    }

    fn new(origin: Origin, info: &SourceInfo) -> Self {
        Self {
            origin,
            probes_attached: info.attached(),
            probes_failed: info
                .probes
                .iter()
                .filter(|probe| probe.failure.is_some())
                .map(ToString::to_string)
                .collect(),
            degraded_pages: info.degraded_pages(),
        }
    }
}

/// A message on the status line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub text: String,
    pub error: bool,
}

/// A row cursor per pane (the timeline's scrolls its entries).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cursors {
    pub syn_sent: usize,
    pub flows: usize,
    pub timeline: usize,
    pub closed: usize,
    /// The newest drop selected on the Drops page (its stack is shown).
    pub drops: usize,
    /// Where the cursor keys go on a page without a cursor.
    unused: usize,
}

impl Cursors {
    pub fn get(&self, pane: Pane) -> usize {
        match pane {
            Pane::SynSent => self.syn_sent,
            Pane::Flows => self.flows,
            Pane::Timeline => self.timeline,
            Pane::Closed => self.closed,
            Pane::Drops => self.drops,
            Pane::Destinations | Pane::Counters | Pane::Listeners => 0,
        }
    }

    pub fn get_mut(&mut self, pane: Pane) -> &mut usize {
        match pane {
            Pane::SynSent => &mut self.syn_sent,
            Pane::Flows => &mut self.flows,
            Pane::Timeline => &mut self.timeline,
            Pane::Closed => &mut self.closed,
            Pane::Drops => &mut self.drops,
            // Read at a glance: no row to pick.
            Pane::Destinations | Pane::Counters | Pane::Listeners => &mut self.unused,
        }
    }
}

pub struct State {
    pub observed: Observed,
    /// The view at freeze time, while frozen.
    pub frozen: Option<Observed>,
    pub source: SourceHeader,
    /// The source has nothing more to send (a recording ended).
    pub source_done: bool,
    pub mode: Mode,
    pub page: Page,
    pub focus: Pane,
    pub cursors: Cursors,
    pub sort: SortKey,
    /// The flow chosen with Enter for the timeline; without one, the
    /// timeline follows the Flows cursor.
    pub pinned: Option<FlowKey>,
    pub filter: Filter,
    /// The filter box's text while it is open.
    pub input: Input,
    /// Why the last expression typed was not applied.
    pub filter_error: Option<String>,
    pub status: Option<Status>,
    /// Seconds east of UTC, for times of day.
    pub utc_offset: i64,
    /// False under NO_COLOR: styles use only bold, dim and reverse.
    pub color: bool,
}

impl State {
    pub fn new(source: SourceHeader, filter: Filter) -> Self {
        Self {
            observed: Observed::default(),
            frozen: None,
            source,
            source_done: false,
            mode: Mode::Normal,
            page: Page::Connections,
            focus: Pane::Flows,
            cursors: Cursors::default(),
            sort: SortKey::default(),
            pinned: None,
            filter,
            input: Input::default(),
            filter_error: None,
            status: None,
            utc_offset: 0,
            color: true,
        }
    }

    /// What the panes show: the frozen copy while frozen, else the data.
    pub fn view(&self) -> View<'_> {
        match &self.frozen {
            Some(frozen) => frozen.view(),
            None => self.observed.view(),
        }
    }

    /// The flow the timeline shows (and whether it was pinned with Enter),
    /// if it is tracked and passes the filter.
    pub fn timeline_flow(&self) -> Option<(&Flow, bool)> {
        let view = self.view();
        self.timeline_flow_or(|| flows::at(&view, &self.filter, self.sort, self.cursors.flows))
    }

    /// [`Self::timeline_flow`], when the flow under the Flows cursor is
    /// already known (a frame has just drawn that pane).
    pub fn timeline_flow_or(
        &self,
        under_cursor: impl FnOnce() -> Option<FlowKey>,
    ) -> Option<(&Flow, bool)> {
        let view = self.view();
        let (key, pinned) = match self.pinned {
            Some(key) => (key, true),
            None => (under_cursor()?, false),
        };
        let flow = view.flows.find(key)?;
        self.filter.matches_flow(flow).then_some((flow, pinned))
    }

    pub fn set_status(&mut self, text: impl Into<String>, error: bool) {
        self.status = Some(Status {
            text: text.into(),
            error,
        });
    }
}
