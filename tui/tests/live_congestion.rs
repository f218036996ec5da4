//! Root integration test of the give-up forecast under local congestion
//! (issue 14): a connect into a SYN black hole whose retransmissions this
//! host itself then drops on the way out (a qdisc that holds nothing on the
//! client's veth: the device layer answers NET_XMIT_DROP, as a full qdisc or
//! CPU backlog does). The kernel counts each such SYN as a retransmission
//! and retries after 500 ms without backing off, so it gives up long before
//! the forecast made at the first retransmission. tcpscope must report each
//! kept SYN as the retransmission the kernel counted, and the forecast it
//! gives with the last of them must hold the give-up.

mod support;

use serde_json::Value;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant, SystemTime};
use support::kernel::has_drop_reason;
use support::lines::{Flow, assert_text, int, seconds, text, time};
use support::netns::Lab;
use support::scenario::{finish_after_flow_end, skipped};
use support::tcpscope::{Tcpscope, dump};

const PORT: u16 = 23211;
/// tcp_syn_retries of the client namespace: without local congestion the
/// retransmissions go at +1, +3 and +7 s and the kernel gives up at +15 s.
const SYN_RETRIES: u8 = 3;

/// The window a line gives, when it carries one.
fn window(line: &Value) -> Option<(SystemTime, SystemTime)> {
    line["give_up_earliest"].as_str()?;
    Some((time(line, "give_up_earliest"), time(line, "give_up_latest")))
}

#[test]
fn syns_kept_on_the_host_count_and_the_forecast_follows_them_to_the_give_up() {
    let test = "syns_kept_on_the_host_count_and_the_forecast_follows_them_to_the_give_up";
    if skipped(test) {
        return;
    }
    if !has_drop_reason("QDISC_DROP") {
        eprintln!("skipped: {test}: this kernel's kfree_skb gives no QDISC_DROP drop reason");
        return;
    }
    let lab = Lab::new("cong-syn");
    let client = &lab.client;
    client.sysctl("net.ipv4.tcp_syn_retries", &SYN_RETRIES.to_string());
    client.syn_rtos_double();
    let dport = PORT.to_string();
    lab.server.iptables(
        false,
        &[
            "-A", "INPUT", "-p", "tcp", "--dport", &dport, "--syn", "-j", "DROP",
        ],
    );
    let scope = Tcpscope::start(&[PORT]);

    let server = SocketAddr::new(lab.server_addr(false), PORT);
    let connect_started = Instant::now();
    let connect = client.spawn("syn-client", move || TcpStream::connect(server));
    let flow = Flow {
        netns: client.inode(),
        daddr: lab.server_addr(false),
        dport: PORT,
        sport: None,
    };
    // The server's address stays resolved without ARP, which the qdisc
    // below would drop too.
    let server_mac = lab.server.exec("cat", &["/sys/class/net/veth1/address"]);
    let server_ip = lab.server_addr(false).to_string();
    client.exec(
        "ip",
        &[
            "neigh",
            "replace",
            &server_ip,
            "lladdr",
            server_mac.trim(),
            "dev",
            "veth0",
            "nud",
            "permanent",
        ],
    );
    // The first retransmission leaves (at +1 s); from +1.5 s on, a FIFO
    // qdisc that holds no packet drops everything the client sends, so the
    // second (due at +3 s) and later ones stay on the host. Timed from the
    // connect, not from tcpscope's output, which a loaded machine delays.
    std::thread::sleep(Duration::from_millis(1500).saturating_sub(connect_started.elapsed()));
    client.exec(
        "tc",
        &[
            "qdisc", "add", "dev", "veth0", "root", "pfifo", "limit", "0",
        ],
    );
    let first = scope.expect_line(
        "the first SYN retransmission",
        Duration::from_secs(5),
        |v| v["kind"] == "retransmit" && flow.matches(v),
    );
    let error = connect
        .join()
        .expect("client thread panicked")
        .expect_err("connect through a SYN black hole succeeded");
    assert_eq!(error.raw_os_error(), Some(libc::ETIMEDOUT), "{error}");
    let run = finish_after_flow_end(scope, flow);
    let lines = run.lines;
    let all = dump(&lines);
    let end = flow.end(&lines);
    assert_text(end, "reason", "timeout");
    assert_text(end, "err", "ETIMEDOUT");
    let closed_at = time(end, "ts");

    // The two SYNs kept on the host: retransmissions 2 and 3 as the kernel
    // counts them, then its count is spent.
    let kept: Vec<&Value> = flow
        .lines(&lines, "drop")
        .into_iter()
        .filter(|v| v["kept_retransmit"].is_u64())
        .collect();
    let numbers: Vec<i64> = kept.iter().map(|v| int(v, "kept_retransmit")).collect();
    assert_eq!(
        numbers,
        [2, 3],
        "expected SYNs 2 and 3 kept on the host; lines:\n{all}"
    );
    for line in &kept {
        assert!(text(line, "reason").starts_with("QDISC_"), "{line}");
        assert_eq!(line["outgoing"], true, "{line}");
    }
    let from = time(&first, "ts");
    let (first_earliest, _) = window(&first).expect("the first retransmission has a forecast");
    eprintln!(
        "{test}: first forecast opens at {:+.3} s, kept SYNs at {:?} s, closed at {:+.3} s",
        seconds(from, first_earliest),
        kept.iter()
            .map(|v| seconds(from, time(v, "ts")))
            .collect::<Vec<_>>(),
        seconds(from, closed_at),
    );
    assert!(
        closed_at < first_earliest,
        "local congestion should end the connect before the uncongested forecast; lines:\n{all}"
    );
    // Every forecast since the first kept SYN holds the give-up: those of
    // the kept SYNs' drop lines, and those of the retransmit lines that
    // kernels which trace a retransmission whatever became of it print.
    for line in &kept {
        assert!(
            window(line).is_some(),
            "a kept SYN carries no forecast: {line}\n{all}"
        );
    }
    let since_congested = time(kept[0], "ts");
    let forecasts = lines
        .iter()
        .filter(|v| flow.matches(v) && time(v, "ts") >= since_congested)
        .filter_map(|v| window(v).map(|window| (v, window)));
    for (line, (earliest, latest)) in forecasts {
        eprintln!(
            "{test}: forecast of the {} line at {:+.3} s: [{:+.3} s, {:+.3} s]",
            text(line, "kind"),
            seconds(from, time(line, "ts")),
            seconds(from, earliest),
            seconds(from, latest)
        );
        assert!(
            earliest <= closed_at && closed_at <= latest,
            "the kernel closed the flow outside the window given with {line}; lines:\n{all}"
        );
    }
}
