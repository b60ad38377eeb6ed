//! The registry of resolver kinds: [`kinds!`] takes one line per kind (its
//! variant and its folder, `resolver/<kind>/`) and makes from that list, and
//! from nothing else, the module, the [`Kind`] variant, [`Kind::ALL`], the
//! kind's name and its [`Adapter`]. The list itself is written once, at the
//! top of `resolver/mod.rs`.
//!
//! A kind's folder holds its adapter (`mod.rs`, which declares
//! `pub(super) const ADAPTER: &dyn Adapter`) and its config template, unless
//! it runs in our process.

use super::caps::Capabilities;
use super::{Running, Spec};

/// What every resolver kind provides.
pub trait Adapter: Sync {
    /// What it can do, as data.
    fn caps(&self) -> &Capabilities;
    /// The config template its folder holds; `None` only for a kind that
    /// runs in our process.
    fn template(&self) -> Option<&str>;
    /// Writes its config into `spec.dir` and starts it in `spec.node`. The
    /// caller has checked `spec` against [`Adapter::caps`] and waits for it
    /// to be ready.
    fn start(&self, spec: &Spec) -> Result<Running, String>;
}

/// An adapter given as data: what most kinds are.
pub struct Declared {
    pub caps: Capabilities,
    pub template: Option<&'static str>,
    pub start: fn(&Spec) -> Result<Running, String>,
}

impl Adapter for Declared {
    fn caps(&self) -> &Capabilities {
        &self.caps
    }
    fn template(&self) -> Option<&str> {
        self.template
    }
    fn start(&self, spec: &Spec) -> Result<Running, String> {
        (self.start)(spec)
    }
}

/// What [`Kind::Custom`] declares without its file: nothing it can do.
pub(super) const UNDECLARED: &dyn Adapter = &Declared {
    caps: super::caps::NOTHING,
    template: None,
    start: |spec| Err(format!("{}: a custom kind starts from its file (`NAME=custom:FILE`)", spec.build.name)),
};

/// Declares every kind: `kinds! { /// doc\n Variant => folder, ... }`.
macro_rules! kinds {
    ($( $(#[$doc:meta])* $variant:ident => $module:ident ),+ $(,)?) => {
        $( mod $module; )+

        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize, clap::ValueEnum)]
        #[serde(rename_all = "lowercase")]
        pub enum Kind {
            $( $(#[$doc])* $variant, )+
            /// A resolver dnslab does not know, declared by a file
            /// (`--resolver NAME=custom:FILE`, [`custom`]). Not in
            /// [`Kind::ALL`]: no scenario names it, and a run takes it only
            /// when asked.
            Custom,
        }

        impl Kind {
            /// Every kind, in the registry's order.
            pub const ALL: [Kind; [$(stringify!($variant)),+].len()] = [$(Kind::$variant),+];

            /// Its name: the name of its folder.
            pub fn name(self) -> &'static str {
                match self {
                    $( Kind::$variant => stringify!($module), )+
                    Kind::Custom => "custom",
                }
            }

            /// Its adapter. A custom build's adapter is its file's
            /// ([`Build::adapter`]); the kind alone declares nothing.
            pub fn adapter(self) -> &'static dyn registry::Adapter {
                match self {
                    $( Kind::$variant => $module::ADAPTER, )+
                    Kind::Custom => registry::UNDECLARED,
                }
            }
        }
    };
}

impl super::Kind {
    /// Every kind's name, for messages: `hickory, unbound, ...`.
    pub fn names() -> String {
        Self::ALL.map(|k| k.name()).join(", ")
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == s)
    }

    /// What it can do.
    pub fn caps(self) -> &'static Capabilities {
        self.adapter().caps()
    }
}

impl std::fmt::Display for super::Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
