//! The CLI on bad input: one clear line naming what is wrong, the right exit code, no panic.
//! Cases live in `fixtures/bad-input/` (see its README).

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

/// `plan` output is user-facing: snapshot it, with the checkout's path masked. Where the values
/// came from depends on the engine (the stand-in's api image is read when present, see
/// tests/releases.rs), so that one sentence is masked too; the values themselves are the same.
fn plan_output(args: &[&str]) -> String {
    let out = dify_conformance(&[&["plan"], args].concat());
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
