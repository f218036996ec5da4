//! A loopback connect storm for measuring tcpscope's overhead: one thread
//! accepts and closes, one connects and closes, as fast as they can, for a
//! fixed time; prints connections per second. Loopback only.
//!
//! `cargo run --release --example connect_storm -- 5 [clean|abort]`
//! (seconds, default 5). `clean` (the default): the server closes first and
//! the client then closes, the life of a healthy short connection, which
//! leaves the server's end in TIME_WAIT (a new SYN may reuse its 4-tuple),
//! so the client never runs short of local ports. `abort`: the client
//! closes with a RST (SO_LINGER 0), every connection ending in resets.
//! scripts/overhead.sh runs it with and without tcpscope attached.

use std::{
    io::Read,
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
    let mut byte = [0u8; 1];
    while start.elapsed() < run_for {
        match TcpStream::connect(address) {
            Ok(stream) if abort => {
                abortive_close(stream);
                connections += 1;
            }
            Ok(mut stream) => {
                // The server's FIN, then ours.
                let _ = stream.read(&mut byte);
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
