//! The report as people and CI read it, from real runs of the stand-in: `fixtures/reports/`
//! holds the report of `fixtures/matrices/full-known-bad.toml` run whole and as shards 1/2
//! and 2/2 (see that directory's README). Rendered through the CLI like a user would,
//! snapshot-tested with timings redacted, validated against the JSON Schema and the JUnit XSD
//! in `docs/`, merged, and gated.

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
fn a_policy_shows_which_failures_it_accepts() {
    let path = fixture(UNSPLIT);
    let policy = bundled::root().join("matrices/release-policy.toml");
    let with_policy = |format: &str| {
        stdout_of(&[
            "report",
            "--in",
            path.to_str().unwrap(),
            "--format",
            format,
            "--policy",
            policy.to_str().unwrap(),
        ])
    };
    let md = with_policy("md");
    // Dify's defaults (CORS reflection, no HSTS, ...) are accepted; the known-bad cells are not.
    let row = |vs: &str| {
        md.lines()
            .find(|l| l.starts_with(&format!("| **{vs}** |")))
            .unwrap()
            .to_string()
    };
    assert!(row("milvus").contains("☑️"), "{}", row("milvus"));
    assert!(!row("milvus").contains("❌"), "{}", row("milvus"));
    assert!(row("pgvector").contains("❌ cors"), "{}", row("pgvector"));
    assert!(row("pgvector").contains("💥 error"), "{}", row("pgvector"));
    assert!(md.contains("accepted or tolerated by `release-policy.toml`"));
    assert!(md.contains("(major) failed, accepted by `release-policy.toml`,"));
    let html = with_policy("html");
    assert!(html.contains("class=\"sq failed accepted\" data-cell=\"milvus.local\""));
    assert!(html.contains("class=\"sq failed\" data-cell=\"pgvector.local\""));
    // Without a policy the report is the run's facts only.
    assert!(!render("md").contains("☑️"));
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
    for name in [UNSPLIT, SHARDS[0]] {
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
    for name in [UNSPLIT, SHARDS[0], SHARDS[1]] {
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

/// Host ports are ephemeral, and so are Celery worker names (`celery@<container id>`).
fn regex_lite_replace(text: &str) -> String {
    let mask = |text: &str, marker: &str, keep: fn(char) -> bool, with: &str| {
        let mut out = String::new();
        let mut rest = text;
        while let Some(i) = rest.find(marker) {
            out.push_str(&rest[..i + marker.len()]);
            rest = &rest[i + marker.len()..];
            let n = rest.chars().take_while(|c| keep(*c)).count();
            out.push_str(with);
            rest = &rest[n..];
        }
        out.push_str(rest);
        out
    };
    let text = mask(text, "127.0.0.1:", |c| c.is_ascii_digit(), "PORT");
    mask(&text, "celery@", |c| c.is_ascii_hexdigit(), "WORKER")
}

#[test]
fn shards_merged_are_the_unsplit_run() {
    let merged: Report = serde_json::from_str(&merge_shards()).unwrap();
    assert_eq!(merged.run.shard, None, "both halves make the whole");
    assert_eq!(merged.run.merged_from.len(), 2);
    let unsplit = Report::load(&fixture(UNSPLIT)).unwrap();
    assert_eq!(merged.matrix, unsplit.matrix);
    assert_eq!(merged.deployment, unsplit.deployment);
    assert_eq!(merged.dify_version, unsplit.dify_version);
    let ids = |r: &Report| r.cells.iter().map(|c| c.id.clone()).collect::<Vec<_>>();
    assert_eq!(
        ids(&merged),
        ids(&unsplit),
        "the same cells in the same order"
    );

    let (m, u) = (comparable(merged.clone()), comparable(unsplit.clone()));
    for (i, (a, b)) in merged.cells.iter().zip(&unsplit.cells).enumerate() {
        let (ca, cb) = (verdicts(&m["cells"][i]), verdicts(&u["cells"][i]));
        assert_eq!(a.status, b.status, "cell {} has another status", a.id);
        assert_eq!(ca, cb, "cell {} differs", a.id);
    }
}

/// A cell as two runs of it must agree: its axes, overrides, status, why it did not run or
/// come up, the images its services ran, and each check's id, severity and status. Left out:
/// what each run made for itself (the ids of the files, datasets and keys it created, the times
/// it saw, the order a browser fetched in: evidence, `got` and facts), logs, and compose's own
/// teardown races ("network has active endpoints", swept afterwards and said so).
fn verdicts(c: &serde_json::Value) -> serde_json::Value {
    let services: serde_json::Map<String, serde_json::Value> = c["services"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, s)| (name.clone(), serde_json::json!([s["image"], s["replaces"]])))
        .collect();
    let checks: Vec<serde_json::Value> = c["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|o| serde_json::json!([o["id"], o["suite"], o["severity"], o["status"]]))
        .collect();
    serde_json::json!({
        "id": c["id"],
        "axes": [c["vector_store"], c["storage_type"]],
        "required": c["required"],
        "env": c["env"],
        "status": c["status"],
        "not_run": c["not_run"],
        // A stack that does not come up: which crash-looping service (api, worker or beat)
        // is seen first races; that the stack did not come up does not.
        "reason": if c["status"] == "error" { serde_json::Value::Null } else { c["reason"].clone() },
        "dify_version": c["dify_version"],
        "services": services,
        "checks": checks,
    })
}

/// A shard's report copied with one field changed, as another run would have written it.
fn altered(dir: &Path, name: &str, change: impl FnOnce(&mut serde_json::Value)) -> PathBuf {
    altered_from(SHARDS[1], dir, name, change)
}

fn altered_from(
    source: &str,
    dir: &Path,
    name: &str,
    change: impl FnOnce(&mut serde_json::Value),
) -> PathBuf {
    let mut value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture(source)).unwrap()).unwrap();
    change(&mut value);
    let path = dir.join(name);
    std::fs::write(&path, value.to_string()).unwrap();
    path
}

#[test]
fn reports_that_do_not_belong_together_do_not_merge() {
    let dir = tempfile::tempdir().unwrap();
    let first = fixture(SHARDS[0]);
    let merge = |other: &Path| {
        let out = dify_conformance(&[
            "report",
            "--in",
            first.to_str().unwrap(),
            other.to_str().unwrap(),
            "--format",
            "md",
        ]);
        assert_eq!(out.status.code(), Some(2));
        String::from_utf8_lossy(&out.stderr).trim_end().to_string()
    };
    let other = altered(dir.path(), "matrix.json", |v| {
        v["matrix"]["path"] = "matrices/full.toml".into();
    });
    assert_eq!(
        merge(&other),
        format!(
            "dify-conformance: cannot merge {} into {}: different matrices (`matrices/full.toml` vs `fixtures/matrices/full-known-bad.toml`)",
            other.display(),
            first.display()
        )
    );
    let other = altered(dir.path(), "deployment.json", |v| {
        v["deployment"] = "/srv/dify/docker".into();
    });
    assert!(
        merge(&other)
            .contains("different deployments (`/srv/dify/docker` vs `fixtures/standin/docker`)")
    );
    let old = altered(dir.path(), "old.json", |v| {
        v["schema"] = "dify-conformance/report/v1".into();
    });
    assert_eq!(
        merge(&old),
        format!(
            "dify-conformance: {}: report schema `dify-conformance/report/v1` is not the one this tool reads (`dify-conformance/report/v2`)",
            old.display()
        )
    );
    // The same shard twice would count its cells twice.
    assert!(merge(&first).contains("is in both"), "{}", merge(&first));
}

#[test]
fn gate_decides_by_the_policy_with_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let report = fixture(UNSPLIT);
    let report = report.to_str().unwrap();
    let release = bundled::root().join("matrices/release-policy.toml");
    let out = dify_conformance(&[
        "gate",
        "--report",
        report,
        "--policy",
        release.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.starts_with("gate FAILED under "), "{text}");
    assert!(
        text.contains("  pgvector.local cors.console-preflight: failed (major)"),
        "{text}"
    );
    assert!(
        text.contains("  pgvector.s3: the stack did not come up"),
        "{text}"
    );
    assert!(
        text.contains("not run, not counted: 84 not offered, 3 not runnable here"),
        "{text}"
    );

    // A policy that requires only the milvus cells and fails only on critical findings passes
    // the same report (their failures are Dify's defaults: major and below).
    let milvus = dir.path().join("milvus.toml");
    std::fs::write(
        &milvus,
        "[cells]\nrequired = [\"milvus.*\"]\n[checks]\nfail_on = [\"critical\"]\n[not_run]\nnot_runnable_here = \"ignore\"\n",
    )
    .unwrap();
    let out = dify_conformance(&[
        "gate",
        "--report",
        report,
        "--policy",
        milvus.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.starts_with("gate PASSED under "), "{text}");

    // Against a baseline where pgvector.local passed and milvus.local's api.version failed:
    // the cors failure is new, the api.version one fixed.
    let baseline = altered_from(UNSPLIT, dir.path(), "baseline.json", |v| {
        for (id, check, status) in [
            ("pgvector.local", "cors.console-preflight", "passed"),
            ("milvus.local", "api.version", "failed"),
        ] {
            for c in v["cells"].as_array_mut().unwrap() {
                if c["id"] != id {
                    continue;
                }
                for o in c["checks"].as_array_mut().unwrap() {
                    if o["id"] == check {
                        o["status"] = status.into();
                    }
                }
            }
        }
    });
    let out = dify_conformance(&[
        "gate",
        "--report",
        report,
        "--policy",
        release.to_str().unwrap(),
        "--baseline",
        baseline.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("  new: pgvector.local cors.console-preflight"),
        "{text}"
    );
    assert!(text.contains("  fixed: milvus.local api.version"), "{text}");
}
