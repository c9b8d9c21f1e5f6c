//! `praetor kv get|put|delete|export|import|watch`, with Consul's flags and
//! output.

use std::io::Read;

use anyhow::{anyhow, bail, Context as _};
use base64::Engine as _;
use clap::{Args, Subcommand};
use futures::StreamExt;
use praetor_api::KvPair;
use serde::{Deserialize, Serialize};

use super::HttpArgs;
use crate::output;

#[derive(Subcommand, Debug)]
pub enum KvCommand {
    /// Reads a key, or every key under a prefix.
    Get(GetArgs),
    /// Writes a key.
    Put(PutArgs),
    /// Deletes a key, or every key under a prefix.
    Delete(DeleteArgs),
    /// Prints every key under a prefix as JSON (Consul's export format).
    Export(ExportArgs),
    /// Writes keys from JSON in Consul's export format.
    Import(ImportArgs),
    /// Prints every change under a prefix, one JSON line each (Praetor's watch stream).
    Watch(WatchArgs),
}

#[derive(Args, Debug)]
pub struct GetArgs {
    #[command(flatten)]
    http: HttpArgs,
    /// Print every key under the prefix as key:value.
    #[arg(long)]
    recurse: bool,
    /// List keys only.
    #[arg(long)]
    keys: bool,
    /// With -keys, list only up to this separator (default "/").
    #[arg(long)]
    separator: Option<String>,
    /// Print every field of the entry.
    #[arg(long)]
    detailed: bool,
    /// Print values base64-encoded.
    #[arg(long)]
    base64: bool,
    /// The key (or prefix).
    key: Option<String>,
}

#[derive(Args, Debug)]
pub struct PutArgs {
    #[command(flatten)]
    http: HttpArgs,
    /// Write only if the key's ModifyIndex equals -modify-index (0: only if absent).
    #[arg(long)]
    cas: bool,
    /// The index -cas compares with.
    #[arg(long = "modify-index")]
    modify_index: Option<u64>,
    /// An opaque number kept with the key.
    #[arg(long)]
    flags: Option<u64>,
    /// The value is base64: decode it before writing.
    #[arg(long)]
    base64: bool,
    /// The key.
    key: String,
    /// The value, `-` for stdin, or `@file`.
    #[arg(allow_hyphen_values = true)]
    value: Option<String>,
}

#[derive(Args, Debug)]
pub struct DeleteArgs {
    #[command(flatten)]
    http: HttpArgs,
    /// Delete every key under the prefix.
    #[arg(long)]
    recurse: bool,
    /// Delete only if the key's ModifyIndex equals -modify-index.
    #[arg(long)]
    cas: bool,
    /// The index -cas compares with.
    #[arg(long = "modify-index")]
    modify_index: Option<u64>,
    /// The key (or prefix).
    key: String,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    #[command(flatten)]
    http: HttpArgs,
    /// The prefix to export (default: everything).
    prefix: Option<String>,
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    #[command(flatten)]
    http: HttpArgs,
    /// Prepended to every imported key.
    #[arg(long)]
    prefix: Option<String>,
    /// The JSON, `-` for stdin, or `@file` (default: stdin).
    #[arg(allow_hyphen_values = true)]
    data: Option<String>,
}

#[derive(Args, Debug)]
pub struct WatchArgs {
    #[command(flatten)]
    http: HttpArgs,
    /// Start at this index (inclusive); default: new changes only.
    #[arg(long)]
    index: Option<u64>,
    /// The prefix to watch.
    prefix: String,
}

/// One entry of Consul's `kv export` format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exported {
    pub key: String,
    pub flags: u64,
    pub value: String,
}

