//! What the running kernel does, read from its own BTF as tcpscope reads it,
//! for the tests whose expectations differ between kernels: a test expects
//! what this kernel can show, and says what it leaves out.

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
