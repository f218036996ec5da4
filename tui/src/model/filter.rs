//! The filter language shared by the command line, the filter box and the
//! JSON stream: space-separated terms that must all match, e.g.
//! `port:443 comm:java state:syn_sent`. A bare number is a port; a term may
//! list alternatives separated by commas (`port:80,443`). `state:stalled`
//! matches flows with bytes queued and no progress.

use std::{fmt, net::IpAddr, net::SocketAddr, str::FromStr};

use super::{
    event::{Task, TcpState},
    flow::{EndReason, Flow},
    socket::Pod,
};

/// The keys a term can have, for error messages and the help overlay.
pub const KEYS: &str = "port sport dport pid comm unit pod addr state reason netns";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Term {
    /// Either end's port.
    Port(u16),
    /// The local port.
    SourcePort(u16),
    /// The remote port.
    DestPort(u16),
    Pid(u32),
    /// A substring of the owner's command name.
    Comm(String),
    /// A substring of the owner's container or systemd unit.
    Unit(String),
    /// A substring of the owner's pod, `namespace/name/container`
    /// (`pod:payments/checkout-7f9c`).
    Pod(String),
    /// Either end's address.
    Addr(IpAddr),
    State(TcpState),
    /// A live flow with bytes queued and no forward progress.
    Stalled,
    Reason(EndReason),
    /// A part of a drop reason's name, upper case (`reason:paws`).
    DropReason(String),
    Netns(u32),
}

/// What a filter looks at: a flow, or an event that belongs to no flow.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub owner: Option<&'a Task>,
    /// The owner's container or systemd unit.
    pub unit: Option<&'a str>,
    /// The owner's Kubernetes pod.
    pub pod: Option<&'a Pod>,
    pub state: Option<TcpState>,
    pub reason: Option<EndReason>,
    /// The kernel's reason, for a dropped segment.
    pub drop_reason: Option<&'a str>,
    pub netns: u32,
    /// A live flow with bytes queued and no forward progress.
    pub stalled: bool,
}

impl Subject<'_> {
    /// What a filter sees of something known only by its ends: no owner,
    /// state or reason.
    pub fn ends(local: SocketAddr, remote: SocketAddr, netns: u32) -> Self {
        Self {
            local,
            remote,
            owner: None,
            unit: None,
            pod: None,
            state: None,
            reason: None,
            drop_reason: None,
            netns,
            stalled: false,
        }
    }
}

impl<'a> From<&'a Flow> for Subject<'a> {
    fn from(flow: &'a Flow) -> Self {
        Self {
            local: flow.local,
            remote: flow.remote,
            owner: flow.owner.as_ref(),
            unit: flow.unit.as_deref(),
            pod: flow.pod.as_deref(),
            state: Some(flow.end.as_ref().map_or(flow.state, |end| end.last_state)),
            reason: flow.end.as_ref().map(|end| end.reason),
            drop_reason: None,
            netns: flow.netns,
            stalled: flow.end.is_none()
                && flow
                    .progress
                    .as_ref()
                    .is_some_and(|progress| progress.stall.is_some()),
        }
    }
}

impl Term {
    fn matches(&self, subject: &Subject<'_>) -> bool {
        match self {
            Self::Port(port) => subject.local.port() == *port || subject.remote.port() == *port,
            Self::SourcePort(port) => subject.local.port() == *port,
            Self::DestPort(port) => subject.remote.port() == *port,
            Self::Pid(pid) => subject.owner.is_some_and(|owner| owner.pid == *pid),
            Self::Comm(part) => subject
                .owner
                .is_some_and(|owner| owner.comm.contains(part.as_str())),
            Self::Unit(part) => subject
                .unit
                .is_some_and(|unit| unit.contains(part.as_str())),
            Self::Pod(part) => subject
                .pod
                .is_some_and(|pod| pod.to_string().contains(part.as_str())),
            Self::Addr(addr) => {
                same_ip(subject.local.ip(), *addr) || same_ip(subject.remote.ip(), *addr)
            }
            Self::State(state) => subject.state == Some(*state),
            Self::Stalled => subject.stalled,
            Self::Reason(reason) => subject.reason == Some(*reason),
            Self::DropReason(part) => subject
                .drop_reason
                .is_some_and(|reason| reason.contains(part.as_str())),
            Self::Netns(netns) => subject.netns == *netns,
        }
    }
}

