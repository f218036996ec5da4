//! Root integration tests of the give-up forecast (issue 4): each test makes
//! the kernel really give up on a connection between two network namespaces
//! it creates, then checks that the give-up lies inside the window tcpscope
//! predicted at the flow's first timer retransmission. The give-up is taken
//! twice: as the flow_end line's `ts` (the kernel's CLOSE) and as the wall
//! clock when the client's blocking call returned ETIMEDOUT (read on the
//! clock tcpscope's times run on, see `TcpscopeClock`). Without root each
//! test prints why it is skipped and passes.

mod support;

use serde_json::Value;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant, SystemTime};
use support::lines::{Flow, assert_stack_has, assert_text, assert_within, int, seconds, time};
use support::netns::{Lab, kernel_has_sysctl};
use support::scenario::{
    RTO_SLACK_MS, finish_after_flow_end, listen_in, skipped, write_into_black_hole,
};
use support::tcpscope::{Run, Tcpscope, dump};

/// One port per test: tcpscope sees every namespace, its --port filter keeps
/// each test's run to its own flows.
const PORT_SYN_RETRIES_2: u16 = 23201;
const PORT_SYN_RETRIES_3: u16 = 23202;
const PORT_SYN_LINEAR: u16 = 23203;
const PORT_RETRIES2_3: u16 = 23204;
const PORT_RETRIES2_5: u16 = 23205;
const PORT_USER_TIMEOUT: u16 = 23206;
const PORT_RTO_MAX: u16 = 23207;

/// The client sees the give-up only once the kernel has woken it and its
/// blocking syscall has returned: its own clock reading may trail the
/// predicted `give_up_latest` by up to this much.
const SYSCALL_RETURN_SLACK: Duration = Duration::from_millis(50);
/// Where the test process's (root) namespace keeps the sysctls the tests
/// change in their own namespaces only.
const ROOT_RETRIES2: &str = "/proc/sys/net/ipv4/tcp_retries2";
const ROOT_SYN_RETRIES: &str = "/proc/sys/net/ipv4/tcp_syn_retries";

/// The root namespace's retry sysctls, read by this (root namespace) thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RootLimits {
    retries2: i64,
    syn_retries: i64,
}

impl RootLimits {
    fn read() -> RootLimits {
        let read = |path: &str| -> i64 {
            let value =
                std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
            value
                .trim()
                .parse()
                .unwrap_or_else(|e| panic!("{path} holds {value:?}, not a number: {e}"))
        };
        RootLimits {
            retries2: read(ROOT_RETRIES2),
            syn_retries: read(ROOT_SYN_RETRIES),
        }
    }

    /// Asserts that the test's namespace sysctls left the root namespace alone.
    fn assert_unchanged(self) {
        assert_eq!(
            RootLimits::read(),
            self,
            "the root namespace's retry sysctls changed during the test"
        );
    }
}

/// The wall clock as tcpscope's JSON times run: the kernel's monotonic clock
/// plus the wall-clock offset tcpscope read once at start. The client's
/// return is placed on it, so that a step of the system clock during a test
/// (seen on these VMs: +11.8 s in one run) does not read as a late return.
#[derive(Clone, Copy)]
struct TcpscopeClock {
    wall: SystemTime,
    monotonic: Instant,
}

impl TcpscopeClock {
    /// Sampled right after tcpscope started, when it read its own offset.
    fn sample() -> TcpscopeClock {
        TcpscopeClock {
            wall: SystemTime::now(),
            monotonic: Instant::now(),
        }
    }

    /// The wall-clock time of `instant` on this clock.
    fn at(self, instant: Instant) -> SystemTime {
        self.wall + instant.duration_since(self.monotonic)
    }

    /// Says so when the system clock was stepped since the sample.
    fn report_step(self, test: &str) {
        let step = seconds(self.at(Instant::now()), SystemTime::now());
        if step.abs() > 0.001 {
            eprintln!(
                "{test}: note: the system clock moved {step:+.6} s against the monotonic clock during the test"
            );
        }
    }
}

/// An integer field of the line's `limits` object.
fn limit(line: &Value, field: &str) -> i64 {
    line["limits"][field]
        .as_i64()
        .unwrap_or_else(|| panic!("limits.{field} is not an integer in {line}"))
}

