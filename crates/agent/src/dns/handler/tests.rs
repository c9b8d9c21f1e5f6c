use std::net::Ipv4Addr;

use hickory_proto::op::Query;
use hickory_proto::rr::rdata::{A, SRV};

use super::*;

fn request(name: &str, qtype: RecordType, edns: Option<u16>) -> Message {
    let mut m = Message::new(7, MessageType::Query, OpCode::Query);
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
    if let Some(size) = edns {
        let mut e = Edns::new();
        e.set_max_payload(size);
        m.set_edns(e);
    }
    m
}

/// A response with `n` SRV answers, each target with one A record.
fn srv_response(req: &Message, n: usize) -> Message {
    let mut resp = Message::response(req.metadata.id, OpCode::Query);
    resp.add_queries(req.queries.iter().cloned());
    if let Some(e) = &req.edns {
        resp.set_edns(e.clone());
    }
    let owner = req.queries[0].name().clone();
    for i in 0..n {
        let target = Name::from_ascii(format!("node-{i:03}.node.dc1.consul.")).unwrap();
        resp.add_answer(Record::from_rdata(
            owner.clone(),
            0,
            RData::SRV(SRV::new(1, 1, 8000 + i as u16, target.clone())),
        ));
        resp.add_additional(Record::from_rdata(
            target,
            0,
            RData::A(A(Ipv4Addr::new(10, 0, 0, i as u8))),
        ));
    }
    resp
}

fn cfg(enable_truncate: bool, udp_answer_limit: u32) -> DnsConfig {
    DnsConfig {
        enable_truncate,
        udp_answer_limit,
        ..DnsConfig::default()
    }
}

/// (answers, additionals whose names all match an answer's target, TC).
fn decoded(bytes: &[u8]) -> (usize, bool, bool) {
    let m = Message::from_vec(bytes).expect("the answer decodes");
    let targets: Vec<Name> = m
        .answers
        .iter()
        .filter_map(|a| match &a.data {
            RData::SRV(s) => Some(s.target.clone()),
            _ => None,
        })
        .collect();
    let synced = m.additionals.len() == targets.len()
        && m.additionals.iter().all(|x| targets.contains(&x.name));
    (m.answers.len(), synced, m.metadata.truncation)
}

#[test]
fn udp_without_edns_takes_udp_answer_limit_and_512_bytes() {
    let req = request("web.service.consul.", RecordType::SRV, None);
    let bytes = encode(srv_response(&req, 50), &req, Transport::Udp, &cfg(true, 3)).unwrap();
    assert!(bytes.len() <= 512);
    assert_eq!(decoded(&bytes), (3, true, true));
    let bytes = encode(srv_response(&req, 50), &req, Transport::Udp, &cfg(false, 3)).unwrap();
    assert_eq!(
        decoded(&bytes),
        (3, true, false),
        "no TC bit unless enable_truncate"
    );
    let bytes = encode(srv_response(&req, 50), &req, Transport::Udp, &cfg(true, 0)).unwrap();
    let (n, synced, tc) = decoded(&bytes);
    assert!(bytes.len() <= 512 && n > 3 && n < 50 && synced && tc, "{n}");
    let bytes = encode(srv_response(&req, 2), &req, Transport::Udp, &cfg(true, 3)).unwrap();
    assert_eq!(decoded(&bytes), (2, true, false), "what fits is not cut");
}

#[test]
fn udp_with_edns_honours_the_clients_buffer_size() {
    for size in [512u16, 1232, 4096] {
        let req = request("web.service.consul.", RecordType::SRV, Some(size));
        let bytes = encode(srv_response(&req, 200), &req, Transport::Udp, &cfg(true, 3)).unwrap();
        let (n, synced, tc) = decoded(&bytes);
        assert!(bytes.len() <= usize::from(size), "{size}: {}", bytes.len());
        assert!(n > 3 && n < 200 && synced && tc, "{size}: {n}");
    }
    let req = request("web.service.consul.", RecordType::SRV, Some(4096));
    let bytes = encode(srv_response(&req, 10), &req, Transport::Udp, &cfg(true, 3)).unwrap();
    assert_eq!(
        decoded(&bytes),
        (10, true, false),
        "udp_answer_limit is for clients without EDNS"
    );
}

#[test]
fn tcp_answers_everything_that_fits_in_64k() {
    let req = request("web.service.consul.", RecordType::SRV, None);
    let bytes = encode(srv_response(&req, 50), &req, Transport::Tcp, &cfg(true, 3)).unwrap();
    assert_eq!(decoded(&bytes), (50, true, false));
}

#[test]
fn undecodable_requests_get_formerr_when_the_header_is_readable() {
    let mut packet = request("web.service.consul.", RecordType::A, None)
        .to_vec()
        .unwrap();
    packet.truncate(packet.len() - 3);
    let resp = Message::from_vec(&format_error(&packet).expect("an answer")).unwrap();
    assert_eq!(resp.metadata.response_code, ResponseCode::FormErr);
    assert_eq!(resp.metadata.id, 7);
    assert_eq!(resp.metadata.message_type, MessageType::Response);
    assert_eq!(format_error(&packet[..5]), None, "no header: dropped");
    packet[2] |= 0x80;
    assert_eq!(format_error(&packet), None, "a response is never answered");
}
