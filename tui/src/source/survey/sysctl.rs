//! The retransmission sysctls of the calling thread's network namespace
//! (/proc/sys/net answers for the namespace of the thread that reads it).

use std::fs;

use crate::model::event::SocketLimits;

/// The namespace's limits; a sysctl this kernel lacks reads as 0, which the
/// forecast treats as its absence (rto max) or as the sysctl's minimum.
pub fn read_limits() -> SocketLimits {
    let read = |name: &str| -> u32 {
        fs::read_to_string(format!("/proc/sys/net/ipv4/{name}"))
            .ok()
            .and_then(|text| text.trim().parse().ok())
            .unwrap_or(0)
    };
    let byte = |name: &str| u8::try_from(read(name)).unwrap_or(u8::MAX);
    let rto_max_ms = read("tcp_rto_max_ms");
    SocketLimits {
        retries2: byte("tcp_retries2"),
        syn_retries: byte("tcp_syn_retries"),
        synack_retries: byte("tcp_synack_retries"),
        orphan_retries: byte("tcp_orphan_retries"),
        syn_linear_timeouts: byte("tcp_syn_linear_timeouts"),
        rto_max_ms: (rto_max_ms != 0).then_some(rto_max_ms),
        ..SocketLimits::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_namespaces_retries() {
        let expected: u8 = fs::read_to_string("/proc/sys/net/ipv4/tcp_retries2")
            .expect("tcp_retries2")
            .trim()
            .parse()
            .expect("a number");
        assert_eq!(read_limits().retries2, expected);
    }
}
