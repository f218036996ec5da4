//! Questions the live tests ask of tcpscope's JSON lines: which lines belong
//! to one flow, typed field access that fails with the offending line, and
//! checks on stacks and time windows.

use super::tcpscope::dump;
use serde_json::Value;
use std::net::IpAddr;
use std::time::SystemTime;

/// The connections of one end of a test: lines seen in the namespace `netns`
/// whose remote end is `daddr:dport` (and whose local port is `sport`, when
/// given).
#[derive(Debug, Clone, Copy)]
pub struct Flow {
    pub netns: u64,
    pub daddr: IpAddr,
    pub dport: u16,
    pub sport: Option<u16>,
}

impl Flow {
    /// Whether `line` (an event or a `flow_end`) is about this flow.
    pub fn matches(&self, line: &Value) -> bool {
        line["netns"].as_u64() == Some(self.netns)
            && line["dport"].as_u64() == Some(u64::from(self.dport))
            && line["daddr"]
                .as_str()
                .and_then(|a| a.parse::<IpAddr>().ok())
                == Some(self.daddr)
            && self
                .sport
                .is_none_or(|sport| line["sport"].as_u64() == Some(u64::from(sport)))
    }

    /// This flow's lines of one kind, in the order tcpscope printed them.
    pub fn lines<'a>(&self, lines: &'a [Value], kind: &str) -> Vec<&'a Value> {
        lines
            .iter()
            .filter(|v| v["kind"] == kind && self.matches(v))
            .collect()
    }

    /// This flow's only `flow_end` line; panics with all lines when there is
    /// none or more than one.
    pub fn end<'a>(&self, lines: &'a [Value]) -> &'a Value {
        let ends = self.lines(lines, "flow_end");
        match ends.as_slice() {
            [end] => end,
            _ => panic!(
                "expected exactly one flow_end for {self:?}, found {}; all lines:\n{}",
                ends.len(),
                dump(lines)
            ),
        }
    }
}

/// An integer field; panics with the line when it is missing or not one.
pub fn int(line: &Value, field: &str) -> i64 {
    line[field]
        .as_i64()
        .unwrap_or_else(|| panic!("field `{field}` is not an integer in {line}"))
}

/// A string field; panics with the line when it is missing or not one.
pub fn text<'a>(line: &'a Value, field: &str) -> &'a str {
    line[field]
        .as_str()
        .unwrap_or_else(|| panic!("field `{field}` is not a string in {line}"))
}

/// Asserts that a string field has the expected value.
pub fn assert_text(line: &Value, field: &str, expected: &str) {
    assert_eq!(
        line[field].as_str(),
        Some(expected),
        "field `{field}` should be {expected:?} in {line}"
    );
}

/// Asserts that an integer field lies in `[low, high]`.
pub fn assert_within(line: &Value, field: &str, low: i64, high: i64) {
    let value = int(line, field);
    assert!(
        (low..=high).contains(&value),
        "field `{field}` = {value} is outside [{low}, {high}] in {line}"
    );
}

/// Asserts that the line's `stack` holds a frame of `function`
/// (`function+0x..` or the bare name).
pub fn assert_stack_has(line: &Value, function: &str) {
    let frames = line["stack"]
        .as_array()
        .unwrap_or_else(|| panic!("field `stack` is not an array in {line}"));
    let found = frames.iter().filter_map(Value::as_str).any(|frame| {
        frame == function
            || frame
                .strip_prefix(function)
                .is_some_and(|rest| rest.starts_with('+'))
    });
    assert!(found, "stack has no frame of {function} in {line}");
}

/// A time field in RFC 3339; panics with the line when it is not one.
pub fn time(line: &Value, field: &str) -> SystemTime {
    humantime::parse_rfc3339(text(line, field))
        .unwrap_or_else(|e| panic!("field `{field}` is not an RFC 3339 time ({e}) in {line}"))
}

/// Seconds from `from` to `to`, negative when `to` is earlier.
pub fn seconds(from: SystemTime, to: SystemTime) -> f64 {
    match to.duration_since(from) {
        Ok(later) => later.as_secs_f64(),
        Err(earlier) => -earlier.duration().as_secs_f64(),
    }
}
