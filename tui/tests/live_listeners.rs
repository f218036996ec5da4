//! Root integration tests of listeners in trouble: a SYN into a full accept
//! queue is dropped without any drop event, so tcpscope must say so from
//! the listener's queue and drop count, in a `listener` line; handshakes
//! whose SYN-ACKs never arrive wait half-open on the listener, which the
//! Listeners page counts with their SYN-ACK retransmissions. Without root
//! they say why they are skipped.

mod support;

use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::Command;
use std::time::Duration;

use support::lines::int;
use support::netns::{Namespace, SERVER_V4, kernel_has_sysctl};
use support::scenario::skipped;
use support::tcpscope::{Tcpscope, dump};

const PORT_FULL: u16 = 23821;
const CLIENTS: usize = 20;
const PORT_HALF_OPEN: u16 = 23822;
const HALF_OPEN_CLIENTS: usize = 3;

/// A few surveys: the connects, their dropped SYNs and a survey after.
const LISTENER_WAIT: Duration = Duration::from_secs(8);

fn sockaddr(ip: Ipv4Addr, port: u16) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(ip).to_be(),
        },
        sin_zero: [0; 8],
    }
}

const SOCKADDR_SIZE: libc::socklen_t = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;

/// A listener on `ip:port` with a backlog of `backlog`, which nothing
/// accepts from.
fn listen_with_backlog(ip: Ipv4Addr, port: u16, backlog: i32) -> io::Result<OwnedFd> {
    // SAFETY: plain socket calls on a descriptor this function owns (the
    // OwnedFd closes it on every path); the sockaddr lives on the stack for
    // the duration of the call.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let owned = OwnedFd::from_raw_fd(fd);
        let address = sockaddr(ip, port);
        if libc::bind(fd, (&raw const address).cast(), SOCKADDR_SIZE) != 0
            || libc::listen(fd, backlog) != 0
        {
            return Err(io::Error::last_os_error());
        }
        Ok(owned)
    }
}

/// Starts a connect to `server` without waiting for it.
fn connect_without_waiting(server: SocketAddr) -> io::Result<TcpStream> {
    let SocketAddr::V4(server) = server else {
        unreachable!("the lab's server is IPv4")
    };
    // SAFETY: as above; the descriptor is owned by the TcpStream at once.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_NONBLOCK, 0);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let stream = TcpStream::from_raw_fd(fd);
        let address = sockaddr(*server.ip(), server.port());
        if libc::connect(fd, (&raw const address).cast(), SOCKADDR_SIZE) != 0 {
            let error = io::Error::last_os_error();
            if error.raw_os_error() != Some(libc::EINPROGRESS) {
                return Err(error);
            }
        }
        Ok(stream)
    }
}

fn in_namespace<T: Send + 'static>(ns: &Namespace, work: impl FnOnce() -> T + Send + 'static) -> T {
    ns.spawn("lab", work).join().expect("lab thread panicked")
}

#[test]
fn a_listener_whose_accept_queue_overflows_is_flagged_full_with_its_drops() {
    if skipped("a_listener_whose_accept_queue_overflows_is_flagged_full_with_its_drops") {
        return;
    }
    let lab = support::netns::Lab::new("listener-full");
    let listener = in_namespace(&lab.server, || listen_with_backlog(SERVER_V4, PORT_FULL, 1))
        .unwrap_or_else(|e| panic!("listen on {SERVER_V4}:{PORT_FULL}: {e}"));
    let scope = Tcpscope::start(&[PORT_FULL]);

    let server = SocketAddr::from((SERVER_V4, PORT_FULL));
    let clients: Vec<TcpStream> = in_namespace(&lab.client, move || {
        (0..CLIENTS)
            .map(|_| connect_without_waiting(server))
            .collect::<io::Result<_>>()
    })
    .unwrap_or_else(|e| panic!("connect to {server}: {e}"));

    let netns = lab.server.inode();
    let is_ours = |v: &serde_json::Value| {
        v["kind"] == "listener" && v["netns"].as_u64() == Some(netns) && v["sport"] == PORT_FULL
    };
    let full = scope.expect_line("a full listener line", LISTENER_WAIT, |v| {
        is_ours(v) && v["full"] == true
    });
    let dropping = scope.expect_line("a listener line with rising drops", LISTENER_WAIT, |v| {
        is_ours(v) && v["dropping"] == true && int(v, "drops_delta") > 0
    });
    let run = scope.finish();
    eprintln!(
        "tcpscope's listener lines:\n{}",
        dump(run.lines.iter().filter(|v| is_ours(v)))
    );
    assert_eq!(int(&full, "backlog"), 1, "{full}");
    assert_eq!(int(&full, "depth"), 2, "backlog + 1 waiting: {full}");
    assert_eq!(full["saddr"], SERVER_V4.to_string(), "{full}");
    assert_eq!(
        int(&full, "owner_pid"),
        i64::from(std::process::id()),
        "{full}"
    );
    assert!(int(&dropping, "drops") > 0, "{dropping}");
    drop((clients, listener));
}

