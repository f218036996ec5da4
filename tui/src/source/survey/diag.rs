//! A sock_diag client for one network namespace: dumps its TCP sockets with
//! `tcp_info` and memory counters, or looks up one socket by its 4-tuple.
//! A netlink socket answers for the namespace it was created in, so
//! [`DiagSocket::open_in`] creates it on a short-lived thread that has
//! entered the namespace; the socket then serves from any thread.

use std::{io, net::SocketAddr};

use netlink_packet_core::{
    NLM_F_DUMP, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload, NlasIterator,
};
use netlink_packet_sock_diag::{
    AF_INET, AF_INET6, INET_DIAG_INFO, IPPROTO_TCP, SockDiagMessage,
    inet::{ExtensionFlags, InetRequest, InetResponse, SocketId, StateFlags, nlas::Nla},
};
use netlink_sys::{Socket, protocols::NETLINK_SOCK_DIAG};

use super::{namespaces::Namespace, sysctl};
use crate::model::event::SocketLimits;

/// Receive buffer: the kernel fills each read with as many sockets as fit.
const RECEIVE_BUFFER: usize = 64 * 1024;

/// The bytes before a sock_diag answer's attributes: the netlink header
/// and `struct inet_diag_msg`.
const ATTRIBUTES_AT: usize = 16 + 72;
/// Where `tcpi_rcv_wnd` sits in `struct tcp_info` (UAPI, so fixed). The
/// netlink crate's `tcp_info` ends before it; the kernel sends the field
/// from 6.2 on, which the attribute's length tells.
pub const RCV_WND_AT: usize = 232;

/// A socket as sock_diag describes it, before owners are resolved.
#[derive(Clone)]
pub struct Found {
    pub response: InetResponse,
    /// `tcpi_rcv_wnd`, when the kernel sends it.
    pub receive_window: Option<u32>,
}

pub struct DiagSocket {
    socket: Socket,
    sequence: u32,
}

impl DiagSocket {
    /// A sock_diag socket in tcpscope's own namespace.
    pub fn open() -> io::Result<Self> {
        let mut socket = Socket::new(NETLINK_SOCK_DIAG)?;
        socket.bind_auto()?;
        socket.connect(&netlink_sys::SocketAddr::new(0, 0))?;
        Ok(Self {
            socket,
            sequence: 0,
        })
    }

    /// A sock_diag socket in `namespace`, with the namespace's
    /// retransmission sysctls (read from inside it).
    pub fn open_in(namespace: &Namespace) -> io::Result<(Self, SocketLimits)> {
        namespace.enter_and(|| Ok((Self::open()?, sysctl::read_limits())))
    }

    /// Every TCP socket of the namespace but TIME_WAIT and request
    /// sockets, each handed to `each` as it arrives (a dump of many sockets
    /// is never held whole).
    pub fn dump(&mut self, mut each: impl FnMut(&Found)) -> io::Result<()> {
        // Request sockets come back as SYN_RECV: half-open connections.
        let states = StateFlags::all() - StateFlags::TIME_WAIT;
        for (family, id) in [
            (AF_INET, SocketId::new_v4()),
            (AF_INET6, SocketId::new_v6()),
        ] {
            self.send(NLM_F_REQUEST | NLM_F_DUMP, family, states.clone(), id)?;
            self.receive(&mut each)?;
        }
        Ok(())
    }

    /// The socket with this local and remote address, if it still exists.
    pub fn query(&mut self, local: SocketAddr, remote: SocketAddr) -> io::Result<Option<Found>> {
        let family = if local.is_ipv4() { AF_INET } else { AF_INET6 };
        let id = SocketId {
            source_port: local.port(),
            destination_port: remote.port(),
            source_address: local.ip(),
            destination_address: remote.ip(),
            interface_id: 0,
            // All ones: match by address, not by cookie.
            cookie: [0xff; 8],
        };
        self.send(NLM_F_REQUEST, family, StateFlags::all(), id)?;
        let mut found = None;
        match self.receive(&mut |answer: &Found| found = Some(answer.clone())) {
            Ok(()) => Ok(found),
            Err(error) if error.raw_os_error() == Some(libc::ENOENT) => Ok(None),
            Err(error) => Err(error),
        }
    }

