//! The compatibility report: one JSON document per run (a versioned schema, published as
//! `docs/report.schema.json`), rendered to Markdown, HTML and JUnit XML. Each format is a
//! sibling module documenting its own mapping; [`merge`] joins shard reports; every file is
//! written atomically.

pub mod html;
pub mod json;
pub mod junit;
pub mod markdown;
pub mod merge;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use suites::{Outcome, Severity, Status};

use crate::error::{Error, Result};

/// The schema id; bumped when a field changes meaning or goes away.
///
/// v2: checks carry their suite and are named `checks` (was `outcomes`); `services` became
/// per-service records (image, the upstream image it replaced, state, restarts, exit code);
/// cells carry their `.env` overrides, why they did not run (`not_run`), the Dify version the
/// stack reported; the run carries its shard.
pub const SCHEMA: &str = "dify-conformance/report/v2";

/// The file names a run writes into its output directory.
pub const FILES: [&str; 4] = ["report.json", "report.md", "report.html", "junit.xml"];

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub schema: String,
    pub tool: Tool,
    pub run: RunInfo,
    pub environment: Environment,
    pub deployment: String,
    /// The Dify version the stacks reported (the `api.version` check's `version` fact); several
    /// joined by ", " when cells disagree; absent when no cell reported one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dify_version: Option<String>,
    pub matrix: MatrixInfo,
    pub summary: Summary,
    pub cells: Vec<CellReport>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

impl Tool {
    pub fn this() -> Self {
        Self {
            name: "dify-conformance".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    pub id: String,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub finished_at: String,
    pub duration_ms: u64,
    /// `I/N` when the run covered one shard of the matrix; a merge of every shard has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
    /// The runs a merged report was made of.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merged_from: Vec<String>,
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
    /// Every cell id of the matrix in its order, shard or not: merges restore this order and
    /// refuse parts whose matrices expanded differently.
    #[serde(default)]
    pub cells: Vec<String>,
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CellStatus {
    /// Every check passed (skips allowed).
    Passed,
    /// The stack ran and a check failed.
    Failed,
    /// The stack could not be prepared, started or made ready.
    Error,
    /// Not attempted; `not_run` says which kind of reason, `reason` the reason.
    NotRun,
}

impl CellStatus {
    pub const ALL: [CellStatus; 4] = [
        CellStatus::Passed,
        CellStatus::Failed,
        CellStatus::Error,
        CellStatus::NotRun,
    ];

    pub fn label(self) -> &'static str {
        match self {
            CellStatus::Passed => "passed",
            CellStatus::Failed => "failed",
            CellStatus::Error => "error",
            CellStatus::NotRun => "not run",
        }
    }

    /// The serialized name (`not_run`), for CSS classes and data attributes.
    pub fn key(self) -> &'static str {
        match self {
            CellStatus::Passed => "passed",
            CellStatus::Failed => "failed",
            CellStatus::Error => "error",
            CellStatus::NotRun => "not_run",
        }
    }
}

/// Why a cell did not run, as a kind a policy can count (see `crate::policy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotRunKind {
    /// A matrix rule left it out.
    Excluded,
    /// A value needs a cloud account (keys to supply).
    External,
    /// No recipe says how a value runs.
    NoRecipe,
    /// The deployment has no service for a value.
    NotOffered,
    /// The deployment offers it, but this machine lacks what it needs (images, without --pull).
    NotRunnableHere,
    /// Dify's compose runs it from an image that needs a licence.
    Licensed,
}

impl NotRunKind {
    pub const ALL: [NotRunKind; 6] = [
        NotRunKind::Excluded,
        NotRunKind::External,
        NotRunKind::NoRecipe,
        NotRunKind::NotOffered,
        NotRunKind::NotRunnableHere,
        NotRunKind::Licensed,
    ];

