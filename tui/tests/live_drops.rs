//! Root integration tests of drops: the real `tcpscope --json` while the
//! kernel drops TCP segments between two namespaces for three reasons (an
//! iptables DROP rule, a closed port, a PAWS reject of a crafted segment
//! with an old timestamp), checking the reason, the exact 4-tuple seen from
//! the dropping side, its namespace and the TCP flags. Without root each
//! test prints why it is skipped and passes.

mod support;

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream},
    time::{Duration, Instant},
};

use serde_json::Value;
use support::{
    kernel,
    lines::{int, text},
    netns::{CLIENT_V4, Lab, Namespace, SERVER_V4},
    scenario::{listen_in, skipped},
    tcpscope::{Tcpscope, dump},
};

/// This file's ports (23601-23619 are reserved for drop tests).
const PORT_NETFILTER: u16 = 23601;
const PORT_CLOSED: u16 = 23602;
const PORT_PAWS: u16 = 23603;

/// How long a drop line may lag behind the drop.
const DROP_WAIT: Duration = Duration::from_secs(5);

/// A drop line seen from the server: the segment came from the client's
/// `client_port` to the server's `port`.
fn is_drop_at_server(line: &Value, lab: &Lab, port: u16, client_port: u16) -> bool {
    line["kind"] == "drop"
        && line["netns"].as_u64() == Some(lab.server.inode())
        && line["saddr"] == SERVER_V4.to_string()
        && line["sport"].as_u64() == Some(u64::from(port))
        && line["daddr"] == CLIENT_V4.to_string()
        && line["dport"].as_u64() == Some(u64::from(client_port))
}

