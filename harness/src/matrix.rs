//! Matrix files (`matrices/*.toml`): the VECTOR_STORE x STORAGE_TYPE axes, cells added or
//! adjusted by rules, and what every cell sets; expanded into [`Cell`]s against a deployment's
//! value sets and the recipes.
//!
//! ```toml
//! description = "..."
//! policy = "release-policy.toml"          # the release policy `run` applies (relative to this file)
//! [axes]
//! vector_store = ["pgvector", "chroma"]   # or "local" (every value with a local recipe) or "all"
//! storage_type = "local"
//! [cell]                                   # defaults for every cell
//! timeout_secs = 300                       # from `compose up` to the last check
//! timeouts = { up = 120, ready = 240 }     # per stage (prepare, up, ready, checks, down), secs
//! required = true
//! env = { CONSOLE_CORS_ALLOW_ORIGINS = "*" }
//! [cell.service_env.worker]                # environment compose gives a service directly,
//! CELERY_WORKER_QUEUES = "mail"            # for keys Dify's compose never passes from .env
//! [[cells]]                                # a rule: matches by axis values, adjusts or excludes
//! vector_store = "milvus"
//! timeout_secs = 600
//! [[cells]]
//! storage_type = "google-storage"
//! exclude = "why this cell is left out"
//! [[include]]                              # a cell outside the product
//! vector_store = "pgvector"
//! storage_type = "s3"
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::error::{Error, Result, line_of, parse_toml};
use crate::recipe::{Axis, RecipeBook, Runs};
use crate::values::ValueSets;

/// One VECTOR_STORE x STORAGE_TYPE combination and everything it sets.
#[derive(Clone, Debug, PartialEq)]
pub struct Cell {
    /// `<vector_store>.<storage_type>`; usable as `--cell` and in test names.
    pub id: String,
    pub vector_store: String,
    pub storage_type: String,
    /// Extra `.env` keys for this cell (the matrix's), on top of the axes and recipes.
    pub env: BTreeMap<String, String>,
    /// Environment set on single services through the override (service -> key -> value), for
    /// keys Dify's compose does not pass from `.env` (e.g. `CELERY_WORKER_QUEUES`).
    pub service_env: BTreeMap<String, BTreeMap<String, String>>,
    /// Budget from `up` to the last check.
    pub timeout: Duration,
    /// Budgets of single stages, within `timeout` for up, ready and checks.
    pub stages: StageTimeouts,
    /// Whether a failure of this cell fails the run.
    pub required: bool,
    /// Left out by a matrix rule, with its reason.
    pub excluded: Option<String>,
    /// The values of this cell that the deployment's value sets do not know, each as
    /// `KEY=value`; only with `allow_unknown`, and then tried anyway.
    pub unknown: Vec<String>,
}

/// Seconds per stage of a cell; unset stages have only the cell's `timeout` (up, ready,
/// checks) or the defaults below (prepare, down).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageTimeouts {
    pub prepare: Option<u64>,
    pub up: Option<u64>,
    pub ready: Option<u64>,
    pub checks: Option<u64>,
    pub down: Option<u64>,
}

impl StageTimeouts {
    /// Copying the deployment and `compose config` take seconds; minutes mean a hung disk.
    pub const DEFAULT_PREPARE: Duration = Duration::from_secs(300);
    /// `compose down` with a 2 s stop time-out per container, then a sweep.
    pub const DEFAULT_DOWN: Duration = Duration::from_secs(120);

    /// `other`'s stages where it sets them, else these.
    fn overlaid(self, other: &StageTimeouts) -> Self {
        Self {
            prepare: other.prepare.or(self.prepare),
            up: other.up.or(self.up),
            ready: other.ready.or(self.ready),
            checks: other.checks.or(self.checks),
            down: other.down.or(self.down),
        }
    }

    fn has_zero(&self) -> bool {
        [self.prepare, self.up, self.ready, self.checks, self.down].contains(&Some(0))
    }

    pub fn prepare(&self) -> Duration {
        self.prepare
            .map_or(Self::DEFAULT_PREPARE, Duration::from_secs)
    }

    pub fn down(&self) -> Duration {
        self.down.map_or(Self::DEFAULT_DOWN, Duration::from_secs)
    }

    /// When a stage that starts now must end: its own budget, capped by the cell's deadline.
    pub fn deadline(
        stage: Option<u64>,
        cell_deadline: tokio::time::Instant,
    ) -> tokio::time::Instant {
        stage
            .map(|s| tokio::time::Instant::now() + Duration::from_secs(s))
            .map_or(cell_deadline, |d| d.min(cell_deadline))
    }
}

