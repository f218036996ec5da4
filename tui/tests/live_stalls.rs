//! Root integration tests of stalled senders: a flow with bytes queued and
//! no forward progress is reported by a `stall` line with its cause, read
//! from the socket tables' `tcp_info`. A receiver that stops reading closes
//! the window while its peer stays alive; a black-holed peer leaves the
//! sender retransmitting. Without root each test says why it is skipped.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::lines::{Flow, int};
use support::netns::{CLIENT_V4, Lab, Namespace, SERVER_V4};
use support::scenario::{listen_in, skipped};
use support::tcpscope::{Tcpscope, dump};

const PORT_ZERO_WINDOW: u16 = 23801;
const PORT_BLACK_HOLE: u16 = 23802;

/// A stall is flagged after 3 s without progress, read from surveys a
/// second apart; this leaves room for a slow first survey.
const STALL_WAIT: Duration = Duration::from_secs(12);

fn connect_from(ns: &Namespace, port: u16) -> TcpStream {
    let server = SocketAddr::from((SERVER_V4, port));
    ns.spawn("client", move || {
        TcpStream::connect_timeout(&server, Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("connect to {server}: {e}"))
    })
    .join()
    .expect("client thread panicked")
}

/// Writes until the send buffer stays full for a while; returns the bytes
/// written.
fn fill_send_buffer(stream: &mut TcpStream) -> usize {
    stream.set_nonblocking(true).expect("set_nonblocking");
    let chunk = [7u8; 16 * 1024];
    let mut written = 0;
    let mut full_since: Option<Instant> = None;
    while full_since.is_none_or(|since| since.elapsed() < Duration::from_millis(500)) {
        match stream.write(&chunk) {
            Ok(n) => {
                written += n;
                full_since = None;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                full_since.get_or_insert_with(Instant::now);
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("write into the send buffer: {e}"),
        }
    }
    written
}

fn client_flow(lab: &Lab, stream: &TcpStream, port: u16) -> Flow {
    Flow {
        netns: lab.client.inode(),
        daddr: SERVER_V4.into(),
        dport: port,
        sport: Some(stream.local_addr().expect("local address").port()),
    }
}

fn is_stall(flow: &Flow, line: &Value) -> bool {
    line["kind"] == "stall" && flow.matches(line)
}

#[test]
fn a_receiver_that_stops_reading_stalls_the_sender_on_a_zero_window() {
    if skipped("a_receiver_that_stops_reading_stalls_the_sender_on_a_zero_window") {
        return;
    }
    let lab = Lab::new("zero-window");
    let listener = listen_in(&lab.server, SocketAddr::from((SERVER_V4, PORT_ZERO_WINDOW)));
    let mut stream = connect_from(&lab.client, PORT_ZERO_WINDOW);
    let (mut peer, _) = listener.accept().expect("accept");
    let written = fill_send_buffer(&mut stream);
    let flow = client_flow(&lab, &stream, PORT_ZERO_WINDOW);

    let scope = Tcpscope::start(&[PORT_ZERO_WINDOW]);
    let stall = scope.expect_line("a stall line of the client flow", STALL_WAIT, |v| {
        is_stall(&flow, v)
    });
    assert_eq!(stall["cause"], "zero_window", "{stall}");
    assert_eq!(stall["peer_alive"], true, "{stall}");
    assert_eq!(int(&stall, "snd_wnd"), 0, "{stall}");
    assert!(int(&stall, "stalled_ms") >= 3000, "{stall}");
    assert!(
        int(&stall, "notsent_bytes") + int(&stall, "unacked") > 0,
        "{stall}"
    );
    assert_eq!(stall["state"], "ESTABLISHED", "{stall}");
    assert_eq!(
        int(&stall, "owner_pid"),
        i64::from(std::process::id()),
        "{stall}"
    );

    // The receiver reads again: the stall ends.
    let reader = std::thread::spawn(move || {
        let mut buffer = vec![0; 64 * 1024];
        let mut read = 0;
        while read < written {
            match peer.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => read += n,
            }
        }
        read
    });
    let end = scope.expect_line("a stall_end line of the client flow", STALL_WAIT, |v| {
        v["kind"] == "stall_end" && flow.matches(v)
    });
    assert_eq!(end["closed"], false, "{end}");
    assert_eq!(end["cause"], "zero_window", "{end}");
    assert_eq!(reader.join().expect("reader panicked"), written);
    let run = scope.finish();
    eprintln!(
        "tcpscope lines of {flow:?}:\n{}",
        dump(run.lines.iter().filter(|v| flow.matches(v)))
    );
    let stalls = flow.lines(&run.lines, "stall");
    assert_eq!(stalls.len(), 1, "one stall, one cause:\n{}", dump(stalls));
    drop((stream, listener));
}

#[test]
fn a_black_holed_peer_stalls_the_sender_retransmitting() {
    if skipped("a_black_holed_peer_stalls_the_sender_retransmitting") {
        return;
    }
    let lab = Lab::new("stall-black-hole");
    // Far from giving up (about 15 minutes) while the stall is detected.
    lab.client.sysctl("net.ipv4.tcp_retries2", "15");
    let listener = listen_in(&lab.server, SocketAddr::from((SERVER_V4, PORT_BLACK_HOLE)));
    let mut stream = connect_from(&lab.client, PORT_BLACK_HOLE);
    let (_peer, _) = listener.accept().expect("accept");
    stream.write_all(b"hello").expect("write");
    let flow = client_flow(&lab, &stream, PORT_BLACK_HOLE);

    let scope = Tcpscope::start(&[PORT_BLACK_HOLE]);
    let client = CLIENT_V4.to_string();
    lab.server
        .iptables(false, &["-I", "INPUT", "-s", &client, "-j", "DROP"]);
    stream
        .write_all(&[7; 1000])
        .expect("write into the send buffer");

    let stall = scope.expect_line("a stall line of the client flow", STALL_WAIT, |v| {
        is_stall(&flow, v)
    });
    let run = scope.finish();
    eprintln!(
        "tcpscope lines of {flow:?}:\n{}",
        dump(run.lines.iter().filter(|v| flow.matches(v)))
    );
    assert_eq!(stall["cause"], "retransmitting", "{stall}");
    assert_eq!(stall["peer_alive"], Value::Null, "{stall}");
    assert!(int(&stall, "unacked") > 0, "{stall}");
    assert!(int(&stall, "backoff") > 0, "{stall}");
    assert!(int(&stall, "stalled_ms") >= 3000, "{stall}");
    assert!(
        flow.lines(&run.lines, "retransmit").len() >= 2,
        "the probes saw the retransmissions too:\n{}",
        dump(run.lines.iter().filter(|v| flow.matches(v)))
    );
    drop((stream, listener));
}
