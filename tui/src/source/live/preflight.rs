//! Checks, before anything is loaded, that this process may load and attach
//! the probes and read what it needs; each missing piece is named with the
//! way to fix it.
//!
//! The probes attach as BTF tracepoints (tp_btf), which need neither tracefs
//! nor kprobes: BTF and the capabilities below are all they need. Without
//! the kernel's own BTF they attach as raw tracepoints, reading structures
//! from a BTF file given with `--btf`.

use std::fs;

use btf_rs::{Btf, Type};

pub const VMLINUX_BTF: &str = "/sys/kernel/btf/vmlinux";
const LOCKDOWN: &str = "/sys/kernel/security/lockdown";

const CAP_DAC_READ_SEARCH: u32 = 2;
const CAP_SYS_PTRACE: u32 = 19;
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

/// What the kernel's BTF says it has, of what tcpscope cannot do without.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Features {
    /// `BPF_MAP_TYPE_RINGBUF` (Linux 5.8), which every probe writes to.
    ring_buffer: bool,
}

impl Features {
    fn of(btf: &Btf) -> Self {
        Self {
            ring_buffer: enum_has(btf, "bpf_map_type", "BPF_MAP_TYPE_RINGBUF"),
        }
    }
}

/// Whether `enum name` of the BTF has a member `member`.
fn enum_has(btf: &Btf, name: &str, member: &str) -> bool {
    btf.resolve_types_by_name(name)
        .unwrap_or_default()
        .into_iter()
        .any(|candidate| match candidate {
            Type::Enum(found) => found
                .members
                .iter()
                .any(|m| btf.resolve_name(m).is_ok_and(|n| n == member)),
            _ => false,
        })
}

/// Everything that is missing; empty when tcpscope can start. `btf` is the
/// BTF tcpscope reads the kernel from (its own, or `--btf`), if any.
pub fn check(btf: Option<&Btf>) -> Vec<Problem> {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    let lockdown = fs::read_to_string(LOCKDOWN).unwrap_or_default();
    problems(
        effective_capabilities(&status),
        btf.map(Features::of),
        &lockdown,
    )
}

