//! The celery suite: workers listen on the broker the api publishes to.
//!
//! Checks run in the order of `CHECKS`; `backlog` stays last, after the flows of the others.

mod backlog;
mod ping;
mod queues;

use crate::outcome::Outcome;
use crate::suite::Check;
use crate::target::Target;

pub const CHECKS: &[Check] = &[ping::CHECK, queues::CHECK, backlog::CHECK];

pub async fn run(target: &Target) -> Vec<Outcome> {
    vec![
        ping::check(target).await,
        queues::check(target).await,
        backlog::check(target).await,
    ]
}
