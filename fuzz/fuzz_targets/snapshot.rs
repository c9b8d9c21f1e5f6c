//! Snapshot files (`PUT /v1/snapshot`): any bytes as the file, and as the
//! store state inside it (the checksum would stop the fuzzer at the file
//! layer); a state that decodes must take writes without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use praetor_store::{Command, Store};

fn decode_and_use(data: &[u8]) {
    let Ok(mut store) = Store::decode_snapshot(data) else {
        return;
    };
    let next = store.last_index().saturating_add(1);
    store.apply(
        next,
        &Command::KvSet {
            key: "a".into(),
            value: b"v".to_vec(),
            flags: 0,
            cas: Some(0),
        },
    );
    store.apply(
        next.saturating_add(1),
        &Command::KvDeleteTree {
            prefix: String::new(),
        },
    );
    store.set_history_limit(1);
    let _ = store.history().since("", 0, 10);
    let _ = store.encode_snapshot();
}

fuzz_target!(|data: &[u8]| {
    if let Ok((_, state)) = praetor_api::snapshot::decode(data) {
        decode_and_use(state);
    }
    decode_and_use(data);
});
