//! Small DNS vocabulary shared by probes, servers, capture and reports.

use hickory_proto::op::ResponseCode;

use crate::answer::Rcode;
use serde::{Deserialize, Serialize};

/// `NOERROR`, `SERVFAIL`, ... as dig prints them (one table: [`Rcode`]).
pub fn rcode_name(rc: ResponseCode) -> String {
    Rcode::from(rc).to_string()
}

/// Source ports in the three classes that matter for this lab: the seed's
/// firewall treats 53, the rest of the low ports, and high ports differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PortClass {
    #[serde(rename = "53")]
    P53,
    Low,
    High,
}

impl PortClass {
    pub fn of(port: u16) -> PortClass {
        match port {
            53 => PortClass::P53,
            0..=1023 => PortClass::Low,
            _ => PortClass::High,
        }
    }
}

impl std::fmt::Display for PortClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PortClass::P53 => "53",
            PortClass::Low => "low",
            PortClass::High => "high",
        })
    }
}

/// Names that must never leave a resolver (RFC 6761, RFC 6303): what the
/// root servers see too much of. Returns the class a query name leaks.
pub fn leak_class(qname: &str) -> Option<&'static str> {
    let n = qname.trim_end_matches('.').to_ascii_lowercase();
    let under = |zone: &str| n == zone || n.ends_with(&format!(".{zone}"));
    if under("localhost") || under("127.in-addr.arpa") || under(&format!("1{}.ip6.arpa", ".0".repeat(31))) {
        return Some(LOCALHOST);
    }
    let private = under("10.in-addr.arpa") || under("168.192.in-addr.arpa") || (16..32).any(|b| under(&format!("{b}.172.in-addr.arpa")));
    private.then_some(RFC1918_REVERSE)
}

pub const LOCALHOST: &str = "localhost";
pub const RFC1918_REVERSE: &str = "rfc1918-reverse";

/// `live.com.` -> `live.com`, as people write names; the root stays `.`.
pub fn dotless(name: &str) -> &str {
    match name.trim_end_matches('.') {
        "" => ".",
        n => n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaks_are_classified() {
        assert_eq!(leak_class("2.5.168.192.in-addr.arpa."), Some(RFC1918_REVERSE));
        assert_eq!(leak_class("9.0.16.172.IN-ADDR.ARPA."), Some(RFC1918_REVERSE));
        assert_eq!(leak_class("10.in-addr.arpa."), Some(RFC1918_REVERSE));
        assert_eq!(leak_class("9.0.32.172.in-addr.arpa."), None);
        assert_eq!(leak_class("in-addr.arpa."), None);
        assert_eq!(leak_class("localhost."), Some(LOCALHOST));
        assert_eq!(leak_class("1.0.0.127.in-addr.arpa."), Some(LOCALHOST));
        assert_eq!(leak_class("live.com."), None);
    }
}
