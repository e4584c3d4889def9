//! The checks of dify-conformance: what a conforming Dify deployment must do.
//!
//! A check gets a [`Target`] (URLs, the origin the console runs at, a TLS endpoint, the Celery
//! broker) and returns [`Outcome`]s. Nothing here knows about Docker: the same checks run against
//! a stack the harness started and against a deployment somebody already runs.
//!
//! Each suite is a module with one file per check family; [`Suite`] lists them.

pub mod api;
pub mod celery;
pub mod clients;
pub mod cors;
mod flow;
mod http;

pub use http::ensure_crypto_provider;
mod outcome;
mod secret;
pub mod ssl;
mod suite;
mod target;
pub mod web;

pub use flow::Flow;
pub use outcome::{Outcome, Severity, Status};
pub use secret::{Secret, redact_url};
pub use suite::{Check, Suite, SuiteRun, run_suites};
pub use target::{
    Admin, BoxFuture, BrokerUrl, DEFAULT_BACKLOG_LIMIT, DEFAULT_CONSOLE_ORIGIN, ExpectedQueues,
    Inspector, Settings, Target, TargetError, TlsEndpoint,
};
