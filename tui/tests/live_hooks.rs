//! Root integration test of the probes' other hook: on a kernel without its
//! own BTF the probes attach as raw tracepoints and read the kernel's
//! structures from a BTF file given with `--btf`. Forced here with
//! `--raw-tracepoints` and a copy of this kernel's BTF, the run must see
//! what the BTF tracepoints see: SYN retransmits with their stacks, the
//! drops with the kernel's reason, and the timeout with owner and stack.

mod support;

use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;
use support::lines::{Flow, assert_stack_has, assert_text, int, text};
use support::netns::Lab;
use support::scenario::{RTO_SLACK_MS, finish_after_flow_end, skipped};
use support::tcpscope::{Tcpscope, dump};

const PORT_RAW: u16 = 23951;
const KERNEL_BTF: &str = "/sys/kernel/btf/vmlinux";

/// A copy of the kernel's BTF in a file of its own, removed on drop.
struct BtfCopy(std::path::PathBuf);

impl BtfCopy {
    fn new() -> Self {
        let path =
            std::env::temp_dir().join(format!("tcpscope-test-{}-vmlinux.btf", std::process::id()));
        std::fs::copy(KERNEL_BTF, &path)
            .unwrap_or_else(|e| panic!("cannot copy {KERNEL_BTF} to {}: {e}", path.display()));
        Self(path)
    }
}

impl Drop for BtfCopy {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn raw_tracepoints_with_a_btf_file_see_syn_retries_drops_and_the_timeout() {
    let test = "raw_tracepoints_with_a_btf_file_see_syn_retries_drops_and_the_timeout";
    if skipped(test) {
        return;
    }
    if !Path::new(KERNEL_BTF).exists() {
        eprintln!("skipped: {test}: this kernel has no {KERNEL_BTF} to copy");
        return;
    }
    let btf = BtfCopy::new();
    let lab = Lab::new("rawtp");
    lab.client.sysctl("net.ipv4.tcp_syn_retries", "1");
    lab.client.syn_rtos_double();
    let dport = PORT_RAW.to_string();
    lab.server.iptables(
        false,
        &["-A", "INPUT", "-p", "tcp", "--dport", &dport, "-j", "DROP"],
    );
    let btf_path = btf.0.to_string_lossy().into_owned();
    let scope = Tcpscope::start_with(&["--raw-tracepoints", "--btf", &btf_path], &[PORT_RAW]);
    let stats = scope.expect_line("stats", Duration::from_secs(1), |v| v["kind"] == "stats");
    assert_eq!(int(&stats, "probes_attached"), 7, "{stats}");

    let server = SocketAddr::new(lab.server_addr(false), PORT_RAW);
    let error = lab
        .client
        .spawn("raw-client", move || TcpStream::connect(server))
        .join()
        .expect("client thread panicked")
        .expect_err("connect through a SYN black hole succeeded");
    assert_eq!(error.raw_os_error(), Some(libc::ETIMEDOUT), "got {error}");

    let flow = Flow {
        netns: lab.client.inode(),
        daddr: lab.server_addr(false),
        dport: PORT_RAW,
        sport: None,
    };
    let run = finish_after_flow_end(scope, flow);
    let lines = &run.lines;
    let all = dump(lines);
    let end = flow.end(lines);
    assert_text(end, "reason", "timeout");
    assert_text(end, "err", "ETIMEDOUT");
    assert_eq!(
        int(end, "owner_pid"),
        i64::from(std::process::id()),
        "{end}"
    );
    assert_stack_has(end, "tcp_retransmit_timer");
    let opened = flow.lines(lines, "opened");
    let [opened] = opened.as_slice() else {
        panic!("one opened line for the connect; lines:\n{all}");
    };
    assert_eq!(
        int(opened, "sport"),
        int(end, "sport"),
        "the open names the local port the kernel chose: {opened}"
    );
    let retransmits = flow.lines(lines, "retransmit");
    assert_eq!(retransmits.len(), 1, "one SYN retry; lines:\n{all}");
    assert!(
        (int(retransmits[0], "rto_ms") - 1000).abs() <= RTO_SLACK_MS,
        "{}",
        retransmits[0]
    );
    let drops: Vec<_> = lines
        .iter()
        .filter(|v| {
            v["kind"] == "drop"
                && v["netns"].as_u64() == Some(lab.server.inode())
                && v["sport"].as_u64() == Some(u64::from(PORT_RAW))
        })
        .collect();
    assert_eq!(
        drops.len(),
        2,
        "the SYN and its retry dropped; lines:\n{all}"
    );
    for drop in drops {
        assert_text(drop, "reason", "NETFILTER_DROP");
        assert_eq!(text(drop, "flags"), "SYN", "{drop}");
        assert!(
            !drop["stack"].as_array().is_none_or(Vec::is_empty),
            "a drop carries its stack: {drop}"
        );
    }
}
