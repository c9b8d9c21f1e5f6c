//! Writing a rendered template to its destination, as consul-template
//! does: only when the content changed, atomically (a temporary file in the
//! same directory, synced, then renamed over the destination, so a reader
//! sees the old file or the new one, never a partial one), with the
//! permissions asked for or else those of the file it replaces (0644 for a
//! new file), the owner of the file it replaces, and optionally one backup
//! of the previous content at `<destination>.bak`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

/// The permissions of a new file when none are asked for.
pub const DEFAULT_PERMS: u32 = 0o644;

/// How a destination is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteOptions {
    /// The file's permissions; `None` keeps the replaced file's.
    pub perms: Option<u32>,
    /// Keep the previous content at `<destination>.bak`.
    pub backup: bool,
    /// Create missing parent directories.
    pub create_dirs: bool,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            perms: None,
            backup: false,
            create_dirs: true,
        }
    }
}

/// What a write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// The destination already held this content (and permissions).
    Unchanged,
    /// The destination was replaced.
    Replaced,
}

/// Why a destination could not be written; the destination is as it was.
#[derive(Debug, thiserror::Error)]
#[error("writing {path}: {source}")]
pub struct OutputError {
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

/// Writes `contents` to `dest` when they differ from what it holds.
///
/// # Errors
/// When the directory cannot be created or written, or the rename fails;
/// the destination then holds its previous content.
pub fn write_if_changed(
    dest: &Path,
    contents: &[u8],
    opts: &WriteOptions,
) -> Result<Written, OutputError> {
    let fail = |path: &Path, source: io::Error| OutputError {
        path: path.to_path_buf(),
        source,
    };
    let existing = match fs::metadata(dest) {
        Ok(m) => Some(m),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(fail(dest, e)),
    };
    let perms = opts.perms.unwrap_or_else(|| {
        existing
            .as_ref()
            .map_or(DEFAULT_PERMS, |m| m.permissions().mode() & 0o7777)
    });
    if let Some(m) = &existing {
        let same_perms = m.permissions().mode() & 0o7777 == perms;
        if same_perms && m.len() == contents.len() as u64 {
            match fs::read(dest) {
                Ok(old) if old == contents => return Ok(Written::Unchanged),
                Ok(_) => {}
                Err(e) => return Err(fail(dest, e)),
            }
        }
    }
    let dir = match dest.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if opts.create_dirs {
        fs::create_dir_all(&dir).map_err(|e| fail(&dir, e))?;
    }
    if opts.backup && existing.is_some() {
        let bak = backup_path(dest);
        let old = fs::read(dest).map_err(|e| fail(dest, e))?;
        replace(&dir, &bak, &old, perms, existing.as_ref())?;
    }
    replace(&dir, dest, contents, perms, existing.as_ref())?;
    Ok(Written::Replaced)
}

/// Where the backup of `dest` is kept.
pub fn backup_path(dest: &Path) -> PathBuf {
    let mut s = dest.as_os_str().to_owned();
    s.push(".bak");
    PathBuf::from(s)
}

/// Writes `contents` to a new temporary file in `dir`, syncs it and renames
/// it over `dest`; removes the temporary file on any failure.
fn replace(
    dir: &Path,
    dest: &Path,
    contents: &[u8],
    perms: u32,
    owner: Option<&fs::Metadata>,
) -> Result<(), OutputError> {
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut attempt = 0u32;
    let (tmp, mut file) = loop {
        let tmp = dir.join(format!(".{name}.{}.{attempt}.tmp", std::process::id()));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(perms)
            .open(&tmp)
        {
            Ok(f) => break (tmp, f),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 16 => attempt += 1,
            Err(e) => {
                return Err(OutputError {
                    path: tmp,
                    source: e,
                })
            }
        }
    };
    let written = fill(&mut file, contents, perms, owner).and_then(|()| fs::rename(&tmp, dest));
    if let Err(source) = written {
        let _ = fs::remove_file(&tmp);
        return Err(OutputError {
            path: dest.to_path_buf(),
            source,
        });
    }
    // The rename is durable once the directory is synced.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

fn fill(
    file: &mut File,
    contents: &[u8],
    perms: u32,
    owner: Option<&fs::Metadata>,
) -> io::Result<()> {
    file.write_all(contents)?;
    // The mode given at creation is masked by the umask: set it exactly.
    file.set_permissions(fs::Permissions::from_mode(perms))?;
    if let Some(m) = owner {
        // Keep the replaced file's owner where we may (as root); an
        // unprivileged renderer keeps its own.
        let _ = std::os::unix::fs::fchown(&*file, Some(m.uid()), Some(m.gid()));
    }
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn a_new_file_is_written_with_default_perms_and_parent_dirs() {
        let d = tempfile::tempdir().unwrap();
        let dest = d.path().join("a/b/out.conf");
        let w = write_if_changed(&dest, b"x=1\n", &WriteOptions::default()).unwrap();
        assert_eq!(w, Written::Replaced);
        assert_eq!(fs::read(&dest).unwrap(), b"x=1\n");
        assert_eq!(mode(&dest), DEFAULT_PERMS);
    }

    #[test]
    fn the_same_content_is_not_written_again() {
        let d = tempfile::tempdir().unwrap();
        let dest = d.path().join("out");
        write_if_changed(&dest, b"same", &WriteOptions::default()).unwrap();
        let inode = fs::metadata(&dest).unwrap().ino();
        let w = write_if_changed(&dest, b"same", &WriteOptions::default()).unwrap();
        assert_eq!(w, Written::Unchanged);
        assert_eq!(fs::metadata(&dest).unwrap().ino(), inode, "not replaced");
    }

    #[test]
    fn a_replaced_file_keeps_its_perms_unless_perms_are_given() {
        let d = tempfile::tempdir().unwrap();
        let dest = d.path().join("out");
        fs::write(&dest, b"old").unwrap();
        fs::set_permissions(&dest, fs::Permissions::from_mode(0o600)).unwrap();
        write_if_changed(&dest, b"new", &WriteOptions::default()).unwrap();
        assert_eq!(mode(&dest), 0o600);
        let opts = WriteOptions {
            perms: Some(0o640),
            ..WriteOptions::default()
        };
        assert_eq!(
            write_if_changed(&dest, b"new", &opts).unwrap(),
            Written::Replaced,
            "new perms alone rewrite the file"
        );
        assert_eq!(mode(&dest), 0o640);
    }

    #[test]
    fn backup_keeps_exactly_the_previous_content() {
        let d = tempfile::tempdir().unwrap();
        let dest = d.path().join("out");
        let opts = WriteOptions {
            backup: true,
            ..WriteOptions::default()
        };
        write_if_changed(&dest, b"one", &opts).unwrap();
        assert!(!backup_path(&dest).exists(), "nothing to back up at first");
        write_if_changed(&dest, b"two", &opts).unwrap();
        write_if_changed(&dest, b"three", &opts).unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"three");
        assert_eq!(fs::read(backup_path(&dest)).unwrap(), b"two");
    }

    #[test]
    fn a_failed_write_leaves_the_destination_and_no_temporary_file() {
        let d = tempfile::tempdir().unwrap();
        // A directory in the way of the rename: the write must fail whole.
        let blocked = d.path().join("dir");
        fs::create_dir(&blocked).unwrap();
        fs::write(blocked.join("x"), b"kept").unwrap();
        let e = write_if_changed(&blocked, b"bad", &WriteOptions::default()).unwrap_err();
        assert!(e.to_string().starts_with("writing "), "{e}");
        assert_eq!(fs::read(blocked.join("x")).unwrap(), b"kept");
        let leftovers: Vec<_> = fs::read_dir(d.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn without_create_dirs_a_missing_directory_is_an_error() {
        let d = tempfile::tempdir().unwrap();
        let dest = d.path().join("missing/out");
        let opts = WriteOptions {
            create_dirs: false,
            ..WriteOptions::default()
        };
        assert!(write_if_changed(&dest, b"x", &opts).is_err());
        assert!(!dest.exists());
    }
}
