//! Steps the root integration tests share: skipping without root, a
//! listener inside a namespace, and waiting for a flow's end before stopping
//! tcpscope.

use std::{
    io::{self, Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    time::{Duration, Instant},
};

use super::{
    lines::Flow,
    netns::{CLIENT_V4, Lab, Namespace, is_root},
    tcpscope::{Run, Tcpscope, dump},
};

/// How long a flow_end may lag behind the kernel ending the flow.
pub const FLOW_END_WAIT: Duration = Duration::from_secs(5);
/// Slack on RTOs: the kernel counts them in 4 ms jiffies.
pub const RTO_SLACK_MS: i64 = 10;

/// True (after saying so) when the test cannot run here.
pub fn skipped(test: &str) -> bool {
    if is_root() {
        return false;
    }
    eprintln!("skipped: {test}: needs root to create network namespaces and load eBPF");
    true
}

/// A listener bound to `addr` inside `ns`.
pub fn listen_in(ns: &Namespace, addr: SocketAddr) -> TcpListener {
    ns.spawn("server", move || TcpListener::bind(addr))
        .join()
        .expect("server thread panicked")
        .unwrap_or_else(|e| panic!("cannot listen on {addr} in {}: {e}", ns.name))
}

/// Waits for the flow's flow_end, then stops tcpscope.
pub fn finish_after_flow_end(scope: Tcpscope, flow: Flow) -> Run {
    scope.expect_line("flow_end of the client flow", FLOW_END_WAIT, |v| {
        v["kind"] == "flow_end" && flow.matches(v)
    });
    let run = scope.finish();
    assert!(
        run.status.success(),
        "tcpscope exited with {} after SIGTERM; stderr:\n{}",
        run.status,
        run.stderr
    );
    // Shown with --nocapture: what tcpscope said about the flow under test.
    eprintln!(
        "tcpscope lines of {flow:?}:\n{}",
        dump(run.lines.iter().filter(|v| flow.matches(v)))
    );
    run
}

/// Black-holes an established flow of `lab`: the server namespace drops
/// everything from the client, then the client writes and blocks in read
/// (for at most `wait`) until the kernel gives up. Returns the read's error,
/// when the loss began and when the read returned.
pub fn write_into_black_hole(
    lab: &Lab,
    stream: &mut TcpStream,
    wait: Duration,
) -> (io::Error, Instant, Instant) {
    let client = CLIENT_V4.to_string();
    lab.server
        .iptables(false, &["-I", "INPUT", "-s", &client, "-j", "DROP"]);
    let loss_at = Instant::now();
    stream
        .set_read_timeout(Some(wait))
        .expect("set_read_timeout");
    stream
        .write_all(&[7; 1000])
        .expect("write into the send buffer");
    let error = stream
        .read(&mut [0; 16])
        .expect_err("read from a black-holed peer returned data");
    (error, loss_at, Instant::now())
}

/// Sets SO_LINGER 0 on `stream`, so that closing it aborts the connection
/// with a RST instead of a FIN.
pub fn reset_on_close(stream: &TcpStream) {
    let abort = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: the fd is open and `abort` is a valid linger for its size.
    let rc = unsafe {
        libc::setsockopt(
            std::os::fd::AsRawFd::as_raw_fd(stream),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&raw const abort).cast(),
            libc::socklen_t::try_from(size_of::<libc::linger>()).expect("linger size"),
        )
    };
    assert_eq!(rc, 0, "SO_LINGER: {}", io::Error::last_os_error());
}
