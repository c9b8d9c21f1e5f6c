//! Prepared queries, as Consul keeps them in its state store
//! (`prepared-queries`): stored service queries run later by ID or name
//! (`/v1/query`, `<name>.query.consul`), and templates that answer every
//! name starting with their own. Written only by `Command::PreparedQuery`;
//! a query bound to a session is deleted when the session is invalidated.
//!
//! The store checks what it alone can check deterministically (the ID is
//! a UUID and free, the name is not a UUID and not taken, the session
//! exists); the syntax of templates, regexps and TTLs is checked before
//! proposing (`praetor-agent`'s prepared-query module). IDs come in the
//! command: the store never draws a random number.
//!
//! Records travel in the Raft log and in snapshots as postcard: plain
//! derives only (see `model.rs`). Never performs I/O and never reads a
//! clock.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Consul's `ServiceQuery`: which instances a query selects.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ServiceQuery {
    /// The service name.
    pub service: String,
    /// Where to look when the local datacenter has no healthy instance.
    pub failover: Failover,
    /// Drop instances with a warning check too (critical ones always go).
    pub only_passing: bool,
    /// Sort by round-trip time from this node (`_agent`: the asking agent).
    pub near: String,
    /// Tags each instance must have; `!tag`: must not have.
    pub tags: Vec<String>,
    /// Node metadata each instance's node must carry.
    pub node_meta: BTreeMap<String, String>,
    /// Service metadata each instance must carry.
    pub service_meta: BTreeMap<String, String>,
    /// Checks not considered when deciding health.
    pub ignore_check_ids: Vec<String>,
}

/// Consul's `QueryFailoverOptions`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Failover {
    /// Try up to this many other datacenters, nearest first.
    pub nearest_n: u32,
    /// Then these, in order (those already tried are skipped).
    pub datacenters: Vec<String>,
    /// Instead of both: these targets, in order.
    pub targets: Vec<FailoverTarget>,
}

/// Consul's `QueryFailoverTarget` (Partition and Namespace are Enterprise
/// and not kept).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FailoverTarget {
    /// A cluster peer (refused before proposing: Praetor has no peering).
    pub peer: String,
    /// A datacenter.
    pub datacenter: String,
}

/// Consul's `QueryTemplateOptions`; a query has one only when it is a
/// template.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct QueryTemplate {
    /// `name_prefix_match`, the only kind.
    pub kind: String,
    /// Matched against the whole name being resolved (`${match(N)}`).
    pub regexp: String,
    /// Drop tags that interpolate to the empty string.
    pub remove_empty_tags: bool,
}

/// One prepared query.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PreparedQuery {
    /// A UUID, chosen by whoever proposes the create.
    pub id: String,
    /// Optional; unique; never a UUID. For a template, the prefix it answers.
    pub name: String,
    /// A session whose invalidation deletes this query ("": none).
    pub session: String,
    /// The token execution acts with ("": the caller's).
    pub token: String,
    pub service: ServiceQuery,
    /// `DNS.TTL`, a Go duration or "".
    pub dns_ttl: String,
    /// Set for a template.
    pub template: Option<QueryTemplate>,
    pub create_index: u64,
    pub modify_index: u64,
}

impl PreparedQuery {
    /// What the query's ACL rules are matched against (Consul's
    /// `GetACLPrefix`): its name when it has one or is a template; `None`
    /// for a static query without a name, which only its ID reaches.
    pub fn acl_prefix(&self) -> Option<&str> {
        (!self.name.is_empty() || self.template.is_some()).then_some(self.name.as_str())
    }
}

/// A change to the prepared queries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum QueryCommand {
    /// Creates a query with a new ID (`POST /v1/query`).
    Create(PreparedQuery),
    /// Replaces the query with this ID, keeping its CreateIndex
    /// (`PUT /v1/query/<id>`).
    Update(PreparedQuery),
    /// Deletes a query (`DELETE /v1/query/<id>`); `false` when absent.
    Delete { id: String },
}

impl QueryCommand {
    /// About how many bytes the command takes in a log entry (for the
    /// proposer's batch budget).
    pub fn approx_size(&self) -> usize {
        let q = match self {
            QueryCommand::Create(q) | QueryCommand::Update(q) => q,
            QueryCommand::Delete { id } => return 16 + id.len(),
        };
        let s = &q.service;
        let list = |v: &[String]| v.iter().map(|x| x.len() + 2).sum::<usize>();
        let map = |m: &BTreeMap<String, String>| {
            m.iter().map(|(k, v)| k.len() + v.len() + 4).sum::<usize>()
        };
        128 + q.id.len()
            + q.name.len()
            + q.session.len()
            + q.token.len()
            + q.dns_ttl.len()
            + s.service.len()
            + s.near.len()
            + list(&s.tags)
            + list(&s.ignore_check_ids)
            + list(&s.failover.datacenters)
            + map(&s.node_meta)
            + map(&s.service_meta)
            + s.failover
                .targets
                .iter()
                .map(|t| t.peer.len() + t.datacenter.len() + 4)
                .sum::<usize>()
            + q.template
                .as_ref()
                .map_or(0, |t| t.kind.len() + t.regexp.len() + 4)
    }

