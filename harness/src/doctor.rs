//! `dify-conformance doctor`: whether this machine can run a matrix, before anything starts.
//! Each finding is one line, and a problem carries the command that fixes it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use std::path::Path;
use std::time::Duration;

use crate::catalog::Catalog;
use crate::engine::Engine;
use crate::error::{Result, exit};
use crate::images::ImageMap;
use crate::matrix::Cell;

/// Memory a service of Dify's Python app (api, worker, worker_beat) is counted with: each
/// imports the whole app (research §13: the import alone took a minute on a loaded host).
const APP_SERVICE_MIB: u64 = 1024;
const APP_SERVICES: &[&str] = &["api", "worker", "worker_beat"];
/// Memory any other service is counted with.
const OTHER_SERVICE_MIB: u64 = 256;
/// Disk a running cell writes besides its copy of the deployment: its `volumes/` (databases,
/// storage) and logs.
const CELL_STATE_MIB: u64 = 1024;
/// Free space the engine's data directory should keep for container layers and logs.
const ENGINE_ROOM_MIB: u64 = 2048;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Ok,
    Info,
    Problem,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Finding {
    pub level: Level,
    pub what: String,
    /// The command that fixes a problem.
    pub fix: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub struct Doctor {
    pub findings: Vec<Finding>,
    pub engine_missing: bool,
}

/// What to examine the machine for.
pub struct DoctorRequest {
    /// The deployment and matrix, loaded; `None` when they could not be (compose missing).
    pub catalog: Option<(Catalog, Vec<Cell>)>,
    pub images: ImageMap,
    pub jobs: u16,
}

impl Doctor {
    fn ok(&mut self, what: impl Into<String>) {
        self.push(Level::Ok, what.into(), None);
    }
    fn info(&mut self, what: impl Into<String>) {
        self.push(Level::Info, what.into(), None);
    }
    fn problem(&mut self, what: impl Into<String>, fix: impl Into<String>) {
        self.push(Level::Problem, what.into(), Some(fix.into()));
    }
    fn push(&mut self, level: Level, what: String, fix: Option<String>) {
        self.findings.push(Finding { level, what, fix });
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        for f in &self.findings {
            let word = match f.level {
                Level::Ok => "ok",
                Level::Info => "info",
                Level::Problem => "PROBLEM",
            };
            let _ = writeln!(out, "{word:<8} {}", f.what);
            if let Some(fix) = &f.fix {
                let _ = writeln!(out, "{:<8}   fix: {fix}", "");
            }
        }
        let problems = self
            .findings
            .iter()
            .filter(|f| f.level == Level::Problem)
            .count();
        let _ = writeln!(
            out,
            "{}",
            match problems {
                0 => "all good: this machine can run the matrix".to_string(),
                n => format!("{n} problem(s)"),
            }
        );
        out
    }

    /// 0 all good, 1 something to fix, 3 no engine.
    pub fn exit_code(&self) -> i32 {
        if self.engine_missing {
            exit::INFRASTRUCTURE
        } else if self.findings.iter().any(|f| f.level == Level::Problem) {
            exit::CHECKS_FAILED
        } else {
            exit::OK
        }
    }
}

/// The engine, or why not; one that does not answer soon counts as none.
pub async fn connect_soon() -> std::result::Result<Engine, String> {
    match tokio::time::timeout(Duration::from_secs(10), Engine::connect()).await {
        Ok(Ok(engine)) => Ok(engine),
        Ok(Err(crate::error::Error::EngineUnavailable { reason })) => Err(reason),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("the Docker engine did not answer within 10 s".into()),
    }
}

/// `compose` is the result of `docker compose version` (checked by the caller, because the
/// deployment cannot be loaded without it).
pub async fn examine(
    engine: std::result::Result<Engine, String>,
    compose: &Result<String>,
    req: &DoctorRequest,
) -> Doctor {
    let mut d = Doctor::default();
    let where_ = std::env::var("DOCKER_HOST").unwrap_or_else(|_| "the local socket".into());
    let engine = match engine {
        Ok(engine) => {
            d.ok(format!(
                "Docker engine {} answers at {where_}",
                engine.version().await
            ));
            Some(engine)
        }
        Err(reason) => {
            d.engine_missing = true;
            d.problem(
                format!("no Docker engine at {where_}: {reason}"),
                "start the engine (`sudo systemctl start docker`), or run ci/setup",
            );
            None
        }
    };
    match compose {
        Ok(v) => d.ok(format!("docker compose {v} (v2)")),
        Err(e) => d.problem(e.to_string(), "ci/setup (installs the compose v2 plugin)"),
    }

    let Some((catalog, cells)) = &req.catalog else {
        d.info("deployment, disk, memory and image checks skipped: they need docker compose");
        return d;
    };
    let runnable: Vec<&Cell> = cells
        .iter()
        .filter(|c| catalog.runnability(c).runs())
        .collect();
    d.info(format!(
        "deployment {}: matrix has {} cell(s), {} runnable",
        catalog.deployment.dir.display(),
        cells.len(),
        runnable.len()
    ));

    for n in &catalog.not_executable {
        let used_by: Vec<&str> = runnable
            .iter()
            .filter(|c| catalog.cell_runs_service(c, &n.service))
            .map(|c| c.id.as_str())
            .collect();
        if !used_by.is_empty() {
            d.problem(
                format!(
                    "service {} runs {} as its entrypoint, but it is not executable (compose up fails with `permission denied`)",
                    n.service,
                    n.path.display()
                ),
                format!("chmod +x {}", n.path.display()),
            );
        }
    }

    // Which images cells run, judged as `run` judges them (the map where its local image is).
    let map = match &engine {
        Some(e) => req.images.present_on(e).await,
        None => req.images.clone(),
    };
    let jobs = u64::from(req.jobs.max(1));
    let per_cell: Vec<BTreeMap<String, String>> = runnable
        .iter()
        .map(|c| catalog.cell_images(c, &map))
        .collect();
    resources(&mut d, catalog, &per_cell, jobs, engine.as_ref()).await;

    match &engine {
        Some(engine) => images(&mut d, &runnable, &per_cell, &req.images, &map, engine).await,
        None => d.info("image checks skipped: they need the engine"),
    }

    match &engine {
        Some(engine) => match crate::reaper::leftovers(engine).await {
            Ok(l) if l.runs.is_empty() && l.directories == 0 => {
                d.ok("no leftovers of killed runs")
            }
            Ok(l) => d.problem(
                format!(
                    "leftovers of killed runs{}: {} container(s), {} network(s), {} volume(s), {} workspace dir(s) under {}",
                    if l.runs.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", l.runs.join(", "))
                    },
                    l.swept.containers,
                    l.swept.networks,
                    l.swept.volumes,
                    l.directories,
                    crate::workspace::root().display()
                ),
                "dify-conformance reap",
            ),
            Err(e) => d.problem(format!("cannot list leftovers: {e}"), "dify-conformance reap"),
        },
        None => {
            let dirs = crate::reaper::dead_workspaces();
            if dirs.is_empty() {
                d.ok("no workspace dirs of killed runs (engine objects not checked)");
            } else {
                d.problem(
                    format!(
                        "{} workspace dir(s) of killed runs under {}",
                        dirs.len(),
                        crate::workspace::root().display()
                    ),
                    "dify-conformance reap (once the engine answers)",
                );
            }
        }
    }
    d
}

