//! Names a process's container or systemd unit from its cgroup path
//! (/proc/<pid>/cgroup), the way an engineer would say it.

/// Container runtimes' scope prefixes, as systemd names their scopes.
const RUNTIMES: [(&str, &str); 4] = [
    ("docker-", "docker"),
    ("cri-containerd-", "containerd"),
    ("crio-", "cri-o"),
    ("libpod-", "podman"),
];

/// The unit of the cgroup v2 line (`0::/path`), or of the first line naming
/// one: `docker:0123456789ab` for a container, `nginx.service` for a
/// service; None for the root cgroup or a path that names neither.
pub fn unit(cgroup_file: &str) -> Option<String> {
    let mut paths: Vec<&str> = cgroup_file
        .lines()
        .filter_map(|line| line.splitn(3, ':').nth(2))
        .collect();
    // The unified hierarchy's line is the most specific: try it first.
    paths.sort_by_key(|path| !cgroup_file.contains(&format!("0::{path}")));
    paths.into_iter().find_map(unit_of_path)
}

fn unit_of_path(path: &str) -> Option<String> {
    let components: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
    components.iter().rev().find_map(|component| {
        container(component).or_else(|| {
            (component.ends_with(".service") || component.ends_with(".scope"))
                .then(|| (*component).to_string())
        })
    })
}

/// `runtime:id12` for a container scope or a bare container id directory.
fn container(component: &str) -> Option<String> {
    let name = component.strip_suffix(".scope").unwrap_or(component);
    let (runtime, id) = RUNTIMES
        .iter()
        .find_map(|(prefix, runtime)| Some((*runtime, name.strip_prefix(prefix)?)))
        .unwrap_or(("container", name));
    let is_id = id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit());
    is_id.then(|| format!("{runtime}:{}", &id[..12]))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "4f1c2a9d8e7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d";

    #[test]
    fn names_services_and_sessions() {
        assert_eq!(
            unit("0::/system.slice/nginx.service\n").as_deref(),
            Some("nginx.service")
        );
        assert_eq!(
            unit("0::/user.slice/user-0.slice/session-3.scope\n").as_deref(),
            Some("session-3.scope")
        );
    }

    #[test]
    fn names_containers_by_runtime_and_short_id() {
        let docker = format!("0::/system.slice/docker-{ID}.scope\n");
        assert_eq!(unit(&docker).as_deref(), Some("docker:4f1c2a9d8e7b"));
        let kube = format!(
            "0::/kubepods.slice/kubepods-burstable.slice/kubepods-pod1.slice/cri-containerd-{ID}.scope\n"
        );
        assert_eq!(unit(&kube).as_deref(), Some("containerd:4f1c2a9d8e7b"));
        let bare = format!("0::/docker/{ID}\n");
        assert_eq!(unit(&bare).as_deref(), Some("container:4f1c2a9d8e7b"));
    }

    #[test]
    fn prefers_the_unified_line_and_knows_when_nothing_is_named() {
        let mixed = "12:cpu:/other.service\n0::/system.slice/sshd.service\n";
        assert_eq!(unit(mixed).as_deref(), Some("sshd.service"));
        assert_eq!(unit("0::/\n"), None);
        assert_eq!(unit("garbage"), None);
        assert_eq!(unit("0::/init.scope\n").as_deref(), Some("init.scope"));
    }
}