impl Cell {
    pub fn id_for(vector_store: &str, storage_type: &str) -> String {
        format!("{vector_store}.{storage_type}")
    }

    pub fn value(&self, axis: Axis) -> &str {
        match axis {
            Axis::VectorStore => &self.vector_store,
            Axis::StorageType => &self.storage_type,
        }
    }
}

/// A parsed matrix file, not yet expanded.
#[derive(Clone, Debug)]
pub struct Matrix {
    pub path: PathBuf,
    pub name: String,
    pub description: String,
    /// Values the deployment's sets do not know are tried rather than refused (the file's
    /// `allow_unknown`, or `--allow-unknown-values`).
    pub allow_unknown: bool,
    text: String,
    file: MatrixFile,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MatrixFile {
    #[serde(default)]
    description: String,
    #[serde(default)]
    allow_unknown: bool,
    policy: Option<PathBuf>,
    axes: Axes,
    #[serde(default)]
    cell: CellDefaults,
    #[serde(default)]
    cells: Vec<Rule>,
    #[serde(default)]
    include: Vec<Include>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Axes {
    vector_store: AxisSpec,
    storage_type: AxisSpec,
}

/// The values of an axis: a list, or a keyword resolved against the deployment.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(untagged)]
enum AxisSpec {
    Values(Vec<String>),
    Keyword(String),
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CellDefaults {
    #[serde(default = "default_timeout")]
    timeout_secs: u64,
    #[serde(default)]
    timeouts: StageTimeouts,
    #[serde(default = "default_required")]
    required: bool,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    service_env: BTreeMap<String, BTreeMap<String, String>>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Rule {
    vector_store: Option<String>,
    storage_type: Option<String>,
    timeout_secs: Option<u64>,
    #[serde(default)]
    timeouts: StageTimeouts,
    required: Option<bool>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    service_env: BTreeMap<String, BTreeMap<String, String>>,
    exclude: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Include {
    vector_store: String,
    storage_type: String,
}

impl Default for CellDefaults {
    fn default() -> Self {
        Self {
            timeout_secs: default_timeout(),
            timeouts: StageTimeouts::default(),
            required: default_required(),
            env: BTreeMap::new(),
            service_env: BTreeMap::new(),
        }
    }
}

/// Room for a real Dify boot: the api's import and migrations alone took 60-140 s on a loaded
/// 2-core host (research §13), then indexing runs through the worker. Only a cap: a failing
/// service ends the cell at once.
fn default_timeout() -> u64 {
    600
}

fn default_required() -> bool {
    true
}

impl Matrix {
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            what: "matrix file",
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(path, &text)
    }

    /// Parses and checks what can be checked without a deployment.
    pub fn parse(path: &Path, text: &str) -> Result<Self> {
        let file: MatrixFile = parse_toml(path, text)?;
        let m = Self {
            path: path.to_path_buf(),
            name: path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
            description: file.description.clone(),
            allow_unknown: file.allow_unknown,
            text: text.to_string(),
            file,
        };
        for (axis, spec) in m.axis_specs() {
            match spec {
                AxisSpec::Values(values) if values.is_empty() => {
                    return Err(m.error(
                        axis.name(),
                        format!("axis `{}` lists no values", axis.name()),
                    ));
                }
                AxisSpec::Values(values) => {
                    if let Some(bad) = values.iter().find(|v| !is_valid_value(v)) {
                        return Err(m.error(
                            axis.name(),
                            format!(
                                "axis `{}` value `{bad}` is not a value name (lowercase letters, digits, `_` and `-`)",
                                axis.name()
                            ),
                        ));
                    }
                }
                AxisSpec::Keyword(k) if k != "local" && k != "all" => {
                    return Err(m.error(
                        axis.name(),
                        format!(
                            "axis `{}` = \"{k}\": expected a list of values, \"local\" or \"all\"",
                            axis.name()
                        ),
                    ));
                }
                AxisSpec::Keyword(_) => {}
            }
        }
        for env in std::iter::once(&m.file.cell.env).chain(m.file.cells.iter().map(|r| &r.env)) {
            for axis in Axis::ALL {
                if env.contains_key(axis.env_key()) {
                    return Err(m.error(
                        axis.env_key(),
                        format!(
                            "`env` must not set {}: it is an axis of the matrix",
                            axis.env_key()
                        ),
                    ));
                }
            }
        }
        if m.file.cell.timeout_secs == 0 || m.file.cells.iter().any(|r| r.timeout_secs == Some(0)) {
            return Err(m.error("timeout_secs", "`timeout_secs` must be at least 1".into()));
        }
        if m.file.cell.timeouts.has_zero() || m.file.cells.iter().any(|r| r.timeouts.has_zero()) {
            return Err(m.error(
                "timeouts",
                "every stage of `timeouts` must be at least 1 (seconds)".into(),
            ));
        }
        Ok(m)
    }

    /// The policy file the matrix names, resolved against the matrix's directory.
    pub fn policy(&self) -> Option<PathBuf> {
        self.file.policy.as_ref().map(|p| {
            self.path
                .parent()
                .map_or_else(|| p.clone(), |dir| dir.join(p))
        })
    }

    fn axis_specs(&self) -> [(Axis, &AxisSpec); 2] {
        [
            (Axis::VectorStore, &self.file.axes.vector_store),
            (Axis::StorageType, &self.file.axes.storage_type),
        ]
    }

    fn error(&self, near: &str, message: String) -> Error {
        let line = self
            .text
            .find(&format!("{near} ="))
            .or_else(|| self.text.find(near))
            .map(|o| line_of(&self.text, o));
        Error::Data {
            file: self.path.clone(),
            line,
            message,
        }
    }

    /// The cells of this matrix on a deployment with `sets` (none: take listed values as they
    /// are) and `recipes`, in axis order, then the includes.
    pub fn expand(&self, sets: Option<&ValueSets>, recipes: &RecipeBook) -> Result<Vec<Cell>> {
        let mut axis_values: BTreeMap<Axis, Vec<String>> = BTreeMap::new();
        for (axis, spec) in self.axis_specs() {
            let known = sets.map(|s| s.get(axis));
            let values = match spec {
                AxisSpec::Values(v) => v.clone(),
                AxisSpec::Keyword(k) => {
                    let known = known.ok_or_else(|| {
                        self.error(
                            axis.name(),
                            format!(
                                "axis `{}` = \"{k}\" needs a deployment to resolve",
                                axis.name()
                            ),
                        )
                    })?;
                    known
                        .iter()
                        .filter(|v| {
                            k == "all"
                                || recipes.get(axis, v).is_some_and(|r| r.runs == Runs::Local)
                        })
                        .cloned()
                        .collect()
                }
            };
            axis_values.insert(axis, values);
        }
        let pairs = axis_values[&Axis::VectorStore]
            .iter()
            .flat_map(|vs| {
                axis_values[&Axis::StorageType]
                    .iter()
                    .map(move |st| (vs.clone(), st.clone()))
            })
            .chain(
                self.file
                    .include
                    .iter()
                    .map(|i| (i.vector_store.clone(), i.storage_type.clone())),
            );
        let mut cells: Vec<Cell> = Vec::new();
        for (vs, st) in pairs {
            let mut unknown = Vec::new();
            if let Some(sets) = sets {
                for (axis, value) in [(Axis::VectorStore, &vs), (Axis::StorageType, &st)] {
                    if sets.get(axis).contains(value) {
                        continue;
                    }
                    if self.allow_unknown {
                        unknown.push(format!("{}={value}", axis.env_key()));
                        continue;
                    }
                    return Err(self.error(
                        &format!("\"{value}\""),
                        format!(
                            "`{value}` is not a {} value of this deployment ({}); expected one of: {} (or set `allow_unknown = true` in the matrix, or pass --allow-unknown-values, to try it anyway)",
                            axis.env_key(),
                            sets.release
                                .as_deref()
                                .map(|r| format!("release {r}"))
                                .unwrap_or_else(|| "from its .env.example".into()),
                            sets.get(axis).join(", ")
                        ),
                    ));
                }
            }
            let id = Cell::id_for(&vs, &st);
            if cells.iter().any(|c| c.id == id) {
                continue; // an include repeating a product cell adds nothing
            }
            let mut cell = Cell {
                id,
                vector_store: vs,
                storage_type: st,
                env: self.file.cell.env.clone(),
                service_env: self.file.cell.service_env.clone(),
                timeout: Duration::from_secs(self.file.cell.timeout_secs),
                stages: self.file.cell.timeouts,
                required: self.file.cell.required,
                excluded: None,
                unknown,
            };
            for rule in &self.file.cells {
                let matches = rule
                    .vector_store
                    .as_ref()
                    .is_none_or(|v| v == &cell.vector_store)
                    && rule
                        .storage_type
                        .as_ref()
                        .is_none_or(|v| v == &cell.storage_type);
                if !matches {
                    continue;
                }
                if let Some(t) = rule.timeout_secs {
                    cell.timeout = Duration::from_secs(t);
                }
                cell.stages = cell.stages.overlaid(&rule.timeouts);
                if let Some(r) = rule.required {
                    cell.required = r;
                }
                cell.env.extend(rule.env.clone());
                for (service, env) in &rule.service_env {
                    cell.service_env
                        .entry(service.clone())
                        .or_default()
                        .extend(env.clone());
                }
                if let Some(reason) = &rule.exclude {
                    cell.excluded = Some(reason.clone());
                }
            }
            cells.push(cell);
        }
        Ok(cells)
    }
}

/// The cells named by `ids`, in matrix order; all cells when `ids` is empty.
pub fn select(cells: &[Cell], ids: &[String]) -> Result<Vec<Cell>> {
    if let Some(unknown) = ids.iter().find(|id| !cells.iter().any(|c| &c.id == *id)) {
        return Err(Error::UnknownCell {
            id: unknown.clone(),
            known: cells.iter().map(|c| c.id.clone()).collect(),
        });
    }
    Ok(cells
        .iter()
        .filter(|c| ids.is_empty() || ids.contains(&c.id))
        .cloned()
        .collect())
}

fn is_valid_value(v: &str) -> bool {
    !v.is_empty()
        && v.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Matrix> {
        Matrix::parse(Path::new("m.toml"), text)
    }

    fn expand(text: &str) -> Result<Vec<Cell>> {
        parse(text)?.expand(None, &RecipeBook::default())
    }

    fn sets() -> ValueSets {
        ValueSets {
            vector_stores: vec!["pgvector".into(), "chroma".into(), "upstash".into()],
            storage_types: vec!["opendal".into(), "s3".into()],
            release: Some("1.13".into()),
            origin: crate::values::Origin::ReleaseFacts,
            source: String::new(),
            profiles: BTreeMap::new(),
        }
    }

    #[test]
    fn expands_the_product_rules_and_includes() {
        let cells = expand(
            "[axes]\nvector_store = [\"pgvector\", \"chroma\"]\nstorage_type = [\"opendal\", \"s3\"]\n\
             [cell]\ntimeout_secs = 60\nenv = { CONSOLE_CORS_ALLOW_ORIGINS = \"*\" }\n\
             [[cells]]\nvector_store = \"chroma\"\ntimeout_secs = 90\nrequired = false\n\
             [[cells]]\nvector_store = \"chroma\"\nstorage_type = \"s3\"\nexclude = \"not today\"\n\
             [[include]]\nvector_store = \"upstash\"\nstorage_type = \"opendal\"\n",
        )
        .unwrap();
        let ids: Vec<_> = cells.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "pgvector.opendal",
                "pgvector.s3",
                "chroma.opendal",
                "chroma.s3",
                "upstash.opendal"
            ]
        );
        assert_eq!(cells[0].timeout, Duration::from_secs(60));
        assert_eq!(cells[2].timeout, Duration::from_secs(90));
        assert!(!cells[2].required && cells[0].required);
        assert_eq!(cells[3].excluded.as_deref(), Some("not today"));
        assert_eq!(cells[4].env["CONSOLE_CORS_ALLOW_ORIGINS"], "*");
    }

    #[test]
    fn stage_timeouts_come_from_the_matrix_and_its_rules() {
        let cells = expand(
            "[axes]\nvector_store = [\"pgvector\", \"chroma\"]\nstorage_type = [\"opendal\"]\n\
             [cell]\ntimeouts = { up = 100, ready = 200 }\n\
             [[cells]]\nvector_store = \"chroma\"\ntimeouts = { ready = 400, down = 30 }\n",
        )
        .unwrap();
        assert_eq!(cells[0].stages.up, Some(100));
        assert_eq!(cells[0].stages.ready, Some(200));
        assert_eq!(cells[0].stages.down(), StageTimeouts::DEFAULT_DOWN);
        assert_eq!(cells[1].stages.up, Some(100));
        assert_eq!(cells[1].stages.ready, Some(400));
        assert_eq!(cells[1].stages.down(), Duration::from_secs(30));
        let zero = parse(
            "[axes]\nvector_store = [\"a\"]\nstorage_type = [\"b\"]\n[cell]\ntimeouts = { up = 0 }\n",
        );
        assert!(zero.unwrap_err().to_string().contains("at least 1"));
        let unknown = parse(
            "[axes]\nvector_store = [\"a\"]\nstorage_type = [\"b\"]\n[cell]\ntimeouts = { boot = 5 }\n",
        );
        assert!(unknown.unwrap_err().to_string().contains("boot"));
    }

    #[test]
    fn keywords_resolve_against_the_deployment() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("vector_store")).unwrap();
        std::fs::write(
            dir.path().join("vector_store/chroma.toml"),
            "runs = \"local\"\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("vector_store/upstash.toml"),
            "runs = \"external\"\nneeds = [\"UPSTASH_VECTOR_URL\"]\n",
        )
        .unwrap();
        let recipes = RecipeBook::load(dir.path()).unwrap();
        let m = parse("[axes]\nvector_store = \"local\"\nstorage_type = \"all\"\n").unwrap();
        let ids: Vec<_> = m
            .expand(Some(&sets()), &recipes)
            .unwrap()
            .into_iter()
            .map(|c| c.id)
            .collect();
        assert_eq!(ids, ["chroma.opendal", "chroma.s3"]);
        let err = m.expand(None, &recipes).unwrap_err().to_string();
        assert_eq!(
            err,
            "m.toml:2: axis `vector_store` = \"local\" needs a deployment to resolve"
        );
    }

