//! Where an agent's reads and writes go: the server it hosts, or, on a
//! client agent, a server over RPC (port 8300), chosen among the alive
//! servers gossip reports and retried across them and across leader changes
//! for a bounded time, as Consul's client agents do.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use praetor_server::acl::{Guarded, Token};
use praetor_server::export::{ExportPiece, ExportRequest, PIECE_TIMEOUT};
use praetor_server::raft::network::Peers;
use praetor_server::rpc::{Reply, Request, RpcError, WireError};
use praetor_server::{answer_of, Answered, QueryOpts, RaftStatus, Server, ServerError};
use praetor_store::{Command, Response};
use rand::seq::SliceRandom;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long a client agent holds a request it cannot place yet, by
/// default (Consul's `performance.rpc_hold_timeout`).
pub const DEFAULT_HOLD: Duration = Duration::from_secs(7);
/// Pause between two rounds of retries.
const RETRY_PAUSE: Duration = Duration::from_millis(100);

/// How long a quick call (status, autopilot health) may take at least,
/// however short the hold.
const QUICK_CALL: Duration = Duration::from_secs(5);

/// The agent's way to the replicated state.
// One per agent, made once and shared behind an `Arc`: the size of the
// server's handle costs nothing here.
#[allow(clippy::large_enum_variant)]
pub enum Backend {
    /// This agent is a server.
    Local(Server),
    /// This agent is a client: it forwards to servers.
    Remote(Arc<Remote>),
}

impl Backend {
    /// Proposes `cmd` for the caller with `token` (the server checks what
    /// it may do); returns the index it was applied at and its answer.
    ///
    /// # Errors
    /// `NoLeader` after the leader wait, `NoServers` on a client that knows
    /// none, `Forward` when the servers could not be reached, `Acl` when
    /// the token may not.
    pub async fn write(&self, token: &Token, cmd: Command) -> Result<(u64, Response), ServerError> {
        match self {
            Backend::Local(s) => s.write_as(token, cmd).await,
            Backend::Remote(r) => {
                let reply = r
                    .call(
                        || Request::Write(cmd.clone(), token.clone()),
                        r.write_timeout(),
                        false,
                    )
                    .await?;
                match reply {
                    Reply::Write(res) => res.map_err(ServerError::from),
                    other => Err(unexpected(&other)),
                }
            }
        }
    }

    /// Answers a read for the caller with `token` (blocking when
    /// `opts.index` is set; the server leaves out what the token may not
    /// see), typed: a server that answers another read is an
    /// `UnexpectedAnswer` error, checked here once.
    ///
    /// # Errors
    /// As `write`, and `UnexpectedAnswer`.
    pub async fn read<R: Guarded>(
        &self,
        token: &Token,
        read: R,
        opts: QueryOpts,
    ) -> Result<Answered<R::Answer>, ServerError> {
        match self {
            Backend::Local(s) => s.read(token, &read, opts).await,
            Backend::Remote(r) => {
                let timeout = opts.wait + opts.wait / 16 + r.hold + Duration::from_secs(2);
                let reply = r
                    .call(
                        || Request::Query(read.clone().into(), opts, token.clone()),
                        timeout,
                        true,
                    )
                    .await?;
                match reply {
                    Reply::Query(res) => answer_of(&read, res?),
                    other => Err(unexpected(&other)),
                }
            }
        }
    }

    /// A piece of the replicated state as `GET /v1/snapshot` saves it
    /// (`praetor_server::export`). A client agent asks the server it asked
    /// before first, where the export it continues lives.
    ///
    /// # Errors
    /// As `read`.
    pub async fn snapshot_export(
        &self,
        token: &Token,
        req: ExportRequest,
    ) -> Result<ExportPiece, ServerError> {
        match self {
            Backend::Local(s) => s.snapshot_export(token, req).await,
            Backend::Remote(r) => {
                let timeout = PIECE_TIMEOUT + r.hold;
                let reply = r
                    .call(
                        || Request::SnapshotExport(req.clone(), token.clone()),
                        timeout,
                        true,
                    )
                    .await?;
                match reply {
                    Reply::SnapshotExport(res) => res.map_err(ServerError::from),
                    other => Err(unexpected(&other)),
                }
            }
        }
    }

    /// A server's view of the Raft cluster.
    ///
    /// # Errors
    /// On a client agent, when no server answers.
    pub async fn status(&self) -> Result<RaftStatus, ServerError> {
        match self {
            Backend::Local(s) => Ok(s.status()),
            Backend::Remote(r) => {
                match r.call(|| Request::Status, r.quick_timeout(), true).await? {
                    Reply::Status(s) => Ok(s),
                    other => Err(unexpected(&other)),
                }
            }
        }
    }

