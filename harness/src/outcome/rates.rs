//! Counted queries summed up: a rate per outcome word and latency
//! percentiles per (resolver, counted query), judged against tolerances.

use serde::{Deserialize, Serialize};

use super::QueryResult;
use crate::answer::Status;
use crate::resolver::Kind;
use crate::scenario::RateBound;
use crate::verdict::Word;

/// A counted query through one resolver, summarised: intermittent
/// behaviour is judged as a rate with a tolerance, never per query.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RateResult {
    pub resolver: String,
    /// The name as written, with `{i}`, and the type.
    pub ask: String,
    pub sent: u32,
    /// Answers with data of the asked type (after following CNAMEs).
    pub noerror_rate: f64,
    #[serde(default)]
    pub nodata_rate: f64,
    #[serde(default)]
    pub referral_rate: f64,
    pub servfail_rate: f64,
    pub nxdomain_rate: f64,
    pub timeout_rate: f64,
    pub p50_ms: u64,
    pub p90_ms: u64,
    pub max_ms: u64,
    pub expect: Vec<RateBound>,
    pub ok: bool,
    /// Outcome word -> how many names ended so: the whole distribution,
    /// not only the rates bounded.
    #[serde(default)]
    pub outcomes: std::collections::BTreeMap<String, u32>,
    /// A few names of each outcome but the most common one, with their
    /// time: where to look when a rate is missed.
    #[serde(default)]
    pub examples: Vec<String>,
}

impl RateResult {
    pub fn rate(&self, name: &str) -> f64 {
        match name {
            "noerror_rate" => self.noerror_rate,
            "nodata_rate" => self.nodata_rate,
            "referral_rate" => self.referral_rate,
            "servfail_rate" => self.servfail_rate,
            "nxdomain_rate" => self.nxdomain_rate,
            _ => self.timeout_rate,
        }
    }

    /// Each bound that does not hold, in words.
    pub fn misses(&self) -> Vec<String> {
        self.expect
            .iter()
            .filter_map(|b| {
                let r = self.rate(&b.rate);
                let low = b.min.is_some_and(|m| r < m);
                let high = b.max.is_some_and(|m| r > m);
                (low || high).then(|| format!("{} {:.3} is outside [{}, {}]", b.rate, r, b.min.unwrap_or(0.0), b.max.unwrap_or(1.0)))
            })
            .collect()
    }
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[(((sorted.len() - 1) as f64) * p).round() as usize]
}

/// Rates per (resolver, counted query), from the individual results. Bounds
/// for this kind (`NODE@KIND`) replace the general ones for the same rate.
/// Sums up the counted queries of the run of build `name` of `kind`; each
/// rate is held to the bound that fits the run best (the build's, else its
/// kind's, else the general one).
pub fn rates(queries: &[QueryResult], specs: &[crate::scenario::QuerySpec], name: &str, kind: Kind) -> Vec<RateResult> {
    let mut out = Vec::new();
    for spec in specs.iter().filter(|s| s.count.is_some()) {
        let q = &spec.query;
        let Some(template) = &q.template else { continue };
        let group: Vec<&QueryResult> = queries
            .iter()
            .filter(|r| r.resolver == q.via && r.transport == q.transport && r.qtype == q.qtype.to_string() && matches_template(&r.qname, template))
            .collect();
        if group.is_empty() {
            continue;
        }
        let n = group.len() as f64;
        let share = |w: Word| group.iter().filter(|r| Word::of(&r.reply, &r.qname, &r.qtype) == Some(w)).count() as f64 / n;
        let status = |s: Status| share(Word::Status(s));
        let mut times: Vec<u64> = group.iter().map(|r| r.elapsed_ms).collect();
        times.sort();
        let mut r = RateResult {
            resolver: q.via.clone(),
            // Over UDP, as before; a TCP one says so, for it is a rate of its own.
            ask: match q.transport {
                crate::scenario::values::Transport::Udp => format!("{template} {}", q.qtype),
                t => format!("{template} {} {t}", q.qtype),
            },
            sent: group.len() as u32,
            noerror_rate: status(Status::NOERROR),
            nodata_rate: share(Word::Nodata),
            referral_rate: share(Word::Referral),
            servfail_rate: status(Status::Rcode(crate::answer::Rcode::ServFail)),
            nxdomain_rate: status(Status::Rcode(crate::answer::Rcode::NxDomain)),
            timeout_rate: status(Status::Timeout),
            p50_ms: percentile(&times, 0.5),
            p90_ms: percentile(&times, 0.9),
            max_ms: times.last().copied().unwrap_or(0),
            expect: {
                let fit = |b: &crate::scenario::RateBound| b.kind.as_ref().map_or(Some(0), |t| t.fit(name, kind));
                q.expect_rates
                    .iter()
                    .filter(|b| fit(b).is_some() && fit(b) == q.expect_rates.iter().filter(|o| o.rate == b.rate).filter_map(fit).max())
                    .cloned()
                    .collect()
            },
            ok: true,
            outcomes: Default::default(),
            examples: vec![],
        };
        for q in &group {
            *r.outcomes.entry(q.verdict.outcome.clone()).or_default() += 1;
        }
        let common = r.outcomes.iter().max_by_key(|(_, n)| **n).map(|(w, _)| w.clone()).unwrap_or_default();
        for w in r.outcomes.keys().filter(|w| **w != common) {
            let few = group.iter().filter(|q| &q.verdict.outcome == w).take(3);
            r.examples
                .extend(few.map(|q| format!("{} {w} in {}", q.qname, crate::report::ms(q.elapsed_ms))));
        }
        r.ok = r.misses().is_empty();
        out.push(r);
    }
    out
}

/// Does `name` come from `template` (`q{i}.w.live.com.` matches `q17.w.live.com.`)?
pub fn matches_template(name: &str, template: &str) -> bool {
    let Some((pre, post)) = template.split_once(crate::scenario::values::INDEX) else {
        return false;
    };
    name.len() > pre.len() + post.len()
        && name[..pre.len()].eq_ignore_ascii_case(pre)
        && name[name.len() - post.len()..].eq_ignore_ascii_case(post)
        && name[pre.len()..name.len() - post.len()].bytes().all(|b| b.is_ascii_digit())
}
