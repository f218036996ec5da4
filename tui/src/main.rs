mod source;
fn main() -> anyhow::Result<()> {
    let btf = btf_rs::Btf::from_file("/sys/kernel/btf/vmlinux")?;
    let resolved = source::live::offsets::resolve(&btf)?;
    println!("{:?}\nmissing {:?}", resolved.offsets, resolved.missing);
    let probes = source::live::probes::Probes::load(&resolved.offsets)?;
    for s in &probes.status { println!("{s}"); }
    Ok(())
}
