//! The celery suite: workers listen on the broker the api publishes to, and do the work.
//!
//! Checks run in the order of `CHECKS`; `backlog` stays last, after the flows of the others.

mod backlog;
mod ping;
mod queues;
mod round_trip;

use crate::flow::Flow;
use crate::outcome::Outcome;
use crate::suite::Check;

pub const CHECKS: &[Check] = &[
    ping::CHECK,
    queues::CHECK,
    round_trip::CHECK,
    backlog::CHECK,
];

pub async fn run(flow: &Flow) -> Vec<Outcome> {
    let target = flow.target();
    vec![
        ping::check(target).await,
        queues::check(target).await,
        round_trip::check(flow).await,
        backlog::check(target).await,
    ]
}
