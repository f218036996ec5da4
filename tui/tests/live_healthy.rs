//! Root integration test of the healthy path (issue 12): the probes keep
//! young connections that stay clean to themselves and count them per
//! destination, and nothing the screen or the JSON shows is lost for it.
//! During a storm of healthy connections to one destination, three
//! connects go into a black hole and one connection stays open for three
//! seconds. The storm's destination line counts every attempt and every
//! handshake exactly; each black-holed connect is told whole (its open with
//! its owner, its SYN retry, its timeout); the long-lived flow is in the
//! table from its open, with its owner.

mod support;

use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::kernel::count_from_env;
use support::lines::{assert_text, int, text};
use support::netns::Lab;
use support::scenario::{FLOW_END_WAIT, skipped};
use support::storm;
use support::tcpscope::{Tcpscope, dump};

const STORM_PORT: u16 = 23241;
const BLACK_HOLE_PORT: u16 = 23242;
const LONG_LIVED_PORT: u16 = 23243;
/// Connections in the storm; TCPSCOPE_STORM_CONNECTIONS overrides it (the
/// kernel matrix makes fewer: its guests run without KVM).
const CONNECTIONS: usize = 20_000;
const CLIENT_THREADS: usize = 2;
const BLACK_HOLED: usize = 3;
const LONG_LIVED_FOR: Duration = Duration::from_secs(3);

/// A listener in the lab's server namespace with room for a storm, and a
/// thread that accepts, reads to the client's FIN and closes, until `done`.
fn serve(lab: &Lab, port: u16, done: &Arc<AtomicBool>) -> JoinHandle<()> {
    let address = SocketAddr::new(lab.server_addr(false), port);
    storm::accept(
        storm::listener(&lab.server, address),
        done,
        LONG_LIVED_FOR * 2,
    )
}

fn lines_of<'a>(lines: &'a [Value], kind: &str, dport: u16) -> Vec<&'a Value> {
    lines
        .iter()
        .filter(|v| v["kind"] == kind && v["dport"] == dport)
        .collect()
}

