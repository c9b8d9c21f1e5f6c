//! `praetor services register|deregister` and `praetor catalog
//! services|nodes|datacenters`, with Consul's flags and output.

use std::collections::BTreeMap;

use anyhow::{bail, Context as _};
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::HttpArgs;
use crate::output;

#[derive(Subcommand, Debug)]
pub enum ServicesCommand {
    /// Registers a service with the local agent (from a file or flags).
    Register(RegisterArgs),
    /// Deregisters a service from the local agent.
    Deregister(DeregisterArgs),
}

#[derive(Args, Debug)]
pub struct RegisterArgs {
    #[command(flatten)]
    http: HttpArgs,
    /// The service name (without a file).
    #[arg(long)]
    name: Option<String>,
    /// The service ID (default: the name).
    #[arg(long)]
    id: Option<String>,
    /// A tag; repeatable.
    #[arg(long)]
    tag: Vec<String>,
    /// The service address.
    #[arg(long)]
    address: Option<String>,
    /// The service port.
    #[arg(long)]
    port: Option<u16>,
    /// Metadata as key=value; repeatable.
    #[arg(long)]
    meta: Vec<String>,
    /// A JSON or HCL file with a `service` (or `services`) block, as in the
    /// agent's config files.
    file: Option<std::path::PathBuf>,
}

#[derive(Args, Debug)]
pub struct DeregisterArgs {
    #[command(flatten)]
    http: HttpArgs,
    /// ID to delete. This must not be set if arguments are given.
    #[arg(long)]
    id: Option<String>,
    /// Files (JSON or HCL) with the service definitions to deregister, as
    /// given to `services register`: each service's ID (or, without one,
    /// its name) is deregistered.
    #[arg(value_name = "FILE")]
    files: Vec<std::path::PathBuf>,
}

/// The service IDs `services deregister` removes: `-id`, or those of the
/// services the files define, with Consul's messages for a bad call.
fn deregister_ids(a: &DeregisterArgs) -> anyhow::Result<Vec<String>> {
    let id = a.id.clone().filter(|s| !s.is_empty());
    match (id, a.files.is_empty()) {
        (None, true) => Err(super::Failed(
            "Service deregistration requires at least one argument or -id.".into(),
        )
        .into()),
        (Some(_), false) => Err(super::Failed(
            "Service deregistration requires arguments or -id, not both.".into(),
        )
        .into()),
        (Some(id), true) => Ok(vec![id]),
        (None, false) => {
            let mut ids = Vec::new();
            for f in &a.files {
                let defs = definitions(f).map_err(|e| super::Failed(format!("Error: {e:#}")))?;
                ids.extend(defs.iter().filter_map(|d| {
                    let id = d["ID"].as_str().filter(|s| !s.is_empty());
                    id.or(d["Name"].as_str())
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                }));
            }
            Ok(ids)
        }
    }
}

/// The service definitions of a file (JSON with comments or HCL), in the
/// API's shape.
fn definitions(path: &std::path::Path) -> anyhow::Result<Vec<Value>> {
    let tree = praetor_agent::config::read_file(path)?;
    let mut out = Vec::new();
    for key in ["service", "services"] {
        match tree.get(key) {
            Some(Value::Array(items)) => out.extend(items.iter().cloned()),
            Some(one @ Value::Object(_)) => out.push(one.clone()),
            _ => {}
        }
    }
    if out.is_empty() {
        bail!("{}: no service or services block", path.display());
    }
    Ok(out.into_iter().map(praetor_api::keys::canonical).collect())
}

pub async fn services(c: ServicesCommand) -> anyhow::Result<()> {
    match c {
        ServicesCommand::Register(a) => {
            let defs = match (&a.file, &a.name) {
                (Some(f), None) => definitions(f)?,
                (None, Some(name)) => {
                    let mut meta = BTreeMap::new();
                    for m in &a.meta {
                        let (k, v) = m
                            .split_once('=')
                            .with_context(|| format!("-meta {m:?}: expected key=value"))?;
                        meta.insert(k.to_owned(), v.to_owned());
                    }
                    vec![
                        json!({"ID": a.id.clone().unwrap_or_default(), "Name": name, "Tags": a.tag,
                        "Address": a.address.clone().unwrap_or_default(), "Port": a.port.unwrap_or(0), "Meta": meta}),
                    ]
                }
                (Some(_), Some(_)) => bail!("Give either a file or -name, not both"),
                (None, None) => bail!("Give a service definition file or -name"),
            };
            let client = a.http.client()?;
            for d in defs {
                client.put_value("/v1/agent/service/register", &d).await?;
                let name = d["Name"].as_str().unwrap_or_default();
                output::line(&format!("Registered service: {name}"));
            }
        }
        ServicesCommand::Deregister(a) => {
            let ids = deregister_ids(&a)?;
            let client = a.http.client()?;
            for id in ids {
                let path = format!("/v1/agent/service/deregister/{id}");
                client.put_value(&path, &Value::Null).await.map_err(|e| {
                    super::Failed(format!("Error deregistering service {id:?}: {e}"))
                })?;
                output::line(&format!("Deregistered service: {id}"));
            }
        }
    }
    Ok(())
}

#[derive(Subcommand, Debug)]
pub enum CatalogCommand {
    /// Lists the services in the catalog.
    Services(CatalogServicesArgs),
    /// Lists the nodes in the catalog.
    Nodes(CatalogNodesArgs),
    /// Lists the known datacenters.
    Datacenters(CatalogDcArgs),
}

