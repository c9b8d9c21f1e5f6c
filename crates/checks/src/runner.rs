//! A check's owner task and its handle. The task alone holds the check's
//! status and output; it probes on its interval (or, for TTL and alias
//! checks, waits for inputs) and reports changes on a bounded channel. It
//! never waits on that channel: an update that finds the channel full is
//! kept (only the newest) and delivered when there is room, while the check
//! runs on.

use std::future::Future;
use std::time::Duration;

use rand::Rng;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::{sleep_until, Instant};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::alias::{self, AliasView};
use crate::damper::Damper;
use crate::definition::{CheckId, Definition, Kind, Status, Update};
use crate::error::CheckError;
use crate::grpc::{GrpcProbe, GrpcTls};
use crate::http::{HttpProbe, HttpSpec};
use crate::output::{cap_output, go_duration};
use crate::tls::Trust;
use crate::{script, tcp, udp};

/// The first probe runs at a random point within the interval, as Consul's
/// `RandomStagger`, but never later than this after the start.
pub const MAX_INITIAL_STAGGER: Duration = Duration::from_secs(5);

/// Extra time a probe gets past its own timeout before the runner gives up
/// on it (each probe enforces its timeout itself; this is the backstop, and
/// leaves a script's kill and reap room to finish).
const PROBE_GRACE: Duration = Duration::from_secs(5);

/// The handle of a running check.
///
/// Dropping it (or [`Runner::stop`]) stops the check; cancelling the token
/// given to [`Runner::spawn`] stops every runner spawned with it.
#[derive(Debug)]
pub struct Runner {
    id: CheckId,
    kind: &'static str,
    input: Input,
    stop: CancellationToken,
    task: Option<JoinHandle<()>>,
}

/// How a runner is fed from outside, if at all.
#[derive(Debug)]
enum Input {
    Probed,
    Ttl(watch::Sender<Option<(Status, String)>>),
    Alias(watch::Sender<Option<AliasInput>>),
}

/// What an alias check is fed: the aliased instance's state, or why it
/// could not be read.
type AliasInput = Result<AliasView, String>;

impl Runner {
    /// Starts `def` on its own task (`tokio::spawn`). Updates go to
    /// `updates`; the runner ends when `stop` (or its own [`Runner::stop`])
    /// is cancelled, or when `updates` is closed.
    ///
    /// The status starts at `def.initial` with an empty output, and an
    /// [`Update`] is sent only when the status or output differs from the
    /// last one. When `updates` is full the runner does not wait: it keeps
    /// the newest unsent update (replacing an older unsent one, since only
    /// the latest state matters) and sends it as soon as there is room,
    /// while its checks go on on schedule.
    ///
    /// # Errors
    ///
    /// [`CheckError::InvalidDefinition`] if `def` cannot run (see
    /// [`Definition::validate`], which refuses a `tls_server_name` that is
    /// neither a DNS name nor an IP address; also an unparsable URL,
    /// method, header or gRPC target), [`CheckError::Tls`] if its TLS
    /// client cannot be built.
    /// Nothing is started then.
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime.
    pub fn spawn(
        def: Definition,
        updates: mpsc::Sender<Update>,
        stop: CancellationToken,
    ) -> Result<Runner, CheckError> {
        Self::start(def, &Trust::System, updates, stop, |task| {
            tokio::spawn(task)
        })
    }

    /// As [`Runner::spawn`], on `tasks`, so the agent's shutdown can wait
    /// for every runner.
    ///
    /// # Errors
    ///
    /// As [`Runner::spawn`].
    pub fn spawn_on(
        tasks: &TaskTracker,
        def: Definition,
        updates: mpsc::Sender<Update>,
        stop: CancellationToken,
    ) -> Result<Runner, CheckError> {
        Self::start(def, &Trust::System, updates, stop, |task| tasks.spawn(task))
    }

