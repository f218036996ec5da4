//! The give-up model against the kernel's arithmetic, hand-computed cases
//! and the measurements in PLATFORM.md.

use std::time::Duration;

use super::units::{rto_from_jiffies, since_retrans_stamp, timer_slack};
use super::*;

fn ms(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

fn secs(secs: u64) -> Duration {
    Duration::from_secs(secs)
}

fn established(retries: u8, initial_rto: Duration) -> Limits {
    Limits {
        retries,
        initial_rto,
        ..Limits::new(Phase::Established)
    }
}

fn syn_sent(retries: u8, syn_linear_timeouts: u8) -> Limits {
    Limits {
        retries,
        syn_linear_timeouts,
        ..Limits::new(Phase::SynSent)
    }
}

fn at_ms(schedule: &Schedule) -> Vec<u128> {
    schedule
        .retransmissions
        .iter()
        .map(|planned| planned.at.as_millis())
        .collect()
}

fn rto_ms(schedule: &Schedule) -> Vec<u128> {
    schedule
        .retransmissions
        .iter()
        .map(|planned| planned.rto.as_millis())
        .collect()
}

/// (earliest, latest, expected) in ms.
fn window_ms(window: &GiveUpWindow) -> (u128, u128, u128) {
    (
        window.earliest.as_millis(),
        window.latest.as_millis(),
        window.expected.as_millis(),
    )
}

#[test]
fn incident_two_gives_up_between_924_6_and_1044_6_seconds() {
    // Budget: ilog2(120 s / 200 ms = 600) = 9, so (2<<9 - 1) * 0.2 s
    // + (15 - 9) * 120 s = 204.6 + 720 = 924.6 s. The timers after the first
    // retransmission run 0.4, 0.8 ... 102.4 s (204.4 s in all), then 120 s:
    // the 15th fires at 924.4 s, 0.2 s short, so a 16th retransmission goes
    // out and the next firing, at 1044.4 s, gives up.
    let schedule = schedule(&established(15, ms(200)));
    assert_eq!(
        window_ms(&schedule.give_up),
        (924_600, 1_044_600, 1_044_400)
    );
    assert_eq!(schedule.give_up.rule, GiveUpRule::RetryBudget);
    assert_eq!(schedule.give_up.rto_in_force, secs(120));
    assert_eq!(schedule.retransmits_at_give_up, 16);
    assert_eq!(schedule.retransmissions.len(), 16);
    assert_eq!(
        schedule.retransmissions[15],
        Planned {
            n: 16,
            rto: secs(120),
            at: ms(924_400)
        }
    );
    assert_eq!(schedule.error, ETIMEDOUT);
}

#[test]
fn incident_two_with_a_215ms_rto_gives_up_near_940_seconds() {
    // 0.215 s * (2 + 4 + ... + 512) = 219.73 s, then 120 s timers: the
    // 14th fires at 819.73 s, the 15th at 939.73 s, past 924.6 s.
    let schedule = schedule(&established(15, ms(215)));
    assert_eq!(window_ms(&schedule.give_up), (924_600, 1_044_600, 939_730));
    assert_eq!(schedule.retransmits_at_give_up, 15);
}

#[test]
fn three_retries2_give_up_after_the_3_second_budget() {
    // Budget (2<<3 - 1) * 0.2 = 3.0 s. Retransmissions at 0, 0.4, 1.2,
    // 2.8 s; the 3.2 s timer then fires at 6.0 s.
    let schedule = schedule(&established(3, ms(200)));
    assert_eq!(at_ms(&schedule), [0, 400, 1_200, 2_800]);
    assert_eq!(rto_ms(&schedule), [200, 400, 800, 1_600]);
    assert_eq!(window_ms(&schedule.give_up), (3_000, 6_200, 6_000));
}

#[test]
fn five_retries2_give_up_after_the_12_6_second_budget() {
    // Budget 63 * 0.2 = 12.6 s. Firings at 0.4, 1.2, 2.8, 6.0, 12.4 (just
    // short) and 25.2 s; the RTO in force at 12.6 s is 12.8 s.
    let schedule = schedule(&established(5, ms(200)));
    assert_eq!(at_ms(&schedule), [0, 400, 1_200, 2_800, 6_000, 12_400]);
    assert_eq!(window_ms(&schedule.give_up), (12_600, 25_400, 25_200));
}

#[test]
fn eight_retries2_give_up_after_the_102_2_second_budget() {
    // Budget 511 * 0.2 = 102.2 s. The 8th firing after the first
    // retransmission is at 0.2 * (512 - 2) = 102.0 s, the 9th at 204.4 s
    // with a 102.4 s RTO in force.
    let schedule = schedule(&established(8, ms(200)));
    assert_eq!(window_ms(&schedule.give_up), (102_200, 204_600, 204_400));
    assert_eq!(schedule.retransmits_at_give_up, 9);
}

#[test]
fn syn_without_linear_timeouts_doubles_from_one_second() {
    // PLATFORM.md: with tcp_syn_linear_timeouts=0 the RTO doubles exactly,
    // 1000, 2000, 4000, 8000 ms. tcp_syn_retries=6 allows 6 retransmissions;
    // the 64 s timer after the 6th fires 126 s after the first one (127 s
    // after the SYN, which is also when the 127 s budget runs out).
    let schedule = schedule(&syn_sent(6, 0));
    assert_eq!(
        rto_ms(&schedule),
        [1_000, 2_000, 4_000, 8_000, 16_000, 32_000]
    );
    assert_eq!(at_ms(&schedule), [0, 2_000, 6_000, 14_000, 30_000, 62_000]);
    assert_eq!(window_ms(&schedule.give_up), (126_000, 126_000, 126_000));
    assert_eq!(schedule.give_up.rule, GiveUpRule::RetryCount);
}

#[test]
fn two_and_three_syn_retries_without_linear_timeouts() {
    // 2 retries: retransmissions at 0 and 2 s, the 4 s timer fires at 6 s.
    let two = schedule(&syn_sent(2, 0));
    assert_eq!(at_ms(&two), [0, 2_000]);
    assert_eq!(window_ms(&two.give_up), (6_000, 6_000, 6_000));
    // 3 retries: at 0, 2 and 6 s, the 8 s timer fires at 14 s.
    let three = schedule(&syn_sent(3, 0));
    assert_eq!(at_ms(&three), [0, 2_000, 6_000]);
    assert_eq!(window_ms(&three.give_up), (14_000, 14_000, 14_000));
}

#[test]
fn linear_timeouts_let_the_syn_budget_end_two_retries() {
    // 2 retries + 4 linear ones allow 6 retransmissions, but the budget,
    // (2<<2 - 1) * 1 s = 7 s after the SYN (6 s after the first
    // retransmission), ends first: five 1 s timers, then a 2 s one at 6 s.
    let schedule = schedule(&syn_sent(2, 4));
    assert_eq!(at_ms(&schedule), [0, 1_000, 2_000, 3_000, 4_000]);
    assert_eq!(rto_ms(&schedule), [1_000; 5]);
    assert_eq!(window_ms(&schedule.give_up), (6_000, 8_000, 6_000));
    assert_eq!(schedule.give_up.rule, GiveUpRule::RetryBudget);
}

#[test]
fn linear_timeouts_add_to_three_syn_retries() {
    // 3 + 4 = 7 retransmissions: 1 s apart up to the 5th, then 2 and 4 s;
    // the 8 s timer fires at 18 s (the 15 s budget is 14 s after the first).
    let schedule = schedule(&syn_sent(3, 4));
    assert_eq!(
        at_ms(&schedule),
        [0, 1_000, 2_000, 3_000, 4_000, 6_000, 10_000]
    );
    assert_eq!(window_ms(&schedule.give_up), (18_000, 18_000, 18_000));
    assert_eq!(schedule.give_up.rule, GiveUpRule::RetryCount);
}

#[test]
fn default_syn_retries_give_up_130_seconds_after_the_first() {
    // 6 + 4 = 10 retransmissions: RTOs 1, 1, 1, 1, 1, 2, 4, 8, 16, 32 s,
    // then the 64 s timer fires at 130 s (131 s after the SYN).
    let schedule = schedule(&Limits::new(Phase::SynSent));
    let at: Vec<u128> = [0, 1, 2, 3, 4, 6, 10, 18, 34, 66].map(|s| s * 1_000).into();
    assert_eq!(at_ms(&schedule), at);
    assert_eq!(window_ms(&schedule.give_up), (130_000, 130_000, 130_000));
}

#[test]
fn synack_retransmits_at_1_3_7_15_seconds_then_drops_the_request() {
    // PLATFORM.md: SYN-ACK retransmits at +1, +3, +7, +15 s after the
    // first SYN-ACK, i.e. 0, 2, 6, 14 s after the first retransmission.
    let schedule = schedule(&Limits::new(Phase::SynRecv));
    assert_eq!(at_ms(&schedule), [0, 2_000, 6_000, 14_000, 30_000]);
    assert_eq!(window_ms(&schedule.give_up), (62_000, 62_000, 62_000));
    assert_eq!(schedule.error, REQUEST_DROPPED);
}

#[test]
fn user_timeout_clamps_the_last_timer() {
    // Retransmissions at 0, 0.4, 1.2, 2.8 s; the 3.2 s timer is cut to the
    // 2.2 s left of TCP_USER_TIMEOUT=5s.
    let limits = Limits {
        user_timeout: Some(secs(5)),
        ..established(15, ms(200))
    };
    let schedule = schedule(&limits);
    assert_eq!(at_ms(&schedule), [0, 400, 1_200, 2_800]);
    assert_eq!(window_ms(&schedule.give_up), (5_000, 5_000, 5_000));
    assert_eq!(schedule.give_up.rule, GiveUpRule::UserTimeout);
    assert_eq!(schedule.give_up.rto_in_force, ms(2_200));
}

#[test]
fn user_timeout_of_a_connect_counts_from_the_syn() {
    // 5 s from the SYN is 4 s after the first retransmission: retransmit
    // at 0 and 2 s, then the 4 s timer is cut to 2 s.
    let limits = Limits {
        user_timeout: Some(secs(5)),
        ..syn_sent(6, 0)
    };
    let schedule = schedule(&limits);
    assert_eq!(at_ms(&schedule), [0, 2_000]);
    assert_eq!(window_ms(&schedule.give_up), (4_000, 4_000, 4_000));
    // Shorter than the SYN's RTO: the first retransmission still goes out
    // (no retransmission, no check), then the timer fires at once.
    let short = Limits {
        user_timeout: Some(ms(500)),
        ..syn_sent(6, 0)
    };
    let schedule = super::schedule(&short);
    assert_eq!(at_ms(&schedule), [0]);
    assert_eq!(window_ms(&schedule.give_up), (0, 0, 0));
}

#[test]
fn platform_user_timeout_of_1500ms_ends_near_1_9_seconds() {
    // PLATFORM.md: TCP_USER_TIMEOUT=1500 ms gave ETIMEDOUT at about 1.9 s,
    // on the flow whose first RTO retransmission went out at about 0.41 s
    // with a 208 ms RTO (52 jiffies at HZ=250). Retransmissions at 0,
    // 0.416, 1.248 s; the 1.664 s timer is cut to 0.252 s.
    let limits = Limits {
        user_timeout: Some(ms(1_500)),
        ..established(15, ms(208))
    };
    let schedule = schedule(&limits);
    assert_eq!(at_ms(&schedule), [0, 416, 1_248]);
    assert_eq!(window_ms(&schedule.give_up), (1_500, 1_500, 1_500));
    // "About 1.9 s" is 1.49 s after the first retransmission: 10 ms off,
    // the precision PLATFORM.md gives its times to.
    let measured = ms(1_900 - 410);
    assert!(schedule.give_up.expected.abs_diff(measured) <= ms(10));
}

#[test]
fn platform_black_hole_with_three_retries2() {
    // PLATFORM.md: tcp_retries2=3, RTO retransmits at about +0.41, +0.84,
    // +1.67, +3.34 s and ETIMEDOUT at about +6.9 s. A 208 ms RTO puts them
    // at 0, 0.416, 1.248, 2.912 s after the first; each timer of 105 to 416
    // jiffies sits on the wheel's second level at HZ=250 and may fire up to
    // 8 jiffies (32 ms) late, so that is the tolerance.
    let schedule = schedule(&established(3, ms(208)));
    let measured = [410u64, 840, 1_670, 3_340].map(|at| ms(at - 410));
    for (planned, measured) in schedule.retransmissions.iter().zip(measured) {
        assert!(
            planned.at.abs_diff(measured) <= ms(32),
            "{planned:?} vs {measured:?}"
        );
    }
    assert_eq!(schedule.retransmissions.len(), 4);
    // Budget 3.0 s; the 3.328 s RTO in force then fires at 6.24 s.
    assert_eq!(window_ms(&schedule.give_up), (3_000, 6_328, 6_240));
    // 6.49 s after the first retransmission is past that window: the 3.328 s
    // timer (832 jiffies) sits on the wheel's third level, 64 jiffies
    // (256 ms) coarse. The window widened by that slack holds it.
    let measured = ms(6_900 - 410);
    assert!(measured > schedule.give_up.latest);
    let widened = schedule.give_up_with_timer_slack(250);
    assert_eq!(widened.latest, ms(6_592));
    assert!(widened.earliest <= measured && measured <= widened.latest);
}

#[test]
fn a_lower_rto_max_shortens_the_budget() {
    // rto max 1 s: ilog2(1000 / 200) = 2, budget 7 * 0.2 + 13 * 1 = 14.4 s.
    // Firings at 0.4, 1.2, then every second: the 15th at 14.2 s, the 16th
    // at 15.2 s.
    let one = Limits {
        rto_max: secs(1),
        ..established(15, ms(200))
    };
    let schedule = schedule(&one);
    assert_eq!(window_ms(&schedule.give_up), (14_400, 15_400, 15_200));
    assert_eq!(rto_ms(&schedule)[..5], [200, 400, 800, 1_000, 1_000]);
    // rto max 5 s: ilog2(25) = 4, budget 31 * 0.2 + 11 * 5 = 61.2 s.
    // Firings at 0.4, 1.2, 2.8, 6.0, then every 5 s: 61.0 s, then 66.0 s.
    let five = Limits {
        rto_max: secs(5),
        ..established(15, ms(200))
    };
    assert_eq!(
        window_ms(&super::schedule(&five).give_up),
        (61_200, 66_200, 66_000)
    );
}

#[test]
fn orphans_get_eight_retries_while_alive() {
    // tcp_orphan_retries=0 means 8 while the RTO is below its maximum:
    // the budget of 8 retries, 102.2 s.
    let schedule = schedule(&Limits::new(Phase::Orphan));
    assert_eq!(window_ms(&schedule.give_up), (102_200, 204_600, 204_400));
    // An explicit tcp_orphan_retries=3 is the 3 s budget.
    let three = Limits {
        retries: 3,
        ..Limits::new(Phase::Orphan)
    };
    assert_eq!(
        window_ms(&super::schedule(&three).give_up),
        (3_000, 6_200, 6_000)
    );
}

#[test]
fn an_orphan_whose_rto_reaches_the_maximum_gives_up_at_once() {
    // rto max 5 s: firings at 0.4, 1.2, 2.8, 6.0 s with RTOs below 5 s
    // (budget 31 * 0.2 + 4 * 5 = 26.2 s), then the 5 s timer fires at 11 s:
    // no longer alive, 0 retries, a 0.2 s budget long gone.
    let limits = Limits {
        rto_max: secs(5),
        ..Limits::new(Phase::Orphan)
    };
    let schedule = schedule(&limits);
    assert_eq!(at_ms(&schedule), [0, 400, 1_200, 2_800, 6_000]);
    assert_eq!(window_ms(&schedule.give_up), (11_000, 11_000, 11_000));
}

#[test]
fn projecting_from_a_planned_retransmission_keeps_the_plan() {
    // The 10th retransmission goes out at 204.4 s after a 102.4 s RTO.
    let limits = established(15, ms(200));
    let planned = schedule(&limits);
    let done = [SeenRetransmit::from_ms(10, 102_400, 204_400)];
    let projected = project(&limits, &done);
    assert_eq!(projected.retransmissions, planned.retransmissions[10..]);
    assert_eq!(projected.give_up, planned.give_up);
    assert_eq!(project(&limits, &[]), planned);
}

#[test]
fn projecting_from_a_live_rto_stays_anchored_at_the_first_retransmission() {
    // The 3rd retransmission at 2 s after a 1 s RTO: timers of 2, 4 ... 64 s
    // bring it to 128 s, then 120 s ones: 248 ... 848 s, then 968 s, the
    // first firing past the 924.6 s budget.
    let limits = established(15, ms(200));
    let done = [
        SeenRetransmit::from_ms(3, 1_000, 2_000),
        SeenRetransmit::from_ms(1, 200, 0),
        SeenRetransmit::from_ms(2, 500, 500),
    ];
    let projected = project(&limits, &done);
    assert_eq!(
        at_ms(&projected)[..6],
        [4_000, 8_000, 16_000, 32_000, 64_000, 128_000]
    );
    assert_eq!(window_ms(&projected.give_up), (924_600, 1_044_600, 968_000));
    assert_eq!(projected.retransmits_at_give_up, 15);
}

#[test]
fn projecting_a_connect_inside_its_linear_timeouts() {
    let limits = Limits::new(Phase::SynSent);
    let projected = project(&limits, &[SeenRetransmit::from_ms(2, 1_000, 1_000)]);
    let at: Vec<u128> = [2, 3, 4, 6, 10, 18, 34, 66].map(|s| s * 1_000).into();
    assert_eq!(at_ms(&projected), at);
    assert_eq!(window_ms(&projected.give_up), (130_000, 130_000, 130_000));
}

#[test]
fn absurd_limits_are_clamped_not_obeyed() {
    // A zero RTO starts at the 200 ms floor and a zero rto max is 1 s, so
    // the budget of 255 retries is 7 * 0.2 + 253 * 1 = 254.4 s.
    let limits = Limits {
        initial_rto: Duration::ZERO,
        rto_max: Duration::ZERO,
        ..established(255, ms(200))
    };
    let schedule = schedule(&limits);
    assert_eq!(schedule.retransmissions[0].rto, ms(200));
    assert_eq!(schedule.give_up.earliest, ms(254_400));
    // 255 SYN retries plus 255 linear ones would allow 510 retransmissions,
    // but the budget, 127 s + 249 * 120 s = 30007 s after the SYN, ends
    // first: 256 of them 1 s apart, six doubling, then 120 s apart
    // (retransmission 262 + j at 381 s + 120 s * j) until j = 247 passes it.
    let syn = super::schedule(&syn_sent(255, 255));
    assert_eq!(syn.retransmits_at_give_up, 508);
    assert_eq!(syn.give_up.expected, secs(381 + 120 * 247));
    assert!(
        syn.retransmissions
            .windows(2)
            .all(|pair| pair[0].at < pair[1].at)
    );
    // A zero retry count for a handshake still allows one retransmission.
    assert_eq!(super::schedule(&syn_sent(0, 0)).retransmits_at_give_up, 1);
}

#[test]
fn a_huge_user_timeout_lists_the_first_rows_and_counts_them_all() {
    // TCP_USER_TIMEOUT caps at i32::MAX ms = 2147483.647 s. Firings at
    // 204.4 s + 120 s * k stay below it up to k = 17893, the 17902nd firing,
    // so retransmission 17903 is the last; the cut timer fires at the cap.
    let limits = Limits {
        user_timeout: Some(Duration::MAX),
        ..established(15, ms(200))
    };
    let schedule = schedule(&limits);
    assert_eq!(schedule.retransmissions.len(), Schedule::LISTED_MAX);
    assert_eq!(schedule.retransmits_at_give_up, 17_903);
    assert_eq!(schedule.give_up.expected, ms(2_147_483_647));
}

#[test]
fn kernel_units_become_durations() {
    assert_eq!(rto_from_jiffies(52, 250), Some(ms(208)));
    assert_eq!(rto_from_jiffies(1, 1000), Some(ms(1)));
    assert_eq!(rto_from_jiffies(52, 0), None);
    assert_eq!(since_retrans_stamp(1_000, 400), ms(600));
    assert_eq!(since_retrans_stamp(5, u32::MAX - 4), ms(10));
    assert_eq!(since_retrans_stamp(400, 1_000), Duration::ZERO);
    let syn = Limits::new(Phase::SynSent);
    assert_eq!(syn.since_first_retransmission(ms(10_009)), ms(9_009));
    assert_eq!(syn.since_first_retransmission(ms(500)), Duration::ZERO);
    let established = Limits::new(Phase::Established);
    assert_eq!(
        established.since_first_retransmission(ms(10_009)),
        ms(10_009)
    );
}

#[test]
fn the_timer_wheel_is_coarser_for_longer_timers() {
    // At HZ=250: 52 jiffies on level 0 (1 jiffy), 416 on level 1 (8),
    // 832 on level 2 (64), 30000 on level 3 (512). At HZ=1000 120 s is
    // 120000 jiffies, level 4 (4096). Each adds 2 jiffies of rounding.
    assert_eq!(timer_slack(ms(208), 250), ms(12));
    assert_eq!(timer_slack(ms(1_664), 250), ms(40));
    assert_eq!(timer_slack(ms(3_328), 250), ms(264));
    assert_eq!(timer_slack(secs(120), 250), ms(2_056));
    assert_eq!(timer_slack(secs(120), 1000), ms(4_098));
    assert_eq!(timer_slack(secs(120), 0), Duration::ZERO);
}

#[test]
fn a_count_rule_widens_by_every_timer_since_the_first_retransmission() {
    // 2 SYN retries: the 2 s timer (500 jiffies, 8 + 2 jiffies = 40 ms of
    // slack) and the 4 s one (1000 jiffies, 64 + 2 = 264 ms) may both fire
    // late.
    let schedule = schedule(&syn_sent(2, 0));
    let widened = schedule.give_up_with_timer_slack(250);
    assert_eq!(widened.earliest, secs(6));
    assert_eq!(widened.latest, ms(6_304));
}

#[test]
fn a_syn_kept_on_the_host_counts_and_comes_back_in_500ms() {
    // tcp_syn_retries 3 without linear timeouts: retransmissions at +0, +2 s
    // and +6 s, give-up at +14 s. The second one (at +2 s, a 2 s RTO
    // expired) does not leave the host: the timer comes back at +2.5 s
    // with 2 counted and the RTO still 2 s.
    let limits = syn_sent(3, 0);
    let done = [
        SeenRetransmit::from_ms(1, 1_000, 0),
        SeenRetransmit::from_ms(2, 2_000, 2_000).not_sent(),
    ];
    let projected = project(&limits, &done);
    // The 3rd at +2.5 s; sent, its RTO doubles to 4 s, and the firing at
    // +6.5 s finds 3 counted.
    assert_eq!(at_ms(&projected), [2_500]);
    assert_eq!(projected.give_up.expected, ms(6_500));
    // Should the congestion go on, the 3rd fails too and the firing at
    // +3 s gives up: the window holds both, and a probe interval more for
    // the one retransmission that may yet fail.
    assert_eq!(window_ms(&projected.give_up), (3_000, 7_000, 6_500));
    assert_eq!(projected.retransmits_at_give_up, 3);
}

#[test]
fn once_the_count_is_spent_by_kept_syns_the_next_firing_gives_up() {
    let limits = syn_sent(3, 0);
    let done = [
        SeenRetransmit::from_ms(1, 1_000, 0),
        SeenRetransmit::from_ms(2, 2_000, 2_000).not_sent(),
        SeenRetransmit::from_ms(3, 2_000, 2_500).not_sent(),
    ];
    let projected = project(&limits, &done);
    assert!(projected.retransmissions.is_empty(), "{projected:?}");
    assert_eq!(window_ms(&projected.give_up), (3_000, 3_000, 3_000));
}

#[test]
fn sent_retransmissions_alone_leave_the_window_as_it_was() {
    let limits = syn_sent(3, 0);
    let done = [SeenRetransmit::from_ms(2, 2_000, 2_000)];
    let projected = project(&limits, &done);
    assert_eq!(window_ms(&projected.give_up), (14_000, 14_000, 14_000));
}

#[test]
fn local_congestion_of_an_established_flow_keeps_its_time_budget() {
    // tcp_retries2 3 and a 200 ms RTO: a 3 s budget. Every retransmission
    // failing from +0.6 s on fires every 500 ms, and the first firing at or
    // past +3 s gives up; the window opens with the budget.
    let limits = established(3, ms(200));
    let done = [
        SeenRetransmit::from_ms(1, 200, 0),
        SeenRetransmit::from_ms(2, 400, 600).not_sent(),
    ];
    let projected = project(&limits, &done);
    let normal = project(&limits, &[SeenRetransmit::from_ms(2, 400, 600)]);
    assert_eq!(projected.give_up.earliest, secs(3));
    assert!(projected.give_up.latest >= normal.give_up.latest);
    assert_eq!(projected.give_up.rule, GiveUpRule::RetryBudget);
}
