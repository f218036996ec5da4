//! A loopback connect storm for measuring tcpscope's overhead: one thread
//! accepts and closes, one connects and closes, as fast as they can, for a
//! fixed time; prints connections per second. Loopback only.
//!
//! `cargo run --release --example connect_storm -- 5 [clean|abort]`
//! (seconds, default 5). `clean` (the default): both ends close with a FIN
//! at once, the life of a healthy short connection; the client's ends wait
//! in TIME_WAIT, which a new connect on loopback may reuse
//! (`net.ipv4.tcp_tw_reuse`, 2 by default: loopback only), so the storm
//! does not run short of local ports. `abort`: the client closes with a
//! RST (SO_LINGER 0), every connection ending in resets.
//! scripts/overhead.sh runs it with and without tcpscope attached.

use std::{
    net::{Ipv4Addr, TcpListener, TcpStream},
    os::fd::AsRawFd,
    thread,
    time::{Duration, Instant},
};

fn main() -> std::io::Result<()> {
    let seconds: u64 = std::env::args()
        .nth(1)
        .and_then(|arg| arg.parse().ok())
        .unwrap_or(5);
    let abort = std::env::args().nth(2).as_deref() == Some("abort");
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    // A deep accept queue, so that a busy accepting thread never makes the
    // kernel drop SYNs (each drop would cost a 1 s SYN retransmission).
    // SAFETY: listen() on the listener's own open socket.
    unsafe { libc::listen(listener.as_raw_fd(), 4096) };
    let address = listener.local_addr()?;
    thread::spawn(move || {
        for stream in listener.incoming() {
            drop(stream);
        }
    });
    let run_for = Duration::from_secs(seconds);
    let start = Instant::now();
    let mut connections = 0u64;
    while start.elapsed() < run_for {
        match TcpStream::connect(address) {
            Ok(stream) if abort => {
                abortive_close(stream);
                connections += 1;
            }
            Ok(stream) => {
                drop(stream);
                connections += 1;
            }
            Err(error) => eprintln!("connect: {error}"),
        }
    }
    let rate = connections as f64 / start.elapsed().as_secs_f64();
    println!("{rate:.0}");
    Ok(())
}

/// Closes with a RST (SO_LINGER 0): no TIME_WAIT, so the storm never runs
/// short of local ports, whatever its length.
fn abortive_close(stream: TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt reads size_of::<linger>() bytes from a valid pointer
    // on an open socket the stream owns.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&raw const linger).cast(),
            size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}