#[test]
fn a_storm_is_counted_exactly_and_what_goes_wrong_in_it_is_told_whole() {
    let test = "a_storm_is_counted_exactly_and_what_goes_wrong_in_it_is_told_whole";
    if skipped(test) {
        return;
    }
    let lab = Lab::new("healthy");
    // One SYN retry after 1 s, then the kernel gives up 2 s later.
    lab.client.sysctl("net.ipv4.tcp_syn_retries", "1");
    lab.client.syn_rtos_double();
    let dport = BLACK_HOLE_PORT.to_string();
    lab.server.iptables(
        false,
        &["-A", "INPUT", "-p", "tcp", "--dport", &dport, "-j", "DROP"],
    );
    let done = Arc::new(AtomicBool::new(false));
    let servers = [STORM_PORT, LONG_LIVED_PORT].map(|port| serve(&lab, port, &done));
    let scope = Tcpscope::start(&[STORM_PORT, BLACK_HOLE_PORT, LONG_LIVED_PORT]);
    let me = std::process::id();
    let server = |port| SocketAddr::new(lab.server_addr(false), port);

    let connections = count_from_env("TCPSCOPE_STORM_CONNECTIONS", CONNECTIONS);
    let started = Instant::now();
    let clients = storm::clients(&lab.client, server(STORM_PORT), CLIENT_THREADS, connections);
    let black_holed: Vec<_> = (0..BLACK_HOLED)
        .map(|_| {
            let to = server(BLACK_HOLE_PORT);
            lab.client
                .spawn("black-holed", move || TcpStream::connect(to).map(|_| ()))
        })
        .collect();
    let long_lived = {
        let to = server(LONG_LIVED_PORT);
        lab.client.spawn("long-lived", move || {
            let stream = TcpStream::connect(to).expect("the long-lived connect");
            let local = stream.local_addr().expect("its local end");
            std::thread::sleep(LONG_LIVED_FOR);
            local
        })
    };
    let failed = storm::failed(clients);
    let storm_took = started.elapsed();
    let long_lived = long_lived.join().expect("long-lived thread panicked");
    for client in black_holed {
        let error = client
            .join()
            .expect("black-holed thread panicked")
            .expect_err("a connect through the black hole succeeded");
        assert_eq!(error.raw_os_error(), Some(libc::ETIMEDOUT), "{error}");
    }
    let ended = |v: &Value| v["kind"] == "flow_end" && v["dport"] == LONG_LIVED_PORT;
    scope.wait_for_count(1, FLOW_END_WAIT, ended);
    // The probes' counts reach userspace every second.
    std::thread::sleep(Duration::from_secs(2));
    let run = scope.finish();
    done.store(true, Ordering::Relaxed);
    for server in servers {
        server.join().expect("server thread panicked");
    }
    assert!(run.status.success(), "{}: {}", run.status, run.stderr);
    let lines = &run.lines;
    let stats = lines
        .iter()
        .rev()
        .find(|v| v["kind"] == "stats")
        .expect("stats");
    eprintln!(
        "{test}: {connections} connections in {:.1} s ({failed} failed); tcpscope: events {}, \
         lost {}",
        storm_took.as_secs_f64(),
        int(stats, "events"),
        int(stats, "lost"),
    );
    assert_eq!(failed, 0, "connects of the storm failed");

    // Every attempt and every handshake of the storm, exactly.
    let destination = lines_of(lines, "destination", STORM_PORT);
    let [destination] = destination.as_slice() else {
        panic!("one destination line for the storm:\n{}", dump(lines));
    };
    let expected = i64::try_from(connections).expect("count");
    assert_eq!(int(destination, "attempts"), expected, "{destination}");
    assert_eq!(int(destination, "established"), expected, "{destination}");

    // Each black-holed connect whole: its open, owned; its one SYN retry;
    // its timeout.
    let opened = lines_of(lines, "opened", BLACK_HOLE_PORT);
    assert_eq!(opened.len(), BLACK_HOLED, "opened lines:\n{}", dump(lines));
    for open in &opened {
        assert_text(open, "opened_as", "SYN_SENT");
        assert_eq!(
            int(open, "pid"),
            i64::from(me),
            "the connect's owner: {open}"
        );
        let sock = text(open, "sock");
        let retries: Vec<_> = lines
            .iter()
            .filter(|v| v["kind"] == "retransmit" && v["sock"] == sock)
            .collect();
        let [retry] = retries.as_slice() else {
            panic!("one SYN retry of {sock}:\n{}", dump(lines));
        };
        assert_eq!(
            int(open, "sport"),
            int(retry, "sport"),
            "the open names the local port the kernel chose: {open}"
        );
    }
    let ends = lines_of(lines, "flow_end", BLACK_HOLE_PORT);
    assert_eq!(ends.len(), BLACK_HOLED, "flow_end lines:\n{}", dump(lines));
    for end in ends {
        assert_text(end, "reason", "timeout");
        assert_eq!(int(end, "retransmits"), 1, "{end}");
        assert_eq!(end["seen_from_start"], true, "{end}");
        assert_eq!(int(end, "owner_pid"), i64::from(me), "{end}");
    }
    let black_hole = lines_of(lines, "destination", BLACK_HOLE_PORT);
    let [black_hole] = black_hole.as_slice() else {
        panic!("one destination line for the black hole:\n{}", dump(lines));
    };
    assert_text(black_hole, "verdict", "black-holed");
    assert_eq!(
        int(black_hole, "attempts"),
        BLACK_HOLED as i64,
        "{black_hole}"
    );
    assert_eq!(
        int(black_hole, "timeouts"),
        BLACK_HOLED as i64,
        "{black_hole}"
    );

    // The long-lived flow: told after its first second, from its open,
    // with its owner; its end seen.
    let port = i64::from(long_lived.port());
    let mine = |v: &&Value| int(v, "sport") == port;
    let opened: Vec<_> = lines_of(lines, "opened", LONG_LIVED_PORT)
        .into_iter()
        .filter(mine)
        .collect();
    let [opened] = opened.as_slice() else {
        panic!("one opened line for {long_lived}:\n{}", dump(lines));
    };
    assert_eq!(int(opened, "pid"), i64::from(me), "{opened}");
    assert!(opened["established_ts"].is_string(), "{opened}");
    let end = lines_of(lines, "flow_end", LONG_LIVED_PORT)
        .into_iter()
        .find(mine)
        .unwrap_or_else(|| panic!("the end of {long_lived}:\n{}", dump(lines)));
    assert_text(end, "reason", "closed");
    assert_eq!(int(end, "owner_pid"), i64::from(me), "{end}");
    assert_eq!(end["seen_from_start"], true, "{end}");
    let lived = int(end, "duration_ms");
    assert!(
        lived >= i64::try_from(LONG_LIVED_FOR.as_millis()).expect("ms") - 100,
        "{end}"
    );
}