impl Term {
    /// Whether a destination `remote` matches, when the term is about one.
    fn about_destination(&self, remote: SocketAddr) -> Option<bool> {
        match self {
            Self::Port(port) | Self::DestPort(port) => Some(remote.port() == *port),
            Self::Addr(addr) => Some(same_ip(remote.ip(), *addr)),
            Self::SourcePort(_)
            | Self::Pid(_)
            | Self::Comm(_)
            | Self::Unit(_)
            | Self::Pod(_)
            | Self::State(_)
            | Self::Stalled
            | Self::Reason(_)
            | Self::DropReason(_)
            | Self::Netns(_) => None,
        }
    }
}

/// Compares addresses, treating an IPv4-mapped IPv6 address as its IPv4 one.
fn same_ip(a: IpAddr, b: IpAddr) -> bool {
    a.to_canonical() == b.to_canonical()
}

/// A term the filter language does not understand.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{term:?}: {problem} (valid keys: {KEYS}; a bare number is a port)")]
pub struct FilterError {
    pub term: String,
    pub problem: String,
}

/// Terms that must all match; each term matches if any alternative does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    all: Vec<Vec<Term>>,
}

impl Filter {
    pub fn is_empty(&self) -> bool {
        self.all.is_empty()
    }

    /// Adds one term whose alternatives are `any` (ignored when empty).
    pub fn require_any(&mut self, any: Vec<Term>) {
        if !any.is_empty() {
            self.all.push(any);
        }
    }

    pub fn matches(&self, subject: &Subject<'_>) -> bool {
        self.all
            .iter()
            .all(|any| any.iter().any(|term| term.matches(subject)))
    }

    pub fn matches_flow(&self, flow: &Flow) -> bool {
        self.matches(&Subject::from(flow))
    }

    /// Whether a destination (a remote address:port) passes: terms about
    /// the remote end (port, dport, addr) must match it; terms about the
    /// local end, the owner or one flow (sport, pid, comm, state, reason,
    /// netns) say nothing about a destination and are left out.
    pub fn matches_destination(&self, remote: SocketAddr) -> bool {
        self.all.iter().all(|any| {
            let mut said = any.iter().filter_map(|term| term.about_destination(remote));
            let mut seen = false;
            said.any(|matched| {
                seen = true;
                matched
            }) || !seen
        })
    }

    /// Whether a network namespace's counters pass: only netns terms say
    /// anything about a namespace; the others are left out.
    pub fn matches_namespace(&self, netns: u32) -> bool {
        self.all.iter().all(|any| {
            let mut netns_terms = any.iter().filter_map(|term| match term {
                Term::Netns(wanted) => Some(*wanted == netns),
                _ => None,
            });
            let mut seen = false;
            netns_terms.any(|matched| {
                seen = true;
                matched
            }) || !seen
        })
    }

    /// Whether some terms say nothing about destinations (see
    /// [`Self::matches_destination`]), for a pane to mention.
    pub fn skips_terms_for_destinations(&self) -> bool {
        self.all
            .iter()
            .flatten()
            .any(|term| !matches!(term, Term::Port(_) | Term::DestPort(_) | Term::Addr(_)))
    }
}

