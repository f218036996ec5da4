//! What the running kernel does, read from its own BTF as tcpscope reads it,
//! for the tests whose expectations differ between kernels: a test expects
//! what this kernel can show, and says what it leaves out.

use serde_json::Value;
use tcpscope::source::live::{
    offsets::{byte_offset, drop_reasons},
    probes::tracepoint_arguments,
};

const KERNEL_BTF: &str = "/sys/kernel/btf/vmlinux";

fn kernel_btf() -> Option<btf_rs::Btf> {
    btf_rs::Btf::from_file(KERNEL_BTF).ok()
}

/// Whether the kernel's `enum skb_drop_reason` has `SKB_DROP_REASON_<name>`.
pub fn has_drop_reason(name: &str) -> bool {
    let wanted = format!("SKB_DROP_REASON_{name}");
    kernel_btf().is_some_and(|btf| drop_reasons(&btf).iter().any(|(n, _)| *n == wanted))
}

/// Whether the kernel's `struct outer` has the member `member`.
pub fn has_member(outer: &'static str, member: &str) -> bool {
    kernel_btf().is_some_and(|btf| byte_offset(&btf, outer, member).is_ok())
}

/// Whether `skb:kfree_skb` names the socket a received segment was
/// dropped at (its `rx_sk` argument). Without it, a segment dropped after
/// the socket lookup carries neither socket nor device: its namespace is
/// unknown.
pub fn drops_name_their_socket() -> bool {
    kernel_btf()
        .and_then(|btf| tracepoint_arguments(&btf, "kfree_skb"))
        .is_some_and(|n| n >= 4)
}

/// Whether `tcp:tcp_send_reset` fires for a RST sent in reply to a segment
/// that matched no socket. Kernels whose tracepoint carries a reset reason
/// (its third argument) do; older ones traced only resets of a socket.
pub fn traces_resets_without_socket() -> bool {
    kernel_btf()
        .and_then(|btf| tracepoint_arguments(&btf, "tcp_send_reset"))
        .is_some_and(|n| n >= 3)
}

/// tcpscope's programs as bpftool names them (at most 15 characters).
const PROGRAMS: [&str; 9] = [
    "inet_sock_set_s",
    "tcp_retransmit_",
    "tcp_send_reset",
    "tcp_receive_res",
    "tcp_destroy_soc",
    "kfree_skb",
    "kfree_skb_no_rx",
    "kfree_skb_no_re",
    "inet_sock_set_state",
];

/// The runs the kernel skipped in tcpscope's programs (the only eBPF
/// programs by those names on a test machine), by bpftool; None without
/// bpftool or when it lists none of them.
pub fn skipped_runs() -> Option<u64> {
    let output = std::process::Command::new("bpftool")
        .args(["-j", "prog", "show"])
        .output()
        .ok()?;
    let programs: Value = serde_json::from_slice(&output.stdout).ok()?;
    let ours: Vec<&Value> = programs
        .as_array()?
        .iter()
        .filter(|program| {
            program["name"]
                .as_str()
                .is_some_and(|name| PROGRAMS.iter().any(|ours| name.starts_with(ours)))
        })
        .collect();
    if ours.is_empty() {
        return None;
    }
    Some(
        ours.iter()
            .map(|program| program["recursion_misses"].as_u64().unwrap_or(0))
            .sum(),
    )
}

/// A count from the environment variable `name`, else `default`.
pub fn count_from_env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(default)
}