    pub fn key(self) -> &'static str {
        match self {
            NotRunKind::Excluded => "excluded",
            NotRunKind::External => "external",
            NotRunKind::NoRecipe => "no_recipe",
            NotRunKind::NotOffered => "not_offered",
            NotRunKind::NotRunnableHere => "not_runnable_here",
            NotRunKind::Licensed => "licensed",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            NotRunKind::Excluded => "excluded",
            NotRunKind::External => "external",
            NotRunKind::NoRecipe => "no recipe",
            NotRunKind::NotOffered => "not offered",
            NotRunKind::NotRunnableHere => "not runnable here",
            NotRunKind::Licensed => "licensed",
        }
    }

    pub fn of(runnability: &crate::catalog::Runnability) -> Option<Self> {
        use crate::catalog::Runnability as R;
        match runnability {
            R::Runnable | R::UnknownValue(_) => None,
            R::Licensed(_) => Some(NotRunKind::Licensed),
            R::Excluded(_) => Some(NotRunKind::Excluded),
            R::External(_) => Some(NotRunKind::External),
            R::NoRecipe(_) => Some(NotRunKind::NoRecipe),
            R::NotOffered(_) => Some(NotRunKind::NotOffered),
            R::NotRunnableHere(_) => Some(NotRunKind::NotRunnableHere),
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
    /// Set exactly when `status` is `not_run`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_run: Option<NotRunKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What the `api.version` check read from the stack.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dify_version: Option<String>,
    /// `.env` keys the cell sets beyond the deployment's example (secret values as `***`).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    pub duration_ms: u64,
    pub timings: Timings,
    #[serde(default)]
    pub services: BTreeMap<String, ServiceReport>,
    #[serde(default)]
    pub checks: Vec<CheckResult>,
    /// Last log lines per service, kept when the cell did not pass (secrets redacted).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub logs: BTreeMap<String, Vec<String>>,
    /// Per service, its whole log (size-capped, redacted) saved next to the report, as a path
    /// relative to the report (`logs/<cell>/<service>.log`); kept when the cell did not pass.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub log_files: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub teardown_errors: Vec<String>,
}

/// One service of a cell's stack as the engine last saw it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceReport {
    /// The image it ran (after the image map).
    pub image: String,
    /// The upstream image the local one replaced, when the image map substituted it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaces: Option<String>,
    /// `running`, `exited`, `restarting`... just before teardown.
    pub state: String,
    pub restarts: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
}

/// One check's verdict in a cell.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    /// `suite.kebab-name`.
    pub id: String,
    pub suite: String,
    pub severity: Severity,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    pub expected: String,
    pub got: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub facts: BTreeMap<String, String>,
    pub duration_ms: u64,
}

impl From<Outcome> for CheckResult {
    fn from(o: Outcome) -> Self {
        Self {
            suite: o.suite().to_string(),
            id: o.check,
            severity: o.severity,
            status: o.status,
            url: o.url,
            expected: o.expected,
            got: o.got,
            evidence: o.evidence,
            facts: o.facts,
            duration_ms: o.duration_ms,
        }
    }
}

/// Reads as an `Outcome` does: check, status, severity, URL, expected, got, evidence.
impl std::fmt::Display for CheckResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} ({})", self.id, self.status, self.severity)?;
        if let Some(url) = &self.url {
            write!(f, " against {url}")?;
        }
        write!(f, ": expected {}; got {}", self.expected, self.got)?;
        for line in &self.evidence {
            write!(f, "\n    | {line}")?;
        }
        Ok(())
    }
}

/// What a policy made of a report's failing checks, for the human formats: the report itself
/// stays the run's facts, policy-free.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PolicyView {
    /// The policy as its reader knows it (its file).
    pub policy: String,
    /// `(cell, check)` failures the policy accepts (known, with a reason) or tolerates (a
    /// severity that does not fail the gate).
    pub accepted: BTreeSet<(String, String)>,
}

impl PolicyView {
    pub fn of(verdict: &crate::gate::Verdict, policy: &str) -> Self {
        Self {
            policy: policy.to_string(),
            accepted: verdict
                .accepted
                .iter()
                .chain(&verdict.tolerated)
                .filter_map(|f| f.check.clone().map(|check| (f.cell.clone(), check)))
                .collect(),
        }
    }

    pub fn accepts(&self, cell: &str, check: &str) -> bool {
        self.accepted
            .contains(&(cell.to_string(), check.to_string()))
    }

