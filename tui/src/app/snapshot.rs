//! Snapshot files: the view as plain text, written so that nothing is ever
//! overwritten (O_EXCL, with -1, -2... suffixes when a name is taken), no
//! symlink is ever followed (O_NOFOLLOW), and only the owner can read the
//! file (mode 0600): snapshots can name hosts, processes and stacks.

use std::{
    fs::{File, OpenOptions},
    io::{self, Write as _},
    os::unix::fs::OpenOptionsExt as _,
    path::{Path, PathBuf},
};

/// Names tried after the first one is taken: `-1` to `-999`.
const SUFFIXES: usize = 999;

/// A snapshot that could not be written: the path and the cause.
#[derive(Debug, thiserror::Error)]
#[error("cannot write the snapshot {}: {cause}{}", path.display(), hint(cause))]
pub struct SnapshotError {
    pub path: PathBuf,
    /// Named so that the message carries it once, not again as a source.
    pub cause: io::Error,
}

fn hint(error: &io::Error) -> &'static str {
    match error.kind() {
        io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => {
            " (choose a writable directory with --snapshot-dir)"
        }
        io::ErrorKind::NotFound => " (the directory does not exist)",
        io::ErrorKind::NotADirectory => " (its directory is not a directory)",
        io::ErrorKind::AlreadyExists => " (tcpscope never overwrites a file)",
        _ if error.raw_os_error() == Some(libc::ELOOP) => {
            " (it is a symbolic link, which tcpscope never follows)"
        }
        _ => "",
    }
}

/// Writes `text` to `dir/stem.txt`, or `dir/stem-N.txt` when that is
/// taken, and returns the path written.
pub fn write_new(dir: &Path, stem: &str, text: &str) -> Result<PathBuf, SnapshotError> {
    let first = dir.join(format!("{stem}.txt"));
    for suffix in 0..=SUFFIXES {
        let path = match suffix {
            0 => first.clone(),
            n => dir.join(format!("{stem}-{n}.txt")),
        };
        match write_exact(&path, text) {
            Err(error) if error.cause.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(error) => return Err(error),
            Ok(()) => return Ok(path),
        }
    }
    Err(SnapshotError {
        path: first,
        cause: io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{stem}.txt and {stem}-1.txt to {stem}-{SUFFIXES}.txt all exist"),
        ),
    })
}

/// Writes `text` to `path`, which must not exist yet. A write that fails
/// half-way removes the file, so a retry finds the name free.
pub fn write_exact(path: &Path, text: &str) -> Result<(), SnapshotError> {
    let error = |cause| SnapshotError {
        path: path.to_path_buf(),
        cause,
    };
    let mut file = create(path).map_err(error)?;
    let written = file
        .write_all(text.as_bytes())
        .and_then(|()| file.sync_all());
    if written.is_err() {
        let _ = std::fs::remove_file(path);
    }
    written.map_err(error)
}

/// Checks, before a run starts, that a snapshot can be written to `path`
/// when it ends: the name is free and its directory exists and is
/// writable. A run that would fail only after its whole `--duration` fails
/// at once instead.
pub fn check_target(path: &Path) -> Result<(), SnapshotError> {
    let error = |cause| SnapshotError {
        path: path.to_path_buf(),
        cause,
    };
    if path.symlink_metadata().is_ok() {
        return Err(error(io::Error::from(io::ErrorKind::AlreadyExists)));
    }
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let metadata = std::fs::metadata(dir).map_err(error)?;
    if !metadata.is_dir() {
        return Err(error(io::Error::from(io::ErrorKind::NotADirectory)));
    }
    let c_dir = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes())
        .map_err(|_| error(io::Error::from(io::ErrorKind::InvalidInput)))?;
    // SAFETY: access() reads the NUL-terminated path and nothing else.
    if unsafe { libc::access(c_dir.as_ptr(), libc::W_OK | libc::X_OK) } != 0 {
        return Err(error(io::Error::last_os_error()));
    }
    Ok(())
}

fn create(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{PermissionsExt as _, symlink};

    /// A fresh directory under the system temp dir, removed on drop.
    struct Dir(PathBuf);

    impl Dir {
        fn new(name: &str) -> Self {
            let path = std::env::temp_dir()
                .join(format!("tcpscope-snapshot-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&path);
            std::fs::create_dir_all(&path).expect("create a temp dir");
            Self(path)
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn a_target_is_checked_before_the_run() {
        let dir = Dir::new("target");
        assert!(check_target(&dir.0.join("new.txt")).is_ok());
        let missing = check_target(&dir.0.join("missing/new.txt")).expect_err("no such dir");
        assert_eq!(missing.cause.kind(), io::ErrorKind::NotFound);
        assert!(
            missing.to_string().contains("the directory does not exist"),
            "{missing}"
        );
        std::fs::write(dir.0.join("taken.txt"), "x").expect("write");
        let taken = check_target(&dir.0.join("taken.txt")).expect_err("taken");
        assert!(taken.to_string().contains("never overwrites"), "{taken}");
        let file_as_dir = check_target(&dir.0.join("taken.txt/new.txt")).expect_err("not a dir");
        assert!(
            file_as_dir.to_string().contains("not a directory"),
            "{file_as_dir}"
        );
    }

    #[test]
    fn taken_names_get_a_suffix_and_files_are_private() {
        let dir = Dir::new("suffix");
        let first = write_new(&dir.0, "tcpscope-x", "one").expect("first write");
        let second = write_new(&dir.0, "tcpscope-x", "two").expect("second write");
        assert_eq!(first, dir.0.join("tcpscope-x.txt"));
        assert_eq!(second, dir.0.join("tcpscope-x-1.txt"));
        assert_eq!(std::fs::read_to_string(&first).expect("read"), "one");
        let mode = std::fs::metadata(&second)
            .expect("stat")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_symlink_is_never_followed_nor_replaced() {
        let dir = Dir::new("symlink");
        let target = dir.0.join("target");
        std::fs::write(&target, "keep").expect("write the target");
        symlink(&target, dir.0.join("tcpscope-y.txt")).expect("symlink");
        let written = write_new(&dir.0, "tcpscope-y", "new").expect("write beside the link");
        assert_eq!(written, dir.0.join("tcpscope-y-1.txt"));
        assert_eq!(std::fs::read_to_string(&target).expect("read"), "keep");
        let error = write_exact(&dir.0.join("tcpscope-y.txt"), "x").expect_err("a link");
        assert!(error.to_string().contains("tcpscope-y.txt"), "{error}");
    }

    #[test]
    fn an_error_names_the_path_and_the_cause() {
        let error = write_new(Path::new("/nonexistent-tcpscope-dir"), "s", "x")
            .expect_err("no such directory");
        let text = error.to_string();
        assert!(
            text.contains("/nonexistent-tcpscope-dir/s.txt") && text.contains("does not exist"),
            "{text}"
        );
    }
}
