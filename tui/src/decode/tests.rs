//! The decoder against hand-built records.

use super::*;

const SYMBOLS: &str = "\
ffffffff81000000 T bpf_trace_run3
ffffffff81000100 T inet_sk_state_store
ffffffff81000200 T tcp_done
ffffffff81000300 T tcp_retransmit_timer
ffffffff81000400 T tcp_send_loss_probe
ffffffff81000500 T tcp_fastretrans_alert
ffffffff81000600 T tcp_close
";

const CLOCK: KernelClock = KernelClock {
    hz: 250,
    monotonic_to_wall_ns: 1_700_000_000_000_000_000,
};

fn decoder() -> Decoder {
    Decoder::new(
        CLOCK,
        Bitfields {
            usec_ts: Some(1),
            num_timeout: Some(1),
        },
        Symbols::parse(SYMBOLS),
    )
}

fn blank(record_kind: u8) -> Record {
    // SAFETY: Record is plain integers and arrays; all zeroes is valid.
    let mut record: Record = unsafe { std::mem::zeroed() };
    record.kind = record_kind;
    record.ts_ns = 5_000;
    record.sock = 0xffff_8881_0000_1000;
    record.family = 2;
    record.saddr[..4].copy_from_slice(&[10, 0, 0, 1]);
    record.daddr[..4].copy_from_slice(&[10, 0, 0, 2]);
    record.sport = 42636;
    record.dport = 22;
    record.pid_tgid = (23023 << 32) | 23024;
    record.comm[..2].copy_from_slice(b"nc");
    record
}

fn with_stack(record: Record, frames: &[u64]) -> StackedRecord {
    let mut stacked = StackedRecord {
        record,
        stack: [0; STACK_DEPTH],
    };
    stacked.stack[..frames.len()].copy_from_slice(frames);
    stacked.record.stack_bytes = (frames.len() * 8) as i32;
    stacked
}

/// The bytes of a record as the ring buffer hands them over.
fn bytes<T>(record: &T) -> Vec<u8> {
    // SAFETY: reading the value's own bytes for its size.
    unsafe { std::slice::from_raw_parts((record as *const T).cast::<u8>(), size_of::<T>()) }
        .to_vec()
}

#[test]
fn a_close_carries_its_errno_and_a_named_stack_without_tracing_frames() {
    let mut close = blank(kind::STATE);
    close.old_state = 2;
    close.new_state = 7;
    close.sk_err = 110;
    let stacked = with_stack(
        close,
        &[
            0x1234,
            0xffffffff81000010,
            0xffffffff81000108,
            0xffffffff81000220,
            0xffffffff81000330,
        ],
    );
    let event = decoder().decode(&bytes(&stacked)).expect("decodes");
    assert_eq!(event.ts, 1_700_000_000_000_005_000);
    assert_eq!(event.sock, Some(SockId(0xffff_8881_0000_1000)));
    assert_eq!(event.local, "10.0.0.1:42636".parse().expect("addr"));
    assert_eq!(event.remote, "10.0.0.2:22".parse().expect("addr"));
    assert_eq!(
        event.task.as_ref().map(|t| (t.pid, &*t.comm)),
        Some((23023, "nc"))
    );
    let EventKind::State {
        old,
        new,
        err,
        stack,
    } = event.kind
    else {
        panic!("not a state change: {:?}", event.kind);
    };
    assert_eq!((old, new, err), (TcpState::SynSent, TcpState::Close, 110));
    assert_eq!(
        stack.as_deref(),
        Some(
            &[
                "inet_sk_state_store+0x8".to_string(),
                "tcp_done+0x20".to_string(),
                "tcp_retransmit_timer+0x30".to_string(),
            ][..]
        )
    );
}

#[test]
fn a_retransmit_converts_jiffies_and_reads_its_cause_from_the_stack() {
    let mut decoder = decoder();
    let mut record = blank(kind::RETRANSMIT);
    record.rto_jiffies = 500;
    record.backoff = 1;
    record.pid_tgid = 0;
    let cases = [
        (&[0xffffffff81000310][..], RetransmitCause::Timer),
        (
            &[0xffffffff81000410, 0xffffffff81000310][..],
            RetransmitCause::LossProbe,
        ),
        (&[0xffffffff81000510][..], RetransmitCause::Fast),
        (&[][..], RetransmitCause::Unknown),
    ];
    for (frames, cause) in cases {
        let event = decoder
            .decode(&bytes(&with_stack(record, frames)))
            .expect("decodes");
        assert_eq!(event.task, None, "pid 0 is the idle task, not an owner");
        let EventKind::Retransmit(retransmit) = event.kind else {
            panic!("not a retransmit");
        };
        assert_eq!(retransmit.rto_ms, 2000, "500 jiffies at HZ=250");
        assert_eq!(retransmit.cause, cause, "frames {frames:x?}");
    }
}