/// Reads a value argument as Consul does: `-` is stdin, `@path` a file.
fn read_value(arg: Option<&str>) -> anyhow::Result<Vec<u8>> {
    match arg {
        None => Ok(Vec::new()),
        Some("-") => {
            let mut buf = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buf)
                .context("reading the value from stdin")?;
            Ok(buf)
        }
        Some(s) if s.starts_with('@') => {
            std::fs::read(&s[1..]).with_context(|| format!("reading {}", &s[1..]))
        }
        Some(s) => Ok(s.as_bytes().to_vec()),
    }
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

/// Consul's `-detailed` block for one entry.
pub fn detailed(p: &KvPair, base64: bool) -> String {
    let value = if base64 {
        p.value.clone().unwrap_or_default()
    } else {
        String::from_utf8_lossy(&p.decoded_value()).into_owned()
    };
    let rows = vec![
        vec!["CreateIndex".to_owned(), p.create_index.to_string()],
        vec!["Flags".to_owned(), p.flags.to_string()],
        vec!["Key".to_owned(), p.key.clone()],
        vec!["LockIndex".to_owned(), p.lock_index.to_string()],
        vec!["ModifyIndex".to_owned(), p.modify_index.to_string()],
        vec![
            "Session".to_owned(),
            p.session.clone().unwrap_or_else(|| "-".into()),
        ],
        vec!["Value".to_owned(), value],
    ];
    output::columns(&rows)
}

/// Parses Consul's export format.
///
/// # Errors
/// When the JSON is not a list of `{key, flags, value}` or a value is not base64.
pub fn parse_import(data: &[u8]) -> anyhow::Result<Vec<(String, u64, Vec<u8>)>> {
    let entries: Vec<Exported> = serde_json::from_slice(data).context("parsing the import data")?;
    entries
        .into_iter()
        .map(|e| {
            let v = b64()
                .decode(&e.value)
                .map_err(|err| anyhow!("the value of {:?} is not base64: {err}", e.key))?;
            Ok((e.key, e.flags, v))
        })
        .collect()
}

pub async fn run(cmd: KvCommand) -> anyhow::Result<()> {
    match cmd {
        KvCommand::Get(a) => get(a).await,
        KvCommand::Put(a) => put(a).await,
        KvCommand::Delete(a) => delete(a).await,
        KvCommand::Export(a) => export(a).await,
        KvCommand::Import(a) => import(a).await,
        KvCommand::Watch(a) => watch(a).await,
    }
}

async fn get(a: GetArgs) -> anyhow::Result<()> {
    let client = a.http.client()?;
    let opts = a.http.query();
    let key = a.key.unwrap_or_default();
    if a.keys {
        let sep = a.separator.unwrap_or_else(|| "/".into());
        let (keys, _) = client
            .kv_keys(&key, (!sep.is_empty()).then_some(sep.as_str()), &opts)
            .await?;
        for k in keys {
            output::line(&k);
        }
        return Ok(());
    }
    if a.recurse {
        let (list, _) = client.kv_list(&key, &opts).await?;
        for (i, p) in list.iter().enumerate() {
            if a.detailed {
                if i > 0 {
                    output::line("");
                }
                output::text(&detailed(p, a.base64));
            } else if a.base64 {
                output::line(&format!(
                    "{}:{}",
                    p.key,
                    p.value.clone().unwrap_or_default()
                ));
            } else {
                let mut line = format!("{}:", p.key).into_bytes();
                line.extend(p.decoded_value());
                output::raw(&line);
            }
        }
        return Ok(());
    }
    if key.is_empty() {
        bail!("Missing KEY argument");
    }
    let (pair, _) = client.kv_get(&key, &opts).await?;
    let p = pair.ok_or_else(|| anyhow!("No key exists at: {key}"))?;
    if a.detailed {
        output::text(&detailed(&p, a.base64));
    } else if a.base64 {
        output::line(&p.value.unwrap_or_default());
    } else {
        output::raw(&p.decoded_value());
    }
    Ok(())
}

