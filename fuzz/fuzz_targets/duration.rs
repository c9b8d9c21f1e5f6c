//! Go durations: parse any text; whatever parses is within Go's range and
//! reads back from its own formatting.
#![no_main]

use libfuzzer_sys::fuzz_target;
use praetor_api::duration;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(d) = duration::parse(text) {
        assert!(d.as_nanos() < 1 << 63, "{text:?} parsed past Go's limit");
        let formatted = duration::format(d);
        assert_eq!(
            duration::parse(&formatted),
            Ok(d),
            "{text:?} -> {formatted:?}"
        );
    }
});