    fn send(&mut self, flags: u16, family: u8, states: StateFlags, id: SocketId) -> io::Result<()> {
        self.sequence = self.sequence.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = flags;
        header.sequence_number = self.sequence;
        let mut message = NetlinkMessage::new(
            header,
            SockDiagMessage::InetRequest(InetRequest {
                family,
                protocol: IPPROTO_TCP,
                extensions: ExtensionFlags::INFO | ExtensionFlags::SKMEMINFO,
                states,
                socket_id: id,
            })
            .into(),
        );
        message.finalize();
        let mut bytes = vec![0; message.buffer_len()];
        message.serialize(&mut bytes);
        self.socket.send(&bytes, 0)?;
        Ok(())
    }

    /// Hands the answers to the last request to `each` until it is done:
    /// a dump's DONE, or a single answer (or error) to a lookup.
    fn receive(&mut self, each: &mut impl FnMut(&Found)) -> io::Result<()> {
        let mut buffer = vec![0u8; RECEIVE_BUFFER];
        let mut found = Vec::new();
        loop {
            let size = self.socket.recv(&mut &mut buffer[..], 0)?;
            let datagram = buffer.get(..size).unwrap_or(&buffer);
            let answer = read_datagram(datagram, self.sequence, &mut found);
            found.drain(..).for_each(|one| each(&one));
            if answer? == Answer::Done {
                return Ok(());
            }
        }
    }
}

/// Whether the answers to a request are complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Done,
    More,
}

/// Reads one received datagram of netlink messages into `found`: the
/// answers to request `sequence` (others are skipped). Done after a dump's
/// DONE, an error, or a single answer to a lookup.
pub fn read_datagram(datagram: &[u8], sequence: u32, found: &mut Vec<Found>) -> io::Result<Answer> {
    let mut offset = 0;
    let mut single = false;
    while offset < datagram.len() {
        let message = NetlinkMessage::<SockDiagMessage>::deserialize(&datagram[offset..])
            .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error))?;
        let length = message.header.length as usize;
        let ours = message.header.sequence_number == sequence;
        match message.payload {
            NetlinkPayload::InnerMessage(SockDiagMessage::InetResponse(response)) if ours => {
                single = message.header.flags & netlink_packet_core::NLM_F_MULTIPART == 0;
                let raw = datagram
                    .get(offset..offset.saturating_add(length))
                    .unwrap_or_default();
                found.push(Found {
                    response: *response,
                    receive_window: receive_window(raw),
                });
            }
            NetlinkPayload::Done(_) if ours => return Ok(Answer::Done),
            NetlinkPayload::Error(error) if ours => {
                // The kernel sends -errno; netlink-packet-core's to_io()
                // overflows on i32::MIN, which a corrupt answer may hold.
                return match error.code {
                    None => Ok(Answer::Done),
                    Some(code) => Err(io::Error::from_raw_os_error(
                        code.get().checked_abs().unwrap_or(i32::MAX),
                    )),
                };
            }
            _ => {}
        }
        if length == 0 {
            break;
        }
        offset = offset.saturating_add(length);
    }
    Ok(match single {
        true => Answer::Done,
        false => Answer::More,
    })
}

/// `tcpi_rcv_wnd` from the raw `INET_DIAG_INFO` attribute of one answer.
fn receive_window(message: &[u8]) -> Option<u32> {
    let attributes = message.get(ATTRIBUTES_AT..)?;
    let info = NlasIterator::new(attributes)
        .map_while(Result::ok)
        .find(|attribute| attribute.kind() == INET_DIAG_INFO)?;
    let field = info.value().get(RCV_WND_AT..RCV_WND_AT + 4)?;
    Some(u32::from_ne_bytes(field.try_into().ok()?))
}

