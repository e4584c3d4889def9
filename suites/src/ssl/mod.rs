//! The ssl suite: nginx serves HTTPS with the certificate the operator mounted.

mod handshake;

use crate::outcome::Outcome;
use crate::suite::Check;
use crate::target::Target;

pub const CHECKS: &[Check] = &[handshake::CHECK];

pub async fn run(target: &Target) -> Vec<Outcome> {
    vec![handshake::check(target).await]
}
