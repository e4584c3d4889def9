//! `report.md`, fit for `$GITHUB_STEP_SUMMARY`: the VECTOR_STORE x STORAGE_TYPE grid first,
//! then every failure with its evidence and the logs of the cell, then what did not run and
//! why (grouped: a release matrix has dozens of cells that are not offered for one reason).

use std::collections::BTreeMap;
use std::fmt::Write;

use super::{CellReport, CellStatus, Grid, PolicyView, Report, failing_suites};

pub fn render(r: &Report, view: Option<&PolicyView>) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# Dify conformance: `{}`\n", r.matrix.name);
    let s = &r.summary;
    let _ = writeln!(
        md,
        "**{} cell(s): {} passed, {} failed, {} error(s), {} not run.**{}\n",
        s.cells,
        s.passed,
        s.failed,
        s.errors,
        s.not_run,
        r.dify_version
            .as_deref()
            .map(|v| format!(" Dify {v}."))
            .unwrap_or_default()
    );
    grid(&mut md, r, view);
    let _ = writeln!(
        md,
        "\nRun `{}`{} of `{}` on `{}`, {} to {} ({}). Engine {}, compose {}, {} {}.",
        r.run.id,
        r.run
            .shard
            .as_deref()
            .map(|s| format!(" (shard {s})"))
            .unwrap_or_default(),
        r.matrix.path,
        r.deployment,
        r.run.started_at,
        r.run.finished_at,
        seconds(r.run.duration_ms),
        r.environment.engine,
        r.environment.compose,
        r.tool.name,
        r.tool.version,
    );

    let troubled: Vec<&CellReport> = r
        .cells
        .iter()
        .filter(|c| matches!(c.status, CellStatus::Failed | CellStatus::Error))
        .collect();
    if !troubled.is_empty() {
        md.push_str("\n## Failures\n");
    }
    for c in troubled {
        failure(&mut md, c, view);
    }
    not_run(&mut md, r);
    md
}

fn grid(md: &mut String, r: &Report, view: Option<&PolicyView>) {
    let g = Grid::of(r);
    md.push_str("| VECTOR_STORE \\ STORAGE_TYPE |");
    for st in &g.storage_types {
        let _ = write!(md, " {st} |");
    }
    md.push_str("\n|---|");
    for _ in &g.storage_types {
        md.push_str("---|");
    }
    md.push('\n');
    for vs in &g.vector_stores {
        let _ = write!(md, "| **{vs}** |");
        for st in &g.storage_types {
            let mark = g.cell(vs, st).map(|c| mark(c, view)).unwrap_or_default();
            let _ = write!(md, " {mark} |");
        }
        md.push('\n');
    }
    md.push_str(
        "\n✅ passed · ❌ a check failed (its suites named) · 💥 the stack did not come up · ⏸ not run · `*` not required",
    );
    if let Some(v) = view {
        let _ = write!(
            md,
            " · ☑️ failed, every failure accepted or tolerated by `{}`",
            v.policy
        );
    }
    md.push('\n');
}

/// What one grid square says.
fn mark(c: &CellReport, view: Option<&PolicyView>) -> String {
    let optional = if c.required { "" } else { "`*`" };
    let text = match c.status {
        CellStatus::Passed => "✅".to_string(),
        CellStatus::Failed if view.is_some_and(|v| v.accepts_cell(c)) => {
            format!("☑️ {}", failing_suites(c).join(", "))
        }
        CellStatus::Failed => format!("❌ {}", failing_suites(c).join(", ")),
        CellStatus::Error => "💥 error".to_string(),
        CellStatus::NotRun => format!("⏸ {}", c.not_run.map(|k| k.label()).unwrap_or("not run")),
    };
    format!("{text}{optional}")
}

fn failure(md: &mut String, c: &CellReport, view: Option<&PolicyView>) {
    let _ = writeln!(
        md,
        "\n### `{}`: {}{}\n",
        c.id,
        c.status.label(),
        if c.required { "" } else { " (not required)" }
    );
    if let Some(reason) = &c.reason {
        let _ = writeln!(md, "{}\n", escape(reason));
    }
    for o in c.failed_checks() {
        let _ = write!(md, "- **`{}`** ({}) failed", o.id, o.severity);
        if let Some(v) = view.filter(|v| v.accepts(&c.id, &o.id)) {
            let _ = write!(md, ", accepted by `{}`,", v.policy);
        }
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
                let _ = writeln!(md, "  {}", line.replace("```", "ˋˋˋ"));
            }
            md.push_str("  ```\n");
        }
    }
    let troubled: Vec<String> = c
        .services
        .iter()
        .filter(|(_, s)| s.restarts > 0 || s.exit_code.is_some_and(|e| e != 0))
        .map(|(name, s)| {
            format!(
                "`{name}` {}{}",
                s.state,
                s.exit_code
                    .map(|e| format!(" (exit {e})"))
                    .unwrap_or_default()
                    + &if s.restarts > 0 {
                        format!(", {} restart(s)", s.restarts)
                    } else {
                        String::new()
                    }
            )
        })
        .collect();
    if !troubled.is_empty() {
        let _ = writeln!(md, "Services: {}.", troubled.join("; "));
    }
    if !c.log_files.is_empty() {
        let links: Vec<String> = c
            .log_files
            .iter()
            .map(|(service, path)| format!("[{service}]({path})"))
            .collect();
        let _ = writeln!(md, "Whole logs: {}.", links.join(", "));
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

/// Cells that did not run, grouped by their reason.
fn not_run(md: &mut String, r: &Report) {
    let mut by_reason: BTreeMap<(&str, &str), Vec<&str>> = BTreeMap::new();
    for c in r.cells.iter().filter(|c| c.status == CellStatus::NotRun) {
        let kind = c.not_run.map(|k| k.label()).unwrap_or("not run");
        let reason = c.reason.as_deref().unwrap_or("");
        // The reason starts with its kind ("not offered: ..."); say it once, in the heading.
        let reason = reason
            .strip_prefix(kind)
            .and_then(|r| r.strip_prefix(": "))
            .unwrap_or(reason);
        by_reason.entry((kind, reason)).or_default().push(&c.id);
    }
    if by_reason.is_empty() {
        return;
    }
    let _ = writeln!(md, "\n## Not run\n");
    for ((kind, reason), ids) in by_reason {
        let list: Vec<String> = ids.iter().map(|id| format!("`{id}`")).collect();
        let _ = writeln!(
            md,
            "- **{kind}** ({} cell(s)): {}. {}",
            ids.len(),
            escape(reason),
            list.join(", ")
        );
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
        insta::assert_snapshot!(render(&super::super::fixtures::report(), None));
    }
}
