//! Release policies (`matrices/*-policy.toml`): what a report must show for a release to ship.
//! [`crate::gate`] applies one to a report; `run` applies its matrix's.
//!
//! ```toml
//! description = "..."
//! [cells]
//! required = "matrix"            # "matrix" (each cell's `required`), "all", or ids/patterns: ["pgvector.*"]
//! [checks]
//! fail_on = ["critical", "major", "minor"]   # severities whose failure fails a required cell
//! required = ["api.version"]     # must pass (not fail, not be skipped) in every required cell that ran
//! [not_run]                      # how a required cell that did not run counts: "fail" or "ignore"
//! excluded = "ignore"
//! external = "ignore"
//! no_recipe = "fail"
//! not_offered = "ignore"
//! not_runnable_here = "fail"
//! [[accept]]                     # a known failure, accepted for a while
//! check = "cors.reflection"
//! cells = ["*"]                  # optional; every cell when absent
//! reason = "why this is acceptable for now"
//! expires = 2027-06-30           # after this day it fails the gate again
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use suites::Severity;

use crate::error::{Error, Result, line_of, parse_toml};
use crate::report::{CellReport, NotRunKind};

#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    /// Where it came from (`built-in default` when from no file).
    pub source: String,
    pub description: String,
    pub required_cells: RequiredCells,
    pub fail_on: Vec<Severity>,
    pub required_checks: Vec<String>,
    pub not_run: BTreeMap<NotRunKind, Count>,
    pub accept: Vec<Acceptance>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum RequiredCells {
    /// As the matrix marked each cell.
    Matrix,
    All,
    /// Cells matching any of these (`*` matches any run of characters).
    Listed(Vec<String>),
}

