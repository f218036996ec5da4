//! A real Prometheus server for the metrics tests: Debian's package, which
//! scripts/setup.sh unpacks under target/ ([`dir`]). Each test starts its own, on
//! loopback, with its own configuration and data directory, scraping every
//! second, and [`Prometheus`] stops it and removes both on drop, even when
//! the test fails. Also a plain HTTP GET, for the tests to read /metrics
//! and Prometheus's HTTP API as a scraper would.

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;

/// Where scripts/setup.sh unpacks Debian's prometheus package (under the
/// repository's target/, which the kernel matrix's guests see too).
pub fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/tools/prometheus/usr/bin")
}

/// `prometheus` or `promtool`; panics saying how to get it.
pub fn tool(name: &str) -> PathBuf {
    let path = dir().join(name);
    assert!(
        path.is_file(),
        "{} is missing: run scripts/setup.sh, which unpacks Debian's prometheus package there",
        path.display()
    );
    path
}

/// Runs promtool with `args`, `stdin` on its standard input.
pub fn promtool(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(tool("promtool"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot run promtool");
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(stdin.as_bytes())
        .expect("write promtool's input");
    child.wait_with_output().expect("promtool's output")
}

/// A response: its head and body.
pub struct Response {
    pub head: String,
    pub body: String,
}

/// GET `path` from `addr` with the `accept` header, if any.
pub fn get(addr: SocketAddr, path: &str, accept: Option<&str>) -> std::io::Result<Response> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let accept = accept.map_or(String::new(), |accept| format!("Accept: {accept}\r\n"));
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{accept}Connection: close\r\n\r\n"
    )?;
    let mut text = String::new();
    stream.read_to_string(&mut text)?;
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    Ok(Response {
        head: head.to_string(),
        body: body.to_string(),
    })
}

/// A Prometheus server of this test's own.
pub struct Prometheus {
    child: Child,
    dir: PathBuf,
    pub addr: SocketAddr,
}

impl Prometheus {
    /// Starts Prometheus on `addr`, scraping `target` every second and
    /// evaluating `rules` (a file) every second; returns once it is ready.
    pub fn start(test: &str, addr: SocketAddr, target: SocketAddr, rules: &Path) -> Prometheus {
        let dir =
            std::env::temp_dir().join(format!("tcpscope-{test}-prometheus-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("data")).expect("prometheus's directory");
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             rule_files:\n  - {}\n\
             scrape_configs:\n  - job_name: tcpscope\n    static_configs:\n      - targets: ['{target}']\n",
            rules.display()
        );
        std::fs::write(dir.join("prometheus.yml"), config).expect("prometheus.yml");
        let log = std::fs::File::create(dir.join("log")).expect("prometheus's log");
        let child = Command::new(tool("prometheus"))
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("cannot start prometheus");
        let prometheus = Prometheus { child, dir, addr };
        // Connect only once it listens: a connect refused before would be
        // a connect failure in the metrics under test.
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if listening(addr.port())
                && get(addr, "/-/ready", None).is_ok_and(|response| response.head.contains(" 200 "))
            {
                return prometheus;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        panic!(
            "prometheus was not ready within 60 s; its log:\n{}",
            prometheus.log()
        );
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }

    /// The value of an instant query that yields one sample (None when it
    /// yields none).
    pub fn value(&self, query: &str) -> Option<f64> {
        let samples = self.query(query);
        let sample = samples.as_array()?.first()?;
        sample["value"][1].as_str()?.parse().ok()
    }

    /// The `result` of an instant query.
    pub fn query(&self, query: &str) -> Value {
        let path = format!("/api/v1/query?query={}", percent_encode(query));
        let response = get(self.addr, &path, None).expect("prometheus's query API");
        let answer: Value = serde_json::from_str(&response.body)
            .unwrap_or_else(|e| panic!("{query}: {e}: {}", response.body));
        answer["data"]["result"].clone()
    }

    /// The alerts Prometheus holds, pending or firing.
    pub fn alerts(&self) -> Vec<Value> {
        let response = get(self.addr, "/api/v1/alerts", None).expect("prometheus's alerts API");
        let answer: Value = serde_json::from_str(&response.body).expect("alerts JSON");
        answer["data"]["alerts"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Whether a socket of this namespace listens on `port` (/proc/net/tcp,
/// state 0A).
fn listening(port: u16) -> bool {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    table.lines().skip(1).any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let local_port = fields
            .get(1)
            .and_then(|local| local.split(':').nth(1))
            .and_then(|hex| u16::from_str_radix(hex, 16).ok());
        local_port == Some(port) && fields.get(3) == Some(&"0A")
    })
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (byte as char).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}
