//! Properties of the give-up model over random limits: the give-up it
//! expects is the first timer firing at which the kernel's own expiry test
//! (tcp_write_timeout with tcp_model_timeout, written out again here from
//! net/ipv4/tcp_timer.c in whole milliseconds) holds, the window is
//! ordered, and the answer moves the right way with retries and RTO.

use std::time::Duration;

use proptest::prelude::*;

use super::*;

/// tcp_model_timeout() in ms, as the kernel computes it.
fn kernel_model_timeout_ms(boundary: u64, rto_base_ms: u64, rto_max_ms: u64) -> u64 {
    let linear_backoff_thresh = u64::from((rto_max_ms / rto_base_ms).ilog2());
    if boundary <= linear_backoff_thresh {
        ((2 << boundary) - 1) * rto_base_ms
    } else {
        ((2 << linear_backoff_thresh) - 1) * rto_base_ms
            + (boundary - linear_backoff_thresh) * rto_max_ms
    }
}

/// tcp_write_timeout()'s verdict at a firing `at_ms` after the first
/// retransmission, with `retransmits` counted so far (no user timeout).
fn kernel_expires(limits: &Limits, retransmits: u64, at_ms: u64) -> bool {
    let ms = |duration: Duration| duration.as_millis() as u64;
    let rto_max = ms(limits.rto_max);
    match limits.phase {
        Phase::SynSent => {
            let count = u64::from(limits.retries) + u64::from(limits.syn_linear_timeouts);
            // retrans_stamp is the original SYN, an initial RTO earlier.
            let since_stamp = at_ms + ms(limits.initial_rto);
            let budget =
                kernel_model_timeout_ms(u64::from(limits.retries), ms(limits.initial_rto), rto_max);
            retransmits >= count || since_stamp >= budget
        }
        Phase::Established => {
            let budget = kernel_model_timeout_ms(u64::from(limits.retries), 200, rto_max);
            at_ms >= budget
        }
        Phase::SynRecv | Phase::Orphan => unreachable!("not generated"),
    }
}

fn syn_sent() -> impl Strategy<Value = Limits> {
    (1u8..=8, 0u8..=4, 1u64..=3).prop_map(|(retries, linear, rto_s)| Limits {
        retries,
        syn_linear_timeouts: linear,
        initial_rto: Duration::from_secs(rto_s),
        ..Limits::new(Phase::SynSent)
    })
}

fn established() -> impl Strategy<Value = Limits> {
    (1u8..=15, 200u64..=3_000, 1u64..=120).prop_map(|(retries, rto_ms, max_s)| Limits {
        retries,
        initial_rto: Duration::from_millis(rto_ms),
        rto_max: Duration::from_secs(max_s),
        ..Limits::new(Phase::Established)
    })
}

fn any_limits() -> impl Strategy<Value = Limits> {
    prop_oneof![syn_sent(), established()]
}

proptest! {
    #[test]
    fn the_expected_give_up_is_the_first_firing_the_kernel_expires_at(limits in any_limits()) {
        let schedule = schedule(&limits);
        let ms = |duration: Duration| duration.as_millis() as u64;
        // Retransmission n goes out at the firing where n - 1 were counted.
        for planned in schedule.retransmissions.iter().skip(1) {
            prop_assert!(
                !kernel_expires(&limits, u64::from(planned.n - 1), ms(planned.at)),
                "the kernel would have given up at {planned:?}"
            );
        }
        let give_up = schedule.give_up;
        prop_assert!(kernel_expires(
            &limits,
            u64::from(schedule.retransmits_at_give_up),
            ms(give_up.expected)
        ));
        prop_assert!(give_up.earliest <= give_up.expected);
        prop_assert!(give_up.expected <= give_up.latest);
        let slack = schedule.give_up_with_timer_slack(250);
        prop_assert!(slack.latest >= give_up.latest && slack.earliest == give_up.earliest);
    }

    #[test]
    fn more_retries_never_give_up_sooner(limits in any_limits(), more in 1u8..=5) {
        let fewer = schedule(&limits).give_up;
        let retries = limits.retries.saturating_add(more);
        let more = schedule(&Limits { retries, ..limits }).give_up;
        prop_assert!(more.expected >= fewer.expected, "{fewer:?} then {more:?}");
        prop_assert!(more.earliest >= fewer.earliest, "{fewer:?} then {more:?}");
    }

    #[test]
    fn a_longer_syn_rto_never_gives_up_sooner(limits in syn_sent()) {
        let short = schedule(&limits).give_up;
        let initial_rto = limits.initial_rto + Duration::from_secs(1);
        let long = schedule(&Limits { initial_rto, ..limits }).give_up;
        prop_assert!(long.expected >= short.expected, "{short:?} then {long:?}");
        prop_assert!(long.earliest >= short.earliest, "{short:?} then {long:?}");
    }

    #[test]
    fn a_longer_rto_never_retransmits_more_before_the_budget(limits in established(), extra in 1u64..=2_000) {
        let short = schedule(&limits);
        let initial_rto = limits.initial_rto + Duration::from_millis(extra);
        let long = schedule(&Limits { initial_rto, ..limits });
        prop_assert!(long.retransmits_at_give_up <= short.retransmits_at_give_up);
        // The budget starts from TCP_RTO_MIN whatever the RTO.
        prop_assert_eq!(long.give_up.rule, short.give_up.rule);
    }

    #[test]
    fn a_kept_retransmission_never_opens_the_window_later(limits in any_limits(), pick in 0usize..16) {
        let planned = schedule(&limits).retransmissions;
        let last = planned[pick % planned.len()];
        let rto = last.rto.as_millis() as u32;
        let at = last.at.as_millis() as u32;
        let sent = project(&limits, &[SeenRetransmit::from_ms(last.n, rto, at)]).give_up;
        let kept = project(&limits, &[SeenRetransmit::from_ms(last.n, rto, at).not_sent()]).give_up;
        prop_assert!(kept.earliest <= sent.earliest, "{sent:?} / {kept:?}");
        prop_assert!(kept.earliest <= kept.expected && kept.expected <= kept.latest, "{kept:?}");
    }
}
