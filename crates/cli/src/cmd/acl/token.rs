//! `praetor acl token create|read|update|delete|list|clone`, as Consul's
//! `command/acl/token/*`: the same flags, the same requests
//! (`/v1/acl/token…`), the same output and error messages.

use clap::{Args, Subcommand};
use serde::Serialize;

use super::format;
use super::model::{Link, Token, TokenListEntry};
use super::{
    api_error, client, emit, fail, node_identities, parse_format, policy_id, request_body, role_id,
    seg, service_identities, token_accessor_id,
};
use crate::cmd::HttpArgs;
use crate::output;

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Creates a token.
    Create(CreateArgs),
    /// Reads a token.
    Read(ReadArgs),
    /// Updates a token.
    Update(UpdateArgs),
    /// Deletes a token.
    Delete(DeleteArgs),
    /// Lists tokens.
    List(ListArgs),
    /// Clones a token (new AccessorID and SecretID, same links).
    Clone(CloneArgs),
}

/// The flags that link a token to policies, roles and identities.
#[derive(Args, Debug, Default)]
pub struct LinkArgs {
    /// ID (or unique ID prefix) of a policy to use; may be repeated.
    #[arg(long = "policy-id")]
    pub policy_ids: Vec<String>,
    /// Name of a policy to use; may be repeated.
    #[arg(long = "policy-name")]
    pub policy_names: Vec<String>,
    /// ID (or unique ID prefix) of a role to use; may be repeated.
    #[arg(long = "role-id")]
    pub role_ids: Vec<String>,
    /// Name of a role to use; may be repeated.
    #[arg(long = "role-name")]
    pub role_names: Vec<String>,
    /// A service identity, SERVICE or SERVICE:DC1,DC2; may be repeated.
    #[arg(long = "service-identity")]
    pub service_identities: Vec<String>,
    /// A node identity, NODE:DC; may be repeated.
    #[arg(long = "node-identity")]
    pub node_identities: Vec<String>,
}

impl LinkArgs {
    fn is_empty(&self) -> bool {
        self.policy_ids.is_empty()
            && self.policy_names.is_empty()
            && self.role_ids.is_empty()
            && self.role_names.is_empty()
            && self.service_identities.is_empty()
            && self.node_identities.is_empty()
    }
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    #[command(flatten)]
    http: HttpArgs,
    /// Create the token with this AccessorID (a UUID; default: generated).
    #[arg(long = "accessor", alias = "accessor-id")]
    accessor: Option<String>,
    /// Create the token with this SecretID (a UUID; default: generated).
    #[arg(long = "secret", alias = "secret-id")]
    secret: Option<String>,
    /// A description of the token.
    #[arg(long)]
    description: Option<String>,
    /// Create a token local to this datacenter.
    #[arg(long)]
    local: bool,
    #[command(flatten)]
    links: LinkArgs,
    /// How long the token is valid for (a duration such as 10m or 1h).
    #[arg(long = "expires-ttl")]
    expires_ttl: Option<String>,
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
    /// The token's AccessorID (or a unique prefix of it).
    #[arg(long = "accessor-id", alias = "id")]
    accessor_id: Option<String>,
    /// Read the token this command authenticates with (by its SecretID).
    #[arg(long = "self")]
    self_: bool,
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
    /// The token's AccessorID (or a unique prefix of it).
    #[arg(long = "accessor-id", alias = "id")]
    accessor_id: Option<String>,
    /// A new description (an empty one keeps the old).
    #[arg(long)]
    description: Option<String>,
    /// Replace the token's policies, roles and identities with these.
    #[command(flatten)]
    links: LinkArgs,
    /// ID of a policy to add; may be repeated.
    #[arg(long = "append-policy-id")]
    append_policy_ids: Vec<String>,
    /// Name of a policy to add; may be repeated.
    #[arg(long = "append-policy-name")]
    append_policy_names: Vec<String>,
    /// ID of a role to add; may be repeated.
    #[arg(long = "append-role-id")]
    append_role_ids: Vec<String>,
    /// Name of a role to add; may be repeated.
    #[arg(long = "append-role-name")]
    append_role_names: Vec<String>,
    /// A service identity to add; may be repeated.
    #[arg(long = "append-service-identity")]
    append_service_identities: Vec<String>,
    /// A node identity to add; may be repeated.
    #[arg(long = "append-node-identity")]
    append_node_identities: Vec<String>,
    /// Deprecated (Consul's): add -policy-id/-policy-name instead of replacing.
    #[arg(long = "merge-policies")]
    merge_policies: bool,
    /// Deprecated (Consul's): add -role-id/-role-name instead of replacing.
    #[arg(long = "merge-roles")]
    merge_roles: bool,
    /// Deprecated (Consul's): add -service-identity instead of replacing.
    #[arg(long = "merge-service-identities")]
    merge_service_identities: bool,
    /// Deprecated (Consul's): add -node-identity instead of replacing.
    #[arg(long = "merge-node-identities")]
    merge_node_identities: bool,
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
    /// The token's AccessorID (or a unique prefix of it).
    #[arg(long = "accessor-id", alias = "id")]
    accessor_id: Option<String>,
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

#[derive(Args, Debug)]
pub struct CloneArgs {
    #[command(flatten)]
    http: HttpArgs,
    /// The AccessorID (or a unique prefix of it) of the token to clone.
    #[arg(long = "accessor-id", alias = "id")]
    accessor_id: Option<String>,
    /// A description of the new token.
    #[arg(long)]
    description: Option<String>,
    /// Output format {pretty|json}.
    #[arg(long, default_value = "pretty")]
    format: String,
}

/// Runs a `token` subcommand.
///
/// # Errors
/// Consul's messages, as [`super::Failed`].
pub async fn run(cmd: TokenCommand) -> anyhow::Result<()> {
    match cmd {
        TokenCommand::Create(a) => create(a).await,
        TokenCommand::Read(a) => read(a).await,
        TokenCommand::Update(a) => update(a).await,
        TokenCommand::Delete(a) => delete(a).await,
        TokenCommand::List(a) => list(a).await,
        TokenCommand::Clone(a) => clone(a).await,
    }
}

/// Checks a Go duration (`300ms`, `1.5h`, `2h45m`): what `-expires-ttl`
/// takes.
///
/// # Errors
/// Anything else, in Go's words.
pub fn parse_go_duration(s: &str) -> Result<(), String> {
    let bad = || format!("invalid value {s:?} for flag -expires-ttl: parse error");
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    if body == "0" {
        return Ok(());
    }
    if body.is_empty() {
        return Err(bad());
    }
    let mut rest = body;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let num = &rest[..num_end];
        if num.is_empty() || num == "." || num.matches('.').count() > 1 {
            return Err(bad());
        }
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        match &rest[..unit_end] {
            "ns" | "us" | "µs" | "μs" | "ms" | "s" | "m" | "h" => {}
            _ => return Err(bad()),
        }
        rest = &rest[unit_end..];
    }
    Ok(())
}

