//! The answer a UDP request gets when every lookup slot is taken.

use hickory_proto::op::{Edns, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};

use super::*;

#[test]
fn a_shed_request_gets_servfail_with_its_id_and_question() {
    let mut req = Message::new(0x4242, MessageType::Query, OpCode::Query);
    req.metadata.recursion_desired = true;
    let name = Name::from_ascii("x.example.org.").expect("a name");
    req.add_query(Query::query(name.clone(), RecordType::AAAA));
    req.set_edns(Edns::new());
    let bytes = server_failure(&req.to_vec().expect("encoded")).expect("an answer");
    let resp = Message::from_vec(&bytes).expect("decodes");
    assert_eq!(resp.metadata.id, 0x4242);
    assert_eq!(resp.metadata.message_type, MessageType::Response);
    assert_eq!(resp.metadata.response_code, ResponseCode::ServFail);
    assert!(resp.metadata.recursion_desired);
    assert_eq!(resp.queries.len(), 1);
    assert_eq!(resp.queries[0].name(), &name);
    assert!(resp.edns.is_some());
    assert!(resp.answers.is_empty());
    assert!(bytes.len() <= 512, "no larger than the question allows");
}

#[test]
fn a_packet_that_does_not_decode_gets_nothing_here() {
    assert_eq!(server_failure(b"\x00\x01junk"), None);
}

#[test]
fn shedding_is_counted_and_warned_about_at_most_every_interval() {
    let shed = Shed::new();
    shed.note();
    assert_eq!(
        shed.count.load(Ordering::Relaxed),
        0,
        "the first is warned about at once"
    );
    for _ in 0..100 {
        shed.note();
    }
    assert_eq!(
        shed.count.load(Ordering::Relaxed),
        100,
        "then counted until the next warning"
    );
}
