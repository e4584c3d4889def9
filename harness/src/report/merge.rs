//! Shard reports in, one report out.
//!
//! Reports merge when they come from the same matrix on the same deployment under the same
//! schema (`Report::load` already refused other schemas); anything else is an input error,
//! because a grid assembled from different matrices would claim a coverage nobody ran. Cells
//! come out in the matrix's order, as an unsplit run lists them.

use std::path::PathBuf;

use super::{CellReport, Environment, Meta, Report, RunInfo};
use crate::error::{Error, Result};

/// Merges `parts` (each with the file it came from, for errors).
pub fn merge(parts: Vec<(PathBuf, Report)>) -> Result<Report> {
    let Some((first_path, first)) = parts.first().cloned() else {
        return Err(Error::BadInput("report: no --in report given".into()));
    };
    if parts.len() == 1 {
        return Ok(first);
    }
    let mut cells: Vec<CellReport> = Vec::new();
    let mut cell_source: Vec<PathBuf> = Vec::new();
    let mut shards: Vec<(u32, u32)> = Vec::new();
    for (path, part) in &parts {
        let refuse = |what: &str, ours: &str, theirs: &str| {
            Error::BadInput(format!(
                "cannot merge {} into {}: different {what} (`{theirs}` vs `{ours}`)",
                path.display(),
                first_path.display()
            ))
        };
        if part.matrix.name != first.matrix.name || part.matrix.path != first.matrix.path {
            return Err(refuse("matrices", &first.matrix.path, &part.matrix.path));
        }
        if part.matrix.cells != first.matrix.cells {
            return Err(Error::BadInput(format!(
                "cannot merge {} into {}: the matrix `{}` expanded to different cells (was it edited between the runs?)",
                path.display(),
                first_path.display(),
                part.matrix.path
            )));
        }
        if part.deployment != first.deployment {
            return Err(refuse("deployments", &first.deployment, &part.deployment));
        }
        if part.schema != first.schema {
            return Err(refuse("schema versions", &first.schema, &part.schema));
        }
        if let Some(s) = &part.run.shard {
            let parsed = crate::plan::parse_shard(s).map_err(|_| {
                Error::BadInput(format!("{}: run.shard `{s}` is not I/N", path.display()))
            })?;
            if shards.iter().any(|(_, n)| *n != parsed.count) {
                return Err(Error::BadInput(format!(
                    "cannot merge {}: shard {s} is of a different split than the other parts",
                    path.display()
                )));
            }
            shards.push((parsed.index, parsed.count));
        }
        for cell in &part.cells {
            if let Some(i) = cells.iter().position(|c| c.id == cell.id) {
                return Err(Error::BadInput(format!(
                    "cannot merge: cell {} is in both {} and {}",
                    cell.id,
                    cell_source[i].display(),
                    path.display()
                )));
            }
            cells.push(cell.clone());
            cell_source.push(path.clone());
        }
    }
    sort_like_the_matrix(&mut cells, &first.matrix.cells);

    shards.sort_unstable();
    shards.dedup();
    let complete = shards
        .first()
        .is_some_and(|(_, n)| shards.len() == *n as usize);
    let shard = (!shards.is_empty() && !complete).then(|| {
        let n = shards[0].1;
        let list: Vec<String> = shards.iter().map(|(i, _)| i.to_string()).collect();
        format!("{}/{n}", list.join("+"))
    });
    let started_at = parts
        .iter()
        .map(|(_, r)| r.run.started_at.clone())
        .min()
        .unwrap_or_default();
    let finished_at = parts
        .iter()
        .map(|(_, r)| r.run.finished_at.clone())
        .max()
        .unwrap_or_default();
    let merged_from: Vec<String> = parts.iter().map(|(_, r)| r.run.id.clone()).collect();
    let engines = distinct(parts.iter().map(|(_, r)| r.environment.engine.as_str()));
    let composes = distinct(parts.iter().map(|(_, r)| r.environment.compose.as_str()));
    let meta = Meta {
        run: RunInfo {
            id: format!("merged-{}", merged_from.join("+")),
            started_at,
            finished_at,
            // The wall time of the slowest part: shards run side by side.
            duration_ms: parts
                .iter()
                .map(|(_, r)| r.run.duration_ms)
                .max()
                .unwrap_or(0),
            shard,
            merged_from,
        },
        environment: Environment {
            engine: engines,
            compose: composes,
        },
        deployment: first.deployment.clone(),
        matrix: first.matrix.clone(),
    };
    let mut report = Report::new(meta, cells);
    report.tool = first.tool.clone();
    Ok(report)
}

