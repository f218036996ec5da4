//! Root integration tests of the live event pipeline: each test runs the real
//! `tcpscope --json` while it makes the kernel retransmit, time out, refuse and
//! reset connections between two network namespaces it creates, then asserts on
//! tcpscope's own output. Timings follow /work/shared/PLATFORM.md (HZ=250):
//! the kernel checks its timers only when they fire, so durations are asserted
//! as windows. Without root each test prints why it is skipped and passes,
//! except the unprivileged-run test, which runs either way.

mod support;

use serde_json::Value;
use std::io::{Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::lines::{Flow, assert_stack_has, assert_text, assert_within, int, text};
use support::netns::{CLIENT_V4, Lab, Namespace, is_root, require_tool};
use support::scenario::{
    RTO_SLACK_MS, finish_after_flow_end, listen_in, reset_on_close, skipped, write_into_black_hole,
};
use support::tcpscope::{Run, Tcpscope, dump};

/// One port per test: tcpscope sees every namespace, its --port filter keeps
/// each test's run to its own flows.
const PORT_SYN_TIMEOUT_V4: u16 = 23101;
const PORT_SYN_TIMEOUT_V6: u16 = 23102;
const PORT_REFUSED: u16 = 23103;
const PORT_BLACKHOLE: u16 = 23104;
const PORT_RESET_LINGER: u16 = 23105;
const PORT_RESET_RESTART: u16 = 23106;
const PORT_CLOSED: u16 = 23107;
const PORT_ABANDONED: u16 = 23108;
const PORT_RESET_SENT: u16 = 23109;

/// A connection from `ns` to `server`, and when its connect() started.
fn connect_from(ns: &Namespace, server: SocketAddr) -> (TcpStream, Instant) {
    let (result, started) = ns
        .spawn("client", move || {
            let started = Instant::now();
            (TcpStream::connect(server), started)
        })
        .join()
        .expect("client thread panicked");
    let stream = result.unwrap_or_else(|e| panic!("connect to {server} failed: {e}"));
    (stream, started)
}

/// The client flow of a lab towards `port` on the server.
fn client_flow(lab: &Lab, ipv6: bool, port: u16, sport: Option<u16>) -> Flow {
    Flow {
        netns: lab.client.inode(),
        daddr: lab.server_addr(ipv6),
        dport: port,
        sport,
    }
}

/// Asserts who owns the flow: this test process.
fn assert_owned_by_this_process(end: &Value) {
    assert_eq!(
        int(end, "owner_pid"),
        i64::from(std::process::id()),
        "owner_pid should be this test process in {end}"
    );
    assert!(
        !text(end, "owner_comm").is_empty(),
        "owner_comm is empty in {end}"
    );
}

/// Asserts that each timer RTO is twice the previous one, within a jiffy or two.
fn assert_rto_doubles(retransmits: &[&Value], lines: &[Value]) {
    for pair in retransmits.windows(2) {
        let (before, after) = (int(pair[0], "rto_ms"), int(pair[1], "rto_ms"));
        assert!(
            (after - 2 * before).abs() <= RTO_SLACK_MS,
            "RTO should double from {before} ms, got {after} ms; retransmits:\n{}all lines:\n{}",
            dump(retransmits.iter().copied()),
            dump(lines)
        );
    }
}

/// SYN black hole with tcp_syn_retries=2, tcp_syn_linear_timeouts=0: SYN
/// retransmits after 1 s and 2 s more, the kernel gives up 4 s later.
fn syn_timeout_scenario(test: &str, lab_name: &str, ipv6: bool, port: u16) {
    if skipped(test) {
        return;
    }
    let lab = Lab::new(lab_name);
    lab.client.sysctl("net.ipv4.tcp_syn_retries", "2");
    lab.client.syn_rtos_double();
    let dport = port.to_string();
    let drop_syns = ["-A", "INPUT", "-p", "tcp", "--dport", &dport, "-j", "DROP"];
    lab.server.iptables(ipv6, &drop_syns);
    let scope = Tcpscope::start(&[port]);

    let server = SocketAddr::new(lab.server_addr(ipv6), port);
    let (result, elapsed) = lab
        .client
        .spawn("syn-client", move || {
            let started = Instant::now();
            (TcpStream::connect(server), started.elapsed())
        })
        .join()
        .expect("client thread panicked");
    let error = result.expect_err("connect through a SYN black hole succeeded");
    assert_eq!(
        error.raw_os_error(),
        Some(libc::ETIMEDOUT),
        "connect should time out, got {error} after {elapsed:?}"
    );

    let flow = client_flow(&lab, ipv6, port, None);
    let run = finish_after_flow_end(scope, flow);
    let lines = &run.lines;
    let end = flow.end(lines);
    let retransmits = flow.lines(lines, "retransmit");
    let all = dump(lines);

    let rtos: Vec<i64> = retransmits.iter().map(|v| int(v, "rto_ms")).collect();
    assert!(
        rtos.len() == 2
            && (rtos[0] - 1000).abs() <= RTO_SLACK_MS
            && (rtos[1] - 2000).abs() <= RTO_SLACK_MS,
        "expected two SYN retransmits with rto_ms 1000 then 2000, got {rtos:?}; lines:\n{all}"
    );
    for retransmit in &retransmits {
        assert_eq!(
            retransmit["tlp"], false,
            "a SYN retransmit is no TLP: {retransmit}"
        );
        assert_text(retransmit, "cause", "timer");
        assert_eq!(
            retransmit["sock"], end["sock"],
            "socket differs: {retransmit} vs {end}"
        );
        assert_eq!(
            retransmit["sport"], end["sport"],
            "sport differs: {retransmit} vs {end}"
        );
    }
    let gave_up = flow.lines(lines, "state");
    assert!(
        gave_up.iter().any(|v| v["old_state"] == "SYN_SENT"
            && v["new_state"] == "CLOSE"
            && v["err"] == "ETIMEDOUT"),
        "no SYN_SENT -> CLOSE state line with err ETIMEDOUT; lines:\n{all}"
    );

    assert_eq!(
        int(end, "family"),
        if ipv6 { 6 } else { 4 },
        "family in {end}"
    );
    assert!(
        int(end, "sport") > 0,
        "the kernel-chosen sport is missing in {end}"
    );
    assert_text(end, "reason", "timeout");
    assert_text(end, "err", "ETIMEDOUT");
    assert_text(end, "last_state", "SYN_SENT");
    assert_eq!(int(end, "retransmits"), 2, "retransmit count in {end}");
    assert_owned_by_this_process(end);
    assert_stack_has(end, "tcp_retransmit_timer");
    // Kernel window: 1 + 2 + 4 s, checked when the timer fires.
    assert_within(end, "duration_ms", 6900, 8500);
    let measured = i64::try_from(elapsed.as_millis()).expect("elapsed fits in i64");
    assert_within(end, "duration_ms", measured - 250, measured + 250);
}

#[test]
fn syn_black_hole_retransmits_then_times_out() {
    syn_timeout_scenario(
        "syn_black_hole_retransmits_then_times_out",
        "syn-timeout-v4",
        false,
        PORT_SYN_TIMEOUT_V4,
    );
}

#[test]
fn syn_black_hole_retransmits_then_times_out_ipv6() {
    syn_timeout_scenario(
        "syn_black_hole_retransmits_then_times_out_ipv6",
        "syn-timeout-v6",
        true,
        PORT_SYN_TIMEOUT_V6,
    );
}

#[test]
fn connect_to_closed_port_is_refused() {
    if skipped("connect_to_closed_port_is_refused") {
        return;
    }
    let lab = Lab::new("refused");
    let scope = Tcpscope::start(&[PORT_REFUSED]);
    let server = SocketAddr::new(lab.server_addr(false), PORT_REFUSED);
    let error = lab
        .client
        .spawn("refused-client", move || TcpStream::connect(server))
        .join()
        .expect("client thread panicked")
        .expect_err("connect to a port without listener succeeded");
    assert_eq!(
        error.raw_os_error(),
        Some(libc::ECONNREFUSED),
        "got {error}"
    );

    let flow = client_flow(&lab, false, PORT_REFUSED, None);
    let run = finish_after_flow_end(scope, flow);
    let end = flow.end(&run.lines);
    assert_text(end, "reason", "refused");
    assert_text(end, "err", "ECONNREFUSED");
    assert_text(end, "last_state", "SYN_SENT");
    assert_eq!(int(end, "retransmits"), 0, "retransmit count in {end}");
    assert_owned_by_this_process(end);
    assert_within(end, "duration_ms", 0, 1000);
}

#[test]
fn established_peer_black_hole_backs_off_then_times_out() {
    if skipped("established_peer_black_hole_backs_off_then_times_out") {
        return;
    }
    let lab = Lab::new("blackhole");
    lab.client.sysctl("net.ipv4.tcp_retries2", "3");
    let server = SocketAddr::new(lab.server_addr(false), PORT_BLACKHOLE);
    let listener = listen_in(&lab.server, server);
    let scope = Tcpscope::start(&[PORT_BLACKHOLE]);

    let (mut stream, connect_started) = connect_from(&lab.client, server);
    let (_accepted, _) = listener.accept().expect("accept failed");
    let sport = stream.local_addr().expect("client local address").port();
    let (error, loss_at, returned) =
        write_into_black_hole(&lab, &mut stream, Duration::from_secs(15));
    let gave_up_after = returned - loss_at;
    assert_eq!(
        error.raw_os_error(),
        Some(libc::ETIMEDOUT),
        "the kernel should give up with ETIMEDOUT, got {error} after {gave_up_after:?}"
    );

    let flow = client_flow(&lab, false, PORT_BLACKHOLE, Some(sport));
    let run = finish_after_flow_end(scope, flow);
    let lines = &run.lines;
    let end = flow.end(lines);
    let all_retransmits = flow.lines(lines, "retransmit");
    let timer: Vec<&Value> = all_retransmits
        .iter()
        .copied()
        .filter(|v| v["tlp"] == false)
        .collect();
    assert!(
        timer.len() >= 3,
        "expected at least 3 timer retransmits (PLATFORM.md: about +0.41, +0.84, +1.67, +3.34 s); lines:\n{}",
        dump(lines)
    );
    assert!(
        int(timer[0], "rto_ms") >= 200 - RTO_SLACK_MS,
        "the first RTO is below TCP_RTO_MIN: {}",
        timer[0]
    );
    assert_rto_doubles(&timer, lines);

    assert_text(end, "reason", "timeout");
    assert_text(end, "err", "ETIMEDOUT");
    assert_text(end, "last_state", "ESTABLISHED");
    assert_owned_by_this_process(end);
    assert_stack_has(end, "tcp_retransmit_timer");
    let counted = usize::try_from(int(end, "retransmits")).expect("retransmits >= 0");
    assert!(
        (timer.len()..=all_retransmits.len()).contains(&counted),
        "retransmits {counted} should count the {} retransmit lines (TLPs may be left out): {end}",
        all_retransmits.len()
    );
    // PLATFORM.md: ETIMEDOUT about 6.9 s after the first loss.
    let loss_offset = i64::try_from((loss_at - connect_started).as_millis()).expect("fits i64");
    assert_within(end, "duration_ms", loss_offset + 6000, loss_offset + 8000);
}

/// What the SO_LINGER-0 abort scenario leaves to assert on.
struct Abort {
    run: Run,
    client: Flow,
    server: Flow,
}

/// An established connection whose server closes its accepted socket with
/// SO_LINGER 0, so the server's kernel aborts it with a RST.
fn linger_abort_scenario(lab_name: &str, port: u16) -> Abort {
    let lab = Lab::new(lab_name);
    let server = SocketAddr::new(lab.server_addr(false), port);
    let listener = listen_in(&lab.server, server);
    let scope = Tcpscope::start(&[port]);

    let (mut stream, _) = connect_from(&lab.client, server);
    let (accepted, _) = listener.accept().expect("accept failed");
    let sport = stream.local_addr().expect("client local address").port();
    reset_on_close(&accepted);
    drop(accepted);
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("set_read_timeout");
    let error = stream
        .read(&mut [0; 16])
        .expect_err("read after the peer's RST returned data");
    assert_eq!(error.raw_os_error(), Some(libc::ECONNRESET), "got {error}");

    let client = client_flow(&lab, false, port, Some(sport));
    let server = Flow {
        netns: lab.server.inode(),
        daddr: IpAddr::V4(CLIENT_V4),
        dport: sport,
        sport: Some(port),
    };
    let run = finish_after_flow_end(scope, client);
    Abort {
        run,
        client,
        server,
    }
}

#[test]
fn reset_by_peer_ends_flow_as_reset() {
    if skipped("reset_by_peer_ends_flow_as_reset") {
        return;
    }
    let Abort { run, client, .. } = linger_abort_scenario("reset-linger", PORT_RESET_LINGER);
    let lines = &run.lines;
    assert!(
        !client.lines(lines, "reset_received").is_empty(),
        "no reset_received line for the client flow {client:?}; lines:\n{}",
        dump(lines)
    );
    let end = client.end(lines);
    assert_text(end, "reason", "reset");
    assert_text(end, "err", "ECONNRESET");
    assert_text(end, "last_state", "ESTABLISHED");
    assert_owned_by_this_process(end);
}

#[test]
fn aborting_close_shows_reset_sent() {
    if skipped("aborting_close_shows_reset_sent") {
        return;
    }
    let Abort { run, server, .. } = linger_abort_scenario("reset-sent", PORT_RESET_SENT);
    // The kernel's tcp:tcp_send_reset fires for the aborted socket after it
    // reached CLOSE (ftrace: state=TCP_CLOSE reason=TCP_STATE).
    assert!(
        !server.lines(&run.lines, "reset_sent").is_empty(),
        "no reset_sent line for the server's aborted socket {server:?}; lines:\n{}",
        dump(&run.lines)
    );
    // The server's own close is an abort, in its own process context: owned,
    // with the stack of the close, and its RST names the owner too.
    let end = server.end(&run.lines);
    assert_text(end, "reason", "aborted");
    assert_text(end, "last_state", "ESTABLISHED");
    assert_owned_by_this_process(end);
    assert_stack_has(end, "tcp_close");
    for reset in server.lines(&run.lines, "reset_sent") {
        assert_eq!(
            int(reset, "pid"),
            i64::from(std::process::id()),
            "the abort's RST is the owner's: {reset}"
        );
    }
}

#[test]
fn data_to_restarted_server_is_reset() {
    if skipped("data_to_restarted_server_is_reset") {
        return;
    }
    let lab = Lab::new("reset-restart");
    let server = SocketAddr::new(lab.server_addr(false), PORT_RESET_RESTART);
    let listener = listen_in(&lab.server, server);
    let scope = Tcpscope::start(&[PORT_RESET_RESTART]);

    let (mut stream, _) = connect_from(&lab.client, server);
    let (accepted, _) = listener.accept().expect("accept failed");
    let sport = stream.local_addr().expect("client local address").port();
    // The server process goes away: its kernel closes both sockets.
    drop(accepted);
    drop(listener);
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("set_read_timeout");
    let eof = stream.read(&mut [0; 16]).expect("read the server's FIN");
    assert_eq!(eof, 0, "the server's close should read as end of stream");
    // Data after the server's close is answered with a RST.
    stream.write_all(b"request").expect("write after the FIN");

    let flow = client_flow(&lab, false, PORT_RESET_RESTART, Some(sport));
    let run = finish_after_flow_end(scope, flow);
    let lines = &run.lines;
    assert!(
        !flow.lines(lines, "reset_received").is_empty(),
        "no reset_received line for the client flow {flow:?}; lines:\n{}",
        dump(lines)
    );
    let end = flow.end(lines);
    assert_text(end, "reason", "reset");
    // tcp_reset() in CLOSE_WAIT sets EPIPE.
    assert_text(end, "err", "EPIPE");
    assert_text(end, "last_state", "CLOSE_WAIT");
    assert_owned_by_this_process(end);
}

#[test]
fn normal_close_ends_flow_as_closed() {
    if skipped("normal_close_ends_flow_as_closed") {
        return;
    }
    let lab = Lab::new("closed");
    let server = SocketAddr::new(lab.server_addr(false), PORT_CLOSED);
    let listener = listen_in(&lab.server, server);
    let scope = Tcpscope::start(&[PORT_CLOSED]);

    let echo = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().expect("accept failed");
        let mut request = Vec::new();
        conn.read_to_end(&mut request).expect("server read");
        conn.write_all(&request).expect("server write");
    });
    let (mut stream, _) = connect_from(&lab.client, server);
    let sport = stream.local_addr().expect("client local address").port();
    // A clean connection shorter than a second is only counted by the
    // probes (the healthy path); this one lives past it, to be seen.
    std::thread::sleep(Duration::from_millis(1_200));
    stream.write_all(b"hello tcpscope").expect("client write");
    stream.shutdown(Shutdown::Write).expect("client shutdown");
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).expect("client read");
    assert_eq!(reply, b"hello tcpscope", "echo mismatch");
    echo.join().expect("echo server panicked");
    drop(stream);

    let flow = client_flow(&lab, false, PORT_CLOSED, Some(sport));
    let run = finish_after_flow_end(scope, flow);
    let lines = &run.lines;
    let namespaces = [lab.client.inode(), lab.server.inode()];
    let trouble: Vec<&Value> = lines
        .iter()
        .filter(|v| {
            namespaces.contains(&v["netns"].as_u64().unwrap_or(0))
                && [
                    "retransmit",
                    "synack_retransmit",
                    "reset_sent",
                    "reset_received",
                ]
                .iter()
                .any(|kind| v["kind"] == *kind)
        })
        .collect();
    assert!(
        trouble.is_empty(),
        "a clean exchange showed retransmits or resets:\n{}",
        dump(trouble)
    );
    let end = flow.end(lines);
    assert_text(end, "reason", "closed");
    assert!(end["err"].is_null(), "err should be null in {end}");
    assert_eq!(int(end, "retransmits"), 0, "retransmit count in {end}");
    assert_owned_by_this_process(end);
}

