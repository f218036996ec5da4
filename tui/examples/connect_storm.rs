//! A loopback connect storm for measuring tcpscope's overhead: one thread
//! accepts and closes, one connects and closes, as fast as they can, for a
//! fixed time; prints connections per second. Loopback only.
//!
//! `cargo run --release --example connect_storm -- 5` (seconds, default 5).
//! scripts/overhead.sh runs it with and without tcpscope attached.

use std::{
    net::{Ipv4Addr, TcpListener, TcpStream},
    thread,
    time::{Duration, Instant},
};

fn main() -> std::io::Result<()> {
    let seconds: u64 = std::env::args()
        .nth(1)
        .and_then(|arg| arg.parse().ok())
        .unwrap_or(5);
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
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