/// The window tcpscope predicted at a flow's first timer retransmission.
struct Forecast {
    /// The retransmit line that carries it.
    line: Value,
    retransmitted_at: SystemTime,
    earliest: SystemTime,
    latest: SystemTime,
}

/// How a flow ended, with tcpscope's lines about it.
struct GaveUp {
    lines: Vec<Value>,
    /// The flow's retransmit lines with cause "timer", in order.
    timer: Vec<Value>,
    forecast: Forecast,
}

/// The flow's timer retransmit lines, in order; the retransmits before the
/// first of them (tail loss probes) must carry no forecast.
fn timer_retransmits(flow: Flow, lines: &[Value]) -> Vec<Value> {
    let retransmits = flow.lines(lines, "retransmit");
    let first_timer = retransmits
        .iter()
        .position(|v| v["cause"] == "timer")
        .unwrap_or_else(|| {
            panic!(
                "no retransmit line with cause timer; lines:\n{}",
                dump(lines)
            )
        });
    for probe in &retransmits[..first_timer] {
        assert!(
            probe["give_up_earliest"].is_null() && probe["give_up_latest"].is_null(),
            "a retransmit before the first timer one has no forecast to give: {probe}"
        );
    }
    let timer: Vec<Value> = retransmits
        .iter()
        .filter(|v| v["cause"] == "timer")
        .map(|v| (*v).clone())
        .collect();
    for line in &timer {
        assert_eq!(line["tlp"], false, "a timer retransmit is no TLP: {line}");
        assert!(
            line["limits"].is_object(),
            "a timer retransmit carries no limits: {line}"
        );
    }
    timer
}

/// Prints (with --nocapture), without asserting, how the forecasts of the
/// later timer retransmits held up against the kernel's close.
fn report_later_forecasts(test: &str, from: SystemTime, closed_at: SystemTime, timer: &[Value]) {
    for line in timer.iter().skip(1) {
        let (earliest, latest) = (time(line, "give_up_earliest"), time(line, "give_up_latest"));
        let verdict = if (earliest..=latest).contains(&closed_at) {
            String::new()
        } else if closed_at > latest {
            format!(
                " <- closed outside it, {:.6} s past latest",
                seconds(latest, closed_at)
            )
        } else {
            format!(
                " <- closed outside it, {:.6} s before earliest",
                seconds(closed_at, earliest)
            )
        };
        eprintln!(
            "{test}:   forecast at retransmit {} (+{:.3} s, rto_ms {}): [{:+.3} s, {:+.3} s]{verdict}",
            int(line, "retransmits"),
            seconds(from, time(line, "ts")),
            int(line, "rto_ms"),
            seconds(from, earliest),
            seconds(from, latest),
        );
    }
}

/// Checks how the flow ended and that the kernel gave up inside the window
/// predicted at its first timer retransmission, both by the flow_end line
/// and by `returned_at`, when the client's call returned ETIMEDOUT.
fn assert_gave_up_in_window(test: &str, run: Run, flow: Flow, returned_at: SystemTime) -> GaveUp {
    let lines = run.lines;
    let end = flow.end(&lines).clone();
    let all = dump(&lines);
    assert_text(&end, "reason", "timeout");
    assert_text(&end, "err", "ETIMEDOUT");
    assert_stack_has(&end, "tcp_retransmit_timer");

    let timer = timer_retransmits(flow, &lines);
    let line = timer[0].clone();
    assert_text(&line, "give_up_error", "ETIMEDOUT");
    let forecast = Forecast {
        retransmitted_at: time(&line, "ts"),
        earliest: time(&line, "give_up_earliest"),
        latest: time(&line, "give_up_latest"),
        line,
    };
    assert!(
        forecast.retransmitted_at <= forecast.earliest && forecast.earliest <= forecast.latest,
        "the forecast should lie ahead of its retransmit, earliest first: {}",
        forecast.line
    );

    let closed_at = time(&end, "ts");
    let from = forecast.retransmitted_at;
    let numbers = format!(
        "{test}: after the first timer retransmit (rto_ms {}): window [{:+.3} s, {:+.3} s], \
         flow_end at {:+.3} s, ETIMEDOUT returned at {:+.3} s; rto_ms of the timer retransmits: {:?}",
        int(&forecast.line, "rto_ms"),
        seconds(from, forecast.earliest),
        seconds(from, forecast.latest),
        seconds(from, closed_at),
        seconds(from, returned_at),
        timer.iter().map(|v| int(v, "rto_ms")).collect::<Vec<_>>(),
    );
    eprintln!("{numbers}");
    report_later_forecasts(test, from, closed_at, &timer);
    assert!(
        forecast.earliest <= closed_at && closed_at <= forecast.latest,
        "the kernel closed the flow outside the predicted window. {numbers}\n\
         forecast line: {}\nflow_end: {end}\nall lines:\n{all}",
        forecast.line
    );
    assert!(
        forecast.earliest <= returned_at && returned_at <= forecast.latest + SYSCALL_RETURN_SLACK,
        "the client's call returned ETIMEDOUT outside the predicted window \
         (+{SYSCALL_RETURN_SLACK:?} for the syscall return). {numbers}\n\
         forecast line: {}\nall lines:\n{all}",
        forecast.line
    );
    GaveUp {
        lines,
        timer,
        forecast,
    }
}