    /// As [`Runner::spawn_on`], with HTTPS and gRPC-over-TLS checks
    /// verifying servers against `trust` instead of the system's roots
    /// (for an agent that trusts its own CA for checks, as Consul's
    /// `enable_agent_tls_for_checks`).
    ///
    /// # Errors
    ///
    /// As [`Runner::spawn`].
    pub fn spawn_trusting(
        tasks: &TaskTracker,
        def: Definition,
        trust: &Trust,
        updates: mpsc::Sender<Update>,
        stop: CancellationToken,
    ) -> Result<Runner, CheckError> {
        Self::start(def, trust, updates, stop, |task| tasks.spawn(task))
    }

    fn start(
        def: Definition,
        trust: &Trust,
        updates: mpsc::Sender<Update>,
        stop: CancellationToken,
        spawn: impl FnOnce(TaskFuture) -> JoinHandle<()>,
    ) -> Result<Runner, CheckError> {
        def.validate()?;
        let stop = stop.child_token();
        let id = def.id.clone();
        let kind = def.kind.name();
        let reporter = Reporter {
            id: id.clone(),
            status: def.initial,
            output: String::new(),
            pending: None,
            max_output: def.effective_output_max_size(),
        };
        let (input, task) = match &def.kind {
            Kind::Ttl { ttl } => {
                let (tx, rx) = watch::channel(None);
                (Input::Ttl(tx), Task::Ttl { ttl: *ttl, rx })
            }
            Kind::Alias { node, service_id } => {
                let (tx, rx) = watch::channel(None);
                let task = Task::Alias {
                    node: node.clone(),
                    service_id: service_id.clone(),
                    rx,
                };
                (Input::Alias(tx), task)
            }
            _ => (
                Input::Probed,
                Task::Probed {
                    probe: Probe::new(&def, trust)?,
                    damper: Damper::new(
                        def.success_before_passing,
                        def.failures_before_warning,
                        def.failures_before_critical,
                    ),
                    interval: def.interval,
                    timeout: def.effective_timeout(),
                },
            ),
        };
        let span = tracing::info_span!("check", id = %id, kind);
        let handle = spawn(Box::pin(
            run_check(task, reporter, updates, stop.clone()).instrument(span),
        ));
        Ok(Runner {
            id,
            kind,
            input,
            stop,
            task: Some(handle),
        })
    }

    /// The check's ID.
    pub fn id(&self) -> &CheckId {
        &self.id
    }

    /// Sets a TTL check's status and output and restarts its TTL (Consul's
    /// `PUT /v1/agent/check/pass|warn|fail|update`). The output is capped
    /// at the check's limit. Updates coming faster than the runner takes
    /// them are merged: the newest wins.
    ///
    /// # Errors
    ///
    /// [`CheckError::WrongKind`] for a check that is not a TTL check,
    /// [`CheckError::Stopped`] once the runner has ended.
    pub fn ttl_update(&self, status: Status, output: String) -> Result<(), CheckError> {
        let Input::Ttl(tx) = &self.input else {
            return Err(self.wrong_kind("ttl"));
        };
        tx.send(Some((status, output)))
            .map_err(|_| CheckError::Stopped {
                id: self.id.clone(),
            })
    }

    /// Gives an alias check the aliased instance's current state; its
    /// status follows at once (see [`AliasView`]). Call it on every change
    /// of the aliased service or its node's checks.
    ///
    /// # Errors
    ///
    /// [`CheckError::WrongKind`] for a check that is not an alias check,
    /// [`CheckError::Stopped`] once the runner has ended.
    pub fn alias_update(&self, view: AliasView) -> Result<(), CheckError> {
        let Input::Alias(tx) = &self.input else {
            return Err(self.wrong_kind("alias"));
        };
        tx.send(Some(Ok(view))).map_err(|_| CheckError::Stopped {
            id: self.id.clone(),
        })
    }