    /// A failed cell whose every failing check the policy accepts.
    pub fn accepts_cell(&self, c: &CellReport) -> bool {
        c.status == CellStatus::Failed && c.failed_checks().all(|o| self.accepts(&c.id, &o.id))
    }
}

/// Milliseconds per stage of a cell.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timings {
    pub prepare_ms: u64,
    pub up_ms: u64,
    pub ready_ms: u64,
    pub checks_ms: u64,
    pub down_ms: u64,
    /// From the start of readiness until every healthcheck had passed; judged alongside the
    /// checks, so it may end after `ready_ms`. Absent when the cell ended before that.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_ms: Option<u64>,
}

impl CellReport {
    /// A cell that has not started yet (status `error` until something says otherwise).
    pub fn new(id: &str, vector_store: &str, storage_type: &str, required: bool) -> Self {
        Self {
            id: id.into(),
            vector_store: vector_store.into(),
            storage_type: storage_type.into(),
            required,
            status: CellStatus::Error,
            not_run: None,
            reason: None,
            dify_version: None,
            env: BTreeMap::new(),
            duration_ms: 0,
            timings: Timings::default(),
            services: BTreeMap::new(),
            checks: Vec::new(),
            logs: BTreeMap::new(),
            log_files: BTreeMap::new(),
            teardown_errors: Vec::new(),
        }
    }

    pub fn failed_checks(&self) -> impl Iterator<Item = &CheckResult> {
        self.checks.iter().filter(|o| o.status == Status::Failed)
    }

    /// Takes the outcomes of a stack that ran: the verdict, the checks, the Dify version.
    pub fn record_outcomes(&mut self, outcomes: Vec<Outcome>) {
        self.status = if outcomes.iter().any(|o| o.status == Status::Failed) {
            CellStatus::Failed
        } else {
            CellStatus::Passed
        };
        self.dify_version = outcomes
            .iter()
            .find(|o| o.check == "api.version")
            .and_then(|o| o.facts.get("version"))
            .cloned();
        self.checks = outcomes.into_iter().map(CheckResult::from).collect();
    }

    pub fn mark_not_run(&mut self, kind: NotRunKind, reason: String) {
        self.status = CellStatus::NotRun;
        self.not_run = Some(kind);
        self.reason = Some(reason);
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

/// What a report says about itself besides its cells.
#[derive(Clone, Debug, PartialEq)]
pub struct Meta {
    pub run: RunInfo,
    pub environment: Environment,
    pub deployment: String,
    pub matrix: MatrixInfo,
}

impl Report {
    /// A report of `cells`: the summary and the Dify version are derived from them. `run` and
    /// `check` both build their report here.
    pub fn new(meta: Meta, cells: Vec<CellReport>) -> Self {
        Self {
            schema: SCHEMA.into(),
            tool: Tool::this(),
            run: meta.run,
            environment: meta.environment,
            deployment: meta.deployment,
            dify_version: dify_version_of(&cells),
            matrix: meta.matrix,
            summary: Summary::of(&cells),
            cells,
        }
    }

    /// Writes every format (see [`FILES`]) into `dir`; returns their paths.
    pub fn write(&self, dir: &Path, view: Option<&PolicyView>) -> Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
        let mut written = Vec::new();
        for format in Format::ALL {
            let path = dir.join(format.file_name());
            write_atomic(&path, self.render_judged(format, view).as_bytes())?;
            written.push(path);
        }
        Ok(written)
    }

    pub fn render(&self, format: Format) -> String {
        self.render_judged(format, None)
    }

    /// As [`Report::render`], with what a policy made of the failures shown in the human
    /// formats (the grid tells a failure the policy accepts from one that fails the gate).
    pub fn render_judged(&self, format: Format, view: Option<&PolicyView>) -> String {
        match format {
            Format::Json => json::render(self),
            Format::Md => markdown::render(self, view),
            Format::Html => html::render(self, view),
            Format::Junit => junit::render(self),
        }
    }

    /// Reads a `report.json`; errors name the file and what is wrong (exit 2).
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            what: "report",
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(path, &text)
    }