/// Asserts the timer retransmits' RTOs, within a jiffy or two each.
fn assert_rtos(gave_up: &GaveUp, expected: &[i64]) {
    let rtos: Vec<i64> = gave_up.timer.iter().map(|v| int(v, "rto_ms")).collect();
    assert!(
        rtos.len() == expected.len()
            && rtos
                .iter()
                .zip(expected)
                .all(|(rto, want)| (rto - want).abs() <= RTO_SLACK_MS),
        "expected timer retransmits with rto_ms {expected:?}, got {rtos:?}; lines:\n{}",
        dump(&gave_up.lines)
    );
}

/// A SYN black hole with the client namespace's tcp_syn_retries and
/// tcp_syn_linear_timeouts; also sets its tcp_retries2 to `retries2`.
fn syn_black_hole(
    test: &str,
    lab_name: &str,
    port: u16,
    syn_retries: u8,
    linear: u8,
    retries2: i64,
) -> GaveUp {
    let lab = Lab::new(lab_name);
    let client = &lab.client;
    client.sysctl("net.ipv4.tcp_syn_retries", &syn_retries.to_string());
    match linear {
        0 => client.syn_rtos_double(),
        _ => client.sysctl("net.ipv4.tcp_syn_linear_timeouts", &linear.to_string()),
    }
    client.sysctl("net.ipv4.tcp_retries2", &retries2.to_string());
    let dport = port.to_string();
    let drop_syns = [
        "-A", "INPUT", "-p", "tcp", "--dport", &dport, "--syn", "-j", "DROP",
    ];
    lab.server.iptables(false, &drop_syns);
    let scope = Tcpscope::start(&[port]);
    let clock = TcpscopeClock::sample();

    let server = SocketAddr::new(lab.server_addr(false), port);
    let (result, returned) = client
        .spawn("syn-client", move || {
            let result = TcpStream::connect(server);
            (result, Instant::now())
        })
        .join()
        .expect("client thread panicked");
    let error = result.expect_err("connect through a SYN black hole succeeded");
    assert_eq!(
        error.raw_os_error(),
        Some(libc::ETIMEDOUT),
        "connect should time out, got {error}"
    );

    let flow = Flow {
        netns: lab.client.inode(),
        daddr: lab.server_addr(false),
        dport: port,
        sport: None,
    };
    let run = finish_after_flow_end(scope, flow);
    clock.report_step(test);
    let gave_up = assert_gave_up_in_window(test, run, flow, clock.at(returned));
    let line = &gave_up.forecast.line;
    assert_eq!(limit(line, "syn_retries"), i64::from(syn_retries), "{line}");
    assert_eq!(
        limit(line, "syn_linear_timeouts"),
        i64::from(linear),
        "{line}"
    );
    assert!(
        line["limits"]["sock_syn_retries"].is_null(),
        "no TCP_SYNCNT was set: {line}"
    );
    gave_up
}

