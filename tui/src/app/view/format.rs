//! How times, durations, owners and addresses read on screen: short, fixed
//! formats that fit narrow columns and stay plain text in snapshots.

use std::net::SocketAddr;

use crate::model::{
    errno,
    event::{Nanos, Task},
    flow::FlowEnd,
};

const MS: Nanos = 1_000_000;
const SECOND: Nanos = 1_000 * MS;

/// A duration: `850ms`, `12.3s`, `7m12s`, `2h03m`, `3d04h`.
pub fn duration(nanos: Nanos) -> String {
    let secs = nanos / SECOND;
    match secs {
        0 => format!("{}ms", nanos / MS),
        1..60 => format!("{:.1}s", nanos as f64 / SECOND as f64),
        60..3600 => format!("{}m{:02}s", secs / 60, secs % 60),
        3600..86400 => format!("{}h{:02}m", secs / 3600, secs % 3600 / 60),
        _ => format!("{}d{:02}h", secs / 86400, secs % 86400 / 3600),
    }
}

/// A timeout in milliseconds: `200ms`, `1.6s`, `2m00s`.
pub fn millis(ms: u32) -> String {
    duration(Nanos::from(ms) * MS)
}

/// A time relative to the start of a timeline: `+0.412s`, `+7m12s`.
pub fn offset(nanos: Nanos) -> String {
    if nanos < 100 * SECOND {
        format!("+{:.3}s", nanos as f64 / SECOND as f64)
    } else {
        format!("+{}", duration(nanos))
    }
}

/// Wall-clock time of day, `HH:MM:SS`, `utc_offset` seconds east of UTC.
pub fn time_of_day(at: Nanos, utc_offset: i64) -> String {
    let (_, (hour, minute, second)) = civil(at, utc_offset);
    format!("{hour:02}:{minute:02}:{second:02}")
}

/// `YYYYMMDD-HHMMSS`, for file names.
pub fn file_stamp(at: Nanos, utc_offset: i64) -> String {
    let ((year, month, day), (hour, minute, second)) = civil(at, utc_offset);
    format!("{year:04}{month:02}{day:02}-{hour:02}{minute:02}{second:02}")
}

/// The calendar date and time of day of `at` (proleptic Gregorian).
fn civil(at: Nanos, utc_offset: i64) -> ((i64, u32, u32), (u32, u32, u32)) {
    let secs = (at / SECOND) as i64 + utc_offset;
    let (days, of_day) = (secs.div_euclid(86400), secs.rem_euclid(86400) as u32);
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        (year, month, day),
        (of_day / 3600, of_day % 3600 / 60, of_day % 60),
    )
}

/// The owner as `pid/comm` (as `netstat -p` shows it, so that a narrow
/// column keeps the pid), `unknown` when neither an event in the owner's
/// context nor /proc named it.
pub fn owner(task: Option<&Task>) -> String {
    task.map_or_else(
        || "unknown".to_string(),
        |task| format!("{}/{}", task.pid, task.comm),
    )
}

/// An address, IPv4-mapped IPv6 shown as IPv4.
pub fn addr(addr: SocketAddr) -> String {
    SocketAddr::new(addr.ip().to_canonical(), addr.port()).to_string()
}

/// How a flow ended: `timeout ETIMEDOUT`, `refused ECONNREFUSED`, `closed`.
pub fn end(end: &FlowEnd) -> String {
    match errno::label(end.err) {
        Some(error) => format!("{} {error}", end.reason.name()),
        None => end.reason.name().to_string(),
    }
}

/// A count with a k/M suffix past 10,000.
pub fn count(n: u64) -> String {
    match n {
        0..10_000 => n.to_string(),
        10_000..10_000_000 => format!("{:.1}k", n as f64 / 1e3),
        _ => format!("{:.1}M", n as f64 / 1e6),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_fit_narrow_columns() {
        assert_eq!(duration(850 * MS), "850ms");
        assert_eq!(duration(12_340 * MS), "12.3s");
        assert_eq!(duration(432 * SECOND), "7m12s");
        assert_eq!(duration(7380 * SECOND), "2h03m");
        assert_eq!(duration(3 * 86400 * SECOND + 4 * 3600 * SECOND), "3d04h");
        assert_eq!(millis(1600), "1.6s");
        assert_eq!(offset(412 * MS), "+0.412s");
        assert_eq!(offset(432 * SECOND), "+7m12s");
    }

    #[test]
    fn wall_clock_times_follow_the_calendar() {
        // 2026-11-22T21:47:55Z
        let at = 1_795_384_075 * SECOND;
        assert_eq!(time_of_day(at, 0), "21:47:55");
        assert_eq!(file_stamp(at, 0), "20261122-214755");
        assert_eq!(file_stamp(at, 3 * 3600), "20261123-004755");
        assert_eq!(file_stamp(951_782_400 * SECOND, 0), "20000229-000000");
    }

    #[test]
    fn owners_addresses_and_counts() {
        let task = Task {
            pid: 23023,
            comm: "nc".into(),
        };
        assert_eq!(owner(Some(&task)), "23023/nc");
        assert_eq!(owner(None), "unknown");
        let mapped: SocketAddr = "[::ffff:10.0.0.1]:80".parse().expect("address");
        assert_eq!(addr(mapped), "10.0.0.1:80");
        assert_eq!(count(12_345), "12.3k");
    }
}
