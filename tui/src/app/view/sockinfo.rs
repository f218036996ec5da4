//! The selected flow's socket as the kernel's socket tables describe it,
//! in the words and units of `ss -ti`: who owns it, and its `tcp_info` at
//! the latest survey. Lines of plain text for the timeline pane.

use super::format;
use crate::model::{
    event::{Nanos, TcpState},
    flow::Flow,
    socket::SocketSample,
};

/// The owner line and, when a survey has read the socket, its details.
pub fn lines(flow: &Flow, now: Nanos) -> Vec<String> {
    let mut owner = format!("owner {}", format::owner(flow.owner.as_ref()));
    if let Some(unit) = &flow.unit {
        owner.push_str(&format!(" ({unit})"));
    }
    owner.push_str(&format!("  netns {}", flow.netns));
    if flow.preexisting {
        owner.push_str("  open before tcpscope saw it");
    }
    let mut lines = vec![owner];
    if let Some(pod) = &flow.pod {
        lines.push(format!(
            "pod {}  namespace {}  container {}",
            pod.name, pod.namespace, pod.container
        ));
    }
    if let Some(sample) = &flow.socket {
        lines.extend(details(sample, flow.state == TcpState::SynSent, now));
    }
    lines
}

/// Four short lines, so that the timeline pane's width (half the screen)
/// cuts none of them at 160 columns; the windows, a stall's evidence, get
/// a line of their own. A socket still `connecting` has sent no data and
/// received nothing: the kernel then counts its last-send and last-receive
/// ages from a zero stamp, i.e. since boot, which would read as a lie.
fn details(sample: &SocketSample, connecting: bool, now: Nanos) -> [String; 4] {
    let age = |ms: u32| match connecting {
        true => "never".to_string(),
        false => format::millis(ms),
    };
    let d = &sample.details;
    let ms = |us: u32| format!("{:.1}ms", f64::from(us) / 1000.0);
    let ssthresh = match d.ssthresh {
        0 | 0x7fff_ffff.. => "-".to_string(),
        value => value.to_string(),
    };
    [
        format!(
            "tcp_info {} ago: srtt {}/{} rto {} backoff {}",
            format::duration(now.saturating_sub(sample.at)),
            ms(d.srtt_us),
            ms(d.rttvar_us),
            format::millis(d.rto_ms),
            d.backoff,
        ),
        format!(
            "cwnd {} ssthresh {ssthresh} unacked {} retrans {}/{} lost {}",
            d.cwnd, d.unacked, d.retrans, d.total_retrans, d.lost,
        ),
        format!(
            "send-q {} notsent {} snd_wnd {} {}",
            bytes(sample.send_queue),
            bytes(d.notsent_bytes),
            bytes(d.snd_wnd),
            // Kernels before 6.2 do not report the advertised window.
            match d.rcv_wnd {
                Some(window) => format!("rcv_wnd {}", bytes(window)),
                None => format!("rcv_space {}", bytes(d.rcv_space)),
            },
        ),
        format!(
            "lastsnd {} lastrcv {} lastack {}",
            age(d.last_send_ms),
            age(d.last_receive_ms),
            age(d.last_ack_ms),
        ),
    ]
}

/// `512B`, `64.0K`, `3.2M`.
fn bytes(count: u32) -> String {
    match count {
        0..1024 => format!("{count}B"),
        1024..1_048_576 => format!("{:.1}K", f64::from(count) / 1024.0),
        _ => format!("{:.1}M", f64::from(count) / 1_048_576.0),
    }
}

#[cfg(test)]
mod tests {
    use std::{net::SocketAddr, sync::Arc};

    use super::*;
    use crate::model::{
        event::{SockId, Task},
        socket::TcpDetails,
    };

    #[test]
    fn a_pods_flow_names_its_pod_namespace_and_container() {
        let addr: SocketAddr = "10.0.0.1:443".parse().expect("address");
        let mut flow = Flow::new(SockId(1), 4026531840, addr, addr, 0);
        flow.pod = Some(Arc::new(crate::model::socket::Pod {
            namespace: Arc::from("payments"),
            name: Arc::from("checkout-7f9c"),
            container: Arc::from("api"),
        }));
        assert_eq!(
            lines(&flow, 0)[1],
            "pod checkout-7f9c  namespace payments  container api"
        );
    }

    #[test]
    fn reads_like_ss_with_the_owner_first() {
        let addr: SocketAddr = "10.0.0.1:443".parse().expect("address");
        let mut flow = Flow::new(SockId(1), 4026531840, addr, addr, 0);
        flow.preexisting = true;
        flow.owner = Some(Task {
            pid: 812,
            comm: Arc::from("nginx"),
        });
        flow.unit = Some(Arc::from("nginx.service"));
        flow.socket = Some(Box::new(SocketSample {
            at: 1_000_000_000,
            details: TcpDetails {
                srtt_us: 1250,
                rttvar_us: 500,
                rto_ms: 204,
                cwnd: 10,
                ssthresh: 0x7fff_ffff,
                total_retrans: 5,
                snd_wnd: 65536,
                rcv_wnd: Some(32768),
                notsent_bytes: 300,
                last_send_ms: 1500,
                ..TcpDetails::default()
            },
            send_queue: 2048,
            receive_queue: 0,
            drops: None,
        }));
        let lines = lines(&flow, 1_500_000_000);
        assert_eq!(
            lines[0],
            "owner 812/nginx (nginx.service)  netns 4026531840  open before tcpscope saw it"
        );
        assert_eq!(
            lines[1..],
            [
                "tcp_info 500ms ago: srtt 1.2ms/0.5ms rto 204ms backoff 0",
                "cwnd 10 ssthresh - unacked 0 retrans 0/5 lost 0",
                "send-q 2.0K notsent 300B snd_wnd 64.0K rcv_wnd 32.0K",
                "lastsnd 1.5s lastrcv 0ms lastack 0ms",
            ]
        );
    }

    #[test]
    fn a_connect_in_progress_has_never_sent_or_received() {
        let addr: SocketAddr = "10.0.0.1:443".parse().expect("address");
        let mut flow = Flow::new(SockId(1), 7, addr, addr, 0);
        flow.state = TcpState::SynSent;
        flow.socket = Some(Box::new(SocketSample {
            at: 0,
            details: TcpDetails {
                // What the kernel reports: ages since its zero stamps.
                last_send_ms: 3_023_000,
                last_receive_ms: 3_023_000,
                last_ack_ms: 3_023_000,
                ..TcpDetails::default()
            },
            send_queue: 0,
            receive_queue: 0,
            drops: None,
        }));
        let lines = lines(&flow, 0);
        assert_eq!(lines[4], "lastsnd never lastrcv never lastack never");
        flow.state = TcpState::Established;
        assert_eq!(
            super::lines(&flow, 0)[4],
            "lastsnd 50m23s lastrcv 50m23s lastack 50m23s"
        );
    }

    #[test]
    fn a_flow_no_survey_read_shows_only_its_owner() {
        let addr: SocketAddr = "10.0.0.1:443".parse().expect("address");
        let flow = Flow::new(SockId(1), 7, addr, addr, 0);
        assert_eq!(lines(&flow, 0), vec!["owner unknown  netns 7".to_string()]);
    }
}
