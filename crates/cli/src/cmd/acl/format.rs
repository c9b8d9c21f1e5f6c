//! The text `praetor acl …` prints, as Consul's `command/acl/*/formatter.go`
//! prints it: the `pretty` blocks (`AccessorID:       …`) and `-format=json`
//! (Go's `json.MarshalIndent` with four spaces). Pure functions from the
//! model to a `String`; printing is `output`'s.

use base64::Engine as _;
use serde::Serialize;

use super::model::{
    Link, NodeIdentity, Policy, PolicyListEntry, Role, ServiceIdentity, Token, TokenListEntry,
};

/// `-format`: Consul's two output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Pretty,
    Json,
}

impl Format {
    /// Parses `-format`'s value.
    ///
    /// # Errors
    /// Anything but `pretty` or `json`: `Unknown format: …`, as Consul says.
    pub fn parse(s: &str) -> Result<Format, String> {
        match s {
            "pretty" => Ok(Format::Pretty),
            "json" => Ok(Format::Json),
            other => Err(format!("Unknown format: {other}")),
        }
    }
}

/// `v` as Go's `json.MarshalIndent(v, "", "    ")` writes it, HTML-safe
/// escapes included (`<` is `\u003c`), without a trailing newline.
///
/// # Errors
/// Serialization failures (none for the model's types).
pub fn json<T: Serialize>(v: &T) -> Result<String, serde_json::Error> {
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    v.serialize(&mut ser)?;
    let text = String::from_utf8_lossy(&buf);
    // Outside strings JSON has none of these characters, so replacing them
    // everywhere only touches string contents, as Go's encoder does.
    Ok(text
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029"))
}

/// An RFC 3339 time as Go's `%v` prints a `time.Time` decoded from JSON:
/// `2020-05-22 18:52:31.5 +0000 UTC` (fraction without trailing zeros, and
/// `+hhmm +hhmm` for another offset). Text that is not RFC 3339 is returned
/// as it is.
pub fn go_time(rfc3339: &str) -> String {
    parse_go_time(rfc3339).unwrap_or_else(|| rfc3339.to_owned())
}

fn parse_go_time(s: &str) -> Option<String> {
    let (date, rest) = s.split_once(['T', 't'])?;
    if date.len() != 10 || rest.len() < 8 {
        return None;
    }
    let clock = rest.get(..8)?;
    let mut rest = &rest[8..];
    let mut frac = "";
    if let Some(r) = rest.strip_prefix('.') {
        let end = r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len());
        frac = &r[..end];
        rest = &r[end..];
    }
    let zone = match rest {
        "Z" | "z" | "+00:00" | "-00:00" => "+0000 UTC".to_owned(),
        z if z.len() == 6 && (z.starts_with('+') || z.starts_with('-')) && &z[3..4] == ":" => {
            let off = format!("{}{}", &z[..3], &z[4..]);
            format!("{off} {off}")
        }
        _ => return None,
    };
    let ok = |t: &str| {
        t.chars()
            .all(|c| c.is_ascii_digit() || c == '-' || c == ':')
    };
    if !ok(date) || !ok(clock) {
        return None;
    }
    let frac = frac
        .get(..frac.len().min(9))
        .unwrap_or("")
        .trim_end_matches('0');
    let dot = if frac.is_empty() { "" } else { "." };
    Some(format!("{date} {clock}{dot}{frac} {zone}"))
}