/// The `[page: listeners]` section of a snapshot file.
fn listeners_page(snapshot: &str) -> &str {
    let start = snapshot
        .find("[page: listeners]")
        .unwrap_or_else(|| panic!("no listeners page in the snapshot:\n{snapshot}"));
    let page = &snapshot[start..];
    match page[1..].find("\n[page: ") {
        Some(end) => &page[..=end],
        None => page,
    }
}

#[test]
fn handshakes_whose_syn_acks_are_lost_wait_half_open_on_the_listeners_page() {
    if skipped("handshakes_whose_syn_acks_are_lost_wait_half_open_on_the_listeners_page") {
        return;
    }
    let lab = support::netns::Lab::new("listener-half-open");
    // The client never sees a SYN-ACK. It resends its SYN every second
    // (linear timeouts), and the server answers each with its SYN-ACK
    // again, on top of the request's own timer.
    lab.client.iptables(
        false,
        &[
            "-A",
            "INPUT",
            "-p",
            "tcp",
            "--tcp-flags",
            "SYN,ACK",
            "SYN,ACK",
            "-j",
            "DROP",
        ],
    );
    // The client resends its SYN every second where the kernel can; the
    // server's own SYN-ACK retransmits (+1, +3, +7 s) suffice elsewhere.
    const LINEAR: &str = "net.ipv4.tcp_syn_linear_timeouts";
    if kernel_has_sysctl(LINEAR) {
        lab.client.sysctl(LINEAR, "8");
    }
    let listener = in_namespace(&lab.server, || {
        listen_with_backlog(SERVER_V4, PORT_HALF_OPEN, 16)
    })
    .unwrap_or_else(|e| panic!("listen on {SERVER_V4}:{PORT_HALF_OPEN}: {e}"));
    let file = std::env::temp_dir().join(format!(
        "tcpscope-test-{}-half-open.txt",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&file);
    let run = Command::new(support::tcpscope::binary())
        .arg("--snapshot")
        .arg(&file)
        .args(["--duration", "8s", "--port", &PORT_HALF_OPEN.to_string()])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("cannot spawn the tcpscope binary");
    let server = SocketAddr::from((SERVER_V4, PORT_HALF_OPEN));
    let clients: Vec<TcpStream> = in_namespace(&lab.client, move || {
        (0..HALF_OPEN_CLIENTS)
            .map(|_| connect_without_waiting(server))
            .collect::<io::Result<_>>()
    })
    .unwrap_or_else(|e| panic!("connect to {server}: {e}"));
    let output = run.wait_with_output().expect("tcpscope ran");
    let snapshot = std::fs::read_to_string(&file);
    let _ = std::fs::remove_file(&file);
    assert!(
        output.status.success(),
        "tcpscope --snapshot failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let snapshot = snapshot.expect("the snapshot file was written");
    let page = listeners_page(&snapshot);
    eprintln!("{page}");
    let address = format!("{SERVER_V4}:{PORT_HALF_OPEN}");
    let row = page
        .lines()
        .find(|line| line.contains(&address))
        .unwrap_or_else(|| panic!("no row for {address}:\n{page}"));
    // The last two columns: half-open connections, SYN-ACK retransmits.
    let columns: Vec<&str> = row.split_whitespace().collect();
    let [.., half_open, synack_retransmits] = columns.as_slice() else {
        panic!("too few columns: {row}");
    };
    assert_eq!(half_open.parse::<usize>(), Ok(HALF_OPEN_CLIENTS), "{row}");
    let synack_retransmits: usize = synack_retransmits.parse().expect(row);
    assert!(
        synack_retransmits >= HALF_OPEN_CLIENTS,
        "at least one SYN-ACK retransmit per handshake: {row}"
    );
    drop((clients, listener));
}
