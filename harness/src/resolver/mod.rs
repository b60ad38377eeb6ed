//! Resolver adapters: one file per kind. [`Kind`] says what each can do.

mod kind;
pub use kind::Kind;
