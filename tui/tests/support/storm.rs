//! A connection storm between two namespaces of a lab: a
//! listener with room for it, a thread that accepts and closes, and client
//! threads that connect and shut down as fast as they can.

use std::io::Read;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use super::netns::Namespace;
use super::scenario::listen_in;

/// A listener at `address` in `ns` with room for a whole storm in its
/// accept queue: with std's 128, a queue that filled for a moment dropped
/// SYNs, each of which cost its client a second (on 6.18 a storm then ran
/// at 200 connections/s and outlived tcpscope's --duration).
pub fn listener(ns: &Namespace, address: SocketAddr) -> TcpListener {
    let listener = listen_in(ns, address);
    // SAFETY: listen() on a socket this test owns; a listening socket
    // takes a new backlog.
    let relisten = unsafe { libc::listen(listener.as_raw_fd(), 4096) };
    assert_eq!(
        relisten,
        0,
        "listen(4096): {}",
        std::io::Error::last_os_error()
    );
    listener
}

/// Accepts on `listener` until `done`; each connection is read until its
/// client's FIN (or `hold`), then closed.
pub fn accept(listener: TcpListener, done: &Arc<AtomicBool>, hold: Duration) -> JoinHandle<()> {
    let done = Arc::clone(done);
    std::thread::spawn(move || {
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let mut buf = [0u8; 1];
        while !done.load(Ordering::Relaxed) {
            match listener.accept() {
                Ok((mut stream, _)) => {
                    let _ = stream.set_nonblocking(false);
                    let _ = stream.set_read_timeout(Some(hold));
                    let _ = stream.read(&mut buf);
                }
                Err(_) => std::thread::sleep(Duration::from_millis(1)),
            }
        }
    })
}

/// `threads` threads in `ns`, together making `connections` connections
/// to `to`, each shut down at once by its client; each thread returns how
/// many of its connects failed.
pub fn clients(
    ns: &Namespace,
    to: SocketAddr,
    threads: usize,
    connections: usize,
) -> Vec<JoinHandle<usize>> {
    (0..threads)
        .map(|n| {
            ns.spawn(&format!("storm-{n}"), move || {
                let mut failed = 0usize;
                for _ in 0..connections / threads {
                    match TcpStream::connect(to) {
                        Ok(stream) => {
                            let _ = stream.shutdown(Shutdown::Both);
                        }
                        Err(_) => failed += 1,
                    }
                }
                failed
            })
        })
        .collect()
}

/// Waits for the client threads; how many connects failed.
pub fn failed(clients: Vec<JoinHandle<usize>>) -> usize {
    clients
        .into_iter()
        .map(|client| client.join().expect("storm thread panicked"))
        .sum()
}
