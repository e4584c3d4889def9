//! The api suite: the Dify api answers through nginx.

mod version;

pub(crate) use version::truncate_for_evidence;

use crate::outcome::Outcome;
use crate::suite::{Check, Suite};
use crate::target::Target;

pub const CHECKS: &[Check] = &[Check {
    id: version::ID,
    suite: Suite::Api,
    title: "the console API answers through nginx and reports its version (X-Version)",
}];

pub async fn run(target: &Target) -> Vec<Outcome> {
    vec![version::check(target).await]
}
