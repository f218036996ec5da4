//! The contract's times: RFC 3339 in UTC with microseconds, the Unix
//! nanoseconds of the model.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::model::event::Nanos;

/// RFC 3339 in UTC with microseconds.
pub fn rfc3339(at: Nanos) -> String {
    let time = UNIX_EPOCH + Duration::from_nanos(at);
    humantime::format_rfc3339_micros(time.max(UNIX_EPOCH)).to_string()
}

/// Parses [`rfc3339`] output back to nanoseconds.
pub fn parse_rfc3339(text: &str) -> Option<Nanos> {
    let (local, offset_s) = split_utc_offset(text)?;
    let time: SystemTime = humantime::parse_rfc3339(&format!("{local}Z")).ok()?;
    let utc_ns = i128::try_from(time.duration_since(UNIX_EPOCH).ok()?.as_nanos()).ok()?
        - i128::from(offset_s) * 1_000_000_000;
    u64::try_from(utc_ns).ok()
}

/// An RFC 3339 time's local part and its offset from UTC in seconds:
/// `Z`, or `+hh:mm` / `-hh:mm`.
fn split_utc_offset(text: &str) -> Option<(&str, i64)> {
    if let Some(local) = text.strip_suffix(['Z', 'z']) {
        return Some((local, 0));
    }
    let split = text.len().checked_sub(6)?;
    let (local, zone) = (text.get(..split)?, text.get(split..)?.as_bytes());
    let sign = match zone[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let two = |at: usize| -> Option<i64> {
        let digits = zone.get(at..at + 2)?;
        digits
            .iter()
            .all(u8::is_ascii_digit)
            .then(|| i64::from(digits[0] - b'0') * 10 + i64::from(digits[1] - b'0'))
    };
    let (hours, minutes) = (two(1)?, two(4)?);
    (zone[3] == b':' && hours < 24 && minutes < 60)
        .then_some((local, sign * (hours * 3600 + minutes * 60)))
}
