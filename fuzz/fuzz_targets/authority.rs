//! Our authoritative answers on arbitrary queries. Whatever message comes,
//! if it decodes, every server of the bundled scenarios looks up each of its
//! questions as `nameserver.rs` does (lame answer first, then the zones),
//! and the reply encodes. Nothing may panic.
#![no_main]

use std::sync::OnceLock;

use harness::authority;
use harness::scenario::values::Lame;
use harness::zone::Zone;
use hickory_proto::op::Message;
use hickory_proto::rr::Name;
use libfuzzer_sys::fuzz_target;

/// One server as a bundled scenario builds it.
struct Server {
    zones: Vec<Zone>,
    lame: Vec<(Name, Lame)>,
    roots: Vec<Name>,
}

/// The scenarios whose servers we ask: zones inline, lame servers, a root.
const SCENARIOS: &[(&str, &str)] = &[
    ("msft-lowport.yaml", include_str!("../../scenarios/msft-lowport.yaml")),
    ("lame-delegation.yaml", include_str!("../../scenarios/lame-delegation.yaml")),
    ("cname-chain.yaml", include_str!("../../scenarios/cname-chain.yaml")),
    ("truncated.yaml", include_str!("../../scenarios/truncated.yaml")),
    ("soa-rname.yaml", include_str!("../../scenarios/soa-rname.yaml")),
    ("ipv6-only-ns.yaml", include_str!("../../scenarios/ipv6-only-ns.yaml")),
];

fn servers() -> &'static [Server] {
    static SERVERS: OnceLock<Vec<Server>> = OnceLock::new();
    SERVERS.get_or_init(|| {
        let mut out = Vec::new();
        for (file, text) in SCENARIOS {
            let path = std::path::Path::new("../scenarios").join(file);
            let s = harness::scenario::parse(&path, text).unwrap_or_else(|d| panic!("{file} does not read: {d}"));
            let roots: Vec<Name> = s.root_hints().into_iter().map(|(n, _)| n).collect();
            for (_, server) in s.servers() {
                out.push(Server {
                    zones: s.zones.iter().filter(|z| server.zones.contains(&z.origin)).cloned().collect(),
                    lame: server.lame.clone(),
                    roots: roots.clone(),
                });
            }
        }
        out
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(msg) = Message::from_vec(data) else { return };
    for server in servers() {
        let zones: Vec<&Zone> = server.zones.iter().collect();
        for q in &msg.queries {
            let qname: Name = q.name().clone();
            let reply = authority::lame_reply(&zones, &server.lame, &server.roots, &qname).unwrap_or_else(|| authority::lookup(&zones, &qname, q.query_type()));
            let mut out = Message::response(msg.metadata.id, msg.metadata.op_code);
            out.metadata.authoritative = reply.aa;
            out.metadata.response_code = reply.rcode;
            out.add_query(q.clone());
            out.add_answers(reply.answers);
            out.add_authorities(reply.authority);
            out.add_additionals(reply.additional);
            if let Err(e) = out.to_vec() {
                panic!("the reply to {qname} {} does not encode: {e}", q.query_type());
            }
        }
    }
});
