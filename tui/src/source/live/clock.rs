//! The kernel's clocks as the probes see them: the timer frequency (HZ) that
//! `icsk_rto` is counted in, and the offset from the monotonic clock of
//! `bpf_ktime_get_ns` to wall-clock time.

use std::{fs, io::Read as _, thread, time::Duration};

use crate::{decode::KernelClock, model::event::Nanos};

/// HZ values Linux can be built with.
const KNOWN_HZ: [u32; 4] = [100, 250, 300, 1000];

/// Reads the clocks; `None` when HZ could not be learnt any way.
pub fn kernel_clock() -> Option<KernelClock> {
    let hz = hz_from_config().or_else(hz_from_timer_list)?;
    Some(KernelClock {
        hz,
        monotonic_to_wall_ns: monotonic_to_wall_ns(),
    })
}

fn monotonic_to_wall_ns() -> i64 {
    read(libc::CLOCK_REALTIME) - read(libc::CLOCK_MONOTONIC)
}

/// Now on the events' clock: the monotonic clock moved by the offset taken
/// at start, as every event's time is. A wall clock stepped during the run
/// (NTP, a resumed VM) then skews no age, forecast or survey against them.
pub fn events_now(monotonic_to_wall_ns: i64) -> Nanos {
    u64::try_from(read(libc::CLOCK_MONOTONIC) + monotonic_to_wall_ns).unwrap_or(0)
}

fn read(clock: libc::clockid_t) -> i64 {
    let mut time = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into the pointer given.
    unsafe { libc::clock_gettime(clock, &mut time) };
    time.tv_sec * 1_000_000_000 + time.tv_nsec
}

/// CONFIG_HZ from /proc/config.gz or /boot/config-<release>.
fn hz_from_config() -> Option<u32> {
    let config = fs::read("/proc/config.gz")
        .ok()
        .and_then(|gz| {
            let mut text = String::new();
            flate2::read::GzDecoder::new(&gz[..])
                .read_to_string(&mut text)
                .ok()?;
            Some(text)
        })
        .or_else(|| {
            let release = fs::read_to_string("/proc/sys/kernel/osrelease").ok()?;
            fs::read_to_string(format!("/boot/config-{}", release.trim())).ok()
        })?;
    parse_config_hz(&config)
}

fn parse_config_hz(config: &str) -> Option<u32> {
    config
        .lines()
        .find_map(|line| line.strip_prefix("CONFIG_HZ="))
        .and_then(|value| value.trim().parse().ok())
}

/// Counts jiffies in /proc/timer_list across a short sleep.
fn hz_from_timer_list() -> Option<u32> {
    let sample = || -> Option<(u64, std::time::Instant)> {
        let text = fs::read_to_string("/proc/timer_list").ok()?;
        Some((parse_jiffies(&text)?, std::time::Instant::now()))
    };
    let (first, start) = sample()?;
    thread::sleep(Duration::from_millis(100));
    let (second, end) = sample()?;
    let rate = (second.saturating_sub(first)) as f64 / (end - start).as_secs_f64();
    nearest_hz(rate)
}

fn parse_jiffies(timer_list: &str) -> Option<u64> {
    timer_list
        .lines()
        .find_map(|line| line.trim().strip_prefix("jiffies:"))
        .and_then(|value| value.trim().parse().ok())
}

fn nearest_hz(rate: f64) -> Option<u32> {
    KNOWN_HZ.into_iter().min_by(|a, b| {
        let distance = |hz: &u32| (f64::from(*hz) - rate).abs();
        distance(a).total_cmp(&distance(b))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_config_hz() {
        assert_eq!(
            parse_config_hz("CONFIG_HZ_250=y\nCONFIG_HZ=250\n"),
            Some(250)
        );
        assert_eq!(parse_config_hz("# CONFIG_HZ is not set\n"), None);
    }

    #[test]
    fn rounds_a_measured_rate_to_a_real_hz() {
        assert_eq!(nearest_hz(247.0), Some(250));
        assert_eq!(nearest_hz(290.0), Some(300));
        assert_eq!(nearest_hz(960.0), Some(1000));
    }

    #[test]
    fn finds_jiffies_in_timer_list() {
        let text = "now at 1 nsecs\n\njiffies: 4295000123\n";
        assert_eq!(parse_jiffies(text), Some(4295000123));
    }

    #[test]
    fn this_machine_has_a_known_hz() {
        let Some(clock) = kernel_clock() else {
            eprintln!("skipped: neither /proc/config.gz nor /proc/timer_list is readable here");
            return;
        };
        assert!(KNOWN_HZ.contains(&clock.hz), "{}", clock.hz);
        assert!(clock.monotonic_to_wall_ns > 1_600_000_000_000_000_000);
    }

    #[test]
    fn now_on_the_events_clock_moves_with_the_monotonic_clock_from_the_wall_time() {
        let offset = monotonic_to_wall_ns();
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_nanos() as i128;
        let first = events_now(offset);
        assert!(
            (i128::from(first) - wall).abs() < 50_000_000,
            "{first} vs {wall}"
        );
        // A different offset (a wall clock stepped by an hour since the
        // start) moves "now" by exactly that much.
        let hour = 3_600_000_000_000;
        let stepped = events_now(offset - hour);
        assert!(stepped + hour as u64 >= first);
        assert!(stepped + hour as u64 - first < 50_000_000);
    }
}
