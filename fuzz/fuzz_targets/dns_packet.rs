//! Whole DNS packets through the agent's request handler (with an empty
//! catalog): every decodable query gets an answer that decodes and carries
//! its id; anything else gets FORMERR or nothing. The first byte picks the
//! configuration (recursors, truncation, answer limit).
#![no_main]

use hickory_proto::op::{Message, MessageType};
use libfuzzer_sys::fuzz_target;
use praetor_agent::config::RuntimeConfig;
use praetor_agent::dns::handler::handle_without_catalog;
use praetor_agent::dns::Transport;

fuzz_target!(|data: &[u8]| {
    let Some((knobs, packet)) = data.split_first() else {
        return;
    };
    let mut cfg = RuntimeConfig {
        alt_domain: Some("alt.example.".into()),
        ..RuntimeConfig::default()
    };
    if knobs & 1 == 1 {
        cfg.recursors = vec!["127.0.0.1:53".parse().unwrap()];
    }
    cfg.dns.enable_truncate = knobs & 2 == 2;
    cfg.dns.udp_answer_limit = u32::from(knobs >> 4);
    let is_query =
        Message::from_vec(packet).is_ok_and(|m| m.metadata.message_type == MessageType::Query);
    for transport in [Transport::Udp, Transport::Tcp] {
        match handle_without_catalog(packet, &cfg, transport) {
            None => assert!(!is_query, "a query that decodes went unanswered"),
            Some(answer) => {
                let resp = Message::from_vec(&answer).expect("our answer decodes");
                assert_eq!(resp.metadata.message_type, MessageType::Response);
                assert_eq!(answer[..2], packet[..2], "the answer carries the id");
                if transport == Transport::Udp && packet.len() >= 12 {
                    assert!(answer.len() <= 65535 - 68);
                }
            }
        }
    }
});
