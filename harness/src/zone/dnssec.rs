//! DNSSEC records in a master file: DNSKEY, CDNSKEY, DS, CDS, RRSIG, NSEC,
//! NSEC3 and NSEC3PARAM, in their presentation format (RFC 4034 sections
//! 2.2, 3.2, 4.2, 5.3; RFC 5155 sections 3.3, 4.3). hickory's text parser
//! refuses them ("should be dynamically generated"), but a signed zone as
//! `dnssec-signzone` writes it is made of them. Each is turned into its wire
//! form here and then read by hickory's own wire decoder, so the record is
//! the one hickory would have received.

use hickory_proto::rr::{Name, RData, RecordType};
use hickory_proto::serialize::binary::{BinDecoder, Restrict};

/// The DNSSEC type this mnemonic names, if it is one we read.
pub fn dnssec_type(word: &str) -> Option<RecordType> {
    let t = rtype_of(word)?;
    matches!(
        t,
        RecordType::DNSKEY
            | RecordType::CDNSKEY
            | RecordType::DS
            | RecordType::CDS
            | RecordType::RRSIG
            | RecordType::NSEC
            | RecordType::NSEC3
            | RecordType::NSEC3PARAM
    )
    .then_some(t)
}

/// A record type by its mnemonic, in any case.
fn rtype_of(s: &str) -> Option<RecordType> {
    s.to_ascii_uppercase().parse().ok()
}

/// The rdata of a `rtype` record from its presentation tokens.
pub fn rdata(rtype: RecordType, tokens: &[&str], origin: &Name) -> Result<RData, String> {
    let mut w = Vec::new();
    let t = Tokens { rtype };
    match rtype {
        RecordType::DNSKEY | RecordType::CDNSKEY => {
            let [flags, protocol, alg, key @ ..] = tokens else {
                return Err(t.needs("flags, protocol, algorithm and a base64 key"));
            };
            w.extend(t.num::<u16>(flags, "flags")?.to_be_bytes());
            w.push(t.num::<u8>(protocol, "protocol")?);
            w.push(t.algorithm(alg)?);
            w.extend(t.base64(key, "key")?);
        }
        RecordType::DS | RecordType::CDS => {
            let [tag, alg, digest_type, digest @ ..] = tokens else {
                return Err(t.needs("key tag, algorithm, digest type and a hex digest"));
            };
            w.extend(t.num::<u16>(tag, "key tag")?.to_be_bytes());
            w.push(t.algorithm(alg)?);
            w.push(t.num::<u8>(digest_type, "digest type")?);
            w.extend(t.hex(digest, "digest")?);
        }
        RecordType::RRSIG => {
            let [covered, alg, labels, ttl, expiration, inception, tag, signer, sig @ ..] = tokens else {
                return Err(t.needs("type covered, algorithm, labels, original TTL, expiration, inception, key tag, signer and a base64 signature"));
            };
            let covered = rtype_of(covered).ok_or_else(|| format!("RRSIG: `{covered}` is not a record type"))?;
            w.extend(u16::from(covered).to_be_bytes());
            w.push(t.algorithm(alg)?);
            w.push(t.num::<u8>(labels, "labels")?);
            w.extend(t.num::<u32>(ttl, "original TTL")?.to_be_bytes());
            w.extend(time(expiration).map_err(|e| format!("RRSIG expiration: {e}"))?.to_be_bytes());
            w.extend(time(inception).map_err(|e| format!("RRSIG inception: {e}"))?.to_be_bytes());
            w.extend(t.num::<u16>(tag, "key tag")?.to_be_bytes());
            name(&mut w, signer, origin)?;
            w.extend(t.base64(sig, "signature")?);
        }
        RecordType::NSEC => {
            let [next, types @ ..] = tokens else {
                return Err(t.needs("the next owner name and a type list"));
            };
            name(&mut w, next, origin)?;
            type_bitmap(&mut w, types)?;
        }
        RecordType::NSEC3 | RecordType::NSEC3PARAM => {
            let [alg, flags, iterations, salt, rest @ ..] = tokens else {
                return Err(t.needs("hash algorithm, flags, iterations and a salt"));
            };
            w.push(t.num::<u8>(alg, "hash algorithm")?);
            w.push(t.num::<u8>(flags, "flags")?);
            w.extend(t.num::<u16>(iterations, "iterations")?.to_be_bytes());
            let salt = if *salt == "-" { vec![] } else { t.hex(&[salt], "salt")? };
            w.push(u8::try_from(salt.len()).map_err(|_| format!("{rtype}: the salt is longer than 255 bytes"))?);
            w.extend(salt);
            if rtype == RecordType::NSEC3 {
                let [next, types @ ..] = rest else {
                    return Err(t.needs("the next hashed owner name (base32hex)"));
                };
                let hash = data_encoding::BASE32_DNSSEC
                    .decode(next.to_ascii_lowercase().as_bytes())
                    .map_err(|e| format!("NSEC3: the next hashed owner `{next}` is not base32hex: {e}"))?;
                w.push(u8::try_from(hash.len()).map_err(|_| "NSEC3: the next hashed owner is too long".to_string())?);
                w.extend(hash);
                type_bitmap(&mut w, types)?;
            } else if !rest.is_empty() {
                return Err(format!("NSEC3PARAM: `{}` after the salt", rest.join(" ")));
            }
        }
        _ => return Err(format!("{rtype} is not a DNSSEC type")),
    }
    let len = u16::try_from(w.len()).map_err(|_| format!("{rtype}: the data is longer than 65535 bytes"))?;
    RData::read(&mut BinDecoder::new(&w), rtype, Restrict::new(len)).map_err(|e| format!("{rtype}: {e}"))
}

/// Reads the fields of one `rtype` record, with errors that name it.
struct Tokens {
    rtype: RecordType,
}