/// Go's `%x` of the bytes behind a base64 `Hash`.
fn hash_hex(b64: Option<&str>) -> String {
    let bytes = b64
        .and_then(|h| base64::engine::general_purpose::STANDARD.decode(h).ok())
        .unwrap_or_default();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn links(out: &mut String, title: &str, indent: &str, list: &[Link]) {
    if list.is_empty() {
        return;
    }
    out.push_str(&format!("{title}:\n"));
    for l in list {
        out.push_str(&format!("{indent}{} - {}\n", l.id, l.name));
    }
}

fn service_identities(out: &mut String, title: &str, indent: &str, list: &[ServiceIdentity]) {
    if list.is_empty() {
        return;
    }
    out.push_str(&format!("{title}:\n"));
    for s in list {
        let dcs = if s.datacenters.is_empty() {
            "all".to_owned()
        } else {
            s.datacenters.join(", ")
        };
        out.push_str(&format!(
            "{indent}{} (Datacenters: {dcs})\n",
            s.service_name
        ));
    }
}

fn node_identities(out: &mut String, title: &str, indent: &str, list: &[NodeIdentity]) {
    if list.is_empty() {
        return;
    }
    out.push_str(&format!("{title}:\n"));
    for n in list {
        out.push_str(&format!(
            "{indent}{} (Datacenter: {})\n",
            n.node_name, n.datacenter
        ));
    }
}

/// The fields every token block starts with, up to the metadata.
struct TokenHead<'a> {
    accessor_id: &'a str,
    secret_id: &'a str,
    partition: &'a str,
    namespace: &'a str,
    description: &'a str,
    local: bool,
    auth_method: &'a str,
    auth_method_namespace: &'a str,
    create_time: &'a str,
    expiration_time: Option<&'a str>,
    hash: Option<&'a str>,
    create_index: u64,
    modify_index: u64,
}

fn token_head(h: &TokenHead<'_>, meta: bool) -> String {
    let mut out = String::new();
    out.push_str(&format!("AccessorID:       {}\n", h.accessor_id));
    out.push_str(&format!("SecretID:         {}\n", h.secret_id));
    if !h.partition.is_empty() {
        out.push_str(&format!("Partition:        {}\n", h.partition));
    }
    if !h.namespace.is_empty() {
        out.push_str(&format!("Namespace:        {}\n", h.namespace));
    }
    out.push_str(&format!("Description:      {}\n", h.description));
    out.push_str(&format!("Local:            {}\n", h.local));
    if !h.auth_method.is_empty() {
        out.push_str(&format!(
            "Auth Method:      {} (Namespace: {})\n",
            h.auth_method, h.auth_method_namespace
        ));
    }
    let created = if h.create_time.is_empty() {
        "0001-01-01 00:00:00 +0000 UTC".to_owned()
    } else {
        go_time(h.create_time)
    };
    out.push_str(&format!("Create Time:      {created}\n"));
    if let Some(exp) = h.expiration_time.filter(|e| !e.is_empty()) {
        if !exp.starts_with("0001-01-01T00:00:00") {
            out.push_str(&format!("Expiration Time:  {}\n", go_time(exp)));
        }
    }
    if meta {
        out.push_str(&format!("Hash:             {}\n", hash_hex(h.hash)));
        out.push_str(&format!("Create Index:     {}\n", h.create_index));
        out.push_str(&format!("Modify Index:     {}\n", h.modify_index));
    }
    out
}

/// Consul's pretty block for one token (create, read, update, clone, bootstrap).
pub fn token(t: &Token, meta: bool) -> String {
    let mut out = token_head(
        &TokenHead {
            accessor_id: &t.accessor_id,
            secret_id: &t.secret_id,
            partition: &t.partition,
            namespace: &t.namespace,
            description: &t.description,
            local: t.local,
            auth_method: &t.auth_method,
            auth_method_namespace: &t.auth_method_namespace,
            create_time: &t.create_time,
            expiration_time: t.expiration_time.as_deref(),
            hash: (!t.hash.is_empty()).then_some(t.hash.as_str()),
            create_index: t.create_index,
            modify_index: t.modify_index,
        },
        meta,
    );
    links(&mut out, "Policies", "   ", &t.policies);
    links(&mut out, "Roles", "   ", &t.roles);
    service_identities(&mut out, "Service Identities", "   ", &t.service_identities);
    node_identities(&mut out, "Node Identities", "   ", &t.node_identities);
    out
}