/// Disk and memory free against what the matrix needs, with how that was estimated.
async fn resources(
    d: &mut Doctor,
    catalog: &Catalog,
    per_cell: &[BTreeMap<String, String>],
    jobs: u64,
    engine: Option<&Engine>,
) {
    let memory_of = |services: &BTreeMap<String, String>| -> u64 {
        services
            .keys()
            .map(|s| {
                if APP_SERVICES.contains(&s.as_str()) {
                    APP_SERVICE_MIB
                } else {
                    OTHER_SERVICE_MIB
                }
            })
            .sum()
    };
    let largest = per_cell.iter().map(memory_of).max().unwrap_or(0);
    let services = per_cell.iter().map(BTreeMap::len).max().unwrap_or(0);
    let need_mem = largest * jobs;
    let how = format!(
        "estimated: {APP_SERVICE_MIB} MiB for each of {}, {OTHER_SERVICE_MIB} MiB for each other service, for the largest cell ({services} services) times --jobs {jobs}",
        APP_SERVICES.join(", ")
    );
    let local_engine = std::env::var("DOCKER_HOST")
        .map(|h| h.starts_with("unix://"))
        .unwrap_or(true);
    let (engine_total, engine_root) = match engine {
        Some(e) => e.host().await,
        None => (None, None),
    };
    // Containers use the engine host's memory: here when the engine is local.
    let free_mem = if local_engine {
        crate::host::available_mib().map(|m| (m, "available here (MemAvailable)"))
    } else {
        engine_total.map(|b| (b / (1 << 20), "total on the engine's host"))
    };
    match free_mem {
        Some((free, what)) if free >= need_mem => d.ok(format!(
            "memory: {} {what}; the matrix needs ~{} ({how})",
            gib(free),
            gib(need_mem)
        )),
        Some((free, what)) => d.problem(
            format!(
                "memory: {} {what}, the matrix needs ~{} ({how})",
                gib(free),
                gib(need_mem)
            ),
            "run fewer cells at once (--jobs 1) or free memory (`docker ps` shows what runs)",
        ),
        None => d.info(format!(
            "memory: could not read what is free; the matrix needs ~{} ({how})",
            gib(need_mem)
        )),
    }

    let copy = crate::host::dir_size_mib(&catalog.deployment.dir, true);
    let need_disk = (copy + CELL_STATE_MIB) * jobs;
    let ws_root = crate::workspace::root();
    let probe = if ws_root.exists() {
        ws_root.clone()
    } else {
        std::env::temp_dir()
    };
    let how = format!(
        "estimated: the deployment's copy ({}, without volumes/) plus {CELL_STATE_MIB} MiB of volumes and logs per cell, times --jobs {jobs}",
        mib(copy)
    );
    match crate::host::free_mib(&probe) {
        Some(free) if free >= need_disk => d.ok(format!(
            "disk: {} free under {}; the workspaces need ~{} ({how})",
            gib(free),
            probe.display(),
            gib(need_disk)
        )),
        Some(free) => d.problem(
            format!(
                "disk: {} free under {}, the workspaces need ~{} ({how})",
                gib(free),
                probe.display(),
                gib(need_disk)
            ),
            format!(
                "free space under {} (or point TMPDIR elsewhere); `dify-conformance reap` removes leftover workspaces",
                probe.display()
            ),
        ),
        None => d.info(format!(
            "disk: could not read what is free under {}; the workspaces need ~{} ({how})",
            probe.display(),
            gib(need_disk)
        )),
    }
    if let Some(root) = engine_root.filter(|_| local_engine)
        && let Some(free) = crate::host::free_mib(Path::new(&root))
    {
        if free >= ENGINE_ROOM_MIB {
            d.ok(format!(
                "disk: {} free under the engine's {root} (container layers, logs; {} wanted)",
                gib(free),
                gib(ENGINE_ROOM_MIB)
            ));
        } else {
            d.problem(
                format!(
                    "disk: {} free under the engine's {root}, {} wanted for container layers and logs",
                    gib(free),
                    gib(ENGINE_ROOM_MIB)
                ),
                "docker system df; docker image prune (removes unused images)",
            );
        }
    }
}

