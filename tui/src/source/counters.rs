//! Reads the kernel's TCP counters of every network namespace: the files
//! /proc/<pid>/net/netstat and /proc/<pid>/net/snmp hold the counters of
//! that pid's namespace. A survey finds one pid per namespace and reads
//! its counters; a thread repeats it every second and sends each survey
//! down a channel.

use std::{
    collections::BTreeMap,
    fs, io,
    os::unix::fs::MetadataExt as _,
    thread,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use tokio::sync::mpsc;

use crate::model::{counters::Snapshot, event::Nanos};

/// The counters of one namespace at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct NamespaceSample {
    /// The namespace's inode, as events report it (`netns`).
    pub netns: u32,
    /// The pid whose /proc files were read.
    pub pid: u32,
    pub snapshot: Snapshot,
}

/// Every namespace read at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Survey {
    pub at: Nanos,
    pub samples: Vec<NamespaceSample>,
    /// The root namespace: pid 1's, or tcpscope's own when pid 1's cannot
    /// be read (inside some containers).
    pub root: Option<u32>,
}

/// Reads the counters of the network namespace of `pid`.
pub fn read_namespace_counters(pid: u32) -> io::Result<Snapshot> {
    let netstat = fs::read_to_string(format!("/proc/{pid}/net/netstat"))?;
    let snmp = fs::read_to_string(format!("/proc/{pid}/net/snmp"))?;
    Snapshot::from_texts([netstat.as_str(), snmp.as_str()])
        .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error))
}

/// Each network namespace with a process in it, as (namespace inode,
/// lowest pid in it), walking /proc/*/ns/net. Processes that exit or that
/// this process may not inspect are skipped.
pub fn namespaces() -> Vec<(u32, u32)> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut lowest: BTreeMap<u32, u32> = BTreeMap::new();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(meta) = fs::metadata(entry.path().join("ns/net")) else {
            continue;
        };
        let Ok(netns) = u32::try_from(meta.ino()) else {
            continue;
        };
        let kept = lowest.entry(netns).or_insert(pid);
        *kept = (*kept).min(pid);
    }
    lowest.into_iter().collect()
}

/// Reads every namespace's counters now.
pub fn survey() -> Survey {
    let root = ["/proc/1/ns/net", "/proc/self/ns/net"]
        .into_iter()
        .find_map(|path| u32::try_from(fs::metadata(path).ok()?.ino()).ok());
    let samples = namespaces()
        .into_iter()
        .filter_map(|(netns, pid)| {
            let snapshot = read_namespace_counters(pid).ok()?;
            Some(NamespaceSample {
                netns,
                pid,
                snapshot,
            })
        })
        .collect();
    Survey {
        at: wall_now(),
        samples,
        root,
    }
}

/// Surveys every `every` on a thread of its own, until the receiver is
/// dropped.
pub fn spawn_surveys(every: Duration) -> io::Result<mpsc::Receiver<Survey>> {
    let (sender, receiver) = mpsc::channel(2);
    thread::Builder::new()
        .name("counters".to_string())
        .spawn(move || {
            while sender.blocking_send(survey()).is_ok() {
                thread::sleep(every);
            }
        })?;
    Ok(receiver)
}

fn wall_now() -> Nanos {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos() as Nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_namespace_is_surveyed_with_its_counters() {
        let own = fs::metadata("/proc/self/ns/net").map(|meta| meta.ino());
        let Ok(own) = own else {
            return;
        };
        let found = namespaces()
            .into_iter()
            .find(|(netns, _)| u64::from(*netns) == own);
        let (_, pid) = found.expect("this process's namespace is listed");
        let snapshot = read_namespace_counters(pid).expect("its counters read");
        assert!(snapshot.get("TcpExt", "ListenOverflows").is_some());
        assert!(snapshot.get("Tcp", "RetransSegs").is_some());
    }

    #[test]
    fn a_pid_that_does_not_exist_is_an_error() {
        assert!(read_namespace_counters(u32::MAX).is_err());
    }
}
