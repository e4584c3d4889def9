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
    for run in dead_runs(engine).await? {
        let s = engine.sweep(labels::RUN, &run).await;
        reaped.swept.containers += s.containers;
        reaped.swept.networks += s.networks;
        reaped.swept.volumes += s.volumes;
        reaped.runs.push(run);
    }
    for dir in dead_workspaces() {
        if std::fs::remove_dir_all(&dir).is_ok() {
            reaped.directories += 1;
        }
    }
    Ok(reaped)
}

/// What [`reap`] would remove, counted, nothing removed (for `doctor`).
pub async fn leftovers(engine: &Engine) -> Result<Reaped> {
    let mut found = Reaped::default();
    for run in dead_runs(engine).await? {
        let s = engine.count(labels::RUN, &run).await?;
        found.swept.containers += s.containers;
        found.swept.networks += s.networks;
        found.swept.volumes += s.volumes;
        found.runs.push(run);
    }
    found.directories = dead_workspaces().len();
    Ok(found)
}

/// Runs with labelled objects on the engine whose owner process is gone.
async fn dead_runs(engine: &Engine) -> Result<Vec<String>> {
    Ok(engine
        .managed_runs()
        .await?
        .into_iter()
        // Unreadable owner: not ours to judge.
        .filter(|(_, owner)| {
            owner
                .as_deref()
                .and_then(Owner::parse)
                .is_some_and(|o| !o.is_alive())
        })
        .map(|(run, _)| run)
        .collect())
}

/// Workspace directories whose owner file names a process that is gone.
pub fn dead_workspaces() -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(workspace::root()) else {
        return Vec::new();
    };
    entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            std::fs::read_to_string(p.join(OWNER_FILE))
                .ok()
                .and_then(|t| Owner::parse(t.trim()))
                .is_some_and(|o| !o.is_alive())
        })
        .collect()
}
