//! The filter language: parsing, errors and matching.

use std::sync::Arc;

use super::*;
use crate::model::event::SockId;

fn flow(local: &str, remote: &str, owner: Option<(u32, &str)>, state: TcpState) -> Flow {
    let mut flow = Flow::new(
        SockId(1),
        7,
        local.parse().expect("local"),
        remote.parse().expect("remote"),
        0,
    );
    flow.owner = owner.map(|(pid, comm)| Task {
        pid,
        comm: Arc::from(comm),
    });
    flow.state = state;
    flow
}

fn parse(text: &str) -> Filter {
    text.parse()
        .unwrap_or_else(|error| panic!("{text:?} should parse: {error}"))
}

#[test]
fn every_term_matches_what_it_names() {
    let mut java = flow(
        "10.0.0.1:40000",
        "10.0.0.2:443",
        Some((1234, "java")),
        TcpState::SynSent,
    );
    java.unit = Some("docker:4f1c2a9d8e7b".into());
    for matching in [
        "unit:docker",
        "unit:4f1c",
        "",
        "443",
        "port:40000",
        "sport:40000",
        "dport:443",
        "pid:1234",
        "comm:jav",
        "addr:10.0.0.2",
        "addr:::ffff:10.0.0.1",
        "state:syn_sent",
        "STATE:SYN_SENT",
        "netns:7",
        "port:80,443 pid:1234",
    ] {
        assert!(
            parse(matching).matches_flow(&java),
            "{matching:?} should match"
        );
    }
    for other in [
        "80",
        "sport:443",
        "dport:40000",
        "pid:1",
        "comm:python",
        "unit:nginx",
        "addr:10.0.0.3",
        "state:established",
        "reason:timeout",
        "netns:8",
        "443 pid:1",
    ] {
        assert!(
            !parse(other).matches_flow(&java),
            "{other:?} should not match"
        );
    }
}

#[test]
fn owner_terms_never_match_an_unknown_owner() {
    let unknown = flow("10.0.0.1:1", "10.0.0.2:2", None, TcpState::Established);
    assert!(!parse("pid:0").matches_flow(&unknown));
    assert!(!parse("comm:a").matches_flow(&unknown));
    assert!(!parse("unit:a").matches_flow(&unknown));
}

#[test]
fn an_ended_flow_matches_its_reason_and_last_state() {
    let mut ended = flow("10.0.0.1:1", "10.0.0.2:2", None, TcpState::Close);
    ended.end = Some(Box::new(crate::model::flow::FlowEnd {
        at: 1,
        reason: EndReason::Timeout,
        err: 110,
        last_state: TcpState::SynSent,
        stack: None,
    }));
    assert!(parse("reason:timeout state:syn_sent").matches_flow(&ended));
    assert!(!parse("reason:reset").matches_flow(&ended));
}

#[test]
fn a_bad_term_is_named_with_the_valid_keys() {
    for (text, term, problem) in [
        ("port:https", "port:https", "a port is a number"),
        ("443 colour:red", "colour:red", "unknown key \"colour\""),
        ("state:half_open", "state:half_open", "unknown state"),
        ("addr:10.0.0", "addr:10.0.0", "not an IPv4 or IPv6 address"),
        ("70000", "70000", "0 to 65535"),
        ("comm:", "comm:", "comm needs a name"),
    ] {
        let error = text.parse::<Filter>().expect_err(text);
        assert_eq!(error.term, term);
        assert!(error.problem.contains(problem), "{text}: {error}");
        assert!(error.to_string().contains(KEYS), "{text}: {error}");
    }
}

#[test]
fn a_filter_prints_as_it_parses() {
    let text = "port:80,443 pid:12 comm:nginx state:syn_sent reason:timeout addr:10.0.0.1";
    assert_eq!(parse(text).to_string(), text);
    assert_eq!(parse("443").to_string(), "port:443");
}

#[test]
fn destinations_match_on_their_address_and_port_only() {
    let db: std::net::SocketAddr = "10.0.0.7:5432".parse().expect("address");
    for matching in [
        "",
        "5432",
        "port:80,5432",
        "dport:5432",
        "addr:10.0.0.7",
        "addr:::ffff:10.0.0.7 port:5432",
        "comm:java",
        "pid:1 state:syn_sent reason:timeout netns:7 sport:40000",
    ] {
        assert!(parse(matching).matches_destination(db), "{matching:?}");
    }
    for failing in ["80", "dport:80", "addr:10.0.0.8", "comm:java port:80"] {
        assert!(!parse(failing).matches_destination(db), "{failing:?}");
    }
    assert!(!parse("port:5432 addr:10.0.0.7").skips_terms_for_destinations());
    assert!(parse("port:5432 comm:java").skips_terms_for_destinations());
}

#[test]
fn namespaces_match_on_netns_terms_only() {
    assert!(parse("").matches_namespace(7));
    assert!(parse("netns:7,8 port:80 comm:java").matches_namespace(7));
    assert!(!parse("netns:8 port:80").matches_namespace(7));
}

#[test]
fn state_stalled_matches_live_flows_without_progress() {
    use crate::model::{
        socket::{SocketSample, TcpDetails},
        stall::Progress,
    };
    let mut stalled = flow("10.0.0.1:1", "10.0.0.2:2", None, TcpState::Established);
    let healthy = stalled.clone();
    for second in 0..4 {
        let sample = SocketSample {
            at: second * 1_000_000_000,
            details: TcpDetails {
                notsent_bytes: 100,
                snd_wnd: 0,
                ..TcpDetails::default()
            },
            send_queue: 100,
            receive_queue: 0,
            drops: None,
        };
        let previous = stalled.progress.as_deref().copied();
        stalled.progress =
            Progress::observe(previous, TcpState::Established, &sample).map(Box::new);
    }
    let filter = parse("STATE:stalled,syn_sent");
    assert!(filter.matches_flow(&stalled));
    assert!(!filter.matches_flow(&healthy));
    assert_eq!(filter.to_string(), "state:stalled,syn_sent");
}