async fn create(a: CreateArgs) -> anyhow::Result<()> {
    if a.links.is_empty() {
        return Err(fail(
            "Cannot create a token without specifying -policy-name, -policy-id, -role-name, \
             -role-id, -service-identity, or -node-identity at least once",
        ));
    }
    if let Some(ttl) = &a.expires_ttl {
        parse_go_duration(ttl).map_err(fail)?;
    }
    let fmt = parse_format(&a.format)?;
    let client = client(&a.http)?;
    let mut t = Token {
        description: a.description.unwrap_or_default(),
        local: a.local,
        accessor_id: a.accessor.unwrap_or_default(),
        secret_id: a.secret.unwrap_or_default(),
        expiration_ttl: a
            .expires_ttl
            .filter(|t| !t.is_empty() && !t.starts_with('-') && t.trim_start_matches('+') != "0")
            .map(serde_json::Value::String),
        ..Token::default()
    };
    t.service_identities = service_identities(&a.links.service_identities)?;
    t.node_identities = node_identities(&a.links.node_identities)?;
    t.policies = a
        .links
        .policy_names
        .iter()
        .map(|n| Link::by_name(n))
        .collect();
    for p in &a.links.policy_ids {
        let id = policy_id(&client, &a.http, p)
            .await
            .map_err(|e| fail(format!("Error resolving policy ID {p}: {e}")))?;
        t.policies.push(Link::by_id(&id));
    }
    t.roles = a
        .links
        .role_names
        .iter()
        .map(|n| Link::by_name(n))
        .collect();
    for r in &a.links.role_ids {
        let id = role_id(&client, &a.http, r)
            .await
            .map_err(|e| fail(format!("Error resolving role ID {r}: {e}")))?;
        t.roles.push(Link::by_id(&id));
    }
    let created: Token = client
        .put_typed("/v1/acl/token", &a.http.dc_query(), Some(&request_body(&t)))
        .await
        .map_err(|e| fail(format!("Failed to create new token: {}", api_error(&e))))?;
    emit(fmt, &created, |t| format::token(t, a.meta))
}

