//! Small DNS vocabulary shared by probes, servers, capture and reports.

use hickory_proto::op::ResponseCode;
use serde::{Deserialize, Serialize};

/// `NOERROR`, `SERVFAIL`, ... as dig prints them.
pub fn rcode_name(rc: ResponseCode) -> String {
    match rc {
        ResponseCode::NoError => "NOERROR".into(),
        ResponseCode::FormErr => "FORMERR".into(),
        ResponseCode::ServFail => "SERVFAIL".into(),
        ResponseCode::NXDomain => "NXDOMAIN".into(),
        ResponseCode::NotImp => "NOTIMP".into(),
        ResponseCode::Refused => "REFUSED".into(),
        other => format!("RCODE{}", u16::from(other)),
    }
}

/// The outcome of a query that got no answer in time.
pub const TIMEOUT: &str = "TIMEOUT";

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
