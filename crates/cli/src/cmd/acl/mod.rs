//! `praetor acl …`: Consul's ACL commands (`bootstrap`, `policy`, `token`,
//! `role`, `set-agent-token`) over Consul's `/v1/acl/*` and
//! `/v1/agent/token/*` endpoints, with Consul's flags, output and messages.
//! Owns the command line and what is printed; decides nothing about what a
//! token may do (the agent does), and never prints a token it was not asked
//! to show.

pub mod format;
pub mod model;
pub mod policy;
pub mod role;
pub mod token;

use clap::{Args, Subcommand};
use praetor_client::{Client, ClientError};
use serde::Serialize;

use self::format::Format;
use self::model::{NodeIdentity, ServiceIdentity, Token};
use super::{Failed, HttpArgs};
use crate::output;

/// The `acl` subcommands.
#[derive(Subcommand, Debug)]
pub enum AclCommand {
    /// Creates the first management token (once per cluster).
    Bootstrap(BootstrapArgs),
    /// Creates, reads, updates, deletes and lists policies.
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
    /// Creates, reads, updates, deletes, clones and lists tokens.
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// Creates, reads, updates, deletes and lists roles.
    #[command(subcommand)]
    Role(role::RoleCommand),
    /// Sets one of the agent's own tokens (PUT /v1/agent/token/<type>).
    SetAgentToken(SetAgentTokenArgs),
}

#[derive(Args, Debug)]
pub struct BootstrapArgs {
    #[command(flatten)]
    http: HttpArgs,
    /// Output format {pretty|json}.
    #[arg(long, default_value = "pretty")]
    format: String,
    /// The SecretID to bootstrap with: the value, `@file` or `-` for stdin
    /// (default: the agent generates one).
    #[arg(allow_hyphen_values = true)]
    secret: Option<String>,
}

#[derive(Args, Debug)]
pub struct SetAgentTokenArgs {
    #[command(flatten)]
    http: HttpArgs,
    /// The token's type: default, agent, recovery (agent_recovery),
    /// replication, config_file_service_registration; older names
    /// (agent_master, master, acl_token, acl_agent_token,
    /// acl_agent_master_token, acl_replication_token) are accepted.
    #[arg(value_name = "TYPE")]
    kind: Option<String>,
    /// The token: the value, `@file` or `-` for stdin.
    #[arg(id = "secret", value_name = "TOKEN", allow_hyphen_values = true)]
    secret: Option<String>,
    /// Anything more is an error, as in Consul.
    #[arg(hide = true, allow_hyphen_values = true)]
    extra: Vec<String>,
}

/// Runs an `acl` subcommand.
///
/// # Errors
/// Every failure is a [`Failed`] carrying Consul's message for it.
pub async fn run(cmd: AclCommand) -> anyhow::Result<()> {
    match cmd {
        AclCommand::Bootstrap(a) => bootstrap(a).await,
        AclCommand::Policy(c) => policy::run(c).await,
        AclCommand::Token(c) => token::run(c).await,
        AclCommand::Role(c) => role::run(c).await,
        AclCommand::SetAgentToken(a) => set_agent_token(a).await,
    }
}

/// A message to print as it is, exit code 1.
fn fail(msg: impl Into<String>) -> anyhow::Error {
    Failed(msg.into()).into()
}

/// A client error as Consul's Go client words it:
/// `Unexpected response code: 403 (Permission denied: …)`.
pub fn api_error(e: &ClientError) -> String {
    match e {
        ClientError::Http { status, body } => {
            format!("Unexpected response code: {status} ({body})")
        }
        other => other.to_string(),
    }
}

/// `HttpArgs::client` with Consul's message when it cannot be made.
fn client(http: &HttpArgs) -> anyhow::Result<Client> {
    http.client()
        .map_err(|e| fail(format!("Error connecting to Consul agent: {e:#}")))
}

/// `-format`'s value, or Consul's error for another.
fn parse_format(s: &str) -> anyhow::Result<Format> {
    Format::parse(s).map_err(fail)
}

/// Prints `value` in `format`: the pretty text (when there is any) or the
/// JSON, each followed by a newline as Consul's `UI.Info` adds one.
fn emit<T: Serialize>(
    format: Format,
    value: &T,
    pretty: impl FnOnce(&T) -> String,
) -> anyhow::Result<()> {
    let out = match format {
        Format::Pretty => pretty(value),
        Format::Json => format::json(value).map_err(|e| fail(format!("Failed to marshal: {e}")))?,
    };
    if !out.is_empty() {
        output::line(&out);
    }
    Ok(())
}

