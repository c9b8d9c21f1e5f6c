//! RPC frames on port 8300: any bytes as a frame body (postcard
//! `(call id, Request)` from a peer, `(call id, Reply)` from a server)
//! decode or are refused, and what decodes encodes back to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use praetor_server::rpc::{Reply, Request};

fn round_trip<T>(data: &[u8])
where
    T: serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
{
    if let Ok(value) = postcard::from_bytes::<(u64, T)>(data) {
        let bytes = postcard::to_stdvec(&value).expect("a decoded frame encodes");
        let again = postcard::from_bytes::<(u64, T)>(&bytes).expect("an encoded frame decodes");
        assert_eq!(format!("{value:?}"), format!("{again:?}"));
    }
}

fuzz_target!(|data: &[u8]| {
    round_trip::<Request>(data);
    round_trip::<Reply>(data);
});
