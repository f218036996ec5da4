//! Root integration test of pod names: two processes, each moved into a
//! cgroup named as a container runtime names its containers' (containerd's
//! `cri-containerd-<id>.scope`, CRI-O's `crio-<id>.scope`), with a runtime
//! bundle for each id laid out as that runtime lays it out under a root of
//! the test's own (`--runtime-root`). Each process's flow carries its pod's
//! namespace, name and container in the JSON lines, in the metrics' labels
//! once its flow is reset, and on the screen, where `pod:` narrows to one.

mod support;

use std::fs;
use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use support::netns::{Lab, Namespace};
use support::prometheus::get;
use support::scenario::{listen_in, reset_on_close, skipped};
use support::tcpscope::{Tcpscope, binary, dump};

const PORT: u16 = 23771;
const METRICS: &str = "127.0.0.1:23778";
const CONTAINERD_ID: &str = "4f1c2a9d8e7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d";
const CRIO_ID: &str = "9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a0f9e8d";

/// The cgroup v2 hierarchy's mount point, if one is mounted.
fn cgroup2() -> Option<PathBuf> {
    let mounts = fs::read_to_string("/proc/mounts").ok()?;
    mounts.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        (fields.get(2) == Some(&"cgroup2")).then(|| PathBuf::from(fields[1]))
    })
}

/// What the test made outside its namespaces: the cgroups, the runtime
/// root and the client processes; all gone on drop, even on failure.
struct Made {
    cgroups: Vec<PathBuf>,
    root: PathBuf,
    clients: Vec<Child>,
}

impl Drop for Made {
    fn drop(&mut self) {
        for client in &mut self.clients {
            let _ = client.kill();
            let _ = client.wait();
        }
        // Deepest first: a cgroup goes once it holds no process.
        for cgroup in self.cgroups.iter().rev() {
            let _ = fs::remove_dir(cgroup);
        }
        let _ = fs::remove_dir_all(&self.root);
    }
}