#[test]
fn syn_black_hole_gives_up_inside_window_with_namespace_limits() {
    let test = "syn_black_hole_gives_up_inside_window_with_namespace_limits";
    if skipped(test) {
        return;
    }
    let root = RootLimits::read();
    // A tcp_retries2 the root namespace does not have, to tell them apart.
    let retries2 = if root.retries2 == 3 { 4 } else { 3 };
    let gave_up = syn_black_hole(test, "gu-syn2", PORT_SYN_RETRIES_2, 2, 0, retries2);
    // Linear timeouts off: 1 s, 2 s, then the give-up 4 s later.
    assert_rtos(&gave_up, &[1000, 2000]);
    root.assert_unchanged();
    for line in &gave_up.timer {
        assert_eq!(
            limit(line, "retries2"),
            retries2,
            "client namespace's: {line}"
        );
        assert_eq!(limit(line, "syn_retries"), 2, "client namespace's: {line}");
    }
    assert_ne!(root.retries2, retries2, "root namespace: {root:?}");
    if root.syn_retries == 2 {
        eprintln!(
            "note: the root namespace has tcp_syn_retries 2 too: only retries2 tells them apart"
        );
    }
}

#[test]
fn syn_black_hole_with_three_retries_gives_up_inside_window() {
    let test = "syn_black_hole_with_three_retries_gives_up_inside_window";
    if skipped(test) {
        return;
    }
    let root = RootLimits::read();
    let gave_up = syn_black_hole(test, "gu-syn3", PORT_SYN_RETRIES_3, 3, 0, 15);
    assert_rtos(&gave_up, &[1000, 2000, 4000]);
    root.assert_unchanged();
}

#[test]
fn syn_black_hole_with_linear_timeouts_gives_up_inside_window() {
    let test = "syn_black_hole_with_linear_timeouts_gives_up_inside_window";
    if skipped(test) {
        return;
    }
    if !kernel_has_sysctl("net.ipv4.tcp_syn_linear_timeouts") {
        eprintln!("skipped: {test}: this kernel has no net.ipv4.tcp_syn_linear_timeouts");
        return;
    }
    let root = RootLimits::read();
    let gave_up = syn_black_hole(test, "gu-synlin", PORT_SYN_LINEAR, 2, 2, 15);
    // tcp_write_timeout allows syn_retries + linear = 4 retransmits; the
    // first two keep the 1 s RTO (total_rto <= 2), then it doubles: the
    // timer fires at +1, +2, +3, +5 s and gives up at +9 s.
    assert_rtos(&gave_up, &[1000, 1000, 1000, 2000]);
    root.assert_unchanged();
}

/// What to set before the client's established flow is black-holed.
#[derive(Default)]
struct BlackHole {
    /// net.ipv4.tcp_retries2 of the client namespace.
    retries2: Option<u8>,
    /// TCP_USER_TIMEOUT on the client socket.
    user_timeout_ms: Option<u32>,
    /// net.ipv4.tcp_rto_max_ms of the client namespace.
    rto_max_ms: Option<u32>,
}

/// Sets TCP_USER_TIMEOUT on a socket.
fn set_user_timeout(stream: &TcpStream, ms: u32) {
    let value: libc::c_uint = ms;
    // SAFETY: the fd is open and `value` is a valid c_uint for its size.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_USER_TIMEOUT,
            (&raw const value).cast(),
            libc::socklen_t::try_from(size_of::<libc::c_uint>()).expect("c_uint size"),
        )
    };
    assert_eq!(
        rc,
        0,
        "TCP_USER_TIMEOUT: {}",
        std::io::Error::last_os_error()
    );
}

/// An established flow from the client namespace, then every packet from the
/// client dropped in the server namespace; the client writes and blocks in
/// read until the kernel gives up.
fn established_black_hole(test: &str, lab_name: &str, port: u16, setup: &BlackHole) -> GaveUp {
    let lab = Lab::new(lab_name);
    if let Some(retries2) = setup.retries2 {
        lab.client
            .sysctl("net.ipv4.tcp_retries2", &retries2.to_string());
    }
    if let Some(rto_max) = setup.rto_max_ms {
        lab.client
            .sysctl("net.ipv4.tcp_rto_max_ms", &rto_max.to_string());
    }
    let server = SocketAddr::new(lab.server_addr(false), port);
    let listener = listen_in(&lab.server, server);
    let scope = Tcpscope::start(&[port]);
    let clock = TcpscopeClock::sample();

    let mut stream = lab
        .client
        .spawn("client", move || TcpStream::connect(server))
        .join()
        .expect("client thread panicked")
        .unwrap_or_else(|e| panic!("connect to {server} failed: {e}"));
    let (_accepted, _) = listener.accept().expect("accept failed");
    let sport = stream.local_addr().expect("client local address").port();
    if let Some(ms) = setup.user_timeout_ms {
        set_user_timeout(&stream, ms);
    }
    let (error, _, returned) = write_into_black_hole(&lab, &mut stream, Duration::from_secs(25));
    assert_eq!(
        error.raw_os_error(),
        Some(libc::ETIMEDOUT),
        "the kernel should give up with ETIMEDOUT, got {error}"
    );

    let flow = Flow {
        netns: lab.client.inode(),
        daddr: lab.server_addr(false),
        dport: port,
        sport: Some(sport),
    };
    let run = finish_after_flow_end(scope, flow);
    clock.report_step(test);
    let gave_up = assert_gave_up_in_window(test, run, flow, clock.at(returned));
    assert_text(flow.end(&gave_up.lines), "last_state", "ESTABLISHED");
    gave_up
}

