//! Which builds a run takes. Asked for, from the first of: `--resolver`,
//! `--resolver-file`, the `DNSLAB_RESOLVERS` variable (all in the
//! [`super::build`] grammar). Not asked for: the kinds the scenario runs
//! ([`runs`]), hickory and every real one installed, each skipped one named
//! with how to install it.

use std::path::PathBuf;

use super::build::{self, Build, Options, Written};
use super::{available, Kind};
use crate::scenario::Scenario;

/// What the command line says about builds.
#[derive(Debug, Default, Clone)]
pub struct Asked {
    /// `--resolver` values, each a comma-separated list.
    pub resolver: Vec<String>,
    /// `--resolver-file FILE`.
    pub file: Option<PathBuf>,
    pub options: Options,
}

/// The variable a CI job sets instead of `--resolver`.
pub const ENV: &str = "DNSLAB_RESOLVERS";

/// Does a run of `scenario` start `kind` anywhere? A scenario of probes
/// only starts no resolver, but its probes still run: once, in a lab
/// labelled with the built-in kind.
pub fn runs(s: &Scenario, kind: Kind) -> bool {
    match s.resolvers().next() {
        None => kind == Kind::Hickory,
        Some(_) => s.resolvers().any(|n| s.runs_kind(&n.name, kind)),
    }
}

/// The builds written on the command line, in a file or in the
/// environment; `None` when none was asked for.
fn written(asked: &Asked) -> Result<Option<Vec<Written>>, Vec<String>> {
    if !asked.resolver.is_empty() {
        return Ok(Some(asked.resolver.iter().flat_map(|r| build::list(r)).collect()));
    }
    if let Some(f) = &asked.file {
        let text = crate::text::read_bounded(f, build::CONFIG_MAX).map_err(|e| vec![format!("--resolver-file {}: {e}", f.display())])?;
        return Ok(Some(build::file_lines(&text)));
    }
    Ok(from_env().map(|v| build::list(&v)))
}

/// `DNSLAB_RESOLVERS`, when it is set to something (empty is unset).
pub fn from_env() -> Option<String> {
    std::env::var(ENV).ok().filter(|v| !v.trim().is_empty())
}

/// The builds to run `s` with, and what was skipped (not installed: how to
/// install it). Every problem of what was asked for is reported at once.
pub fn choose(asked: &Asked, s: &Scenario) -> Result<(Vec<Build>, Vec<String>), Vec<String>> {
    if asked.file.is_some() && !asked.resolver.is_empty() {
        return Err(vec!["give --resolver or --resolver-file, not both".into()]);
    }
    if let Some(w) = written(asked)? {
        if w.is_empty() {
            return Err(vec![
                "no build asked for: write [NAME=]KIND[:PATH], e.g. `unbound` or `new=unbound:./build/unbound`".into(),
            ]);
        }
        return build::resolve(&w, &asked.options).map(|b| (b, vec![]));
    }
    let (mut take, mut skipped) = (vec![], vec![]);
    for k in Kind::ALL.into_iter().filter(|&k| runs(s, k)) {
        match available(k) {
            Ok(()) => take.push(Written {
                name: None,
                kind: k.name().into(),
                path: None,
            }),
            Err(e) => skipped.push(e.to_string()),
        }
    }
    build::resolve(&take, &asked.options).map(|b| (b, skipped))
}
