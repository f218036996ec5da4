//! The surveys of a recording, put back together: every line a survey made
//! `tcpscope --json` print carries that survey's time, so the `flow` lines
//! (flows open before the recording started), `sockinfo` lines (each
//! flow's `tcp_info`, recorded with `--sockinfo`), `listener` lines and
//! `counters` lines of one time become one [`Survey`] again. A replay then
//! shows owners, live details, stalls, listeners and counters as the
//! recording run did, as far as the recording holds them: only flows its
//! filter let through, only listeners in trouble, only counters that moved.

use std::{
    collections::{BTreeMap, HashMap},
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::Arc,
};

use super::replay;
use crate::{
    model::{
        counters::{Snapshot, WATCHED},
        event::{Nanos, Task, TcpState},
        socket::{Owner, Pod, Scope, SocketEntry, Survey, TcpDetails, Tuple},
    },
    wire::{Endpoints, Line, OwnerFields},
};

/// One line of a survey, as a socket or a namespace's counters.
#[derive(Debug, Clone, PartialEq)]
pub enum SurveyLine {
    /// A `flow` line: a flow open when the recording started.
    Open(SocketEntry),
    /// A `sockinfo` line.
    Details(SocketEntry),
    /// A `listener` line, with its half-open connections.
    Listener(SocketEntry, u32),
    /// A `counters` line: the watched counters that moved, by name.
    Counters(u32, BTreeMap<String, i64>),
}

/// Gathers survey lines into surveys.
#[derive(Debug, Default)]
pub struct Surveys {
    pending: Option<Survey>,
    /// Where each socket of the pending survey is in its list.
    positions: HashMap<Tuple, usize>,
    /// Each namespace's counters so far, summed from the recorded moves.
    counters: BTreeMap<u32, Snapshot>,
}

impl Surveys {
    /// Adds a line of the survey at `at`; returns the survey before it
    /// when this line belongs to a later one.
    pub fn add(&mut self, at: Nanos, line: SurveyLine) -> Option<Survey> {
        let done = match &self.pending {
            Some(survey) if survey.at != at => self.finish(),
            _ => None,
        };
        let survey = self.pending.get_or_insert_with(|| Survey {
            at,
            scope: Scope::Full,
            ..Survey::default()
        });
        let positions = &mut self.positions;
        match line {
            SurveyLine::Open(entry) => {
                // Only the start-up survey prints `flow` lines.
                survey.scope = Scope::Initial;
                complete(survey, positions, entry);
            }
            // A flow open at start has its `flow` line first: its
            // `sockinfo` or `listener` line completes it.
            SurveyLine::Details(entry) => complete(survey, positions, entry),
            SurveyLine::Listener(entry, half_open) => {
                survey.sockets.extend(requests(&entry, half_open));
                complete(survey, positions, entry);
            }
            SurveyLine::Counters(netns, moved) => {
                let totals = self.counters.entry(netns).or_default();
                for (name, delta) in moved {
                    if let Some(counter) = WATCHED.iter().find(|c| c.name == name) {
                        let total = totals.get(counter.prefix, counter.name).unwrap_or(0);
                        totals.set(counter.prefix, counter.name, total.saturating_add(delta));
                    }
                }
            }
        }
        done
    }

    /// The survey being gathered, if any: every namespace's counters as
    /// summed so far go with it (those that did not move read unchanged),
    /// counted from zero.
    pub fn finish(&mut self) -> Option<Survey> {
        let mut survey = self.pending.take()?;
        self.positions.clear();
        survey.counters = self
            .counters
            .iter()
            .map(|(netns, totals)| (*netns, totals.clone()))
            .collect();
        survey.counters_from_zero = true;
        Some(survey)
    }
}

