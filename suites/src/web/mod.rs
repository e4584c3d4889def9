//! The web suite: the Dify web front end is served through nginx.

mod root;

use crate::outcome::Outcome;
use crate::suite::Check;
use crate::target::Target;

pub const CHECKS: &[Check] = &[root::CHECK];

pub async fn run(target: &Target) -> Vec<Outcome> {
    vec![root::check(target).await]
}
