//! Dual stack in a real lab: routes derived per address family, and the
//! first packet through a router right after `up`, on both families.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use harness::answer::{Rcode, Status};
use harness::probe::{self, Ask};
use hickory_proto::rr::{Name, RecordType};

/// A bridged, dual-stack `lan` (three members, so a bridge), a router, and
/// a server behind it on a veth. `v4only` has no IPv6 address on the
/// dual-stack network: it must get IPv4 routes only, and the lab must build.
const SCENARIO: &str = r#"
name: dualstack-wire
networks:
  lan: [192.0.2.0/24, "2001:db8:1::/64"]
  dc: [198.51.100.0/24, "2001:db8:2::/64"]
nodes:
  client: { interfaces: { lan: [192.0.2.10, "2001:db8:1::10"] } }
  v4only: { interfaces: { lan: 192.0.2.11 } }
  router:
    interfaces: { lan: [192.0.2.1, "2001:db8:1::1"], dc: [198.51.100.1, "2001:db8:2::1"] }
    firewall:
      # A counter named like an nft keyword: nft refused the ruleset once.
      all: { dport: 53, action: accept }
  root:
    interfaces: { dc: [198.51.100.2, "2001:db8:2::2"] }
    server: { name: a.root-servers.net, zones: ["."] }
"#;

struct Up {
    _servers: Vec<harness::nameserver::NameServer>,
    lab: lab::Lab,
}

fn up() -> Up {
    let s = harness::scenario::parse(std::path::Path::new("dualstack-wire.yaml"), SCENARIO).unwrap_or_else(|d| panic!("{d}"));
    let harness::run::ServersLab { servers, lab, .. } = harness::run::servers_only(&s).unwrap();
    Up { _servers: servers, lab }
}

/// One try, 300 ms: `dig +tries=1 +timeout=0.3 @SERVER . SOA` from `from`.
fn once(up: &Up, from: &str, server: &str) -> (Status, Duration) {
    let server: IpAddr = server.parse().unwrap();
    let mut a = Ask::udp(server, Name::root(), RecordType::SOA, false);
    a.timeout = Duration::from_millis(300);
    a.tries = 1;
    let t = Instant::now();
    let r = probe::block_in(&up.lab, from, move || async move { probe::ask(&a).await }).unwrap();
    (r.rcode, t.elapsed())
}

/// The first query through a router from a bridged IPv6 segment once waited
/// a second (linkwatch held the router's veth "not running", so IPv6 did not
/// use it yet). Right after `up`, it must get through at once, on each family,
/// in every one of several fresh labs.
#[test]
fn the_first_packet_through_a_router_right_after_up() {
    for _ in 0..5 {
        let up = up();
        for server in ["2001:db8:2::2", "198.51.100.2"] {
            let (status, took) = once(&up, "client", server);
            assert_eq!(status, Status::Rcode(Rcode::NoError), "to {server} right after up");
            assert!(took < Duration::from_millis(300), "to {server}: {took:?}");
        }
    }
}

#[test]
fn routes_are_derived_per_family() {
    let up = up();
    let routes = |node: &str| {
        let n = up.lab.topology().node(node).unwrap();
        n.routes.iter().map(|r| format!("{} via {}", r.dest, r.via)).collect::<Vec<_>>()
    };
    assert_eq!(routes("v4only"), ["198.51.100.0/24 via 192.0.2.1"]);
    assert_eq!(routes("client"), ["198.51.100.0/24 via 192.0.2.1", "2001:db8:2::/64 via 2001:db8:1::1"]);
    // The lab built, and the IPv4-only node reaches the server over IPv4.
    assert_eq!(once(&up, "v4only", "198.51.100.2").0, Status::Rcode(Rcode::NoError));
    // The counter reads back under the name written.
    assert!(up.lab.counters("router").unwrap()["all"] > 0);
}
