//! The celery suite: workers listen on the broker the api publishes to, and do the work.

mod ping;
mod round_trip;

use crate::flow::Flow;
use crate::outcome::Outcome;
use crate::suite::Check;

pub const CHECKS: &[Check] = &[ping::CHECK, round_trip::CHECK];

pub async fn run(flow: &Flow) -> Vec<Outcome> {
    vec![
        ping::check(flow.target()).await,
        round_trip::check(flow).await,
    ]
}
