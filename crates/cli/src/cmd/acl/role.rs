//! `praetor acl role create|read|update|delete|list`, as Consul's
//! `command/acl/role/*`: the same flags, requests (`/v1/acl/role…`), output
//! and error messages.

use clap::{Args, Subcommand};
use praetor_client::{Client, ClientError};

use super::format;
use super::model::{Link, Role};
use super::{
    api_error, client, emit, fail, node_identities, parse_format, policy_id, request_body, role_id,
    seg, service_identities,
};
use crate::cmd::HttpArgs;
use crate::output;

#[derive(Subcommand, Debug)]
pub enum RoleCommand {
    /// Creates a role.
    Create(CreateArgs),
    /// Reads a role by ID or name.
    Read(ReadArgs),
    /// Updates a role (merging with its current state unless -no-merge).
    Update(UpdateArgs),
    /// Deletes a role by ID or name.
    Delete(DeleteArgs),
    /// Lists roles.
    List(ListArgs),
}

/// The flags that link a role to policies and identities.
#[derive(Args, Debug, Default)]
pub struct RoleLinks {
    /// ID (or unique ID prefix) of a policy to use; may be repeated.
    #[arg(long = "policy-id")]
    policy_ids: Vec<String>,
    /// Name of a policy to use; may be repeated.
    #[arg(long = "policy-name")]
    policy_names: Vec<String>,
    /// A service identity, SERVICE or SERVICE:DC1,DC2; may be repeated.
    #[arg(long = "service-identity")]
    service_identities: Vec<String>,
    /// A node identity, NODE:DC; may be repeated.
    #[arg(long = "node-identity")]
    node_identities: Vec<String>,
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    #[command(flatten)]
    http: HttpArgs,
    /// The new role's name (required).
    #[arg(long)]
    name: Option<String>,
    /// A description of the role.
    #[arg(long)]
    description: Option<String>,
    #[command(flatten)]
    links: RoleLinks,
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
    /// The role's ID (or a unique prefix of it).
    #[arg(long)]
    id: Option<String>,
    /// The role's name.
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
    /// The role's ID (or a unique prefix of it).
    #[arg(long)]
    id: Option<String>,
    /// A new name.
    #[arg(long)]
    name: Option<String>,
    /// A new description.
    #[arg(long)]
    description: Option<String>,
    /// Policies and identities to add (or, with -no-merge, to set).
    #[command(flatten)]
    links: RoleLinks,
    /// Replace every field instead of merging with the current role.
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
    /// The role's ID (or a unique prefix of it).
    #[arg(long)]
    id: Option<String>,
    /// The role's name.
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

/// Runs a `role` subcommand.
///
/// # Errors
/// Consul's messages, as [`super::Failed`].
pub async fn run(cmd: RoleCommand) -> anyhow::Result<()> {
    match cmd {
        RoleCommand::Create(a) => create(a).await,
        RoleCommand::Read(a) => read(a).await,
        RoleCommand::Update(a) => update(a).await,
        RoleCommand::Delete(a) => delete(a).await,
        RoleCommand::List(a) => list(a).await,
    }
}

fn given(s: &Option<String>) -> Option<&str> {
    s.as_deref().filter(|s| !s.is_empty())
}

/// Policy links for `-policy-name` and `-policy-id` (prefixes resolved).
async fn policy_links(
    client: &Client,
    http: &HttpArgs,
    links: &RoleLinks,
) -> anyhow::Result<Vec<Link>> {
    let mut out: Vec<Link> = links
        .policy_names
        .iter()
        .map(|n| Link::by_name(n))
        .collect();
    for p in &links.policy_ids {
        let id = policy_id(client, http, p)
            .await
            .map_err(|e| fail(format!("Error resolving policy ID {p}: {e}")))?;
        out.push(Link::by_id(&id));
    }
    Ok(out)
}

/// `GET /v1/acl/role/name/<name>`.
async fn by_name(client: &Client, http: &HttpArgs, name: &str) -> anyhow::Result<Role> {
    client
        .get_typed(
            &format!("/v1/acl/role/name/{}", seg(name)),
            &http.dc_query(),
        )
        .await
        .map_err(|e| match e {
            ClientError::Http { status: 404, .. } => {
                fail(format!("Role not found with name {name:?}"))
            }
            e => fail(format!("Error reading role {name:?}: {}", api_error(&e))),
        })
}

async fn create(a: CreateArgs) -> anyhow::Result<()> {
    let Some(name) = given(&a.name) else {
        return Err(fail("Missing require '-name' flag"));
    };
    let l = &a.links;
    if l.policy_ids.is_empty()
        && l.policy_names.is_empty()
        && l.service_identities.is_empty()
        && l.node_identities.is_empty()
    {
        return Err(fail(
            "Cannot create a role without specifying -policy-name, -policy-id, \
             -service-identity, or -node-identity at least once",
        ));
    }
    let fmt = parse_format(&a.format)?;
    let client = client(&a.http)?;
    let r = Role {
        name: name.to_owned(),
        description: a.description.clone().unwrap_or_default(),
        policies: policy_links(&client, &a.http, l).await?,
        service_identities: service_identities(&l.service_identities)?,
        node_identities: node_identities(&l.node_identities)?,
        ..Role::default()
    };
    let created: Role = client
        .put_typed("/v1/acl/role", &a.http.dc_query(), Some(&request_body(&r)))
        .await
        .map_err(|e| fail(format!("Failed to create new role: {}", api_error(&e))))?;
    emit(fmt, &created, |r| format::role(r, a.meta))
}

async fn read(a: ReadArgs) -> anyhow::Result<()> {
    let fmt = parse_format(&a.format)?;
    let (id, name) = (given(&a.id), given(&a.name));
    let client = match (id, name) {
        (None, None) => return Err(fail("Must specify either the -id or -name parameters")),
        _ => client(&a.http)?,
    };
    let r = match (id, name) {
        (Some(partial), _) => {
            let id = role_id(&client, &a.http, partial)
                .await
                .map_err(|e| fail(format!("Error determining role ID: {e}")))?;
            client
                .get_typed(&format!("/v1/acl/role/{}", seg(&id)), &a.http.dc_query())
                .await
                .map_err(|e| match e {
                    ClientError::Http { status: 404, .. } => {
                        fail(format!("Role not found with ID {id:?}"))
                    }
                    e => fail(format!("Error reading role {id:?}: {}", api_error(&e))),
                })?
        }
        (None, Some(name)) => by_name(&client, &a.http, name).await?,
        (None, None) => return Ok(()),
    };
    emit(fmt, &r, |r| format::role(r, a.meta))
}

async fn update(a: UpdateArgs) -> anyhow::Result<()> {
    let Some(partial) = given(&a.id) else {
        return Err(fail(
            "Cannot update a role without specifying the -id parameter",
        ));
    };
    let fmt = parse_format(&a.format)?;
    let client = client(&a.http)?;
    let id = role_id(&client, &a.http, partial)
        .await
        .map_err(|e| fail(format!("Error determining role ID: {e}")))?;
    let services = service_identities(&a.links.service_identities)?;
    let nodes = node_identities(&a.links.node_identities)?;
    let current: Role = client
        .get_typed(&format!("/v1/acl/role/{}", seg(&id)), &a.http.dc_query())
        .await
        .map_err(|e| match e {
            ClientError::Http { status: 404, .. } => fail(format!("Role not found with ID {id:?}")),
            e => fail(format!(
                "Error when retrieving current role: {}",
                api_error(&e)
            )),
        })?;
    let policies = policy_links(&client, &a.http, &a.links).await?;
    let r = if a.no_merge {
        Role {
            id: id.clone(),
            name: a.name.unwrap_or_default(),
            description: a.description.unwrap_or_default(),
            policies,
            service_identities: services,
            node_identities: nodes,
            ..Role::default()
        }
    } else {
        let mut r = current;
        if let Some(n) = a.name.filter(|n| !n.is_empty()) {
            r.name = n;
        }
        if let Some(d) = a.description.filter(|d| !d.is_empty()) {
            r.description = d;
        }
        for p in policies {
            let known = r.policies.iter().any(|l| {
                (!p.id.is_empty() && l.id == p.id) || (!p.name.is_empty() && l.name == p.name)
            });
            if !known {
                r.policies.push(p);
            }
        }
        for s in services {
            match r
                .service_identities
                .iter_mut()
                .find(|x| x.service_name == s.service_name)
            {
                Some(x) => *x = s,
                None => r.service_identities.push(s),
            }
        }
        for n in nodes {
            if !r.node_identities.contains(&n) {
                r.node_identities.push(n);
            }
        }
        r
    };
    let updated: Role = client
        .put_typed(
            &format!("/v1/acl/role/{}", seg(&id)),
            &a.http.dc_query(),
            Some(&request_body(&r)),
        )
        .await
        .map_err(|e| fail(format!("Error updating role {id:?}: {}", api_error(&e))))?;
    emit(fmt, &updated, |r| format::role(r, a.meta))
}

async fn delete(a: DeleteArgs) -> anyhow::Result<()> {
    let (id, name) = (given(&a.id), given(&a.name));
    let client = match (id, name) {
        (None, None) => return Err(fail("Must specify the -id or -name parameters")),
        _ => client(&a.http)?,
    };
    let found = match (id, name) {
        (Some(partial), _) => role_id(&client, &a.http, partial).await,
        (None, Some(name)) => {
            let roles: Vec<Role> = client
                .get_typed("/v1/acl/roles", &a.http.dc_query())
                .await
                .map_err(|e| fail(format!("Error determining role ID: {}", api_error(&e))))?;
            roles
                .into_iter()
                .find(|r| r.name == name)
                .map(|r| r.id)
                .ok_or_else(|| format!("No such role with name {name}"))
        }
        (None, None) => return Ok(()),
    };
    let id = found.map_err(|e| fail(format!("Error determining role ID: {e}")))?;
    client
        .delete_path(&format!("/v1/acl/role/{}", seg(&id)), &a.http.dc_query())
        .await
        .map_err(|e| fail(format!("Error deleting role {id:?}: {}", api_error(&e))))?;
    output::line(&format!("Role {id:?} deleted successfully"));
    Ok(())
}

async fn list(a: ListArgs) -> anyhow::Result<()> {
    let fmt = parse_format(&a.format)?;
    let client = client(&a.http)?;
    let roles: Vec<Role> = client
        .get_typed("/v1/acl/roles", &a.http.dc_query())
        .await
        .map_err(|e| {
            fail(format!(
                "Failed to retrieve the role list: {}",
                api_error(&e)
            ))
        })?;
    emit(fmt, &roles, |r| format::role_list(r, a.meta))
}
