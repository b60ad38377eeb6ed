//! Builds: which program a run starts for a resolver kind. One grammar,
//! `[NAME=]KIND[:PATH]`, comma-separated, for `--resolver` and
//! `DNSLAB_RESOLVERS`; one build per line in a `--resolver-file` (where a
//! path may hold `,`). `unbound` is the installed unbound, named `unbound`;
//! `new=unbound:./build/unbound` is a developer's build, named `new`;
//! `mine=custom:FILE` is a resolver dnslab does not know ([`super::custom`]).
//!
//! [`resolve`] checks every build at once and gives each its [`Build`]: the
//! adapter, the binary (hashed once), its extra config (`--resolver-config`)
//! and its wrapper (`--wrap`). A build's NAME is what reports call its run.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::caps::Capabilities;
use super::custom::Custom;
use super::registry::Adapter;
use super::{find_binary, Kind, Program};

/// One build as written: `[NAME=]KIND[:PATH]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub name: Option<String>,
    /// The kind's name as written (`custom` among them).
    pub kind: String,
    pub path: Option<String>,
}

/// Reads one `[NAME=]KIND[:PATH]`. `NAME=` is there only when what comes
/// before the first `=` is a plain name, so `unbound:/opt/a=b/unbound` has
/// no name and the path `/opt/a=b/unbound`.
pub fn written(text: &str) -> Written {
    let (name, rest) = match text.split_once('=') {
        Some((n, rest)) if !n.contains([':', '/']) => (Some(n.to_string()), rest),
        _ => (None, text),
    };
    let (kind, path) = match rest.split_once(':') {
        Some((k, p)) => (k.to_string(), Some(p.to_string())),
        None => (rest.to_string(), None),
    };
    Written { name, kind, path }
}

/// Every build of a comma-separated list (`--resolver`, `DNSLAB_RESOLVERS`).
pub fn list(text: &str) -> Vec<Written> {
    text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(written).collect()
}

/// Every build of a `--resolver-file`: one a line, `#` starts a comment.
pub fn file_lines(text: &str) -> Vec<Written> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(written)
        .collect()
}

/// The binary a build runs, as it was when the run began.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Binary {
    pub path: PathBuf,
    /// The first line it prints about its version.
    pub version: String,
    /// SHA-256 of the file, hex.
    pub sha256: String,
}

/// A command every real resolver of a run is started under (`--wrap`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wrap {
    /// As given, for reports.
    pub text: String,
    /// Its words; `{dir}` becomes the resolver's private directory.
    pub words: Vec<String>,
    /// How much slower a wrapped resolver is: the readiness bound and the
    /// client timeouts are multiplied by it.
    pub factor: u32,
}

/// How long a wrapped resolver gets to end after SIGTERM (valgrind writes
/// its report then) before it is killed.
pub const WRAP_GRACE: std::time::Duration = std::time::Duration::from_secs(30);

/// One build, checked: what a run starts on each resolver node.
#[derive(Clone)]
pub struct Build {
    /// Its name in reports: NAME, or the kind's name.
    pub name: String,
    /// Its kind; [`Kind::Custom`] for a `custom:FILE` build.
    pub kind: Kind,
    /// The binary it runs; `None` for a kind in our process.
    pub binary: Option<Binary>,
    /// A custom kind's declaration.
    pub custom: Option<Arc<Custom>>,
    /// Text merged into its generated config (`--resolver-config`), with
    /// the file it came from.
    pub config: Option<(PathBuf, String)>,
    pub wrap: Option<Wrap>,
}

impl std::fmt::Debug for Build {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}={}", self.name, self.kind)
    }
}

impl Build {
    /// The installed build of a registered kind, named after it (tests, `up`).
    pub fn installed(kind: Kind) -> Result<Build, String> {
        resolve(
            &[Written {
                name: None,
                kind: kind.name().into(),
                path: None,
            }],
            &Options::default(),
        )
        .map(|mut b| b.remove(0))
        .map_err(|e| e.join("\n"))
    }

