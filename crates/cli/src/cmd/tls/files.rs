//! Writing what `praetor tls` creates: new files only (never an overwrite,
//! even of a file that appears while we run), keys readable by their owner
//! only, and the next free `<prefix>-<n>.pem` name as Consul numbers them.

use std::fs::OpenOptions;
use std::io::{ErrorKind, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::cmd::Failed;

/// A certificate's mode (before the umask), as Consul's 0666.
pub const CERT_MODE: u32 = 0o644;
/// A private key's mode: its owner only, as Consul's 0600.
pub const KEY_MODE: u32 = 0o600;

/// The highest number Consul tries before giving up on a free name.
const MAX_NUMBER: u32 = 10_000;

/// Creates `path` with `contents` and `mode`, refusing if it exists
/// (`<path> already exists.`, Consul's message). A file left half written
/// by a failed write is removed.
///
/// # Errors
/// The file exists, or cannot be created or written.
pub fn write_new(path: &Path, contents: &[u8], mode: u32) -> anyhow::Result<()> {
    let mut file = match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            return Err(Failed(format!("{} already exists.", path.display())).into());
        }
        Err(e) => return Err(e).with_context(|| format!("creating {}", path.display())),
    };
    if let Err(e) = file.write_all(contents).and_then(|()| file.sync_all()) {
        drop(file);
        let _ = std::fs::remove_file(path);
        return Err(e).with_context(|| format!("writing {}", path.display()));
    }
    Ok(())
}

/// Refuses when `path` exists (`<path> already exists.`).
///
/// # Errors
/// The file exists.
pub fn refuse_existing(path: &Path) -> anyhow::Result<()> {
    if exists(path) {
        return Err(Failed(format!("{} already exists.", path.display())).into());
    }
    Ok(())
}

/// The first `n` from 0 for which neither `<prefix>-<n>.pem` nor
/// `<prefix>-<n>-key.pem` exists in `dir`: the certificate's and the key's
/// paths, as Consul's `tls cert create` picks them.
///
/// # Errors
/// Every number up to 10000 is taken (Consul's limit and message).
pub fn next_free(dir: &Path, prefix: &str) -> anyhow::Result<(PathBuf, PathBuf)> {
    for n in 0..=MAX_NUMBER {
        let cert = dir.join(format!("{prefix}-{n}.pem"));
        let key = dir.join(format!("{prefix}-{n}-key.pem"));
        if !exists(&cert) && !exists(&key) {
            return Ok((cert, key));
        }
    }
    Err(Failed("Could not find a filename that doesn't already exist".to_owned()).into())
}

/// Whether anything (even a dangling link) is at `path`.
fn exists(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    #[test]
    fn next_free_skips_numbers_whose_certificate_or_key_exists() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path();
        let (cert, key) = next_free(dir, "dc1-server-consul").expect("free");
        assert_eq!(cert, dir.join("dc1-server-consul-0.pem"));
        assert_eq!(key, dir.join("dc1-server-consul-0-key.pem"));
        std::fs::write(&cert, "x").expect("write");
        // Only the key of 1 exists: 1 is taken too.
        std::fs::write(dir.join("dc1-server-consul-1-key.pem"), "x").expect("write");
        let (cert, key) = next_free(dir, "dc1-server-consul").expect("free");
        assert_eq!(cert, dir.join("dc1-server-consul-2.pem"));
        assert_eq!(key, dir.join("dc1-server-consul-2-key.pem"));
    }

    #[test]
    fn write_new_never_overwrites_and_sets_the_mode() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path();
        let path = dir.join("k.pem");
        write_new(&path, b"first", KEY_MODE).expect("written");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let err = write_new(&path, b"second", KEY_MODE).expect_err("refused");
        assert_eq!(
            err.to_string(),
            format!("{} already exists.", path.display())
        );
        assert_eq!(std::fs::read(&path).expect("read"), b"first");
    }
}
