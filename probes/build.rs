//! Rebuild the probes when bpf-linker changes: cargo cannot see that the
//! linker is an input of the build.
fn main() {
    if let Ok(linker) = which::which("bpf-linker") {
        println!("cargo:rerun-if-changed={}", linker.display());
    }
}