#[test]
fn connect_timeout_of_the_application_is_abandoned() {
    if skipped("connect_timeout_of_the_application_is_abandoned") {
        return;
    }
    let lab = Lab::new("abandoned");
    // SYN retransmits at 1 s and 3 s: the 2 s close falls between them.
    lab.client.syn_rtos_double();
    let dport = PORT_ABANDONED.to_string();
    lab.server.iptables(
        false,
        &["-A", "INPUT", "-p", "tcp", "--dport", &dport, "-j", "DROP"],
    );
    let scope = Tcpscope::start(&[PORT_ABANDONED]);

    let server = SocketAddr::new(lab.server_addr(false), PORT_ABANDONED);
    let error = lab
        .client
        .spawn("abandon-client", move || {
            TcpStream::connect_timeout(&server, Duration::from_secs(2))
        })
        .join()
        .expect("client thread panicked")
        .expect_err("connect through a SYN black hole succeeded");
    assert_eq!(error.kind(), std::io::ErrorKind::TimedOut, "got {error}");

    let flow = client_flow(&lab, false, PORT_ABANDONED, None);
    let run = finish_after_flow_end(scope, flow);
    let lines = &run.lines;
    let end = flow.end(lines);
    let rtos: Vec<i64> = flow
        .lines(lines, "retransmit")
        .iter()
        .map(|v| int(v, "rto_ms"))
        .collect();
    assert!(
        rtos.len() == 1 && (rtos[0] - 1000).abs() <= RTO_SLACK_MS,
        "expected one SYN retransmit with rto_ms 1000 before the close, got {rtos:?}; lines:\n{}",
        dump(lines)
    );
    assert_text(end, "reason", "abandoned");
    assert!(end["err"].is_null(), "err should be null in {end}");
    assert_text(end, "last_state", "SYN_SENT");
    assert_eq!(int(end, "retransmits"), 1, "retransmit count in {end}");
    assert_owned_by_this_process(end);
    assert_stack_has(end, "tcp_close");
    assert_within(end, "duration_ms", 1900, 2600);
}

#[test]
fn unprivileged_run_names_the_missing_capability() {
    let binary = support::tcpscope::binary();
    let mut command = if is_root() {
        require_tool("setpriv");
        let mut setpriv = Command::new("setpriv");
        setpriv.args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ]);
        setpriv.arg(&binary);
        setpriv
    } else {
        Command::new(binary)
    };
    let mut child = command
        .args(["--json", "--duration", "3s"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot spawn tcpscope unprivileged");
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().expect("wait for tcpscope").is_none() {
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("unprivileged tcpscope was still running after 20 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().expect("collect tcpscope output");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "tcpscope without privileges exited with success; stderr:\n{stderr}"
    );
    assert!(
        stderr.contains("CAP_BPF"),
        "stderr should name the missing capability CAP_BPF:\n{stderr}"
    );
    for panic_text in ["panicked", "stack backtrace", "RUST_BACKTRACE"] {
        assert!(
            !stderr.contains(panic_text),
            "stderr shows a Rust panic ({panic_text}):\n{stderr}"
        );
    }
}
