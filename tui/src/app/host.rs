//! Facts about this machine for the header: host name and kernel release
//! (uname), and the local time zone's offset for times of day.

/// Host name and kernel release; `?` for what uname could not tell.
pub fn uname() -> (String, String) {
    // SAFETY: utsname is plain arrays of C chars; all zeroes is valid, and
    // uname fills NUL-terminated strings into it.
    let mut names: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `names` is a valid, writable utsname.
    if unsafe { libc::uname(&mut names) } != 0 {
        return ("?".to_string(), "?".to_string());
    }
    let text = |field: &[libc::c_char]| {
        let bytes: Vec<u8> = field
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8)
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    (text(&names.nodename), text(&names.release))
}

/// Seconds east of UTC of the local time zone now (0 when unknown).
pub fn utc_offset() -> i64 {
    // SAFETY: time(NULL) has no preconditions.
    let now = unsafe { libc::time(std::ptr::null_mut()) };
    // SAFETY: tm is plain integers (and a pointer localtime_r sets); all
    // zeroes is valid.
    let mut local: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the call.
    if unsafe { libc::localtime_r(&now, &mut local) }.is_null() {
        return 0;
    }
    local.tm_gmtoff
}

#[cfg(test)]
mod tests {
    #[test]
    fn uname_names_this_kernel() {
        let (host, kernel) = super::uname();
        assert!(!host.is_empty() && host != "?");
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        assert_eq!(kernel, release.trim());
    }
}