/// A client process in `namespace` that connects to `server` when told
/// (a line on its stdin), says so, then waits for the peer.
fn client(
    namespace: &Namespace,
    server: SocketAddr,
) -> (Child, ChildStdin, BufReader<ChildStdout>) {
    let script = format!(
        "import socket, sys\n\
         sys.stdin.readline()\n\
         s = socket.create_connection(('{}', {}))\n\
         print(s.getsockname()[1], flush=True)\n\
         try:\n    s.recv(1)\nexcept OSError:\n    pass\n",
        server.ip(),
        server.port()
    );
    let mut child = Command::new("ip")
        .args(["netns", "exec", &namespace.name, "python3", "-c", &script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 in the client namespace");
    let stdin = child.stdin.take().expect("piped");
    let stdout = BufReader::new(child.stdout.take().expect("piped"));
    (child, stdin, stdout)
}

fn bundle(root: &Path, relative: &str, annotations: &str) {
    let path = root.join(relative);
    fs::create_dir_all(path.parent().expect("a parent")).expect("the bundle's directory");
    fs::write(
        path,
        format!(r#"{{"ociVersion":"1.1.0","annotations":{{{annotations}}}}}"#),
    )
    .expect("config.json");
}

fn pod_of(line: &Value) -> (String, String, String) {
    let text = |key: &str| line[key].as_str().unwrap_or_default().to_string();
    (text("pod_namespace"), text("pod"), text("container"))
}

#[test]
fn a_containers_flow_names_its_pod_in_json_metrics_and_on_screen() {
    let test = "a_containers_flow_names_its_pod_in_json_metrics_and_on_screen";
    if skipped(test) {
        return;
    }
    let Some(hierarchy) = cgroup2() else {
        eprintln!("skipped: {test}: no cgroup v2 hierarchy is mounted (/proc/mounts)");
        return;
    };
    let lab = Lab::new("pods");
    let pid = std::process::id();
    let parent = hierarchy.join(format!("tcpscope-pods-{pid}.slice"));
    let containerd = parent.join(format!("cri-containerd-{CONTAINERD_ID}.scope"));
    let crio = parent.join(format!("crio-{CRIO_ID}.scope"));
    let mut made = Made {
        cgroups: vec![parent.clone(), containerd.clone(), crio.clone()],
        root: std::env::temp_dir().join(format!("tcpscope-pods-root-{pid}")),
        clients: Vec::new(),
    };
    for cgroup in &made.cgroups {
        fs::create_dir_all(cgroup).unwrap_or_else(|e| panic!("{}: {e}", cgroup.display()));
    }
    bundle(
        &made.root,
        &format!("run/containerd/io.containerd.runtime.v2.task/k8s.io/{CONTAINERD_ID}/config.json"),
        r#""io.kubernetes.cri.container-type":"container","io.kubernetes.cri.sandbox-namespace":"payments","io.kubernetes.cri.sandbox-name":"checkout-7f9c","io.kubernetes.cri.container-name":"api""#,
    );
    bundle(
        &made.root,
        &format!("run/containers/storage/overlay-containers/{CRIO_ID}/userdata/config.json"),
        r#""io.kubernetes.pod.namespace":"shop","io.kubernetes.pod.name":"cart-5d6b","io.kubernetes.container.name":"web""#,
    );
    let server = SocketAddr::new(lab.server_addr(false), PORT);
    let listener: TcpListener = listen_in(&lab.server, server);
    let root = made.root.display().to_string();
    let scope = Tcpscope::start_with(
        &["--sockinfo", "--runtime-root", &root, "--metrics", METRICS],
        &[PORT],
    );

    // Each client joins its container's cgroup before it connects.
    let mut ports = Vec::new();
    let mut accepted = Vec::new();
    for cgroup in [&containerd, &crio] {
        let (child, mut stdin, mut stdout) = client(&lab.client, server);
        fs::write(cgroup.join("cgroup.procs"), child.id().to_string()).expect("join the cgroup");
        made.clients.push(child);
        writeln!(stdin, "connect").expect("tell the client");
        let mut port = String::new();
        stdout.read_line(&mut port).expect("the client's port");
        ports.push(port.trim().parse::<u16>().expect("a port"));
        accepted.push(listener.accept().expect("accept").0);
    }
    let expected = [
        ("payments", "checkout-7f9c", "api"),
        ("shop", "cart-5d6b", "web"),
    ];
    for (port, (namespace, pod, container)) in ports.iter().zip(expected) {
        let line = scope
            .wait_for(Duration::from_secs(15), |v| {
                v["kind"] == "sockinfo" && v["sport"] == *port && v["pod"].is_string()
            })
            .unwrap_or_else(|| {
                panic!(
                    "no sockinfo line with a pod for port {port}:\n{}",
                    dump(&scope.lines())
                )
            });
        let want = (
            namespace.to_string(),
            pod.to_string(),
            container.to_string(),
        );
        assert_eq!(pod_of(&line), want, "{line}");
        assert!(
            line["unit"].as_str().is_some_and(|unit| unit.contains(':')),
            "{line}"
        );
    }

    // On screen: `pod:` keeps the containerd pod's flow, with its pod line.
    let snapshot = made.root.join("screen.txt");
    let screen = Command::new(binary())
        .args([
            "--runtime-root",
            &root,
            "--duration",
            "4s",
            "--port",
            &PORT.to_string(),
        ])
        .args(["--filter", "pod:payments/checkout"])
        .args(["--snapshot", &snapshot.display().to_string()])
        .output()
        .expect("tcpscope --snapshot");
    assert!(
        screen.status.success(),
        "{}",
        String::from_utf8_lossy(&screen.stderr)
    );
    let text = fs::read_to_string(&snapshot).expect("the snapshot");
    assert!(
        text.contains("pod checkout-7f9c  namespace payments  container api"),
        "{text}"
    );
    assert!(
        !text.contains(&format!(":{} ", ports[1])),
        "the CRI-O pod's flow is filtered out:\n{text}"
    );

    // Reset both flows now that their pods are known: the resets carry them.
    for stream in accepted {
        reset_on_close(&stream);
    }
    for client in &mut made.clients {
        let _ = client.wait();
    }
    std::thread::sleep(Duration::from_secs(2));
    let metrics = get(METRICS.parse().expect("addr"), "/metrics", None).expect("a scrape");
    for pod in ["payments/checkout-7f9c", "shop/cart-5d6b"] {
        let series = metrics
            .body
            .lines()
            .find(|line| {
                line.starts_with("tcpscope_resets_total{")
                    && line.contains(r#"direction="received""#)
                    && line.contains(&format!(r#"pod="{pod}""#))
            })
            .unwrap_or_else(|| panic!("no reset series of {pod}:\n{}", metrics.body));
        assert!(series.ends_with(" 1"), "{series}");
    }
    let run = scope.finish();
    assert!(run.status.success(), "{}: {}", run.status, run.stderr);
}