impl FromStr for Filter {
    type Err = FilterError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut filter = Filter::default();
        for word in text.split_whitespace() {
            let (key, values) = word.split_once(':').unwrap_or(("port", word));
            let any = values
                .split(',')
                .map(|value| parse_term(key, value))
                .collect::<Result<Vec<_>, String>>()
                .map_err(|problem| FilterError {
                    term: word.to_string(),
                    problem,
                })?;
            filter.require_any(any);
        }
        Ok(filter)
    }
}

fn parse_term(key: &str, value: &str) -> Result<Term, String> {
    let number = |what: &str| {
        value
            .parse::<u32>()
            .map_err(|_| format!("{what} must be a number, got {value:?}"))
    };
    let port = || {
        value
            .parse::<u16>()
            .map_err(|_| format!("a port is a number from 0 to 65535, got {value:?}"))
    };
    Ok(match key.to_ascii_lowercase().as_str() {
        "port" => Term::Port(port()?),
        "sport" => Term::SourcePort(port()?),
        "dport" => Term::DestPort(port()?),
        "pid" => Term::Pid(number("a pid")?),
        "netns" => Term::Netns(number("a netns inode")?),
        "comm" if !value.is_empty() => Term::Comm(value.to_string()),
        "unit" if !value.is_empty() => Term::Unit(value.to_string()),
        "pod" if !value.is_empty() => Term::Pod(value.to_string()),
        "addr" => Term::Addr(
            value
                .parse()
                .map_err(|_| format!("not an IPv4 or IPv6 address: {value:?}"))?,
        ),
        "state" if value.eq_ignore_ascii_case("stalled") => Term::Stalled,
        "state" => Term::State(TcpState::from_name(value).ok_or_else(|| {
            format!("unknown state {value:?} (e.g. syn_sent, established, close_wait, stalled)")
        })?),
        "reason" if !value.is_empty() => match EndReason::from_name(value) {
            Some(reason) => Term::Reason(reason),
            None => Term::DropReason(value.to_ascii_uppercase()),
        },
        "reason" => {
            return Err(
                "reason needs a flow end (timeout, abandoned, refused, reset, closed) or part \
                 of a drop reason (e.g. paws, netfilter)"
                    .to_string(),
            );
        }
        "comm" => return Err("comm needs a name".to_string()),
        "unit" => return Err("unit needs a name, e.g. unit:nginx or unit:docker".to_string()),
        "pod" => {
            return Err(
                "pod needs a name, e.g. pod:checkout or pod:payments/checkout-7f9c".to_string(),
            );
        }
        other => return Err(format!("unknown key {other:?}")),
    })
}

impl fmt::Display for Term {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Port(port) => write!(f, "port:{port}"),
            Self::SourcePort(port) => write!(f, "sport:{port}"),
            Self::DestPort(port) => write!(f, "dport:{port}"),
            Self::Pid(pid) => write!(f, "pid:{pid}"),
            Self::Comm(comm) => write!(f, "comm:{comm}"),
            Self::Unit(unit) => write!(f, "unit:{unit}"),
            Self::Pod(pod) => write!(f, "pod:{pod}"),
            Self::Addr(addr) => write!(f, "addr:{addr}"),
            Self::State(state) => write!(f, "state:{}", state.name().to_ascii_lowercase()),
            Self::Stalled => f.write_str("state:stalled"),
            Self::Reason(reason) => write!(f, "reason:{}", reason.name()),
            Self::DropReason(part) => write!(f, "reason:{}", part.to_ascii_lowercase()),
            Self::Netns(netns) => write!(f, "netns:{netns}"),
        }
    }
}

/// Prints the filter in the language it parses from (alternatives of one
/// key joined with commas).
impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, any) in self.all.iter().enumerate() {
            if index > 0 {
                f.write_str(" ")?;
            }
            for (alternative, term) in any.iter().enumerate() {
                let text = term.to_string();
                match (alternative, text.split_once(':')) {
                    (0, _) | (_, None) => f.write_str(&text)?,
                    (_, Some((_, value))) => write!(f, ",{value}")?,
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "filter_tests.rs"]
mod tests;
