//! # harness: dnslab's DNS side
//!
//! Where to start:
//! - [`scenario::load`] reads and checks a scenario file into a [`scenario::Scenario`].
//! - [`answer`] is the whole answer to a question (rcode or why none,
//!   flags, sections, EDNS and EDE, each attempt); [`verdict`] judges it
//!   against what the scenario expects.
//! - [`resolver::choose`] takes the builds a run asks for
//!   (`[NAME=]KIND[:PATH]`, [`resolver::build`]); [`plan::Plan::new`] says
//!   what one run of a scenario with one build will be, before anything
//!   touches the kernel.
//! - [`run::run`] executes a plan: builds its lab ([`lab::Lab::up`]), starts
//!   our authoritative servers ([`nameserver`]) and the build on each
//!   resolver node ([`resolver`]), sends the probes and queries ([`probe`]),
//!   watches the wire ([`capture`], followed hop by hop in [`wire`]) and
//!   returns an [`outcome::Outcome`]: plain data, from which [`report`] makes
//!   tables and JSON and the tests make snapshots.
//! - What a person looks at afterwards: [`evidence`] (the directory: pcaps,
//!   configs, logs), [`ladder`] (sequence diagrams for a terminal, Mermaid and
//!   SVG) and [`html`] (the self-contained report); [`progress`] draws
//!   spinners while a run goes.
//! - [`zone`] parses zone files and derives delegations and glue.
//! - The `dnslab` binary (`src/main.rs`) is a thin CLI over these.

pub mod answer;
pub mod audit;
pub mod authority;
pub mod bounded;
pub mod capture;
pub mod dns;
pub mod evidence;
pub mod html;
pub mod ladder;
pub mod nameserver;
pub mod outcome;
pub mod plan;
pub mod probe;
pub mod progress;
pub mod report;
pub mod resolver;
pub mod run;
pub mod scenario;
pub mod snapshot;
pub mod supervise;
pub mod text;
pub mod verdict;
pub mod wire;
pub mod zone;