#[test]
fn established_black_hole_with_retries2_3_gives_up_inside_window() {
    let test = "established_black_hole_with_retries2_3_gives_up_inside_window";
    if skipped(test) {
        return;
    }
    let root = RootLimits::read();
    let setup = BlackHole {
        retries2: Some(3),
        ..BlackHole::default()
    };
    let gave_up = established_black_hole(test, "gu-r2-3", PORT_RETRIES2_3, &setup);
    root.assert_unchanged();
    let line = &gave_up.forecast.line;
    assert_eq!(limit(line, "retries2"), 3, "client namespace's: {line}");
    if root.retries2 == 3 {
        eprintln!("note: the root namespace has tcp_retries2 3 too");
    }
}

#[test]
fn established_black_hole_with_retries2_5_gives_up_inside_window() {
    let test = "established_black_hole_with_retries2_5_gives_up_inside_window";
    if skipped(test) {
        return;
    }
    let root = RootLimits::read();
    // tcp_model_timeout(5, 200 ms): (2^6 - 1) * 0.2 s = 12.6 s of budget.
    let setup = BlackHole {
        retries2: Some(5),
        ..BlackHole::default()
    };
    let gave_up = established_black_hole(test, "gu-r2-5", PORT_RETRIES2_5, &setup);
    root.assert_unchanged();
    let line = &gave_up.forecast.line;
    assert_eq!(limit(line, "retries2"), 5, "client namespace's: {line}");
}

#[test]
fn user_timeout_gives_up_inside_window() {
    let test = "user_timeout_gives_up_inside_window";
    if skipped(test) {
        return;
    }
    let setup = BlackHole {
        user_timeout_ms: Some(1500),
        ..BlackHole::default()
    };
    let gave_up = established_black_hole(test, "gu-uto", PORT_USER_TIMEOUT, &setup);
    for line in &gave_up.timer {
        assert_eq!(limit(line, "user_timeout_ms"), 1500, "{line}");
    }
}

#[test]
fn lowered_rto_max_caps_rtos_and_gives_up_inside_window() {
    let test = "lowered_rto_max_caps_rtos_and_gives_up_inside_window";
    if skipped(test) {
        return;
    }
    if !kernel_has_sysctl("net.ipv4.tcp_rto_max_ms") {
        eprintln!("skipped: {test}: this kernel has no net.ipv4.tcp_rto_max_ms (Linux 6.15+)");
        return;
    }
    let root = RootLimits::read();
    // tcp_model_timeout(5, 200 ms) with a 1 s rto max: the budget doubles
    // 200 ms up to 1 s, then adds 1 s per retry.
    let setup = BlackHole {
        retries2: Some(5),
        rto_max_ms: Some(1000),
        ..BlackHole::default()
    };
    let gave_up = established_black_hole(test, "gu-rtomax", PORT_RTO_MAX, &setup);
    root.assert_unchanged();
    let rtos: Vec<i64> = gave_up.timer.iter().map(|v| int(v, "rto_ms")).collect();
    assert!(
        rtos.iter()
            .filter(|&&rto| rto >= 1000 - RTO_SLACK_MS)
            .count()
            >= 2,
        "the RTO should reach the 1 s rto max and stay there: {rtos:?}"
    );
    for line in &gave_up.timer {
        // Never past the 1 s rto max, give or take a jiffy.
        assert_within(line, "rto_ms", 0, 1000 + RTO_SLACK_MS);
        assert_eq!(limit(line, "rto_max_ms"), 1000, "{line}");
        assert_eq!(limit(line, "retries2"), 5, "{line}");
    }
}