    /// The kind a scenario's `kinds:` lists and `NODE@KIND` expectations
    /// see: its own, or for a custom build the kind its file `acts_as`.
    pub fn acts_as(&self) -> Kind {
        self.custom.as_ref().and_then(|c| c.acts_as).unwrap_or(self.kind)
    }

    pub fn adapter(&self) -> &dyn Adapter {
        match &self.custom {
            Some(c) => c.as_ref(),
            None => self.kind.adapter(),
        }
    }

    pub fn caps(&self) -> &Capabilities {
        self.adapter().caps()
    }

    /// The factor its timeouts are scaled by (1 unless wrapped).
    pub fn factor(&self) -> u32 {
        self.wrap.as_ref().map_or(1, |w| w.factor)
    }

    /// What reports say it is: `new (unbound /path, unbound 1.17.1, sha256 ab12...)`.
    pub fn describe(&self) -> String {
        let mut s = match self.name == self.kind.name() {
            true => self.name.clone(),
            false => format!("{} ({})", self.name, self.kind),
        };
        if let Some(b) = &self.binary {
            s += &format!(": {} ({}, sha256 {})", b.path.display(), b.version, &b.sha256[..16.min(b.sha256.len())]);
        }
        if let Some(w) = &self.wrap {
            s += &format!(", under `{}`", w.text);
        }
        s
    }
}

/// What applies to the builds besides their list.
#[derive(Debug, Default, Clone)]
pub struct Options {
    /// `--resolver-config NAME=FILE`, as given.
    pub configs: Vec<String>,
    /// `--wrap CMD`.
    pub wrap: Option<String>,
    /// `--wrap-factor N`.
    pub wrap_factor: Option<u32>,
    /// Check only: no version command is run and no file hashed (the
    /// starter checks before the supervisor, which then does both once).
    pub check_only: bool,
}

/// The longest build name: it names a run, its evidence and its scratch directory.
pub const NAME_MAX: usize = 32;

/// The most a `--resolver-config` file or a `--resolver-file` may hold.
pub const CONFIG_MAX: u64 = 1 << 20;

/// The factor a wrapped resolver's timeouts get unless `--wrap-factor` says.
pub const WRAP_FACTOR: u32 = 10;

/// Checks every build and option; returns every problem at once.
pub fn resolve(written: &[Written], opts: &Options) -> Result<Vec<Build>, Vec<String>> {
    let mut problems = Vec::new();
    let wrap = opts.wrap.as_deref().and_then(|w| match wrap_of(w, opts.wrap_factor.unwrap_or(WRAP_FACTOR)) {
        Ok(w) => Some(w),
        Err(e) => {
            problems.push(e);
            None
        }
    });
    if opts.wrap_factor.is_some() && opts.wrap.is_none() {
        problems.push("--wrap-factor is only for --wrap".into());
    }
    let mut builds: Vec<Build> = Vec::new();
    for w in written {
        match one(w, !opts.check_only) {
            Ok(b) if builds.iter().any(|o| o.name == b.name) => problems.push(format!(
                "two builds are named `{}`: name them apart, e.g. `old={k},new={k}:./build/{k}`",
                b.name,
                k = b.kind
            )),
            Ok(b) => builds.push(b),
            Err(e) => problems.push(format!("`{}`: {e}", crate::text::escape(&show(w)))),
        }
    }
    for b in &mut builds {
        if wrap.is_some() && b.binary.is_some() {
            b.wrap = wrap.clone();
        }
    }
    for c in &opts.configs {
        if let Err(e) = add_config(&mut builds, c) {
            problems.push(format!("--resolver-config `{}`: {e}", crate::text::escape(c)));
        }
    }
    match problems.is_empty() {
        true => Ok(builds),
        false => Err(problems),
    }
}

fn show(w: &Written) -> String {
    let mut s = w.name.as_ref().map_or(String::new(), |n| format!("{n}="));
    s += &w.kind;
    if let Some(p) = &w.path {
        s += &format!(":{p}");
    }
    s
}

