//! Network namespaces for the root integration tests: a `Lab` is a client and a
//! server namespace joined by a veth pair, with their own addresses, sysctls and
//! iptables rules, all deleted when the `Lab` drops (also when a test panics).
//! Nothing here touches the root namespace's links, addresses or sysctls.

use std::fs::File;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, PoisonError};
use std::thread::JoinHandle;

/// Every namespace a test creates is named `tcpscope-t<pid>-<test>-<role>`.
const PREFIX: &str = "tcpscope-t";

/// Where `ip netns` keeps its named namespaces.
const NETNS_DIR: &str = "/run/netns";

/// `ip netns add` mounts /run/netns on first use; concurrent first calls race,
/// so this process creates and deletes namespaces one at a time.
static IP_NETNS: Mutex<()> = Mutex::new(());

/// The client end of every lab.
pub const CLIENT_V4: Ipv4Addr = Ipv4Addr::new(10, 231, 0, 1);
/// The server end of every lab.
pub const SERVER_V4: Ipv4Addr = Ipv4Addr::new(10, 231, 0, 2);
/// The client end of every lab, IPv6.
pub const CLIENT_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x231, 0, 0, 0, 0, 0, 1);
/// The server end of every lab, IPv6.
pub const SERVER_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x231, 0, 0, 0, 0, 0, 2);

/// True when this process can create namespaces and load eBPF.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Whether the running kernel has the sysctl `key`, e.g.
/// `net.ipv4.tcp_rto_max_ms` (older kernels lack the newer ones).
pub fn kernel_has_sysctl(key: &str) -> bool {
    Path::new("/proc/sys").join(key.replace('.', "/")).exists()
}

/// Runs a program to completion and returns its stdout; panics with the
/// command line, exit status and stderr when it fails.
pub fn run(program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run `{program} {}`: {e}", args.join(" ")));
    assert!(
        output.status.success(),
        "`{program} {}` failed ({}): {}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Where a tool the tests drive is installed; panics with the fix when it is not.
pub fn require_tool(tool: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::env::split_paths(&path).chain(["/usr/sbin".into(), "/sbin".into()]);
    dirs.into_iter()
        .map(|dir| dir.join(tool))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!("`{tool}` is not installed: run scripts/setup.sh (it installs iproute2 and iptables)")
        })
}

/// One named network namespace.
#[derive(Debug, Clone)]
pub struct Namespace {
    /// The name under /run/netns.
    pub name: String,
}

impl Namespace {
    /// The namespace's inode number, which tcpscope reports as `netns`.
    pub fn inode(&self) -> u64 {
        let path = Path::new(NETNS_DIR).join(&self.name);
        std::fs::metadata(&path)
            .unwrap_or_else(|e| panic!("cannot stat {}: {e}", path.display()))
            .ino()
    }

    /// Runs a program inside this namespace (`ip netns exec`).
    pub fn exec(&self, program: &str, args: &[&str]) -> String {
        let mut full = vec!["netns", "exec", self.name.as_str(), program];
        full.extend_from_slice(args);
        run("ip", &full)
    }

    /// Sets a sysctl of this namespace only, e.g. `net.ipv4.tcp_syn_retries`.
    pub fn sysctl(&self, key: &str, value: &str) {
        assert!(
            kernel_has_sysctl(key),
            "this kernel has no {key}: skip the test on it (kernel_has_sysctl)"
        );
        self.exec("sysctl", &["-q", "-w", &format!("{key}={value}")]);
    }

    /// Turns tcp_syn_linear_timeouts off where the kernel has it: SYN RTOs
    /// then double from the first retry, which is how kernels without the
    /// sysctl behave anyway.
    pub fn syn_rtos_double(&self) {
        const LINEAR: &str = "net.ipv4.tcp_syn_linear_timeouts";
        if kernel_has_sysctl(LINEAR) {
            self.sysctl(LINEAR, "0");
        }
    }

    /// Adds an iptables (IPv4) or ip6tables (IPv6) rule inside this namespace,
    /// e.g. `&["-A", "INPUT", "-p", "tcp", "--dport", "80", "-j", "DROP"]`.
    /// The rule goes away with the namespace.
    pub fn iptables(&self, ipv6: bool, rule: &[&str]) {
        let tool = require_tool(if ipv6 { "ip6tables" } else { "iptables" });
        self.exec(&tool.to_string_lossy(), rule);
    }

