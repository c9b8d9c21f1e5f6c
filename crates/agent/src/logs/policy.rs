//! Which events are shown at a log level, and at which level: Praetor's
//! own events as they are, every dependency's one level lower (their INFO
//! is our DEBUG, their DEBUG our TRACE), and openraft's warnings and errors
//! about the ordinary churn of an election (stale votes, stale replication
//! replies, a slow or unreachable peer's retries) at DEBUG. Pure functions, no state.

use tracing::Level;

/// A Consul log level, any case: `trace`, `debug`, `info`, `warn`, `err`
/// or `error` (Consul's `ValidateLogLevel`).
pub fn parse_level(s: &str) -> Option<Level> {
    match s.to_ascii_lowercase().as_str() {
        "trace" => Some(Level::TRACE),
        "debug" => Some(Level::DEBUG),
        "info" => Some(Level::INFO),
        "warn" => Some(Level::WARN),
        "err" | "error" => Some(Level::ERROR),
        _ => None,
    }
}

/// Whether `target` is Praetor's own code (every crate is `praetor*`).
pub(super) fn is_own(target: &str) -> bool {
    target.starts_with("praetor")
}

/// openraft's warnings that a healthy cluster prints during every election
/// or peer restart; none asks an operator to act.
const RAFT_CHURN: &[&str] = &[
    "will be ignored because vote changed",
    "membership_log_id changed",
    "update progress error",
    "heartbeat error",
    "error replication to target",
    "backoff mode",
    "vote is not greater than",
    "leader has removed target",
    // A replication RPC to a slow or stopped peer (logged at ERROR on every
    // retry); a peer that is gone shows as a failed member instead.
    "RPCError",
];

/// The level an event is shown at.
pub(super) fn effective(target: &str, level: Level, message: &str) -> Level {
    if is_own(target) {
        return level;
    }
    let churn = || target.starts_with("openraft") && RAFT_CHURN.iter().any(|c| message.contains(c));
    match level {
        Level::ERROR | Level::WARN if churn() => Level::DEBUG,
        Level::ERROR => Level::ERROR,
        Level::WARN => Level::WARN,
        Level::INFO => Level::DEBUG,
        _ => Level::TRACE,
    }
}

/// Whether an event from a callsite (`target`, `level`) may be shown at
/// `max`, before its message is known: the least severe level it can be
/// shown at is at most `max`. [`effective`] decides for the event itself.
pub(super) fn may_show(max: Level, target: &str, level: Level) -> bool {
    if is_own(target) {
        return level <= max;
    }
    let mildest = match level {
        Level::ERROR => Level::ERROR,
        Level::WARN => Level::WARN,
        Level::INFO => Level::DEBUG,
        _ => Level::TRACE,
    };
    mildest <= max
}

/// A level as an index, 0 (error) to 4 (trace), for counters and atomics.
pub(super) fn index(level: Level) -> usize {
    match level {
        Level::ERROR => 0,
        Level::WARN => 1,
        Level::INFO => 2,
        Level::DEBUG => 3,
        _ => 4,
    }
}

/// The level at `index` (the inverse of [`index`]).
pub(super) fn from_index(i: usize) -> Level {
    match i {
        0 => Level::ERROR,
        1 => Level::WARN,
        2 => Level::INFO,
        3 => Level::DEBUG,
        _ => Level::TRACE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_parse_as_consul_reads_them() {
        assert_eq!(parse_level("INFO"), Some(Level::INFO));
        assert_eq!(parse_level("err"), Some(Level::ERROR));
        assert_eq!(parse_level("Trace"), Some(Level::TRACE));
        assert_eq!(parse_level("loud"), None);
        assert_eq!(parse_level(""), None);
    }

    #[test]
    fn dependencies_speak_one_level_lower_than_praetor() {
        let at = |t, l| effective(t, l, "something");
        assert_eq!(at("praetor_agent::http", Level::INFO), Level::INFO);
        assert_eq!(at("openraft::core", Level::INFO), Level::DEBUG);
        assert_eq!(at("hyper::proto", Level::DEBUG), Level::TRACE);
        assert_eq!(at("openraft::core", Level::WARN), Level::WARN);
        assert_eq!(at("openraft::core", Level::ERROR), Level::ERROR);
        assert!(!may_show(Level::INFO, "openraft::core", Level::INFO));
        assert!(may_show(Level::DEBUG, "openraft::core", Level::INFO));
        assert!(!may_show(Level::DEBUG, "openraft::core", Level::DEBUG));
        assert!(may_show(Level::INFO, "praetor_server::raft", Level::INFO));
    }

    #[test]
    fn election_churn_from_openraft_is_debug() {
        let msg = "A message will be ignored because vote changed: msg sent by vote: T1-N1";
        assert_eq!(
            effective("openraft::core::raft_core", Level::WARN, msg),
            Level::DEBUG
        );
        let rpc = "RPCError: err=\"NetworkError: call to 127.0.0.85:8300 timed out after 100ms\"";
        assert_eq!(
            effective("openraft::replication", Level::ERROR, rpc),
            Level::DEBUG
        );
        assert_eq!(
            effective("openraft::storage", Level::ERROR, "LogFlush error"),
            Level::ERROR
        );
        assert_eq!(
            effective("praetor_server::raft", Level::WARN, msg),
            Level::WARN,
            "only openraft's own lines are lowered"
        );
    }
}
