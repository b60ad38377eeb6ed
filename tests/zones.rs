//! The seed's zone-file fragments (`../shared/seeds/004_*`), loaded
//! verbatim: multi-line SOA with comments, `$ORIGIN`, `$TTL 1d`, `@`, blank
//! owners and relative names. Where the article elides lines (`.....`), the
//! loader must say so with the line number.

use std::path::Path;

use harness::zone::parse;
use hickory_proto::rr::{Name, RecordType};

fn fixture(file: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/seed").join(file)).unwrap()
}

fn n(s: &str) -> Name {
    Name::from_ascii(s).unwrap()
}

fn lines(origin: &str, text: &str) -> Vec<String> {
    parse(&n(origin), text)
        .unwrap_or_else(|e| panic!("{origin}: {e:?}"))
        .iter()
        .map(|r| r.to_string().to_lowercase())
        .collect()
}

#[test]
fn reverse_zone_for_192_168_5() {
    let text = fixture("192.168.5.rev");
    // The article elides PTRs 5-13 as `.....`: that line, and only it, is an error.
    let errors = parse(&n("5.168.192.in-addr.arpa."), &text).unwrap_err();
    assert_eq!(errors.iter().map(|e| e.line).collect::<Vec<_>>(), vec![20], "{errors:?}");
    let whole = text.replace(".....\n", "");
    let got = lines("5.168.192.in-addr.arpa.", &whole);
    assert!(
        got.iter()
            .any(|l| l.starts_with("5.168.192.in-addr.arpa.") && l.contains("soa ns1.example.com. hostmaster.example.com. 2007040800 43200 900 1814400 7200")),
        "{got:#?}"
    );
    assert!(
        got.iter()
            .any(|l| l.starts_with("4.5.168.192.in-addr.arpa.") && l.ends_with("ptr mail.example.com.")),
        "{got:#?}"
    );
    assert!(got
        .iter()
        .any(|l| l.starts_with("14.5.168.192.in-addr.arpa.") && l.ends_with("ptr joe.example.com.")));
    assert_eq!(got.iter().filter(|l| l.contains(" ns ")).count(), 2);
    // The seed's warning: without its trailing dot, a right-hand name gets the origin appended.
    let slip = whole.replace("PTR     mail.example.com.", "PTR     mail.example.com");
    let got = lines("5.168.192.in-addr.arpa.", &slip);
    assert!(got.iter().any(|l| l.ends_with("ptr mail.example.com.5.168.192.in-addr.arpa.")), "{got:#?}");
}

#[test]
fn both_localhost_forward_zones_are_the_same() {
    let terse = lines("localhost.", &fixture("master.localhost"));
    let plain = lines("localhost.", &fixture("localhost.zone"));
    let types = |z: &[String]| z.iter().map(|l| l.split_whitespace().nth(3).unwrap().to_string()).collect::<Vec<_>>();
    assert_eq!(types(&terse), vec!["a", "ns", "soa"]);
    assert_eq!(types(&plain), types(&terse));
    assert!(terse.contains(&"localhost. 86400 in a 127.0.0.1".to_string()), "{terse:#?}");
    assert!(terse[2].contains("soa localhost. hostmaster.localhost. 0 43200 900 604800 10800"), "{terse:#?}");
    assert!(
        plain[2].contains("soa localhost. hostmaster.localhost. 2007040800 10800 900 604800 10800"),
        "{plain:#?}"
    );
}

#[test]
fn localhost_reverse_zone() {
    let got = lines("0.0.127.in-addr.arpa.", &fixture("localhost.rev"));
    assert!(got.contains(&"1.0.0.127.in-addr.arpa. 86400 in ptr localhost.".to_string()), "{got:#?}");
    assert!(
        got.iter()
            .any(|l| l.contains("soa localhost. hostmaster.localhost. 2007040800 10800 15 604800 10800")),
        "{got:#?}"
    );
}

#[test]
fn example_com_fragment_and_its_soa() {
    // The fragment has no $TTL and no SOA: with the SOA fragment in front, it loads.
    let text = format!("$TTL 1d\n$ORIGIN example.com.\n{}{}", fixture("soa.fragment"), fixture("example.com.fragment"));
    let got = lines("example.com.", &text);
    assert!(got.contains(&"example.com. 86400 in ns ns2.example.net.".to_string()), "{got:#?}");
    assert!(got.contains(&"ns1.example.com. 86400 in a 192.168.5.2".to_string()), "{got:#?}");
    let soa = parse(&n("example.com."), &text)
        .unwrap()
        .into_iter()
        .find(|r| r.record_type() == RecordType::SOA)
        .unwrap();
    assert_eq!(
        soa.data.to_string(),
        "ns1.example.com. hostmaster.example.com. 2007040800 43200 900 1814400 7200"
    );
}
