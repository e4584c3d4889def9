//! `ci/github/conformance.yml`, the workflow Dify's maintainers can drop in: its jobs, their
//! `needs`, the matrix wiring from `plan --format github-matrix` to one job per cell, the merge
//! job's summary, uploads and gate; and every `dify-conformance` command line in it parses
//! with this CLI (so a renamed flag breaks this test, not their CI).

use clap::Parser;
use harness::cli::Cli;
use harness::deployment::bundled;
use serde_norway::Value;

fn workflow() -> Value {
    let text = std::fs::read_to_string(bundled::root().join("ci/github/conformance.yml")).unwrap();
    serde_norway::from_str(&text).unwrap()
}

fn steps(job: &Value) -> Vec<&Value> {
    job["steps"].as_sequence().unwrap().iter().collect()
}

fn runs(job: &Value) -> String {
    steps(job)
        .iter()
        .filter_map(|s| s["run"].as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

fn needs(job: &Value) -> Vec<String> {
    match &job["needs"] {
        Value::String(s) => vec![s.clone()],
        Value::Sequence(v) => v.iter().map(|n| n.as_str().unwrap().to_string()).collect(),
        _ => vec![],
    }
}

#[test]
fn jobs_plan_then_one_per_cell_then_merge() {
    let w = workflow();
    let jobs = w["jobs"].as_mapping().unwrap();
    let names: Vec<&str> = jobs.keys().map(|k| k.as_str().unwrap()).collect();
    assert_eq!(names, ["plan", "cell", "merge"]);

    let plan = &w["jobs"]["plan"];
    assert!(needs(plan).is_empty());
    // The plan job's output comes from a step that exists and writes it.
    let output = plan["outputs"]["cells"].as_str().unwrap();
    assert_eq!(output, "${{ steps.plan.outputs.cells }}");
    let step = steps(plan)
        .into_iter()
        .find(|s| s["id"].as_str() == Some("plan"))
        .expect("a step with id `plan`");
    let run = step["run"].as_str().unwrap();
    assert!(
        run.contains("--format github-matrix")
            && run.contains("echo \"cells=$(")
            && run.contains(">> \"$GITHUB_OUTPUT\""),
        "{run}"
    );

    let cell = &w["jobs"]["cell"];
    assert_eq!(needs(cell), ["plan"]);
    assert_eq!(
        cell["strategy"]["matrix"].as_str(),
        Some("${{ fromJSON(needs.plan.outputs.cells) }}")
    );
    assert_eq!(cell["strategy"]["fail-fast"].as_bool(), Some(false));
    let run = runs(cell);
    assert!(run.contains("--cell \"${{ matrix.cell }}\""), "{run}");
    // Each cell's report travels to the merge job under a name the merge downloads.
    let upload = steps(cell)
        .into_iter()
        .find(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("actions/upload-artifact"))
        })
        .unwrap();
    assert_eq!(
        upload["if"].as_str(),
        Some("${{ always() }}"),
        "failed cells are reported too"
    );
    assert!(
        upload["with"]["name"]
            .as_str()
            .unwrap()
            .starts_with("report-")
    );

    let merge = &w["jobs"]["merge"];
    assert_eq!(needs(merge), ["plan", "cell"]);
    assert!(
        merge["if"].as_str().unwrap().contains("always()"),
        "the merge runs when cells failed"
    );
    let download = steps(merge)
        .into_iter()
        .find(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("actions/download-artifact"))
        })
        .unwrap();
    assert_eq!(download["with"]["pattern"].as_str(), Some("report-*"));
    let run = runs(merge);
    assert!(
        run.contains("--format md >> \"$GITHUB_STEP_SUMMARY\""),
        "{run}"
    );
    assert!(run.contains("gate --report merged/report.json"), "{run}");
    let uploaded = steps(merge)
        .into_iter()
        .find(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("actions/upload-artifact"))
        })
        .unwrap()["with"]["path"]
        .as_str()
        .unwrap()
        .to_string();
    for file in ["merged/report.html", "merged/junit.xml"] {
        assert!(uploaded.contains(file), "{uploaded}");
    }
    // The gate is the last word: it runs after the uploads.
    let last = steps(merge).last().unwrap()["run"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(last.contains(" gate "), "{last}");
}

/// Every `dify-conformance ...` invocation, joined across `\` continuations, with shell and
/// workflow expressions replaced by plausible values.
fn invocations() -> Vec<Vec<String>> {
    let w = workflow();
    let mut all = Vec::new();
    for (_, job) in w["jobs"].as_mapping().unwrap() {
        let text = runs(job).replace("\\\n", " ");
        for line in text.lines() {
            let Some(at) = line.find("dify-conformance ") else {
                continue;
            };
            let rest = &line[at + "dify-conformance ".len()..];
            // Up to a pipe, a redirection or a list operator.
            let end = rest
                .find([')', '|', '>'])
                .unwrap_or(rest.len())
                .min(rest.find("||").unwrap_or(rest.len()));
            let words: Vec<String> = rest[..end]
                .replace("${{ matrix.cell }}", "pgvector.opendal")
                .replace("$GITHUB_WORKSPACE", "/w")
                .replace("$MATRIX", "matrices/release.toml")
                .replace("$POLICY", "matrices/release-policy.toml")
                .replace("$ids", "--cell=weaviate.s3")
                .split_whitespace()
                .map(|w| w.trim_matches('"').to_string())
                .collect();
            all.push(words);
        }
    }
    all
}

#[test]
fn every_command_line_in_the_workflow_parses() {
    let lines = invocations();
    let subcommands: Vec<&str> = lines.iter().map(|l| l[0].as_str()).collect();
    for expected in ["plan", "run", "report", "gate"] {
        assert!(subcommands.contains(&expected), "{subcommands:?}");
    }
    for words in lines {
        let argv = std::iter::once("dify-conformance".to_string()).chain(words.clone());
        if let Err(e) = Cli::try_parse_from(argv) {
            panic!(
                "`dify-conformance {}` does not parse:\n{e}",
                words.join(" ")
            );
        }
    }
}
