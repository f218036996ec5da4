//! Bundles laid out as containerd and CRI-O lay them out, in a directory
//! of the test's own.

use super::*;

const ID: &str = "4f1c2a9d8e7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d";
const OTHER: &str = "0000000000000000000000000000000000000000000000000000000000000000";

struct Root(PathBuf);

impl Root {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("tcpscope-pods-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("a root");
        Self(dir)
    }

    fn write(&self, relative: &str, text: &str) {
        let path = self.0.join(relative);
        fs::create_dir_all(path.parent().expect("a parent")).expect("dirs");
        fs::write(path, text).expect("a config");
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn pod(namespace: &str, name: &str, container: &str) -> Option<Arc<Pod>> {
    Some(Arc::new(Pod {
        namespace: Arc::from(namespace),
        name: Arc::from(name),
        container: Arc::from(container),
    }))
}

#[test]
fn containerd_bundles_name_the_pod_of_a_cri_containerd_scope() {
    let root = Root::new("containerd");
    root.write(
        &format!("{CONTAINERD_TASKS}/k8s.io/{ID}/config.json"),
        r#"{"ociVersion":"1.1.0","annotations":{"io.kubernetes.cri.container-type":"container","io.kubernetes.cri.sandbox-namespace":"payments","io.kubernetes.cri.sandbox-name":"checkout-7f9c","io.kubernetes.cri.container-name":"api"}}"#,
    );
    let mut pods = Pods::new(root.0.clone());
    let cgroup = format!(
        "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice/cri-containerd-{ID}.scope\n"
    );
    assert_eq!(
        pods.of_cgroup(&cgroup),
        pod("payments", "checkout-7f9c", "api")
    );
    let elsewhere = format!("0::/kubepods.slice/cri-containerd-{OTHER}.scope\n");
    assert_eq!(pods.of_cgroup(&elsewhere), None, "no bundle for that id");
    assert_eq!(pods.of_cgroup("0::/system.slice/nginx.service\n"), None);
}

#[test]
fn crio_bundles_name_the_pod_of_a_crio_scope() {
    let root = Root::new("crio");
    root.write(
        &format!("{CRIO_CONTAINERS}/{ID}/userdata/config.json"),
        r#"{"annotations":{"io.kubernetes.pod.namespace":"payments","io.kubernetes.pod.name":"checkout-7f9c","io.kubernetes.container.name":"api"}}"#,
    );
    let mut pods = Pods::new(root.0.clone());
    let cgroup = format!("0::/kubepods.slice/kubepods-pod1.slice/crio-{ID}.scope\n");
    assert_eq!(
        pods.of_cgroup(&cgroup),
        pod("payments", "checkout-7f9c", "api")
    );
}

#[test]
fn a_corrupt_or_huge_bundle_names_no_pod_and_nothing_breaks() {
    let root = Root::new("corrupt");
    root.write(
        &format!("{CRIO_CONTAINERS}/{ID}/userdata/config.json"),
        "{not json",
    );
    let mut pods = Pods::new(root.0.clone());
    assert_eq!(pods.of_cgroup(&format!("0::/crio-{ID}.scope\n")), None);
    let huge = format!("{{\"annotations\":{{\"x\":\"{}\"}}}}", "a".repeat(5 << 20));
    root.write(
        &format!("{CRIO_CONTAINERS}/{OTHER}/userdata/config.json"),
        &huge,
    );
    assert_eq!(pods.of_cgroup(&format!("0::/crio-{OTHER}.scope\n")), None);
}

#[test]
fn container_ids_come_from_scopes_and_bare_directories() {
    assert_eq!(container_id(&format!("0::/docker/{ID}\n")), Some(ID));
    assert_eq!(
        container_id(&format!("1:name=systemd:/x/crio-{ID}.scope\n0::/\n")),
        Some(ID)
    );
    assert_eq!(container_id("0::/user.slice/session-3.scope\n"), None);
}
