//! Scenarios: YAML in, a validated [`Scenario`] out.
//!
//! `yaml` reads the file keeping positions; `raw` is the serde layer
//! (`deny_unknown_fields`, every unknown key reported); `build` is the one
//! pass that reads every value once into the typed [`Scenario`] of `model`
//! and reports every [`Finding`] of the named [`Rule`]s (`rules`) as it
//! goes. Start at [`load`].

mod build;
mod model;
pub mod raw;
pub mod rules;
pub mod values;
pub mod yaml;

use std::fmt;
use std::path::{Path, PathBuf};

pub use model::*;
pub use rules::{Finding, Rule};
use yaml::Pos;

use crate::text::{escape, read_bounded};

/// Everything wrong with one scenario file.
#[derive(Debug, Clone)]
pub struct Diagnostics {
    pub file: PathBuf,
    pub findings: Vec<Finding>,
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // One diagnostic, one line: values from the input are escaped, and
        // past SHOWN_MAX the rest are counted, not printed.
        let esc = |p: &Path| escape(&p.display().to_string());
        for d in self.findings.iter().take(SHOWN_MAX) {
            let file = d.file.as_ref().unwrap_or(&self.file);
            writeln!(f, "{}:{}:{} {}: {}", esc(file), d.pos.line, d.pos.col, d.rule, escape(&d.message))?;
        }
        if self.findings.len() > SHOWN_MAX {
            writeln!(f, "... and {} more", self.findings.len() - SHOWN_MAX)?;
        }
        write!(
            f,
            "{} problem{} in {}",
            self.findings.len(),
            if self.findings.len() == 1 { "" } else { "s" },
            esc(&self.file)
        )
    }
}

impl std::error::Error for Diagnostics {}

/// How many diagnostics are printed; the rest are counted.
pub const SHOWN_MAX: usize = 100;

/// How zone files may be read, for the whole process: set once by the CLI
/// (`--max-zone-bytes N`, `--allow-outside DIR`), before any scenario is read.
#[derive(Debug, Clone)]
pub struct ReadRules {
    /// The most one zone file may hold.
    pub zone_max: u64,
    /// Directories outside the scenario's own from which zone files may come.
    pub allow_outside: Vec<PathBuf>,
}

static READ_RULES: std::sync::OnceLock<ReadRules> = std::sync::OnceLock::new();

/// Sets the [`ReadRules`]; only the first call counts.
pub fn set_read_rules(rules: ReadRules) {
    let _ = READ_RULES.set(rules);
}

pub(crate) fn read_rules() -> ReadRules {
    READ_RULES.get().cloned().unwrap_or(ReadRules {
        zone_max: crate::text::ZONE_MAX,
        allow_outside: vec![],
    })
}

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

fn one(file: &Path, pos: Pos, rule: Rule, message: String) -> Diagnostics {
    Diagnostics {
        file: file.to_path_buf(),
        findings: vec![Finding {
            file: None,
            pos,
            rule,
            message,
        }],
    }
}

/// Reads, checks and builds a scenario. Every problem comes back at once.
pub fn load(path: &Path) -> Result<Scenario, Diagnostics> {
    let text = read_bounded(path, crate::text::SCENARIO_MAX)
        .map_err(|e| one(path, Pos { line: 1, col: 1 }, Rule::Unreadable, format!("cannot read the scenario: {e}")))?;
    parse(path, &text)
}

/// Like [`load`], for text already in memory; `path` names it in messages
/// and anchors relative zone files. Findings are sorted by file, line and
/// column, so a zone file's come after the scenario's, in their own order.
pub fn parse(path: &Path, text: &str) -> Result<Scenario, Diagnostics> {
    let tree = yaml::parse(text).map_err(|e| one(path, e.pos, e.rule, e.message))?;
    let (doc, errors) = yaml::from_node::<raw::Doc>(&tree);
    let mut findings: Vec<Finding> = errors
        .into_iter()
        .map(|e| Finding {
            file: None,
            pos: e.pos,
            rule: e.rule,
            message: e.message,
        })
        .collect();
    let mut scenario = None;
    if let Some(doc) = &doc {
        let (s, found) = build::build(doc, path);
        findings.extend(found);
        scenario = s;
    }
    findings.sort();
    findings.dedup();
    match scenario {
        Some(s) if findings.is_empty() => Ok(s),
        _ => Err(Diagnostics {
            file: path.to_path_buf(),
            findings,
        }),
    }
}