fn one(w: &Written, identify: bool) -> Result<Build, String> {
    let identify = |path: &Path, version: &[String]| match identify {
        true => self::identify(path, version),
        false => Ok(Binary {
            path: path.to_path_buf(),
            version: String::new(),
            sha256: String::new(),
        }),
    };
    if let Some(n) = &w.name {
        crate::scenario::values::ident(n, NAME_MAX).map_err(|e| format!("build name {e}"))?;
    }
    // A NAME that is another kind's name would label its runs, evidence
    // and `NODE@KIND` expectations as that kind.
    if let Some(n) = w.name.as_deref().filter(|n| *n != w.kind && (*n == "custom" || Kind::parse(n).is_some())) {
        return Err(format!("`{n}` is a kind's name: name a build of {} otherwise", w.kind));
    }
    if w.kind == "custom" {
        let file = w.path.as_deref().ok_or("a custom kind needs its file: `NAME=custom:FILE`")?;
        let file = Path::new(file).canonicalize().map_err(|e| format!("{file}: {e}"))?;
        let custom = Arc::new(super::custom::load(&file)?);
        let binary = identify(&custom.program_path, &custom.version)?;
        return Ok(Build {
            name: w.name.clone().unwrap_or_else(|| "custom".into()),
            kind: Kind::Custom,
            binary: Some(binary),
            custom: Some(custom),
            config: None,
            wrap: None,
        });
    }
    let kind = Kind::parse(&w.kind).ok_or_else(|| format!("`{}` is no resolver kind; the kinds are {}, and custom:FILE", w.kind, Kind::names()))?;
    let binary = match (kind.caps().program, &w.path) {
        (None, None) => None,
        (None, Some(_)) => return Err(format!("{kind} runs in dnslab's own process: it has no binary to replace")),
        (Some(p), None) => {
            let path = find_binary(p.binary).ok_or_else(|| {
                super::Unavailable::Missing {
                    kind,
                    binary: p.binary,
                    package: p.package,
                }
                .to_string()
            })?;
            Some(identify(&path, &version_command(&path, &p))?)
        }
        (Some(p), Some(given)) => {
            let path = executable(Path::new(given))?;
            Some(identify(&path, &version_command(&path, &p))?)
        }
    };
    Ok(Build {
        name: w.name.clone().unwrap_or_else(|| kind.name().to_string()),
        kind,
        binary,
        custom: None,
        config: None,
        wrap: None,
    })
}

fn version_command(path: &Path, p: &Program) -> Vec<String> {
    std::iter::once(path.display().to_string())
        .chain(p.version_args.iter().map(|a| a.to_string()))
        .collect()
}

/// An absolute path to an executable regular file.
pub fn executable(given: &Path) -> Result<PathBuf, String> {
    use std::os::unix::fs::PermissionsExt;
    let path = given.canonicalize().map_err(|e| format!("{}: {e}", given.display()))?;
    let meta = std::fs::metadata(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!("{} is not a file", path.display()));
    }
    if meta.permissions().mode() & 0o111 == 0 {
        return Err(format!("{} is not executable (chmod +x)", path.display()));
    }
    Ok(path)
}

/// Its path, the first line of `version` (a command line) and its SHA-256.
fn identify(path: &Path, version: &[String]) -> Result<Binary, String> {
    let sha256 = sha256_of(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(Binary {
        path: path.to_path_buf(),
        version: super::version_line(path, version),
        sha256,
    })
}

/// The SHA-256 of a file, read in blocks (a binary may be large).
pub fn sha256_of(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        ctx.update(&buf[..n]);
    }
    Ok(data_encoding::HEXLOWER.encode(ctx.finish().as_ref()))
}

