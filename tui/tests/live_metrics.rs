//! Root integration test of `tcpscope --metrics` with a real Prometheus
//! (Debian's, started here on loopback, scraping every second): a lab
//! black-holes one destination, refuses another and resets a third; what
//! Prometheus then holds, asked through its HTTP API, is what the lab did,
//! the black-hole alert of assets/deploy is pending for that destination,
//! and `promtool check metrics` finds nothing to fix in a scrape.

mod support;

use std::io::Read as _;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use support::netns::Lab;
use support::prometheus::{Prometheus, get, promtool};
use support::scenario::{listen_in, reset_on_close, skipped};
use support::tcpscope::{Tcpscope, dump};

const PORT_BLACK_HOLE: u16 = 23751;
const PORT_REFUSED: u16 = 23752;
const PORT_RESET: u16 = 23753;
const METRICS: &str = "127.0.0.1:23758";
const PROMETHEUS: &str = "127.0.0.1:23759";
/// Connects into the black hole.
const CLIENTS: usize = 2;

/// The metrics count every connection on the box, whatever the port: the
/// root tests of this file take turns, each alone with its own lab.
static ALONE: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn alone() -> std::sync::MutexGuard<'static, ()> {
    ALONE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn rules() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/deploy/tcpscope-rules.yml")
}