    /// Removes a server from the Raft configuration (on the leader).
    ///
    /// # Errors
    /// `UnknownPeer`, or as `write`.
    pub async fn remove_peer(&self, id: u64) -> Result<(), ServerError> {
        match self {
            Backend::Local(s) => s.remove_peer(id).await,
            Backend::Remote(r) => match r
                .call(|| Request::RemovePeer(id), r.write_timeout(), false)
                .await?
            {
                Reply::Done(res) => res.map_err(ServerError::from),
                other => Err(unexpected(&other)),
            },
        }
    }

    /// Hands leadership to server `target`, or to any other voter (on
    /// the leader; `POST /v1/operator/raft/transfer-leader`).
    ///
    /// # Errors
    /// As `Server::transfer_leader`.
    pub async fn transfer_leader(&self, target: Option<u64>) -> Result<u64, ServerError> {
        match self {
            Backend::Local(s) => s.transfer_leader(target).await,
            Backend::Remote(r) => {
                match r
                    .call(|| Request::TransferLeader(target), r.write_timeout(), false)
                    .await?
                {
                    Reply::Transferred(res) => res.map_err(ServerError::from),
                    other => Err(unexpected(&other)),
                }
            }
        }
    }

    /// The leader's health report (`/v1/operator/autopilot/health`).
    ///
    /// # Errors
    /// As `Server::autopilot_health`.
    pub async fn autopilot_health(
        &self,
    ) -> Result<praetor_server::autopilot_health::RaftHealth, ServerError> {
        match self {
            Backend::Local(s) => s.autopilot_health().await,
            Backend::Remote(r) => match r
                .call(|| Request::AutopilotHealth, r.quick_timeout(), true)
                .await?
            {
                Reply::AutopilotHealth(res) => res.map_err(ServerError::from),
                other => Err(unexpected(&other)),
            },
        }
    }

    /// The server this agent hosts, if it is one.
    pub fn server(&self) -> Option<&Server> {
        match self {
            Backend::Local(s) => Some(s),
            Backend::Remote(_) => None,
        }
    }
}

fn unexpected(reply: &Reply) -> ServerError {
    ServerError::Forward(format!("the server answered with {}", reply.kind()))
}

/// A client agent's servers and its connections to them.
pub struct Remote {
    /// How long a request is held while no server can take it.
    hold: Duration,
    /// How long a server may take to commit a write
    /// (`praetor_server::APPLY_TIMEOUT`).
    apply: Duration,
    /// RPC addresses of the alive servers of this datacenter (from gossip).
    servers: RwLock<Vec<SocketAddr>>,
    /// The server that answered last; tried first.
    preferred: Mutex<Option<SocketAddr>>,
    clients: Peers,
}

impl Default for Remote {
    fn default() -> Self {
        Remote {
            hold: DEFAULT_HOLD,
            apply: praetor_server::APPLY_TIMEOUT,
            servers: RwLock::default(),
            preferred: Mutex::default(),
            clients: Peers::default(),
        }
    }
}

impl Remote {
    /// A client agent's servers, reached through `dialer` (TLS when
    /// configured), with the connection tasks on `tasks`,
    /// ended by `stop` (the agent's shutdown waits for them).
    pub fn new(
        dialer: praetor_server::rpc::Dialer,
        tasks: TaskTracker,
        stop: CancellationToken,
    ) -> Self {
        Remote {
            clients: Peers::with_dialer(dialer).on(tasks, stop),
            ..Remote::default()
        }
    }

    /// Holds requests for `hold` while no server can take them
    /// (`performance.rpc_hold_timeout`).
    pub fn hold_for(mut self, hold: Duration) -> Self {
        self.hold = hold;
        self
    }

    /// How long one write call may take: the server's own wait for a
    /// leader (as long as ours), then the commit. The hold bounds only the
    /// retries, never a write a server is committing.
    fn write_timeout(&self) -> Duration {
        self.hold + self.apply.max(self.hold)
    }

    /// How long one status or health call may take.
    fn quick_timeout(&self) -> Duration {
        self.hold.max(QUICK_CALL)
    }

    /// Waits `apply` for a write's commit (tests: a silent server).
    #[cfg(test)]
    fn apply_within(mut self, apply: Duration) -> Self {
        self.apply = apply;
        self
    }

    /// Replaces the list of servers to use.
    pub fn set_servers(&self, mut servers: Vec<SocketAddr>) {
        servers.sort();
        servers.dedup();
        *self.servers.write().unwrap_or_else(|p| p.into_inner()) = servers;
    }

