//! Who holds each socket open: socket inodes mapped to processes through
//! /proc/<pid>/fd, as `ss -p` does. The map is rebuilt only when a survey
//! asks for an inode it does not know, and at most once per
//! [`RESCAN_EVERY`], so a box with many sockets pays for one scan, not one
//! per socket. On a box where a scan is slow (many processes, many open
//! sockets) scans are spaced further apart, so that they take at most a
//! [`SCAN_SHARE`]th of a core.

use std::{
    collections::{HashMap, HashSet},
    fs,
    path::Path,
    sync::Arc,
    time::{Duration, Instant},
};

use super::{cgroup, namespaces, pods::Pods};
use crate::model::{event::Task, socket::Owner};

/// The shortest time between two scans of /proc.
const RESCAN_EVERY: Duration = Duration::from_secs(2);
/// A scan waits at least this many times as long as the previous one took.
const SCAN_SHARE: u32 = 20;

#[derive(Debug, Default)]
pub struct Owners {
    /// One owner per process, shared by its sockets.
    by_inode: HashMap<u64, Arc<Owner>>,
    /// Inodes asked for that the latest scan found no process for.
    unowned: HashSet<u64>,
    scanned: Option<Instant>,
    /// How long the latest scan took.
    scan_took: Duration,
    /// The pods of containerized owners.
    pub pods: Pods,
}

impl Owners {
    /// The owner of each inode (in order; None when no process holds it),
    /// rescanning /proc first when one is unknown and the last scan is old
    /// enough.
    pub fn resolve(&mut self, inodes: &[u64]) -> Vec<Option<Arc<Owner>>> {
        let unknown = |inode: &u64| {
            *inode != 0 && !self.by_inode.contains_key(inode) && !self.unowned.contains(inode)
        };
        let stale = self
            .scanned
            .is_none_or(|scanned| scanned.elapsed() >= rescan_after(self.scan_took));
        if stale && inodes.iter().any(unknown) {
            let started = Instant::now();
            self.by_inode = scan(&mut self.pods);
            self.scan_took = started.elapsed();
            self.scanned = Some(Instant::now());
            let by_inode = &self.by_inode;
            self.unowned.retain(|inode| !by_inode.contains_key(inode));
            self.unowned.extend(
                inodes
                    .iter()
                    .filter(|inode| **inode != 0 && !by_inode.contains_key(inode)),
            );
        }
        inodes
            .iter()
            .map(|inode| self.by_inode.get(inode).cloned())
            .collect()
    }
}

/// How long after a scan that took `took` the next one may run.
fn rescan_after(took: Duration) -> Duration {
    RESCAN_EVERY.max(took * SCAN_SHARE)
}

/// Every socket inode held by a process, with the process; a socket shared
/// by several processes goes to the lowest pid (usually the parent).
fn scan(pods: &mut Pods) -> HashMap<u64, Arc<Owner>> {
    let mut pids: Vec<u32> = namespaces::pids().collect();
    pids.sort_unstable();
    let mut by_inode = HashMap::new();
    for pid in pids {
        let dir = Path::new("/proc").join(pid.to_string());
        let Ok(fds) = fs::read_dir(dir.join("fd")) else {
            continue;
        };
        let mut owner: Option<Arc<Owner>> = None;
        for fd in fds.flatten() {
            let Some(inode) = fs::read_link(fd.path())
                .ok()
                .and_then(|target| socket_inode(target.to_str()?))
            else {
                continue;
            };
            let owner = owner.get_or_insert_with(|| Arc::new(process(pid, &dir, pods)));
            by_inode.entry(inode).or_insert_with(|| owner.clone());
        }
    }
    by_inode
}

/// The inode of an fd link's target `socket:[12345]`.
pub(crate) fn socket_inode(target: &str) -> Option<u64> {
    target
        .strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

fn process(pid: u32, dir: &Path, pods: &mut Pods) -> Owner {
    let comm = fs::read_to_string(dir.join("comm")).unwrap_or_default();
    let cgroup = fs::read_to_string(dir.join("cgroup")).unwrap_or_default();
    Owner {
        task: Task {
            pid,
            comm: Arc::from(comm.trim_end()),
        },
        unit: cgroup::unit(&cgroup).map(Arc::from),
        pod: pods.of_cgroup(&cgroup),
    }
}

#[cfg(test)]
mod tests {
    use std::{net::TcpListener, os::unix::fs::MetadataExt};

    use super::*;

    #[test]
    fn slow_scans_are_spaced_to_a_twentieth_of_a_core() {
        assert_eq!(rescan_after(Duration::from_millis(20)), RESCAN_EVERY);
        assert_eq!(
            rescan_after(Duration::from_millis(250)),
            Duration::from_secs(5)
        );
    }

    #[test]
    fn reads_socket_links_only() {
        assert_eq!(socket_inode("socket:[4026]"), Some(4026));
        assert_eq!(socket_inode("pipe:[4026]"), None);
        assert_eq!(socket_inode("/dev/null"), None);
        assert_eq!(socket_inode("socket:[x]"), None);
    }

    #[test]
    fn finds_this_process_as_the_owner_of_its_socket() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let fd = std::os::fd::AsRawFd::as_raw_fd(&listener);
        let inode = fs::metadata(format!("/proc/self/fd/{fd}"))
            .expect("fd")
            .ino();
        let mut cache = Owners::default();
        let owners = cache.resolve(&[inode, 0, u64::MAX]);
        let owner = owners[0].as_ref().expect("this process owns it");
        assert_eq!(owner.task.pid, std::process::id());
        assert_eq!(owners[1..], [None, None]);
        assert!(cache.unowned.contains(&u64::MAX), "remembered as unowned");
        assert!(!cache.unowned.contains(&0), "0 is no socket");
    }
}
