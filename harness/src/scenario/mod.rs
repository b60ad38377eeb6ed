//! Scenarios: YAML in, a validated [`Scenario`] out.
//!
//! `yaml` reads the file keeping positions; `raw` is the serde layer
//! (`deny_unknown_fields`, every unknown key reported); `lint` runs the named
//! checks and reports them all; `model` builds the inert [`Scenario`].
//! Start at [`load`].

pub mod lint;
mod model;
pub mod raw;
pub mod values;
pub mod yaml;

use std::fmt;
use std::path::{Path, PathBuf};

pub use lint::Finding;
pub use model::*;
use raw::ZoneSource;
use yaml::Pos;

/// Everything wrong with one scenario file.
#[derive(Debug, Clone)]
pub struct Diagnostics {
    pub file: PathBuf,
    pub findings: Vec<Finding>,
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.findings {
            writeln!(f, "{}:{}:{} {}: {}", self.file.display(), d.pos.line, d.pos.col, d.rule, d.message)?;
        }
        write!(
            f,
            "{} problem{} in {}",
            self.findings.len(),
            if self.findings.len() == 1 { "" } else { "s" },
            self.file.display()
        )
    }
}

impl std::error::Error for Diagnostics {}

/// The directory that holds the bundled scenarios.
pub fn scenario_dir() -> PathBuf {
    if let Ok(d) = std::env::var("DNSLAB_SCENARIOS") {
        return PathBuf::from(d);
    }
    let here = PathBuf::from("scenarios");
    if here.is_dir() {
        return here;
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios")
}

/// `NAME` (a bundled scenario) or a path to a YAML file.
pub fn locate(name_or_path: &str) -> PathBuf {
    let p = Path::new(name_or_path);
    if p.extension().is_some() || name_or_path.contains('/') {
        p.to_path_buf()
    } else {
        scenario_dir().join(format!("{name_or_path}.yaml"))
    }
}

/// Every bundled scenario: (name, path).
pub fn bundled() -> Vec<(String, PathBuf)> {
    let mut out: Vec<(String, PathBuf)> = std::fs::read_dir(scenario_dir())
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .map(|p| (p.file_stem().unwrap_or_default().to_string_lossy().into_owned(), p))
        .collect();
    out.sort();
    out
}

fn one(file: &Path, pos: Pos, rule: &str, message: String) -> Diagnostics {
    Diagnostics {
        file: file.to_path_buf(),
        findings: vec![Finding {
            pos,
            rule: rule.into(),
            message,
        }],
    }
}

/// Reads, checks and builds a scenario. Every problem comes back at once.
pub fn load(path: &Path) -> Result<Scenario, Diagnostics> {
    let text = std::fs::read_to_string(path).map_err(|e| one(path, Pos { line: 1, col: 1 }, "unreadable", format!("cannot read the scenario: {e}")))?;
    parse(path, &text)
}

/// Like [`load`], for text already in memory; `path` names it in messages
/// and anchors relative zone files.
pub fn parse(path: &Path, text: &str) -> Result<Scenario, Diagnostics> {
    let tree = yaml::parse(text).map_err(|e| one(path, e.pos, e.rule, e.message))?;
    let (doc, errors) = yaml::from_node::<raw::Doc>(&tree);
    let mut findings: Vec<Finding> = errors
        .into_iter()
        .map(|e| Finding {
            pos: e.pos,
            rule: e.rule.into(),
            message: e.message,
        })
        .collect();
    if let Some(doc) = &doc {
        let dir = path.parent().unwrap_or(Path::new("."));
        findings.extend(lint::run(&lint::Ctx { doc, dir }));
    }
    findings.sort();
    findings.dedup();
    match doc {
        Some(doc) if findings.is_empty() => Ok(model::build(&doc, path)),
        _ => Err(Diagnostics {
            file: path.to_path_buf(),
            findings,
        }),
    }
}

/// The text of a zone: inline, or read from a file next to the scenario.
/// Returns (text, where it starts, the file name if any).
pub(crate) fn zone_text(src: &ZoneSource, dir: &Path) -> Result<(String, Pos, Option<String>), (Pos, String)> {
    match src {
        ZoneSource::Text(t) => Ok((t.value.clone(), t.pos, None)),
        ZoneSource::File(f) => {
            let p = dir.join(&f.value);
            std::fs::read_to_string(&p)
                .map(|t| (t, f.pos, Some(f.value.clone())))
                .map_err(|e| (f.pos, format!("cannot read zone file {}: {e}", p.display())))
        }
    }
}
