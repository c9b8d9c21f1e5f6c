//! The agent's side of ACLs: which token a request carries (its own, or
//! the agent's `default` token), the agent's own tokens (`acl.tokens`,
//! replaced at run time by `PUT /v1/agent/token/<type>` and kept in the
//! data dir with `enable_token_persistence`), and what a token may do on
//! this agent's own endpoints (`/v1/agent/*`), which no server serves.
//!
//! Requests that reach the store are checked by the server that serves
//! them, never here: the agent only forwards the token. For its own
//! endpoints, a server agent asks its server; a client agent resolves the
//! token through a server and keeps the answer for `acl.token_ttl`, and
//! when no server answers follows `acl.down_policy`. The `agent_recovery`
//! token may use this agent's endpoints without any server.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use praetor_server::acl::{AclError, Authz, Resolved, Token};
use praetor_server::read::AclResolve;
use praetor_server::{Consistency, QueryOpts, ServerError};
use serde::{Deserialize, Serialize};

use crate::backend::Backend;
use crate::config::{AclSettings, AclTokens, DownPolicy};

/// The file in the data dir that keeps tokens set through the API.
const TOKENS_FILE: &str = "acl-tokens.json";
/// How many resolved tokens a client agent keeps.
const CACHE_LIMIT: usize = 1024;

/// The agent tokens `PUT /v1/agent/token/<type>` sets (Consul's names;
/// the old ones are accepted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Default,
    Agent,
    AgentRecovery,
    Replication,
    Dns,
    /// Accepted and kept; Praetor registers config-file services with the
    /// agent token.
    ConfigFileRegistration,
}

impl TokenKind {
    /// The kind a URL names, with Consul's older names.
    pub fn parse(name: &str) -> Option<TokenKind> {
        Some(match name {
            "default" | "acl_token" => TokenKind::Default,
            "agent" | "acl_agent_token" => TokenKind::Agent,
            "agent_recovery" | "recovery" | "agent_master" | "acl_agent_master_token" => {
                TokenKind::AgentRecovery
            }
            "replication" | "acl_replication_token" => TokenKind::Replication,
            "dns" => TokenKind::Dns,
            "config_file_service_registration" => TokenKind::ConfigFileRegistration,
            _ => return None,
        })
    }
}

/// Tokens as persisted (Consul's `acl-tokens.json` keys).
#[derive(Debug, Default, Serialize, Deserialize)]
struct Persisted {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    default: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    agent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    agent_recovery: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    replication: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dns: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    config_file_service_registration: Option<String>,
}

/// The agent's ACL state.
pub struct AgentAcl {
    settings: AclSettings,
    datacenter: String,
    tokens: RwLock<AclTokens>,
    /// Where tokens set through the API are kept, with persistence on.
    persist: Option<PathBuf>,
    /// A client agent's resolved tokens: when resolved, and the result.
    cache: Mutex<HashMap<Token, (Instant, Arc<Authz>)>>,
    /// Bumped whenever the agent's tokens change (API or reload), so what
    /// was read with an old token (DNS answers) is not used after.
    generation: std::sync::atomic::AtomicU64,
}

