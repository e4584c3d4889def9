//! `plan`: the cells a matrix expands to on a deployment, whether each can run and why not,
//! before anything starts. Rendered as a table, JSON, or a GitHub Actions `strategy.matrix`.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::catalog::{Catalog, Runnability};
use crate::error::{Error, Result};
use crate::matrix::{Cell, Matrix};
use crate::workspace::render_env;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Plan {
    pub deployment: String,
    pub matrix: String,
    pub release: Option<String>,
    /// `api_image`, `release_facts` or `env_example` (a guess).
    pub values_origin: crate::values::Origin,
    pub values_from: String,
    pub shard: Option<String>,
    /// Whether the cells' images were checked on this machine's engine, and how.
    pub images: ImagesChecked,
    pub cells: Vec<PlannedCell>,
}

/// How `plan` knows which images this machine has.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "checked", content = "note", rename_all = "snake_case")]
pub enum ImagesChecked {
    /// Asked the engine; cells lacking an image are `not_runnable_here`.
    Engine(String),
    /// `--pull`: compose pulls what the engine lacks.
    Pull(String),
    /// No engine answered: nothing could be checked, cells are judged without images.
    Unchecked(String),
}

impl ImagesChecked {
    pub fn line(&self) -> String {
        match self {
            ImagesChecked::Engine(n) | ImagesChecked::Pull(n) => format!("images: {n}"),
            ImagesChecked::Unchecked(n) => format!("images: not checked ({n})"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PlannedCell {
    pub id: String,
    pub vector_store: String,
    pub storage_type: String,
    pub required: bool,
    pub timeout_secs: u64,
    #[serde(flatten)]
    pub runnability: Runnability,
    /// The compose profiles the cell's `.env` activates.
    pub profiles: Vec<String>,
    /// `.env` keys the cell sets beyond the example's values (secrets as `***`).
    pub env: BTreeMap<String, String>,
}

/// `--shard I/N`: the I-th of N stable parts (1-based).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl std::str::FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        let bad = || format!("`{s}` is not a shard: expected I/N with 1 <= I <= N, e.g. 2/4");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: u32 = i.trim().parse().map_err(|_| bad())?;
        let count: u32 = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index == 0 || index > count {
            return Err(bad());
        }
        Ok(Self { index, count })
    }
}

impl Shard {
    /// Whether `cell_id` belongs to this shard: by a hash of the id, so a cell keeps its shard
    /// when others are added or removed.
    pub fn contains(&self, cell_id: &str) -> bool {
        let digest = Sha256::digest(cell_id.as_bytes());
        let n = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
        n % self.count == self.index - 1
    }
}

impl Plan {
    pub fn new(catalog: &Catalog, matrix: &Matrix, cells: &[Cell], shard: Option<Shard>) -> Self {
        let example = catalog.deployment.env_example.values();
        let cells = cells
            .iter()
            .filter(|c| shard.is_none_or(|s| s.contains(&c.id)))
            .map(|cell| {
                let env = render_env(&catalog.deployment.env_example, cell, &catalog.recipes);
                let values = env.values();
                let profiles = catalog.cell_profiles(cell, &env);
                let redactor = catalog.redactor(cell);
                let changed = values
                    .iter()
                    .filter(|(k, v)| example.get(*k) != Some(*v))
                    .map(|(k, v)| (k.clone(), redactor.redact(v)))
                    .collect();
                PlannedCell {
                    id: cell.id.clone(),
                    vector_store: cell.vector_store.clone(),
                    storage_type: cell.storage_type.clone(),
                    required: cell.required,
                    timeout_secs: cell.timeout.as_secs(),
                    runnability: catalog.runnability(cell),
                    profiles,
                    env: changed,
                }
            })
            .collect();
        Self {
            deployment: catalog.deployment.dir.display().to_string(),
            matrix: matrix.path.display().to_string(),
            release: catalog.sets.release.clone(),
            values_origin: catalog.sets.origin,
            values_from: catalog.sets.source.clone(),
            shard: shard.map(|s| format!("{}/{}", s.index, s.count)),
            images: ImagesChecked::Unchecked("not asked".into()),
            cells,
        }
    }

    /// Marks the runnable cells whose images are missing here (cell id -> `service (image)`
    /// entries) `not runnable here`, as `run` would.
    pub fn with_images(
        mut self,
        checked: ImagesChecked,
        missing: &BTreeMap<String, Vec<String>>,
    ) -> Self {
        for cell in &mut self.cells {
            if let Some(m) = missing.get(&cell.id).filter(|m| !m.is_empty())
                && cell.runnability.runs()
            {
                cell.runnability =
                    Runnability::NotRunnableHere(crate::images::not_runnable_here(m));
                cell.profiles.clear();
            }
        }
        self.images = checked;
        self
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }

    /// What a GitHub Actions `strategy.matrix` takes: the runnable cells, with ids for `--cell`.
    pub fn to_github_matrix(&self) -> String {
        let include: Vec<serde_json::Value> = self
            .cells
            .iter()
            .filter(|c| c.runnability.runs())
            .map(|c| {
                serde_json::json!({
                    "cell": c.id,
                    "vector_store": c.vector_store,
                    "storage_type": c.storage_type,
                    "required": c.required,
                })
            })
            .collect();
        serde_json::json!({ "include": include }).to_string() + "\n"
    }

    pub fn to_table(&self) -> String {
        let headers = ["CELL", "STATUS", "PROFILES", "REQUIRED", "TIMEOUT", "WHY"];
        let rows: Vec<[String; 6]> = self
            .cells
            .iter()
            .map(|c| {
                let status = c.runnability.label();
                let why = c.runnability.detail().unwrap_or_default().to_string();
                [
                    c.id.clone(),
                    status.into(),
                    c.profiles.join(","),
                    if c.required { "yes" } else { "no" }.into(),
                    format!("{}s", c.timeout_secs),
                    why,
                ]
            })
            .collect();
        let mut widths = headers.map(str::len);
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        let mut line = |cols: &[String]| {
            let text: Vec<String> = cols
                .iter()
                .zip(widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect();
            let _ = writeln!(out, "{}", text.join("  ").trim_end());
        };
        line(&headers.map(String::from));
        for row in &rows {
            line(row);
        }
        let count = |f: &dyn Fn(&Runnability) -> bool| {
            self.cells.iter().filter(|c| f(&c.runnability)).count()
        };
        let runnable = count(&|r| *r == Runnability::Runnable);
        let unknown = count(&|r| matches!(r, Runnability::UnknownValue(_)));
        let not_here = count(&|r| matches!(r, Runnability::NotRunnableHere(_)));
        let _ = writeln!(
            out,
            "{} cell(s), {runnable} runnable{}{}, from {} on {}{}; values from {}",
            self.cells.len(),
            if unknown > 0 {
                format!(", {unknown} with an unknown value (tried)")
            } else {
                String::new()
            },
            if not_here > 0 {
                format!(", {not_here} not runnable here")
            } else {
                String::new()
            },
            self.matrix,
            self.deployment,
            self.shard
                .as_deref()
                .map(|s| format!(" (shard {s})"))
                .unwrap_or_default(),
            self.values_from
        );
        let _ = writeln!(out, "{}", self.images.line());
        out
    }
}

/// `--shard` parsing as an input error (exit 2).
pub fn parse_shard(text: &str) -> Result<Shard> {
    text.parse().map_err(Error::BadInput)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn shards_parse_or_explain() {
        assert_eq!("2/4".parse::<Shard>(), Ok(Shard { index: 2, count: 4 }));
        for bad in ["3/2", "0/2", "1/0", "x/2", "2"] {
            let err = bad.parse::<Shard>().unwrap_err();
            assert!(err.contains("is not a shard"), "{err}");
        }
    }

    proptest! {
        #[test]
        fn every_cell_is_in_exactly_one_shard(ids in prop::collection::vec("[a-z_-]{1,12}\\.[a-z-]{1,12}", 1..40), n in 1u32..8) {
            for id in &ids {
                let owners = (1..=n).filter(|i| Shard { index: *i, count: n }.contains(id)).count();
                prop_assert_eq!(owners, 1);
            }
        }
    }
}
