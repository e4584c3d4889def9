//! The api suite: the Dify api answers through nginx.

mod version;

pub(crate) use version::truncate_for_evidence;

use crate::outcome::Outcome;
use crate::suite::Check;
use crate::target::Target;

pub const CHECKS: &[Check] = &[version::CHECK];

pub async fn run(target: &Target) -> Vec<Outcome> {
    vec![version::check(target).await]
}
