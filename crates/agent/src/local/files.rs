//! The agent's services and checks in `data_dir/local`: one JSON file per
//! service (`services/`) and per check (`checks/`), named by the entry's
//! hex-encoded ID, so a change writes (or removes) only the file of the
//! entry it changed. Each file is written to a temporary name and renamed,
//! so a crash leaves the old or the new entry, never half of one. Reads a
//! `state.json` from an earlier version, which kept everything in one file,
//! and converts it. Knows nothing of anti-entropy or the servers.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use praetor_api::catalog::ServiceDefinition;
use serde::Serialize;

use super::{LocalCheck, LocalError, Owned};

/// The folder of the saved services.
pub(super) const SERVICES: &str = "services";
/// The folder of the saved checks.
pub(super) const CHECKS: &str = "checks";

/// The file of one saved entry: its ID hex-encoded, so any ID is a safe
/// file name.
fn entry_file(dir: &Path, kind: &str, id: &str) -> PathBuf {
    let name: String = id.bytes().map(|b| format!("{b:02x}")).collect();
    dir.join(kind).join(format!("{name}.json"))
}

fn save_error(path: &Path) -> impl FnOnce(std::io::Error) -> LocalError {
    let path = path.display().to_string();
    move |source| LocalError::Save { path, source }
}

/// Writes entry `id` of `kind` (`Some`) or removes its file (`None`).
///
/// # Errors
/// `Save` when the file cannot be written, renamed or removed.
pub(super) fn save<T: Serialize>(
    dir: &Path,
    kind: &str,
    id: &str,
    entry: Option<&T>,
) -> Result<(), LocalError> {
    let file = entry_file(dir, kind, id);
    let Some(entry) = entry else {
        return match std::fs::remove_file(&file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(save_error(&file)(e)),
            _ => Ok(()),
        };
    };
    let tmp = file.with_extension("tmp");
    let bytes = serde_json::to_vec(entry).unwrap_or_default();
    if let Err(e) = std::fs::write(&tmp, &bytes) {
        // The first entry of its kind: make the folder, once.
        if e.kind() != std::io::ErrorKind::NotFound {
            return Err(save_error(&tmp)(e));
        }
        std::fs::create_dir_all(dir.join(kind)).map_err(save_error(&file))?;
        std::fs::write(&tmp, &bytes).map_err(save_error(&tmp))?;
    }
    std::fs::rename(&tmp, &file).map_err(save_error(&file))
}

/// Writes every entry of `owned` (converting an earlier version's file).
fn save_all(dir: &Path, owned: &Owned) -> Result<(), LocalError> {
    for (id, s) in &owned.services {
        save(dir, SERVICES, id, Some(s))?;
    }
    for (id, c) in &owned.checks {
        save(dir, CHECKS, id, Some(c))?;
    }
    Ok(())
}

/// Reads the saved services and checks (an entry that cannot be read is
/// skipped with a warning). A `state.json` from an earlier version, which
/// kept everything in one file, is read and converted.
pub(super) fn load_dir(dir: &Path) -> Owned {
    fn entries<T: serde::de::DeserializeOwned>(
        dir: &Path,
        kind: &str,
        id_of: impl Fn(&T) -> String,
    ) -> BTreeMap<String, T> {
        let mut out = BTreeMap::new();
        let Ok(list) = std::fs::read_dir(dir.join(kind)) else {
            return out;
        };
        for file in list.flatten().map(|e| e.path()) {
            if file.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let read = std::fs::read(&file)
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice::<T>(&b).map_err(|e| e.to_string()));
            match read {
                Ok(entry) => {
                    out.insert(id_of(&entry), entry);
                }
                Err(error) => {
                    tracing::warn!(file = %file.display(), %error, "a saved entry cannot be read; skipped")
                }
            }
        }
        out
    }
    let legacy = dir.join("state.json");
    if let Ok(bytes) = std::fs::read(&legacy) {
        match serde_json::from_slice::<Owned>(&bytes) {
            Ok(owned) => {
                match save_all(dir, &owned) {
                    Ok(()) => {
                        let _ = std::fs::remove_file(&legacy);
                    }
                    Err(e) => tracing::warn!(error = %e, "converting the saved services"),
                }
                return owned;
            }
            Err(e) => {
                tracing::warn!(error = %e, "the saved services and checks cannot be read; starting without them");
            }
        }
    }
    Owned {
        services: entries(dir, SERVICES, |s: &ServiceDefinition| s.id.clone()),
        checks: entries(dir, CHECKS, |c: &LocalCheck| c.id.clone()),
    }
}