/// Adds `entry` to `survey`, or what it says to the entry of the same
/// socket; `positions` indexes the survey's sockets.
fn complete(survey: &mut Survey, positions: &mut HashMap<Tuple, usize>, entry: SocketEntry) {
    let sockets = &mut survey.sockets;
    match positions
        .get(&entry.tuple())
        .and_then(|&at| sockets.get_mut(at))
    {
        Some(known) => {
            known.details = entry.details.or(known.details);
            known.send_queue = entry.send_queue;
            known.receive_queue = entry.receive_queue;
            known.drops = entry.drops.or(known.drops);
            known.owner = known.owner.take().or(entry.owner);
        }
        None => {
            positions.insert(entry.tuple(), sockets.len());
            sockets.push(entry);
        }
    }
}

/// Most request sockets a `listener` line brings back: a corrupt line's
/// count must not exhaust memory.
const REQUESTS_KEPT: u16 = u16::MAX;

/// `half_open` request sockets for the listener `entry`, as a survey
/// lists them (at most [`REQUESTS_KEPT`]); their peers are not recorded.
fn requests(entry: &SocketEntry, half_open: u32) -> impl Iterator<Item = SocketEntry> + '_ {
    let kept = u16::try_from(half_open).unwrap_or(REQUESTS_KEPT);
    (1..=kept).map(|port| SocketEntry {
        remote: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port),
        state: TcpState::SynRecv,
        owner: None,
        drops: None,
        ..entry.clone()
    })
}

/// The owner a survey line names (pid, comm, unit and pod).
fn owner(fields: OwnerFields) -> Option<Arc<Owner>> {
    Some(Arc::new(Owner {
        task: Task {
            pid: fields.owner_pid?,
            comm: Arc::from(fields.owner_comm.unwrap_or_default()),
        },
        unit: fields.unit.map(Arc::from),
        pod: fields.pod.as_ref().map(|pod| Arc::new(Pod::from(pod))),
    }))
}

/// The survey line `line` is; None for a line that is not one, an error
/// naming what does not hold.
pub fn survey_line(line: Line) -> Option<Result<SurveyLine, String>> {
    let line = match line {
        Line::Flow(line) => {
            let details = TcpDetails {
                rto_ms: line.rto_ms.unwrap_or(0),
                backoff: line.backoff.unwrap_or(0),
                retransmits: line.retransmits.unwrap_or(0),
                unacked: line.unacked.unwrap_or(0),
                last_send_ms: line.last_send_ms.unwrap_or(0),
                ..TcpDetails::default()
            };
            let owner = owner(line.owner);
            socket(&line.endpoints, &line.state, owner).map(|mut entry| {
                entry.details = line.rto_ms.map(|_| details);
                SurveyLine::Open(entry)
            })
        }
        Line::Sockinfo(line) => {
            let owner = owner(line.owner);
            socket(&line.endpoints, &line.state, owner).map(|mut entry| {
                entry.details = Some(TcpDetails::from(&line.info));
                entry.send_queue = line.send_queue;
                entry.receive_queue = line.receive_queue;
                SurveyLine::Details(entry)
            })
        }
        Line::Listener(line) => {
            let unspecified = match line.saddr {
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            };
            let entry = SocketEntry {
                netns: line.netns,
                local: SocketAddr::new(line.saddr, line.sport),
                remote: SocketAddr::new(unspecified, 0),
                state: TcpState::Listen,
                inode: 0,
                receive_queue: line.depth,
                send_queue: line.backlog,
                drops: line.drops,
                retransmit_timer_ms: None,
                owner: owner(line.owner),
                details: None,
            };
            Ok(SurveyLine::Listener(entry, line.half_open))
        }
        Line::Counters(line) => Ok(SurveyLine::Counters(line.netns, line.deltas)),
        _ => return None,
    };
    Some(line)
}

fn socket(
    endpoints: &Endpoints,
    state: &str,
    owner: Option<Arc<Owner>>,
) -> Result<SocketEntry, String> {
    Ok(SocketEntry {
        netns: endpoints.netns,
        local: endpoints.local(),
        remote: endpoints.remote(),
        state: replay::state(state)?,
        inode: 0,
        receive_queue: 0,
        send_queue: 0,
        drops: None,
        retransmit_timer_ms: None,
        owner,
        details: None,
    })
}

#[cfg(test)]
#[path = "replay_survey_tests.rs"]
mod tests;
