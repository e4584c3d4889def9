//! The cors suite: browsers at the configured origins may call the APIs, others may not.

mod preflight;

use crate::outcome::Outcome;
use crate::suite::{Check, Suite};
use crate::target::Target;

pub const CHECKS: &[Check] = &[Check {
    id: preflight::CONSOLE_ID,
    suite: Suite::Cors,
    title: "a preflight to the console API from the console's origin echoes that origin with credentials",
}];

pub async fn run(target: &Target) -> Vec<Outcome> {
    vec![preflight::console(target).await]
}