/// Consul's `LoadDataSource`: `""` is empty, `@path` a file's contents, `-`
/// stdin, anything else the value itself.
///
/// # Errors
/// The file or stdin cannot be read.
pub fn load_data_source(value: &str, stdin: &mut dyn std::io::Read) -> anyhow::Result<String> {
    if let Some(path) = value.strip_prefix('@') {
        return std::fs::read_to_string(path)
            .map_err(|e| fail(format!("Failed to read file: {e}")));
    }
    if value == "-" {
        let mut buf = String::new();
        stdin
            .read_to_string(&mut buf)
            .map_err(|e| fail(format!("Failed to read stdin: {e}")))?;
        return Ok(buf);
    }
    Ok(value.to_owned())
}

/// `-service-identity NAME[:DC1,DC2]` values, as Consul parses them.
///
/// # Errors
/// More than one `:`: `Malformed -service-identity argument: "…"`.
pub fn service_identities(raw: &[String]) -> anyhow::Result<Vec<ServiceIdentity>> {
    raw.iter()
        .map(|s| {
            let parts: Vec<&str> = s.split(':').collect();
            match parts[..] {
                [name] => Ok(ServiceIdentity {
                    service_name: name.to_owned(),
                    datacenters: Vec::new(),
                }),
                [name, dcs] => Ok(ServiceIdentity {
                    service_name: name.to_owned(),
                    datacenters: dcs.split(',').map(str::to_owned).collect(),
                }),
                _ => Err(fail(format!("Malformed -service-identity argument: {s:?}"))),
            }
        })
        .collect()
}

/// `-node-identity NODE:DC` values, as Consul parses them.
///
/// # Errors
/// Anything but exactly one `:`: `Malformed -node-identity argument: "…"`.
pub fn node_identities(raw: &[String]) -> anyhow::Result<Vec<NodeIdentity>> {
    raw.iter()
        .map(|s| match s.split(':').collect::<Vec<_>>()[..] {
            [node, dc] => Ok(NodeIdentity {
                node_name: node.to_owned(),
                datacenter: dc.to_owned(),
            }),
            _ => Err(fail(format!("Malformed -node-identity argument: {s:?}"))),
        })
        .collect()
}

/// The one ID among `ids` that starts with `partial` (Consul accepts a
/// unique prefix of a UUID wherever it takes an ID).
///
/// # Errors
/// Several match (`Partial {what} ID is not unique`) or none
/// (`No such {what} ID with prefix: …`).
pub fn unique_prefix<'a>(
    what: &str,
    partial: &str,
    ids: impl IntoIterator<Item = &'a str>,
) -> Result<String, String> {
    let mut found: Option<&str> = None;
    for id in ids {
        if id.starts_with(partial) {
            if found.is_some() {
                return Err(format!("Partial {what} ID is not unique"));
            }
            found = Some(id);
        }
    }
    found
        .map(str::to_owned)
        .ok_or_else(|| format!("No such {what} ID with prefix: {partial}"))
}

/// The AccessorID `partial` names: itself when it is a whole UUID,
/// `anonymous`'s well-known ID, or the unique match in the token list.
async fn token_accessor_id(
    client: &Client,
    http: &HttpArgs,
    partial: &str,
) -> Result<String, String> {
    if partial == "anonymous" {
        return Ok(ANONYMOUS_TOKEN_ID.to_owned());
    }
    if partial.len() == 36 {
        return Ok(partial.to_owned());
    }
    let list: Vec<model::TokenListEntry> = client
        .get_typed("/v1/acl/tokens", &http.dc_query())
        .await
        .map_err(|e| api_error(&e))?;
    unique_prefix(
        "token",
        partial,
        list.iter().map(|t| t.accessor_id.as_str()),
    )
}

/// The policy ID `partial` names: itself when whole, `global-management`'s
/// well-known ID, or the unique match in the policy list.
async fn policy_id(client: &Client, http: &HttpArgs, partial: &str) -> Result<String, String> {
    if partial == "global-management" {
        return Ok(GLOBAL_MANAGEMENT_POLICY_ID.to_owned());
    }
    if partial.len() == 36 {
        return Ok(partial.to_owned());
    }
    let list: Vec<model::PolicyListEntry> = client
        .get_typed("/v1/acl/policies", &http.dc_query())
        .await
        .map_err(|e| api_error(&e))?;
    unique_prefix("policy", partial, list.iter().map(|p| p.id.as_str()))
}

