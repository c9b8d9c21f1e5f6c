//! `?filter=` expressions: parse any text, evaluate what parses on a
//! catalog-like item. Nothing may panic or overflow the stack.
#![no_main]

use libfuzzer_sys::fuzz_target;
use praetor_agent::http::filter;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(expr) = filter::parse(text) {
        let item = serde_json::json!({
            "Node": "n1", "Address": "10.0.0.1", "Port": 8080,
            "Service": {"ID": "web-1", "Service": "web", "Tags": ["v1", "canary"],
                        "Meta": {"env": "prod"}, "Port": 80},
            "Checks": [{"Status": "passing", "Name": "a"}, {"Status": "critical"}],
        });
        filter::eval(&expr, &item);
    }
});
