//! Service and check definitions: any bytes as the body of
//! `PUT /v1/agent/service/register`, `/v1/agent/check/register` and
//! `/v1/catalog/register` (the last applied to a store).
#![no_main]

use libfuzzer_sys::fuzz_target;
use praetor_agent::http::json_body;
use praetor_agent::definition::{check_from_body, service_from_body, CheckBody, ServiceBody};
use praetor_api::catalog::RegisterRequest;
use praetor_store::{Command, Store};

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = json_body::<ServiceBody>(data) {
        let _ = service_from_body(s, true);
    }
    if let Ok(c) = json_body::<CheckBody>(data) {
        let _ = check_from_body(c, false);
    }
    if let Ok(req) = json_body::<RegisterRequest>(data) {
        Store::default().apply(1, &Command::CatalogRegister(req.into()));
    }
});
