//! Surveys of the kernel's socket tables in every network namespace
//! (sock_diag with `tcp_info`), with each socket's owner resolved from
//! /proc: the flows that were open before tcpscope started, the owners the
//! probes cannot see (accepted connections), and the live details of the
//! flow on screen.

pub(crate) mod cgroup;
pub(crate) mod diag;
pub mod namespaces;
pub(crate) mod owners;
pub mod pods;
mod sysctl;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
};

use diag::{DiagSocket, Found};
use namespaces::Namespace;
use netlink_packet_sock_diag::inet::Timer;
use owners::Owners;

use super::counters;
use crate::model::{
    counters::Snapshot,
    event::{Nanos, SocketLimits, TcpState},
    socket::{NamespaceLimits, Scope, SocketEntry, Survey, TcpDetails, Tuple},
};

/// The socket whose details the screen shows, shared with the surveyor.
#[derive(Debug, Clone, Default)]
pub struct Watch(Arc<Mutex<Option<Tuple>>>);

impl Watch {
    pub fn set(&self, tuple: Option<Tuple>) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = tuple;
    }

    pub fn get(&self) -> Option<Tuple> {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One namespace's open sock_diag socket and sysctls.
struct Reader {
    socket: DiagSocket,
    limits: SocketLimits,
}

/// Keeps a sock_diag socket per namespace and the owner map between surveys.
pub struct Surveyor {
    readers: HashMap<u32, Reader>,
    owners: Owners,
    hz: u32,
    surveys: u64,
    /// The most sockets a survey keeps, listeners aside.
    sockets_max: usize,
    /// How many sockets the previous full survey held: the next one's
    /// room is taken at once, not doubled as it fills (a dump of 100,000
    /// sockets is 20 MB, and doubling leaves up to half of it unused).
    sockets_before: usize,
}

impl Surveyor {
    /// `hz`: the kernel's timer frequency, for the forecast's timer slack;
    /// `sockets_max`: the most sockets (listeners aside) a survey keeps.
    pub fn new(hz: u32, sockets_max: usize) -> Self {
        Self {
            readers: HashMap::new(),
            owners: Owners::default(),
            hz,
            surveys: 0,
            sockets_max,
            sockets_before: 0,
        }
    }
    /// Names pods with `pods` (its runtime root).
    pub fn with_pods(mut self, pods: pods::Pods) -> Self {
        self.owners.pods = pods;
        self
    }

    /// Every TCP socket of every namespace now, owners resolved.
    pub fn survey(&mut self, at: Nanos) -> Survey {
        let namespaces = namespaces::list();
        // A kept socket would keep a deleted namespace alive.
        self.readers
            .retain(|inode, _| namespaces.iter().any(|ns| ns.inode == *inode));
        let mut survey = Survey {
            at,
            scope: if self.surveys == 0 {
                Scope::Initial
            } else {
                Scope::Full
            },
            ..Survey::default()
        };
        self.surveys += 1;
        survey.sockets = Vec::with_capacity(self.sockets_before + self.sockets_before / 16);
        survey.listed = Some(namespaces.iter().map(|namespace| namespace.inode).collect());
        let mut kept = 0;
        for namespace in &namespaces {
            let sockets_max = self.sockets_max;
            let mut keep = |found: &Found| {
                let Some(entry) = entry(found, namespace.inode) else {
                    return;
                };
                if entry.state == TcpState::Listen {
                    survey.sockets.push(entry);
                } else if kept < sockets_max {
                    kept += 1;
                    survey.sockets.push(entry);
                } else {
                    survey.sockets_left_out += 1;
                }
            };
            match self.read(namespace, &mut keep) {
                Ok(limits) => {
                    survey.namespaces.push(NamespaceLimits {
                        netns: namespace.inode,
                        limits,
                    });
                    match counters_of(namespace) {
                        Ok(counters) => survey.counters.push((namespace.inode, counters)),
                        Err(error) => survey.failures.push(format!(
                            "netns {} counters ({}): {error}",
                            namespace.inode,
                            namespace.path.display()
                        )),
                    }
                }
                Err(error) => {
                    self.readers.remove(&namespace.inode);
                    survey.failures.push(format!(
                        "netns {} ({}): {error}",
                        namespace.inode,
                        namespace.path.display()
                    ));
                }
            }
        }
        self.resolve_owners(&mut survey.sockets);
        self.sockets_before = survey.sockets.len();
        survey.root = namespaces::init().or(namespaces.first().map(|ns| ns.inode));
        survey
    }

    /// The socket `tuple` names, if it still exists.
    pub fn look_up(&mut self, tuple: Tuple, at: Nanos) -> Option<Survey> {
        let reader = self.readers.get_mut(&tuple.netns)?;
        let found = reader.socket.query(tuple.local, tuple.remote).ok()??;
        let mut sockets: Vec<SocketEntry> = entry(&found, tuple.netns).into_iter().collect();
        self.resolve_owners(&mut sockets);
        Some(Survey {
            at,
            scope: Scope::Watched,
            sockets,
            ..Survey::default()
        })
    }

    fn read(
        &mut self,
        namespace: &Namespace,
        each: &mut impl FnMut(&Found),
    ) -> std::io::Result<SocketLimits> {
        let reader = match self.readers.entry(namespace.inode) {
            std::collections::hash_map::Entry::Occupied(reader) => reader.into_mut(),
            std::collections::hash_map::Entry::Vacant(slot) => {
                let (socket, limits) = DiagSocket::open_in(namespace)?;
                slot.insert(Reader { socket, limits })
            }
        };
        reader.socket.dump(each)?;
        Ok(SocketLimits {
            hz: self.hz,
            ..reader.limits
        })
    }

    fn resolve_owners(&mut self, sockets: &mut [SocketEntry]) {
        let inodes: Vec<u64> = sockets.iter().map(|socket| socket.inode).collect();
        for (socket, owner) in sockets.iter_mut().zip(self.owners.resolve(&inodes)) {
            socket.owner = owner;
        }
    }
}

/// The TCP counters of `namespace`: through a process in it, or from a
/// thread that enters it when only `ip netns` holds it.
fn counters_of(namespace: &Namespace) -> std::io::Result<Snapshot> {
    if let Some(pid) = namespace.pid {
        return counters::read_namespace_counters(pid);
    }
    namespace.enter_and(counters::read_thread_counters)
}

/// The model's view of one sock_diag answer; None for a state number this
/// build does not know.
fn entry(found: &Found, netns: u32) -> Option<SocketEntry> {
    let header = &found.response.header;
    Some(SocketEntry {
        netns,
        local: found.local(),
        remote: found.remote(),
        state: TcpState::from_kernel(header.state)?,
        inode: u64::from(header.inode),
        receive_queue: header.recv_queue,
        send_queue: header.send_queue,
        drops: found.drops(),
        retransmit_timer_ms: match header.timer {
            Some(Timer::Retransmit(expires, _)) => {
                Some(u32::try_from(expires.as_millis()).unwrap_or(u32::MAX))
            }
            _ => None,
        },
        owner: None,
        details: found.tcp_info().map(|info| TcpDetails {
            rto_ms: info.rto / 1000,
            backoff: info.backoff,
            retransmits: info.retransmits,
            probes: info.probes,
            srtt_us: info.rtt,
            rttvar_us: info.rttvar,
            cwnd: info.snd_cwnd,
            ssthresh: info.snd_ssthresh,
            mss: info.snd_mss,
            unacked: info.unacked,
            lost: info.lost,
            retrans: info.retrans,
            total_retrans: info.total_retrans,
            notsent_bytes: info.notsent_bytes,
            bytes_acked: info.bytes_acked,
            bytes_received: info.bytes_received,
            snd_wnd: info.snd_wnd,
            rcv_space: info.rcv_space,
            rcv_wnd: found.receive_window,
            last_send_ms: info.last_data_sent,
            last_receive_ms: info.last_data_recv,
            last_ack_ms: info.last_ack_recv,
        }),
    })
}
