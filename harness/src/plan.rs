//! `plan`: the cells a matrix expands to on a deployment, before anything starts.

use std::fmt::Write;

use serde::Serialize;

use crate::deployment::Deployment;
use crate::interpolate::interpolate;
use crate::matrix::{Cell, Matrix};
use crate::workspace::render_env;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Plan {
    pub deployment: String,
    pub matrix: String,
    pub cells: Vec<PlannedCell>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PlannedCell {
    pub id: String,
    pub vector_store: String,
    pub storage_type: String,
    pub required: bool,
    pub timeout_secs: u64,
    /// The compose profiles the cell's `.env` activates.
    pub profiles: Vec<String>,
    /// `.env` keys the cell sets beyond the example's values.
    pub env: std::collections::BTreeMap<String, String>,
}

impl Plan {
    pub fn new(deployment: &Deployment, matrix: &Matrix, cells: &[Cell]) -> Self {
        let cells = cells
            .iter()
            .map(|cell| {
                let env = render_env(&deployment.env_example, cell);
                let values = env.values();
                let profiles = values
                    .get("COMPOSE_PROFILES")
                    .map(|p| interpolate(p, &|k| values.get(k).cloned()))
                    .unwrap_or_default()
                    .split(',')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(str::to_owned)
                    .collect();
                let example = deployment.env_example.values();
                let changed = values
                    .iter()
                    .filter(|(k, v)| example.get(*k) != Some(*v))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                PlannedCell {
                    id: cell.id.clone(),
                    vector_store: cell.vector_store.clone(),
                    storage_type: cell.storage_type.clone(),
                    required: cell.required,
                    timeout_secs: cell.timeout.as_secs(),
                    profiles,
                    env: changed,
                }
            })
            .collect();
        Self {
            deployment: deployment.dir.display().to_string(),
            matrix: matrix.path.display().to_string(),
            cells,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }

    pub fn to_table(&self) -> String {
        let headers = [
            "CELL",
            "VECTOR_STORE",
            "STORAGE_TYPE",
            "PROFILES",
            "REQUIRED",
            "TIMEOUT",
        ];
        let rows: Vec<[String; 6]> = self
            .cells
            .iter()
            .map(|c| {
                [
                    c.id.clone(),
                    c.vector_store.clone(),
                    c.storage_type.clone(),
                    c.profiles.join(","),
                    if c.required { "yes" } else { "no" }.into(),
                    format!("{}s", c.timeout_secs),
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
        let _ = writeln!(
            out,
            "{} cell(s) from {} on {}",
            self.cells.len(),
            self.matrix,
            self.deployment
        );
        out
    }
}