#[derive(Args, Debug)]
pub struct CatalogServicesArgs {
    #[command(flatten)]
    http: HttpArgs,
    /// Show each service's tags.
    #[arg(long)]
    tags: bool,
    /// Only the services of this node.
    #[arg(long)]
    node: Option<String>,
}

#[derive(Args, Debug)]
pub struct CatalogNodesArgs {
    #[command(flatten)]
    http: HttpArgs,
    /// Only the nodes that run this service.
    #[arg(long)]
    service: Option<String>,
    /// Show node metadata and tagged addresses.
    #[arg(long)]
    detailed: bool,
}

#[derive(Args, Debug)]
pub struct CatalogDcArgs {
    #[command(flatten)]
    http: HttpArgs,
}

pub async fn catalog(c: CatalogCommand) -> anyhow::Result<()> {
    match c {
        CatalogCommand::Services(a) => {
            let client = a.http.client()?;
            let services: BTreeMap<String, Vec<String>> = match &a.node {
                Some(node) => {
                    let v = client
                        .get_value(&format!("/v1/catalog/node/{node}"), &[])
                        .await?;
                    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
                    for s in v["Services"]
                        .as_object()
                        .into_iter()
                        .flatten()
                        .map(|(_, s)| s)
                    {
                        let tags = s["Tags"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|t| t.as_str().map(str::to_owned));
                        out.entry(s["Service"].as_str().unwrap_or_default().to_owned())
                            .or_default()
                            .extend(tags);
                    }
                    out
                }
                None => {
                    serde_json::from_value(client.get_value("/v1/catalog/services", &[]).await?)?
                }
            };
            if a.tags {
                let rows: Vec<Vec<String>> = services
                    .iter()
                    .map(|(n, t)| vec![n.clone(), t.join(",")])
                    .collect();
                output::text(&output::columns(&rows));
            } else {
                for name in services.keys() {
                    output::line(name);
                }
            }
        }
        CatalogCommand::Nodes(a) => {
            let client = a.http.client()?;
            let nodes: Vec<Value> = match &a.service {
                Some(s) => {
                    let list = client
                        .get_value(&format!("/v1/catalog/service/{s}"), &[])
                        .await?;
                    let mut seen = std::collections::BTreeSet::new();
                    list.as_array()
                        .into_iter()
                        .flatten()
                        .filter(|e| seen.insert(e["Node"].as_str().unwrap_or_default().to_owned()))
                        .map(|e| json!({"Node": e["Node"], "ID": e["ID"], "Address": e["Address"], "Datacenter": e["Datacenter"], "TaggedAddresses": e["TaggedAddresses"], "Meta": e["NodeMeta"]}))
                        .collect()
                }
                None => serde_json::from_value(client.get_value("/v1/catalog/nodes", &[]).await?)?,
            };
            let mut rows = vec![["Node", "ID", "Address", "DC"].map(String::from).to_vec()];
            if a.detailed {
                rows[0].extend(["TaggedAddresses", "Meta"].map(String::from));
            }
            for n in &nodes {
                let s = |k: &str| n[k].as_str().unwrap_or_default().to_owned();
                let id = s("ID");
                let mut row = vec![
                    s("Node"),
                    if a.detailed {
                        id
                    } else {
                        id.chars().take(8).collect()
                    },
                    s("Address"),
                    s("Datacenter"),
                ];
                if a.detailed {
                    let pairs = |v: &Value| {
                        v.as_object()
                            .into_iter()
                            .flatten()
                            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                            .collect::<Vec<_>>()
                            .join(", ")
                    };
                    row.push(pairs(&n["TaggedAddresses"]));
                    row.push(pairs(&n["Meta"]));
                }
                rows.push(row);
            }
            output::text(&output::columns(&rows));
        }
        CatalogCommand::Datacenters(a) => {
            let dcs: Vec<String> = serde_json::from_value(
                a.http
                    .client()?
                    .get_value("/v1/catalog/datacenters", &[])
                    .await?,
            )?;
            for dc in dcs {
                output::line(&dc);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dereg(id: Option<&str>, files: &[&std::path::Path]) -> DeregisterArgs {
        DeregisterArgs {
            http: HttpArgs::default(),
            id: id.map(str::to_owned),
            files: files.iter().map(|f| f.to_path_buf()).collect(),
        }
    }

    #[test]
    fn deregister_takes_an_id_or_files_as_consuls_does() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let web = dir.path().join("web.json");
        std::fs::write(&web, r#"{"service": {"name": "web", "id": "web-1"}}"#).expect("written");
        let db = dir.path().join("db.hcl");
        std::fs::write(
            &db,
            "services = [{ name = \"db\" }, { name = \"cache\", id = \"c1\" }]",
        )
        .expect("written");
        assert_eq!(deregister_ids(&dereg(Some("x"), &[])).expect("ids"), ["x"]);
        assert_eq!(
            deregister_ids(&dereg(None, &[&web, &db])).expect("ids"),
            ["web-1", "db", "c1"]
        );
        let msg = |a: DeregisterArgs| format!("{:#}", deregister_ids(&a).expect_err("refused"));
        assert_eq!(
            msg(dereg(None, &[])),
            "Service deregistration requires at least one argument or -id."
        );
        assert_eq!(
            msg(dereg(Some("x"), &[&web])),
            "Service deregistration requires arguments or -id, not both."
        );
        assert!(msg(dereg(None, &[&dir.path().join("missing.json")])).starts_with("Error: "));
    }
}
