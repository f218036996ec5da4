//! Reads the kernel's TCP counters of one network namespace: the files
//! /proc/<pid>/net/netstat and /proc/<pid>/net/snmp hold the counters of
//! that pid's namespace (thread-self: the calling thread's). The survey
//! reads every namespace's once a second.

use std::{fs, io};

use crate::model::counters::Snapshot;

/// Reads the counters of the network namespace of `pid`.
pub fn read_namespace_counters(pid: u32) -> io::Result<Snapshot> {
    read_namespace_counters_at(&pid.to_string())
}

/// Reads the counters of the calling thread's network namespace (after a
/// setns, for a namespace no process is in).
pub fn read_thread_counters() -> io::Result<Snapshot> {
    read_namespace_counters_at("thread-self")
}

fn read_namespace_counters_at(process: &str) -> io::Result<Snapshot> {
    let netstat = fs::read_to_string(format!("/proc/{process}/net/netstat"))?;
    let snmp = fs::read_to_string(format!("/proc/{process}/net/snmp"))?;
    Snapshot::from_texts([netstat.as_str(), snmp.as_str()])
        .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_and_thread_read_their_namespaces_counters() {
        let by_pid = read_namespace_counters(std::process::id()).expect("its counters read");
        assert!(by_pid.get("TcpExt", "ListenOverflows").is_some());
        assert!(by_pid.get("Tcp", "RetransSegs").is_some());
        let by_thread = read_thread_counters().expect("this thread's counters read");
        assert!(by_thread.get("TcpExt", "ListenOverflows").is_some());
    }

    #[test]
    fn a_pid_that_does_not_exist_is_an_error() {
        assert!(read_namespace_counters(u32::MAX).is_err());
    }
}
