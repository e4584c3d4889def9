//! Removes what a killed run left behind: engine objects labelled by a run whose owner process
//! is gone, and workspace directories whose owner file names a dead process.

use crate::engine::{Engine, Swept};
use crate::error::Result;
use crate::labels::{self, Owner};
use crate::workspace;

/// Name of the file in each workspace that records its owner.
pub const OWNER_FILE: &str = ".dify-conformance-owner";

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Reaped {
    pub runs: Vec<String>,
    pub swept: Swept,
    pub directories: usize,
}

pub async fn reap(engine: &Engine) -> Result<Reaped> {
    let mut reaped = Reaped::default();
    for (run, owner) in engine.managed_runs().await? {
        let dead = match owner.as_deref().and_then(Owner::parse) {
            Some(owner) => !owner.is_alive(),
            // Unreadable owner: not ours to judge.
            None => false,
        };
        if dead {
            let s = engine.sweep(labels::RUN, &run).await;
            reaped.swept.containers += s.containers;
            reaped.swept.networks += s.networks;
            reaped.swept.volumes += s.volumes;
            reaped.runs.push(run);
        }
    }
    if let Ok(entries) = std::fs::read_dir(workspace::root()) {
        for entry in entries.flatten() {
            let owner = std::fs::read_to_string(entry.path().join(OWNER_FILE))
                .ok()
                .and_then(|t| Owner::parse(t.trim()));
            if owner.is_some_and(|o| !o.is_alive()) && std::fs::remove_dir_all(entry.path()).is_ok()
            {
                reaped.directories += 1;
            }
        }
    }
    Ok(reaped)
}
