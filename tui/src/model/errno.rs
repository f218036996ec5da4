//! Names of the errno values a socket can end with.

/// Errno values the model reasons about.
pub const EPIPE: i32 = 32;
pub const ECONNRESET: i32 = 104;
pub const ETIMEDOUT: i32 = 110;
pub const ECONNREFUSED: i32 = 111;

/// How `errno` is shown: its errno.h name, `errno N` for one this table
/// lacks, None for 0 (no error).
pub fn label(errno: i32) -> Option<String> {
    match errno {
        0 => None,
        known if name(known).is_some() => name(known).map(str::to_owned),
        other => Some(format!("errno {other}")),
    }
}

/// The errno.h name of `errno`, when this table knows it.
pub fn name(errno: i32) -> Option<&'static str> {
    Some(match errno {
        0 => return None,
        1 => "EPERM",
        11 => "EAGAIN",
        12 => "ENOMEM",
        13 => "EACCES",
        EPIPE => "EPIPE",
        71 => "EPROTO",
        90 => "EMSGSIZE",
        97 => "EAFNOSUPPORT",
        98 => "EADDRINUSE",
        99 => "EADDRNOTAVAIL",
        100 => "ENETDOWN",
        101 => "ENETUNREACH",
        103 => "ECONNABORTED",
        ECONNRESET => "ECONNRESET",
        105 => "ENOBUFS",
        107 => "ENOTCONN",
        ETIMEDOUT => "ETIMEDOUT",
        ECONNREFUSED => "ECONNREFUSED",
        112 => "EHOSTDOWN",
        113 => "EHOSTUNREACH",
        _ => return None,
    })
}

/// Parses a [`label`] back to its number.
pub fn from_label(label: &str) -> Option<i32> {
    if let Some(number) = label.strip_prefix("errno ") {
        return number.parse().ok();
    }
    (1..=133).find(|&errno| name(errno) == Some(label))
}
