//! The CLI on bad input: one clear line naming what is wrong, the right exit code, no panic.
//! Cases live in `fixtures/bad-input/` (see its README).

mod common;

use std::path::Path;
use std::process::Command;

use harness::deployment::bundled;

fn run_case(dir: &Path) -> Result<(), String> {
    let sub = |text: &str| text.replace("{dir}", &dir.display().to_string());
    let args: Vec<String> = std::fs::read_to_string(dir.join("args"))
        .unwrap()
        .lines()
        .map(sub)
        .collect();
    let expected = std::fs::read_to_string(dir.join("expected")).unwrap();
    let mut lines = expected.lines();
    let code: i32 = lines
        .next()
        .and_then(|l| l.strip_prefix("exit "))
        .and_then(|c| c.parse().ok())
        .expect("expected starts with `exit N`");
    let message = sub(lines.next().expect("expected has a message line"));

    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dify-conformance"));
    cmd.args(&args);
    if let Ok(env) = std::fs::read_to_string(dir.join("env")) {
        for line in env.lines().filter(|l| !l.trim().is_empty()) {
            let (k, v) = line.split_once('=').unwrap();
            cmd.env(k, v);
        }
    }
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let mut problems = Vec::new();
    if out.status.code() != Some(code) {
        problems.push(format!("exit {:?}, expected {code}", out.status.code()));
    }
    if stderr.trim_end() != message {
        problems.push(format!("stderr:\n{stderr}\nexpected:\n{message}"));
    }
    if stderr.contains("panicked") || stderr.contains("RUST_BACKTRACE") {
        problems.push("it panicked".into());
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("{}: {}", dir.display(), problems.join("; ")))
    }
}

#[test]
fn every_bad_input_case_gets_its_message_and_exit_code() {
    let root = bundled::root().join("fixtures/bad-input");
    let mut cases: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("args").is_file())
        .collect();
    cases.sort();
    assert!(cases.len() >= 8, "the corpus shrank: {cases:?}");
    let failures: Vec<String> = cases.iter().filter_map(|c| run_case(c).err()).collect();
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
}

/// The binary run from the checkout with `args`.
fn dify_conformance(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_dify-conformance"))
        .args(args)
        .current_dir(bundled::root())
        .output()
        .unwrap()
}

