//! `tcpscope predict`: its text and JSON output and its argument errors.

use clap::Parser;

use super::*;

#[derive(Parser)]
struct Command {
    #[command(flatten)]
    args: PredictArgs,
}

fn parse(args: &[&str]) -> Result<PredictArgs, clap::Error> {
    Command::try_parse_from(std::iter::once("predict").chain(args.iter().copied()))
        .map(|command| command.args)
}

fn output(args: &[&str]) -> anyhow::Result<String> {
    let mut out = Vec::new();
    run(&parse(args)?, &mut out)?;
    Ok(String::from_utf8(out)?)
}

fn json(args: &[&str]) -> serde_json::Value {
    let mut with_json = args.to_vec();
    with_json.push("--json");
    let text = output(&with_json).expect("a prediction");
    serde_json::from_str(&text).expect("one JSON object")
}

fn error(args: &[&str]) -> String {
    match output(args) {
        Ok(text) => panic!("expected an error, got {text}"),
        Err(error) => format!("{error:#}"),
    }
}

#[test]
fn incident_two_as_text() {
    let text = output(&["--rto", "200ms", "--retries", "15"]).expect("a prediction");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1 + 1 + 16 + 2, "{text}");
    assert_eq!(lines[2], "    1     200ms       0.000s");
    assert_eq!(lines[11], "   10    102.4s     204.400s");
    assert_eq!(lines[17], "   16      120s     924.400s");
    assert_eq!(
        lines[18],
        "gives up between 924.6s and 1044.6s with ETIMEDOUT"
    );
    assert_eq!(
        lines[19],
        "expected at 1044.4s: the first timer firing past the tcp_retries2 budget"
    );
}

#[test]
fn incident_two_as_json() {
    let value = json(&["--rto", "200ms", "--retries", "15"]);
    assert_eq!(value["phase"], "ESTABLISHED");
    let rows = value["retransmissions"].as_array().expect("rows");
    assert_eq!(rows.len(), 16);
    assert_eq!(
        rows[0],
        serde_json::json!({"n": 1, "rto_ms": 200, "at_ms": 0})
    );
    assert_eq!(
        rows[15],
        serde_json::json!({"n": 16, "rto_ms": 120_000, "at_ms": 924_400})
    );
    assert_eq!(
        value["give_up"],
        serde_json::json!({
            "earliest_ms": 924_600,
            "latest_ms": 1_044_600,
            "expected_ms": 1_044_400,
            "rule": "retry_budget",
            "error": "ETIMEDOUT",
        })
    );
}

#[test]
fn a_215ms_rto_is_expected_to_end_near_940s() {
    let text = output(&["--rto", "215ms"]).expect("a prediction");
    assert!(
        text.contains("gives up between 924.6s and 1044.6s with ETIMEDOUT\n"),
        "{text}"
    );
    assert!(text.contains("expected at 939.7s"), "{text}");
}

#[test]
fn two_syn_retries_without_linear_timeouts_as_text() {
    let text = output(&["--syn", "--retries", "2", "--linear", "0"]).expect("a prediction");
    assert_eq!(
        text,
        "SYN_SENT: the first retransmission goes out 1s after the original send; \
         times count from it\n\
         \x20   n       rto  since first\n\
         \x20   1        1s       0.000s\n\
         \x20   2        2s       2.000s\n\
         gives up between 6.0s and 6.0s with ETIMEDOUT\n\
         expected at 6.0s: the timer after retransmission 2, the last tcp_syn_retries + \
         tcp_syn_linear_timeouts allow\n"
    );
}

#[test]
fn two_syn_retries_without_linear_timeouts_as_json() {
    let value = json(&["--syn", "--retries", "2", "--linear", "0"]);
    assert_eq!(
        value,
        serde_json::json!({
            "phase": "SYN_SENT",
            "retransmissions": [
                {"n": 1, "rto_ms": 1_000, "at_ms": 0},
                {"n": 2, "rto_ms": 2_000, "at_ms": 2_000},
            ],
            "retransmits_at_give_up": 2,
            "give_up": {
                "earliest_ms": 6_000,
                "latest_ms": 6_000,
                "expected_ms": 6_000,
                "rule": "retry_count",
                "error": "ETIMEDOUT",
            },
        })
    );
}

#[test]
fn a_listener_drops_its_request_without_an_error() {
    let value = json(&["--synack"]);
    assert_eq!(value["give_up"]["expected_ms"], 62_000);
    assert_eq!(value["give_up"]["error"], giveup::REQUEST_DROPPED);
}

#[test]
fn bad_retries_name_the_flag_and_the_range() {
    let message = error(&["--retries", "300"]);
    assert_eq!(
        message,
        "--retries 300: tcp_retries2 takes 0 to 255; give a value in that range"
    );
    assert!(error(&["--syn", "--retries", "128"]).contains("tcp_syn_retries takes 1 to 127"));
    assert!(error(&["--synack", "--retries", "0"]).starts_with("--retries 0 with --synack"));
}

#[test]
fn bad_durations_name_the_flag_and_the_fix() {
    assert_eq!(
        error(&["--rto", "0s"]),
        "--rto 0s: a retransmission timeout must be positive, e.g. --rto 200ms"
    );
    assert!(error(&["--rto", "100ms"]).starts_with("--rto 100ms is below --rto-min 200ms"));
    assert!(
        error(&["--rto-max", "500ms"]).starts_with("--rto-max 500ms: the kernel takes 1s to 120s")
    );
    assert!(error(&["--user-timeout", "0s"]).starts_with("--user-timeout 0s switches"));
    assert!(error(&["--user-timeout", "30d"]).contains("at most 2147483647ms"));
    let unparsable = parse(&["--rto", "soon"])
        .expect_err("not a duration")
        .to_string();
    assert!(
        unparsable.contains("--rto") && unparsable.contains("such as 215ms"),
        "{unparsable}"
    );
}

#[test]
fn flags_that_do_not_fit_the_phase_are_refused() {
    assert!(error(&["--linear", "2"]).starts_with("--linear applies to a connect"));
    assert!(
        error(&["--synack", "--user-timeout", "5s"]).starts_with("--user-timeout does not apply")
    );
    assert!(parse(&["--syn", "--synack"]).is_err());
}

#[test]
fn extreme_limits_still_predict() {
    let value = json(&[
        "--retries",
        "255",
        "--rto",
        "1ms",
        "--rto-min",
        "1ms",
        "--rto-max",
        "1s",
    ]);
    // The budget starts from TCP_RTO_MIN whatever --rto-min says:
    // ilog2(1 s / 200 ms) = 2, so 7 * 0.2 s + 253 * 1 s = 254.4 s.
    assert_eq!(value["give_up"]["earliest_ms"], 254_400);
}