fn wrap_of(text: &str, factor: u32) -> Result<Wrap, String> {
    let words = shlex::split(text).ok_or_else(|| format!("--wrap `{}`: unbalanced quotes", crate::text::escape(text)))?;
    let first = words.first().ok_or("--wrap is empty")?;
    let found = match first.contains('/') {
        true => executable(Path::new(first)).is_ok(),
        false => find_binary(first).is_some() || std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()).any(|d| d.join(first).is_file()),
    };
    if !found {
        return Err(format!(
            "--wrap: `{}` not found (valgrind: `apt-get install valgrind`)",
            crate::text::escape(first)
        ));
    }
    if factor == 0 || factor > 1000 {
        return Err(format!("--wrap-factor {factor}: from 1 to 1000"));
    }
    Ok(Wrap {
        text: text.to_string(),
        words,
        factor,
    })
}

/// `NAME=FILE`: FILE's text for the build named NAME, or for every build of
/// kind NAME.
fn add_config(builds: &mut [Build], given: &str) -> Result<(), String> {
    let (name, file) = given.split_once('=').ok_or("write NAME=FILE, NAME a build's name or a kind")?;
    let text = crate::text::read_bounded(Path::new(file), CONFIG_MAX).map_err(|e| format!("{file}: {e}"))?;
    let path = PathBuf::from(file);
    // A kind's name means every build of it (a build can bear a kind's
    // name only when it is of that kind); any other, the build of that name.
    let by_kind = Kind::parse(name).is_some() || name == "custom";
    let mut hit = false;
    for b in builds.iter_mut().filter(|b| if by_kind { b.kind.name() == name } else { b.name == name }) {
        if let Some(why) = b.caps().extra_config.refusal() {
            return Err(format!("{}: {why}", b.name));
        }
        if b.config.is_some() {
            return Err(format!("{} has a --resolver-config already", b.name));
        }
        b.config = Some((path.clone(), text.clone()));
        hit = true;
    }
    match hit {
        true => Ok(()),
        false => Err(format!("`{name}` is neither a build of this run nor the kind of one")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(name: Option<&str>, kind: &str, path: Option<&str>) -> Written {
        Written {
            name: name.map(String::from),
            kind: kind.into(),
            path: path.map(String::from),
        }
    }

    #[test]
    fn the_grammar_reads_name_kind_and_path() {
        assert_eq!(written("unbound"), w(None, "unbound", None));
        assert_eq!(written("unbound:./build/unbound"), w(None, "unbound", Some("./build/unbound")));
        assert_eq!(written("new=unbound:./b/unbound"), w(Some("new"), "unbound", Some("./b/unbound")));
        // `=` and `:` inside the path stay in the path.
        assert_eq!(written("unbound:/opt/a=b/u"), w(None, "unbound", Some("/opt/a=b/u")));
        assert_eq!(written("x=unbound:/opt/a:b/u"), w(Some("x"), "unbound", Some("/opt/a:b/u")));
        assert_eq!(
            list("old=unbound:/usr/sbin/unbound, new=unbound:./build/unbound"),
            vec![
                w(Some("old"), "unbound", Some("/usr/sbin/unbound")),
                w(Some("new"), "unbound", Some("./build/unbound"))
            ]
        );
        assert_eq!(
            file_lines("# builds\nold=unbound\n\nnew=unbound:/a,b/unbound\n"),
            vec![w(Some("old"), "unbound", None), w(Some("new"), "unbound", Some("/a,b/unbound"))]
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let bad = [
            w(Some("Bad Name"), "unbound", None),
            w(None, "unbund", None),
            w(None, "hickory", Some("/bin/true")),
            w(None, "unbound", Some("/nonexistent/unbound")),
        ];
        let e = resolve(&bad, &Options::default()).unwrap_err();
        assert_eq!(e.len(), 4, "{e:#?}");
        assert!(e[1].contains("no resolver kind"), "{e:#?}");
        assert!(e[2].contains("own process"), "{e:#?}");
        let twice = [w(None, "hickory", None), w(None, "hickory", None)];
        assert!(resolve(&twice, &Options::default()).unwrap_err()[0].contains("two builds"));
    }
}
