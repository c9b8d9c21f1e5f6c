//! Serving reads: which server may answer with which consistency (the
//! leader's read lease), forwarding to the leader, and Consul's blocking
//! queries (wait while the answer's index is at most the client's, with
//! jitter, until a change, the wait's end, a restore or shutdown), woken
//! only by writes to what the read depends on (`wake`). Counts the
//! blocking queries held open (`consul.rpc.queries_blocking`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use openraft::error::{CheckIsLeaderError, RaftError};
use praetor_store::{Interest, Table};
use rand::Rng;

use super::{answer_of, Answered, QueryOpts};
use crate::acl::{Guarded, Token};
use crate::{rpc, Consistency, ReadMeta, Server, ServerError};

/// Counts one blocking query as open for as long as it lives.
struct OpenQuery<'a>(&'a AtomicUsize);

impl<'a> OpenQuery<'a> {
    fn new(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        OpenQuery(count)
    }
}

impl Drop for OpenQuery<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The wait with its jitter (up to 1/16 of it, as Consul adds).
pub(crate) fn jittered(wait: Duration) -> Duration {
    let jitter = wait.as_millis() as u64 / 16;
    let jitter = if jitter > 0 {
        rand::thread_rng().gen_range(0..=jitter)
    } else {
        0
    };
    wait + Duration::from_millis(jitter)
}

impl Server {
    /// Answers `r` for the caller with `token` as `opts` asks: here when
    /// this server may (a stale read,
    /// or this server leads), otherwise on the leader over RPC. A read with
    /// an index blocks until its answer's index passes it, the wait runs
    /// out, or the agent stops; then it answers with what there is. A
    /// blocking read served by a leader that loses its lease meanwhile is
    /// not answered from its frozen store: it starts again where a leader
    /// is.
    ///
    /// The token is checked where the read is evaluated, on every
    /// evaluation of a blocking query: the answer holds only what the token
    /// may see (`filtered` says when something was left out), and a token
    /// deleted or expired while the query waits ends it with "ACL not
    /// found".
    ///
    /// # Errors
    /// As `read_access`; `Forward` when the leader could not be reached;
    /// `UnexpectedAnswer` when the leader answered another read; `Acl`
    /// when the token is unknown or may not make this read.
    pub async fn read<R: Guarded>(
        &self,
        token: &Token,
        r: &R,
        opts: QueryOpts,
    ) -> Result<Answered<R::Answer>, ServerError> {
        self.metrics.query_received();
        let started = tokio::time::Instant::now();
        let total = opts.wait;
        // Reads are idempotent: one that meets an election (the leader
        // lost its lease, or died with the read in flight) is served again
        // where the new leader is, for at most the leader wait beyond the
        // query's own wait, as Consul holds an RPC for `rpc_hold_timeout`.
        let give_up = started + jittered(total) + self.leader_wait;
        let mut opts = opts;
        loop {
            let retryable = match self.read_access(opts.consistency).await {
                Ok(meta) => {
                    let leased = opts.consistency != Consistency::Stale;
                    match self.block(token, r, opts, meta, leased).await? {
                        Some(answered) => return Ok(answered),
                        None => {
                            tracing::debug!(
                                "lost the lease during a blocking query; serving it again"
                            );
                            ServerError::NoLeader
                        }
                    }
                }
                Err(ServerError::NotLeader {
                    leader: Some(leader),
                }) => {
                    let timeout = jittered(opts.wait) + self.leader_wait + Duration::from_secs(2);
                    let req = rpc::Request::Query(r.clone().into(), opts, token.clone());
                    match self.call_leader(leader, req, timeout).await {
                        Ok(rpc::Reply::Query(Ok(wire))) => return answer_of(r, wire),
                        Ok(rpc::Reply::Query(Err(
                            rpc::WireError::NoLeader | rpc::WireError::NotLeader(_),
                        ))) => ServerError::NoLeader,
                        Ok(rpc::Reply::Query(Err(e))) => return Err(e.into()),
                        Ok(other) => {
                            return Err(ServerError::Forward(format!(
                                "the leader answered a read with {}",
                                other.kind()
                            )))
                        }
                        Err(e @ rpc::RpcError::TooLarge { .. }) => {
                            return Err(ServerError::TooLarge(e.to_string()))
                        }
                        Err(e) => ServerError::Forward(e.to_string()),
                    }
                }
                Err(e) => return Err(e),
            };
            let now = tokio::time::Instant::now();
            if now >= give_up {
                return Err(retryable);
            }
            tracing::debug!(error = %retryable, "read met an election; serving it again");
            tokio::time::sleep_until(give_up.min(now + Duration::from_millis(50))).await;
            opts.wait = total.saturating_sub(started.elapsed());
        }
    }

