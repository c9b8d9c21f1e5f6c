//! DNS query names inside the agent's domains: the first byte says whether
//! the question is for SRV records, the rest is the name.
#![no_main]

use libfuzzer_sys::fuzz_target;
use praetor_agent::dns::name;

fuzz_target!(|data: &[u8]| {
    let Some((flags, rest)) = data.split_first() else {
        return;
    };
    let Ok(qname) = std::str::from_utf8(rest) else {
        return;
    };
    let domains = ["consul.", "alt.consul.", "example."];
    if let Some(parsed) = name::parse(qname, flags & 1 == 1, &domains) {
        assert!(parsed.domain < domains.len());
    }
});