    /// Parses a `report.json`'s text; `path` names the file in errors.
    pub fn parse(path: &Path, text: &str) -> Result<Self> {
        // Say "wrong schema" before serde says "missing field" for an older or newer report.
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| Error::Data {
            file: path.to_path_buf(),
            line: Some(e.line()),
            message: format!("not a JSON report: {e}"),
        })?;
        match value.get("schema").and_then(|s| s.as_str()) {
            Some(SCHEMA) => {}
            Some(other) => {
                return Err(Error::Data {
                    file: path.to_path_buf(),
                    line: None,
                    message: format!(
                        "report schema `{other}` is not the one this tool reads (`{SCHEMA}`)"
                    ),
                });
            }
            None => {
                return Err(Error::Data {
                    file: path.to_path_buf(),
                    line: None,
                    message: "not a dify-conformance report (no `schema` field)".into(),
                });
            }
        }
        json::parse(text).map_err(|e| Error::Data {
            file: path.to_path_buf(),
            line: Some(e.line()),
            message: e.to_string(),
        })
    }
}

/// The output formats of `report --format` and of a run's directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Json,
    Md,
    Html,
    Junit,
}

impl Format {
    pub const ALL: [Format; 4] = [Format::Json, Format::Md, Format::Html, Format::Junit];

    pub fn file_name(self) -> &'static str {
        match self {
            Format::Json => FILES[0],
            Format::Md => FILES[1],
            Format::Html => FILES[2],
            Format::Junit => FILES[3],
        }
    }
}

/// The VECTOR_STORE x STORAGE_TYPE grid of a report: axis values in the order cells list them.
pub struct Grid<'a> {
    pub vector_stores: Vec<&'a str>,
    pub storage_types: Vec<&'a str>,
    cells: &'a [CellReport],
}

impl<'a> Grid<'a> {
    pub fn of(report: &'a Report) -> Self {
        let mut vector_stores: Vec<&str> = Vec::new();
        let mut storage_types: Vec<&str> = Vec::new();
        for c in &report.cells {
            if !vector_stores.contains(&c.vector_store.as_str()) {
                vector_stores.push(&c.vector_store);
            }
            if !storage_types.contains(&c.storage_type.as_str()) {
                storage_types.push(&c.storage_type);
            }
        }
        Self {
            vector_stores,
            storage_types,
            cells: &report.cells,
        }
    }

    pub fn cell(&self, vector_store: &str, storage_type: &str) -> Option<&'a CellReport> {
        self.cells
            .iter()
            .find(|c| c.vector_store == vector_store && c.storage_type == storage_type)
    }
}

/// The suites whose checks failed in a cell, in suite order.
pub fn failing_suites(cell: &CellReport) -> Vec<&str> {
    let mut suites: Vec<&str> = Vec::new();
    for c in cell.failed_checks() {
        if !suites.contains(&c.suite.as_str()) {
            suites.push(&c.suite);
        }
    }
    suites
}

