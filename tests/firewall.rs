//! The firewall keys middleboxes match, on the wire: `saddr`, `daddr`,
//! `in`, `out`, `fragments` (IPv4 and IPv6) and `size`, on a router and on
//! a NAT node (where conntrack reassembles fragments at prerouting -400,
//! so only a rule below that priority sees them). Each rule is paired with
//! a probe it must stop and one it must let through, and its counter must
//! have counted. A network's `mtu` is checked on each of its links.

mod common;

const SCENARIO: &str = r#"
name: firewall-keys
description: Each firewall key, paired with a probe it stops and one it passes.
networks:
  lan: [192.0.2.0/24, 2001:db8:2::/64]
  dc: { subnet: [198.51.100.0/28, 2001:db8:1::/64], mtu: 1280 }
  home: 100.64.1.0/24
nodes:
  client:
    interfaces: { lan: [192.0.2.10, 2001:db8:2::10] }
  client2:
    interfaces: { lan: 192.0.2.11 }
  router:
    interfaces: { lan: [192.0.2.1, 2001:db8:2::1], dc: [198.51.100.1, 2001:db8:1::1] }
    firewall:
      # The fragments after the first, to one client: its big answers never reassemble.
      frag_to_client: { proto: udp, fragments: non-first, daddr: 192.0.2.10, action: drop }
      # Every IPv6 fragment arriving from the servers' network, to the client.
      frag6_from_dc: { proto: udp, fragments: all, in: dc, family: ip6, daddr: 2001:db8:2::10, action: drop }
      # "DNS over 1232 bytes is an attack": big UDP answers to client2.
      big_to_client2: { sport: 53, size: ">1232", daddr: 192.0.2.11, action: drop }
      # Queries from the LAN to ns2 over UDP, leaving towards the servers.
      udp_to_ns2: { proto: udp, dport: 53, saddr: lan, daddr: 198.51.100.3, out: dc, action: reject }
  home-router:
    interfaces: { lan: 192.0.2.2, home: 100.64.1.1 }
    nat: { outside: lan }
    firewall:
      frag_at_nat: { proto: udp, fragments: non-first, in: lan, action: drop }
  laptop:
    interfaces: { home: 100.64.1.10 }
  ns1:
    interfaces: { dc: [198.51.100.2, 2001:db8:1::2] }
    server: { name: ns1.example.com, zones: [example.com] }
  ns2:
    interfaces: { dc: 198.51.100.3 }
    server: { name: ns2.example.com, zones: [example.com] }
zones:
  example.com: |
    $ORIGIN example.com.
    $TTL 1h
    @     IN SOA ns1.example.com. hostmaster.example.com. ( 1 4h 1h 2w 5m )
    www   IN A   203.0.113.80
    big   IN TXT ( "chunk 1: a large answer, sent whole in one UDP datagram when the asker offers 4096 bytes, leaves the server in two IP fragments on a 1500-byte link; a middlebox that drops fragments makes it vanish, a large answer, sent whole in one UDP datagram"
                   "chunk 2: a large answer, sent whole in one UDP datagram when the asker offers 4096 bytes, leaves the server in two IP fragments on a 1500-byte link; a middlebox that drops fragments makes it vanish, a large answer, sent whole in one UDP datagram"
                   "chunk 3: a large answer, sent whole in one UDP datagram when the asker offers 4096 bytes, leaves the server in two IP fragments on a 1500-byte link; a middlebox that drops fragments makes it vanish, a large answer, sent whole in one UDP datagram"
                   "chunk 4: a large answer, sent whole in one UDP datagram when the asker offers 4096 bytes, leaves the server in two IP fragments on a 1500-byte link; a middlebox that drops fragments makes it vanish, a large answer, sent whole in one UDP datagram"
                   "chunk 5: a large answer, sent whole in one UDP datagram when the asker offers 4096 bytes, leaves the server in two IP fragments on a 1500-byte link; a middlebox that drops fragments makes it vanish, a large answer, sent whole in one UDP datagram"
                   "chunk 6: a large answer, sent whole in one UDP datagram when the asker offers 4096 bytes, leaves the server in two IP fragments on a 1500-byte link; a middlebox that drops fragments makes it vanish, a large answer, sent whole in one UDP datagram"
                   "chunk 7: a large answer, sent whole in one UDP datagram when the asker offers 4096 bytes, leaves the server in two IP fragments on a 1500-byte link; a middlebox that drops fragments makes it vanish, a large answer, sent whole in one UDP datagram" )
