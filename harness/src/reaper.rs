//! Removes what a killed run left behind: engine objects labelled by a run whose owner process
//! is gone, and workspace directories whose owner file names a dead process. Stacks kept by
//! `--keep-on-failure` are left to an explicit `reap`.

use std::collections::BTreeSet;

use crate::engine::{Engine, Swept};
use crate::error::Result;
use crate::labels::{self, Owner};
use crate::workspace;

/// Name of the file in each workspace that records its owner.
pub const OWNER_FILE: &str = ".dify-conformance-owner";

/// What to remove.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every run whose owner is gone, kept stacks too (`reap`).
    Dead,
    /// Every run whose owner is gone except kept stacks (what `run` does before it starts).
    DeadNotKept,
    /// One run, whatever its state (`reap --run ID`).
    Run(String),
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Reaped {
    pub runs: Vec<String>,
    pub swept: Swept,
    pub directories: usize,
}

pub async fn reap(engine: &Engine, scope: &Scope) -> Result<Reaped> {
    let kept = kept_runs();
    let mut reaped = Reaped::default();
    for (run, owner) in engine.managed_runs().await? {
        let dead = match owner.as_deref().and_then(Owner::parse) {
            Some(owner) => !owner.is_alive(),
            // Unreadable owner: not ours to judge.
            None => false,
        };
        let take = match scope {
            Scope::Dead => dead,
            Scope::DeadNotKept => dead && !kept.contains(&run),
            Scope::Run(id) => &run == id,
        };
        if take {
            reaped.swept.add(engine.sweep(labels::RUN, &run).await);
            reaped.runs.push(run);
        }
    }
    let dirs = match scope {
        Scope::Run(id) => workspace::run_workspaces(id),
        Scope::Dead | Scope::DeadNotKept => std::fs::read_dir(workspace::root())
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| e.path())
                    .filter(|path| {
                        let owner = std::fs::read_to_string(path.join(OWNER_FILE))
                            .ok()
                            .and_then(|t| Owner::parse(t.trim()));
                        owner.is_some_and(|o| !o.is_alive())
                            && (*scope == Scope::Dead || !path.join(workspace::KEPT_FILE).exists())
                    })
                    .collect()
            })
            .unwrap_or_default(),
    };
    for path in dirs {
        if std::fs::remove_dir_all(&path).is_ok() {
            reaped.directories += 1;
        }
    }
    Ok(reaped)
}

/// Runs with a kept workspace (`dc-<run>-<cell>/` holding the kept marker).
fn kept_runs() -> BTreeSet<String> {
    std::fs::read_dir(workspace::root())
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.path().join(workspace::KEPT_FILE).exists())
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    name.strip_prefix("dc-")
                        .and_then(|rest| rest.split('-').next())
                        .map(str::to_owned)
                })
                .collect()
        })
        .unwrap_or_default()
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
