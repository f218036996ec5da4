//! Root integration test of the destinations aggregate through
//! `tcpscope --json`: the `destination` lines printed at the end of a run
//! say, in one line per remote address:port, that a SYN black hole is
//! black-holed (attempts, SYN retransmits, timeouts, nothing established)
//! and that a closed port refuses.

mod support;

use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::lines::{assert_text, int};
use support::netns::Lab;
use support::scenario::{FLOW_END_WAIT, skipped};
use support::tcpscope::{Tcpscope, dump};

const PORT_BLACK_HOLE: u16 = 23701;
const PORT_REFUSED: u16 = 23702;
/// Clients that connect into the black hole.
const CLIENTS: usize = 3;

/// Connects from the lab's client namespace; returns the error and how
/// long the connect took.
fn failed_connect(lab: &Lab, server: SocketAddr) -> (std::io::Error, Duration) {
    let (result, took) = lab
        .client
        .spawn("client", move || {
            let started = Instant::now();
            (TcpStream::connect(server), started.elapsed())
        })
        .join()
        .expect("client thread panicked");
    (
        result.expect_err("a connect that should fail succeeded"),
        took,
    )
}

/// The only destination line for `dport`; panics with every line otherwise.
fn destination(lines: &[Value], dport: u16) -> &Value {
    let found: Vec<&Value> = lines
        .iter()
        .filter(|v| v["kind"] == "destination" && v["dport"] == dport)
        .collect();
    match found.as_slice() {
        [line] => line,
        _ => panic!(
            "expected one destination line for port {dport}, found {}; lines:\n{}",
            found.len(),
            dump(lines)
        ),
    }
}

#[test]
fn a_syn_black_hole_reads_black_holed_in_one_destination_line() {
    if skipped("a_syn_black_hole_reads_black_holed_in_one_destination_line") {
        return;
    }
    let lab = Lab::new("dest");
    // One SYN retransmit after 1 s, then the kernel gives up 2 s later.
    lab.client.sysctl("net.ipv4.tcp_syn_retries", "1");
    lab.client.syn_rtos_double();
    let dport = PORT_BLACK_HOLE.to_string();
    lab.server.iptables(
        false,
        &["-A", "INPUT", "-p", "tcp", "--dport", &dport, "-j", "DROP"],
    );
    let scope = Tcpscope::start(&[PORT_BLACK_HOLE, PORT_REFUSED]);

    let black_hole = SocketAddr::new(lab.server_addr(false), PORT_BLACK_HOLE);
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let lab_client = lab.client.clone();
            lab_client.spawn("syn-client", move || {
                let started = Instant::now();
                (TcpStream::connect(black_hole), started.elapsed())
            })
        })
        .collect();
    let refused = SocketAddr::new(lab.server_addr(false), PORT_REFUSED);
    let (error, _) = failed_connect(&lab, refused);
    assert_eq!(error.raw_os_error(), Some(libc::ECONNREFUSED), "{error}");
    for client in clients {
        let (result, took) = client.join().expect("client thread panicked");
        let error = result.expect_err("a connect through the black hole succeeded");
        assert_eq!(
            error.raw_os_error(),
            Some(libc::ETIMEDOUT),
            "{error} after {took:?}"
        );
    }
    let ends = |v: &Value| v["kind"] == "flow_end" && v["dport"] == PORT_BLACK_HOLE;
    scope.wait_for_count(CLIENTS, FLOW_END_WAIT, ends);
    let run = scope.finish();
    assert!(run.status.success(), "{}: {}", run.status, run.stderr);
    let lines = &run.lines;
    let timed_out = lines.iter().filter(|v| ends(v)).count();
    assert_eq!(timed_out, CLIENTS, "flow_end lines:\n{}", dump(lines));

    let line = destination(lines, PORT_BLACK_HOLE);
    eprintln!("destination line: {line}");
    assert_text(line, "daddr", &lab.server_addr(false).to_string());
    assert_text(line, "verdict", "black-holed");
    let clients = CLIENTS as i64;
    for (field, expected) in [
        ("attempts", clients),
        ("established", 0),
        ("timeouts", clients),
        ("refused", 0),
        ("syn_retransmits", clients),
    ] {
        assert_eq!(int(line, field), expected, "{field} in {line}");
    }
    // Each original SYN and each retransmission died in the server's
    // firewall: the kernel's drop reason is in the same line.
    assert_eq!(int(line, "drops"), 2 * clients, "{line}");
    assert_text(line, "last_drop_reason", "NETFILTER_DROP");
    let refused = destination(lines, PORT_REFUSED);
    assert_text(refused, "verdict", "refused");
    assert_eq!(int(refused, "refused"), 1, "{refused}");
    let order: Vec<i64> = lines
        .iter()
        .filter(|v| v["kind"] == "destination")
        .map(|v| int(v, "dport"))
        .collect();
    assert_eq!(
        order,
        [i64::from(PORT_BLACK_HOLE), i64::from(PORT_REFUSED)],
        "worst first, and only the ports asked for"
    );
}
