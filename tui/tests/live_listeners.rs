//! Root integration test of listeners in trouble: a SYN into a full accept
//! queue is dropped without any drop event, so tcpscope must say so from
//! the listener's queue and drop count, in a `listener` line. Without root
//! it says why it is skipped.

mod support;

use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::fd::{FromRawFd, OwnedFd};
use std::time::Duration;

use support::lines::int;
use support::netns::{Namespace, SERVER_V4};
use support::scenario::skipped;
use support::tcpscope::{Tcpscope, dump};

const PORT_FULL: u16 = 23821;
const CLIENTS: usize = 20;

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
