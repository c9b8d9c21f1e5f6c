//! What a check is: its ID, what it probes, how often, and the statuses it
//! reports. Plain data with Consul's defaults; validation happens when a
//! runner is spawned.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::CheckError;
use crate::output::DEFAULT_OUTPUT_MAX_SIZE;

/// Consul's shortest interval for probed checks; the agent raises shorter
/// ones to it (with a warning), as Consul does. Runners take what they are
/// given.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// A check's health, as Consul words it (`passing`, `warning`, `critical`
/// in JSON and in [`fmt::Display`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Healthy.
    Passing,
    /// Degraded (HTTP 429, script exit code 1, or a failure run past
    /// `failures_before_warning`).
    Warning,
    /// Failing.
    Critical,
}

impl Status {
    /// Consul's word for this status.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Passing => "passing",
            Status::Warning => "warning",
            Status::Critical => "critical",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = CheckError;

    /// Parses Consul's words, exactly (`passing`, `warning`, `critical`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "passing" => Ok(Status::Passing),
            "warning" => Ok(Status::Warning),
            "critical" => Ok(Status::Critical),
            other => Err(CheckError::UnknownStatus {
                given: other.to_owned(),
            }),
        }
    }
}

/// A check's ID (Consul's `CheckID`), unique on its agent.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CheckId(pub String);

impl fmt::Display for CheckId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for CheckId {
    fn from(s: &str) -> Self {
        CheckId(s.to_owned())
    }
}

impl From<String> for CheckId {
    fn from(s: String) -> Self {
        CheckId(s)
    }
}

/// What a check probes, and how its result becomes a status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// An HTTP request every interval: 2xx is passing, 429 warning, any
    /// other status, a timeout or a connection error critical. Output is
    /// Consul's `HTTP GET <url>: 200 OK Output: <body>`. Redirects are
    /// followed (up to 10, as Go's client) unless `disable_redirects`.
    Http {
        /// `http://` or `https://` URL.
        url: String,
        /// Request method; empty means `GET`.
        method: String,
        /// Request headers; a `Host` header sets the request's host.
        /// `User-Agent` defaults to `Consul Health Check` and `Accept` to
        /// `text/plain, text/*, */*`, as in Consul.
        header: BTreeMap<String, Vec<String>>,
        /// Request body.
        body: Option<String>,
        /// Accept any server certificate (Consul's `TLSSkipVerify`).
        tls_skip_verify: bool,
        /// The name sent as SNI and the certificate is verified against,
        /// instead of the URL's host (Consul's `TLSServerName`); empty for
        /// the URL's host. Sent as SNI with `tls_skip_verify` too.
        tls_server_name: String,
        /// Report a 3xx as it is instead of following it (Consul's
        /// `DisableRedirects`).
        disable_redirects: bool,
    },
    /// A TCP connect to `host:port` every interval: connected is passing
    /// (`TCP connect <addr>: Success`), anything else critical.
    Tcp {
        /// `host:port`.
        addr: String,
    },
    /// A datagram to `host:port` every interval, then a wait for an answer
    /// up to the timeout: an error on receive (an ICMP port unreachable) is
    /// critical; an answer or no answer at all is passing, as in Consul.
    Udp {
        /// `host:port`.
        addr: String,
    },
    /// Passive: the status is whatever was last set through
    /// [`Runner::ttl_update`](crate::Runner::ttl_update) (Consul's
    /// `/v1/agent/check/pass|warn|fail|update`), and critical when no
    /// update came within `ttl`, with Consul's output `TTL expired (last
    /// output before timeout follows): <last output>` (`TTL expired` when
    /// the last output was empty).
    Ttl {
        /// How long a set status holds.
        ttl: Duration,
    },
    /// A command run without a shell every interval (Consul's `Args`):
    /// exit 0 is passing, 1 warning, anything else critical; output is its
    /// stdout and stderr together. At the timeout it is killed with its
    /// whole process group and the check is critical.
    Script {
        /// Program and arguments.
        args: Vec<String>,
    },
    /// A `grpc.health.v1.Health/Check` call every interval: `SERVING` is
    /// passing, any other answer or error critical.
    Grpc {
        /// `host:port` or `host:port/service`.
        target: String,
        /// Speak TLS (Consul's `GRPCUseTLS`).
        tls: bool,
        /// Accept any server certificate.
        tls_skip_verify: bool,
        /// As [`Kind::Http`]'s `tls_server_name`, instead of the target's
        /// host; used only with `tls`.
        tls_server_name: String,
    },
    /// Mirrors the health of another service instance (or, with an empty
    /// `service_id`, of a whole node): critical if any of its checks (or
    /// its node's) is critical, else warning if any is warning, else
    /// passing, worded as Consul's `CheckAlias`. Fed through
    /// [`Runner::alias_update`](crate::Runner::alias_update).
    Alias {
        /// The aliased service's node; `None` for this agent's node.
        node: Option<String>,
        /// The aliased service's ID; empty to alias the node itself (only
        /// with `node`, Consul's `AliasNode` without `AliasService`).
        service_id: String,
    },
}

