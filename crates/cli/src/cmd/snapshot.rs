//! `praetor snapshot save|restore|inspect|decode FILE`, with Consul's
//! messages.

mod decode;

use anyhow::Context as _;
use clap::{Args, Subcommand};

use super::HttpArgs;
use crate::output;

#[derive(Subcommand, Debug)]
pub enum SnapshotCommand {
    /// Saves the cluster's state to a file.
    Save(FileArgs),
    /// Restores the cluster's state from a file.
    Restore(FileArgs),
    /// Prints what a snapshot file holds.
    Inspect(InspectArgs),
    /// Prints a snapshot file's records as JSON lines.
    Decode(InspectArgs),
}

#[derive(Args, Debug)]
pub struct FileArgs {
    #[command(flatten)]
    http: HttpArgs,
    /// The snapshot file.
    file: std::path::PathBuf,
}

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// The snapshot file.
    file: std::path::PathBuf,
}

pub async fn run(c: SnapshotCommand) -> anyhow::Result<()> {
    match c {
        SnapshotCommand::Save(a) => {
            // Streamed into a file beside the target, checked from the
            // disk, then renamed: a damaged download never replaces a
            // good file.
            let dir = match a.file.parent() {
                Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
                _ => std::path::PathBuf::from("."),
            };
            let part = tempfile::NamedTempFile::new_in(&dir)
                .with_context(|| format!("creating a file in {}", dir.display()))?;
            let mut out = std::io::BufWriter::new(part.as_file());
            a.http
                .client()?
                .snapshot_save_to(a.http.stale, &mut out)
                .await?;
            out.into_inner()
                .map_err(|e| e.into_error())
                .and_then(std::fs::File::sync_all)
                .with_context(|| format!("writing {}", a.file.display()))?;
            let meta = praetor_api::snapshot::verify(std::io::BufReader::new(
                std::fs::File::open(part.path()).context("reading the saved snapshot")?,
            ))
            .map_err(|e| anyhow::anyhow!("the agent sent a damaged snapshot: {e}"))?;
            part.persist(&a.file)
                .with_context(|| format!("writing {}", a.file.display()))?;
            output::line(&format!(
                "Saved and verified snapshot to index {}",
                meta.index
            ));
        }
        SnapshotCommand::Restore(a) => {
            let file = std::fs::File::open(&a.file)
                .with_context(|| format!("reading {}", a.file.display()))?;
            praetor_api::snapshot::verify(std::io::BufReader::new(file))
                .map_err(|e| anyhow::anyhow!("{}: {e}", a.file.display()))?;
            a.http.client()?.snapshot_restore_file(&a.file).await?;
            output::line("Restored snapshot");
        }
        SnapshotCommand::Inspect(a) => {
            let file =
                std::fs::read(&a.file).with_context(|| format!("reading {}", a.file.display()))?;
            let (meta, _) = praetor_api::snapshot::decode(&file)
                .map_err(|e| anyhow::anyhow!("{}: {e}", a.file.display()))?;
            let rows = vec![
                vec![" ID".to_owned(), meta.id],
                vec![" Size".to_owned(), meta.size.to_string()],
                vec![" Index".to_owned(), meta.index.to_string()],
                vec![" Term".to_owned(), meta.term.to_string()],
                vec![" Version".to_owned(), meta.version.to_string()],
            ];
            output::text(&output::columns(&rows));
        }
        SnapshotCommand::Decode(a) => {
            let file =
                std::fs::read(&a.file).with_context(|| format!("reading {}", a.file.display()))?;
            let lines = decode::lines(&file).with_context(|| format!("{}", a.file.display()))?;
            output::text(&lines.iter().map(|l| format!("{l}\n")).collect::<String>());
        }
    }
    Ok(())
}
