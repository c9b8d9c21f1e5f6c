//! Finding the `praetor` binary the tests drive. Cargo exposes
//! `CARGO_BIN_EXE_*` only to the package that owns a binary, and binaries of
//! dependencies are never built for tests, so the testkit builds it itself:
//! `cargo build -p praetor` once per test process, into the same target dir
//! and profile as the running test (so it is never stale and never a second
//! copy of the dependency tree). `PRAETOR_BIN` skips the build and names a
//! binary to use instead.

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Instant;

use crate::KitError;

/// The `praetor` binary, built on first use (`cargo build -p praetor --bin
/// praetor`, its output on stderr) and remembered for the rest of the
/// process. Under nextest, whose every test is a process of its own, a stamp
/// per run (`NEXTEST_RUN_ID`) makes later tests skip the build.
///
/// # Errors
/// `Build` when `PRAETOR_BIN` names no file, the build fails, or the built
/// file is missing; the message is the same for every later call.
pub fn praetor_bin() -> Result<PathBuf, KitError> {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(locate).clone().map_err(KitError::Build)
}

/// [`praetor_bin`], or when some user other than its owner could not run it
/// there (a target dir under a private home), a copy in the temp dir that
/// anyone can run, made once per process. Agents started under their own
/// uid (for partitions) run this.
///
/// # Errors
/// As [`praetor_bin`], or `Build` when the copy cannot be made.
pub fn praetor_bin_for_any_user() -> Result<PathBuf, KitError> {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(|| {
        let bin = praetor_bin().map_err(|e| e.to_string())?;
        if runnable_by_anyone(&bin) {
            return Ok(bin);
        }
        let meta = std::fs::metadata(&bin).map_err(|e| format!("{}: {e}", bin.display()))?;
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!("praetor-testkit-bin-{mtime}-{}", meta.len()));
        let copy = dir.join("praetor");
        if copy.is_file() {
            return Ok(copy);
        }
        let fail = |what: &str, e: std::io::Error| format!("{what} {}: {e}", dir.display());
        std::fs::create_dir_all(&dir).map_err(|e| fail("creating", e))?;
        let mode = |m| std::fs::Permissions::from_mode(m);
        std::fs::set_permissions(&dir, mode(0o755)).map_err(|e| fail("opening", e))?;
        // Copied under a temporary name, then renamed: a concurrent test
        // process never runs a half-written binary.
        let partial = dir.join(format!("praetor.{}.partial", std::process::id()));
        std::fs::copy(&bin, &partial).map_err(|e| fail("copying the binary into", e))?;
        std::fs::set_permissions(&partial, mode(0o755)).map_err(|e| fail("opening", e))?;
        std::fs::rename(&partial, &copy).map_err(|e| fail("renaming in", e))?;
        Ok(copy)
    })
    .clone()
    .map_err(KitError::Build)
}

/// Whether every directory above `bin` lets anyone through and `bin` lets
/// anyone run it.
fn runnable_by_anyone(bin: &Path) -> bool {
    let others_x =
        |p: &Path| std::fs::metadata(p).is_ok_and(|m| m.permissions().mode() & 0o001 != 0);
    others_x(bin) && bin.ancestors().skip(1).all(others_x)
}

fn locate() -> Result<PathBuf, String> {
    if let Some(bin) = std::env::var_os("PRAETOR_BIN") {
        let bin = PathBuf::from(bin);
        return if bin.is_file() {
            Ok(bin)
        } else {
            Err(format!("PRAETOR_BIN={} is not a file", bin.display()))
        };
    }
    let root = workspace_root()?;
    let (target_dir, profile) = target_and_profile(&root);
    let bin = target_dir.join(&profile).join("praetor");
    let stamp = std::env::var("NEXTEST_RUN_ID").ok().map(|run| {
        target_dir
            .join("praetor-testkit")
            .join(format!("built-{run}"))
    });
    if stamp.as_ref().is_some_and(|s| s.exists()) && bin.is_file() {
        return Ok(bin);
    }

    let cargo = std::env::var_os("CARGO")
        .or_else(|| option_env!("CARGO").map(OsString::from))
        .unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(&cargo);
    cmd.arg("build")
        .arg("--manifest-path")
        .arg(root.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        .args(["-p", "praetor", "--bin", "praetor"]);
    match profile.as_str() {
        "debug" => {}
        "release" => {
            cmd.arg("--release");
        }
        other => {
            cmd.args(["--profile", other]);
        }
    }
    eprintln!("praetor-testkit: building the praetor binary ({profile}) …");
    let started = Instant::now();
    let status = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .status()
        .map_err(|e| format!("running {}: {e}", Path::new(&cargo).display()))?;
    if !status.success() {
        return Err(format!(
            "`cargo build -p praetor` failed ({status}); its output is above"
        ));
    }
    if !bin.is_file() {
        return Err(format!(
            "`cargo build -p praetor` succeeded but {} is missing",
            bin.display()
        ));
    }
    eprintln!(
        "praetor-testkit: {} is up to date ({:.1?})",
        bin.display(),
        started.elapsed()
    );
    if let Some(stamp) = stamp {
        // Best effort: without the stamp the next test merely rebuilds (a
        // no-op). Stamps of earlier runs go, so they do not pile up.
        let dir = stamp.parent().unwrap_or(&target_dir);
        if let Ok(old) = std::fs::read_dir(dir) {
            for entry in old.flatten() {
                if entry.file_name().to_string_lossy().starts_with("built-") {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        let _ = std::fs::create_dir_all(dir);
        let _ = std::fs::write(&stamp, b"");
    }
    Ok(bin)
}

/// The directory holding `Cargo.lock`, found by walking up from this crate.
fn workspace_root() -> Result<PathBuf, String> {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .find(|dir| dir.join("Cargo.lock").is_file())
        .map(Path::to_path_buf)
        .ok_or_else(|| format!("no Cargo.lock above {}", here.display()))
}

/// The target dir and profile dir name the running test was built into: a
/// test binary lives in `<target>/<profile>/deps/`. Failing that (a copied
/// binary), `CARGO_TARGET_DIR` or `<root>/target`, and `debug`.
fn target_and_profile(root: &Path) -> (PathBuf, String) {
    if let Ok(exe) = std::env::current_exe() {
        let deps = exe.parent();
        let profile_dir = deps
            .filter(|d| d.file_name().is_some_and(|n| n == "deps"))
            .and_then(Path::parent);
        if let Some(profile_dir) = profile_dir {
            // `<target>/<triple>/<profile>` when built with `--target`: keep the
            // default layout only, which is what a plain `cargo build` writes.
            if let (Some(target), Some(name)) = (profile_dir.parent(), profile_dir.file_name()) {
                if target.join("CACHEDIR.TAG").is_file()
                    || target.join(".rustc_info.json").is_file()
                {
                    return (target.to_path_buf(), name.to_string_lossy().into_owned());
                }
            }
        }
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|t| if t.is_absolute() { t } else { root.join(t) })
        .unwrap_or_else(|| root.join("target"));
    (target, "debug".into())
}