impl Kind {
    /// The kind's name, as in Consul's check type (`http`, `tcp`, `udp`,
    /// `ttl`, `script`, `grpc`, `alias`).
    pub fn name(&self) -> &'static str {
        match self {
            Kind::Http { .. } => "http",
            Kind::Tcp { .. } => "tcp",
            Kind::Udp { .. } => "udp",
            Kind::Ttl { .. } => "ttl",
            Kind::Script { .. } => "script",
            Kind::Grpc { .. } => "grpc",
            Kind::Alias { .. } => "alias",
        }
    }

    /// Consul's default timeout for this kind: 30s for scripts, 10s for
    /// everything else.
    pub fn default_timeout(&self) -> Duration {
        match self {
            Kind::Script { .. } => Duration::from_secs(30),
            _ => Duration::from_secs(10),
        }
    }

    /// Whether the runner probes on an interval (everything but TTL and
    /// alias checks, which are fed from outside).
    pub fn is_probed(&self) -> bool {
        !matches!(self, Kind::Ttl { .. } | Kind::Alias { .. })
    }
}

/// A check to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Definition {
    /// The check's ID; every [`Update`] carries it.
    pub id: CheckId,
    /// What it probes.
    pub kind: Kind,
    /// Time from the end of one probe to the start of the next. Ignored by
    /// TTL and alias checks. The agent raises it to [`MIN_INTERVAL`]; the
    /// runner runs what it is given (so tests can be quick).
    pub interval: Duration,
    /// Bound on each probe; zero means [`Kind::default_timeout`].
    pub timeout: Duration,
    /// The status before the first result (Consul's default: critical).
    pub initial: Status,
    /// Consecutive successes needed before the status turns passing.
    pub success_before_passing: u32,
    /// Consecutive failures before it turns warning; 0 means the same as
    /// `failures_before_critical`, as in Consul.
    pub failures_before_warning: u32,
    /// Consecutive failures before it turns critical.
    pub failures_before_critical: u32,
    /// Largest output kept, in bytes (Consul's `check_output_max_size`);
    /// zero means [`DEFAULT_OUTPUT_MAX_SIZE`].
    pub output_max_size: usize,
}

impl Definition {
    /// A definition with Consul's defaults: the kind's default timeout,
    /// initial status critical, no flapping thresholds, 4 KiB of output.
    pub fn new(id: impl Into<CheckId>, kind: Kind, interval: Duration) -> Definition {
        Definition {
            id: id.into(),
            timeout: kind.default_timeout(),
            kind,
            interval,
            initial: Status::Critical,
            success_before_passing: 0,
            failures_before_warning: 0,
            failures_before_critical: 0,
            output_max_size: DEFAULT_OUTPUT_MAX_SIZE,
        }
    }

    /// The probe timeout in force: `timeout`, or the kind's default if zero.
    pub fn effective_timeout(&self) -> Duration {
        if self.timeout.is_zero() {
            self.kind.default_timeout()
        } else {
            self.timeout
        }
    }

    /// The output limit in force: `output_max_size`, or 4096 if zero.
    pub fn effective_output_max_size(&self) -> usize {
        if self.output_max_size == 0 {
            DEFAULT_OUTPUT_MAX_SIZE
        } else {
            self.output_max_size
        }
    }

