//! Root test of the live screen: tcpscope runs in tmux while a client in a
//! network namespace of this test connects to a port whose SYNs the server
//! namespace drops; the attempt must appear in the SYN_SENT pane with its
//! owner, its local port and its retries. Without root it says why it is
//! skipped and passes.

mod screen_support;
mod support;

use std::{
    net::{Ipv4Addr, SocketAddr, TcpStream},
    time::Duration,
};

use screen_support::{TempDir, Tmux, bin};
use support::netns::{CLIENT_V4, Lab, SERVER_V4, is_root};

const PORT: u16 = 23401;
const CLIENT: Ipv4Addr = CLIENT_V4;
const SERVER: Ipv4Addr = SERVER_V4;

/// A lab whose server drops SYNs to [`PORT`], its client retrying them
/// exactly doubling (tcp_syn_linear_timeouts=0).
fn syn_black_hole() -> Lab {
    let lab = Lab::new("screen");
    lab.client.syn_rtos_double();
    let port = PORT.to_string();
    lab.server.iptables(
        false,
        &["-A", "INPUT", "-p", "tcp", "--dport", &port, "-j", "DROP"],
    );
    lab
}

#[test]
fn a_blackholed_connect_shows_its_retries_in_the_syn_sent_pane() {
    if !is_root() {
        eprintln!("skipped: the live screen test needs root (network namespaces, eBPF)");
        return;
    }
    let lab = syn_black_hole();
    let dir = TempDir::new("live");
    let command = format!("{} --port {PORT} --duration 60s", bin());
    let tmux = Tmux::start(&dir.0, 160, 48, &command);
    tmux.wait_for("the live screen", Duration::from_secs(30), |screen| {
        screen.contains("LIVE") && screen.contains("SYN_SENT retries (0)")
    });
    // The connect hangs until the kernel gives up; the test does not wait.
    let server = SocketAddr::from((SERVER, PORT));
    lab.client.spawn("syn-blackhole", move || {
        let _ = TcpStream::connect_timeout(&server, Duration::from_secs(30));
    });
    // SYNs at 0, 1 and 3 s (tcp_syn_linear_timeouts=0): three by 3.5 s.
    let screen = tmux.wait_for(
        "the attempt with 3 SYNs",
        Duration::from_secs(15),
        |screen| {
            screen.lines().any(|line| {
                line.contains(&format!("{SERVER}:{PORT}"))
                    && line.contains("in progress")
                    && line.split_whitespace().any(|word| word == "3")
            })
        },
    );
    let row = screen
        .lines()
        .find(|line| line.contains("in progress"))
        .unwrap_or_default();
    let pid = std::process::id().to_string();
    assert!(
        row.contains(&format!("{pid}/syn-blackhole")),
        "the owner: {row}"
    );
    assert!(
        row.contains(&format!("{CLIENT}:")) && !row.contains(&format!("{CLIENT}:0 ")),
        "{row}"
    );
    assert!(row.contains("2.0s"), "the last RTO was 2 s: {row}");
    assert!(screen.contains("SYN_SENT retries (1)"), "{screen}");
    tmux.keys(&["q"]);
    tmux.wait_for("tcpscope to quit", Duration::from_secs(10), |_| {
        tmux.exited()
    });
}
