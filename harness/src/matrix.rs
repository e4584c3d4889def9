//! Matrix files (`matrices/*.toml`): the VECTOR_STORE x STORAGE_TYPE axes and what every cell
//! of them sets, expanded into [`Cell`]s.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::error::{Error, Result, line_of};

/// One VECTOR_STORE x STORAGE_TYPE combination and everything it sets.
#[derive(Clone, Debug, PartialEq)]
pub struct Cell {
    /// `<vector_store>.<storage_type>`; usable as `--cell` and in test names.
    pub id: String,
    pub vector_store: String,
    pub storage_type: String,
    /// Extra `.env` keys for this cell, on top of VECTOR_STORE and STORAGE_TYPE.
    pub env: BTreeMap<String, String>,
    /// Budget from `up` to the last check.
    pub timeout: Duration,
    /// Whether a failure of this cell fails the run.
    pub required: bool,
}

impl Cell {
    pub fn id_for(vector_store: &str, storage_type: &str) -> String {
        format!("{vector_store}.{storage_type}")
    }
}

/// A parsed matrix file.
#[derive(Clone, Debug)]
pub struct Matrix {
    pub path: PathBuf,
    pub name: String,
    pub description: String,
    cells: Vec<Cell>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MatrixFile {
    #[serde(default)]
    description: String,
    axes: Axes,
    #[serde(default)]
    cell: CellDefaults,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Axes {
    vector_store: Vec<String>,
    storage_type: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CellDefaults {
    #[serde(default = "default_timeout")]
    timeout_secs: u64,
    #[serde(default = "default_required")]
    required: bool,
    #[serde(default)]
    env: BTreeMap<String, String>,
}

impl Default for CellDefaults {
    fn default() -> Self {
        Self {
            timeout_secs: default_timeout(),
            required: default_required(),
            env: BTreeMap::new(),
        }
    }
}

fn default_timeout() -> u64 {
    300
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

    pub fn parse(path: &Path, text: &str) -> Result<Self> {
        let error = |line: Option<usize>, message: String| Error::Matrix {
            file: path.to_path_buf(),
            line,
            message,
        };
        let file: MatrixFile = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_of(text, s.start));
            error(line, e.message().trim().to_string())
        })?;
        let line_of_key = |key: &str| {
            text.find(&format!("{key} ="))
                .or_else(|| text.find(key))
                .map(|o| line_of(text, o))
        };
        for (axis, values) in [
            ("vector_store", &file.axes.vector_store),
            ("storage_type", &file.axes.storage_type),
        ] {
            if values.is_empty() {
                return Err(error(
                    line_of_key(axis),
                    format!("axis `{axis}` lists no values"),
                ));
            }
            if let Some(bad) = values.iter().find(|v| !is_valid_value(v)) {
                return Err(error(
                    line_of_key(axis),
                    format!(
                        "axis `{axis}` value `{bad}` is not a value name (lowercase letters, digits, `_` and `-`)"
                    ),
                ));
            }
        }
        for key in ["VECTOR_STORE", "STORAGE_TYPE"] {
            if file.cell.env.contains_key(key) {
                return Err(error(
                    line_of_key(key),
                    format!("`cell.env` must not set {key}: it is an axis of the matrix"),
                ));
            }
        }
        if file.cell.timeout_secs == 0 {
            return Err(error(
                line_of_key("timeout_secs"),
                "`cell.timeout_secs` must be at least 1".into(),
            ));
        }
        let mut cells = Vec::new();
        for vs in &file.axes.vector_store {
            for st in &file.axes.storage_type {
                let id = Cell::id_for(vs, st);
                if cells.iter().any(|c: &Cell| c.id == id) {
                    return Err(error(
                        line_of_key("vector_store"),
                        format!("cell `{id}` appears twice (a value is repeated on an axis)"),
                    ));
                }
                cells.push(Cell {
                    id,
                    vector_store: vs.clone(),
                    storage_type: st.clone(),
                    env: file.cell.env.clone(),
                    timeout: Duration::from_secs(file.cell.timeout_secs),
                    required: file.cell.required,
                });
            }
        }
        Ok(Self {
            path: path.to_path_buf(),
            name: path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
            description: file.description,
            cells,
        })
    }

    pub fn cells(&self) -> &[Cell] {
        &self.cells
    }

    /// The cells named by `ids`, in matrix order; all cells when `ids` is empty.
    pub fn select(&self, ids: &[String]) -> Result<Vec<Cell>> {
        if let Some(unknown) = ids
            .iter()
            .find(|id| !self.cells.iter().any(|c| &c.id == *id))
        {
            return Err(Error::UnknownCell {
                id: unknown.clone(),
                known: self.cells.iter().map(|c| c.id.clone()).collect(),
            });
        }
        Ok(self
            .cells
            .iter()
            .filter(|c| ids.is_empty() || ids.contains(&c.id))
            .cloned()
            .collect())
    }
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

    #[test]
    fn expands_the_product_in_axis_order() {
        let m = parse(
            "[axes]\nvector_store = [\"pgvector\", \"chroma\"]\nstorage_type = [\"opendal\", \"s3\"]\n\
             [cell]\ntimeout_secs = 60\nenv = { CONSOLE_CORS_ALLOW_ORIGINS = \"*\" }\n",
        )
        .unwrap();
        let ids: Vec<_> = m.cells().iter().map(|c| c.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "pgvector.opendal",
                "pgvector.s3",
                "chroma.opendal",
                "chroma.s3"
            ]
        );
        assert_eq!(m.cells()[0].timeout, Duration::from_secs(60));
        assert_eq!(m.cells()[3].env["CONSOLE_CORS_ALLOW_ORIGINS"], "*");
        assert_eq!(m.name, "m");
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
            err(
                "[axes]\nvector_store = [\"a\"]\nstorage_type = [\"b\"]\n[cell.env]\nVECTOR_STORE = \"x\"\n"
            ),
            "m.toml:5: `cell.env` must not set VECTOR_STORE: it is an axis of the matrix"
        );
    }

    #[test]
    fn selecting_an_unknown_cell_lists_the_known_ones() {
        let m =
            parse("[axes]\nvector_store = [\"pgvector\"]\nstorage_type = [\"opendal\"]\n").unwrap();
        assert_eq!(m.select(&[]).unwrap().len(), 1);
        let err = m.select(&["qdrant.s3".into()]).unwrap_err().to_string();
        assert_eq!(
            err,
            "unknown cell `qdrant.s3`; the matrix has: pgvector.opendal"
        );
    }
}
