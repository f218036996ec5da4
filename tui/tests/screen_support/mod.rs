//! Support for the screen's end-to-end tests: the real binary running in a
//! tmux session on a tmux server of its own (killed on drop, also when a
//! test panics), read with capture-pane and driven with send-keys, in a
//! temporary directory that is removed on drop. Each test crate uses a part
//! of it.

#![allow(dead_code)]

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

/// The tcpscope binary under test: `TCPSCOPE_BIN` when set (the kernel
/// matrix points it at the static build), else the one cargo built.
pub fn bin() -> String {
    std::env::var("TCPSCOPE_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_tcpscope").to_string())
}

/// The recording shipped in assets/.
pub fn demo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/demo.jsonl")
}

/// A name no other test run uses.
pub fn unique(what: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.subsec_nanos());
    format!("tcpscope-{what}-{}-{nanos}", std::process::id())
}

/// A fresh directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(what: &str) -> Self {
        let path = std::env::temp_dir().join(unique(what));
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A detached tmux session running one command, on its own server.
pub struct Tmux {
    socket: String,
    session: String,
}

impl Tmux {
    /// Starts `command` (a shell command line) in `dir` on a
    /// `width` x `height` terminal.
    pub fn start(dir: &Path, width: u16, height: u16, command: &str) -> Tmux {
        let tmux = Tmux {
            socket: unique("tmux"),
            session: unique("screen"),
        };
        let dir = dir.display().to_string();
        let (width, height) = (width.to_string(), height.to_string());
        tmux.run(&[
            "new-session",
            "-d",
            "-s",
            &tmux.session,
            "-x",
            &width,
            "-y",
            &height,
            "-c",
            &dir,
            command,
        ]);
        // Keep the pane after the command exits, to read how it ended.
        tmux.run(&["set-option", "-t", &tmux.session, "remain-on-exit", "on"]);
        tmux
    }

    fn command(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run tmux (scripts/setup.sh installs it): {e}"))
    }

    fn run(&self, args: &[&str]) -> String {
        let output = self.command(args);
        assert!(
            output.status.success(),
            "tmux {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// The visible screen, as text.
    pub fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", &self.session])
    }

    /// Presses keys by tmux name (`Enter`, `Escape`, `q`...).
    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", self.session.as_str()];
        args.extend_from_slice(keys);
        self.run(&args);
    }

    /// Types text literally.
    pub fn type_text(&self, text: &str) {
        self.run(&["send-keys", "-t", &self.session, "-l", text]);
    }

    /// Waits until the screen satisfies `done`; panics with the screen and
    /// `what` after `timeout`.
    pub fn wait_for(&self, what: &str, timeout: Duration, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let screen = self.screen();
            if done(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "waited {timeout:?} for {what}; the screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Whether the command has exited.
    pub fn exited(&self) -> bool {
        let dead = self.run(&["display-message", "-p", "-t", &self.session, "#{pane_dead}"]);
        dead.trim() == "1"
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.command(&["kill-server"]);
    }
}