    /// The servers known now.
    pub fn servers(&self) -> Vec<SocketAddr> {
        self.servers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The servers to try, the preferred one first, the rest shuffled.
    fn order(&self) -> Vec<SocketAddr> {
        let mut list = self.servers();
        list.shuffle(&mut rand::thread_rng());
        let preferred = *self.preferred.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(pos) = preferred.and_then(|p| list.iter().position(|s| *s == p)) {
            list.swap(0, pos);
        }
        list
    }

    fn prefer(&self, addr: Option<SocketAddr>) {
        *self.preferred.lock().unwrap_or_else(|p| p.into_inner()) = addr;
    }

    /// [`Remote::call`] for the rest of the agent (calls for other
    /// datacenters, `federation.rs`).
    pub(crate) async fn call_any(
        &self,
        make: impl Fn() -> Request,
        timeout: Duration,
        idempotent: bool,
    ) -> Result<Reply, ServerError> {
        self.call(make, timeout, idempotent).await
    }

    /// Calls a server, trying others when one cannot be reached or answers
    /// that there is no leader (which means nothing was proposed), for at
    /// most `hold` after the first failure (a blocking read answered after
    /// minutes by a server that then died is tried elsewhere as fresh).
    /// A call that was sent and then lost is retried only
    /// when it is `idempotent` (a read): a write may have been applied, so
    /// its caller gets `OutcomeUnknown` rather than a second write.
    async fn call(
        &self,
        make: impl Fn() -> Request,
        timeout: Duration,
        idempotent: bool,
    ) -> Result<Reply, ServerError> {
        let mut deadline = None;
        let mut last: Option<ServerError> = None;
        loop {
            for addr in self.order() {
                let client = match self.clients.client(&addr.to_string()) {
                    Ok(c) => c,
                    Err(e) => {
                        last = Some(ServerError::Forward(e.to_string()));
                        continue;
                    }
                };
                match client.call(make(), timeout).await {
                    Ok(reply) if no_leader(&reply) => {
                        self.prefer(None);
                        last = Some(ServerError::NoLeader);
                        break;
                    }
                    Ok(reply) => {
                        self.prefer(Some(addr));
                        return Ok(reply);
                    }
                    Err(e @ RpcError::Connect { .. }) => {
                        self.prefer(None);
                        last = Some(ServerError::Forward(e.to_string()));
                    }
                    Err(e @ RpcError::TooLarge { .. }) => {
                        return Err(ServerError::TooLarge(e.to_string()))
                    }
                    Err(e) if idempotent => {
                        self.prefer(None);
                        last = Some(ServerError::Forward(e.to_string()));
                    }
                    // Sent, then lost or timed out: the server may have
                    // applied it, so the caller learns exactly that.
                    Err(e) => return Err(ServerError::OutcomeUnknown(e.to_string())),
                }
            }
            let now = tokio::time::Instant::now();
            if now + RETRY_PAUSE >= *deadline.get_or_insert(now + self.hold) {
                return Err(last.unwrap_or(ServerError::NoServers));
            }
            tokio::time::sleep(RETRY_PAUSE).await;
        }
    }
}

/// `true` when a server answered that there is no leader (yet): worth
/// retrying, an election is probably under way.
fn no_leader(reply: &Reply) -> bool {
    matches!(
        reply,
        Reply::Write(Err(WireError::NoLeader))
            | Reply::Query(Err(WireError::NoLeader))
            | Reply::SnapshotExport(Err(WireError::NoLeader))
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio_util::sync::CancellationToken;

    /// `PUT /v1/kv/k` as a command.
    fn put_k() -> Command {
        Command::KvSet {
            key: "k".into(),
            value: b"v".to_vec().into(),
            flags: 0,
            cas: None,
        }
    }

    /// Serves `handler` on a loopback port; a client agent's backend with
    /// `remote`'s settings reaches it. Cancel the token to stop it.
    async fn serving<H: praetor_server::rpc::Handler>(
        handler: Arc<H>,
        remote: Remote,
    ) -> (Backend, CancellationToken) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = CancellationToken::new();
        tokio::spawn(praetor_server::rpc::serve(listener, handler, stop.clone()));
        remote.set_servers(vec![addr]);
        (Backend::Remote(Arc::new(remote)), stop)
    }

    /// A server that takes writes and never answers them, and answers every
    /// read that there is no leader.
    #[derive(Default)]
    struct Silent {
        writes: AtomicUsize,
        queries: AtomicUsize,
    }

    impl praetor_server::rpc::Handler for Silent {
        async fn handle(&self, req: Request) -> Reply {
            match req {
                Request::Write(..) => {
                    self.writes.fetch_add(1, Ordering::SeqCst);
                    std::future::pending().await
                }
                Request::Query(..) => {
                    self.queries.fetch_add(1, Ordering::SeqCst);
                    Reply::Query(Err(WireError::NoLeader))
                }
                _ => Reply::Error("unexpected".into()),
            }
        }
    }

    #[tokio::test]
    async fn a_write_sent_and_never_answered_is_outcome_unknown_and_sent_once() {
        let silent = Arc::new(Silent::default());
        let remote = Remote::default()
            .hold_for(Duration::from_millis(500))
            .apply_within(Duration::from_millis(500));
        let (backend, stop) = serving(silent.clone(), remote).await;

        let r = backend
            .write(
                &Token::anonymous(),
                Command::KvSet {
                    key: "k".into(),
                    value: b"v".to_vec().into(),
                    flags: 0,
                    cas: Some(0),
                },
            )
            .await;
        assert!(
            matches!(&r, Err(ServerError::OutcomeUnknown(_))),
            "a write whose answer never came: {r:?}"
        );
        assert!(r
            .unwrap_err()
            .to_string()
            .contains("may or may not have been applied"),);
        assert_eq!(
            silent.writes.load(Ordering::SeqCst),
            1,
            "a write that may have been applied is never sent again"
        );

        // "No leader" means nothing was proposed: reads (and writes) answered
        // so are retried until the retry window closes.
        let q = backend
            .read(
                &Token::anonymous(),
                praetor_server::read::KvGet { key: "k".into() },
                praetor_server::QueryOpts {
                    index: 0,
                    wait: Duration::ZERO,
                    consistency: praetor_server::Consistency::Default,
                },
            )
            .await;
        assert!(matches!(q, Err(ServerError::NoLeader)), "{q:?}");
        assert!(silent.queries.load(Ordering::SeqCst) > 1);
        stop.cancel();
    }

    /// A server whose writes take `0` to commit.
    struct SlowCommit(Duration);

    impl praetor_server::rpc::Handler for SlowCommit {
        async fn handle(&self, req: Request) -> Reply {
            match req {
                Request::Write(..) => {
                    tokio::time::sleep(self.0).await;
                    Reply::Write(Ok((7, praetor_store::Response::Applied(true))))
                }
                _ => Reply::Error("unexpected".into()),
            }
        }
    }

    /// The hold bounds the wait for a server that can take a write, not
    /// the commit: a write slower than a short `rpc_hold_timeout` succeeds.
    #[tokio::test]
    async fn a_write_that_commits_after_the_hold_is_not_failed() {
        let remote = Remote::default().hold_for(Duration::from_millis(100));
        let (backend, stop) =
            serving(Arc::new(SlowCommit(Duration::from_millis(600))), remote).await;
        let w = backend.write(&Token::anonymous(), put_k()).await;
        assert!(matches!(w, Ok((7, _))), "{w:?}");
        stop.cancel();
    }

    /// A follower that could not reach its leader: every call is answered
    /// with the follower's own forwarding error.
    struct CutOffFollower;

    impl praetor_server::rpc::Handler for CutOffFollower {
        async fn handle(&self, req: Request) -> Reply {
            let why = WireError::from(ServerError::Forward(
                "connecting to 127.0.0.9:8300: Connection refused (os error 111)".into(),
            ));
            match req {
                Request::Write(..) => Reply::Write(Err(why)),
                Request::Query(..) => Reply::Query(Err(why)),
                _ => Reply::Error("unexpected".into()),
            }
        }
    }

    #[tokio::test]
    async fn a_followers_forwarding_error_reaches_the_client_as_one_sentence_with_one_prefix() {
        let remote = Remote::default().hold_for(Duration::from_millis(200));
        let (backend, stop) = serving(Arc::new(CutOffFollower), remote).await;
        let want = "rpc error making call: connecting to 127.0.0.9:8300: Connection refused (os error 111)";

        let w = backend
            .write(&Token::anonymous(), put_k())
            .await
            .unwrap_err();
        assert_eq!(w.to_string(), want, "a write: {w:?}");
        let q = backend
            .read(
                &Token::anonymous(),
                praetor_server::read::KvGet { key: "k".into() },
                praetor_server::QueryOpts {
                    index: 0,
                    wait: Duration::ZERO,
                    consistency: praetor_server::Consistency::Default,
                },
            )
            .await
            .unwrap_err();
        assert_eq!(q.to_string(), want, "a read: {q:?}");
        stop.cancel();
    }
}
