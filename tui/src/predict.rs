//! `tcpscope predict`: when the kernel will give up on a connection whose
//! peer went silent, worked out offline with the give-up model the live
//! timeline uses. Prints one row per retransmission (number, RTO, time
//! since the first retransmission) and the give-up window, or one JSON
//! object with `--json`.

use std::{io::Write, time::Duration};

use anyhow::{Context as _, bail};
use serde::Serialize;

use crate::model::giveup::{self, GiveUpRule, Limits, Phase, Schedule};

/// When would the kernel give up on a flow whose peer stopped answering?
#[derive(clap::Args, Debug)]
pub struct PredictArgs {
    /// RTO before the first retransmission, e.g. 215ms [default: 200ms; 1s
    /// with --syn or --synack]
    #[arg(long, value_parser = parse_duration)]
    pub rto: Option<Duration>,

    /// tcp_retries2 [default: 15]; tcp_syn_retries with --syn [6],
    /// tcp_synack_retries with --synack [5], tcp_orphan_retries with
    /// --orphan [0: 8 while the RTO is below its maximum]
    #[arg(long, value_name = "N")]
    pub retries: Option<u32>,

    /// A connect() waiting for its SYN-ACK (SYN_SENT)
    #[arg(long, group = "phase")]
    pub syn: bool,

    /// A listener's half-open connection waiting for the final ACK (SYN_RECV)
    #[arg(long, group = "phase")]
    pub synack: bool,

    /// A socket its application closed with data still unacknowledged
    #[arg(long, group = "phase")]
    pub orphan: bool,

    /// The socket's RTO maximum (TCP_RTO_MAX_MS, net.ipv4.tcp_rto_max_ms)
    #[arg(long, value_parser = parse_duration, default_value = "120s")]
    pub rto_max: Duration,

    /// The socket's RTO floor: --rto may not be below it
    #[arg(long, value_parser = parse_duration, default_value = "200ms")]
    pub rto_min: Duration,

    /// tcp_syn_linear_timeouts, with --syn [default: 4]
    #[arg(long, value_name = "N")]
    pub linear: Option<u32>,

    /// TCP_USER_TIMEOUT, e.g. 30s: replaces the retry budget
    #[arg(long, value_parser = parse_duration)]
    pub user_timeout: Option<Duration>,

    /// Print one JSON object instead of the table
    #[arg(long)]
    pub json: bool,
}

/// Prints the schedule and the give-up window the arguments lead to.
pub fn run(args: &PredictArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let limits = limits(args)?;
    let schedule = giveup::schedule(&limits);
    if args.json {
        write_json(&limits, &schedule, out)
    } else {
        write_text(&limits, &schedule, out)
    }
    .context("writing the prediction")
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text)
        .map_err(|error| format!("{error}; write a duration such as 215ms, 2s or 1m"))
}

fn phase(args: &PredictArgs) -> Phase {
    if args.syn {
        Phase::SynSent
    } else if args.synack {
        Phase::SynRecv
    } else if args.orphan {
        Phase::Orphan
    } else {
        Phase::Established
    }
}

/// The model's limits, or what is wrong with the arguments and the fix.
fn limits(args: &PredictArgs) -> anyhow::Result<Limits> {
    let phase = phase(args);
    let defaults = Limits::new(phase);
    check_rto_bounds(args)?;
    Ok(Limits {
        phase,
        initial_rto: initial_rto(args, phase, defaults.initial_rto)?,
        rto_min: args.rto_min,
        rto_max: args.rto_max,
        retries: retries(args, phase, defaults.retries)?,
        syn_linear_timeouts: linear_timeouts(args, phase, defaults.syn_linear_timeouts)?,
        user_timeout: user_timeout(args, phase)?,
    })
}

