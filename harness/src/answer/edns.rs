//! The OPT record of an answer (RFC 6891): version, UDP size, DO, each
//! option by its IANA name, and Extended DNS Errors (RFC 8914) decoded.

use hickory_proto::rr::rdata::opt::EdnsOption;
use serde::{Deserialize, Serialize};

/// An Extended DNS Error (RFC 8914): its code, the registry's name, the text.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Ede {
    pub code: u16,
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub text: String,
}

/// An EDNS option other than EDE: its code, name and data in hex.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct EdnsOpt {
    pub code: u16,
    pub name: String,
    pub hex: String,
}

/// The OPT pseudo-record of an answer (RFC 6891).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Edns {
    pub version: u8,
    pub udp_size: u16,
    pub dnssec_ok: bool,
    pub options: Vec<EdnsOpt>,
    pub ede: Vec<Ede>,
}

/// RFC 8914's registry, with names as expectations write them.
pub const EDE_NAMES: [&str; 31] = [
    "other",
    "unsupported-dnskey-algorithm",
    "unsupported-ds-digest-type",
    "stale-answer",
    "forged-answer",
    "dnssec-indeterminate",
    "dnssec-bogus",
    "signature-expired",
    "signature-not-yet-valid",
    "dnskey-missing",
    "rrsigs-missing",
    "no-zone-key-bit-set",
    "nsec-missing",
    "cached-error",
    "not-ready",
    "blocked",
    "censored",
    "filtered",
    "prohibited",
    "stale-nxdomain-answer",
    "not-authoritative",
    "not-supported",
    "no-reachable-authority",
    "network-error",
    "invalid-data",
    "signature-expired-before-valid",
    "too-early",
    "unsupported-nsec3-iterations-value",
    "unable-to-conform-to-policy",
    "synthesized",
    "invalid-query-type",
];

/// An EDE code's name, or `ede-N` for one the registry above lacks.
pub fn ede_name(code: u16) -> String {
    EDE_NAMES.get(code as usize).map_or_else(|| format!("ede-{code}"), |n| n.to_string())
}

/// EDNS option names (IANA's registry), for the ones resolvers send.
fn option_name(code: u16) -> String {
    match code {
        3 => "NSID".into(),
        5 => "DAU".into(),
        6 => "DHU".into(),
        7 => "N3U".into(),
        8 => "ECS".into(),
        9 => "EXPIRE".into(),
        10 => "COOKIE".into(),
        11 => "KEEPALIVE".into(),
        12 => "PADDING".into(),
        13 => "CHAIN".into(),
        14 => "KEY-TAG".into(),
        15 => "EDE".into(),
        18 => "REPORT-CHANNEL".into(),
        19 => "ZONEVERSION".into(),
        n => format!("OPT{n}"),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Edns {
    pub(super) fn of(e: &hickory_proto::op::Edns) -> Edns {
        let mut options = Vec::new();
        let mut ede = Vec::new();
        for (code, opt) in e.options().as_ref() {
            let code = u16::from(*code);
            match opt {
                EdnsOption::Unknown(15, data) if data.len() >= 2 => ede.push(Ede {
                    code: u16::from_be_bytes([data[0], data[1]]),
                    name: ede_name(u16::from_be_bytes([data[0], data[1]])),
                    // RFC 8914: UTF-8 text, not NUL-terminated; tolerate junk.
                    text: String::from_utf8_lossy(&data[2..]).trim_end_matches('\0').to_string(),
                }),
                EdnsOption::Unknown(_, data) => options.push(EdnsOpt {
                    code,
                    name: option_name(code),
                    hex: hex(data),
                }),
                EdnsOption::NSID(p) => options.push(EdnsOpt {
                    code,
                    name: option_name(code),
                    hex: hex(p.as_ref()),
                }),
                // Typed by hickory (client subnet, DAU): the option's bytes again.
                other => options.push(EdnsOpt {
                    code,
                    name: option_name(code),
                    hex: Vec::<u8>::try_from(other).map(|b| hex(&b)).unwrap_or_default(),
                }),
            }
        }
        Edns {
            version: e.version(),
            udp_size: e.max_payload(),
            dnssec_ok: e.flags().dnssec_ok,
            options,
            ede,
        }
    }
}