/// The local port of the client's connect in progress to `port`, as the
/// client namespace's `ss` shows it.
fn connecting_port(client: &Namespace, port: u16) -> u16 {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let filter = format!("dport = :{port}");
        let out = client.exec("ss", &["-tnH", "state", "syn-sent", &filter]);
        let local = out
            .split_whitespace()
            .find_map(|field| field.strip_prefix(&format!("{CLIENT_V4}:")))
            .and_then(|port| port.parse().ok());
        if let Some(local) = local {
            return local;
        }
        assert!(
            Instant::now() < deadline,
            "no connect to {port} in ss: {out}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn assert_flags_have(line: &Value, flag: &str) {
    assert!(
        text(line, "flags").split('|').any(|f| f == flag),
        "flags should include {flag} in {line}"
    );
}

#[test]
fn an_iptables_drop_of_syns_shows_netfilter_drop_with_the_exact_4_tuple() {
    if skipped("netfilter drop") {
        return;
    }
    let lab = Lab::new("dropnf");
    let port = PORT_NETFILTER.to_string();
    lab.server.iptables(
        false,
        &[
            "-A", "INPUT", "-p", "tcp", "--syn", "--dport", &port, "-j", "DROP",
        ],
    );
    let scope = Tcpscope::start(&[PORT_NETFILTER]);
    let server = SocketAddr::new(IpAddr::V4(SERVER_V4), PORT_NETFILTER);
    let connect = lab.client.spawn("nf-client", move || {
        // Long enough for `ss` to find it even on a slow (emulated) machine.
        TcpStream::connect_timeout(&server, Duration::from_secs(6))
    });
    let client_port = connecting_port(&lab.client, PORT_NETFILTER);
    let drop = scope.expect_line("NETFILTER_DROP of the client's SYN", DROP_WAIT, |v| {
        is_drop_at_server(v, &lab, PORT_NETFILTER, client_port)
    });
    let error = connect.join().expect("client thread panicked");
    assert!(error.is_err(), "connect through the DROP rule succeeded");
    let run = scope.finish();
    eprintln!("tcpscope lines:\n{}", dump(&run.lines));
    assert_eq!(text(&drop, "reason"), "NETFILTER_DROP", "{drop}");
    assert_eq!(text(&drop, "flags"), "SYN", "{drop}");
    let location = text(&drop, "location");
    // The rule walk, or the hook that frees what it dropped (Debian's
    // 6.1.0-54 names nf_hook_slow, its 6.1.0-57 nft_do_chain).
    assert!(
        ["nft_do_chain", "ipt_do_table", "nf_hook_slow"]
            .iter()
            .any(|netfilter| location.starts_with(netfilter)),
        "location should be netfilter's, got {location}"
    );
    assert!(
        !drop["stack"].as_array().is_none_or(Vec::is_empty),
        "a drop carries its stack: {drop}"
    );
}

#[test]
fn a_syn_to_a_closed_port_shows_no_socket_and_a_reset() {
    if skipped("no-socket drop") {
        return;
    }
    let lab = Lab::new("dropns");
    let scope = Tcpscope::start(&[PORT_CLOSED]);
    let server = SocketAddr::new(IpAddr::V4(SERVER_V4), PORT_CLOSED);
    let refused = lab
        .client
        .spawn("closed-client", move || TcpStream::connect(server))
        .join()
        .expect("client thread panicked")
        .expect_err("connect to a closed port succeeded");
    assert_eq!(refused.raw_os_error(), Some(libc::ECONNREFUSED));
    let drop = scope.expect_line("NO_SOCKET drop", DROP_WAIT, |v| {
        v["kind"] == "drop"
            && v["reason"] == "NO_SOCKET"
            && v["netns"].as_u64() == Some(lab.server.inode())
    });
    let client_port = u16::try_from(int(&drop, "dport")).expect("a port");
    let reset = match kernel::traces_resets_without_socket() {
        true => Some(
            scope.expect_line("the RST the server sent", DROP_WAIT, |v| {
                v["kind"] == "reset_sent"
                    && v["sport"].as_u64() == Some(u64::from(PORT_CLOSED))
                    && v["dport"].as_u64() == Some(u64::from(client_port))
            }),
        ),
        false => {
            eprintln!(
                "not checked: this kernel's tcp_send_reset has no reset reason, so it does \
                 not trace a RST sent without a socket (OutRsts counts it)"
            );
            None
        }
    };
    let run = scope.finish();
    eprintln!("tcpscope lines:\n{}", dump(&run.lines));
    assert!(
        is_drop_at_server(&drop, &lab, PORT_CLOSED, client_port),
        "{drop}"
    );
    assert_eq!(text(&drop, "flags"), "SYN", "{drop}");
    assert!(text(&drop, "location").starts_with("tcp_v4_rcv"), "{drop}");
    if let Some(reset) = reset {
        assert_eq!(reset["daddr"], CLIENT_V4.to_string(), "{reset}");
        assert_eq!(
            reset["netns"].as_u64(),
            Some(lab.server.inode()),
            "a RST without a socket is placed in the namespace it left: {reset}"
        );
    }
}

#[test]
fn a_segment_with_an_old_timestamp_shows_a_paws_reject() {
    if skipped("PAWS drop") {
        return;
    }
    let lab = Lab::new("droppaws");
    // Timestamps without a per-connection offset: TSval is the clock.
    lab.client.sysctl("net.ipv4.tcp_timestamps", "2");
    let listener = listen_in(
        &lab.server,
        SocketAddr::new(IpAddr::V4(SERVER_V4), PORT_PAWS),
    );
    let scope = Tcpscope::start(&[PORT_PAWS]);
    let server = SocketAddr::new(IpAddr::V4(SERVER_V4), PORT_PAWS);
    let stream = lab
        .client
        .spawn("paws-client", move || TcpStream::connect(server))
        .join()
        .expect("client thread panicked")
        .expect("connect to the listener");
    let (_accepted, _) = listener.accept().expect("accept");
    let client_port = stream.local_addr().expect("local address").port();
    lab.client
        .spawn("paws-raw", move || {
            send_old_timestamp_segment(CLIENT_V4, client_port, SERVER_V4, PORT_PAWS)
        })
        .join()
        .expect("raw sender panicked");
    // Older kernels drop a PAWS reject without naming the reason: only
    // the counters show it there.
    let named = kernel::has_drop_reason("TCP_RFC7323_PAWS");
    let placed = kernel::drops_name_their_socket();
    if !placed {
        eprintln!(
            "not checked: this kernel's kfree_skb has no rx_sk, so the drop has no namespace"
        );
    }
    let drop = named.then(|| {
        scope.expect_line("PAWS drop", DROP_WAIT, |v| match placed {
            true => is_drop_at_server(v, &lab, PORT_PAWS, client_port),
            false => {
                v["kind"] == "drop"
                    && v["sport"].as_u64() == Some(u64::from(PORT_PAWS))
                    && v["dport"].as_u64() == Some(u64::from(client_port))
            }
        })
    });
    if !named {
        eprintln!("not checked: this kernel has no drop reason TCP_RFC7323_PAWS");
    }
    // The server's namespace counts the reject too; the survey reads the
    // counters once a second.
    let server_netns = lab.server.inode();
    let counted = scope.expect_line("PAWSEstab in the server's counters", DROP_WAIT, |v| {
        v["kind"] == "counters"
            && v["netns"].as_u64() == Some(server_netns)
            && v["deltas"]["PAWSEstab"]
                .as_i64()
                .is_some_and(|delta| delta >= 1)
    });
    eprintln!("{counted}");
    let run = scope.finish();
    eprintln!("tcpscope lines:\n{}", dump(&run.lines));
    if let Some(drop) = drop {
        assert!(
            text(&drop, "reason").starts_with("TCP_RFC7323_PAWS"),
            "reason should be a PAWS reject: {drop}"
        );
        assert_flags_have(&drop, "ACK");
    }
    // The connection stays open until the drop was seen.
    let _ = stream;
}

/// Sends, from a raw socket, one data segment on the established 4-tuple
/// with a timestamp option whose TSval lies 100 s in the past of the
/// sender's clock (CLOCK_MONOTONIC in ms, with tcp_timestamps=2).
fn send_old_timestamp_segment(from: Ipv4Addr, sport: u16, to: Ipv4Addr, dport: u16) {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec it is given.
    let read = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    assert_eq!(read, 0);
    let now_ms = (now.tv_sec as u64 * 1000 + now.tv_nsec as u64 / 1_000_000) as u32;
    let tsval = now_ms.wrapping_sub(100_000);
    let mut segment = Vec::with_capacity(33);
    segment.extend_from_slice(&sport.to_be_bytes());
    segment.extend_from_slice(&dport.to_be_bytes());
    segment.extend_from_slice(&1u32.to_be_bytes()); // seq
    segment.extend_from_slice(&1u32.to_be_bytes()); // ack
    segment.push(8 << 4); // 32-byte header: 12 bytes of options
    segment.push(0x18); // PSH|ACK
    segment.extend_from_slice(&1024u16.to_be_bytes()); // window
    segment.extend_from_slice(&[0, 0, 0, 0]); // checksum, urgent pointer
    segment.extend_from_slice(&[1, 1, 8, 10]); // NOP NOP TS
    segment.extend_from_slice(&tsval.to_be_bytes());
    segment.extend_from_slice(&0u32.to_be_bytes()); // TSecr
    segment.push(b'x');
    let checksum = tcp_checksum(from, to, &segment);
    segment[16..18].copy_from_slice(&checksum.to_be_bytes());
    // SAFETY: plain socket calls on a descriptor this function owns; the
    // address and buffer outlive the calls.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_TCP);
        assert!(fd >= 0, "raw socket: {}", std::io::Error::last_os_error());
        let addr = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: 0,
            sin_addr: libc::in_addr {
                s_addr: u32::from_ne_bytes(to.octets()),
            },
            sin_zero: [0; 8],
        };
        let sent = libc::sendto(
            fd,
            segment.as_ptr().cast(),
            segment.len(),
            0,
            (&raw const addr).cast(),
            size_of::<libc::sockaddr_in>() as libc::socklen_t,
        );
        let error = std::io::Error::last_os_error();
        libc::close(fd);
        assert_eq!(sent, segment.len() as isize, "raw sendto: {error}");
    }
}

/// The TCP checksum over the IPv4 pseudo-header and the segment.
fn tcp_checksum(from: Ipv4Addr, to: Ipv4Addr, segment: &[u8]) -> u16 {
    let mut bytes = Vec::with_capacity(12 + segment.len() + 1);
    bytes.extend_from_slice(&from.octets());
    bytes.extend_from_slice(&to.octets());
    bytes.extend_from_slice(&[0, libc::IPPROTO_TCP as u8]);
    bytes.extend_from_slice(&(segment.len() as u16).to_be_bytes());
    bytes.extend_from_slice(segment);
    if bytes.len() % 2 == 1 {
        bytes.push(0);
    }
    let mut sum: u32 = bytes
        .chunks_exact(2)
        .map(|pair| u32::from(u16::from_be_bytes([pair[0], pair[1]])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}
