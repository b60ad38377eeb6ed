//! The lab's own failures. A lab error means the lab could not be built or
//! driven; what happens to packets inside a working lab is never an error.

use std::fmt;

/// One problem in a [`crate::Topology`]; all of them are reported together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopologyError(pub String);

impl fmt::Display for TopologyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid topology:\n  {}", .0.iter().map(|e| e.0.as_str()).collect::<Vec<_>>().join("\n  "))]
    Invalid(Vec<TopologyError>),
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
    #[error("netlink: {what}: {source}")]
    Netlink { what: String, source: rtnetlink::Error },
    #[error("`{tool}` is not installed: install it with `apt-get install {package}`")]
    MissingTool { tool: &'static str, package: &'static str },
    #[error("nft in node `{node}` refused the ruleset: {stderr}")]
    Nft { node: String, stderr: String },
    #[error("no node `{0}` in this lab")]
    NoNode(String),
}

impl Error {
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let what = what.into();
        move |source| Error::Io { what, source }
    }
    pub(crate) fn netlink(what: impl Into<String>) -> impl FnOnce(rtnetlink::Error) -> Error {
        let what = what.into();
        move |source| Error::Netlink { what, source }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
