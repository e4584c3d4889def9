//! The web suite: the Dify web front end is served through nginx.

mod root;

use crate::outcome::Outcome;
use crate::suite::{Check, Suite};
use crate::target::Target;

pub const CHECKS: &[Check] = &[Check {
    id: root::ID,
    suite: Suite::Web,
    title: "`GET /` through nginx answers 200 HTML from the Next.js web app",
}];

pub async fn run(target: &Target) -> Vec<Outcome> {
    vec![root::check(target).await]
}