#[test]
fn bad_flags_exit_2_with_usage() {
    let out = dify_conformance(&["run", "--jobs", "0"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--jobs"), "{stderr}");
}

#[test]
fn plan_lists_the_smoke_cells() {
    let out = dify_conformance(&["plan", "--format", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let cell = &plan["cells"][0];
    assert_eq!(cell["id"], "pgvector.opendal");
    assert_eq!(
        cell["profiles"],
        serde_json::json!(["pgvector", "postgresql"])
    );
}

/// `plan` output is user-facing: snapshot it, with the checkout's path masked. It is taken as
/// `plan` runs without an engine (no images checked, every image map entry applied), the one
/// view that is the same on every machine; what an engine changes (cells whose images are
/// missing) is tested against the engine below. Where the values came from depends on the
/// engine too (the api image is read when present, see tests/releases.rs), so that sentence is
/// masked; the values themselves are the same.
fn plan_output(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_dify-conformance"))
        .arg("plan")
        .args(args)
        .current_dir(bundled::root())
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .replace(&bundled::root().display().to_string(), "<repo>")
        .lines()
        .map(|l| match l.find("values from") {
            Some(at) => format!("{}values from <source>", &l[..at]),
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// The statuses a matrix gets on the stand-in: cells of a licence-bound store and of an
/// external one list no profiles; an unknown value is refused unless allowed, then marked and
/// runnable.
#[test]
fn plan_marks_licensed_external_and_unknown_values() {
    let dir = tempfile::tempdir().unwrap();
    let matrix = dir.path().join("m.toml");
    let write = |text: &str| std::fs::write(&matrix, text).unwrap();
    let plan = |extra: &[&str]| {
        let m = matrix.display().to_string();
        let out =
            dify_conformance(&[&["plan", "--format", "json", "--matrix", &m], extra].concat());
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let cells = |json: &str| -> Vec<(String, String, serde_json::Value)> {
        let plan: serde_json::Value = serde_json::from_str(json).unwrap();
        plan["cells"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["id"].as_str().unwrap().to_string(),
                    c["status"].as_str().unwrap().to_string(),
                    c["profiles"].clone(),
                )
            })
            .collect()
    };
    write(
        "[axes]\nvector_store = [\"vastbase\", \"upstash\", \"pgvector\"]\nstorage_type = [\"opendal\"]\n",
    );
    let (code, stdout, stderr) = plan(&[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        cells(&stdout),
        [
            (
                "vastbase.opendal".into(),
                "licensed".into(),
                serde_json::json!([])
            ),
            (
                "upstash.opendal".into(),
                "external".into(),
                serde_json::json!([])
            ),
            (
                "pgvector.opendal".into(),
                "runnable".into(),
                serde_json::json!(["pgvector", "postgresql"])
            ),
        ]
    );
    assert!(stdout.contains("needs a Vastbase licence"), "{stdout}");

    write("[axes]\nvector_store = [\"pgvector\"]\nstorage_type = [\"forked-store\"]\n");
    let (code, _, stderr) = plan(&[]);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("`forked-store` is not a STORAGE_TYPE value"),
        "{stderr}"
    );
    let (code, stdout, stderr) = plan(&["--allow-unknown-values"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(cells(&stdout)[0].1, "unknown_value");
    assert!(
        stdout.contains("STORAGE_TYPE=forked-store not among"),
        "{stdout}"
    );
    write(
        "allow_unknown = true\n[axes]\nvector_store = [\"pgvector\"]\nstorage_type = [\"forked-store\"]\n",
    );
    let m = matrix.display().to_string();
    let out = dify_conformance(&["plan", "--matrix", &m]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("pgvector.forked-store  unknown value  pgvector,postgresql"),
        "{table}"
    );
    assert!(
        table.contains("1 cell(s), 0 runnable, 1 with an unknown value (tried)"),
        "{table}"
    );
    let out = dify_conformance(&["plan", "--matrix", &m, "--format", "github-matrix"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"cell\":\"pgvector.forked-store\""));
}

#[test]
fn plan_snapshots() {
    insta::assert_snapshot!("plan_smoke_table", plan_output(&[]));
    insta::assert_snapshot!(
        "plan_full_table",
        plan_output(&["--matrix", "matrices/full.toml"])
    );
    insta::assert_snapshot!(
        "plan_full_github_matrix",
        plan_output(&[
            "--matrix",
            "matrices/full.toml",
            "--format",
            "github-matrix"
        ])
    );
    insta::assert_snapshot!(
        "plan_explain_smoke_cell",
        plan_output(&["--explain", "pgvector.opendal"])
            .lines()
            .filter(|l| !l.contains("dev.dify-conformance.owner"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn plan_works_without_an_engine_and_says_it_could_not_check_images() {
    let out = Command::new(env!("CARGO_BIN_EXE_dify-conformance"))
        .args(["plan"])
        .current_dir(bundled::root())
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("pgvector.opendal  runnable"), "{stdout}");
    assert!(
        stdout.contains("images: not checked (no Docker engine: "),
        "{stdout}"
    );
}

/// A cell whose image the engine lacks: `plan` lists it as not runnable here, naming the
/// image, and `run` does not run it, for the same reason in the same words.
#[tokio::test(flavor = "multi_thread")]
async fn plan_and_run_agree_on_a_cell_whose_image_is_missing() {
    if common::engine_or_skip("missing-image").await.is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let docker = dir.path().join("docker");
    let copied = Command::new("cp")
        .arg("-a")
        .arg(bundled::deployment())
        .arg(&docker)
        .status()
        .unwrap();
    assert!(copied.success());
    let compose = docker.join("docker-compose.yaml");
    let text = std::fs::read_to_string(&compose).unwrap();
    let absent = "dify-conformance/absent-for-a-test:never";
    assert!(text.contains("image: redis:6-alpine"));
    std::fs::write(
        &compose,
        text.replace("image: redis:6-alpine", &format!("image: {absent}")),
    )
    .unwrap();
    let d = docker.display().to_string();

    let out = dify_conformance(&["plan", "--deployment", &d, "--format", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let cell = &plan["cells"][0];
    assert_eq!(cell["status"], "not_runnable_here", "{cell}");
    let reason = cell["reason"].as_str().unwrap();
    assert_eq!(
        reason,
        format!("no local image for redis ({absent}) (pass --pull to let compose pull)")
    );
    let out = dify_conformance(&["plan", "--deployment", &d, "--explain", "pgvector.opendal"]);
    let explain = String::from_utf8_lossy(&out.stdout);
    assert!(
        explain.contains(&format!("redis                {absent}  [missing here]")),
        "{explain}"
    );
    assert!(
        explain.contains("nginx                dify-conformance/nginx:local (for nginx:latest)"),
        "{explain}"
    );

    let reports = dir.path().join("out");
    let out = dify_conformance(&[
        "run",
        "--deployment",
        &d,
        "--out",
        &reports.display().to_string(),
    ]);
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(reports.join("report.json")).unwrap()).unwrap();
    let ran = &report["cells"][0];
    assert_eq!(
        ran["status"],
        "not_run",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(ran["not_run"], "not_runnable_here");
    assert_eq!(ran["reason"], format!("not runnable here: {reason}"));
}

/// A script compose runs as an entrypoint that lost its exec bit stops `plan` and `run` before
/// anything starts (also `fixtures/bad-input/entrypoint-not-executable`).
#[test]
fn run_refuses_an_entrypoint_without_its_exec_bit_before_anything_starts() {
    let case = bundled::root().join("fixtures/bad-input/entrypoint-not-executable");
    let d = case.join("docker").display().to_string();
    let out_dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_dify-conformance"))
        .args(["run", "--deployment", &d, "--allow-unknown-values", "--out"])
        .arg(out_dir.path().join("out"))
        // No engine is asked: the deployment is refused first.
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("service pgvector runs") && stderr.contains("fix: chmod +x "),
        "{stderr}"
    );
}