fn check_rto_bounds(args: &PredictArgs) -> anyhow::Result<()> {
    let (min, max) = (args.rto_min, args.rto_max);
    if !(giveup::RTO_MAX_FLOOR..=giveup::TCP_RTO_MAX).contains(&max) {
        bail!(
            "--rto-max {}: the kernel takes 1s to 120s (TCP_RTO_MAX_MS, net.ipv4.tcp_rto_max_ms)",
            text(max)
        );
    }
    if min.is_zero() || min > max {
        bail!(
            "--rto-min {}: give a positive duration no larger than --rto-max {}",
            text(min),
            text(max)
        );
    }
    Ok(())
}

fn initial_rto(args: &PredictArgs, phase: Phase, default: Duration) -> anyhow::Result<Duration> {
    let rto = args.rto.unwrap_or(default);
    let (min, max) = (args.rto_min, args.rto_max);
    if rto.is_zero() {
        bail!("--rto 0s: a retransmission timeout must be positive, e.g. --rto 200ms");
    }
    if rto > max {
        bail!(
            "--rto {} is above --rto-max {}: lower --rto or raise --rto-max",
            text(rto),
            text(max)
        );
    }
    if rto < min && !matches!(phase, Phase::SynSent | Phase::SynRecv) {
        bail!(
            "--rto {} is below --rto-min {}: the kernel never arms a shorter RTO; \
             raise --rto or lower --rto-min",
            text(rto),
            text(min)
        );
    }
    Ok(rto)
}

fn retries(args: &PredictArgs, phase: Phase, default: u8) -> anyhow::Result<u8> {
    let retries = args.retries.unwrap_or(u32::from(default));
    let (least, most) = match phase {
        Phase::SynSent => (1, u32::from(giveup::MAX_TCP_SYNCNT)),
        Phase::SynRecv => (1, u32::from(u8::MAX)),
        Phase::Established | Phase::Orphan => (0, u32::from(u8::MAX)),
    };
    if phase == Phase::SynRecv && retries == 0 {
        bail!(
            "--retries 0 with --synack: the request is dropped when its first timer fires, \
             before any retransmission; give 1 to {most}"
        );
    }
    u8::try_from(retries)
        .ok()
        .filter(|_| (least..=most).contains(&retries))
        .with_context(|| {
            format!(
                "--retries {retries}: {} takes {least} to {most}; give a value in that range",
                phase.retries_sysctl()
            )
        })
}

fn linear_timeouts(args: &PredictArgs, phase: Phase, default: u8) -> anyhow::Result<u8> {
    let most = giveup::MAX_TCP_SYNCNT;
    match args.linear {
        None => Ok(default),
        Some(_) if phase != Phase::SynSent => {
            bail!("--linear applies to a connect (SYN_SENT) only: add --syn or drop --linear")
        }
        Some(linear) => u8::try_from(linear)
            .ok()
            .filter(|&linear| linear <= most)
            .with_context(|| {
                format!("--linear {linear}: tcp_syn_linear_timeouts takes 0 to {most}")
            }),
    }
}

fn user_timeout(args: &PredictArgs, phase: Phase) -> anyhow::Result<Option<Duration>> {
    let Some(timeout) = args.user_timeout else {
        return Ok(None);
    };
    if phase == Phase::SynRecv {
        bail!(
            "--user-timeout does not apply with --synack: a listener's SYN-ACK retransmissions \
             ignore TCP_USER_TIMEOUT; drop one of them"
        );
    }
    if timeout.is_zero() {
        bail!("--user-timeout 0s switches TCP_USER_TIMEOUT off: leave the flag out instead");
    }
    if timeout > giveup::USER_TIMEOUT_MAX {
        bail!(
            "--user-timeout {}: TCP_USER_TIMEOUT is an int of milliseconds, at most \
             2147483647ms (about 24.8 days)",
            text(timeout)
        );
    }
    Ok(Some(timeout))
}