    /// Moves the calling thread into this namespace; sockets it creates from
    /// then on live there. Only this thread moves, not the process.
    pub fn enter_current_thread(&self) {
        let path = Path::new(NETNS_DIR).join(&self.name);
        let file =
            File::open(&path).unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
        // SAFETY: the fd is valid for the duration of the call; setns only
        // changes the calling thread's network namespace.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(
            rc,
            0,
            "setns into {} failed: {}",
            self.name,
            std::io::Error::last_os_error()
        );
    }

    /// Runs `work` on a new thread named `thread_name` inside this namespace.
    pub fn spawn<T, F>(&self, thread_name: &str, work: F) -> JoinHandle<T>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let ns = self.clone();
        std::thread::Builder::new()
            .name(thread_name.to_owned())
            .spawn(move || {
                ns.enter_current_thread();
                work()
            })
            .expect("cannot spawn a thread")
    }
}

/// A client and a server namespace joined by a veth pair: the client has
/// `10.231.0.1/24` and `fd00:231::1/64`, the server `10.231.0.2/24` and `fd00:231::2/64`,
/// both have loopback up. Dropping the lab deletes both namespaces, which
/// removes the veth pair and every iptables rule inside them.
pub struct Lab {
    /// The namespace the test's client sockets live in.
    pub client: Namespace,
    /// The namespace the test's listeners (and firewall rules) live in.
    pub server: Namespace,
    created: Vec<String>,
}

impl Lab {
    /// Creates the two namespaces for the test `test` (unique per process),
    /// after deleting leftovers of test processes that are gone.
    pub fn new(test: &str) -> Lab {
        require_tool("ip");
        delete_stale_namespaces();
        let base = format!("{PREFIX}{}-{test}", std::process::id());
        let mut lab = Lab {
            client: Namespace {
                name: format!("{base}-c"),
            },
            server: Namespace {
                name: format!("{base}-s"),
            },
            created: Vec::new(),
        };
        for name in [lab.client.name.clone(), lab.server.name.clone()] {
            let _serial = IP_NETNS.lock().unwrap_or_else(PoisonError::into_inner);
            // A leftover of an earlier run of this pid would make `add` fail.
            if Path::new(NETNS_DIR).join(&name).exists() {
                delete_namespace(&name);
            }
            run("ip", &["netns", "add", &name]);
            lab.created.push(name);
        }
        let (c, s) = (lab.client.name.as_str(), lab.server.name.as_str());
        for ns in [c, s] {
            run("ip", &["-n", ns, "link", "set", "lo", "up"]);
        }
        run(
            "ip",
            &[
                "-n", c, "link", "add", "veth0", "type", "veth", "peer", "name", "veth1", "netns",
                s,
            ],
        );
        for (ns, dev, v4, v6) in [
            (c, "veth0", CLIENT_V4, CLIENT_V6),
            (s, "veth1", SERVER_V4, SERVER_V6),
        ] {
            run(
                "ip",
                &["-n", ns, "addr", "add", &format!("{v4}/24"), "dev", dev],
            );
            run(
                "ip",
                &[
                    "-n",
                    ns,
                    "addr",
                    "add",
                    &format!("{v6}/64"),
                    "dev",
                    dev,
                    "nodad",
                ],
            );
            run("ip", &["-n", ns, "link", "set", dev, "up"]);
        }
        lab
    }

    /// The server's address in the given family.
    pub fn server_addr(&self, ipv6: bool) -> IpAddr {
        if ipv6 {
            IpAddr::V6(SERVER_V6)
        } else {
            IpAddr::V4(SERVER_V4)
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for name in self.created.drain(..) {
            let _serial = IP_NETNS.lock().unwrap_or_else(PoisonError::into_inner);
            delete_namespace(&name);
        }
    }
}

/// Deletes one namespace; reports (never panics, this runs in Drop) when it
/// could not.
fn delete_namespace(name: &str) {
    match Command::new("ip").args(["netns", "delete", name]).output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => eprintln!(
            "warning: `ip netns delete {name}` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(e) => eprintln!("warning: cannot run `ip netns delete {name}`: {e}"),
    }
}

/// Deletes `tcpscope-t<pid>-*` namespaces whose test process has exited.
fn delete_stale_namespaces() {
    let Ok(entries) = std::fs::read_dir(NETNS_DIR) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _serial = IP_NETNS.lock().unwrap_or_else(PoisonError::into_inner);
            // Another thread of this process may have deleted it meanwhile.
            if entry.path().exists() {
                delete_namespace(&name);
            }
        }
    }
}