    /// Tells an alias check that the aliased instance's state could not be
    /// read (`reason`); it turns critical with Consul's output
    /// `Failure checking aliased node or service: <reason>` until the next
    /// [`Runner::alias_update`].
    ///
    /// # Errors
    ///
    /// As [`Runner::alias_update`].
    pub fn alias_unreachable(&self, reason: String) -> Result<(), CheckError> {
        let Input::Alias(tx) = &self.input else {
            return Err(self.wrong_kind("alias"));
        };
        tx.send(Some(Err(reason))).map_err(|_| CheckError::Stopped {
            id: self.id.clone(),
        })
    }

    /// Stops the check without waiting for its task; a probe in flight is
    /// abandoned (a script's process group is killed).
    pub fn stop(self) {
        self.stop.cancel();
    }

    /// Stops the check and waits for its task to end: after this returns,
    /// it sends no more updates (so a replacement runner for the same ID
    /// cannot be overtaken by the old one).
    pub async fn shutdown(mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            if let Err(e) = task.await {
                tracing::error!(check = %self.id, error = %e, "check runner task failed");
            }
        }
    }

    fn wrong_kind(&self, expected: &'static str) -> CheckError {
        CheckError::WrongKind {
            id: self.id.clone(),
            kind: self.kind,
            expected,
        }
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// What one check's task does.
enum Task {
    Probed {
        probe: Probe,
        damper: Damper,
        interval: Duration,
        timeout: Duration,
    },
    Ttl {
        ttl: Duration,
        rx: watch::Receiver<Option<(Status, String)>>,
    },
    Alias {
        node: Option<String>,
        service_id: String,
        rx: watch::Receiver<Option<AliasInput>>,
    },
}

/// A runner's task, boxed so either spawner takes it.
type TaskFuture = std::pin::Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// The probe of an interval check, parsed once.
enum Probe {
    Http(Box<HttpProbe>),
    Tcp(String),
    Udp(String),
    Script(Vec<String>, usize),
    Grpc(Box<GrpcProbe>),
}

impl Probe {
    fn new(def: &Definition, trust: &Trust) -> Result<Probe, CheckError> {
        let timeout = def.effective_timeout();
        Ok(match &def.kind {
            Kind::Http {
                url,
                method,
                header,
                body,
                tls_skip_verify,
                tls_server_name,
                disable_redirects,
            } => Probe::Http(Box::new(HttpProbe::new(
                &def.id,
                HttpSpec {
                    url,
                    method,
                    header,
                    body: body.as_deref(),
                    tls_skip_verify: *tls_skip_verify,
                    tls_server_name,
                    disable_redirects: *disable_redirects,
                },
                trust,
                timeout,
                def.effective_output_max_size(),
            )?)),
            Kind::Tcp { addr } => Probe::Tcp(addr.clone()),
            Kind::Udp { addr } => Probe::Udp(addr.clone()),
            Kind::Script { args } => Probe::Script(args.clone(), def.effective_output_max_size()),
            Kind::Grpc {
                target,
                tls,
                tls_skip_verify,
                tls_server_name,
            } => Probe::Grpc(Box::new(GrpcProbe::new(
                &def.id,
                target,
                GrpcTls {
                    use_tls: *tls,
                    skip_verify: *tls_skip_verify,
                    server_name: tls_server_name,
                    trust,
                },
                timeout,
            )?)),
            Kind::Ttl { .. } | Kind::Alias { .. } => {
                unreachable!("TTL and alias checks have no probe")
            }
        })
    }

    async fn run(&self, timeout: Duration) -> (Status, String) {
        match self {
            Probe::Http(http) => http.run().await,
            Probe::Tcp(addr) => tcp::probe(addr, timeout).await,
            Probe::Udp(addr) => udp::probe(addr, timeout).await,
            Probe::Script(args, max) => script::probe(args, timeout, *max).await,
            Probe::Grpc(grpc) => grpc.run().await,
        }
    }
}

/// The check's current status and output, and the update not yet sent.
struct Reporter {
    id: CheckId,
    status: Status,
    output: String,
    pending: Option<Update>,
    max_output: usize,
}

/// Whether the runner goes on after reporting.
#[derive(Debug, PartialEq, Eq)]
enum Flow {
    Continue,
    /// Nobody reads the updates any more.
    Closed,
}

impl Reporter {
    /// Takes a new status and output; queues an update if either changed.
    fn record(&mut self, updates: &mpsc::Sender<Update>, status: Status, output: String) -> Flow {
        let output = cap_output(output, self.max_output);
        if status == self.status && output == self.output {
            return Flow::Continue;
        }
        if status != self.status {
            tracing::info!(from = %self.status, to = %status, "check status changed");
        }
        self.status = status;
        self.output.clone_from(&output);
        let update = Update {
            id: self.id.clone(),
            status,
            output,
        };
        match updates.try_send(update) {
            Ok(()) => {
                self.pending = None;
                Flow::Continue
            }
            Err(mpsc::error::TrySendError::Full(update)) => {
                tracing::debug!("updates channel full; holding the newest update");
                self.pending = Some(update);
                Flow::Continue
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Flow::Closed,
        }
    }

    /// Sends the held update into a reserved slot.
    fn deliver(
        &mut self,
        permit: Result<mpsc::Permit<'_, Update>, mpsc::error::SendError<()>>,
    ) -> Flow {
        match permit {
            Ok(permit) => {
                if let Some(update) = self.pending.take() {
                    permit.send(update);
                }
                Flow::Continue
            }
            Err(_) => Flow::Closed,
        }
    }
}

/// The check's task: runs until stopped or nobody listens.
async fn run_check(
    task: Task,
    mut reporter: Reporter,
    updates: mpsc::Sender<Update>,
    stop: CancellationToken,
) {
    tracing::debug!("check runner started");
    match task {
        Task::Probed {
            probe,
            damper,
            interval,
            timeout,
        } => {
            run_probed(
                probe,
                damper,
                interval,
                timeout,
                &mut reporter,
                &updates,
                &stop,
            )
            .await
        }
        Task::Ttl { ttl, rx } => run_ttl(ttl, rx, &mut reporter, &updates, &stop).await,
        Task::Alias {
            node,
            service_id,
            rx,
        } => run_alias(node, service_id, rx, &mut reporter, &updates, &stop).await,
    }
    tracing::debug!("check runner stopped");
}

/// A random first delay within the interval, at most [`MAX_INITIAL_STAGGER`].
fn initial_stagger(interval: Duration) -> Duration {
    let bound = interval.min(MAX_INITIAL_STAGGER);
    if bound.is_zero() {
        return Duration::ZERO;
    }
    rand::thread_rng().gen_range(Duration::ZERO..bound)
}

async fn run_probed(
    probe: Probe,
    mut damper: Damper,
    interval: Duration,
    timeout: Duration,
    reporter: &mut Reporter,
    updates: &mpsc::Sender<Update>,
    stop: &CancellationToken,
) {
    let mut next = Instant::now() + initial_stagger(interval);
    loop {
        // Wait for the next run, delivering a held update meanwhile.
        loop {
            tokio::select! {
                biased;
                () = stop.cancelled() => return,
                permit = updates.reserve(), if reporter.pending.is_some() => {
                    if reporter.deliver(permit) == Flow::Closed {
                        return;
                    }
                }
                () = sleep_until(next) => break,
            }
        }
        let run = tokio::time::timeout(timeout + PROBE_GRACE, probe.run(timeout));
        tokio::pin!(run);
        let result = loop {
            tokio::select! {
                biased;
                () = stop.cancelled() => return,
                permit = updates.reserve(), if reporter.pending.is_some() => {
                    if reporter.deliver(permit) == Flow::Closed {
                        return;
                    }
                }
                result = &mut run => break result,
            }
        };
        let (status, output) = result.unwrap_or_else(|_| {
            (
                Status::Critical,
                format!(
                    "check did not finish within {}",
                    go_duration(timeout + PROBE_GRACE)
                ),
            )
        });
        tracing::debug!(%status, "probe finished");
        if let Some(status) = damper.judge(status) {
            if reporter.record(updates, status, output) == Flow::Closed {
                return;
            }
        } else {
            tracing::debug!(%status, "result held back by the flapping thresholds");
        }
        next = Instant::now() + interval;
    }
}

/// Consul's output for an expired TTL.
fn ttl_expired_output(last: &str) -> String {
    if last.is_empty() {
        "TTL expired".to_owned()
    } else {
        format!("TTL expired (last output before timeout follows): {last}")
    }
}

async fn run_ttl(
    ttl: Duration,
    mut rx: watch::Receiver<Option<(Status, String)>>,
    reporter: &mut Reporter,
    updates: &mpsc::Sender<Update>,
    stop: &CancellationToken,
) {
    // `None` once expired, until the next update restarts the TTL.
    let mut deadline = Some(Instant::now() + ttl);
    let mut last_output = String::new();
    loop {
        let expiry = deadline.unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400));
        tokio::select! {
            biased;
            () = stop.cancelled() => return,
            changed = rx.changed() => {
                if changed.is_err() {
                    return;
                }
                let Some((status, output)) = rx.borrow_and_update().clone() else {
                    continue;
                };
                let output = cap_output(output, reporter.max_output);
                last_output.clone_from(&output);
                deadline = Some(Instant::now() + ttl);
                if reporter.record(updates, status, output) == Flow::Closed {
                    return;
                }
            }
            () = sleep_until(expiry), if deadline.is_some() => {
                deadline = None;
                tracing::warn!(ttl = %go_duration(ttl), "check missed its TTL; now critical");
                let output = ttl_expired_output(&last_output);
                if reporter.record(updates, Status::Critical, output) == Flow::Closed {
                    return;
                }
            }
            permit = updates.reserve(), if reporter.pending.is_some() => {
                if reporter.deliver(permit) == Flow::Closed {
                    return;
                }
            }
        }
    }
}