async fn read(a: ReadArgs) -> anyhow::Result<()> {
    let fmt = parse_format(&a.format)?;
    let client = client(&a.http)?;
    let t: Token = if a.self_ {
        client
            .get_typed("/v1/acl/token/self", &a.http.dc_query())
            .await
            .map_err(|e| fail(format!("Error reading token: {}", api_error(&e))))?
    } else {
        let Some(partial) = a.accessor_id.as_deref().filter(|s| !s.is_empty()) else {
            return Err(fail("Must specify the -accessor-id parameter"));
        };
        let id = token_accessor_id(&client, &a.http, partial)
            .await
            .map_err(|e| fail(format!("Error determining token ID: {e}")))?;
        client
            .get_typed(&format!("/v1/acl/token/{}", seg(&id)), &a.http.dc_query())
            .await
            .map_err(|e| fail(format!("Error reading token {id:?}: {}", api_error(&e))))?
    };
    emit(fmt, &t, |t| format::token(t, a.meta))
}

/// How `update` combines given links with the token's.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Combine {
    /// -policy-id/-policy-name: the given links are the token's now.
    Replace,
    /// The -append- variants: added after the token's.
    Append,
    /// The deprecated -merge- flags: added unless already linked.
    Merge,
}

/// The token's links after `update` combines `given` with `current`.
pub fn merge_links(current: &mut Vec<Link>, given: Vec<Link>, how: Combine) {
    match how {
        Combine::Replace => *current = given,
        Combine::Append => current.extend(given),
        Combine::Merge => {
            for l in given {
                let known = current.iter().any(|c| {
                    (!l.id.is_empty() && c.id == l.id) || (!l.name.is_empty() && c.name == l.name)
                });
                if !known {
                    current.push(l);
                }
            }
        }
    }
}

async fn update(a: UpdateArgs) -> anyhow::Result<()> {
    let Some(partial) = a.accessor_id.as_deref().filter(|s| !s.is_empty()) else {
        return Err(fail(
            "Cannot update a token without specifying the -accessor-id parameter",
        ));
    };
    let fmt = parse_format(&a.format)?;
    let l = &a.links;
    if !l.service_identities.is_empty() && !a.append_service_identities.is_empty() {
        return Err(fail(
            "Cannot combine the use of service-identity flag with append-service-identity. \
             To set or overwrite existing service identities, use -service-identity. \
             To append to existing service identities, use -append-service-identity.",
        ));
    }
    if !l.node_identities.is_empty() && !a.append_node_identities.is_empty() {
        return Err(fail(
            "Cannot combine the use of node-identity flag with append-node-identity. \
             To set or overwrite existing node identities, use -node-identity. \
             To append to existing node identities, use -append-node-identity.",
        ));
    }
    let set_policies = !l.policy_ids.is_empty() || !l.policy_names.is_empty();
    if set_policies
        && !a.merge_policies
        && (!a.append_policy_ids.is_empty() || !a.append_policy_names.is_empty())
    {
        return Err(fail(
            "Cannot combine the use of policy-id/policy-name flags with append- variants. \
             To set or overwrite existing policies, use -policy-id or -policy-name. \
             To append to existing policies, use -append-policy-id or -append-policy-name.",
        ));
    }
    let set_roles = !l.role_ids.is_empty() || !l.role_names.is_empty();
    if set_roles
        && !a.merge_roles
        && (!a.append_role_ids.is_empty() || !a.append_role_names.is_empty())
    {
        return Err(fail(
            "Cannot combine the use of role-id/role-name flags with append- variants. \
             To set or overwrite existing roles, use -role-id or -role-name. \
             To append to existing roles, use -append-role-id or -append-role-name.",
        ));
    }
    let mut set_services = service_identities(&l.service_identities)?;
    let mut add_services = service_identities(&a.append_service_identities)?;
    if a.merge_service_identities {
        add_services.append(&mut set_services);
    }
    let mut set_nodes = node_identities(&l.node_identities)?;
    let mut add_nodes = node_identities(&a.append_node_identities)?;
    if a.merge_node_identities {
        add_nodes.append(&mut set_nodes);
    }

    let client = client(&a.http)?;
    let id = token_accessor_id(&client, &a.http, partial)
        .await
        .map_err(|e| fail(format!("Error determining token ID: {e}")))?;
    let mut t: Token = client
        .get_typed(&format!("/v1/acl/token/{}", seg(&id)), &a.http.dc_query())
        .await
        .map_err(|e| {
            fail(format!(
                "Error when retrieving current token: {}",
                api_error(&e)
            ))
        })?;
    if let Some(d) = a.description.filter(|d| !d.is_empty()) {
        t.description = d;
    }

    let (ids, names) = if set_policies {
        (&l.policy_ids, &l.policy_names)
    } else {
        (&a.append_policy_ids, &a.append_policy_names)
    };
    let mut policies: Vec<Link> = names.iter().map(|n| Link::by_name(n)).collect();
    for p in ids {
        let pid = policy_id(&client, &a.http, p)
            .await
            .map_err(|e| fail(format!("Error resolving policy ID {p}: {e}")))?;
        policies.push(Link::by_id(&pid));
    }
    let how = match (a.merge_policies, set_policies) {
        (true, _) => Combine::Merge,
        (false, true) => Combine::Replace,
        (false, false) => Combine::Append,
    };
    merge_links(&mut t.policies, policies, how);

    let (ids, names) = if set_roles {
        (&l.role_ids, &l.role_names)
    } else {
        (&a.append_role_ids, &a.append_role_names)
    };
    let mut roles: Vec<Link> = names.iter().map(|n| Link::by_name(n)).collect();
    for r in ids {
        let rid = role_id(&client, &a.http, r)
            .await
            .map_err(|e| fail(format!("Error resolving role ID {r}: {e}")))?;
        roles.push(Link::by_id(&rid));
    }
    let how = match (a.merge_roles, set_roles) {
        (true, _) => Combine::Merge,
        (false, true) => Combine::Replace,
        (false, false) => Combine::Append,
    };
    merge_links(&mut t.roles, roles, how);

    // As Consul: without -append-service-identity the given list replaces
    // the token's (an empty one clears it); with it, same names are replaced.
    if add_services.is_empty() && !a.merge_service_identities {
        t.service_identities = set_services;
    } else {
        for s in add_services {
            match t
                .service_identities
                .iter_mut()
                .find(|x| x.service_name == s.service_name)
            {
                Some(x) => *x = s,
                None => t.service_identities.push(s),
            }
        }
    }
    if add_nodes.is_empty() && !a.merge_node_identities {
        t.node_identities = set_nodes;
    } else {
        for n in add_nodes {
            if !t.node_identities.contains(&n) {
                t.node_identities.push(n);
            }
        }
    }

    let updated: Token = client
        .put_typed(
            &format!("/v1/acl/token/{}", seg(&id)),
            &a.http.dc_query(),
            Some(&request_body(&t)),
        )
        .await
        .map_err(|e| fail(format!("Failed to update token {id}: {}", api_error(&e))))?;
    emit(fmt, &updated, |t| format::token(t, a.meta))
}

