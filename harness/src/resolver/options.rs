//! The lint of a generated config that holds a build's `--resolver-config`
//! text: an option dnslab sets and the text sets again, or the text sets
//! twice. What a repeat does differs by kind (unbound and PowerDNS take the
//! later value, named and dnsmasq refuse to start), so each kind declares
//! how its options read ([`Syntax`]) and which ones add up instead of
//! repeating.

/// How a kind's config names its options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// `name: value` (unbound); `name:` alone opens a clause.
    Colon,
    /// `name=value` or a bare `name` (PowerDNS Recursor, dnsmasq).
    Equals,
    /// `name ...;` statements inside `options { }` (named).
    Statements,
    /// `name = value` assignments (Knot Resolver's Lua).
    Lua,
    /// No config file of its own (in process), or one we cannot read (custom).
    Opaque,
}

/// A kind's config syntax: its style, and the options that may be given
/// more than once because they add up (`interface:`, `server=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Syntax {
    pub style: Style,
    pub repeatable: &'static [&'static str],
}

impl Syntax {
    pub const OPAQUE: Syntax = Syntax {
        style: Style::Opaque,
        repeatable: &[],
    };

    /// The line that starts the `--resolver-config` text in a generated
    /// config: a comment in the kind's own syntax.
    pub fn marker(self) -> &'static str {
        match self.style {
            Style::Colon | Style::Equals | Style::Opaque => "# --resolver-config",
            Style::Statements => "// --resolver-config",
            Style::Lua => "-- --resolver-config",
        }
    }

    /// The options `text` sets, in order, repeatable ones left out.
    pub fn options(self, text: &str, inside_options: bool) -> Vec<String> {
        let names = match self.style {
            Style::Colon => lines(text, "#")
                .filter_map(|l| l.split_once(':').filter(|(_, v)| !v.trim().is_empty()).map(|(k, _)| k.trim().to_string()))
                .collect(),
            Style::Equals => lines(text, "#")
                .map(|l| l.split('=').next().unwrap_or(l).trim().trim_end_matches('+').to_string())
                .collect(),
            Style::Lua => lines(text, "--")
                .filter_map(|l| {
                    l.split_once('=')
                        .filter(|(k, v)| !v.starts_with('=') && !k.ends_with(['~', '<', '>']))
                        .map(|(k, _)| k.trim().to_string())
                })
                .filter(|k| !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.'))
                .collect(),
            Style::Statements => statements(text, inside_options),
            Style::Opaque => vec![],
        };
        names
            .into_iter()
            .filter(|n| !n.contains(char::is_whitespace) && !self.repeatable.contains(&n.as_str()))
            .collect()
    }

    /// Each option given twice in `config` (the generated text, then the
    /// marker, then the build's own), with what `repeat` (the kind's
    /// `extra_config` knob) says a repeat does.
    pub fn repeated(self, config: &str, file: &str, repeat: &str) -> Vec<String> {
        let Some((ours, theirs)) = config.split_once(self.marker()) else {
            return vec![];
        };
        // The marker's line ends with the file's name: not an option.
        let theirs = theirs.split_once('\n').map_or("", |(_, rest)| rest);
        let ours = self.options(ours, false);
        let theirs = self.options(theirs, true);
        let mut out = Vec::new();
        for (i, name) in theirs.iter().enumerate() {
            let by = if ours.contains(name) {
                "by dnslab's config and again by"
            } else if theirs[..i].contains(name) {
                "twice by"
            } else {
                continue;
            };
            let line = format!("`{name}` is set {by} {file} ({repeat})");
            if !out.contains(&line) {
                out.push(line);
            }
        }
        out
    }
}

/// Lines without comments, blank ones left out.
fn lines<'a>(text: &'a str, comment: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    text.lines()
        .map(move |l| l.split(comment).next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
}

/// The first word of each statement inside named's `options { }` (or, for
/// text merged there, of each top-level statement).
fn statements(text: &str, inside_options: bool) -> Vec<String> {
    let text: String = lines(text, "//").map(|l| l.split('#').next().unwrap_or("")).collect::<Vec<_>>().join("\n");
    let (mut out, mut depth, mut block, mut word, mut first) = (Vec::new(), 0usize, String::new(), String::new(), true);
    let base = usize::from(!inside_options);
    for c in text.chars() {
        match c {
            '{' => {
                if depth == 0 && !word.is_empty() {
                    block = word.clone();
                }
                depth += 1;
                first = true;
                word.clear();
            }
            '}' => {
                depth = depth.saturating_sub(1);
                word.clear();
            }
            ';' => {
                first = true;
                word.clear();
            }
            c if c.is_whitespace() => {
                if first && !word.is_empty() {
                    if depth == base && (inside_options || block == "options") {
                        out.push(word.clone());
                    }
                    first = false;
                }
                if depth == 0 && !word.is_empty() {
                    block = word.clone();
                }
                word.clear();
            }
            c => word.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const UNBOUND: Syntax = Syntax {
        style: Style::Colon,
        repeatable: &["interface"],
    };

    #[test]
    fn a_repeated_option_is_found_in_each_style() {
        let conf = "server:\n    num-threads: 1\n    interface: 192.0.2.1\n# --resolver-config x.conf\n    num-threads: 2\n    interface: 192.0.2.2\n    verbosity: 3\n    verbosity: 4\n";
        let r = UNBOUND.repeated(conf, "x.conf", "later wins");
        assert_eq!(
            r,
            vec![
                "`num-threads` is set by dnslab's config and again by x.conf (later wins)",
                "`verbosity` is set twice by x.conf (later wins)"
            ]
        );
        let named = Syntax {
            style: Style::Statements,
            repeatable: &[],
        };
        let conf = "options {\n    directory \"/d\";\n    recursion yes;\n    listen-on { 1.2.3.4; };\n};\nzone \".\" { type hint; };\n// --resolver-config y\nrecursion no;\ntype x;\n";
        assert_eq!(
            named.options(conf.split_once("// --").unwrap().0, false),
            vec!["directory", "recursion", "listen-on"]
        );
        assert_eq!(named.repeated(conf, "y", "rejected").len(), 1);
        let pdns = Syntax {
            style: Style::Equals,
            repeatable: &[],
        };
        assert_eq!(pdns.repeated("threads=1\n# --resolver-config z\nthreads=3\n", "z", "later").len(), 1);
        let lua = Syntax {
            style: Style::Lua,
            repeatable: &[],
        };
        assert_eq!(
            lua.options("cache.size = 10 * MB\nnet.listen('x')\nif a == b then end\n", true),
            vec!["cache.size"]
        );
    }
}
