//! `PUT /v1/txn` bodies: any bytes decode to checked operations or a 4xx.
#![no_main]

use libfuzzer_sys::fuzz_target;
use praetor_agent::http::error::ApiError;
use praetor_agent::http::txn::{ops_from_body, Decoded};
use praetor_api::txn::MAX_OPS;

fuzz_target!(|data: &[u8]| {
    match ops_from_body(data, 512 * 1024, "dc1") {
        Ok(Decoded::Ops(ops)) => assert!(ops.len() <= MAX_OPS),
        Ok(Decoded::Refused(errors)) => assert!(!errors.is_empty() && errors.len() <= MAX_OPS),
        Err(ApiError::BadRequest(m) | ApiError::TooLarge(m)) => assert!(!m.contains('\n'), "{m}"),
        Err(other) => panic!("not a 4xx: {other}"),
    }
});