impl Found {
    pub fn local(&self) -> SocketAddr {
        let id = &self.response.header.socket_id;
        SocketAddr::new(id.source_address, id.source_port)
    }

    pub fn remote(&self) -> SocketAddr {
        let id = &self.response.header.socket_id;
        SocketAddr::new(id.destination_address, id.destination_port)
    }

    pub fn tcp_info(&self) -> Option<&netlink_packet_sock_diag::inet::nlas::TcpInfo> {
        self.response.nlas.iter().find_map(|nla| match nla {
            Nla::TcpInfo(info) => Some(info),
            _ => None,
        })
    }

    pub fn drops(&self) -> Option<u32> {
        self.response.nlas.iter().find_map(|nla| match nla {
            Nla::MemInfo(memory) => Some(memory.drops),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::live::offsets;

    #[test]
    fn the_receive_window_is_read_where_the_running_kernel_puts_it() {
        let Ok(btf) = btf_rs::Btf::from_file("/sys/kernel/btf/vmlinux") else {
            eprintln!("skipped: no readable kernel BTF on this machine");
            return;
        };
        match offsets::byte_offset(&btf, "tcp_info", "tcpi_rcv_wnd") {
            Ok(offset) => assert_eq!(offset as usize, RCV_WND_AT),
            Err(error) => eprintln!("skipped: a kernel before 6.2 ({error})"),
        }
    }

    #[test]
    fn a_short_tcp_info_has_no_receive_window() {
        let mut message = vec![0u8; ATTRIBUTES_AT];
        // One INET_DIAG_INFO attribute holding a 232-byte tcp_info (5.x).
        let length: u16 = 4 + 232;
        message.extend_from_slice(&length.to_ne_bytes());
        message.extend_from_slice(&INET_DIAG_INFO.to_ne_bytes());
        message.extend(std::iter::repeat_n(0u8, 232));
        assert_eq!(receive_window(&message), None);
        // Grown by one field: the window is read.
        let length: u16 = 4 + 236;
        message.truncate(ATTRIBUTES_AT);
        message.extend_from_slice(&length.to_ne_bytes());
        message.extend_from_slice(&INET_DIAG_INFO.to_ne_bytes());
        message.extend(std::iter::repeat_n(0u8, 232));
        message.extend_from_slice(&65_535u32.to_ne_bytes());
        assert_eq!(receive_window(&message), Some(65_535));
    }

    /// A netlink error message (NLMSG_ERROR) for request `sequence`.
    fn error_message(sequence: u32, code: i32) -> Vec<u8> {
        let mut message = Vec::new();
        message.extend_from_slice(&36u32.to_ne_bytes()); // length
        message.extend_from_slice(&2u16.to_ne_bytes()); // NLMSG_ERROR
        message.extend_from_slice(&0u16.to_ne_bytes()); // flags
        message.extend_from_slice(&sequence.to_ne_bytes());
        message.extend_from_slice(&0u32.to_ne_bytes()); // port
        message.extend_from_slice(&code.to_ne_bytes());
        message.extend(std::iter::repeat_n(0u8, 16)); // the request's header
        message
    }

    #[test]
    fn an_error_answer_is_an_error_even_with_an_impossible_code() {
        let mut found = Vec::new();
        let refused = read_datagram(&error_message(7, -libc::ENOENT), 7, &mut found);
        assert_eq!(
            refused.expect_err("an error").raw_os_error(),
            Some(libc::ENOENT)
        );
        // Found by fuzzing: -i32::MIN does not exist.
        let corrupt = read_datagram(&error_message(7, i32::MIN), 7, &mut found);
        assert!(corrupt.is_err());
        // Another request's error is not this one's.
        let other = read_datagram(&error_message(8, -libc::ENOENT), 7, &mut found);
        assert_eq!(other.expect("skipped"), Answer::More);
        assert!(found.is_empty());
    }
}
