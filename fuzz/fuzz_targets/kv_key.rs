//! KV paths: any request path decodes to a bounded key or a 400.
#![no_main]

use libfuzzer_sys::fuzz_target;
use praetor_agent::http::kv::{key_from_path, MAX_KEY_LEN};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(key) = key_from_path(text, "/v1/kv") {
        assert!(key.len() <= MAX_KEY_LEN && !key.contains('\0'));
    }
});