fn write_text(limits: &Limits, schedule: &Schedule, out: &mut impl Write) -> anyhow::Result<()> {
    writeln!(
        out,
        "{}: the first retransmission goes out {} after the original send; times count from it",
        limits.phase.name(),
        text(limits.initial_rto)
    )?;
    writeln!(out, "{:>5} {:>9} {:>12}", "n", "rto", "since first")?;
    for planned in &schedule.retransmissions {
        let since = format!("{:.3}s", planned.at.as_secs_f64());
        writeln!(
            out,
            "{:>5} {:>9} {:>12}",
            planned.n,
            text(planned.rto),
            since
        )?;
    }
    let listed = schedule
        .retransmissions
        .last()
        .map_or(0, |planned| planned.n);
    if schedule.retransmits_at_give_up > listed {
        writeln!(
            out,
            "  ... {} more",
            schedule.retransmits_at_give_up - listed
        )?;
    }
    let window = &schedule.give_up;
    writeln!(
        out,
        "gives up between {} and {} with {}",
        tenths(window.earliest),
        tenths(window.latest),
        schedule.error
    )?;
    writeln!(
        out,
        "expected at {}: {}",
        tenths(window.expected),
        why(limits, schedule)
    )?;
    Ok(())
}

/// What ends the flow at the expected instant.
fn why(limits: &Limits, schedule: &Schedule) -> String {
    let sysctl = limits.phase.retries_sysctl();
    match schedule.give_up.rule {
        GiveUpRule::RetryBudget => format!("the first timer firing past the {sysctl} budget"),
        GiveUpRule::UserTimeout => "TCP_USER_TIMEOUT runs out".to_owned(),
        GiveUpRule::RetryCount if limits.phase == Phase::SynSent => format!(
            "the timer after retransmission {}, the last {sysctl} + tcp_syn_linear_timeouts allow",
            schedule.retransmits_at_give_up
        ),
        GiveUpRule::RetryCount => format!(
            "the timer after retransmission {}, the last {sysctl} allows",
            schedule.retransmits_at_give_up
        ),
    }
}

#[derive(Serialize)]
struct Prediction {
    phase: &'static str,
    retransmissions: Vec<Retransmission>,
    retransmits_at_give_up: u32,
    give_up: GiveUp,
}

#[derive(Serialize)]
struct Retransmission {
    n: u32,
    rto_ms: u64,
    at_ms: u64,
}

#[derive(Serialize)]
struct GiveUp {
    earliest_ms: u64,
    latest_ms: u64,
    expected_ms: u64,
    rule: &'static str,
    error: &'static str,
}

fn write_json(limits: &Limits, schedule: &Schedule, out: &mut impl Write) -> anyhow::Result<()> {
    let window = &schedule.give_up;
    let prediction = Prediction {
        phase: limits.phase.name(),
        retransmissions: schedule
            .retransmissions
            .iter()
            .map(|planned| Retransmission {
                n: planned.n,
                rto_ms: millis(planned.rto),
                at_ms: millis(planned.at),
            })
            .collect(),
        retransmits_at_give_up: schedule.retransmits_at_give_up,
        give_up: GiveUp {
            earliest_ms: millis(window.earliest),
            latest_ms: millis(window.latest),
            expected_ms: millis(window.expected),
            rule: window.rule.name(),
            error: schedule.error,
        },
    };
    serde_json::to_writer(&mut *out, &prediction)?;
    writeln!(out)?;
    Ok(())
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Seconds with one decimal, as the give-up line shows them.
fn tenths(duration: Duration) -> String {
    format!("{:.1}s", duration.as_secs_f64())
}

/// A duration as a person writes it: 200ms, 1.664s, 120s.
fn text(duration: Duration) -> String {
    if duration < Duration::from_secs(1) {
        return format!("{}ms", duration.as_millis());
    }
    let seconds = format!("{:.3}", duration.as_secs_f64());
    format!("{}s", seconds.trim_end_matches('0').trim_end_matches('.'))
}

#[cfg(test)]
#[path = "predict_tests.rs"]
mod tests;
