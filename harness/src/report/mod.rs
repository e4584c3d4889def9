//! The compatibility report: one JSON document per run (a versioned schema), rendered to
//! Markdown. Each format is a sibling module; every file is written atomically.

pub mod json;
pub mod markdown;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use suites::{Outcome, Status};

use crate::error::{Error, Result};

/// The schema id; bumped when a field changes meaning or goes away.
pub const SCHEMA: &str = "dify-conformance/report/v1";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub schema: String,
    pub tool: Tool,
    pub run: RunInfo,
    pub environment: Environment,
    pub deployment: String,
    pub matrix: MatrixInfo,
    pub summary: Summary,
    pub cells: Vec<CellReport>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    pub id: String,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub finished_at: String,
    pub duration_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Environment {
    pub engine: String,
    pub compose: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MatrixInfo {
    pub name: String,
    pub path: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub cells: usize,
    pub passed: usize,
    pub failed: usize,
    pub errors: usize,
    pub not_run: usize,
}

/// How a cell ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CellStatus {
    /// Every check passed (skips allowed).
    Passed,
    /// The stack ran and a check failed.
    Failed,
    /// The stack could not be prepared, started or made ready.
    Error,
    /// Not attempted (interrupted, or not runnable here); `reason` says why.
    NotRun,
}

impl CellStatus {
    pub fn label(self) -> &'static str {
        match self {
            CellStatus::Passed => "passed",
            CellStatus::Failed => "failed",
            CellStatus::Error => "error",
            CellStatus::NotRun => "not run",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CellReport {
    pub id: String,
    pub vector_store: String,
    pub storage_type: String,
    pub required: bool,
    pub status: CellStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub duration_ms: u64,
    pub timings: Timings,
    /// Service -> the image it ran (after the image map).
    #[serde(default)]
    pub services: BTreeMap<String, String>,
    /// Service -> the upstream image the local one replaced.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub substituted: BTreeMap<String, String>,
    #[serde(default)]
    pub outcomes: Vec<Outcome>,
    /// Last log lines per service, kept when the cell did not pass (secrets redacted).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub logs: BTreeMap<String, Vec<String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub teardown_errors: Vec<String>,
}

/// Milliseconds per stage of a cell.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timings {
    pub prepare_ms: u64,
    pub up_ms: u64,
    pub ready_ms: u64,
    pub checks_ms: u64,
    pub down_ms: u64,
}

impl CellReport {
    pub fn failed_outcomes(&self) -> impl Iterator<Item = &Outcome> {
        self.outcomes.iter().filter(|o| o.status == Status::Failed)
    }

    /// The cell's verdict from its outcomes, once its stack ran.
    pub fn status_from_outcomes(outcomes: &[Outcome]) -> CellStatus {
        if outcomes.iter().any(|o| o.status == Status::Failed) {
            CellStatus::Failed
        } else {
            CellStatus::Passed
        }
    }
}

impl Summary {
    /// `1 passed, 0 failed, 0 error(s), 0 not run`.
    pub fn cells_line(&self) -> String {
        format!(
            "{} passed, {} failed, {} error(s), {} not run",
            self.passed, self.failed, self.errors, self.not_run
        )
    }

    pub fn of(cells: &[CellReport]) -> Self {
        let count = |s: CellStatus| cells.iter().filter(|c| c.status == s).count();
        Self {
            cells: cells.len(),
            passed: count(CellStatus::Passed),
            failed: count(CellStatus::Failed),
            errors: count(CellStatus::Error),
            not_run: count(CellStatus::NotRun),
        }
    }
}

impl Report {
    /// Whether every required cell passed.
    pub fn passed(&self) -> bool {
        self.cells
            .iter()
            .filter(|c| c.required)
            .all(|c| c.status == CellStatus::Passed)
    }

    /// Writes `report.json` and `report.md` into `dir`; returns their paths.
    pub fn write(&self, dir: &Path) -> Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
        let mut written = Vec::new();
        for (name, body) in [
            ("report.json", json::render(self)),
            ("report.md", markdown::render(self)),
        ] {
            let path = dir.join(name);
            write_atomic(&path, body.as_bytes())?;
            written.push(path);
        }
        Ok(written)
    }
}

/// Writes through a temporary file in the same directory and renames it into place, so a
/// reader never sees half a report.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default(),
        std::process::id()
    ));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io("write", path, e));
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod fixtures {
    //! Reports with fixed contents for golden tests of the renderers.
    use super::*;
    use std::collections::BTreeMap;

    fn outcome(check: &str, status: Status, got: &str) -> Outcome {
        Outcome {
            check: check.into(),
            status,
            severity: suites::Check::find(check).map_or(suites::Severity::Major, |c| c.severity),
            url: Some(format!("http://127.0.0.1:32768/{check}")),
            expected: "what the check wants".into(),
            got: got.into(),
            evidence: if status == Status::Failed {
                vec!["HTTP 200".into(), "vary: Origin".into()]
            } else {
                vec![]
            },
            facts: BTreeMap::new(),
            duration_ms: 12,
        }
    }

    pub fn report() -> Report {
        let passing: Vec<Outcome> = [
            "api.version",
            "web.root",
            "cors.console-preflight",
            "ssl.handshake",
            "celery.ping",
        ]
        .iter()
        .map(|c| outcome(c, Status::Passed, "fine"))
        .collect();
        let mut failing = passing.clone();
        failing[2] = outcome(
            "cors.console-preflight",
            Status::Failed,
            "no Access-Control-Allow-Origin header",
        );
        failing[3] = outcome("ssl.handshake", Status::Skipped, "no TLS endpoint");
        let cell = |id: &str, status, outcomes: Vec<Outcome>| CellReport {
            id: id.into(),
            vector_store: id.split('.').next().unwrap().into(),
            storage_type: id.split('.').nth(1).unwrap().into(),
            required: true,
            status,
            reason: (status == CellStatus::Error).then(|| "service api exited with code 1".into()),
            duration_ms: 41_250,
            timings: Timings {
                prepare_ms: 250,
                up_ms: 20_000,
                ready_ms: 15_000,
                checks_ms: 1_000,
                down_ms: 5_000,
            },
            services: BTreeMap::from([("api".into(), "dify-conformance/standin-api:local".into())]),
            substituted: BTreeMap::new(),
            outcomes,
            logs: if status == CellStatus::Passed {
                BTreeMap::new()
            } else {
                BTreeMap::from([(
                    "api".into(),
                    vec![
                        "Traceback (most recent call last):".into(),
                        "ValueError: unsupported storage type: s3x".into(),
                    ],
                )])
            },
            teardown_errors: vec![],
        };
        let cells = vec![
            cell("pgvector.opendal", CellStatus::Passed, passing),
            cell("pgvector.local", CellStatus::Failed, failing),
            cell("pgvector.s3x", CellStatus::Error, vec![]),
        ];
        Report {
            schema: SCHEMA.into(),
            tool: Tool {
                name: "dify-conformance".into(),
                version: "0.1.0".into(),
            },
            run: RunInfo {
                id: "0a1b2c3d".into(),
                started_at: "2026-11-28T23:00:00Z".into(),
                finished_at: "2026-11-28T23:02:04Z".into(),
                duration_ms: 124_000,
            },
            environment: Environment {
                engine: "20.10.24".into(),
                compose: "2.26.1".into(),
            },
            deployment: "fixtures/standin/docker".into(),
            matrix: MatrixInfo {
                name: "smoke".into(),
                path: "matrices/smoke.toml".into(),
            },
            summary: Summary::of(&cells),
            cells,
        }
    }
}
