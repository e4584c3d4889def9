//! The report as people and CI read it, from real runs of the stand-in: `fixtures/reports/`
//! holds the report of `fixtures/matrices/full-known-bad.toml` run whole and as shards 1/2
//! and 2/2, and of `matrices/full.toml` (see that directory's README). Rendered through the
//! CLI like a user would, snapshot-tested with timings redacted, validated against the JSON
//! Schema and the JUnit XSD in `docs/`, merged, and gated.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use harness::deployment::bundled;
use harness::report::Report;

fn fixture(name: &str) -> PathBuf {
    bundled::root().join("fixtures/reports").join(name)
}

const UNSPLIT: &str = "full-known-bad.json";
const SHARDS: [&str; 2] = [
    "full-known-bad.shard-1-of-2.json",
    "full-known-bad.shard-2-of-2.json",
];
const FULL: &str = "full.json";

fn dify_conformance(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dify-conformance"))
        .args(args)
        .current_dir(bundled::root())
        .output()
        .unwrap()
}

fn stdout_of(args: &[&str]) -> String {
    let out = dify_conformance(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn render(format: &str) -> String {
    let path = fixture(UNSPLIT);
    stdout_of(&["report", "--in", path.to_str().unwrap(), "--format", format])
}

/// Timings and run ids change from run to run; the rest of a report must not.
fn redactions() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.add_filter(r"\b\d+\.\d+ s\b", "[s]");
    s.add_filter(r"\b\d+ ms\b", "[ms]");
    s.add_filter(r#"time="[0-9.]+""#, r#"time="[t]""#);
    s.add_filter(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ?", "[timestamp]");
    s.add_filter(r"127\.0\.0\.1:\d+", "127.0.0.1:[port]");
    s.add_filter(r"Run `[0-9a-f]{8}`", "Run `[run]`");
    s.add_filter(r"Run <code>[0-9a-f]{8}</code>", "Run <code>[run]</code>");
    s.add_filter(r"dify-conformance-[0-9a-f]{8}-", "dify-conformance-[run]-");
    s
}

#[test]
fn markdown_of_a_full_run_with_known_bad_cells() {
    let md = render("md");
    // The grid comes first, then the failures, then what did not run.
    let grid = md.find("| VECTOR_STORE \\ STORAGE_TYPE |").unwrap();
    let failures = md.find("## Failures").unwrap();
    let not_run = md.find("## Not run").unwrap();
    assert!(grid < failures && failures < not_run);
    assert!(
        md.contains("❌ cors"),
        "pgvector.local fails its cors check"
    );
    assert!(md.contains("💥 error"), "pgvector.s3 does not come up");
    redactions().bind(|| insta::assert_snapshot!("full_known_bad_md", md));
}

#[test]
fn junit_of_a_full_run_with_known_bad_cells() {
    let xml = render("junit");
    redactions().bind(|| insta::assert_snapshot!("full_known_bad_junit", xml));
}

#[test]
fn html_of_a_full_run_with_known_bad_cells() {
    let html = render("html");
    let start = html.find("<body>").unwrap();
    let end = html.find("<script>").unwrap();
    redactions().bind(|| insta::assert_snapshot!("full_known_bad_html", &html[start..end]));
}

#[test]
fn json_round_trips_through_report() {
    let json = render("json");
    let again: Report = serde_json::from_str(&json).unwrap();
    assert_eq!(again, Report::load(&fixture(UNSPLIT)).unwrap());
}

/// `xmllint --schema`, or why it cannot run. Under `CI=true` a missing xmllint fails.
fn xmllint(xsd: &Path, xml: &Path) -> Option<Output> {
    match Command::new("xmllint")
        .args(["--noout", "--schema"])
        .arg(xsd)
        .arg(xml)
        .output()
    {
        Ok(out) => Some(out),
        Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("CI=true and xmllint cannot run ({e}); ci/setup installs libxml2-utils")
        }
        Err(e) => {
            eprintln!("skipped: xmllint cannot run ({e}); install libxml2-utils");
            None
        }
    }
}

#[test]
fn junit_validates_against_the_junit_xsd() {
    let dir = tempfile::tempdir().unwrap();
    let xsd = bundled::root().join("docs/junit.xsd");
    for name in [UNSPLIT, FULL] {
        let xml = dir.path().join(format!("{name}.xml"));
        let p = fixture(name);
        stdout_of(&[
            "report",
            "--in",
            p.to_str().unwrap(),
            "--format",
            "junit",
            "--out",
            xml.to_str().unwrap(),
        ]);
        let Some(out) = xmllint(&xsd, &xml) else {
            return;
        };
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The schema is not a rubber stamp: a testsuite without its test count is refused.
    let bad = dir.path().join("bad.xml");
    std::fs::write(
        &bad,
        "<testsuites><testsuite name=\"a\"><testcase name=\"b\"/></testsuite></testsuites>",
    )
    .unwrap();
    let out = xmllint(&xsd, &bad).unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("'tests' is required"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn schema() -> jsonschema::Validator {
    let text = std::fs::read_to_string(bundled::root().join("docs/report.schema.json")).unwrap();
    jsonschema::validator_for(&serde_json::from_str(&text).unwrap()).unwrap()
}

#[test]
fn reports_validate_against_the_published_schema() {
    let schema = schema();
    for name in [UNSPLIT, SHARDS[0], SHARDS[1], FULL] {
        let value: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(fixture(name)).unwrap()).unwrap();
        let errors: Vec<String> = schema
            .iter_errors(&value)
            .map(|e| format!("{}: {e}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{name}:\n{}", errors.join("\n"));
    }
    // A merged report too.
    let merged: serde_json::Value = serde_json::from_str(&merge_shards()).unwrap();
    assert!(schema.is_valid(&merged));
}

#[test]
fn the_schema_refuses_what_the_report_does_not_say() {
    let schema = schema();
    let good: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture(UNSPLIT)).unwrap()).unwrap();
    let mut bad = good.clone();
    bad["cells"][0]["status"] = "maybe".into();
    assert!(!schema.is_valid(&bad));
    let mut bad = good.clone();
    bad["schema"] = "dify-conformance/report/v1".into();
    assert!(!schema.is_valid(&bad));
    let mut bad = good;
    let not_run = bad["cells"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|c| c["status"] == "not_run")
        .unwrap();
    not_run.as_object_mut().unwrap().remove("not_run");
    assert!(!schema.is_valid(&bad), "a not-run cell must say why");
}

fn merge_shards() -> String {
    let a = fixture(SHARDS[0]);
    let b = fixture(SHARDS[1]);
    stdout_of(&[
        "report",
        "--in",
        b.to_str().unwrap(),
        a.to_str().unwrap(),
        "--format",
        "json",
    ])
}

/// What may differ between two runs of the same cells: timings, ports, run ids and times.
fn comparable(mut r: Report) -> serde_json::Value {
    r.run.id.clear();
    r.run.started_at.clear();
    r.run.finished_at.clear();
    r.run.duration_ms = 0;
    r.run.merged_from.clear();
    for c in &mut r.cells {
        c.duration_ms = 0;
        c.timings = Default::default();
        for o in &mut c.checks {
            o.duration_ms = 0;
        }
    }
    let text = serde_json::to_string_pretty(&r).unwrap();
    let ports = regex_lite_replace(&text);
    serde_json::from_str(&ports).unwrap()
}

/// Host ports are ephemeral; so are compose project names (they carry the run id) and the
/// container log lines (timestamps, pids): compare the structure, not those.
fn regex_lite_replace(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("127.0.0.1:") {
        out.push_str(&rest[..i + 10]);
        rest = &rest[i + 10..];
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        out.push_str("PORT");
        rest = &rest[digits..];
    }
    out.push_str(rest);
    out
}

#[test]
fn shards_merged_are_the_unsplit_run() {
    let merged: Report = serde_json::from_str(&merge_shards()).unwrap();
    assert_eq!(merged.run.shard, None, "both halves make the whole");
    assert_eq!(merged.run.merged_from.len(), 2);
    let unsplit = Report::load(&fixture(UNSPLIT)).unwrap();
    let strip_logs = |r: Report| {
        let mut r = r;
        for c in &mut r.cells {
            c.logs = c.logs.keys().map(|k| (k.clone(), Vec::new())).collect();
        }
        comparable(r)
    };
    let (m, u) = (strip_logs(merged), strip_logs(unsplit));
    if m != u {
        // Say which cell differs rather than dumping two 100-cell documents.
        for (a, b) in m["cells"]
            .as_array()
            .unwrap()
            .iter()
            .zip(u["cells"].as_array().unwrap())
        {
            assert_eq!(a, b, "cell {} differs", a["id"]);
        }
        assert_eq!(m, u);
    }
}

#[test]
fn reports_of_different_matrices_do_not_merge() {
    let dir = tempfile::tempdir().unwrap();
    let full = fixture(FULL);
    let bad = fixture(SHARDS[0]);
    let out = dify_conformance(&[
        "report",
        "--in",
        full.to_str().unwrap(),
        bad.to_str().unwrap(),
        "--format",
        "md",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("dify-conformance: cannot merge ")
            && stderr.contains("different matrices"),
        "{stderr}"
    );
    // An older schema is named as such.
    let mut old: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&full).unwrap()).unwrap();
    old["schema"] = "dify-conformance/report/v1".into();
    let old_path = dir.path().join("old.json");
    std::fs::write(&old_path, old.to_string()).unwrap();
    let out = dify_conformance(&[
        "report",
        "--in",
        full.to_str().unwrap(),
        old_path.to_str().unwrap(),
        "--format",
        "md",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim_end(),
        format!(
            "dify-conformance: {}: report schema `dify-conformance/report/v1` is not the one this tool reads (`dify-conformance/report/v2`)",
            old_path.display()
        )
    );
}

#[test]
fn gate_passes_the_full_run_and_fails_the_known_bad_one_under_the_release_policy() {
    let policy = bundled::root().join("matrices/release-policy.toml");
    let policy = policy.to_str().unwrap();
    let full = fixture(FULL);
    let out = dify_conformance(&[
        "gate",
        "--report",
        full.to_str().unwrap(),
        "--policy",
        policy,
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.starts_with("gate PASSED under "), "{text}");

    let bad = fixture(UNSPLIT);
    let out = dify_conformance(&[
        "gate",
        "--report",
        bad.to_str().unwrap(),
        "--policy",
        policy,
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("pgvector.local cors.console-preflight"),
        "{text}"
    );
    assert!(
        text.contains("pgvector.s3: the stack did not come up"),
        "{text}"
    );

    // Against the full run as its baseline, the two known-bad cells are the new failures.
    let out = dify_conformance(&[
        "gate",
        "--report",
        bad.to_str().unwrap(),
        "--policy",
        policy,
        "--baseline",
        full.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("  new: pgvector.local cors.console-preflight"),
        "{text}"
    );
    assert!(text.contains("  new: pgvector.s3 stack"), "{text}");
}
