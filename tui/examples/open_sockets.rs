//! Holds many established loopback TCP connections open, for measuring how
//! long tcpscope takes to start on a box with many sockets: its start-up
//! survey reads every one of them with sock_diag and finds their owner in
//! /proc/<pid>/fd. Both ends of each connection live in this process, so
//! each connection is two sockets.
//!
//! `cargo run --release --example open_sockets -- 5000 23901` (connections,
//! default 5000, i.e. 10,000 sockets; listening port, default 23901).
//! Prints `ready <n> sockets` once all are open, then holds them until it is
//! killed or its stdin closes. scripts/startup.sh drives it.

use std::{
    io::{self, Read as _, Write as _},
    net::{Ipv4Addr, TcpListener, TcpStream},
};

use anyhow::{Context as _, bail};

const DEFAULT_CONNECTIONS: u64 = 5000;
const DEFAULT_PORT: u16 = 23901;
/// Descriptors beyond the sockets: stdio, the listener, the runtime's own.
const SPARE_FDS: u64 = 64;

fn main() -> anyhow::Result<()> {
    let connections = argument(1, "connections")?.unwrap_or(DEFAULT_CONNECTIONS);
    let port = argument(2, "port")?.unwrap_or(DEFAULT_PORT);
    raise_fd_limit(2 * connections + SPARE_FDS)?;
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port))
        .with_context(|| format!("listening on 127.0.0.1:{port}; is the port in use?"))?;
    let mut held = Vec::new();
    for opened in 0..connections {
        let client = TcpStream::connect((Ipv4Addr::LOCALHOST, port))
            .with_context(|| format!("connecting after {opened} connections"))?;
        // Loopback completes the handshake within connect(): the accept
        // queue holds the server's end already.
        let (server, _) = listener
            .accept()
            .with_context(|| format!("accepting after {opened} connections"))?;
        held.push((client, server));
    }
    let mut stdout = io::stdout().lock();
    writeln!(stdout, "ready {} sockets", 2 * held.len()).context("writing to stdout")?;
    stdout.flush().context("writing to stdout")?;
    // Holds everything until stdin ends (or a signal ends the process).
    io::stdin()
        .read_to_end(&mut Vec::new())
        .context("reading stdin")?;
    drop(held);
    Ok(())
}

/// The `position`th command-line argument, parsed, if given.
fn argument<T: std::str::FromStr>(position: usize, name: &str) -> anyhow::Result<Option<T>> {
    let Some(text) = std::env::args().nth(position) else {
        return Ok(None);
    };
    match text.parse() {
        Ok(value) => Ok(Some(value)),
        Err(_) => bail!("{name} must be a number, not {text:?}"),
    }
}

/// Lets this process hold at least `wanted` descriptors, raising the hard
/// limit too when it is lower (which takes root or CAP_SYS_RESOURCE).
fn raise_fd_limit(wanted: u64) -> anyhow::Result<()> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit through a valid pointer.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut limit) } != 0 {
        return Err(io::Error::last_os_error()).context("reading RLIMIT_NOFILE");
    }
    if limit.rlim_cur >= wanted {
        return Ok(());
    }
    limit.rlim_cur = wanted;
    limit.rlim_max = limit.rlim_max.max(wanted);
    // SAFETY: setrlimit reads one rlimit through a valid pointer.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raw const limit) } != 0 {
        return Err(io::Error::last_os_error()).with_context(|| {
            format!(
                "raising RLIMIT_NOFILE to {wanted}; run as root, or `ulimit -n {wanted}` first, \
                 or open fewer connections"
            )
        });
    }
    Ok(())
}