    /// A short name for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            QueryCommand::Create(_) => "query_create",
            QueryCommand::Update(_) => "query_update",
            QueryCommand::Delete { .. } => "query_delete",
        }
    }
}

/// What a stored token reads as to a caller that may not see it (Consul's
/// redaction). An update carrying it keeps the stored token, so a query
/// read and written back unchanged keeps acting with its token.
pub const REDACTED_TOKEN: &str = "<hidden>";

/// Consul's wording for a query that is not there.
pub const NOT_FOUND: &str = "Query not found";

/// Whether `s` is a UUID in its textual 8-4-4-4-12 hex form (either case),
/// as Consul's `uuid.ParseUUID` accepts it.
pub fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// The prepared queries by ID, and the last index that changed them.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PreparedQueries {
    by_id: BTreeMap<String, PreparedQuery>,
    index: u64,
}

impl PreparedQueries {
    /// The index a read of the queries reports: their last change, never
    /// below 1.
    pub fn index(&self) -> u64 {
        self.index.max(1)
    }

    /// Every query, in ID order.
    pub fn list(&self) -> impl Iterator<Item = &PreparedQuery> {
        self.by_id.values()
    }

    /// How many queries there are.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// The query with this ID.
    pub fn get(&self, id: &str) -> Option<&PreparedQuery> {
        self.by_id.get(id)
    }

    /// The query that answers `id_or_name`, as Consul resolves it: the
    /// query with that ID; else the query with exactly that name (static
    /// or template); else the template whose name is the longest prefix
    /// of it (a template named "" answers every name). Names are unique,
    /// so at most one query matches each step.
    pub fn resolve(&self, id_or_name: &str) -> Option<&PreparedQuery> {
        if let Some(q) = self.by_id.get(id_or_name) {
            return Some(q);
        }
        if id_or_name.is_empty() {
            // The empty name reaches no static query; only a template.
            return self
                .by_id
                .values()
                .find(|q| q.template.is_some() && q.name.is_empty());
        }
        if let Some(q) = self.by_id.values().find(|q| q.name == id_or_name) {
            return Some(q);
        }
        self.by_id
            .values()
            .filter(|q| q.template.is_some() && id_or_name.starts_with(q.name.as_str()))
            .max_by_key(|q| q.name.len())
    }

    /// Applies `cmd` at `index`; `sessions` tells whether a session
    /// exists. Returns whether anything changed, or the reason it was
    /// refused (nothing changed).
    pub(crate) fn apply(
        &mut self,
        index: u64,
        cmd: &QueryCommand,
        session_exists: impl Fn(&str) -> bool,
    ) -> Result<bool, String> {
        match cmd {
            QueryCommand::Create(q) | QueryCommand::Update(q) => {
                let create = matches!(cmd, QueryCommand::Create(_));
                if !is_uuid(&q.id) {
                    return Err(format!("query ID {:?} is not a UUID", q.id));
                }
                let existing = self.by_id.get(&q.id);
                let create_index = match (create, existing) {
                    (true, Some(_)) => {
                        return Err(format!("a query with ID {:?} already exists", q.id))
                    }
                    (true, None) => index,
                    (false, None) => {
                        return Err(format!(
                            "Cannot modify non-existent prepared query: '{}'",
                            q.id
                        ))
                    }
                    (false, Some(e)) => e.create_index,
                };
                let token = match existing {
                    Some(e) if q.token == REDACTED_TOKEN => e.token.clone(),
                    _ => q.token.clone(),
                };
                if is_uuid(&q.name) {
                    return Err("Query names cannot be UUIDs".into());
                }
                if !q.name.is_empty() || q.template.is_some() {
                    let taken = self.by_id.values().any(|o| {
                        o.id != q.id
                            && o.name == q.name
                            && (!q.name.is_empty() || o.template.is_some())
                    });
                    if taken {
                        return Err(format!("name {:?} aliases an existing query name", q.name));
                    }
                }
                if !q.session.is_empty() && !session_exists(&q.session) {
                    return Err(format!("invalid session {:?}", q.session));
                }
                self.by_id.insert(
                    q.id.clone(),
                    PreparedQuery {
                        create_index,
                        modify_index: index,
                        token,
                        ..q.clone()
                    },
                );
                self.index = index;
                Ok(true)
            }
            QueryCommand::Delete { id } => {
                let removed = self.by_id.remove(id).is_some();
                if removed {
                    self.index = index;
                }
                Ok(removed)
            }
        }
    }

    /// Deletes the queries bound to session `id` (it was invalidated).
    pub(crate) fn session_invalidated(&mut self, index: u64, id: &str) {
        let before = self.by_id.len();
        self.by_id.retain(|_, q| q.session != id);
        if self.by_id.len() != before {
            self.index = index;
        }
    }
}

#[cfg(test)]
mod tests;
