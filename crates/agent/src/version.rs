//! What this build is: Praetor's version, the Consul API level it follows,
//! the git revision and its date (recorded by `build.rs`), as the agent
//! reports them (`/v1/agent/self`, `/v1/agent/version`) and `praetor
//! version` prints them. Never changes at run time.

use praetor_api::agent::VersionInfo;

/// The git revision built (`unknown` outside a git checkout).
pub const REVISION: &str = env!("PRAETOR_REVISION");
/// When [`REVISION`] was committed, RFC 3339 in UTC (Consul's placeholder
/// `1970-01-01T00:00:01Z` when unknown).
pub const BUILD_DATE: &str = env!("PRAETOR_BUILD_DATE");
/// The compiler that built it (`rustc 1.88.0 (…)`): the runtime's version,
/// where Consul names its Go release.
pub const RUSTC: &str = env!("PRAETOR_RUSTC");

/// The revision as Consul's `Stats.build.revision` shows it: its first
/// eight characters.
pub fn short_revision() -> &'static str {
    REVISION.get(..8).unwrap_or(REVISION)
}

/// `/v1/agent/version`'s answer: Consul's `BuildInfo` with the Consul API
/// level as `HumanVersion`, and Praetor's own version beside it.
pub fn info() -> VersionInfo {
    VersionInfo {
        sha: REVISION.to_owned(),
        build_date: BUILD_DATE.to_owned(),
        human_version: praetor_api::CONSUL_API_VERSION.to_owned(),
        fips: String::new(),
        praetor_version: praetor_api::VERSION.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_revision_is_a_git_sha_or_unknown_and_the_date_is_rfc3339() {
        assert!(
            REVISION == "unknown"
                || (REVISION.len() == 40 && REVISION.bytes().all(|b| b.is_ascii_hexdigit())),
            "{REVISION}"
        );
        assert!(short_revision().len() <= 8);
        assert_eq!(BUILD_DATE.len(), 20, "{BUILD_DATE}");
        assert!(BUILD_DATE.ends_with('Z') && BUILD_DATE.as_bytes()[10] == b'T');
        assert!(RUSTC.starts_with("rustc"), "{RUSTC}");
    }

    #[test]
    fn the_version_info_reports_the_consul_api_level_and_praetors_own_version() {
        let v = serde_json::to_value(info()).unwrap();
        assert_eq!(v["HumanVersion"], praetor_api::CONSUL_API_VERSION);
        assert_eq!(v["PraetorVersion"], praetor_api::VERSION);
        assert_eq!(v["SHA"], REVISION);
        assert_eq!(v["FIPS"], "");
        assert_eq!(v["BuildDate"], BUILD_DATE);
    }
}
