//! Compiles the eBPF probes (probes/) for the BPF target with the pinned
//! nightly toolchain and leaves the object in OUT_DIR, where src/source/live
//! embeds it: the tcpscope binary carries its probes and needs nothing else
//! at run time.
use std::{fs, path::Path};

use anyhow::Context as _;
use aya_build::{Package, Toolchain};

fn main() -> anyhow::Result<()> {
    let probes = Path::new(env!("CARGO_MANIFEST_DIR")).join("../probes");
    let toolchain_file = probes.join("bpf-toolchain");
    println!("cargo:rerun-if-changed={}", toolchain_file.display());
    let toolchain = fs::read_to_string(&toolchain_file)
        .with_context(|| format!("reading {}", toolchain_file.display()))?;
    let root_dir = probes
        .to_str()
        .context("the probes directory path is not UTF-8")?;
    aya_build::build_ebpf(
        [Package {
            name: "tcpscope-probes",
            root_dir,
            ..Default::default()
        }],
        Toolchain::Custom(toolchain.trim()),
    )
}