/// Back into the unsplit run's order: the matrix's own list; cells it does not list (a
/// report of an older tool) go last, by id.
fn sort_like_the_matrix(cells: &mut [CellReport], order: &[String]) {
    cells.sort_by(|a, b| {
        let pos = |id: &str| order.iter().position(|x| x == id).unwrap_or(usize::MAX);
        pos(&a.id).cmp(&pos(&b.id)).then_with(|| a.id.cmp(&b.id))
    });
}

fn distinct<'a>(values: impl Iterator<Item = &'a str>) -> String {
    let mut v: Vec<&str> = values.collect();
    v.sort_unstable();
    v.dedup();
    v.join(", ")
}

#[cfg(test)]
mod tests {
    use super::super::fixtures;
    use super::*;

    fn shard(report: &Report, ids: &[&str], shard: &str, run: &str) -> Report {
        let mut r = report.clone();
        r.cells.retain(|c| ids.contains(&c.id.as_str()));
        r.run.shard = Some(shard.into());
        r.run.id = run.into();
        r.summary = super::super::Summary::of(&r.cells);
        r
    }

    #[test]
    fn every_shard_merged_is_the_whole_run_again() {
        let whole = fixtures::report();
        // Shards interleave cells: the merge must restore the matrix order.
        let a = shard(
            &whole,
            &["pgvector.local", "chroma.opendal", "qdrant.local"],
            "1/2",
            "aaaa",
        );
        let b = shard(
            &whole,
            &["pgvector.opendal", "chroma.local", "qdrant.opendal"],
            "2/2",
            "bbbb",
        );
        let merged = merge(vec![("b.json".into(), b), ("a.json".into(), a)]).unwrap();
        assert_eq!(merged.cells, whole.cells);
        assert_eq!(merged.summary, whole.summary);
        assert_eq!(merged.dify_version, whole.dify_version);
        assert_eq!(merged.run.shard, None);
        assert_eq!(merged.run.merged_from, ["bbbb", "aaaa"]);
    }

    #[test]
    fn a_partial_merge_says_which_shards_it_has() {
        let whole = fixtures::report();
        let a = shard(&whole, &["pgvector.local"], "1/3", "a");
        let b = shard(&whole, &["chroma.local"], "3/3", "b");
        let merged = merge(vec![("a".into(), a), ("b".into(), b)]).unwrap();
        assert_eq!(merged.run.shard.as_deref(), Some("1+3/3"));
    }

    #[test]
    fn refuses_what_does_not_belong_together() {
        let whole = fixtures::report();
        let mut other = shard(&whole, &["chroma.local"], "2/2", "b");
        other.matrix.path = "matrices/full.toml".into();
        let err = merge(vec![
            ("a.json".into(), whole.clone()),
            ("b.json".into(), other),
        ])
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "cannot merge b.json into a.json: different matrices (`matrices/full.toml` vs `matrices/smoke.toml`)"
        );
        let mut other = whole.clone();
        other.deployment = "/srv/dify/docker".into();
        let err = merge(vec![("a".into(), whole.clone()), ("b".into(), other)])
            .unwrap_err()
            .to_string();
        assert!(err.contains("different deployments"), "{err}");
        let err = merge(vec![
            ("a".into(), whole.clone()),
            ("b".into(), whole.clone()),
        ])
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "cannot merge: cell pgvector.opendal is in both a and b"
        );
        let mut third = shard(&whole, &["chroma.local"], "1/3", "c");
        third.cells.clear();
        let half = shard(&whole, &["pgvector.local"], "1/2", "h");
        let err = merge(vec![("h".into(), half), ("c".into(), third)])
            .unwrap_err()
            .to_string();
        assert!(err.contains("different split"), "{err}");
    }
}