async fn delete(a: DeleteArgs) -> anyhow::Result<()> {
    let Some(partial) = a.accessor_id.as_deref().filter(|s| !s.is_empty()) else {
        return Err(fail("Must specify the -accessor-id parameter"));
    };
    let client = client(&a.http)?;
    let id = token_accessor_id(&client, &a.http, partial)
        .await
        .map_err(|e| fail(format!("Error determining token ID: {e}")))?;
    client
        .delete_path(&format!("/v1/acl/token/{}", seg(&id)), &a.http.dc_query())
        .await
        .map_err(|e| fail(format!("Error deleting token {id:?}: {}", api_error(&e))))?;
    output::line(&format!("Token {id:?} deleted successfully"));
    Ok(())
}

async fn list(a: ListArgs) -> anyhow::Result<()> {
    let fmt = parse_format(&a.format)?;
    let client = client(&a.http)?;
    let tokens: Vec<TokenListEntry> = client
        .get_typed("/v1/acl/tokens", &a.http.dc_query())
        .await
        .map_err(|e| {
            fail(format!(
                "Failed to retrieve the token list: {}",
                api_error(&e)
            ))
        })?;
    emit(fmt, &tokens, |t| format::token_list(t, a.meta))
}

async fn clone(a: CloneArgs) -> anyhow::Result<()> {
    let Some(partial) = a.accessor_id.as_deref().filter(|s| !s.is_empty()) else {
        return Err(fail(
            "Cannot update a token without specifying the -accessor-id parameter",
        ));
    };
    let fmt = parse_format(&a.format)?;
    let client = client(&a.http)?;
    let id = token_accessor_id(&client, &a.http, partial)
        .await
        .map_err(|e| fail(format!("Error determining token Accessor ID: {e}")))?;
    #[derive(Serialize)]
    struct Body {
        #[serde(rename = "Description")]
        description: String,
    }
    let body = Body {
        description: a.description.unwrap_or_default(),
    };
    let t: Token = client
        .put_typed(
            &format!("/v1/acl/token/{}/clone", seg(&id)),
            &a.http.dc_query(),
            Some(&body),
        )
        .await
        .map_err(|e| fail(format!("Error cloning token: {}", api_error(&e))))?;
    emit(fmt, &t, |t| format::token(t, false))
}