/// Consul's pretty token list: one block per token (the same block as a
/// single token's), a blank line between.
pub fn token_list(list: &[TokenListEntry], meta: bool) -> String {
    list.iter()
        .map(|t| token(&t.as_token(), meta))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Consul's pretty block for one policy, its rules last.
pub fn policy(p: &Policy, meta: bool) -> String {
    let mut out = String::new();
    out.push_str(&format!("ID:           {}\n", p.id));
    out.push_str(&format!("Name:         {}\n", p.name));
    if !p.partition.is_empty() {
        out.push_str(&format!("Partition:    {}\n", p.partition));
    }
    if !p.namespace.is_empty() {
        out.push_str(&format!("Namespace:    {}\n", p.namespace));
    }
    out.push_str(&format!("Description:  {}\n", p.description));
    let dcs = p.datacenters.as_deref().unwrap_or_default().join(", ");
    out.push_str(&format!("Datacenters:  {dcs}\n"));
    if meta {
        out.push_str(&format!("Hash:         {}\n", hash_hex(p.hash.as_deref())));
        out.push_str(&format!("Create Index: {}\n", p.create_index));
        out.push_str(&format!("Modify Index: {}\n", p.modify_index));
    }
    out.push_str("Rules:\n");
    out.push_str(&p.rules);
    out
}

/// Consul's pretty policy list: `name:` then indented fields, per policy.
pub fn policy_list(list: &[PolicyListEntry], meta: bool) -> String {
    let mut out = String::new();
    for p in list {
        out.push_str(&format!("{}:\n", p.name));
        out.push_str(&format!("   ID:           {}\n", p.id));
        if !p.partition.is_empty() {
            out.push_str(&format!("   Partition:    {}\n", p.partition));
        }
        if !p.namespace.is_empty() {
            out.push_str(&format!("   Namespace:    {}\n", p.namespace));
        }
        out.push_str(&format!("   Description:  {}\n", p.description));
        let dcs = p.datacenters.as_deref().unwrap_or_default().join(", ");
        out.push_str(&format!("   Datacenters:  {dcs}\n"));
        if meta {
            out.push_str(&format!(
                "   Hash:         {}\n",
                hash_hex(p.hash.as_deref())
            ));
            out.push_str(&format!("   Create Index: {}\n", p.create_index));
            out.push_str(&format!("   Modify Index: {}\n", p.modify_index));
        }
    }
    out
}

/// Consul's pretty block for one role.
pub fn role(r: &Role, meta: bool) -> String {
    let mut out = String::new();
    out.push_str(&format!("ID:           {}\n", r.id));
    out.push_str(&format!("Name:         {}\n", r.name));
    if !r.partition.is_empty() {
        out.push_str(&format!("Partition:    {}\n", r.partition));
    }
    if !r.namespace.is_empty() {
        out.push_str(&format!("Namespace:    {}\n", r.namespace));
    }
    out.push_str(&format!("Description:  {}\n", r.description));
    if meta {
        out.push_str(&format!("Hash:         {}\n", hash_hex(r.hash.as_deref())));
        out.push_str(&format!("Create Index: {}\n", r.create_index));
        out.push_str(&format!("Modify Index: {}\n", r.modify_index));
    }
    links(&mut out, "Policies", "   ", &r.policies);
    service_identities(&mut out, "Service Identities", "   ", &r.service_identities);
    node_identities(&mut out, "Node Identities", "   ", &r.node_identities);
    out
}

/// Consul's pretty role list: `name:` then fields indented by three.
pub fn role_list(list: &[Role], meta: bool) -> String {
    let mut out = String::new();
    for r in list {
        out.push_str(&format!("{}:\n", r.name));
        out.push_str(&format!("   ID:           {}\n", r.id));
        if !r.partition.is_empty() {
            out.push_str(&format!("   Partition:    {}\n", r.partition));
        }
        if !r.namespace.is_empty() {
            out.push_str(&format!("   Namespace:    {}\n", r.namespace));
        }
        out.push_str(&format!("   Description:  {}\n", r.description));
        if meta {
            out.push_str(&format!(
                "   Hash:         {}\n",
                hash_hex(r.hash.as_deref())
            ));
            out.push_str(&format!("   Create Index: {}\n", r.create_index));
            out.push_str(&format!("   Modify Index: {}\n", r.modify_index));
        }
        links(&mut out, "   Policies", "      ", &r.policies);
        service_identities(
            &mut out,
            "   Service Identities",
            "      ",
            &r.service_identities,
        );
        node_identities(&mut out, "   Node Identities", "      ", &r.node_identities);
    }
    out
}

#[cfg(test)]
mod tests;
