//! Root integration test of the capabilities the README names: tcpscope run
//! as an unprivileged user holding exactly that set surveys every namespace
//! and names the owner of a root process's socket; without one of the
//! survey's capabilities it still runs and says which one it lacks and
//! what that costs.

mod support;

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use support::netns::{Lab, require_tool};
use support::scenario::skipped;
use support::tcpscope::binary;

const PORT_CAPS: u16 = 23961;
/// The set the README gives to `setcap`.
const README_SET: [&str; 6] = [
    "bpf",
    "perfmon",
    "syslog",
    "sys_admin",
    "sys_ptrace",
    "dac_read_search",
];

/// A copy of the binary an unprivileged user may run, removed on drop.
struct SharedBinary {
    dir: PathBuf,
    path: PathBuf,
}

impl SharedBinary {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("tcpscope-test-{}-caps", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the directory");
        let path = dir.join("tcpscope");
        std::fs::copy(binary(), &path).expect("copy the binary");
        for (at, mode) in [(&dir, 0o755), (&path, 0o755)] {
            std::fs::set_permissions(at, std::fs::Permissions::from_mode(mode))
                .expect("make it runnable by anyone");
        }
        Self { dir, path }
    }

    /// Runs it as `nobody` with exactly the capabilities `caps`.
    fn run_with(&self, caps: &[&str]) -> Output {
        let set = format!(
            "-all,{}",
            caps.iter()
                .map(|cap| format!("+{cap}"))
                .collect::<Vec<_>>()
                .join(",")
        );
        Command::new(require_tool("setpriv"))
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(format!("--inh-caps={set}"))
            .arg(format!("--ambient-caps={set}"))
            .arg(&self.path)
            .args([
                "--json",
                "--duration",
                "3s",
                "--port",
                &PORT_CAPS.to_string(),
            ])
            .stdin(Stdio::null())
            .output()
            .expect("run tcpscope under setpriv")
    }
}

impl Drop for SharedBinary {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn the_readme_capability_set_surveys_and_a_missing_one_is_named() {
    let test = "the_readme_capability_set_surveys_and_a_missing_one_is_named";
    if skipped(test) {
        return;
    }
    // A namespace of the test's own, which the survey must enter, and a
    // socket of this (root) process in tcpscope's namespace.
    let _lab = Lab::new("caps");
    let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, PORT_CAPS)))
        .expect("listen on loopback");
    let shared = SharedBinary::new();

    let full = shared.run_with(&README_SET);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&full.stdout),
        String::from_utf8_lossy(&full.stderr),
    );
    assert!(full.status.success(), "{stderr}");
    assert!(
        !stderr.contains("cannot survey") && !stderr.contains("without CAP_"),
        "the README's set lacks nothing: {stderr}"
    );
    let me = format!("\"owner_pid\":{}", std::process::id());
    assert!(
        stdout
            .lines()
            .any(|line| line.contains("\"kind\":\"flow\"") && line.contains(&me)),
        "the root listener's owner is named; stdout:\n{stdout}\nstderr:\n{stderr}"
    );

    let without_admin: Vec<&str> = README_SET
        .into_iter()
        .filter(|&cap| cap != "sys_admin")
        .collect();
    let partial = shared.run_with(&without_admin);
    let stderr = String::from_utf8_lossy(&partial.stderr);
    assert!(partial.status.success(), "it still runs: {stderr}");
    assert!(
        stderr.contains("without CAP_SYS_ADMIN, the survey cannot enter other network namespaces"),
        "the missing capability is named with what it costs: {stderr}"
    );
    drop(listener);
}