probes:
  # frag_to_client (router, IPv4 non-first fragments, daddr)
  - { ask: big.example.com TXT, from: client, server: ns1.example.com, family: ip, edns: { size: 4096 }, timeout: 1s, expect: timeout }
  - { ask: www.example.com A, from: client, server: ns1.example.com, family: ip, edns: { size: 4096 }, expect: NOERROR }
  # frag6_from_dc (router, IPv6 fragment header, in, family)
  - { ask: big.example.com TXT, from: client, server: ns1.example.com, family: ip6, edns: { size: 4096 }, timeout: 1s, expect: timeout }
  - { ask: www.example.com A, from: client, server: ns1.example.com, family: ip6, edns: { size: 4096 }, expect: NOERROR }
  # big_to_client2 (router, size): over 1232 dropped; truncated at 1232 and over TCP it passes
  - { ask: big.example.com TXT, from: client2, server: ns1.example.com, edns: { size: 4096 }, timeout: 1s, expect: timeout }
  - { ask: big.example.com TXT, from: client2, server: ns1.example.com, expect: { outcome: NOERROR, transport: tcp } }
  # udp_to_ns2 (router, saddr as a network, daddr, out, reject)
  - { ask: www.example.com A, from: client2, server: ns2.example.com, expect: unreachable }
  - { ask: www.example.com A, from: client2, server: ns2.example.com, transport: tcp, expect: NOERROR }
  # frag_at_nat (NAT node: conntrack would reassemble before a forward chain)
  - { ask: big.example.com TXT, from: laptop, server: ns1.example.com, edns: { size: 4096 }, timeout: 1s, expect: timeout }
  - { ask: www.example.com A, from: laptop, server: ns1.example.com, expect: NOERROR }
"#;

#[test]
fn each_key_stops_what_it_matches_and_passes_the_rest() {
    let t = common::Temp::new("firewall");
    let file = t.file("firewall-keys.yaml", SCENARIO);
    let ev = t.0.join("evidence");
    let out = common::run(&["run", file.to_str().unwrap(), "--format", "json", "--quiet", "--evidence", ev.to_str().unwrap()]);
    let rep: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let o = &rep["runs"][0];
    assert_eq!(out.status.code(), Some(0), "{:#}", o["failures"]);
    let counted = |node: &str, rule: &str| o["firewalls"][node][rule].as_u64().unwrap_or(0);
    for (node, rule) in [
        ("router", "frag_to_client"),
        ("router", "frag6_from_dc"),
        ("router", "big_to_client2"),
        ("router", "udp_to_ns2"),
        ("home-router", "frag_at_nat"),
    ] {
        assert!(counted(node, rule) > 0, "{node}'s {rule} counted nothing: {:#}", o["firewalls"]);
    }
    // The NAT node's rule sits below conntrack's reassembly.
    let rules = std::fs::read_to_string(ev.join("hickory/firewalls/home-router.nft")).unwrap();
    assert!(rules.contains("type filter hook prerouting priority -450;"), "{rules}");
}

#[test]
fn rules_that_cannot_match_where_they_are_judged_are_refused() {
    let bad = SCENARIO
        .replace(
            "frag_to_client: { proto: udp, fragments: non-first,",
            "frag_to_client: { proto: udp, dport: 53, fragments: non-first,",
        )
        .replace(
            "frag6_from_dc: { proto: udp, fragments: all, in: dc,",
            "frag6_from_dc: { proto: udp, fragments: all, out: dc,",
        )
        .replace("big_to_client2: { sport: 53,", "big_to_client2: { proto: [udp, tcp], sport: 53,")
        .replace("saddr: lan, daddr: 198.51.100.3", "saddr: 2001:db8:2::/64, daddr: 198.51.100.3")
        .replace("in: lan, action: drop }", "in: nowhere, action: reject }");
    let t = common::Temp::new("firewall-bad");
    let file = t.file("bad.yaml", &bad);
    let out = common::run(&["check", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    for want in [
        "carry no transport header",
        "before the way out is known",
        "over TCP a message has no such size",
        "share no IP version",
        "no interface on `nowhere`",
        "sends no ICMP error",
    ] {
        assert!(err.contains(want), "{want}:\n{err}");
    }
    assert_eq!(err.lines().filter(|l| l.contains(" bad-firewall-rule: ")).count(), 6, "{err}");
}

#[test]
fn a_networks_mtu_is_the_mtu_of_each_of_its_links() {
    let s = harness::scenario::parse(std::path::Path::new("firewall-keys.yaml"), SCENARIO).unwrap_or_else(|d| panic!("{d}"));
    let up = harness::run::servers_only(&s).unwrap();
    let mtu = |node: &str, dev: &str| {
        let out = up
            .lab
            .output(node, std::process::Command::new("ip").args(["-o", "link", "show", "dev", dev]))
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.split_whitespace().skip_while(|w| *w != "mtu").nth(1).map(String::from).unwrap_or(text)
    };
    // dc joins three nodes (a bridge); lan keeps the kernel's 1500.
    for node in ["router", "ns1", "ns2"] {
        assert_eq!(mtu(node, "dc"), "1280", "{node}");
    }
    assert_eq!(mtu("router", "lan"), "1500");
    let bad = SCENARIO.replace("mtu: 1280", "mtu: 1000");
    let e = harness::scenario::parse(std::path::Path::new("bad.yaml"), &bad).unwrap_err().to_string();
    assert!(e.contains("bad-value") && e.contains("mtu `1000`") && e.contains("IPv6 needs 1280"), "{e}");
}