/// Waits until `query` has the value `want` in Prometheus.
fn wait_for_value(prometheus: &Prometheus, query: &str, want: f64, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let got = prometheus.value(query);
        if got == Some(want) {
            return;
        }
        if Instant::now() >= deadline {
            panic!("{query} is {got:?} after {timeout:?}, not {want}");
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn prometheus_sees_the_black_hole_the_refusal_and_the_reset_and_the_alert_is_pending() {
    let test = "prometheus_sees_the_black_hole_the_refusal_and_the_reset_and_the_alert_is_pending";
    if skipped(test) {
        return;
    }
    let _alone = alone();
    let lab = Lab::new("metrics");
    lab.client.sysctl("net.ipv4.tcp_syn_retries", "1");
    lab.client.syn_rtos_double();
    let dport = PORT_BLACK_HOLE.to_string();
    lab.server.iptables(
        false,
        &["-A", "INPUT", "-p", "tcp", "--dport", &dport, "-j", "DROP"],
    );
    let metrics: SocketAddr = METRICS.parse().expect("addr");
    let scope = Tcpscope::start_with(
        &["--metrics", METRICS],
        &[PORT_BLACK_HOLE, PORT_REFUSED, PORT_RESET],
    );
    let prometheus = Prometheus::start(
        "metrics",
        PROMETHEUS.parse().expect("addr"),
        metrics,
        &rules(),
    );
    wait_for_value(&prometheus, "up", 1.0, Duration::from_secs(30));

    // The lab: two connects into the black hole, one refused, one reset.
    let server = lab.server_addr(false);
    let black_holed: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let to = SocketAddr::new(server, PORT_BLACK_HOLE);
            lab.client
                .spawn("black-hole", move || TcpStream::connect(to))
        })
        .collect();
    let refused = SocketAddr::new(server, PORT_REFUSED);
    let error = lab
        .client
        .spawn("refused", move || TcpStream::connect(refused))
        .join()
        .expect("client thread")
        .expect_err("a closed port");
    assert_eq!(error.raw_os_error(), Some(libc::ECONNREFUSED), "{error}");
    let listener = listen_in(&lab.server, SocketAddr::new(server, PORT_RESET));
    let reset_to = SocketAddr::new(server, PORT_RESET);
    let client = lab
        .client
        .spawn("reset", move || TcpStream::connect(reset_to));
    let (accepted, _) = listener.accept().expect("accept");
    // The reset only once the client's connect has returned: on a slow
    // guest the RST could otherwise reach the socket first and fail the
    // connect itself.
    let mut stream = client.join().expect("client thread").expect("connected");
    reset_on_close(&accepted);
    drop(accepted);
    let read = stream.read(&mut [0u8; 1]);
    assert!(read.is_err(), "a read after the peer's RST: {read:?}");
    for client in black_holed {
        let error = client
            .join()
            .expect("client thread")
            .expect_err("a black hole");
        assert_eq!(error.raw_os_error(), Some(libc::ETIMEDOUT), "{error}");
    }

    // What Prometheus holds, once it scraped after the last give-up.
    let timeouts = r#"sum(tcpscope_connect_failures_total{reason="timeout"})"#;
    wait_for_value(
        &prometheus,
        timeouts,
        CLIENTS as f64,
        Duration::from_secs(20),
    );
    let clients = CLIENTS as f64;
    for (query, want) in [
        (
            r#"sum(tcpscope_connect_failures_total{reason="refused"})"#,
            1.0,
        ),
        (
            r#"sum(tcpscope_give_ups_total{phase="connect",error="ETIMEDOUT"})"#,
            clients,
        ),
        ("sum(tcpscope_syn_retransmits_total)", clients),
        // Each SYN and its one retransmission, in the server's firewall.
        (
            r#"sum(tcpscope_drops_total{reason="NETFILTER_DROP"})"#,
            2.0 * clients,
        ),
        (
            &format!(
                r#"tcpscope_destination_verdict{{destination="{}",verdict="black-holed"}}"#,
                SocketAddr::new(server, PORT_BLACK_HOLE)
            ),
            1.0,
        ),
        (
            &format!(
                r#"tcpscope_destination_verdict{{destination="{refused}",verdict="refused"}}"#
            ),
            1.0,
        ),
        (
            &format!(r#"tcpscope_destination_failures{{destination="{reset_to}",kind="reset"}}"#),
            1.0,
        ),
        ("sum(tcpscope_lost_events_total)", 0.0),
        ("tcpscope_destinations_folded", 0.0),
    ] {
        wait_for_value(&prometheus, query, want, Duration::from_secs(5));
    }
    // Resets received: the refused SYN's answer and the aborted flow's RST,
    // as many as the JSON lines report for the lab's ports.
    let resets = prometheus
        .value(r#"sum(tcpscope_resets_total{direction="received"})"#)
        .expect("resets received");
    let lines = scope.lines();
    let reported = lines
        .iter()
        .filter(|v| v["kind"] == "reset_received")
        .count();
    assert!(reported >= 2, "reset_received lines:\n{}", dump(&lines));
    assert_eq!(resets, reported as f64, "lines:\n{}", dump(&lines));

    // The black-hole alert waits out its `for:` for that destination.
    let deadline = Instant::now() + Duration::from_secs(10);
    let alert = loop {
        let found = prometheus.alerts().into_iter().find(|alert| {
            alert["labels"]["alertname"] == "TcpscopeDestinationBlackHoled"
                && alert["labels"]["destination"]
                    == SocketAddr::new(server, PORT_BLACK_HOLE).to_string()
        });
        if found.is_some() || Instant::now() >= deadline {
            break found;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let alert = alert.unwrap_or_else(|| panic!("no black-hole alert; log:\n{}", prometheus.log()));
    assert!(
        alert["state"] == "pending" || alert["state"] == "firing",
        "{alert}"
    );

    // A scrape as curl makes it is the older text format, clean for
    // promtool; Prometheus's own Accept gets OpenMetrics.
    let scrape = get(metrics, "/metrics", None).expect("scrape");
    assert!(
        scrape.head.contains("text/plain; version=0.0.4"),
        "{}",
        scrape.head
    );
    let checked = promtool(&["check", "metrics"], &scrape.body);
    assert!(
        checked.status.success() && checked.stdout.is_empty(),
        "promtool check metrics: {}\n{}{}",
        checked.status,
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
    let open = get(
        metrics,
        "/metrics",
        Some("application/openmetrics-text; version=1.0.0"),
    )
    .expect("scrape");
    assert!(
        open.head.contains("application/openmetrics-text"),
        "{}",
        open.head
    );
    assert!(open.body.ends_with("# EOF\n"), "{}", open.body);
    let missing = get(metrics, "/nothing", None).expect("a 404");
    assert!(missing.head.starts_with("HTTP/1.1 404"), "{}", missing.head);

    let run = scope.finish();
    assert!(run.status.success(), "{}: {}", run.status, run.stderr);
}

#[test]
fn the_deployed_alert_rules_check_and_their_black_hole_test_passes() {
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/deploy");
    let file = |name: &str| deploy.join(name).to_string_lossy().into_owned();
    for args in [
        ["check", "rules", &file("tcpscope-rules.yml")],
        ["test", "rules", &file("tcpscope-rules.test.yml")],
        ["check", "config", &file("prometheus.yml")],
    ] {
        let ran = promtool(&args, "");
        assert!(
            ran.status.success(),
            "promtool {}: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&ran.stdout),
            String::from_utf8_lossy(&ran.stderr)
        );
    }
}

#[test]
fn connects_to_five_thousand_destinations_keep_the_series_bounded_and_count_the_fold() {
    let test = "connects_to_five_thousand_destinations_keep_the_series_bounded_and_count_the_fold";
    if skipped(test) {
        return;
    }
    let _alone = alone();
    const DESTINATIONS: u16 = 5_000;
    const FIRST_PORT: u16 = 30_000;
    let lab = Lab::new("cardinality");
    let metrics: SocketAddr = "127.0.0.1:23768".parse().expect("addr");
    let scope = Tcpscope::start_with(&["--metrics", &metrics.to_string()], &[FIRST_PORT]);
    let server = lab.server_addr(false);
    // Closed ports: each connect is refused at once.
    let refused = lab
        .client
        .spawn("refused", move || {
            (0..DESTINATIONS)
                .filter(|n| TcpStream::connect(SocketAddr::new(server, FIRST_PORT + n)).is_err())
                .count()
        })
        .join()
        .expect("client thread");
    assert_eq!(refused, usize::from(DESTINATIONS));
    std::thread::sleep(Duration::from_secs(2));
    let scrape = get(metrics, "/metrics", None).expect("scrape").body;
    let samples: Vec<&str> = scrape
        .lines()
        .filter(|line| !line.starts_with('#'))
        .collect();
    let value = |name: &str| -> f64 {
        samples
            .iter()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in:\n{scrape}"))
    };
    let named = samples
        .iter()
        .filter(|line| line.starts_with("tcpscope_destination_verdict{"))
        .count();
    assert_eq!(named, 10 + 1, "the worst ten and other:\n{scrape}");
    let folded =
        value("tcpscope_destinations_folded") + value("tcpscope_destinations_evicted_total");
    assert!(
        folded >= f64::from(DESTINATIONS - 10),
        "{folded} destinations folded or evicted:\n{scrape}"
    );
    assert!(
        samples.len() < 300,
        "{} series for 5,000 destinations:\n{scrape}",
        samples.len()
    );
    let failures: f64 = samples
        .iter()
        .filter(|line| line.starts_with("tcpscope_connect_failures_total{reason=\"refused\""))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(failures, f64::from(DESTINATIONS), "{scrape}");
    let run = scope.finish();
    assert!(run.status.success(), "{}: {}", run.status, run.stderr);
}
