//! The kernel events tcpscope's probes watch, what the screen loses when
//! one of them cannot be watched on this kernel, and whether each one is.

use std::fmt;

/// One kernel event (a tracepoint) the probes attach to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchedEvent {
    /// The tracepoint's name, which is also the probe's name.
    pub name: &'static str,
    /// The page that shows less without it.
    pub page: &'static str,
    /// What is missing without it, said to the user.
    pub loses: &'static str,
}

/// Every event, in the order probes are reported.
pub const WATCHED: [WatchedEvent; 7] = [
    WatchedEvent {
        name: "inet_sock_set_state",
        page: "Connections",
        loses: "no connect attempts, state changes or closes: flows appear only as the \
                1 s survey finds them",
    },
    WatchedEvent {
        name: "tcp_retransmit_skb",
        page: "Connections",
        loses: "no retransmissions: no RTO timeline and no give-up forecast from events",
    },
    WatchedEvent {
        name: "tcp_retransmit_synack",
        page: "Listeners",
        loses: "no SYN-ACK retransmits on the Listeners page",
    },
    WatchedEvent {
        name: "tcp_send_reset",
        page: "Connections",
        loses: "no resets sent by this host",
    },
    WatchedEvent {
        name: "tcp_receive_reset",
        page: "Connections",
        loses: "no resets received: a reset flow ends as closed",
    },
    WatchedEvent {
        name: "tcp_destroy_sock",
        page: "Connections",
        loses: "a flow whose close record was lost ends only once the survey misses it",
    },
    WatchedEvent {
        name: "kfree_skb",
        page: "Drops",
        loses: "the Drops page stays empty and destinations count no drops",
    },
];

/// The event named `name`, if tcpscope watches it.
pub fn watched(name: &str) -> Option<&'static WatchedEvent> {
    WATCHED.iter().find(|event| event.name == name)
}

/// Whether one probe is live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeStatus {
    /// The event's name (see [`WATCHED`]).
    pub name: String,
    /// None when attached; the kernel's or loader's reason, in one line,
    /// otherwise.
    pub failure: Option<String>,
}

impl ProbeStatus {
    /// The page this probe's failure degrades; None while it is attached.
    pub fn degraded_page(&self) -> Option<&'static str> {
        self.failure.as_ref()?;
        watched(&self.name).map(|event| event.page)
    }
}

impl fmt::Display for ProbeStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.failure {
            None => write!(f, "{}: attached", self.name),
            Some(reason) => {
                write!(f, "{}: not attached: {reason}", self.name)?;
                match watched(&self.name) {
                    Some(event) => write!(f, "; {}", event.loses),
                    None => Ok(()),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_probe_says_what_the_user_loses_and_which_page() {
        let failed = ProbeStatus {
            name: "kfree_skb".to_string(),
            failure: Some("Invalid argument (os error 22)".to_string()),
        };
        assert_eq!(
            failed.to_string(),
            "kfree_skb: not attached: Invalid argument (os error 22); the Drops page stays \
             empty and destinations count no drops"
        );
        assert_eq!(failed.degraded_page(), Some("Drops"));
        let attached = ProbeStatus {
            failure: None,
            ..failed
        };
        assert_eq!(attached.degraded_page(), None);
        assert_eq!(attached.to_string(), "kfree_skb: attached");
    }

    #[test]
    fn every_watched_event_is_named_once() {
        for event in &WATCHED {
            assert_eq!(watched(event.name), Some(event));
        }
    }
}