impl Tokens {
    fn needs(&self, what: &str) -> String {
        format!("{} needs {what}", self.rtype)
    }

    /// A DNSSEC algorithm, as a number or its mnemonic (RFC 4034 A.1;
    /// hickory prints RRSIGs with the mnemonic).
    fn algorithm(&self, s: &str) -> Result<u8, String> {
        const NAMES: [(&str, u8); 15] = [
            ("RSAMD5", 1),
            ("DH", 2),
            ("DSA", 3),
            ("RSASHA1", 5),
            ("DSA-NSEC3-SHA1", 6),
            ("RSASHA1-NSEC3-SHA1", 7),
            ("RSASHA256", 8),
            ("RSASHA512", 10),
            ("ECC-GOST", 12),
            ("ECDSAP256SHA256", 13),
            ("ECDSAP384SHA384", 14),
            ("ED25519", 15),
            ("ED448", 16),
            ("PRIVATEDNS", 253),
            ("PRIVATEOID", 254),
        ];
        match NAMES.iter().find(|(n, _)| n.eq_ignore_ascii_case(s)) {
            Some((_, v)) => Ok(*v),
            None => self.num(s, "algorithm"),
        }
    }

    fn num<T: std::str::FromStr>(&self, s: &str, what: &str) -> Result<T, String> {
        s.parse().map_err(|_| format!("{}: {what} `{s}` is not a number in range", self.rtype))
    }

    /// Base64 that may be split over several tokens (as signers write it).
    fn base64(&self, parts: &[&str], what: &str) -> Result<Vec<u8>, String> {
        if parts.is_empty() {
            return Err(format!("{}: the {what} is missing", self.rtype));
        }
        data_encoding::BASE64
            .decode(parts.concat().as_bytes())
            .map_err(|e| format!("{}: the {what} is not base64: {e}", self.rtype))
    }

    fn hex(&self, parts: &[&str], what: &str) -> Result<Vec<u8>, String> {
        if parts.is_empty() {
            return Err(format!("{}: the {what} is missing", self.rtype));
        }
        data_encoding::HEXUPPER_PERMISSIVE
            .decode(parts.concat().as_bytes())
            .map_err(|e| format!("{}: the {what} is not hex: {e}", self.rtype))
    }
}

/// A domain name in wire form, uncompressed (RFC 4034 3.1.7, 4.1.1).
fn name(w: &mut Vec<u8>, s: &str, origin: &Name) -> Result<(), String> {
    let n = match s {
        "@" => origin.clone(),
        _ => Name::parse(s, Some(origin)).map_err(|e| format!("`{s}` is not a domain name: {e}"))?,
    };
    for label in n.iter() {
        w.push(label.len() as u8);
        w.extend(label);
    }
    w.push(0);
    Ok(())
}

/// The type bit maps of NSEC and NSEC3 (RFC 4034 4.1.2): per window of
/// 256 types, its number, its length, and one bit per type present.
fn type_bitmap(w: &mut Vec<u8>, types: &[&str]) -> Result<(), String> {
    let mut codes: Vec<u16> = types
        .iter()
        .map(|t| rtype_of(t).map(u16::from).ok_or_else(|| format!("`{t}` is not a record type")))
        .collect::<Result<_, _>>()?;
    codes.sort_unstable();
    codes.dedup();
    let mut i = 0;
    while i < codes.len() {
        let window = (codes[i] >> 8) as u8;
        let mut bits = [0u8; 32];
        let mut last = 0;
        while i < codes.len() && (codes[i] >> 8) as u8 == window {
            let low = (codes[i] & 0xff) as usize;
            bits[low / 8] |= 0x80 >> (low % 8);
            last = low / 8;
            i += 1;
        }
        w.push(window);
        w.push(last as u8 + 1);
        w.extend(&bits[..=last]);
    }
    Ok(())
}

/// An RRSIG time: `YYYYMMDDHHmmSS` in UTC, or seconds since the epoch
/// (RFC 4034 3.2), as the 32-bit serial number the wire carries.
fn time(s: &str) -> Result<u32, String> {
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("`{s}` is neither YYYYMMDDHHmmSS nor a number of seconds"));
    }
    if s.len() != 14 {
        return s.parse::<u32>().map_err(|_| format!("`{s}` is not a 32-bit number of seconds"));
    }
    let n = |r: std::ops::Range<usize>| s[r].parse::<i64>().unwrap_or(0);
    let (y, mo, d, h, mi, se) = (n(0..4), n(4..6), n(6..8), n(8..10), n(10..12), n(12..14));
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return Err(format!("`{s}` is not a date and time"));
    }
    // Days from 1970-01-01 to y-mo-d (Howard Hinnant's days_from_civil).
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * (if mo > 2 { mo - 3 } else { mo + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + mi * 60 + se;
    // Serial arithmetic: the wire keeps the low 32 bits.
    Ok(secs.rem_euclid(1 << 32) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rrsig_times_are_utc_dates_or_seconds() {
        assert_eq!(time("19700101000000"), Ok(0));
        assert_eq!(time("20261202000000"), Ok(1_796_169_600));
        assert_eq!(time("1796169600"), Ok(1_796_169_600));
        assert!(time("20261302000000").is_err() && time("2026-12-02").is_err());
    }

    #[test]
    fn type_bitmaps_are_written_per_window() {
        let mut w = Vec::new();
        type_bitmap(&mut w, &["A", "MX", "RRSIG", "NSEC", "CAA"]).unwrap();
        // Window 0: A (1), MX (15), RRSIG (46), NSEC (47); window 1: CAA (257).
        assert_eq!(w, [0, 6, 0x40, 0x01, 0, 0, 0, 0x03, 1, 1, 0x40]);
    }
}