async fn run_alias(
    node: Option<String>,
    service_id: String,
    mut rx: watch::Receiver<Option<AliasInput>>,
    reporter: &mut Reporter,
    updates: &mpsc::Sender<Update>,
    stop: &CancellationToken,
) {
    loop {
        tokio::select! {
            biased;
            () = stop.cancelled() => return,
            changed = rx.changed() => {
                if changed.is_err() {
                    return;
                }
                let Some(input) = rx.borrow_and_update().clone() else {
                    continue;
                };
                let (status, output) = match input {
                    Ok(view) => alias::evaluate(node.as_deref(), &service_id, &view),
                    Err(reason) => (
                        Status::Critical,
                        format!("Failure checking aliased node or service: {reason}"),
                    ),
                };
                if reporter.record(updates, status, output) == Flow::Closed {
                    return;
                }
            }
            permit = updates.reserve(), if reporter.pending.is_some() => {
                if reporter.deliver(permit) == Flow::Closed {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stagger_stays_within_the_interval_and_the_cap() {
        for _ in 0..100 {
            assert!(initial_stagger(Duration::from_millis(50)) < Duration::from_millis(50));
            assert!(initial_stagger(Duration::from_secs(60)) < MAX_INITIAL_STAGGER);
        }
        assert_eq!(initial_stagger(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn ttl_expiry_keeps_the_last_output_as_consul() {
        assert_eq!(ttl_expired_output(""), "TTL expired");
        assert_eq!(
            ttl_expired_output("ok"),
            "TTL expired (last output before timeout follows): ok"
        );
    }
}
