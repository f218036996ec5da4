//! tcpscope's eBPF programs: BTF tracepoints (tp_btf) on the kernel's TCP
//! events. Each one reads what the kernel hands it, fills one ring-buffer
//! record and counts the records it could not send, except on the healthy
//! path (`healthy`), where young connections that stay clean are only
//! remembered and counted. Decisions about trouble (is this a timeout? who
//! owns the flow?) are made in userspace.
//!
//! Only built for the BPF target; on the host this crate is an empty binary
//! so that `cargo build --workspace` and clippy still work.
#![cfg_attr(target_arch = "bpf", no_std, no_main)]

#[cfg(target_arch = "bpf")]
mod healthy;
#[cfg(target_arch = "bpf")]
mod kernel;
#[cfg(target_arch = "bpf")]
mod programs;

#[cfg(target_arch = "bpf")]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[cfg(target_arch = "bpf")]
#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";

#[cfg(not(target_arch = "bpf"))]
fn main() {
    eprintln!("tcpscope-probes is an eBPF object; run the tcpscope binary instead");
}
