//! Our servers checked by a tool nobody here wrote: Zonemaster
//! (`zonemaster-cli`, Debian `zonemaster-cli`), run inside a lab node as
//! `dnslab exec client -- zonemaster-cli ...` would run it.

use std::process::Command;

/// example.com is written without an SOA: we generate it.
const SCENARIO: &str = r#"
name: outside-zonemaster
networks: { net: 203.0.113.0/24 }
nodes:
  client: { interfaces: { net: 203.0.113.10 } }
  root:
    interfaces: { net: 203.0.113.1 }
    server: { name: a.root-servers.net, zones: ["."] }
  gtld:
    interfaces: { net: 203.0.113.2 }
    server: { name: a.gtld-servers.net, zones: [com] }
  ns1:
    interfaces: { net: 203.0.113.3 }
    server: { name: ns1.example.com, zones: [example.com] }
  ns2:
    interfaces: { net: 203.0.113.4 }
    server: { name: ns2.example.com, zones: [example.com] }
zones:
  example.com: |
    $TTL 300
    www IN A 203.0.113.80
"#;

/// Zonemaster's Zone module (SOA timers, MNAME, RNAME, a unique SOA on
/// every server) and Nameserver module (EDNS, DO bit, AXFR, opcodes, case)
/// report nothing at WARNING or above against our servers and generated SOA.
#[test]
fn zonemaster_finds_nothing_wrong_with_our_servers() {
    let bin = harness::resolver::find_binary("zonemaster-cli").expect("zonemaster-cli is not installed: apt-get install zonemaster-cli");
    let s = harness::scenario::parse(std::path::Path::new("outside.yaml"), SCENARIO).unwrap_or_else(|d| panic!("{d}"));
    let up = harness::run::servers_only(&s).unwrap();
    let lab = &up.lab;
    // Zonemaster's own root hints would point at the real root.
    let dir = std::env::temp_dir().join(format!("dnslab-zonemaster-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let hints = dir.join("root.hints");
    std::fs::write(&hints, ". 3600000 NS a.root-servers.net.\na.root-servers.net. 3600000 A 203.0.113.1\n").unwrap();
    let out = lab
        .output(
            "client",
            Command::new(bin)
                .args([
                    "--no-ipv6",
                    "--show-testcase",
                    "--level",
                    "WARNING",
                    "--test",
                    "Zone",
                    "--test",
                    "Nameserver",
                    "--hints",
                ])
                .arg(&hints)
                .arg("example.com"),
        )
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    let findings: Vec<&str> = text
        .lines()
        .filter(|l| [" WARNING ", " ERROR ", " CRITICAL "].iter().any(|w| l.contains(w)))
        .collect();
    assert!(findings.is_empty(), "Zonemaster found:\n{}", findings.join("\n"));
    // It did run the tests: the engine's banner is there.
    assert!(text.contains("Zonemaster engine") || text.contains("======="), "{text}");
}