    /// Makes this server fit to serve a read with `consistency`, waiting a
    /// bounded time for a leader.
    ///
    /// # Errors
    /// `NoLeader` when no leader appears in time; `NotLeader` when another
    /// server must serve a default or consistent read.
    pub async fn read_access(&self, consistency: Consistency) -> Result<ReadMeta, ServerError> {
        let leading = ReadMeta {
            known_leader: true,
            last_contact_ms: 0,
        };
        let deadline = tokio::time::Instant::now() + self.leader_wait;
        match consistency {
            Consistency::Stale => Ok(self.read_meta()),
            Consistency::Default => match self.wait_for_leader(deadline).await {
                Some(l) if l == self.id => {
                    self.wait_established(deadline).await;
                    Ok(leading)
                }
                Some(l) => Err(ServerError::NotLeader { leader: Some(l) }),
                None => Err(ServerError::NoLeader),
            },
            Consistency::Consistent => loop {
                let attempt = tokio::time::timeout_at(deadline, self.raft.ensure_linearizable());
                match attempt.await {
                    Err(_) => return Err(ServerError::NoLeader),
                    Ok(Ok(_)) => {
                        self.wait_established(deadline).await;
                        return Ok(leading);
                    }
                    Ok(Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f))))
                        if f.leader_id.is_some_and(|l| l != self.id) =>
                    {
                        return Err(ServerError::NotLeader {
                            leader: f.leader_id,
                        })
                    }
                    Ok(Err(RaftError::APIError(_))) => {
                        if tokio::time::Instant::now() >= deadline {
                            return Err(ServerError::NoLeader);
                        }
                        let _ = self.wait_for_leader(deadline).await;
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    Ok(Err(e)) => return Err(ServerError::Stopped(e.to_string())),
                }
            },
        }
    }

    /// What this server can tell a reader about the cluster (Consul's
    /// headers): a known leader as `leader` has it; last contact 0 on a
    /// leader with its lease, the time since the last quorum
    /// acknowledgement on a leader without, and on a follower the time
    /// since the leader was last heard from (since start if never).
    pub fn read_meta(&self) -> ReadMeta {
        let leader = self.leader();
        let last_contact = if leader == Some(self.id) {
            Duration::ZERO
        } else {
            let acked = {
                let m = self.raft.metrics();
                let m = m.borrow();
                self.leadership.since_quorum_ack(&m, self.id)
            };
            acked.unwrap_or_else(|| self.leadership.since_leader_contact())
        };
        ReadMeta {
            known_leader: leader.is_some(),
            last_contact_ms: last_contact.as_millis() as u64,
        }
    }

    /// How many blocking queries are waiting on this server now (served
    /// here, whoever asked): what a test waits on before it checks that a
    /// write does *not* wake one.
    pub fn open_blocking_queries(&self) -> usize {
        self.open_queries.load(Ordering::Relaxed)
    }

    /// How many answers blocking reads served here have built (each
    /// evaluation of a read), and how many times writes woke a waiting
    /// query: what a test compares to show a write woke only the queries
    /// it concerns.
    pub fn blocking_work(&self) -> (u64, u64) {
        (self.shared.wakers().built(), self.shared.wakers().woken())
    }

    /// Evaluates `r` for `token`, waiting while its index is at most
    /// `opts.index`. `None` when `leased` and this server lost its lease
    /// meanwhile.
    ///
    /// The query sleeps until a write touches one of the read's interests
    /// (or the ACL tables, which can end it), a restore, the wait's end or
    /// its token's expiry; woken, it looks at the read's index first and
    /// builds the answer only when that index moved.
    async fn block<R: Guarded>(
        &self,
        token: &Token,
        r: &R,
        opts: QueryOpts,
        meta: ReadMeta,
        leased: bool,
    ) -> Result<Option<Answered<R::Answer>>, ServerError> {
        // Registered before the first evaluation: a change made in between
        // leaves a stored wake, so the first wait returns at once.
        let mut interests = r.interests();
        interests.push(Interest::Table(Table::Acl));
        let waiter = self.shared.wakers().register(interests, r.resumes_from());
        let mut leading = self.leadership.subscribe();
        let restored = self.shared.read().store.restored_at();
        // Queries asking the same read of the same state share one answer.
        // (The key names the answer's type too: a typed read and the wire
        // read carrying it encode alike but answer in different types.)
        let key = postcard::to_stdvec(&r.clone().into()).ok().map(|mut k| {
            k.extend_from_slice(std::any::type_name::<R::Answer>().as_bytes());
            k
        });
        let answers = self.shared.answers();
        let eval = || -> Result<_, ServerError> {
            let st = self.shared.read();
            let authz = self.acl.authorize(&st.store, token)?;
            r.authorize(&authz, &st.store)?;
            let at = (st.store.last_index(), st.store.restored_at());
            let kept = key.as_deref().and_then(|k| answers.get(k, at));
            let (index, mut answer) = kept.unwrap_or_else(|| {
                self.shared.wakers().note_built();
                let (index, answer) = r.eval(&st.store);
                if let Some(k) = &key {
                    answers.put(k.clone(), at, index, answer.clone());
                }
                (index, answer)
            });
            let filtered = r.filter(&authz, &mut answer);
            let expires = authz.expires_ms();
            Ok((
                index,
                answer,
                filtered,
                st.store.restored_at() != restored,
                expires,
            ))
        };
        // The index alone, when the read can tell it without building its
        // answer (`None`: build it); the token is checked as in `eval`.
        let index_of = || -> Result<Option<u64>, ServerError> {
            let st = self.shared.read();
            let authz = self.acl.authorize(&st.store, token)?;
            r.authorize(&authz, &st.store)?;
            Ok(r.index(&st.store)
                .filter(|_| st.store.restored_at() == restored))
        };
        let (mut index, mut answer, mut filtered, _, expires) = eval()?;
        if opts.index > 0 && index <= opts.index {
            let _open = OpenQuery::new(&self.open_queries);
            let deadline = tokio::time::Instant::now() + jittered(opts.wait);
            // A token that expires while the query waits ends it then.
            let mut expiry = expires.map(|at| {
                let now = crate::acl::now_ms();
                tokio::time::Instant::now() + Duration::from_millis(at.saturating_sub(now))
            });
            loop {
                tokio::select! {
                    changed = tokio::time::timeout_at(deadline, waiter.changed()) => match changed {
                        Ok(()) => {}
                        Err(_) => break,
                    },
                    () = tokio::time::sleep_until(expiry.unwrap_or(deadline)), if expiry.is_some_and(|e| e < deadline) => {
                        // Once: the token is checked below; a clock that
                        // disagrees must not make this fire again at once.
                        expiry = None;
                    }
                    lost = leading.wait_for(|l| !*l), if leased => {
                        if lost.is_ok() {
                            return Ok(None);
                        }
                    }
                    () = self.stop.cancelled() => break,
                }
                if index_of()?.is_some_and(|i| i <= opts.index) {
                    continue;
                }
                let restored;
                (index, answer, filtered, restored, _) = eval()?;
                // After a snapshot restore indexes may have gone back: answer
                // now so the client resets, as Consul's blocking queries do.
                if index > opts.index || restored {
                    break;
                }
            }
        }
        if leased && !self.is_leader() {
            // The answer was built while leading, but the lease ran out
            // before it could be sent: it may already be stale.
            return Ok(None);
        }
        Ok(Some(Answered {
            meta,
            index,
            answer,
            filtered,
        }))
    }
}
