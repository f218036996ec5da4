//! Root integration test of a SYN flood (issue 14): 50,000 connects (fewer
//! in the kernel matrix's VMs) from one namespace into a SYN black hole in
//! another, made in bursts and held open for 10 s, so the kernel keeps them
//! in SYN_SENT, retransmitting (and, as the CPU backlog overflows, timing
//! some out early). tcpscope runs with `--max-flows` a fifth of the flood:
//! its table never holds more, the rest is evicted and counted, its memory
//! stays bounded (peak RSS reported), its stats lines keep coming every
//! second, and every event it did not see is counted lost (at least the
//! runs the kernel skipped, read with bpftool).

mod support;

use serde_json::Value;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};
use support::kernel::{count_from_env, skipped_runs};
use support::lines::int;
use support::netns::Lab;
use support::scenario::skipped;
use support::tcpscope::{Tcpscope, dump};

const PORT: u16 = 23231;
const QUIET_PORT: u16 = 23239;
/// Connects in the flood; TCPSCOPE_FLOOD_CONNECTS overrides it (the kernel
/// matrix makes fewer: its guests run without KVM).
const CONNECTS: usize = 50_000;
/// Server ports the connects are spread over, from PORT on.
const DESTINATION_PORTS: usize = 8;
/// Processes the connects are spread over.
const FLOODERS: usize = 3;
/// How long the connects are held once made.
const FLOOD: Duration = Duration::from_secs(10);
/// Connects a flooder makes at once, and the pause between bursts.
const BURST: usize = 1000;
const BURST_PAUSE: Duration = Duration::from_millis(100);
/// How long the connects may take to be made.
const RAMP_MAX: Duration = Duration::from_secs(30);

/// How much tcpscope's peak RSS may exceed its RSS before the flood: the
/// capped table, the drops and destinations kept, the decoder's buffers.
const RSS_GROWTH_MAX_KB: u64 = 64 * 1024;

/// A field of /proc/PID/status in kB (VmRSS, VmHWM).
fn status_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("cannot read tcpscope's status: {e}"));
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// Processes that hold the flood's sockets (a process may hold only 20,000
/// descriptors here, and root cannot raise that without CAP_SYS_RESOURCE);
/// killed on drop, which closes their sockets.
struct Flooders(Vec<libc::pid_t>);

impl Drop for Flooders {
    fn drop(&mut self) {
        for &pid in &self.0 {
            // SAFETY: kill and waitpid on children this test forked.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, std::ptr::null_mut(), 0);
            }
        }
    }
}

/// Forks a process, in the calling thread's network namespace, that makes
/// `count` non-blocking connects to `to`, [`BURST`] at a time with `pause`
/// between bursts, and then holds them (in SYN_SENT) until killed.
fn fork_flooder(to: SocketAddr, count: usize, pause: Duration) -> libc::pid_t {
    let SocketAddr::V4(to) = to else {
        panic!("an IPv4 address: {to}")
    };
    // Spread over DESTINATION_PORTS ports: the kernel's search for a free
    // local port toward one destination slows as its ports fill.
    let addresses: [libc::sockaddr_in; DESTINATION_PORTS] =
        std::array::from_fn(|n| libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: (to.port() + n as u16).to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from(*to.ip()).to_be(),
            },
            sin_zero: [0; 8],
        });
    let length = libc::socklen_t::try_from(size_of::<libc::sockaddr_in>()).expect("size");
    let pause = libc::timespec {
        tv_sec: 0,
        tv_nsec: libc::c_long::try_from(pause.as_nanos()).expect("under a second"),
    };
    // SAFETY: the child calls only socket, connect, nanosleep and pause (no
    // allocation, no lock another thread may hold) until it is killed.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
    if pid == 0 {
        for n in 0..count {
            // SAFETY: as above; the descriptors live until the process dies.
            unsafe {
                let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_NONBLOCK, 0);
                if fd >= 0 {
                    let address = &addresses[n % DESTINATION_PORTS];
                    libc::connect(fd, (&raw const *address).cast(), length);
                }
                if n % BURST == BURST - 1 {
                    libc::nanosleep(&pause, std::ptr::null_mut());
                }
            }
        }
        loop {
            // SAFETY: as above.
            unsafe { libc::pause() };
        }
    }
    pid
}

/// Raises this process's soft limit of open files to its hard limit (a
/// guest's soft limit is 1,024), for the flooders it forks.
fn open_files_up_to_the_hard_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read and write a valid rlimit.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// Connects the kernel of `lab`'s client namespace began (Tcp ActiveOpens).
fn active_opens(lab: &Lab) -> usize {
    let snmp = lab.client.exec("cat", &["/proc/net/snmp"]);
    let mut tcp = snmp.lines().filter(|line| line.starts_with("Tcp:"));
    let (Some(names), Some(values)) = (tcp.next(), tcp.next()) else {
        panic!("no Tcp lines in /proc/net/snmp:\n{snmp}")
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(name, _)| *name == "ActiveOpens")
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or_else(|| panic!("no ActiveOpens in /proc/net/snmp:\n{snmp}"))
}

/// Sockets in SYN_SENT in `lab`'s client namespace.
fn connecting(lab: &Lab) -> usize {
    lab.client
        .exec("ss", &["-tanH", "state", "syn-sent"])
        .lines()
        .count()
}

