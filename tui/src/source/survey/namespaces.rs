//! The network namespaces on this box: one handle per namespace inode, found
//! through every process's /proc/<pid>/ns/net and the named namespaces
//! `ip netns` keeps under /run/netns (which may hold no process at all).

use std::{
    collections::HashSet,
    fs, io,
    os::{fd::AsRawFd, unix::fs::MetadataExt},
    path::{Path, PathBuf},
};

/// Where `ip netns add` bind-mounts the namespaces it names.
const NAMED: &str = "/run/netns";

/// A network namespace and a path that opens it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    pub inode: u32,
    /// /proc/<pid>/ns/net or /run/netns/<name>.
    pub path: PathBuf,
    /// A process in the namespace, when it was found through one.
    pub pid: Option<u32>,
}

impl Namespace {
    /// Runs `work` on a short-lived thread that has entered the namespace;
    /// in tcpscope's own namespace, where it is already, on this thread
    /// (entering any namespace, even one's own, takes CAP_SYS_ADMIN).
    pub fn enter_and<T: Send>(&self, work: impl FnOnce() -> io::Result<T> + Send) -> io::Result<T> {
        if own().is_some_and(|own| own.inode == self.inode) {
            return work();
        }
        let file = fs::File::open(&self.path)?;
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    // SAFETY: setns on a namespace file descriptor changes
                    // only this thread's network namespace; the thread ends
                    // right after.
                    if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                        return Err(io::Error::last_os_error());
                    }
                    work()
                })
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("namespace thread panicked")))
        })
    }
}

/// init's network namespace: the host's, when tcpscope may see it.
pub fn init() -> Option<u32> {
    Some(at(Path::new("/proc/1/ns/net"), None)?.inode)
}

/// tcpscope's own network namespace.
pub fn own() -> Option<Namespace> {
    at(Path::new("/proc/self/ns/net"), Some(std::process::id()))
}

/// Every network namespace reachable now, tcpscope's own first. Processes
/// that exit while the list is made are skipped.
pub fn list() -> Vec<Namespace> {
    let mut seen = HashSet::new();
    let mut namespaces = Vec::new();
    let mut add = |namespace: Option<Namespace>| {
        if let Some(namespace) = namespace
            && seen.insert(namespace.inode)
        {
            namespaces.push(namespace);
        }
    };
    add(own());
    for pid in pids() {
        add(at(
            &Path::new("/proc").join(pid.to_string()).join("ns/net"),
            Some(pid),
        ));
    }
    if let Ok(named) = fs::read_dir(NAMED) {
        for entry in named.flatten() {
            add(at(&entry.path(), None));
        }
    }
    namespaces
}

/// The namespace a path opens, when it opens one.
fn at(path: &Path, pid: Option<u32>) -> Option<Namespace> {
    let inode = fs::metadata(path).ok()?.ino();
    Some(Namespace {
        inode: u32::try_from(inode).ok()?,
        path: path.to_path_buf(),
        pid,
    })
}

/// The pids in /proc, in no particular order.
pub fn pids() -> impl Iterator<Item = u32> {
    fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_its_own_namespace_first_and_each_namespace_once() {
        let namespaces = list();
        let own = own().expect("/proc/self/ns/net");
        assert_eq!(namespaces.first(), Some(&own));
        let inodes: HashSet<u32> = namespaces.iter().map(|ns| ns.inode).collect();
        assert_eq!(inodes.len(), namespaces.len());
    }
}
