//! The api suite: the Dify api answers through nginx, and the journey a console user makes works
//! end to end: set up, log in (cookies, CSRF), upload a file, index it through the worker, find
//! it again, and reach it with a dataset API key.
//!
//! Checks that write (setup, upload, datasets, keys) run only when the target allows writes;
//! what they create is removed after the run (see [`crate::flow`]).

pub(crate) mod auth;
pub(crate) mod cookies;
pub(crate) mod dataset;
pub(crate) mod login;
pub(crate) mod retrieval;
pub(crate) mod service_key;
pub(crate) mod setup;
pub(crate) mod upload;
mod vector_store;
mod version;

pub(crate) use version::truncate_for_evidence;

use crate::flow::Flow;
use crate::outcome::Outcome;
use crate::suite::Check;

pub const CHECKS: &[Check] = &[
    version::CHECK,
    setup::CHECK,
    login::CHECK,
    auth::AUTH_REQUIRED,
    auth::CSRF,
    upload::CHECK,
    dataset::INDEX,
    dataset::HIT_TEST,
    retrieval::CHECK,
    service_key::CHECK,
    vector_store::CHECK,
];

pub async fn run(flow: &Flow) -> Vec<Outcome> {
    let target = flow.target();
    vec![
        version::check(target).await,
        flow.setup().await.outcome.clone(),
        flow.login().await.outcome.clone(),
        auth::auth_required(target).await,
        auth::csrf(flow).await,
        flow.upload().await.outcome.clone(),
        flow.index().await.outcome.clone(),
        dataset::hit_test(flow).await,
        retrieval::check(flow).await,
        service_key::check(flow).await,
        vector_store::check(target).await,
    ]
}