#[test]
fn a_syn_flood_stays_within_the_flow_cap_and_counts_every_loss() {
    let test = "a_syn_flood_stays_within_the_flow_cap_and_counts_every_loss";
    if skipped(test) {
        return;
    }
    let lab = Lab::new("flood");
    lab.client
        .sysctl("net.ipv4.ip_local_port_range", "1024 65535");
    lab.server
        .iptables(false, &["-A", "INPUT", "-p", "tcp", "--syn", "-j", "DROP"]);
    let connects = count_from_env("TCPSCOPE_FLOOD_CONNECTS", CONNECTS);
    // A fifth of the flood fits in the table.
    let max_flows = i64::try_from(connects / 5).expect("count");
    let cap = max_flows.to_string();
    let scope = Tcpscope::start_with(&["--max-flows", &cap], &[QUIET_PORT]);
    let pid = scope.pid();
    let rss_before = status_kb(pid, "VmRSS");

    let server = match lab.server_addr(false) {
        std::net::IpAddr::V4(ip) => SocketAddr::from((ip, PORT)),
        std::net::IpAddr::V6(_) => SocketAddr::from((Ipv4Addr::LOCALHOST, PORT)),
    };
    let started = Instant::now();
    open_files_up_to_the_hard_limit();
    let per_process = connects.div_ceil(FLOODERS);
    let flooders = Flooders(
        lab.client
            .spawn("flood", move || {
                (0..FLOODERS)
                    .map(|_| fork_flooder(server, per_process, BURST_PAUSE))
                    .collect()
            })
            .join()
            .expect("flood thread panicked"),
    );
    // Until every connect is made, then FLOOD longer; tcpscope's RSS each
    // second.
    let mut rss = Vec::new();
    let mut held = 0;
    let mut made_in = None;
    let mut hold_until = started + RAMP_MAX;
    while Instant::now() < hold_until {
        std::thread::sleep(Duration::from_secs(1));
        rss.push(status_kb(pid, "VmRSS"));
        let now = connecting(&lab);
        held = held.max(now);
        if made_in.is_none() && now >= connects * 99 / 100 {
            made_in = Some(started.elapsed());
            hold_until = Instant::now() + FLOOD;
        }
    }
    let made_in = made_in.unwrap_or(RAMP_MAX);
    // Under emulation (the kernel matrix) fewer may be made in time, and
    // many time out early: the kernel's count of connects is the truth.
    let made = active_opens(&lab);
    let wanted = per_process * FLOODERS;
    let skipped = skipped_runs();
    let rss_peak = status_kb(pid, "VmHWM");
    drop(flooders);
    std::thread::sleep(Duration::from_secs(2));
    let run = scope.finish();

    let stats: Vec<&Value> = run.lines.iter().filter(|v| v["kind"] == "stats").collect();
    let last = stats.last().expect("a stats line");
    let most_live = stats
        .iter()
        .map(|v| int(v, "flows_live"))
        .max()
        .unwrap_or(0);
    let gaps: Vec<f64> = stats
        .windows(2)
        .map(|pair| {
            let at = |v: &Value| {
                humantime::parse_rfc3339(v["ts"].as_str().expect("ts")).expect("RFC 3339 ts")
            };
            at(pair[1])
                .duration_since(at(pair[0]))
                .map_or(0.0, |gap| gap.as_secs_f64())
        })
        .collect();
    let widest_gap = gaps.iter().copied().fold(0.0, f64::max);
    let (events, lost) = (int(last, "events"), int(last, "lost"));
    eprintln!(
        "{test}: {made} of {wanted} connects made in {:.1} s, at most {held} in SYN_SENT at once; tcpscope RSS {} kB before, peak {} kB \
         (+{} kB); most live flows {most_live}, evicted {}; events {events}, lost {lost}, \
         runs skipped by the kernel {}; widest gap between stats lines {widest_gap:.2} s; \
         RSS each second (kB): {rss:?}",
        made_in.as_secs_f64(),
        rss_before,
        rss_peak,
        rss_peak.saturating_sub(rss_before),
        int(last, "flows_evicted"),
        skipped.map_or(
            "not read (bpftool lists no program of ours)".to_string(),
            |n| n.to_string()
        ),
    );
    let all = dump(stats.iter().copied());
    assert!(
        most_live <= max_flows,
        "the table went past its cap:\n{all}"
    );
    assert!(
        int(last, "flows_evicted") >= held as i64 - max_flows - int(last, "lost"),
        "flows past the cap should be evicted and counted:\n{all}"
    );
    assert!(
        rss_peak.saturating_sub(rss_before) < RSS_GROWTH_MAX_KB,
        "tcpscope's RSS grew from {rss_before} kB to {rss_peak} kB under a capped flood"
    );
    assert!(
        widest_gap < 3.0,
        "the stats lines stalled for {widest_gap:.2} s during the flood:\n{all}"
    );
    assert!(
        held as i64 > max_flows,
        "the flood never held more than {held} connects, the cap is {max_flows}"
    );
    // Every connect's change to SYN_SENT was seen or counted lost.
    assert!(
        events + lost >= made as i64,
        "{made} connects but only {events} events and {lost} lost:\n{all}"
    );
    match skipped {
        Some(skipped) => assert!(
            u64::try_from(lost).expect("lost >= 0") >= skipped,
            "the kernel skipped {skipped} runs, tcpscope counted {lost} lost:\n{all}"
        ),
        None => eprintln!("not checked: {test}: bpftool lists none of our programs"),
    }
}