/// The role ID `partial` names: itself when whole, or the unique match.
async fn role_id(client: &Client, http: &HttpArgs, partial: &str) -> Result<String, String> {
    if partial.len() == 36 {
        return Ok(partial.to_owned());
    }
    let list: Vec<model::Role> = client
        .get_typed("/v1/acl/roles", &http.dc_query())
        .await
        .map_err(|e| api_error(&e))?;
    unique_prefix("role", partial, list.iter().map(|r| r.id.as_str()))
}

/// `v` as a request body: its JSON with `null` fields left out. Consul's
/// own client sends `"Datacenters": null` for a policy without
/// datacenters; leaving nulls out says the same to any server that treats a
/// missing field as empty, as Consul does.
pub fn request_body<T: Serialize>(v: &T) -> serde_json::Value {
    let mut value = serde_json::to_value(v).unwrap_or(serde_json::Value::Null);
    if let serde_json::Value::Object(map) = &mut value {
        map.retain(|_, field| !field.is_null());
    }
    value
}

/// Path segments are escaped so a name cannot reach another endpoint.
fn seg(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The anonymous token's AccessorID, as Consul defines it.
pub const ANONYMOUS_TOKEN_ID: &str = "00000000-0000-0000-0000-000000000002";
/// The `global-management` policy's ID, as Consul defines it.
pub const GLOBAL_MANAGEMENT_POLICY_ID: &str = "00000000-0000-0000-0000-000000000001";

async fn bootstrap(a: BootstrapArgs) -> anyhow::Result<()> {
    let fmt = parse_format(&a.format)?;
    let secret = match a.secret.as_deref() {
        Some(s) => load_data_source(s, &mut std::io::stdin())
            .map_err(|e| fail(format!("Error reading provided token: {e:#}")))?
            .trim()
            .to_owned(),
        None => String::new(),
    };
    let client = client(&a.http)?;
    #[derive(Serialize)]
    struct Body<'a> {
        #[serde(rename = "BootstrapSecret")]
        secret: &'a str,
    }
    let body = (!secret.is_empty()).then_some(Body { secret: &secret });
    let t: Token = client
        .put_typed("/v1/acl/bootstrap", &a.http.dc_query(), body.as_ref())
        .await
        .map_err(|e| fail(format!("Failed ACL bootstrapping: {}", api_error(&e))))?;
    emit(fmt, &t, |t| format::token(t, false))
}

/// The path segment of `PUT /v1/agent/token/<segment>` for a CLI type,
/// `None` for a type Consul does not know.
pub fn agent_token_path(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "default" | "acl_token" => "default",
        "agent" | "acl_agent_token" => "agent",
        "recovery" | "agent_recovery" | "master" | "agent_master" | "acl_agent_master_token" => {
            "agent_recovery"
        }
        "replication" | "acl_replication_token" => "replication",
        "config_file_service_registration" => "config_file_service_registration",
        _ => return None,
    })
}

async fn set_agent_token(a: SetAgentTokenArgs) -> anyhow::Result<()> {
    let (kind, raw) = match (a.kind.as_deref(), a.secret.as_deref(), a.extra.len()) {
        (None, _, _) => return Err(fail("Error! Missing TYPE and TOKEN arguments")),
        (Some(k), None, _) if agent_token_path(k).is_some() => {
            return Err(fail("Error! Missing TOKEN argument"))
        }
        (Some(_), None, _) => return Err(fail("Error! MISSING TYPE argument")),
        (Some(k), Some(t), 0) => (k, t),
        (Some(_), Some(_), n) => {
            return Err(fail(format!(
                "Error! Too many arguments: expected 2 got {}",
                n + 2
            )))
        }
    };
    let token =
        load_data_source(raw, &mut std::io::stdin()).map_err(|e| fail(format!("Error! {e:#}")))?;
    let client = client(&a.http)?;
    let Some(path) = agent_token_path(kind) else {
        return Err(fail("Unknown token type"));
    };
    client
        .put_value(
            &format!("/v1/agent/token/{path}"),
            &serde_json::json!({ "Token": token }),
        )
        .await
        .map_err(|e| {
            fail(format!(
                "Failed to set ACL token {kind:?}: {}",
                api_error(&e)
            ))
        })?;
    output::line(&format!("ACL token {kind:?} set successfully"));
    Ok(())
}

#[cfg(test)]
mod tests;