/// Which images the runnable cells need, which the engine has, which the map substitutes.
async fn images(
    d: &mut Doctor,
    runnable: &[&Cell],
    per_cell: &[BTreeMap<String, String>],
    full_map: &ImageMap,
    applied: &ImageMap,
    engine: &Engine,
) {
    // image -> cells that need it
    let mut needed: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (cell, images) in runnable.iter().zip(per_cell) {
        for image in images.values() {
            needed
                .entry(image.as_str())
                .or_default()
                .insert(cell.id.as_str());
        }
    }
    let mut missing = Vec::new();
    for (image, cells) in &needed {
        if !engine.image_exists(image).await {
            missing.push((*image, cells));
        }
    }
    if missing.is_empty() {
        d.ok(format!(
            "images: all {} the runnable cells need are on the engine",
            needed.len()
        ));
    }
    let local: BTreeSet<&str> = full_map.entries().map(|(_, l)| l).collect();
    for (image, cells) in missing {
        let cells: Vec<&str> = cells.iter().copied().collect();
        let fix = if local.contains(&image) {
            "ci/setup (builds the local images)".to_string()
        } else {
            format!("docker pull {image} (or run with --pull)")
        };
        d.problem(
            format!(
                "image {image} is not on the engine; cell(s) {} need it",
                cells.join(", ")
            ),
            fix,
        );
    }
    let substituted: Vec<String> = applied
        .entries()
        .filter(|(_, l)| needed.contains_key(l))
        .map(|(u, l)| format!("{u} -> {l}"))
        .collect();
    if !substituted.is_empty() {
        d.info(format!(
            "the image map ({}) substitutes: {}",
            full_map
                .path
                .as_deref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            substituted.join(", ")
        ));
    }
    let unapplied: Vec<String> = full_map
        .entries()
        .filter(|(u, _)| applied.local_for(u).is_none())
        .map(|(u, l)| format!("{u} -> {l}"))
        .collect();
    if !unapplied.is_empty() {
        d.info(format!(
            "image map entries not applied (their local image is absent): {}",
            unapplied.join(", ")
        ));
    }
}

fn gib(mib: u64) -> String {
    format!("{:.1} GiB", mib as f64 / 1024.0)
}

fn mib(mib: u64) -> String {
    format!("{mib} MiB")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_worst_finding() {
        let mut d = Doctor::default();
        d.ok("fine");
        assert_eq!(d.exit_code(), 0);
        d.info("fyi");
        assert_eq!(d.exit_code(), 0);
        d.problem("broken", "fix it");
        assert_eq!(d.exit_code(), 1);
        d.engine_missing = true;
        assert_eq!(d.exit_code(), 3);
        let text = d.render();
        assert!(
            text.contains("PROBLEM  broken\n           fix: fix it\n"),
            "{text}"
        );
        assert!(text.ends_with("1 problem(s)\n"), "{text}");
    }
}