impl AgentAcl {
    /// The ACL state of an agent with these settings; with persistence
    /// on, tokens kept in `data_dir` override the config's, as in Consul.
    pub fn new(
        settings: AclSettings,
        datacenter: &str,
        data_dir: Option<&std::path::Path>,
    ) -> Self {
        let persist = data_dir
            .filter(|_| settings.enable_token_persistence)
            .map(|d| d.join(TOKENS_FILE));
        let tokens = with_persisted(settings.tokens.clone(), persist.as_deref());
        AgentAcl {
            settings,
            datacenter: datacenter.to_owned(),
            tokens: RwLock::new(tokens),
            persist,
            cache: Mutex::default(),
            generation: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Changes whenever the agent's tokens change.
    pub fn tokens_generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    fn bump(&self) {
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    /// Takes the tokens of a reloaded config (SIGHUP); tokens kept in the
    /// data dir still win, as in Consul. Other ACL settings need a restart.
    pub fn reload(&self, tokens: AclTokens) {
        let tokens = with_persisted(tokens, self.persist.as_deref());
        *self.tokens.write().unwrap_or_else(|p| p.into_inner()) = tokens;
        self.bump();
    }

    /// ACLs off: every request is allowed.
    pub fn disabled() -> AgentAcl {
        AgentAcl::new(AclSettings::default(), "", None)
    }

    /// Whether ACLs are enabled.
    pub fn enabled(&self) -> bool {
        self.settings.enabled
    }

    /// The settings.
    pub fn settings(&self) -> &AclSettings {
        &self.settings
    }

    fn tokens(&self) -> std::sync::RwLockReadGuard<'_, AclTokens> {
        self.tokens.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The token of a request: the one it carries, else the agent's
    /// `default` token, else none (anonymous).
    pub fn caller(&self, given: Option<&str>) -> Token {
        match given.filter(|s| !s.is_empty()) {
            Some(secret) => Token::new(secret),
            None => self.default_token(),
        }
    }

    /// The `default` token (anonymous when unset).
    pub fn default_token(&self) -> Token {
        self.tokens()
            .default
            .clone()
            .map_or_else(Token::anonymous, Token::new)
    }

    /// The agent's own token, for its catalog sync, checks and watches:
    /// `agent`, else `default`.
    pub fn agent_token(&self) -> Token {
        let t = self.tokens();
        t.agent
            .clone()
            .or_else(|| t.default.clone())
            .map_or_else(Token::anonymous, Token::new)
    }

    /// The token DNS answers with: `dns`, else `default`.
    pub fn dns_token(&self) -> Token {
        let t = self.tokens();
        t.dns
            .clone()
            .or_else(|| t.default.clone())
            .map_or_else(Token::anonymous, Token::new)
    }

    /// Whether `token` is this agent's `agent_recovery` token.
    pub fn is_recovery(&self, token: &Token) -> bool {
        match (token.secret(), self.tokens().agent_recovery.as_deref()) {
            (Some(given), Some(recovery)) => constant_time_eq(given, recovery),
            _ => false,
        }
    }

    /// Replaces one of the agent's tokens (and keeps it, with persistence).
    ///
    /// # Errors
    /// When the tokens file cannot be written; the token is set anyway.
    pub fn set_token(&self, kind: TokenKind, secret: &str) -> std::io::Result<()> {
        let value = (!secret.is_empty()).then(|| secret.to_owned());
        {
            let mut t = self.tokens.write().unwrap_or_else(|p| p.into_inner());
            match kind {
                TokenKind::Default => t.default = value,
                TokenKind::Agent => t.agent = value,
                TokenKind::AgentRecovery => t.agent_recovery = value,
                TokenKind::Replication => t.replication = value,
                TokenKind::Dns => t.dns = value,
                TokenKind::ConfigFileRegistration => t.config_file_registration = value,
            }
        }
        self.bump();
        let Some(path) = &self.persist else {
            return Ok(());
        };
        let p = {
            let t = self.tokens();
            Persisted {
                default: t.default.clone(),
                agent: t.agent.clone(),
                agent_recovery: t.agent_recovery.clone(),
                replication: t.replication.clone(),
                dns: t.dns.clone(),
                config_file_service_registration: t.config_file_registration.clone(),
            }
        };
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec(&p).unwrap_or_default())?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
        }
        std::fs::rename(&tmp, path)
    }

    /// What `token` may do on this agent's own endpoints.
    ///
    /// # Errors
    /// `Acl(NotFound)` for an unknown or expired token; with `down_policy =
    /// deny` (or nothing cached), the error that kept the servers from
    /// answering.
    pub async fn authorize(
        &self,
        backend: &Backend,
        token: &Token,
    ) -> Result<Arc<Authz>, ServerError> {
        if !self.settings.enabled || self.is_recovery(token) {
            return Ok(Authz::shared_allow_all());
        }
        if let Some(server) = backend.server() {
            return server.authorize(token);
        }
        let cached = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(token)
            .cloned();
        if let Some((at, authz)) = &cached {
            if at.elapsed() < self.settings.token_ttl && !authz.expired_now() {
                return Ok(authz.clone());
            }
        }
        let read = AclResolve {
            secret: token.secret().map(str::to_owned),
            datacenter: self.datacenter.clone(),
        };
        let opts = QueryOpts {
            index: 0,
            wait: Duration::ZERO,
            consistency: Consistency::Stale,
        };
        match backend.read(token, read, opts).await {
            Ok(answered) => {
                let resolved: Resolved = answered.answer.ok_or(AclError::NotFound)?;
                let authz = Arc::new(resolved.compile(
                    self.settings.default_allow,
                    self.settings.enable_key_list_policy,
                ));
                let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
                if cache.len() >= CACHE_LIMIT {
                    cache.clear();
                }
                cache.insert(token.clone(), (Instant::now(), authz.clone()));
                Ok(authz)
            }
            Err(e @ ServerError::Acl(_)) => {
                self.cache
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(token);
                Err(e)
            }
            Err(e) => match self.settings.down_policy {
                DownPolicy::Allow => Ok(Authz::shared_allow_all()),
                DownPolicy::Deny => Err(e),
                DownPolicy::ExtendCache | DownPolicy::AsyncCache => match cached {
                    Some((_, authz)) if !authz.expired_now() => Ok(authz),
                    _ => Err(e),
                },
            },
        }
    }
}

/// `tokens` with those kept at `persist` (set through the API) over them.
fn with_persisted(mut tokens: AclTokens, persist: Option<&std::path::Path>) -> AclTokens {
    let Some(path) = persist else {
        return tokens;
    };
    match std::fs::read(path) {
        Ok(bytes) => match serde_json::from_slice::<Persisted>(&bytes) {
            Ok(p) => {
                let keep = |slot: &mut Option<String>, v: Option<String>| {
                    if v.is_some() {
                        *slot = v;
                    }
                };
                keep(&mut tokens.default, p.default);
                keep(&mut tokens.agent, p.agent);
                keep(&mut tokens.agent_recovery, p.agent_recovery);
                keep(&mut tokens.replication, p.replication);
                keep(&mut tokens.dns, p.dns);
                keep(
                    &mut tokens.config_file_registration,
                    p.config_file_service_registration,
                );
            }
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "ignoring persisted ACL tokens that do not decode")
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            tracing::warn!(file = %path.display(), error = %e, "cannot read persisted ACL tokens")
        }
    }
    tokens
}