#[test]
fn limits_place_the_first_retransmission_in_ms_or_us() {
    let mut record = blank(kind::RETRANSMIT);
    record.limits.ns_retries2 = 3;
    record.limits.user_timeout_ms = 1500;
    record.limits.rto_max_jiffies = 250;
    record.limits.tcp_mstamp_us = 9_000_000;
    record.limits.retrans_stamp = 8_000;
    let limits = |record: &Record| {
        let EventKind::Retransmit(retransmit) =
            decoder().decode(&bytes(record)).expect("decodes").kind
        else {
            panic!("not a retransmit");
        };
        retransmit.limits.expect("limits")
    };
    let in_ms = limits(&record);
    assert_eq!(in_ms.retries2, 3);
    assert_eq!(in_ms.user_timeout_ms, Some(1500));
    assert_eq!(in_ms.rto_max_ms, Some(1000));
    assert_eq!(in_ms.since_first_retransmit_ms, Some(1000));
    record.limits.usec_ts_byte = 0b10;
    record.limits.retrans_stamp = 8_500_000;
    assert_eq!(limits(&record).since_first_retransmit_ms, Some(500));
}

#[test]
fn nonsense_from_the_kernel_is_an_error_not_a_panic() {
    let mut decoder = decoder();
    assert_eq!(decoder.decode(&[0; 12]), Err(DecodeError::Size(12)));
    assert_eq!(
        decoder.decode(&bytes(&blank(99))),
        Err(DecodeError::Kind(99))
    );
    let mut state = blank(kind::STATE);
    state.old_state = 2;
    state.new_state = 200;
    assert_eq!(decoder.decode(&bytes(&state)), Err(DecodeError::State(200)));
    let mut family = blank(kind::DESTROY);
    family.family = 1;
    assert_eq!(decoder.decode(&bytes(&family)), Err(DecodeError::Family(1)));
    let mut close = blank(kind::STATE);
    close.old_state = 1;
    close.new_state = 7;
    let mut stack = with_stack(close, &[]);
    stack.record.stack_bytes = -14;
    let event = decoder
        .decode(&bytes(&stack))
        .expect("a failed stack read is no stack");
    assert!(matches!(event.kind, EventKind::State { stack: None, .. }));
}

#[test]
fn ipv6_records_keep_their_addresses() {
    let mut record = blank(kind::DESTROY);
    record.family = 10;
    record.saddr = "fd00::1".parse::<Ipv6Addr>().expect("v6").octets();
    record.daddr = "fd00::2".parse::<Ipv6Addr>().expect("v6").octets();
    let event = decoder().decode(&bytes(&record)).expect("decodes");
    assert_eq!(event.local, "[fd00::1]:42636".parse().expect("addr"));
    assert_eq!(event.remote, "[fd00::2]:22".parse().expect("addr"));
}

#[test]
fn an_opened_record_tells_the_open_its_owner_and_when_the_handshake_completed() {
    let opening = tcpscope_common::Opening {
        opened_ns: 5_000,
        pid_tgid: (23023 << 32) | 23024,
        comm: *b"nc\0\0\0\0\0\0\0\0\0\0\0\0\0\0",
        family: 2,
        saddr: blank(kind::OPENED).saddr,
        daddr: blank(kind::OPENED).daddr,
        sport: 42636,
        dport: 22,
        netns: 4026531840,
        opened_as: 2,
        established_after_us: 250,
        ..tcpscope_common::Opening::default()
    };
    let mut record = Record {
        sock: 0xffff_8881_0000_1000,
        ..Record::default()
    };
    record.fill_opened(&opening);
    let event = decoder().decode(&bytes(&record)).expect("decodes");
    let wall = |ns: u64| ns.saturating_add_signed(CLOCK.monotonic_to_wall_ns);
    assert_eq!(
        event.kind,
        EventKind::Opened {
            opened_as: TcpState::SynSent,
            established_at: Some(wall(5_000 + 250_000)),
        }
    );
    assert_eq!(event.ts, wall(5_000), "the open's time");
    assert_eq!(event.task.map(|task| task.pid), Some(23023));
    assert_eq!(event.local.to_string(), "10.0.0.1:42636");
    let mut handshaking = record;
    handshaking.established_after_us = 0;
    handshaking.new_state = 2;
    let event = decoder().decode(&bytes(&handshaking)).expect("decodes");
    assert!(matches!(
        event.kind,
        EventKind::Opened {
            established_at: None,
            ..
        }
    ));
}