async fn put(a: PutArgs) -> anyhow::Result<()> {
    let mut value = read_value(a.value.as_deref())?;
    if a.base64 {
        value = b64()
            .decode(value.trim_ascii())
            .context("decoding the base64 value")?;
    }
    let cas = match (a.cas, a.modify_index) {
        (true, Some(i)) => Some(i),
        (true, None) => bail!("Must specify -modify-index with -cas!"),
        (false, _) => None,
    };
    let ok = a.http.client()?.kv_put(&a.key, value, a.flags, cas).await?;
    if !ok {
        bail!("Did not write to {}: CAS failed", a.key);
    }
    output::line(&format!("Success! Data written to: {}", a.key));
    Ok(())
}

async fn delete(a: DeleteArgs) -> anyhow::Result<()> {
    let cas = match (a.cas, a.modify_index) {
        (true, _) if a.recurse => bail!("Cannot specify both -cas and -recurse!"),
        (true, Some(i)) => Some(i),
        (true, None) => bail!("Must specify -modify-index with -cas!"),
        (false, _) => None,
    };
    let ok = a.http.client()?.kv_delete(&a.key, a.recurse, cas).await?;
    if !ok {
        bail!("Did not delete key {}: CAS failed", a.key);
    }
    if a.recurse {
        output::line(&format!("Success! Deleted keys with prefix: {}", a.key));
    } else {
        output::line(&format!("Success! Deleted key: {}", a.key));
    }
    Ok(())
}

async fn export(a: ExportArgs) -> anyhow::Result<()> {
    let (list, _) = a
        .http
        .client()?
        .kv_list(a.prefix.as_deref().unwrap_or(""), &a.http.query())
        .await?;
    let out: Vec<Exported> = list
        .into_iter()
        .map(|p| Exported {
            key: p.key,
            flags: p.flags,
            value: p.value.unwrap_or_default(),
        })
        .collect();
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"\t");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    out.serialize(&mut ser)?;
    output::raw(&buf);
    Ok(())
}

async fn import(a: ImportArgs) -> anyhow::Result<()> {
    let data = read_value(Some(a.data.as_deref().unwrap_or("-")))?;
    let entries = parse_import(&data)?;
    let client = a.http.client()?;
    let prefix = a.prefix.unwrap_or_default();
    for (key, flags, value) in entries {
        let key = format!("{prefix}{key}");
        if !client.kv_put(&key, value, Some(flags), None).await? {
            bail!("Did not write to {key}");
        }
        output::line(&format!("Imported: {key}"));
    }
    Ok(())
}

async fn watch(a: WatchArgs) -> anyhow::Result<()> {
    let client = a.http.client()?;
    let mut events = Box::pin(client.kv_watch(&a.prefix, a.index).await?);
    while let Some(ev) = events.next().await {
        output::line(&serde_json::to_string(&ev?)?);
    }
    // The stream has no natural end: the agent closed it (it shut down or
    // restarted), and a script running the watch must learn that.
    bail!(
        "the watch stream ended: the agent at {} closed the connection",
        client.base()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detailed_block_matches_consul() {
        let mut p = KvPair::new("app/db", b"pg", 3, 7, 9, 0);
        assert_eq!(
            detailed(&p, false),
            "CreateIndex  7\nFlags        3\nKey          app/db\nLockIndex    0\nModifyIndex  9\nSession      -\nValue        pg\n"
        );
        p.session = Some("abc".into());
        assert!(detailed(&p, true).contains("Session      abc\nValue        cGc="));
    }

    #[test]
    fn import_reads_consuls_export_format_and_refuses_bad_base64() {
        let data = br#"[{"key":"a","flags":4,"value":"dg=="},{"key":"b","flags":0,"value":""}]"#;
        assert_eq!(
            parse_import(data).unwrap(),
            vec![("a".into(), 4, b"v".to_vec()), ("b".into(), 0, vec![])]
        );
        assert!(parse_import(br#"[{"key":"a","flags":0,"value":"%%%"}]"#).is_err());
        assert!(parse_import(b"{}").is_err());
    }
}