/// Compares two secrets in time that does not depend on where they differ.
fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> AclSettings {
        AclSettings {
            enabled: true,
            enable_token_persistence: true,
            tokens: AclTokens {
                default: Some("dflt".into()),
                agent_recovery: Some("recover".into()),
                ..AclTokens::default()
            },
            ..AclSettings::default()
        }
    }

    #[test]
    fn a_request_without_a_token_is_the_default_tokens_and_the_agent_falls_back_to_it() {
        let acl = AgentAcl::new(settings(), "dc1", None);
        assert_eq!(acl.caller(None), Token::new("dflt"));
        assert_eq!(acl.caller(Some("")), Token::new("dflt"));
        assert_eq!(acl.caller(Some("mine")), Token::new("mine"));
        assert_eq!(acl.agent_token(), Token::new("dflt"));
        acl.set_token(TokenKind::Agent, "agt").unwrap();
        assert_eq!(acl.agent_token(), Token::new("agt"));
        assert!(acl.is_recovery(&Token::new("recover")));
        assert!(!acl.is_recovery(&Token::new("recovex")));
        assert!(!acl.is_recovery(&Token::anonymous()));
    }

    #[test]
    fn tokens_set_through_the_api_survive_a_restart_with_persistence() {
        let dir = tempfile::tempdir().unwrap();
        let acl = AgentAcl::new(settings(), "dc1", Some(dir.path()));
        acl.set_token(TokenKind::Agent, "agt").unwrap();
        acl.set_token(TokenKind::Default, "").unwrap();
        let again = AgentAcl::new(settings(), "dc1", Some(dir.path()));
        assert_eq!(again.agent_token(), Token::new("agt"));
        // Cleared through the API: the config's value comes back.
        assert_eq!(again.default_token(), Token::new("dflt"));
        let off = AclSettings {
            enable_token_persistence: false,
            ..settings()
        };
        let fresh = AgentAcl::new(off, "dc1", Some(dir.path()));
        assert_eq!(
            fresh.agent_token(),
            Token::new("dflt"),
            "persistence off: not read"
        );
    }

    /// A client agent that no server answers follows `acl.down_policy`:
    /// extend-cache keeps using a token's last resolution, deny refuses,
    /// allow allows; an unknown token is refused under extend-cache.
    #[tokio::test(start_paused = true)]
    async fn with_no_server_answering_the_down_policy_decides() {
        use praetor_acl::{Access, Resource};
        let backend = Backend::Remote(Arc::new(crate::backend::Remote::default()));
        let known = Token::new("known");
        let resolved = Resolved {
            accessor_id: "a1".into(),
            rules: vec!["key_prefix \"app/\" { policy = \"read\" }".into()],
            ..Resolved::default()
        };
        let with = |down_policy| {
            let acl = AgentAcl::new(
                AclSettings {
                    enabled: true,
                    default_allow: false,
                    down_policy,
                    token_ttl: Duration::from_secs(30),
                    ..AclSettings::default()
                },
                "dc1",
                None,
            );
            // Resolved long ago (past its TTL), as before the servers went away.
            let stale = Instant::now() - Duration::from_secs(3600);
            acl.cache.lock().unwrap().insert(
                known.clone(),
                (stale, Arc::new(resolved.compile(false, false))),
            );
            acl
        };

        let extend = with(DownPolicy::ExtendCache);
        let authz = extend.authorize(&backend, &known).await.unwrap();
        assert!(authz.allows(Resource::Key, "app/x", Access::Read));
        assert!(!authz.allows(Resource::Key, "other", Access::Read));
        assert!(
            extend
                .authorize(&backend, &Token::new("never-seen"))
                .await
                .is_err(),
            "nothing cached: refused"
        );
        assert!(with(DownPolicy::Deny)
            .authorize(&backend, &known)
            .await
            .is_err());
        let allow = with(DownPolicy::Allow)
            .authorize(&backend, &known)
            .await
            .unwrap();
        assert!(allow.allows(Resource::Key, "other", Access::Write));
    }

    #[test]
    fn token_kinds_take_consuls_names_old_and_new() {
        assert_eq!(
            TokenKind::parse("agent_master"),
            Some(TokenKind::AgentRecovery)
        );
        assert_eq!(TokenKind::parse("acl_token"), Some(TokenKind::Default));
        assert_eq!(TokenKind::parse("nope"), None);
    }
}
