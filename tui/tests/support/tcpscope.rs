//! Runs the real `tcpscope --json` for a test: spawns it, waits until every
//! probe is attached (its first `stats` line), collects its stdout lines as JSON
//! on a reader thread, and stops it with SIGTERM. Failure messages carry the
//! lines and stderr that explain them.

use serde_json::Value;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long tcpscope may take to load and attach its probes.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// How long tcpscope may take to exit after SIGTERM.
const EXIT_TIMEOUT: Duration = Duration::from_secs(10);
/// A ceiling on every run, so a test that dies without stopping tcpscope does
/// not leave it running.
const MAX_RUN: &str = "60s";

/// The tcpscope binary under test: `TCPSCOPE_BIN` when set (the kernel
/// matrix points it at the static build), else the one cargo built.
pub fn binary() -> std::path::PathBuf {
    std::env::var_os("TCPSCOPE_BIN")
        .map_or_else(|| env!("CARGO_BIN_EXE_tcpscope").into(), Into::into)
}

/// What tcpscope printed so far.
#[derive(Default)]
struct Collected {
    lines: Vec<Value>,
    not_json: Vec<String>,
    stdout_closed: bool,
}

type Shared = Arc<(Mutex<Collected>, Condvar)>;

fn lock(shared: &Shared) -> MutexGuard<'_, Collected> {
    shared.0.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running `tcpscope --json`, killed on drop if the test did not finish it.
pub struct Tcpscope {
    child: Child,
    shared: Shared,
    stderr: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
}

/// What a finished run printed.
pub struct Run {
    /// Every stdout line, parsed.
    pub lines: Vec<Value>,
    /// Everything tcpscope wrote to stderr.
    pub stderr: String,
    /// How it exited.
    pub status: ExitStatus,
}

impl Tcpscope {
    /// Starts `tcpscope --json --port P...` and returns once its first stats
    /// line arrived; panics with its stderr if that takes over 20 s.
    pub fn start(ports: &[u16]) -> Tcpscope {
        Self::start_with(&[], ports)
    }

    /// [`Tcpscope::start`] with more options, e.g. `--sockinfo`.
    pub fn start_with(options: &[&str], ports: &[u16]) -> Tcpscope {
        let mut cmd = Command::new(binary());
        cmd.args(["--json", "--duration", MAX_RUN]);
        cmd.args(options);
        for port in ports {
            cmd.args(["--port", &port.to_string()]);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot spawn the tcpscope binary");
        let stdout = child.stdout.take().expect("tcpscope stdout is piped");
        let mut stderr_pipe = child.stderr.take().expect("tcpscope stderr is piped");

        let shared: Shared = Arc::default();
        let stderr = Arc::new(Mutex::new(String::new()));
        let stdout_reader = {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    let mut got = lock(&shared);
                    match serde_json::from_str::<Value>(&line) {
                        Ok(value) if value.is_object() => got.lines.push(value),
                        _ => got.not_json.push(line),
                    }
                    shared.1.notify_all();
                }
                lock(&shared).stdout_closed = true;
                shared.1.notify_all();
            })
        };
        let stderr_reader = {
            let stderr = Arc::clone(&stderr);
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = stderr_pipe.read(&mut buf) {
                    let text = String::from_utf8_lossy(&buf[..n]);
                    stderr
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push_str(&text);
                }
            })
        };
        let mut scope = Tcpscope {
            child,
            shared,
            stderr,
            readers: vec![stdout_reader, stderr_reader],
        };
        if scope
            .wait_for(READY_TIMEOUT, |v| v["kind"] == "stats")
            .is_none()
        {
            let status = scope.child.try_wait().ok().flatten();
            panic!(
                "tcpscope printed no stats line within {READY_TIMEOUT:?} (exit status: {}); \
                 stdout so far:\n{}\nstderr:\n{}",
                status.map_or("still running".into(), |s| s.to_string()),
                scope.dump(),
                scope.stderr_text()
            );
        }
        scope
    }

    /// The process id of the running tcpscope.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Every line printed so far.
    pub fn lines(&self) -> Vec<Value> {
        lock(&self.shared).lines.clone()
    }

    /// Waits until a line matching `pred` has been printed and returns the
    /// first such line; `None` after `timeout` or once tcpscope closed stdout.
    pub fn wait_for(&self, timeout: Duration, pred: impl Fn(&Value) -> bool) -> Option<Value> {
        let deadline = Instant::now() + timeout;
        let mut got = lock(&self.shared);
        loop {
            if let Some(line) = got.lines.iter().find(|v| pred(v)) {
                return Some(line.clone());
            }
            let now = Instant::now();
            if got.stdout_closed || now >= deadline {
                return None;
            }
            got = self
                .shared
                .1
                .wait_timeout(got, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Waits until `count` lines match `pred`; returns how many matched
    /// when it stopped waiting (after `timeout` or once stdout closed).
    pub fn wait_for_count(
        &self,
        count: usize,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> usize {
        let deadline = Instant::now() + timeout;
        let mut got = lock(&self.shared);
        loop {
            let matched = got.lines.iter().filter(|v| pred(v)).count();
            let now = Instant::now();
            if matched >= count || got.stdout_closed || now >= deadline {
                return matched;
            }
            got = self
                .shared
                .1
                .wait_timeout(got, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Like `wait_for`, but panics with what tcpscope printed when no line
    /// matches; `what` says what was expected.
    pub fn expect_line(
        &self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        self.wait_for(timeout, pred).unwrap_or_else(|| {
            panic!(
                "tcpscope printed no {what} within {timeout:?}; lines:\n{}\nstderr:\n{}",
                self.dump(),
                self.stderr_text()
            )
        })
    }

    /// Stops tcpscope with SIGTERM and returns everything it printed; panics
    /// when it does not exit within 10 s or printed a line that is not JSON.
    pub fn finish(mut self) -> Run {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid fits in pid_t");
        // SAFETY: kill has no memory preconditions; the child is not reaped
        // yet, so the pid still names it.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + EXIT_TIMEOUT;
        let status = loop {
            match self.child.try_wait().expect("cannot wait for tcpscope") {
                Some(status) => break status,
                None if Instant::now() >= deadline => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    panic!(
                        "tcpscope did not exit within {EXIT_TIMEOUT:?} of SIGTERM; lines:\n{}\nstderr:\n{}",
                        self.dump(),
                        self.stderr_text()
                    );
                }
                None => std::thread::sleep(Duration::from_millis(20)),
            }
        };
        for reader in self.readers.drain(..) {
            reader.join().expect("a tcpscope reader thread panicked");
        }
        let got = std::mem::take(&mut *lock(&self.shared));
        let stderr = self.stderr_text();
        assert!(
            got.not_json.is_empty(),
            "tcpscope --json printed lines that are not JSON objects:\n{}\nstderr:\n{stderr}",
            got.not_json.join("\n")
        );
        Run {
            lines: got.lines,
            stderr,
            status,
        }
    }

    fn stderr_text(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn dump(&self) -> String {
        let got = lock(&self.shared);
        let mut text = dump(&got.lines);
        for line in &got.not_json {
            text.push_str(&format!("(not JSON) {line}\n"));
        }
        text
    }
}

impl Drop for Tcpscope {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// One line per JSON value, for failure messages.
pub fn dump<'a>(lines: impl IntoIterator<Item = &'a Value>) -> String {
    lines.into_iter().map(|v| format!("{v}\n")).collect()
}
