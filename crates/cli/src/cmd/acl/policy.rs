//! `praetor acl policy create|read|update|delete|list`, as Consul's
//! `command/acl/policy/*`: the same flags, requests (`/v1/acl/policy…`),
//! output and error messages.

use clap::{Args, Subcommand};
use praetor_client::Client;

use super::format;
use super::model::{Policy, PolicyListEntry};
use super::{
    api_error, client, emit, fail, load_data_source, parse_format, policy_id, request_body, seg,
};
use crate::cmd::HttpArgs;
use crate::output;

#[derive(Subcommand, Debug)]
pub enum PolicyCommand {
    /// Creates a policy.
    Create(CreateArgs),
    /// Reads a policy by ID or name.
    Read(ReadArgs),
    /// Updates a policy (merging with its current state unless -no-merge).
    Update(UpdateArgs),
    /// Deletes a policy by ID or name.
    Delete(DeleteArgs),
    /// Lists policies.
    List(ListArgs),
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    #[command(flatten)]
    http: HttpArgs,
    /// The new policy's name (required).
    #[arg(long)]
    name: Option<String>,
    /// A description of the policy.
    #[arg(long)]
    description: Option<String>,
    /// A datacenter the policy is valid in; may be repeated (default: all).
    #[arg(long = "valid-datacenter")]
    valid_datacenters: Vec<String>,
    /// The rules: the text, `@file`, or `-` for stdin.
    #[arg(long, allow_hyphen_values = true)]
    rules: Option<String>,
    /// Show the hash and Raft indices too.
    #[arg(long)]
    meta: bool,
    /// Output format {pretty|json}.
    #[arg(long, default_value = "pretty")]
    format: String,
}

#[derive(Args, Debug)]
pub struct ReadArgs {
    #[command(flatten)]
    http: HttpArgs,
    /// The policy's ID (or a unique prefix of it).
    #[arg(long)]
    id: Option<String>,
    /// The policy's name.
    #[arg(long)]
    name: Option<String>,
    /// Show the hash and Raft indices too.
    #[arg(long)]
    meta: bool,
    /// Output format {pretty|json}.
    #[arg(long, default_value = "pretty")]
    format: String,
}

#[derive(Args, Debug)]
pub struct UpdateArgs {
    #[command(flatten)]
    http: HttpArgs,
    /// The policy's ID (or a unique prefix of it).
    #[arg(long)]
    id: Option<String>,
    /// The policy's name (finds it when -id is not given; renames it otherwise).
    #[arg(long)]
    name: Option<String>,
    /// A new description.
    #[arg(long)]
    description: Option<String>,
    /// A datacenter the policy is valid in; may be repeated.
    #[arg(long = "valid-datacenter")]
    valid_datacenters: Vec<String>,
    /// New rules: the text, `@file`, or `-` for stdin.
    #[arg(long, allow_hyphen_values = true)]
    rules: Option<String>,
    /// Replace every field instead of merging with the current policy.
    #[arg(long = "no-merge")]
    no_merge: bool,
    /// Show the hash and Raft indices too.
    #[arg(long)]
    meta: bool,
    /// Output format {pretty|json}.
    #[arg(long, default_value = "pretty")]
    format: String,
}

#[derive(Args, Debug)]
pub struct DeleteArgs {
    #[command(flatten)]
    http: HttpArgs,
    /// The policy's ID (or a unique prefix of it).
    #[arg(long)]
    id: Option<String>,
    /// The policy's name.
    #[arg(long)]
    name: Option<String>,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    #[command(flatten)]
    http: HttpArgs,
    /// Show the hash and Raft indices too.
    #[arg(long)]
    meta: bool,
    /// Output format {pretty|json}.
    #[arg(long, default_value = "pretty")]
    format: String,
}

/// Runs a `policy` subcommand.
///
/// # Errors
/// Consul's messages, as [`super::Failed`].
pub async fn run(cmd: PolicyCommand) -> anyhow::Result<()> {
    match cmd {
        PolicyCommand::Create(a) => create(a).await,
        PolicyCommand::Read(a) => read(a).await,
        PolicyCommand::Update(a) => update(a).await,
        PolicyCommand::Delete(a) => delete(a).await,
        PolicyCommand::List(a) => list(a).await,
    }
}

fn given(s: &Option<String>) -> Option<&str> {
    s.as_deref().filter(|s| !s.is_empty())
}

/// `GET /v1/acl/policy/name/<name>`.
async fn by_name(client: &Client, http: &HttpArgs, name: &str) -> Result<Policy, String> {
    client
        .get_typed(
            &format!("/v1/acl/policy/name/{}", seg(name)),
            &http.dc_query(),
        )
        .await
        .map_err(|e| format!("Failed to find policy with name {name}: {}", api_error(&e)))
}

/// The ID of the policy `-id` (a prefix) or `-name` names.
async fn target_id(
    client: &Client,
    http: &HttpArgs,
    id: Option<&str>,
    name: Option<&str>,
) -> anyhow::Result<String> {
    let found = match (id, name) {
        (Some(id), _) => policy_id(client, http, id).await,
        (None, Some(name)) => by_name(client, http, name).await.map(|p| p.id),
        (None, None) => return Err(fail("Must specify either the -id or -name parameters")),
    };
    found.map_err(|e| fail(format!("Error determining policy ID: {e}")))
}

