//! The ssl suite: nginx serves HTTPS with the certificate the operator mounted.

mod handshake;

use crate::outcome::Outcome;
use crate::suite::{Check, Suite};
use crate::target::Target;

pub const CHECKS: &[Check] = &[Check {
    id: handshake::ID,
    suite: Suite::Ssl,
    title: "a TLS 1.2+ handshake with nginx succeeds and presents the mounted certificate",
}];

pub async fn run(target: &Target) -> Vec<Outcome> {
    vec![handshake::check(target).await]
}
