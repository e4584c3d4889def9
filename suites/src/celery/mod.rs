//! The celery suite: workers listen on the broker the api publishes to.

mod ping;

use crate::outcome::Outcome;
use crate::suite::Check;
use crate::target::Target;

pub const CHECKS: &[Check] = &[ping::CHECK];

pub async fn run(target: &Target) -> Vec<Outcome> {
    vec![ping::check(target).await]
}