async fn create(a: CreateArgs) -> anyhow::Result<()> {
    let Some(name) = given(&a.name) else {
        return Err(fail("Missing require '-name' flag"));
    };
    let fmt = parse_format(&a.format)?;
    let client = client(&a.http)?;
    let rules = load_data_source(a.rules.as_deref().unwrap_or(""), &mut std::io::stdin())
        .map_err(|e| fail(format!("Error loading rules: {e:#}")))?;
    let p = Policy {
        name: name.to_owned(),
        description: a.description.unwrap_or_default(),
        datacenters: (!a.valid_datacenters.is_empty()).then_some(a.valid_datacenters),
        rules,
        ..Policy::default()
    };
    let created: Policy = client
        .put_typed(
            "/v1/acl/policy",
            &a.http.dc_query(),
            Some(&request_body(&p)),
        )
        .await
        .map_err(|e| fail(format!("Failed to create new policy: {}", api_error(&e))))?;
    emit(fmt, &created, |p| format::policy(p, a.meta))
}

async fn read(a: ReadArgs) -> anyhow::Result<()> {
    let fmt = parse_format(&a.format)?;
    let (id, name) = (given(&a.id), given(&a.name));
    if id.is_none() && name.is_none() {
        return Err(fail("Must specify either the -id or -name parameters"));
    }
    let client = client(&a.http)?;
    let p: Policy = match (id, name) {
        (Some(partial), _) => {
            let id = policy_id(&client, &a.http, partial)
                .await
                .map_err(|e| fail(format!("Error determining policy ID: {e}")))?;
            client
                .get_typed(&format!("/v1/acl/policy/{}", seg(&id)), &a.http.dc_query())
                .await
                .map_err(|e| {
                    fail(format!(
                        "Error reading policy \"id:{id}\": {}",
                        api_error(&e)
                    ))
                })?
        }
        (None, Some(name)) => by_name(&client, &a.http, name)
            .await
            .map_err(|e| fail(format!("Error reading policy \"name:{name}\": {e}")))?,
        (None, None) => return Ok(()),
    };
    emit(fmt, &p, |p| format::policy(p, a.meta))
}

async fn update(a: UpdateArgs) -> anyhow::Result<()> {
    let (id, name) = (given(&a.id), given(&a.name));
    let fmt = parse_format(&a.format)?;
    let client = client(&a.http)?;
    let id = target_id(&client, &a.http, id, name).await?;
    let rules = match a.rules.as_deref() {
        Some(r) => Some(
            load_data_source(r, &mut std::io::stdin())
                .map_err(|e| fail(format!("Error loading data source: {e:#}")))?,
        ),
        None => None,
    };
    let dcs = (!a.valid_datacenters.is_empty()).then_some(a.valid_datacenters);
    let updated = if a.no_merge {
        Policy {
            id: id.clone(),
            name: a.name.unwrap_or_default(),
            description: a.description.unwrap_or_default(),
            datacenters: dcs,
            rules: rules.unwrap_or_default(),
            ..Policy::default()
        }
    } else {
        let current: Policy = client
            .get_typed(&format!("/v1/acl/policy/{}", seg(&id)), &a.http.dc_query())
            .await
            .map_err(|e| fail(format!("Error reading policy {id:?}: {}", api_error(&e))))?;
        Policy {
            id: id.clone(),
            name: a.name.unwrap_or(current.name),
            description: a.description.unwrap_or(current.description),
            datacenters: dcs.or(current.datacenters),
            rules: rules.unwrap_or(current.rules),
            ..Policy::default()
        }
    };
    let p: Policy = client
        .put_typed(
            &format!("/v1/acl/policy/{}", seg(&id)),
            &a.http.dc_query(),
            Some(&request_body(&updated)),
        )
        .await
        .map_err(|e| fail(format!("Error updating policy {id:?}: {}", api_error(&e))))?;
    emit(fmt, &p, |p| format::policy(p, a.meta))
}

async fn delete(a: DeleteArgs) -> anyhow::Result<()> {
    let (id, name) = (given(&a.id), given(&a.name));
    if id.is_none() && name.is_none() {
        return Err(fail("Must specify either the -id or -name parameters"));
    }
    let client = client(&a.http)?;
    let id = target_id(&client, &a.http, id, name).await?;
    client
        .delete_path(&format!("/v1/acl/policy/{}", seg(&id)), &a.http.dc_query())
        .await
        .map_err(|e| fail(format!("Error deleting policy {id:?}: {}", api_error(&e))))?;
    output::line(&format!("Policy {id:?} deleted successfully"));
    Ok(())
}

async fn list(a: ListArgs) -> anyhow::Result<()> {
    let fmt = parse_format(&a.format)?;
    let client = client(&a.http)?;
    let policies: Vec<PolicyListEntry> = client
        .get_typed("/v1/acl/policies", &a.http.dc_query())
        .await
        .map_err(|e| {
            fail(format!(
                "Failed to retrieve the policy list: {}",
                api_error(&e)
            ))
        })?;
    emit(fmt, &policies, |p| format::policy_list(p, a.meta))
}
