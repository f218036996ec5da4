//! Userspace's half of the healthy path (probes/src/healthy.rs): the
//! probes keep young connections that stay clean to themselves. Every
//! second this reads what they counted per destination, as `opens`
//! events, and tells the connections they kept past a second that are
//! still quiet (a long-lived idle flow has no later change that would tell
//! it) and whose handshake is done, as `opened` events, taking each out of the map first so that the
//! probes and this never both tell one.

use std::{
    collections::HashMap,
    net::{Ipv4Addr, Ipv6Addr, SocketAddr},
};

use aya::maps::{HashMap as BpfHashMap, MapData, PerCpuHashMap};
use tcpscope_common::{Destination, KEPT_FOR_NS, Opening, Opens, Record};

use super::probes::Probes;
use crate::{
    decode::{Decoder, endpoint},
    model::event::{Event, EventKind, Nanos, TcpState},
};

/// As many entries as the probes' map holds: a walk of the map that the
/// probes change meanwhile can restart, and must still end.
const OPENINGS_MAX: usize = 65_536;
/// As many destinations as the probes count.
const DESTINATIONS_MAX: usize = 16_384;

/// The probes' maps of the healthy path, and what was read from them.
pub struct Kept {
    openings: BpfHashMap<MapData, u64, Opening>,
    opens: PerCpuHashMap<MapData, Destination, Opens>,
    /// Each destination's totals at the last read.
    read: HashMap<Destination, Opens>,
}

impl Kept {
    pub fn take(probes: &mut Probes) -> anyhow::Result<Self> {
        Ok(Self {
            openings: BpfHashMap::try_from(probes.take_map("OPENINGS")?)?,
            opens: PerCpuHashMap::try_from(probes.take_map("OPENS")?)?,
            read: HashMap::new(),
        })
    }

    /// The `opens` of every destination whose counts moved since the last
    /// read, at `now`, then the `opened` of every quiet connection kept
    /// past [`KEPT_FOR_NS`] (`now_monotonic_ns` on the probes' clock).
    pub fn read(&mut self, decoder: &mut Decoder, now: Nanos, now_monotonic_ns: u64) -> Vec<Event> {
        let mut events = self.opens(now);
        events.extend(self.quiet(decoder, now_monotonic_ns));
        events
    }

    fn opens(&mut self, now: Nanos) -> Vec<Event> {
        let mut events = Vec::new();
        let mut read = HashMap::with_capacity(self.read.len());
        for item in self.opens.iter().take(DESTINATIONS_MAX) {
            let Ok((destination, per_cpu)) = item else {
                continue;
            };
            let total = per_cpu.iter().fold(Opens::default(), |sum, cpu| Opens {
                attempts: sum.attempts.wrapping_add(cpu.attempts),
                established: sum.established.wrapping_add(cpu.established),
            });
            // A walk the probes' changes restarted visits a key twice.
            if read.insert(destination, total).is_some() {
                continue;
            }
            let before = self.read.get(&destination).copied().unwrap_or_default();
            // A destination the probes' LRU evicted starts again from 0.
            let moved = |now: u64, then: u64| match now.checked_sub(then) {
                Some(delta) => delta,
                None => now,
            };
            let attempts = moved(total.attempts, before.attempts);
            let established = moved(total.established, before.established);
            if attempts == 0 && established == 0 {
                continue;
            }
            let Some(remote) = endpoint(destination.family, &destination.addr, destination.port)
            else {
                continue;
            };
            events.push(Event {
                ts: now,
                sock: None,
                netns: 0,
                local: unspecified(remote),
                remote,
                task: None,
                kind: EventKind::Opens {
                    attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
                    established: u32::try_from(established).unwrap_or(u32::MAX),
                },
            });
        }
        // A key this walk missed keeps its totals, up to twice as many
        // destinations as the map holds.
        for (destination, total) in self.read.drain() {
            if read.len() >= 2 * DESTINATIONS_MAX {
                break;
            }
            read.entry(destination).or_insert(total);
        }
        self.read = read;
        events
    }

    fn quiet(&mut self, decoder: &mut Decoder, now_monotonic_ns: u64) -> Vec<Event> {
        let keys: Vec<u64> = self
            .openings
            .keys()
            .take(OPENINGS_MAX)
            .filter_map(Result::ok)
            .collect();
        let mut events = Vec::new();
        for sock in keys {
            let Ok(opening) = self.openings.get(&sock, 0) else {
                continue;
            };
            if !due(&opening, now_monotonic_ns) {
                continue;
            }
            // Whoever deletes it tells it: the probes may be doing so now.
            if self.openings.remove(&sock).is_err() {
                continue;
            }
            let mut record = Record {
                sock,
                ..Record::default()
            };
            record.fill_opened(&opening);
            if let Ok(event) = decoder.decode_record(&record, &[]) {
                events.push(event);
            }
        }
        events
    }
}

/// Whether userspace tells `opening` at `now_ns`: kept past
/// [`KEPT_FOR_NS`] and whole. A connect whose handshake has not completed
/// is left to the probes: the kernel chooses its local port after the
/// change to SYN_SENT, so its entry has none, and its next change (a SYN
/// retry, the handshake or the close) tells it with the port.
fn due(opening: &Opening, now_ns: u64) -> bool {
    let connecting = TcpState::from_kernel(opening.opened_as) == Some(TcpState::SynSent)
        && opening.established_after_us == 0;
    !connecting && now_ns.saturating_sub(opening.opened_ns) >= KEPT_FOR_NS
}

/// The unspecified address of `remote`'s family, port 0: an `opens` event
/// has no local end.
fn unspecified(remote: SocketAddr) -> SocketAddr {
    match remote {
        SocketAddr::V4(_) => SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
        SocketAddr::V6(_) => SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kernel's numbers (include/net/tcp_states.h).
    const SYN_SENT: u8 = 2;
    const SYN_RECV: u8 = 3;

    fn opening(opened_as: u8, established_after_us: u32) -> Opening {
        Opening {
            opened_ns: 5_000_000_000,
            opened_as,
            established_after_us,
            ..Opening::default()
        }
    }

    #[test]
    fn a_quiet_connection_is_told_once_kept_for_a_second() {
        let established = opening(SYN_SENT, 300);
        assert!(!due(&established, 5_999_999_999));
        assert!(due(&established, 6_000_000_000));
        let accepted = opening(SYN_RECV, 0);
        assert!(!due(&accepted, 5_500_000_000));
        assert!(due(&accepted, 7_000_000_000));
    }

    #[test]
    fn a_connect_still_in_its_handshake_is_left_to_the_probes() {
        let connecting = opening(SYN_SENT, 0);
        assert!(!due(&connecting, 9_000_000_000));
    }
}
