//! The `/metrics` endpoint: a small HTTP/1.1 server on tokio, enough for
//! a Prometheus scrape and a `curl`. Each connection gets one answer and
//! is closed. What a client sends is bounded (the request head at most
//! [`MOST_HEAD_BYTES`], read within [`READ_TIMEOUT`]), and at most
//! [`MOST_CONNECTIONS`] are answered at once; others wait in the backlog.

use std::{io, net::SocketAddr, sync::Arc, time::Duration};

use prometheus_client::registry::Registry;
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::{TcpListener, TcpStream},
    sync::Semaphore,
    time,
};

use super::exposition::{self, Format};

pub const MOST_HEAD_BYTES: usize = 8 * 1024;
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);
pub const MOST_CONNECTIONS: usize = 8;

/// Binds `addr`, so that a taken port is said before anything starts.
pub async fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Answers scrapes until the runtime stops.
pub async fn serve(listener: TcpListener, registry: Arc<Registry>) {
    let slots = Arc::new(Semaphore::new(MOST_CONNECTIONS));
    loop {
        let Ok(permit) = Arc::clone(&slots).acquire_owned().await else {
            return;
        };
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            // Out of file descriptors and the like: try again shortly.
            Err(_) => {
                time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let registry = Arc::clone(&registry);
        tokio::spawn(async move {
            let _ = answer(stream, &registry).await;
            drop(permit);
        });
    }
}

async fn answer(mut stream: TcpStream, registry: &Registry) -> io::Result<()> {
    let head = match time::timeout(READ_TIMEOUT, read_head(&mut stream)).await {
        Ok(Ok(head)) => head,
        Ok(Err(error)) if error.kind() == io::ErrorKind::InvalidData => {
            let status = "431 Request Header Fields Too Large";
            return respond(&mut stream, status, "text/plain", 0, "").await;
        }
        Ok(Err(error)) => return Err(error),
        Err(_) => return Ok(()),
    };
    let (status, content_type, mut body) = route(&head, registry);
    let length = body.len();
    if head.starts_with("HEAD ") {
        body.clear();
    }
    respond(&mut stream, status, content_type, length, &body).await
}

/// What to answer to the request whose head is `head`.
pub fn route(head: &str, registry: &Registry) -> (&'static str, &'static str, String) {
    let mut words = head.lines().next().unwrap_or_default().split(' ');
    let (method, target) = (
        words.next().unwrap_or_default(),
        words.next().unwrap_or_default(),
    );
    let path = target.split('?').next().unwrap_or_default();
    match (method, path) {
        ("GET" | "HEAD", "/metrics") => {
            let format = Format::accepted(header(head, "accept"));
            let body = exposition::render(registry, format);
            ("200 OK", format.content_type(), body)
        }
        ("GET" | "HEAD", "/") => (
            "200 OK",
            "text/plain; charset=utf-8",
            "tcpscope: the metrics are at /metrics\n".to_string(),
        ),
        ("GET" | "HEAD", _) => ("404 Not Found", "text/plain", "not found\n".to_string()),
        _ => (
            "405 Method Not Allowed",
            "text/plain",
            "only GET\n".to_string(),
        ),
    }
}

/// The value of header `name` (lower case) in a request head.
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim().eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

/// Reads up to the blank line that ends a request head.
async fn read_head(stream: &mut TcpStream) -> io::Result<String> {
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !head.windows(4).any(|window| window == b"\r\n\r\n") {
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            break;
        }
        head.extend_from_slice(&chunk[..read]);
        if head.len() > MOST_HEAD_BYTES {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "request head too long",
            ));
        }
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}

/// Writes the answer; `length` is the body's, also for a HEAD request,
/// which gets no body.
async fn respond(
    stream: &mut TcpStream,
    status: &str,
    content_type: &str,
    length: usize,
    body: &str,
) -> io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}
