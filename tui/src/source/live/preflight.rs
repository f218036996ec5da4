//! Checks, before anything is loaded, that this process may load and attach
//! the probes and read what it needs; each missing piece is named with the
//! way to fix it.
//!
//! The probes attach as BTF tracepoints (tp_btf), which need neither tracefs
//! nor kprobes: BTF and the capabilities below are all they need.

use std::{fs, path::Path};

pub const VMLINUX_BTF: &str = "/sys/kernel/btf/vmlinux";
const LOCKDOWN: &str = "/sys/kernel/security/lockdown";

const CAP_SYS_ADMIN: u32 = 21;
const CAP_SYSLOG: u32 = 34;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

/// One thing that stops tcpscope from running, and its fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub what: String,
    pub fix: String,
}

/// Everything that is missing; empty when tcpscope can start.
pub fn check() -> Vec<Problem> {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    let lockdown = fs::read_to_string(LOCKDOWN).unwrap_or_default();
    problems(
        effective_capabilities(&status),
        Path::new(VMLINUX_BTF).exists(),
        &lockdown,
    )
}

/// The checks on given facts, so that tests can feed any combination.
fn problems(capabilities: u64, has_btf: bool, lockdown: &str) -> Vec<Problem> {
    let has = |cap: u32| capabilities >> cap & 1 == 1;
    let admin = has(CAP_SYS_ADMIN);
    let grant = "run tcpscope as root (sudo tcpscope), or grant it the capabilities: \
                 sudo setcap cap_bpf,cap_perfmon,cap_syslog+ep \"$(command -v tcpscope)\"";
    let mut found = Vec::new();
    let mut require = |cap: u32, name: &str, why: &str| {
        if !has(cap) && !admin {
            found.push(Problem {
                what: format!("missing {name}: {why}"),
                fix: grant.to_string(),
            });
        }
    };
    require(CAP_BPF, "CAP_BPF", "needed to load eBPF programs and maps");
    require(
        CAP_PERFMON,
        "CAP_PERFMON",
        "needed to attach tracing programs and read kernel memory",
    );
    require(
        CAP_SYSLOG,
        "CAP_SYSLOG",
        "needed to read kernel addresses in /proc/kallsyms to name kernel stacks",
    );
    if !has_btf {
        found.push(Problem {
            what: format!("this kernel has no BTF ({VMLINUX_BTF} is missing)"),
            fix: "boot a kernel built with CONFIG_DEBUG_INFO_BTF=y (the default on current \
                  Debian, Ubuntu, Fedora and RHEL kernels)"
                .to_string(),
        });
    }
    if lockdown.contains("[confidentiality]") {
        found.push(Problem {
            what: "kernel lockdown is in confidentiality mode, which forbids eBPF from reading \
                   kernel memory"
                .to_string(),
            fix: "boot with lockdown=integrity or none".to_string(),
        });
    }
    found
}

/// The effective capability set from /proc/self/status.
fn effective_capabilities(status: &str) -> u64 {
    status
        .lines()
        .find_map(|line| line.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: u64 = 0x1ff_ffff_ffff;

    #[test]
    fn root_on_a_btf_kernel_has_no_problem() {
        assert_eq!(
            problems(ALL, true, "none [integrity] confidentiality"),
            vec![]
        );
    }

    #[test]
    fn each_missing_capability_is_named_with_its_fix() {
        let without = |cap: u32| ALL & !(1 << cap) & !(1 << CAP_SYS_ADMIN);
        for (cap, name) in [
            (CAP_BPF, "CAP_BPF"),
            (CAP_PERFMON, "CAP_PERFMON"),
            (CAP_SYSLOG, "CAP_SYSLOG"),
        ] {
            let found = problems(without(cap), true, "");
            assert_eq!(found.len(), 1, "{found:?}");
            assert!(found[0].what.contains(name), "{:?}", found[0]);
            assert!(found[0].fix.contains("setcap"), "{:?}", found[0]);
        }
        assert_eq!(
            problems(0, true, "").len(),
            3,
            "an unprivileged user misses all three"
        );
    }

    #[test]
    fn no_btf_and_confidentiality_lockdown_are_reported() {
        let found = problems(ALL, false, "none integrity [confidentiality]");
        assert_eq!(found.len(), 2);
        assert!(found[0].what.contains("no BTF"));
        assert!(found[1].what.contains("lockdown"));
    }

    #[test]
    fn reads_the_effective_set_from_proc_status() {
        let status = "Name:\ttcpscope\nCapInh:\t0000000000000000\nCapEff:\t000001ffffffffff\n";
        assert_eq!(effective_capabilities(status), ALL);
        assert_eq!(effective_capabilities("garbage"), 0);
    }
}