/// The checks on given facts, so that tests can feed any combination.
fn problems(capabilities: u64, features: Option<Features>, lockdown: &str) -> Vec<Problem> {
    let has = |cap: u32| capabilities >> cap & 1 == 1;
    let admin = has(CAP_SYS_ADMIN);
    let grant = GRANT;
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
    match features {
        None => found.push(Problem {
            what: format!("this kernel has no BTF ({VMLINUX_BTF} is missing)"),
            fix: "boot a kernel built with CONFIG_DEBUG_INFO_BTF=y (the default on current \
                  Debian, Ubuntu, Fedora and RHEL kernels), or pass --btf FILE with this \
                  kernel's BTF"
                .to_string(),
        }),
        Some(Features { ring_buffer: false }) => found.push(Problem {
            what: "this kernel has no BPF ring buffer (BPF_MAP_TYPE_RINGBUF), which every \
                   probe writes to"
                .to_string(),
            fix: "tcpscope needs Linux 5.8 or later (the ring buffer came in 5.8, BTF \
                  tracepoints in 5.5)"
                .to_string(),
        }),
        Some(Features { ring_buffer: true }) => {}
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

/// How to give tcpscope every capability it uses.
const GRANT: &str = "run tcpscope as root (sudo tcpscope), or grant it the capabilities: \
    sudo setcap cap_bpf,cap_perfmon,cap_syslog,cap_sys_admin,cap_sys_ptrace,cap_dac_read_search+ep \
    \"$(command -v tcpscope)\"";

/// What the socket survey cannot do without each capability it uses; the
/// probes run without them. One line per missing capability.
pub fn survey_limits() -> Vec<String> {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    survey_limits_of(effective_capabilities(&status))
}

fn survey_limits_of(capabilities: u64) -> Vec<String> {
    let has = |cap: u32| capabilities >> cap & 1 == 1;
    [
        (
            CAP_SYS_ADMIN,
            "CAP_SYS_ADMIN",
            "the survey cannot enter other network namespaces: their flows open before \
             start, tcp_info, listeners and counters are missing (tcpscope's own namespace \
             is still read)",
        ),
        (
            CAP_SYS_PTRACE,
            "CAP_SYS_PTRACE",
            "the sockets of other users' processes cannot be read from /proc/<pid>/fd: \
             accepted flows and flows open before start show no owner",
        ),
        (
            CAP_DAC_READ_SEARCH,
            "CAP_DAC_READ_SEARCH",
            "other users' /proc/<pid>/fd cannot be listed: accepted flows and flows open \
             before start show no owner",
        ),
    ]
    .into_iter()
    .filter(|&(cap, _, _)| !has(cap))
    .map(|(_, name, loses)| format!("without {name}, {loses}"))
    .collect()
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
    const MODERN: Option<Features> = Some(Features { ring_buffer: true });

    #[test]
    fn root_on_a_btf_kernel_has_no_problem() {
        assert_eq!(
            problems(ALL, MODERN, "none [integrity] confidentiality"),
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
            let found = problems(without(cap), MODERN, "");
            assert_eq!(found.len(), 1, "{found:?}");
            assert!(found[0].what.contains(name), "{:?}", found[0]);
            assert!(found[0].fix.contains("setcap"), "{:?}", found[0]);
        }
        assert_eq!(
            problems(0, MODERN, "").len(),
            3,
            "an unprivileged user misses all three"
        );
    }

    #[test]
    fn no_btf_and_confidentiality_lockdown_are_reported() {
        let found = problems(ALL, None, "none integrity [confidentiality]");
        assert_eq!(found.len(), 2);
        assert!(found[0].what.contains("no BTF"));
        assert!(found[0].fix.contains("--btf FILE"));
        assert!(found[1].what.contains("lockdown"));
    }

    #[test]
    fn a_kernel_without_a_ring_buffer_is_told_the_minimum() {
        let old = Some(Features { ring_buffer: false });
        let found = problems(ALL, old, "");
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].what.contains("ring buffer"), "{found:?}");
        assert!(found[0].fix.contains("Linux 5.8"), "{found:?}");
    }

    #[test]
    fn the_running_kernels_btf_has_a_ring_buffer() {
        let Ok(btf) = Btf::from_file(VMLINUX_BTF) else {
            eprintln!("skipped: {VMLINUX_BTF} is not readable on this machine");
            return;
        };
        assert_eq!(Features::of(&btf), Features { ring_buffer: true });
        assert!(!enum_has(&btf, "bpf_map_type", "BPF_MAP_TYPE_NO_SUCH_MAP"));
    }

    #[test]
    fn each_capability_the_survey_lacks_says_what_is_lost() {
        assert_eq!(survey_limits_of(ALL), Vec::<String>::new());
        let probes_only = (1 << CAP_BPF) | (1 << CAP_PERFMON) | (1 << CAP_SYSLOG);
        let limits = survey_limits_of(probes_only);
        assert_eq!(limits.len(), 3, "{limits:?}");
        assert!(limits[0].starts_with("without CAP_SYS_ADMIN, the survey cannot enter"));
        assert!(limits[1].contains("CAP_SYS_PTRACE") && limits[1].contains("no owner"));
        assert!(limits[2].contains("CAP_DAC_READ_SEARCH"));
        assert!(GRANT.contains("cap_sys_admin,cap_sys_ptrace,cap_dac_read_search"));
    }

    #[test]
    fn reads_the_effective_set_from_proc_status() {
        let status = "Name:\ttcpscope\nCapInh:\t0000000000000000\nCapEff:\t000001ffffffffff\n";
        assert_eq!(effective_capabilities(status), ALL);
        assert_eq!(effective_capabilities("garbage"), 0);
    }
}
