//! The outcome of a run: what was sent and seen, the rates of counted
//! queries, and every failure in words that name its cause.

use std::collections::BTreeMap;

use super::live::Seen;
use crate::outcome::{self, Outcome, ProbeResult, QueryResult, ResolverReport, Timings};
use crate::plan::Plan;
use crate::resolver::Build;

pub(super) fn outcome(plan: &Plan, probes: Vec<ProbeResult>, queries: Vec<QueryResult>, seen: Seen, timings: Timings) -> Outcome {
    let (scenario, build) = (plan.scenario, plan.build);
    let rates = outcome::rates(&queries, &scenario.query_specs, &build.name, plan.kind);
    let mut failures = failures(&probes, &queries, &rates, &build.name);
    failures.extend(seen.limits.iter().map(|l| format!("limit: {l}")));
    failures.extend(wrapped_failures(build, &seen.reports));
    Outcome {
        schema_version: outcome::SCHEMA_VERSION,
        scenario: scenario.name.clone(),
        kind: build.kind,
        build: outcome::BuildReport::of(build),
        probes,
        queries,
        resolvers: seen.reports,
        servers: seen.by_server,
        rule_actions: scenario
            .nodes
            .iter()
            .filter(|n| !n.firewall.is_empty())
            .map(|n| {
                (
                    n.name.clone(),
                    n.firewall.iter().map(|f| (f.name.clone(), f.action.name().to_string())).collect(),
                )
            })
            .collect(),
        firewalls: seen.firewalls,
        rates,
        timings,
        failures,
        limits: seen.limits,
        messages: seen.messages,
    }
}

/// Every expectation that did not hold, in words that name the cause.
fn failures(probes: &[ProbeResult], queries: &[QueryResult], rates: &[outcome::RateResult], name: &str) -> Vec<String> {
    let mut out = Vec::new();
    for p in probes.iter().filter(|p| !p.verdict.ok) {
        let transport = p.transport_label();
        let what = format!("probe {} {} @{} {transport} port {}", p.qname, p.qtype, p.server, p.requested_port);
        out.push(format!("{what}: {}", p.verdict.against()));
    }
    for r in rates.iter().filter(|r| !r.ok) {
        let seen: Vec<String> = r.outcomes.iter().map(|(w, n)| format!("{w} x{n}")).collect();
        let examples = if r.examples.is_empty() {
            String::new()
        } else {
            format!(": {}", r.examples.join(", "))
        };
        out.push(format!(
            "rates of {} via {} ({name}): {} (outcomes: {}{examples})",
            r.ask,
            r.resolver,
            r.misses().join("; "),
            seen.join(", ")
        ));
    }
    for q in queries.iter().filter(|q| !q.verdict.ok) {
        let transport = q.transport_label();
        let what = format!("query {} {} via {} ({name}, {transport})", q.qname, q.qtype, q.resolver);
        out.push(format!("{what}: {}", q.verdict.against()));
    }
    out
}

/// A wrapped build that ended badly when stopped (valgrind's
/// `--error-exitcode`, a crash on SIGTERM) fails the run: its report is in
/// the evidence, next to its log.
fn wrapped_failures(build: &Build, reports: &BTreeMap<String, ResolverReport>) -> Vec<String> {
    let Some(w) = &build.wrap else { return vec![] };
    reports
        .iter()
        .filter_map(|(node, r)| r.exit.as_ref().filter(|e| e.as_str() != "exit status: 0").map(|e| (node, e)))
        .map(|(node, e)| {
            format!(
                "{} on {node} under `{}` ended with {e} when stopped (see resolvers/{node}/ in the evidence)",
                build.name, w.text
            )
        })
        .collect()
}
