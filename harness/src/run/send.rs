//! Sending the plan's questions: probes straight to servers, and client
//! queries through the resolvers. Each lane's questions go one after
//! another from inside their node; lanes go side by side.

use std::sync::Arc;

use super::RunError;
use crate::answer::Reply;
use crate::outcome::{Judged, ProbeResult, QueryResult};
use crate::plan::{self, Plan, Send};
use crate::probe;
use crate::resolver::watch;

/// Sends every lane, lanes side by side. Returns (index, answer) pairs.
fn send_lanes(lab: &lab::Lab, lanes: Vec<Vec<Send>>, board: Option<&Arc<watch::Board>>) -> Result<Vec<(usize, Reply)>, RunError> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = lanes.into_iter().map(|lane| scope.spawn(move || run_lane(lab, lane, board))).collect();
        let mut out = Vec::new();
        for h in handles {
            out.extend(h.join().map_err(|_| RunError::Other("sender thread panicked".into()))??);
        }
        Ok(out)
    })
}

/// One lane: each run of asks from the same node on one thread inside it.
/// A query to a resolver the watcher sees hung ends at once.
fn run_lane(lab: &lab::Lab, lane: Vec<Send>, board: Option<&Arc<watch::Board>>) -> Result<Vec<(usize, Reply)>, RunError> {
    let mut out = Vec::new();
    let mut rest = lane.into_iter().peekable();
    while let Some(first) = rest.next() {
        let node = first.from.clone();
        let mut run = vec![first];
        while let Some(s) = rest.next_if(|s| s.from == node) {
            run.push(s);
        }
        let board = board.cloned();
        out.extend(probe::block_in(lab, &node, move || async move {
            let mut answers = Vec::new();
            for s in run {
                let reply = match (&board, &s.via) {
                    (Some(b), Some(via)) => watch::ask_unless_hung(&s.ask, b, via).await,
                    _ => probe::ask(&s.ask).await,
                };
                answers.push((s.index, reply));
            }
            answers
        })?);
    }
    Ok(out)
}

/// Every probe of the plan and its whole answer, judged.
pub(super) fn probes(lab: &lab::Lab, plan: &Plan) -> Result<Vec<ProbeResult>, RunError> {
    let probes = &plan.scenario.probes;
    let mut results: Vec<Option<ProbeResult>> = vec![None; probes.len()];
    for (i, reply) in send_lanes(lab, plan::lanes(&plan.probes), None)? {
        let p = &probes[i];
        let (qname, qtype) = (p.name.to_string(), p.qtype.to_string());
        results[i] = Some(ProbeResult {
            from: p.from.clone(),
            server: p.server.clone(),
            server_addr: p.server_addr,
            transport: p.transport,
            stub: p.stub,
            requested_port: p.source_port.to_string(),
            source_port: reply.source_port(),
            elapsed_ms: reply.elapsed_ms(),
            verdict: Judged::of(&p.expect, &reply, &qname, &qtype),
            reply,
            qname,
            qtype,
        });
    }
    // Every probe was sent (each lane returns all of its asks).
    Ok(results.into_iter().flatten().collect())
}

/// Every client query of the plan and its whole answer, judged by the
/// expectation for this build (its own, its kind's, or the general one).
pub(super) fn queries(lab: &lab::Lab, plan: &Plan, board: &Arc<watch::Board>) -> Result<Vec<QueryResult>, RunError> {
    let queries = &plan.scenario.queries;
    let mut results: Vec<Option<QueryResult>> = vec![None; queries.len()];
    for (i, reply) in send_lanes(lab, plan::lanes(&plan.queries), Some(board))? {
        let q = &queries[i];
        let (qname, qtype) = (q.name.to_string(), q.qtype.to_string());
        let (query_bytes, response_bytes) = reply.bytes();
        results[i] = Some(QueryResult {
            from: q.from.clone(),
            resolver: q.via.clone(),
            resolver_addr: q.to,
            kind: plan.build.kind,
            transport: q.transport,
            stub: q.stub,
            elapsed_ms: reply.elapsed_ms(),
            query_bytes,
            response_bytes,
            verdict: Judged::of(q.expect_for(&plan.build.name, plan.kind), &reply, &qname, &qtype),
            reply,
            qname,
            qtype,
        });
    }
    // Queries through a node that does not run this kind are not planned.
    Ok(results.into_iter().flatten().collect())
}
