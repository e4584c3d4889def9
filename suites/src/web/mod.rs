//! The web suite: the Dify web front end is served through nginx and works in a browser.

mod api_prefix;
mod browser;
mod page;
mod pages;
mod root;

pub use browser::SCREENSHOT;

use crate::outcome::Outcome;
use crate::suite::Check;
use crate::target::Target;

pub const CHECKS: &[Check] = &[
    root::CHECK,
    pages::PAGES,
    pages::ASSETS,
    api_prefix::CHECK,
    browser::CHECK,
];

pub async fn run(target: &Target) -> Vec<Outcome> {
    vec![
        root::check(target).await,
        pages::pages(target).await,
        pages::assets(target).await,
        api_prefix::check(target).await,
        browser::check(target).await,
    ]
}
