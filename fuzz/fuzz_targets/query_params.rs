//! Query strings: decode any text, read the common options and apply a
//! filter from it, as every HTTP handler does.
#![no_main]

use libfuzzer_sys::fuzz_target;
use praetor_agent::http::filter;
use praetor_agent::http::query::{Params, ReadOpts, MAX_PARAMS, MAX_WAIT};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let p = Params::parse(Some(text));
    assert!(p.pairs().len() <= MAX_PARAMS);
    if let Ok(opts) = ReadOpts::read(&p) {
        assert!(opts.wait <= MAX_WAIT);
    }
    let _ = p.u64("cas");
    let _ = p.flag("recurse");
    let body = serde_json::json!([{"Port": 80, "Tags": ["a"]}, {"Port": 81}]);
    let _ = filter::apply(&p, body);
});
