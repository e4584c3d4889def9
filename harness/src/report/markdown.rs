//! `report.md`: a matrix of cells by suite, then what failed with its evidence and logs.

use std::fmt::Write;

use suites::{Status, Suite};

use super::{CellReport, CellStatus, Report};

pub fn render(r: &Report) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# Dify conformance report\n");
    let _ = writeln!(
        md,
        "Run `{}` of matrix `{}` on `{}`, {} to {} ({}). Engine {}, compose {}, {} {}.\n",
        r.run.id,
        r.matrix.name,
        r.deployment,
        r.run.started_at,
        r.run.finished_at,
        seconds(r.run.duration_ms),
        r.environment.engine,
        r.environment.compose,
        r.tool.name,
        r.tool.version,
    );
    let s = &r.summary;
    let _ = writeln!(
        md,
        "**{} cell(s): {} passed, {} failed, {} error(s), {} not run.**\n",
        s.cells, s.passed, s.failed, s.errors, s.not_run
    );
    md.push_str("| Cell | VECTOR_STORE | STORAGE_TYPE | Result |");
    for suite in Suite::ALL {
        let _ = write!(md, " {suite} |");
    }
    md.push_str(" Time |\n|---|---|---|---|");
    for _ in Suite::ALL {
        md.push_str("---|");
    }
    md.push_str("---|\n");
    for c in &r.cells {
        let _ = write!(
            md,
            "| `{}` | {} | {} | {} |",
            c.id,
            c.vector_store,
            c.storage_type,
            cell_mark(c)
        );
        for suite in Suite::ALL {
            let _ = write!(md, " {} |", suite_mark(c, suite));
        }
        let _ = writeln!(md, " {} |", seconds(c.duration_ms));
    }

    let troubled: Vec<&CellReport> = r
        .cells
        .iter()
        .filter(|c| c.status != CellStatus::Passed)
        .collect();
    if !troubled.is_empty() {
        md.push_str("\n## What went wrong\n");
    }
    for c in troubled {
        let _ = writeln!(md, "\n### `{}`: {}\n", c.id, c.status.label());
        if let Some(reason) = &c.reason {
            let _ = writeln!(md, "{}\n", escape(reason));
        }
        for o in c.failed_outcomes() {
            let _ = write!(md, "- `{}` failed", o.check);
            if let Some(url) = &o.url {
                let _ = write!(md, " against `{url}`");
            }
            let _ = writeln!(
                md,
                ": expected {}; got {}.",
                escape(&o.expected),
                escape(&o.got)
            );
            if !o.evidence.is_empty() {
                md.push_str("\n  ```text\n");
                for line in &o.evidence {
                    let _ = writeln!(md, "  {line}");
                }
                md.push_str("  ```\n");
            }
        }
        for (service, lines) in &c.logs {
            let _ = writeln!(
                md,
                "\n<details><summary>Last {} log lines of <code>{service}</code></summary>\n\n```text",
                lines.len()
            );
            for line in lines {
                let _ = writeln!(md, "{}", line.replace("```", "ˋˋˋ"));
            }
            md.push_str("```\n\n</details>\n");
        }
    }
    md
}

fn cell_mark(c: &CellReport) -> &'static str {
    match c.status {
        CellStatus::Passed => "✅ passed",
        CellStatus::Failed => "❌ failed",
        CellStatus::Error => "💥 error",
        CellStatus::NotRun => "⏸ not run",
    }
}

fn suite_mark(c: &CellReport, suite: Suite) -> &'static str {
    let outcomes: Vec<_> = c
        .outcomes
        .iter()
        .filter(|o| o.suite() == suite.name())
        .collect();
    if outcomes.is_empty() {
        "–"
    } else if outcomes.iter().any(|o| o.status == Status::Failed) {
        "❌"
    } else if outcomes.iter().all(|o| o.status == Status::Skipped) {
        "⏭"
    } else {
        "✅"
    }
}

fn seconds(ms: u64) -> String {
    format!("{:.1} s", ms as f64 / 1000.0)
}

/// Keeps check text from breaking the Markdown around it.
fn escape(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden() {
        insta::assert_snapshot!(render(&super::super::fixtures::report()));
    }
}
