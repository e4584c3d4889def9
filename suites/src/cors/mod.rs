//! The cors suite: browsers at the configured origins may call the APIs, others may not.

mod preflight;

use crate::outcome::Outcome;
use crate::suite::Check;
use crate::target::Target;

pub const CHECKS: &[Check] = &[preflight::CHECK];

pub async fn run(target: &Target) -> Vec<Outcome> {
    vec![preflight::console(target).await]
}
