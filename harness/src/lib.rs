//! dify-conformance: brings up a Dify compose stack per VECTOR_STORE x STORAGE_TYPE cell, runs
//! the conformance suites against it, and writes the compatibility report.
//!
//! The path of one run: [`matrix`] (cells) -> [`workspace`] (a cell's own copy of the
//! deployment, `.env` and override) -> [`stack`] (compose up, readiness, logs, teardown) ->
//! the checks of the `suites` crate -> [`report`].

pub mod catalog;
pub mod check;
pub mod cli;
pub mod compose;
pub mod deployment;
pub mod doctor;
pub mod endpoint;
pub mod engine;
pub mod envfile;
pub mod error;
pub mod gate;
pub mod host;
pub mod images;
pub mod inspect;
pub mod interpolate;
pub mod labels;
pub mod matrix;
pub mod overrides;
pub mod pki;
pub mod plan;
pub mod policy;
pub mod progress;
pub mod reaper;
pub mod recipe;
pub mod redact;
pub mod report;
pub mod runner;
pub mod stack;
pub mod values;
pub mod workspace;

pub use error::{Error, Result};
