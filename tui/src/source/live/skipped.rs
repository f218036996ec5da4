//! Runs of the probes the kernel skipped. A tracing program that is already
//! running on a CPU is not run again there for a nested event (an interrupt
//! that hits the same tracepoint): the kernel only counts the miss in the
//! program's `recursion_misses` (Linux 5.12 and later). Those events never
//! reached the ring buffer, so they are lost like the records it dropped.

use std::{
    io,
    mem::{self, MaybeUninit},
    os::fd::{AsFd as _, AsRawFd as _, BorrowedFd},
};

use aya::Ebpf;
use aya_obj::generated::{bpf_cmd::BPF_OBJ_GET_INFO_BY_FD, bpf_prog_info};

/// The `info` member of `union bpf_attr`, as the UAPI lays it out.
#[repr(C)]
struct InfoByFd {
    bpf_fd: u32,
    info_len: u32,
    info: u64,
}

/// The kernel's information about one loaded program.
fn program_info(fd: BorrowedFd<'_>) -> io::Result<bpf_prog_info> {
    let mut info = MaybeUninit::<bpf_prog_info>::zeroed();
    let mut attr = InfoByFd {
        bpf_fd: u32::try_from(fd.as_raw_fd()).map_err(|_| io::ErrorKind::InvalidInput)?,
        info_len: mem::size_of::<bpf_prog_info>() as u32,
        info: info.as_mut_ptr() as u64,
    };
    // SAFETY: `attr` is the UAPI `info` member of bpf_attr and lives for the
    // call; the kernel writes at most `info_len` bytes to `info`, which points
    // at a zeroed bpf_prog_info of that size.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_OBJ_GET_INFO_BY_FD as libc::c_long,
            &raw mut attr,
            mem::size_of::<InfoByFd>(),
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: bpf_prog_info is plain integers: zeroed, then partly filled
    // by the kernel, it is a valid value.
    Ok(unsafe { info.assume_init() })
}

/// Runs the kernel skipped, summed over every loaded program; 0 where the
/// kernel does not count them.
pub fn skipped_runs(ebpf: &Ebpf) -> u64 {
    ebpf.programs()
        .filter_map(|(_, program)| program.fd().ok())
        .filter_map(|fd| program_info(fd.as_fd()).ok())
        .map(|info| info.recursion_misses)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_descriptor_that_is_no_program_is_an_error_not_a_count() {
        let file = std::fs::File::open("/proc/self/status").expect("open a file");
        assert!(program_info(file.as_fd()).is_err());
    }
}