fn dify_version_of(cells: &[CellReport]) -> Option<String> {
    let mut versions: Vec<&str> = cells
        .iter()
        .filter_map(|c| c.dify_version.as_deref())
        .collect();
    versions.sort_unstable();
    versions.dedup();
    (!versions.is_empty()).then(|| versions.join(", "))
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
    //! Reports with fixed contents for golden tests of the renderers and the gate.
    use super::*;
    use std::collections::BTreeMap;

    pub fn check(id: &str, status: Status, got: &str) -> CheckResult {
        CheckResult {
            id: id.into(),
            suite: id.split('.').next().unwrap().into(),
            severity: suites::Check::find(id).map_or(Severity::Major, |c| c.severity),
            status,
            url: Some(format!("http://127.0.0.1:32768/{id}")),
            expected: "what the check wants".into(),
            got: got.into(),
            evidence: if status == Status::Failed {
                vec!["HTTP 200".into(), "vary: Origin".into()]
            } else {
                vec![]
            },
            facts: if id == "api.version" {
                BTreeMap::from([("version".into(), "1.13.3".into())])
            } else {
                BTreeMap::new()
            },
            duration_ms: 12,
        }
    }

    pub fn passing_checks() -> Vec<CheckResult> {
        [
            "api.version",
            "web.root",
            "cors.console-preflight",
            "ssl.handshake",
            "celery.ping",
        ]
        .iter()
        .map(|c| check(c, Status::Passed, "fine"))
        .collect()
    }

    pub fn cell(id: &str, status: CellStatus, checks: Vec<CheckResult>) -> CellReport {
        let (vs, st) = id.split_once('.').unwrap();
        let mut c = CellReport::new(id, vs, st, true);
        c.status = status;
        c.env = BTreeMap::from([
            ("VECTOR_STORE".into(), vs.into()),
            ("STORAGE_TYPE".into(), st.into()),
            ("DB_PASSWORD".into(), "***".into()),
        ]);
        if status == CellStatus::NotRun {
            c.not_run = Some(NotRunKind::NotOffered);
            c.reason = Some(format!(
                "not offered: the deployment has no compose profile `{vs}` for VECTOR_STORE={vs}"
            ));
            return c;
        }
        c.reason = (status == CellStatus::Error)
            .then(|| "compose up: service api exited with code 1".into());
        c.dify_version = (!checks.is_empty()).then(|| "1.13.3".into());
        c.duration_ms = 41_250;
        c.timings = Timings {
            prepare_ms: 250,
            up_ms: 20_000,
            ready_ms: 15_000,
            checks_ms: 1_000,
            down_ms: 5_000,
            health_ms: None,
        };
        c.services = BTreeMap::from([
            (
                "api".into(),
                ServiceReport {
                    image: "dify-conformance/standin-api:local".into(),
                    replaces: Some("langgenius/dify-api:1.13.3".into()),
                    state: if status == CellStatus::Error {
                        "exited".into()
                    } else {
                        "running".into()
                    },
                    restarts: 0,
                    exit_code: (status == CellStatus::Error).then_some(1),
                },
            ),
            (
                "nginx".into(),
                ServiceReport {
                    image: "dify-conformance/nginx:local".into(),
                    replaces: Some("nginx:latest".into()),
                    state: "running".into(),
                    restarts: 0,
                    exit_code: None,
                },
            ),
        ]);
        c.checks = checks;
        if status != CellStatus::Passed {
            c.logs = BTreeMap::from([(
                "api".into(),
                vec![
                    "Traceback (most recent call last):".into(),
                    "ValueError: unsupported storage type: s3x".into(),
                ],
            )]);
        }
        c
    }

    pub fn report() -> Report {
        let passing = passing_checks();
        let mut failing = passing.clone();
        failing[2] = check(
            "cors.console-preflight",
            Status::Failed,
            "no Access-Control-Allow-Origin header",
        );
        failing[3] = check("ssl.handshake", Status::Skipped, "no TLS endpoint");
        let cells = vec![
            cell("pgvector.opendal", CellStatus::Passed, passing.clone()),
            cell("pgvector.local", CellStatus::Failed, failing),
            cell("chroma.opendal", CellStatus::Passed, passing),
            cell("chroma.local", CellStatus::Error, vec![]),
            cell("qdrant.opendal", CellStatus::NotRun, vec![]),
            cell("qdrant.local", CellStatus::NotRun, vec![]),
        ];
        Report::new(meta(), cells)
    }

    pub fn meta() -> Meta {
        Meta {
            run: RunInfo {
                id: "0a1b2c3d".into(),
                started_at: "2026-11-28T23:00:00Z".into(),
                finished_at: "2026-11-28T23:02:04Z".into(),
                duration_ms: 124_000,
                shard: None,
                merged_from: vec![],
            },
            environment: Environment {
                engine: "20.10.24".into(),
                compose: "2.26.1".into(),
            },
            deployment: "fixtures/standin/docker".into(),
            matrix: MatrixInfo {
                name: "smoke".into(),
                path: "matrices/smoke.toml".into(),
                cells: [
                    "pgvector.opendal",
                    "pgvector.local",
                    "chroma.opendal",
                    "chroma.local",
                    "qdrant.opendal",
                    "qdrant.local",
                ]
                .map(String::from)
                .to_vec(),
            },
        }
    }
}