    /// Checks what can be checked without running anything.
    ///
    /// # Errors
    ///
    /// [`CheckError::InvalidDefinition`] naming the first problem found.
    pub fn validate(&self) -> Result<(), CheckError> {
        let invalid = |reason: String| CheckError::InvalidDefinition {
            id: self.id.clone(),
            reason,
        };
        if self.id.0.is_empty() {
            return Err(invalid("the check ID is empty".into()));
        }
        if self.kind.is_probed() && self.interval.is_zero() {
            return Err(invalid("the interval must be greater than zero".into()));
        }
        if self.failures_before_warning > self.failures_before_critical
            && self.failures_before_critical > 0
        {
            return Err(invalid(format!(
                "failures_before_warning ({}) is more than failures_before_critical ({})",
                self.failures_before_warning, self.failures_before_critical
            )));
        }
        match &self.kind {
            Kind::Ttl { ttl } if ttl.is_zero() => {
                Err(invalid("the TTL must be greater than zero".into()))
            }
            Kind::Script { args } if args.first().is_none_or(|p| p.is_empty()) => {
                Err(invalid("a script check needs a program to run".into()))
            }
            Kind::Tcp { addr } | Kind::Udp { addr } if addr.is_empty() => {
                Err(invalid("the address is empty".into()))
            }
            Kind::Alias {
                node: None,
                service_id,
            } if service_id.is_empty() => Err(invalid(
                "an alias check needs the aliased service's ID or node".into(),
            )),
            Kind::Http {
                tls_server_name, ..
            }
            | Kind::Grpc {
                tls_server_name, ..
            } => crate::tls::server_name(tls_server_name)
                .map(drop)
                .map_err(invalid),
            _ => Ok(()),
        }
    }
}

/// A change of a check's status or output, sent by its runner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    /// The check.
    pub id: CheckId,
    /// Its new status.
    pub status: Status,
    /// Its new output, at most the definition's output limit in bytes.
    pub output: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_words_are_consuls() {
        for s in [Status::Passing, Status::Warning, Status::Critical] {
            assert_eq!(s.to_string().parse::<Status>().unwrap(), s);
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
        }
        assert!("Passing".parse::<Status>().is_err());
    }

    #[test]
    fn defaults_follow_consul() {
        let d = Definition::new(
            "web",
            Kind::Script {
                args: vec!["true".into()],
            },
            Duration::from_secs(10),
        );
        assert_eq!(d.timeout, Duration::from_secs(30));
        assert_eq!(d.initial, Status::Critical);
        let mut d = Definition::new(
            "web",
            Kind::Tcp {
                addr: "127.0.0.1:1".into(),
            },
            Duration::from_secs(10),
        );
        assert_eq!(d.effective_timeout(), Duration::from_secs(10));
        d.timeout = Duration::ZERO;
        assert_eq!(d.effective_timeout(), Duration::from_secs(10));
        assert_eq!(d.effective_output_max_size(), 4096);
    }

    #[test]
    fn invalid_definitions_are_refused_with_a_reason() {
        let tcp = Kind::Tcp {
            addr: "127.0.0.1:1".into(),
        };
        let mut d = Definition::new("c", tcp.clone(), Duration::ZERO);
        assert!(d.validate().unwrap_err().to_string().contains("interval"));
        d.interval = Duration::from_secs(1);
        d.failures_before_critical = 2;
        d.failures_before_warning = 3;
        assert!(d
            .validate()
            .unwrap_err()
            .to_string()
            .contains("failures_before_warning"));
        d.failures_before_warning = 1;
        d.validate().unwrap();
        let ttl = Definition::new(
            "t",
            Kind::Ttl {
                ttl: Duration::ZERO,
            },
            Duration::ZERO,
        );
        assert!(ttl.validate().unwrap_err().to_string().contains("TTL"));
        let script = Definition::new("s", Kind::Script { args: vec![] }, Duration::from_secs(1));
        assert!(script.validate().is_err());
        let alias = |node: Option<&str>, service_id: &str| {
            Definition::new(
                "a",
                Kind::Alias {
                    node: node.map(str::to_owned),
                    service_id: service_id.into(),
                },
                Duration::ZERO,
            )
            .validate()
        };
        assert!(alias(None, "").is_err(), "aliases nothing");
        alias(Some("n2"), "").expect("a whole node");
        alias(None, "web1").expect("a local service");
    }
}