/// How a not-run required cell counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Count {
    Fail,
    Ignore,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Acceptance {
    pub check: String,
    pub cells: Vec<String>,
    pub reason: String,
    pub expires: time::Date,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default)]
    description: String,
    #[serde(default)]
    cells: CellsSection,
    #[serde(default)]
    checks: ChecksSection,
    #[serde(default)]
    not_run: BTreeMap<String, Count>,
    #[serde(default)]
    accept: Vec<AcceptFile>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CellsSection {
    required: Option<RequiredSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RequiredSpec {
    Keyword(String),
    Listed(Vec<String>),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChecksSection {
    fail_on: Option<Vec<String>>,
    #[serde(default)]
    required: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AcceptFile {
    check: String,
    #[serde(default)]
    cells: Vec<String>,
    reason: String,
    expires: toml::value::Datetime,
}

impl Default for Policy {
    /// Without a policy: the matrix says which cells are required; a failed check of any
    /// severity but `info` fails; a required cell that did not run fails unless a matrix rule
    /// excluded it on purpose.
    fn default() -> Self {
        Self {
            source: "built-in default".into(),
            description: String::new(),
            required_cells: RequiredCells::Matrix,
            fail_on: vec![Severity::Critical, Severity::Major, Severity::Minor],
            required_checks: Vec::new(),
            not_run: NotRunKind::ALL
                .into_iter()
                .map(|k| {
                    let count = if k == NotRunKind::Excluded {
                        Count::Ignore
                    } else {
                        Count::Fail
                    };
                    (k, count)
                })
                .collect(),
            accept: Vec::new(),
        }
    }
}

impl Policy {
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            what: "policy file",
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Self> {
        let file: PolicyFile = parse_toml(path, text)?;
        let error = |near: &str, message: String| Error::Data {
            file: path.to_path_buf(),
            line: text.find(near).map(|o| line_of(text, o)),
            message,
        };
        let mut policy = Policy {
            source: path.display().to_string(),
            description: file.description,
            ..Policy::default()
        };
        policy.required_cells = match file.cells.required {
            None => RequiredCells::Matrix,
            Some(RequiredSpec::Keyword(k)) if k == "matrix" => RequiredCells::Matrix,
            Some(RequiredSpec::Keyword(k)) if k == "all" => RequiredCells::All,
            Some(RequiredSpec::Keyword(k)) => {
                return Err(error(
                    "required",
                    format!(
                        "[cells] required = \"{k}\": expected \"matrix\", \"all\" or a list of cell ids"
                    ),
                ));
            }
            Some(RequiredSpec::Listed(ids)) => {
                if let Some(bad) = ids.iter().find(|p| !is_cell_pattern(p)) {
                    return Err(error(
                        bad,
                        format!(
                            "[cells] required: `{bad}` is not a cell id or pattern (VECTOR_STORE.STORAGE_TYPE, `*` allowed)"
                        ),
                    ));
                }
                RequiredCells::Listed(ids)
            }
        };
        if let Some(fail_on) = file.checks.fail_on {
            policy.fail_on = fail_on
                .iter()
                .map(|s| {
                    s.parse::<Severity>()
                        .map_err(|e| error(&format!("\"{s}\""), format!("[checks] fail_on: {e}")))
                })
                .collect::<Result<_>>()?;
        }
        for id in &file.checks.required {
            check_id(id).map_err(|m| error(id, format!("[checks] required: {m}")))?;
        }
        policy.required_checks = file.checks.required;
        for (key, count) in file.not_run {
            let kind = NotRunKind::ALL
                .into_iter()
                .find(|k| k.key() == key)
                .ok_or_else(|| {
                    error(
                        &key,
                        format!(
                            "[not_run] `{key}` is not a kind of not-run cell; expected one of: {}",
                            NotRunKind::ALL.map(|k| k.key()).join(", ")
                        ),
                    )
                })?;
            policy.not_run.insert(kind, count);
        }
        for a in file.accept {
            check_id(&a.check).map_err(|m| error(&a.check, format!("[[accept]] check: {m}")))?;
            if a.reason.trim().is_empty() {
                return Err(error(
                    &a.check,
                    format!("[[accept]] `{}`: the reason must say why", a.check),
                ));
            }
            if let Some(bad) = a.cells.iter().find(|p| !is_cell_pattern(p)) {
                return Err(error(
                    bad,
                    format!("[[accept]] cells: `{bad}` is not a cell id or pattern"),
                ));
            }
            let expires = match (a.expires.date, a.expires.time) {
                (Some(d), None) => time::Month::try_from(d.month)
                    .ok()
                    .and_then(|m| time::Date::from_calendar_date(i32::from(d.year), m, d.day).ok()),
                _ => None,
            }
            .ok_or_else(|| {
                error(
                    "expires",
                    format!(
                        "[[accept]] `{}`: expires = {}: expected a date like 2027-06-30",
                        a.check, a.expires
                    ),
                )
            })?;
            policy.accept.push(Acceptance {
                check: a.check,
                cells: a.cells,
                reason: a.reason.trim().to_string(),
                expires,
            });
        }
        Ok(policy)
    }

    /// The policy for a run of `matrix`: `explicit` if given, else the one the matrix names,
    /// else the built-in default.
    pub fn for_run(explicit: Option<&Path>, matrix_policy: Option<PathBuf>) -> Result<Self> {
        match explicit.map(Path::to_path_buf).or(matrix_policy) {
            Some(p) => Self::load(&p),
            None => Ok(Self::default()),
        }
    }

    pub fn requires(&self, cell: &CellReport) -> bool {
        match &self.required_cells {
            RequiredCells::Matrix => cell.required,
            RequiredCells::All => true,
            RequiredCells::Listed(patterns) => patterns.iter().any(|p| glob(p, &cell.id)),
        }
    }

    pub fn count(&self, kind: NotRunKind) -> Count {
        self.not_run.get(&kind).copied().unwrap_or(Count::Fail)
    }
}

impl Acceptance {
    pub fn covers(&self, cell: &str, check: &str) -> bool {
        self.check == check && (self.cells.is_empty() || self.cells.iter().any(|p| glob(p, cell)))
    }
}

fn check_id(id: &str) -> std::result::Result<(), String> {
    let ok = id.split_once('.').is_some_and(|(suite, name)| {
        suite.parse::<suites::Suite>().is_ok()
            && !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{id}` is not a check id (suite.kebab-name, suite one of api, web, cors, ssl, celery)"
        ))
    }
}

fn is_cell_pattern(p: &str) -> bool {
    !p.is_empty()
        && p.chars().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-' | '.' | '*')
        })
}

/// `*` matches any run of characters; everything else literally.
pub fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, rest)) => {
            let Some(tail) = text.strip_prefix(head) else {
                return false;
            };
            (0..=tail.len())
                .filter(|i| tail.is_char_boundary(*i))
                .any(|i| glob(rest, &tail[i..]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn parse(text: &str) -> Result<Policy> {
        Policy::parse(Path::new("p.toml"), text)
    }

    #[rstest]
    #[case("pgvector.*", "pgvector.opendal", true)]
    #[case("pgvector.*", "pgvecto-rs.opendal", false)]
    #[case("*.s3", "chroma.s3", true)]
    #[case("*", "anything.at-all", true)]
    #[case("milvus.local", "milvus.local", true)]
    #[case("milvus.local", "milvus.locals", false)]
    fn globs(#[case] pattern: &str, #[case] text: &str, #[case] matches: bool) {
        assert_eq!(glob(pattern, text), matches);
    }

    #[test]
    fn parses_every_section() {
        let p = parse(
            "description = \"d\"\n[cells]\nrequired = [\"pgvector.*\"]\n\
             [checks]\nfail_on = [\"critical\"]\nrequired = [\"api.version\"]\n\
             [not_run]\nnot_offered = \"ignore\"\n\
             [[accept]]\ncheck = \"cors.reflection\"\nreason = \"Dify's default\"\nexpires = 2027-06-30\n",
        )
        .unwrap();
        assert_eq!(
            p.required_cells,
            RequiredCells::Listed(vec!["pgvector.*".into()])
        );
        assert_eq!(p.fail_on, [Severity::Critical]);
        assert_eq!(p.count(NotRunKind::NotOffered), Count::Ignore);
        assert_eq!(p.count(NotRunKind::External), Count::Fail);
        assert_eq!(p.count(NotRunKind::Excluded), Count::Ignore);
        assert_eq!(p.accept[0].expires, time::macros::date!(2027 - 06 - 30));
        assert!(p.accept[0].covers("chroma.s3", "cors.reflection"));
    }

    #[rstest]
    #[case(
        "[cells]\nrequired = \"some\"\n",
        "p.toml:2: [cells] required = \"some\": expected \"matrix\", \"all\" or a list of cell ids"
    )]
    #[case(
        "[checks]\nfail_on = [\"major\", \"fatal\"]\n",
        "p.toml:2: [checks] fail_on: unknown severity `fatal`; expected critical, major, minor or info"
    )]
    #[case(
        "[not_run]\nabsent = \"ignore\"\n",
        "p.toml:2: [not_run] `absent` is not a kind of not-run cell; expected one of: excluded, external, no_recipe, not_offered, not_runnable_here, licensed"
    )]
    #[case(
        "[not_run]\nexternal = \"maybe\"\n",
        "p.toml:2: unknown variant `maybe`, expected `fail` or `ignore`"
    )]
    #[case(
        "[[accept]]\ncheck = \"cors\"\nreason = \"r\"\nexpires = 2027-01-01\n",
        "p.toml:2: [[accept]] check: `cors` is not a check id (suite.kebab-name, suite one of api, web, cors, ssl, celery)"
    )]
    #[case(
        "[[accept]]\ncheck = \"cors.reflection\"\nreason = \" \"\nexpires = 2027-01-01\n",
        "p.toml:2: [[accept]] `cors.reflection`: the reason must say why"
    )]
    #[case(
        "[[accept]]\ncheck = \"cors.reflection\"\nreason = \"r\"\nexpires = 2027-01-01T10:00:00\n",
        "p.toml:4: [[accept]] `cors.reflection`: expires = 2027-01-01T10:00:00: expected a date like 2027-06-30"
    )]
    #[case(
        "[[accept]]\ncheck = \"cors.reflection\"\nreason = \"r\"\n",
        "p.toml:1: missing field `expires`"
    )]
    #[case(
        "[gate]\n",
        "p.toml:1: unknown field `gate`, expected one of `description`, `cells`, `checks`, `not_run`, `accept`"
    )]
    fn bad_policies_say_where_and_what(#[case] text: &str, #[case] message: &str) {
        assert_eq!(parse(text).unwrap_err().to_string(), message);
    }

    #[test]
    fn the_shipped_release_policy_parses() {
        let path = crate::deployment::bundled::root().join("matrices/release-policy.toml");
        let p = Policy::load(&path).unwrap();
        assert!(p.accept.iter().any(|a| a.check == "cors.reflection"));
    }
}
