//! Root integration test of the counters through `tcpscope --json`: a
//! listener with a backlog of 1 that never accepts, hit by 20 clients,
//! makes ListenOverflows and ListenDrops move in the counters line of the
//! server's namespace, and ListenOverflows not in the root namespace's
//! (the test's own: pid 1's may not be readable in a container).

mod support;

use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::process::{Child, Command};
use std::time::Duration;

use serde_json::Value;
use support::netns::Lab;
use support::scenario::skipped;
use support::tcpscope::{Tcpscope, dump};

const PORT_OVERFLOW: u16 = 23721;
const CLIENTS: usize = 20;
/// How long a counters line may take: one survey a second, plus slack.
const COUNTERS_WAIT: Duration = Duration::from_secs(5);

/// A process the test started, killed when the test ends (also on panic).
struct Resident(Child);

impl Drop for Resident {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The sum of one counter's deltas over the counters lines of `netns`.
fn moved(lines: &[Value], netns: u64, counter: &str) -> i64 {
    lines
        .iter()
        .filter(|v| v["kind"] == "counters" && v["netns"].as_u64() == Some(netns))
        .filter_map(|v| v["deltas"][counter].as_i64())
        .sum()
}

fn root_listen_overflows() -> i64 {
    let text = std::fs::read_to_string("/proc/self/net/netstat").expect("root netstat");
    let mut lines = text.lines();
    while let (Some(header), Some(values)) = (lines.next(), lines.next()) {
        let column = header
            .split_whitespace()
            .position(|name| name == "ListenOverflows");
        if let Some(column) = column {
            let value = values.split_whitespace().nth(column);
            return value.and_then(|v| v.parse().ok()).expect("a number");
        }
    }
    panic!("no ListenOverflows in /proc/self/net/netstat")
}

#[test]
fn a_full_accept_queue_moves_listen_overflows_in_its_namespace_only() {
    if skipped("a_full_accept_queue_moves_listen_overflows_in_its_namespace_only") {
        return;
    }
    let lab = Lab::new("ctr");
    let server = SocketAddr::new(lab.server_addr(false), PORT_OVERFLOW);
    // A listener with a backlog of 1, never accepting.
    let listener = lab
        .server
        .spawn("listener", move || {
            let listener = std::net::TcpListener::bind(server)?;
            // SAFETY: listen on a valid socket fd only changes its backlog.
            let rc = unsafe { libc::listen(listener.as_raw_fd(), 1) };
            match rc {
                0 => Ok(listener),
                _ => Err(std::io::Error::last_os_error()),
            }
        })
        .join()
        .expect("listener thread panicked")
        .expect("listen with backlog 1");
    lab.client.sysctl("net.ipv4.tcp_syn_retries", "1");
    // tcpscope finds a namespace through a process in it, as a server's
    // would be: the listener above lives on a thread that has ended.
    let resident = Resident(
        Command::new("ip")
            .args(["netns", "exec", &lab.server.name, "sleep", "60"])
            .spawn()
            .expect("a process in the server namespace"),
    );
    let scope = Tcpscope::start(&[PORT_OVERFLOW]);
    // This test runs in the root namespace (pid 1's may not be readable).
    let root = std::fs::metadata("/proc/self/ns/net")
        .map(|meta| std::os::unix::fs::MetadataExt::ino(&meta))
        .expect("this process's namespace inode");
    let root_before = root_listen_overflows();

    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            lab.client.spawn("client", move || {
                let stream = TcpStream::connect_timeout(&server, Duration::from_secs(3));
                // Keep the connection open a moment so that the queue stays full.
                std::thread::sleep(Duration::from_millis(500));
                stream.is_ok()
            })
        })
        .collect();
    for client in clients {
        client.join().expect("client thread panicked");
    }
    let server_ns = lab.server.inode();
    let overflowed = |v: &Value| {
        v["kind"] == "counters"
            && v["netns"].as_u64() == Some(server_ns)
            && v["deltas"]["ListenOverflows"].as_i64() > Some(0)
    };
    scope.expect_line(
        "a counters line of the server namespace",
        COUNTERS_WAIT,
        overflowed,
    );
    // One more survey, so that every overflow is counted.
    std::thread::sleep(Duration::from_millis(1500));
    let run = scope.finish();
    drop(resident);
    drop(listener);
    let root_after = root_listen_overflows();
    assert!(run.status.success(), "{}: {}", run.status, run.stderr);
    let lines = &run.lines;
    let overflows = moved(lines, server_ns, "ListenOverflows");
    let drops = moved(lines, server_ns, "ListenDrops");
    eprintln!(
        "server namespace {server_ns}: ListenOverflows +{overflows}, ListenDrops +{drops}; \
         root ListenOverflows {root_before} -> {root_after}"
    );
    assert!(overflows > 0, "no ListenOverflows:\n{}", dump(lines));
    assert!(
        drops >= overflows,
        "ListenDrops counts overflows too:\n{}",
        dump(lines)
    );
    if root_after == root_before {
        assert_eq!(
            moved(lines, root, "ListenOverflows"),
            0,
            "the root namespace's line shows overflows that were not its own:\n{}",
            dump(lines)
        );
    }
    let client_ns = lab.client.inode();
    assert_eq!(
        moved(lines, client_ns, "ListenOverflows"),
        0,
        "the client namespace has no listener:\n{}",
        dump(lines)
    );
}
