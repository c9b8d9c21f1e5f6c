//! `log_file` with Consul's rotation rules: the current file is always the
//! configured name (`praetor.log` when `log_file` names a directory, `.log`
//! added when the name has no extension); on rotation it is renamed to
//! `<name>-<unix nanoseconds><ext>` and a new one opened. It rotates when
//! `log_rotate_bytes` (0: no limit) have been written or
//! `log_rotate_duration` (default 24h) has passed; then at most
//! `log_rotate_max_files` rotated files are kept (0: all, -1: none).
//! Unlike Consul's, an existing file is appended to, not truncated.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The file name used when `log_file` names a directory.
pub const DEFAULT_NAME: &str = "praetor.log";

/// A log file that rotates itself as it is written.
pub struct RotatingFile {
    dir: PathBuf,
    /// The current file's name (`praetor.log`).
    name: String,
    stem: String,
    ext: String,
    file: File,
    written: u64,
    opened: Instant,
    max_bytes: u64,
    max_age: Duration,
    max_files: i64,
}

impl RotatingFile {
    /// Opens (creates, or appends to) the file `path` names, as Consul
    /// reads `log_file`: a path ending in `/` (or naming a directory) is a
    /// directory holding `praetor.log`.
    ///
    /// # Errors
    /// The directory cannot be created or the file opened.
    pub fn open(
        path: &Path,
        max_bytes: u64,
        max_age: Duration,
        max_files: i64,
    ) -> std::io::Result<RotatingFile> {
        let as_dir = path.as_os_str().to_string_lossy().ends_with('/') || path.is_dir();
        let (dir, name) = if as_dir {
            (path.to_path_buf(), DEFAULT_NAME.to_owned())
        } else {
            let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
            let name = path
                .file_name()
                .map_or(DEFAULT_NAME.into(), |n| n.to_string_lossy().into_owned());
            (dir, name)
        };
        let dir = if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        };
        let (stem, ext) = match name.rfind('.') {
            Some(i) if i > 0 => (name[..i].to_owned(), name[i..].to_owned()),
            _ => (name.clone(), ".log".to_owned()),
        };
        std::fs::create_dir_all(&dir)?;
        let file = open_append(&dir.join(&name))?;
        let written = file.metadata().map_or(0, |m| m.len());
        Ok(RotatingFile {
            dir,
            name,
            stem,
            ext,
            file,
            written,
            opened: Instant::now(),
            max_bytes,
            max_age: if max_age.is_zero() {
                Duration::from_secs(24 * 3600)
            } else {
                max_age
            },
            max_files,
        })
    }

    /// The file being written.
    pub fn path(&self) -> PathBuf {
        self.dir.join(&self.name)
    }

    /// Writes one line, rotating first when the file is full or old.
    ///
    /// # Errors
    /// The rotation or the write failed.
    pub fn write_line(&mut self, line: &[u8]) -> std::io::Result<()> {
        let full = self.max_bytes > 0 && self.written >= self.max_bytes;
        if full || self.opened.elapsed() >= self.max_age {
            self.rotate()?;
        }
        self.written += line.len() as u64;
        self.file.write_all(line)
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        let _ = self.file.flush();
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let old = self.dir.join(format!("{}-{nanos}{}", self.stem, self.ext));
        std::fs::rename(self.path(), &old)?;
        self.prune()?;
        self.file = open_append(&self.path())?;
        self.written = 0;
        self.opened = Instant::now();
        Ok(())
    }

    /// The rotated files, oldest first.
    pub fn rotated(&self) -> std::io::Result<Vec<PathBuf>> {
        let prefix = format!("{}-", self.stem);
        let mut found: Vec<PathBuf> = std::fs::read_dir(&self.dir)?
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let stamp = name.strip_prefix(&prefix)?.strip_suffix(&self.ext)?;
                (!stamp.is_empty() && stamp.bytes().all(|b| b.is_ascii_digit())).then(|| e.path())
            })
            .collect();
        found.sort();
        Ok(found)
    }

    fn prune(&self) -> std::io::Result<()> {
        if self.max_files == 0 {
            return Ok(());
        }
        let old = self.rotated()?;
        let keep = usize::try_from(self.max_files).unwrap_or(0);
        for path in &old[..old.len().saturating_sub(keep)] {
            std::fs::remove_file(path)?;
        }
        Ok(())
    }
}

fn open_append(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_rotated_by_size_keeps_at_most_max_files_old_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("agent.log");
        let mut f = RotatingFile::open(&path, 100, Duration::ZERO, 3).expect("open");
        let line = [b'x'; 39];
        for _ in 0..40 {
            f.write_line(&line).expect("write");
        }
        let old = f.rotated().expect("list");
        assert_eq!(old.len(), 3, "{old:?}");
        for p in &old {
            let name = p
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            assert!(
                name.starts_with("agent-") && name.ends_with(".log"),
                "{name}"
            );
            assert_eq!(
                std::fs::metadata(p).expect("meta").len(),
                117,
                "3 lines each"
            );
        }
        assert!(std::fs::metadata(&path).expect("current").len() <= 117);
    }

    #[test]
    fn a_directory_holds_praetor_log_and_a_name_without_extension_gets_log() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut d = RotatingFile::open(&dir.path().join("logs/"), 10, Duration::ZERO, -1)
            .expect("open dir");
        assert_eq!(d.path(), dir.path().join("logs/praetor.log"));
        for _ in 0..3 {
            d.write_line(b"0123456789\n").expect("write");
        }
        assert!(
            d.rotated().expect("list").is_empty(),
            "-1 keeps no old file"
        );
        let mut n =
            RotatingFile::open(&dir.path().join("node"), 5, Duration::ZERO, 0).expect("open");
        for _ in 0..4 {
            n.write_line(b"abcdef\n").expect("write");
        }
        assert_eq!(n.path(), dir.path().join("node"));
        let old = n.rotated().expect("list");
        assert_eq!(old.len(), 3, "0 keeps every old file: {old:?}");
        assert!(old[0].to_string_lossy().ends_with(".log"));
    }

    #[test]
    fn a_file_rotates_when_its_duration_has_passed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut f = RotatingFile::open(&dir.path().join("t.log"), 0, Duration::from_millis(1), 0)
            .expect("open");
        f.write_line(b"first\n").expect("write");
        let deadline = Instant::now() + Duration::from_secs(5);
        while f.opened.elapsed() < Duration::from_millis(2) && Instant::now() < deadline {
            std::thread::yield_now();
        }
        f.write_line(b"second\n").expect("write");
        assert_eq!(f.rotated().expect("list").len(), 1);
        assert_eq!(std::fs::read_to_string(f.path()).expect("read"), "second\n");
    }
}