    #[test]
    fn unknown_values_are_named_with_their_line() {
        let m =
            parse("[axes]\nvector_store = [\"pgvector\"]\nstorage_type = [\"opendal\", \"s4\"]\n")
                .unwrap();
        let err = m
            .expand(Some(&sets()), &RecipeBook::default())
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "m.toml:3: `s4` is not a STORAGE_TYPE value of this deployment (release 1.13); expected one of: opendal, s3 (or set `allow_unknown = true` in the matrix, or pass --allow-unknown-values, to try it anyway)"
        );
    }

    #[test]
    fn allow_unknown_keeps_unknown_values_and_says_which() {
        let text = "allow_unknown = true\n[axes]\nvector_store = [\"pgvector\", \"patched_store\"]\nstorage_type = [\"s4\"]\n";
        let cells = parse(text)
            .unwrap()
            .expand(Some(&sets()), &RecipeBook::default())
            .unwrap();
        let unknown: Vec<_> = cells.iter().map(|c| c.unknown.join(" ")).collect();
        assert_eq!(
            unknown,
            [
                "STORAGE_TYPE=s4",
                "VECTOR_STORE=patched_store STORAGE_TYPE=s4"
            ]
        );
        // The CLI flag does the same for a matrix without the key.
        let mut m =
            parse("[axes]\nvector_store = [\"pgvector\"]\nstorage_type = [\"s4\"]\n").unwrap();
        assert!(m.expand(Some(&sets()), &RecipeBook::default()).is_err());
        m.allow_unknown = true;
        let cells = m.expand(Some(&sets()), &RecipeBook::default()).unwrap();
        assert_eq!(cells[0].unknown, ["STORAGE_TYPE=s4"]);
    }

    #[test]
    fn errors_name_file_line_and_problem() {
        let err = |t: &str| parse(t).unwrap_err().to_string();
        assert_eq!(
            err("[axes]\nvector_store = [\"pgvector\"]\nstorage_type = [\"opendal\"\n"),
            "m.toml:3: unclosed array, expected `]`"
        );
        assert_eq!(
            err("[axes]\nvector_store = [\"pgvector\"]\nstorage_type = []\n"),
            "m.toml:3: axis `storage_type` lists no values"
        );
        assert!(
            err(
                "[axes]\nvector_store = [\"pgvector\"]\nstorage_type = [\"opendal\"]\ncolour = 1\n"
            )
            .starts_with("m.toml:4: unknown field `colour`"),
        );
        assert_eq!(
            err("[axes]\nvector_store = [\"PG vector\"]\nstorage_type = [\"opendal\"]\n"),
            "m.toml:2: axis `vector_store` value `PG vector` is not a value name (lowercase letters, digits, `_` and `-`)"
        );
        assert_eq!(
            err("[axes]\nvector_store = \"most\"\nstorage_type = [\"opendal\"]\n"),
            "m.toml:2: axis `vector_store` = \"most\": expected a list of values, \"local\" or \"all\""
        );
        assert_eq!(
            err(
                "[axes]\nvector_store = [\"a\"]\nstorage_type = [\"b\"]\n[cell.env]\nVECTOR_STORE = \"x\"\n"
            ),
            "m.toml:5: `env` must not set VECTOR_STORE: it is an axis of the matrix"
        );
    }

    #[test]
    fn selecting_an_unknown_cell_lists_the_known_ones() {
        let cells = expand("[axes]\nvector_store = [\"pgvector\"]\nstorage_type = [\"opendal\"]\n")
            .unwrap();
        assert_eq!(select(&cells, &[]).unwrap().len(), 1);
        let err = select(&cells, &["qdrant.s3".into()])
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "unknown cell `qdrant.s3`; the matrix has: pgvector.opendal"
        );
    }
}
