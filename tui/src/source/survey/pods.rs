//! Names the Kubernetes pod of a container from what its runtime keeps on
//! the node, without the Kubernetes API: the container id is in the
//! process's cgroup path (`cri-containerd-<id>.scope`, `crio-<id>.scope`,
//! or a bare `<id>` directory), and the runtime's bundle for that id has a
//! `config.json` whose annotations name the pod's namespace and name and
//! the container:
//! - containerd: `run/containerd/io.containerd.runtime.v2.task/<ns>/<id>/config.json`,
//!   annotations `io.kubernetes.cri.sandbox-namespace`, `…sandbox-name`,
//!   `…container-name`;
//! - CRI-O: `run/containers/storage/overlay-containers/<id>/userdata/config.json`,
//!   annotations `io.kubernetes.pod.namespace`, `io.kubernetes.pod.name`,
//!   `io.kubernetes.container.name`.
//!
//! Paths are under a root (`/` on a node, the mount of the host's /run
//! elsewhere). A bundle is read at most [`MOST_BUNDLE_BYTES`], and each id's
//! answer is kept (at most [`MOST_REMEMBERED`] ids), so a survey reads a
//! bundle once per container.

use std::{
    collections::HashMap,
    fs::{self, File},
    io::Read as _,
    path::{Path, PathBuf},
    sync::Arc,
};

use serde::Deserialize;

use crate::model::socket::Pod;

pub const MOST_BUNDLE_BYTES: u64 = 4 << 20;
pub const MOST_REMEMBERED: usize = 4096;

const CONTAINERD_TASKS: &str = "run/containerd/io.containerd.runtime.v2.task";
const CRIO_CONTAINERS: &str = "run/containers/storage/overlay-containers";

/// The annotation keys of each runtime: namespace, pod, container.
const KEYS: [[&str; 3]; 2] = [
    [
        "io.kubernetes.cri.sandbox-namespace",
        "io.kubernetes.cri.sandbox-name",
        "io.kubernetes.cri.container-name",
    ],
    [
        "io.kubernetes.pod.namespace",
        "io.kubernetes.pod.name",
        "io.kubernetes.container.name",
    ],
];

#[derive(Debug)]
pub struct Pods {
    root: PathBuf,
    known: HashMap<String, Option<Arc<Pod>>>,
}

impl Default for Pods {
    fn default() -> Self {
        Self::new(PathBuf::from("/"))
    }
}

impl Pods {
    pub fn new(root: PathBuf) -> Self {
        Self {
            root,
            known: HashMap::new(),
        }
    }

    /// The pod of the process whose /proc/<pid>/cgroup is `cgroup_file`.
    pub fn of_cgroup(&mut self, cgroup_file: &str) -> Option<Arc<Pod>> {
        let id = container_id(cgroup_file)?;
        if let Some(known) = self.known.get(id) {
            return known.clone();
        }
        let pod = self.bundle(id).map(Arc::new);
        if self.known.len() >= MOST_REMEMBERED {
            self.known.clear();
        }
        self.known.insert(id.to_string(), pod.clone());
        pod
    }

    /// The pod a runtime's bundle for container `id` names.
    fn bundle(&self, id: &str) -> Option<Pod> {
        let crio = self
            .root
            .join(CRIO_CONTAINERS)
            .join(id)
            .join("userdata/config.json");
        let containerd = fs::read_dir(self.root.join(CONTAINERD_TASKS))
            .into_iter()
            .flatten()
            .flatten()
            .map(|namespace| namespace.path().join(id).join("config.json"));
        std::iter::once(crio)
            .chain(containerd)
            .find_map(|config| pod_of_config(&config))
    }
}

/// The 64-hex container id in a cgroup file's paths, the unified line's
/// first.
pub fn container_id(cgroup_file: &str) -> Option<&str> {
    let mut paths: Vec<&str> = cgroup_file
        .lines()
        .filter_map(|line| line.splitn(3, ':').nth(2))
        .collect();
    paths.sort_by_key(|path| !cgroup_file.contains(&format!("0::{path}")));
    paths.into_iter().find_map(|path| {
        path.rsplit('/').find_map(|component| {
            let name = component.strip_suffix(".scope").unwrap_or(component);
            let id = ["cri-containerd-", "crio-", "docker-", "libpod-"]
                .iter()
                .find_map(|prefix| name.strip_prefix(prefix))
                .unwrap_or(name);
            (id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit())).then_some(id)
        })
    })
}

#[derive(Deserialize)]
struct Config {
    #[serde(default)]
    annotations: HashMap<String, String>,
}

/// The pod a bundle's `config.json` names; None when it is missing, too
/// large, not JSON, or names no pod.
fn pod_of_config(path: &Path) -> Option<Pod> {
    let mut text = String::new();
    File::open(path)
        .ok()?
        .take(MOST_BUNDLE_BYTES)
        .read_to_string(&mut text)
        .ok()?;
    let config: Config = serde_json::from_str(&text).ok()?;
    pod_of_annotations(&config.annotations)
}

pub fn pod_of_annotations(annotations: &HashMap<String, String>) -> Option<Pod> {
    KEYS.iter().find_map(|[namespace, name, container]| {
        let value = |key: &str| {
            annotations
                .get(key)
                .filter(|value| !value.is_empty())
                .map(|value| Arc::<str>::from(value.as_str()))
        };
        Some(Pod {
            namespace: value(namespace)?,
            name: value(name)?,
            // A pod's sandbox (pause) container has no container name.
            container: value(container).unwrap_or_else(|| Arc::from("")),
        })
    })
}

#[cfg(test)]
#[path = "pods_tests.rs"]
mod tests;
