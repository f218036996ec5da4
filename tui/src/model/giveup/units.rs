//! The kernel's units, turned into durations once, off the hot path:
//! icsk_rto counts jiffies (HZ of them a second), retrans_stamp counts
//! milliseconds on a wrapping u32 clock, and timers fire on the timer
//! wheel's granularity.

use std::time::Duration;

const NANOS_PER_SEC: u128 = 1_000_000_000;
/// The timer wheel: each level is 8 times coarser (LVL_CLK_SHIFT)...
const LEVEL_SHIFT: usize = 3;
/// ...and holds 64 buckets (LVL_BITS).
const LEVEL_SIZE: u128 = 64;
/// Jiffies a timer may lose besides the wheel's rounding: converting its
/// delay to jiffies, and waiting for the tick that runs it.
const ROUNDING_JIFFIES: u128 = 2;

/// icsk_rto as a duration; `None` when `hz` is 0.
pub fn rto_from_jiffies(rto_jiffies: u32, hz: u32) -> Option<Duration> {
    let nanos = u128::from(rto_jiffies) * NANOS_PER_SEC / u128::from(hz).max(1);
    (hz > 0).then(|| Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX)))
}

/// Time since retrans_stamp, with `now_ms` read on the same clock
/// (tcp_time_stamp_ms: CLOCK_MONOTONIC in ms, truncated to u32). The
/// difference wraps like the kernel's s32 one; a stamp in the future is 0.
pub fn since_retrans_stamp(now_ms: u32, retrans_stamp_ms: u32) -> Duration {
    let elapsed_ms = now_ms.wrapping_sub(retrans_stamp_ms);
    if i32::try_from(elapsed_ms).is_ok() {
        Duration::from_millis(u64::from(elapsed_ms))
    } else {
        Duration::ZERO
    }
}

/// The most a kernel timer armed for `timer` fires late at `hz` (0 when
/// `hz` is 0): the wheel files it at the level whose range holds it and
/// rounds its expiry up to that level's granularity, 8^level jiffies
/// (kernel/time/timer.c, calc_wheel_index); plus one jiffy for the
/// rounding up of milliseconds to jiffies (msecs_to_jiffies) and one for
/// the tick whose softirq runs the expired timer.
pub fn timer_slack(timer: Duration, hz: u32) -> Duration {
    let hz = u128::from(hz);
    if hz == 0 {
        return Duration::ZERO;
    }
    let jiffies = (timer.as_nanos() * hz).div_ceil(NANOS_PER_SEC);
    let depth = if hz > 100 { 9 } else { 8 };
    let level = (1..depth)
        .take_while(|&level| jiffies >= level_start(level))
        .count();
    let granularity = 1u128 << (LEVEL_SHIFT * level);
    let nanos = (granularity + ROUNDING_JIFFIES) * NANOS_PER_SEC / hz;
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

/// LVL_START(level): the shortest timer filed at `level`.
fn level_start(level: usize) -> u128 {
    (LEVEL_SIZE - 1) << (LEVEL_SHIFT * (level - 1))
}
