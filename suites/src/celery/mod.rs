//! The celery suite: workers listen on the broker the api publishes to.

mod ping;

use crate::outcome::Outcome;
use crate::suite::{Check, Suite};
use crate::target::Target;

pub const CHECKS: &[Check] = &[Check {
    id: ping::ID,
    suite: Suite::Celery,
    title: "a Celery worker answers a remote-control ping through the broker",
}];

pub async fn run(target: &Target) -> Vec<Outcome> {
    vec![ping::check(target).await]
}
