//! No secret leaves the harness. Known values are planted in the cells' `.env` (and in a
//! service's environment) through a matrix; none of them may appear in any file under `--out`
//! or on the stdout and stderr of `run`, `plan --explain` and `plan --format json`. Each test
//! also shows that the planted values did reach the places they would leak from (the keys are
//! listed, masked), so it fails if redaction stops working, not only if a value is printed.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use harness::deployment::bundled;

/// Planted values: unique strings found nowhere else. Chosen so the stand-in still runs:
/// the database, vector store and Redis take their passwords from the same `.env`.
const PLANTED: &[(&str, &str)] = &[
    ("DB_PASSWORD", "plantDbPw7Q2x9K"),
    ("PGVECTOR_PASSWORD", "plantPgvPw4R8t"),
    ("PGVECTOR_POSTGRES_PASSWORD", "plantPgvPw4R8t"),
    ("REDIS_PASSWORD", "plantRedisPw5M3n"),
    ("SECRET_KEY", "plantSecretKey8V1c"),
    ("PLUGIN_DAEMON_KEY", "plantDaemonKey2W6z"),
];
/// Planted inside URLs: a broker URL with the Redis password, a DSN with a password, and a
/// Sentry-style DSN whose secret is the user part.
const BROKER_URL: &str = "redis://:plantRedisPw5M3n@redis:6379/1";
const DSN_KEY: &str = "EXTERNAL_DATABASE_DSN";
const DSN: &str = "postgresql://dify:plantUrlPw3J7h@db.invalid:5432/dify";
const SENTRY_DSN: &str = "https://plantSentryKey9T4d@sentry.invalid/1";

fn planted_values() -> Vec<&'static str> {
    let mut v: Vec<&str> = PLANTED.iter().map(|(_, v)| *v).collect();
    v.extend(["plantUrlPw3J7h", "plantSentryKey9T4d"]);
    v
}

/// Two cells: `pgvector.opendal` fails only Dify's default findings; `pgvector.local` also fails
/// the queue checks, because its worker consumes
/// only `mail` and a queue named after SECRET_KEY's value, so that value really turns up in a
/// log line (the worker names its queues) and in check evidence (the queues it consumes).
fn matrix() -> String {
    let mut env: String = PLANTED
        .iter()
        .map(|(k, v)| format!("{k} = \"{v}\"\n"))
        .collect();
    env.push_str(&format!(
        "CELERY_BROKER_URL = \"{BROKER_URL}\"\n{DSN_KEY} = \"{DSN}\"\nSENTRY_DSN = \"{SENTRY_DSN}\"\n"
    ));
    format!(
        "description = \"Planted secrets (harness/tests/secrets.rs).\"\n\
         [axes]\nvector_store = [\"pgvector\"]\nstorage_type = [\"opendal\", \"local\"]\n\
         [cell]\ntimeout_secs = 600\n[cell.env]\n{env}\
         [[cells]]\nstorage_type = \"local\"\n[cells.service_env.worker]\n\
         CELERY_WORKER_QUEUES = \"mail,plantSecretKey8V1c\"\n"
    )
}

fn dify_conformance(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dify-conformance"))
        .args(args)
        .current_dir(bundled::root())
        .env("CI", "true")
        .output()
        .unwrap()
}

/// Where a planted value shows up in `text`, one line per finding.
fn leaks(what: &str, text: &[u8], values: &[&str]) -> Vec<String> {
    let text = String::from_utf8_lossy(text);
    let mut found = Vec::new();
    for v in values {
        if let Some(line) = text.lines().find(|l| l.contains(v)) {
            found.push(format!("{what}: `{v}` in: {}", line.trim()));
        }
    }
    found
}

/// The harness's own generated admin password has the shape `Dc<16 hex>9`.
fn generated_password_in(text: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(text);
    let bytes = text.as_bytes();
    if bytes.len() < 19 {
        return None;
    }
    (0..=bytes.len() - 19).find_map(|i| {
        let w = &bytes[i..i + 19];
        let hex = w[2..18]
            .iter()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b));
        let bounded = i == 0 || !bytes[i - 1].is_ascii_alphanumeric();
        (bounded && w.starts_with(b"Dc") && hex && w[18] == b'9')
            .then(|| String::from_utf8_lossy(w).into_owned())
    })
}

fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn plan_shows_the_keys_but_never_the_planted_values() {
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("planted.toml");
    std::fs::write(&m, matrix()).unwrap();
    let m = m.display().to_string();
    let mut problems = Vec::new();
    for cell in ["pgvector.opendal", "pgvector.local"] {
        let out = dify_conformance(&["plan", "--matrix", &m, "--explain", cell]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        for (key, _) in PLANTED {
            assert!(
                stdout.contains(&format!("  {key}: ")) && stdout.contains("-> \"***\""),
                "the .env diff should list {key}, masked:\n{stdout}"
            );
        }
        assert!(stdout.contains("redis://:***@redis:6379/1"), "{stdout}");
        problems.extend(leaks("explain stdout", &out.stdout, &planted_values()));
        problems.extend(leaks("explain stderr", &out.stderr, &planted_values()));
    }
    let out = dify_conformance(&["plan", "--matrix", &m, "--format", "json"]);
    assert!(out.status.success());
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["cells"][0]["env"]["DB_PASSWORD"], "***");
    assert_eq!(
        plan["cells"][0]["env"][DSN_KEY],
        "postgresql://dify:***@db.invalid:5432/dify"
    );
    assert_eq!(
        plan["cells"][0]["env"]["SENTRY_DSN"],
        "https://***@sentry.invalid/1"
    );
    problems.extend(leaks("plan json", &out.stdout, &planted_values()));
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_with_planted_secrets_prints_and_writes_none_of_them() {
    let Some(_engine) = common::engine_or_skip("secrets").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("planted.toml");
    std::fs::write(&m, matrix()).unwrap();
    let out_dir = dir.path().join("out");
    let out = dify_conformance(&[
        "run",
        "--matrix",
        &m.display().to_string(),
        "--out",
        &out_dir.display().to_string(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Without a policy, Dify's default findings fail both cells: exit 1.
    assert_eq!(out.status.code(), Some(1), "{stderr}");

    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("report.json")).unwrap()).unwrap();
    let cells = report["cells"].as_array().unwrap();
    let failed = |id: &str| -> Vec<String> {
        let cell = cells.iter().find(|c| c["id"] == id).expect(id);
        assert_eq!(cell["status"], "failed", "{id}: {stderr}");
        cell["checks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["status"] == "failed")
            .map(|c| c["id"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    // The planted values run like Dify's defaults: only Dify's default findings fail (no policy
    // accepts them here)...
    let defaults = [
        "cors.reflection",
        "ssl.hsts",
        "ssl.http-redirect",
        "ssl.cookie-secure",
    ];
    let opendal = failed("pgvector.opendal");
    assert!(
        opendal.iter().all(|c| defaults.contains(&c.as_str())),
        "{opendal:?}\n{stderr}"
    );
    // ...and the cell whose worker misses the dataset queues fails on them.
    let local = failed("pgvector.local");
    assert!(
        local
            .iter()
            .any(|c| c == "api.dataset-index" || c == "celery.queues"),
        "{local:?}"
    );
    for cell in cells {
        assert_eq!(cell["env"]["DB_PASSWORD"], "***", "{cell}");
        assert_eq!(
            cell["env"]["CELERY_BROKER_URL"],
            "redis://:***@redis:6379/1"
        );
    }
    // The failing cell's worker named the planted queue: in its logs and in check evidence,
    // masked.
    let text = std::fs::read_to_string(out_dir.join("report.json")).unwrap();
    assert!(
        text.contains("mail,***"),
        "the planted queue name should appear masked in the failing cell's logs or evidence"
    );

    let mut problems = Vec::new();
    problems.extend(leaks("run stdout", &out.stdout, &planted_values()));
    problems.extend(leaks("run stderr", &out.stderr, &planted_values()));
    let files = files_under(&out_dir);
    assert!(files.len() >= 4, "{files:?}");
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        problems.extend(leaks(
            &file.display().to_string(),
            &bytes,
            &planted_values(),
        ));
        if let Some(pw) = generated_password_in(&bytes) {
            problems.push(format!(
                "{}: the generated admin password {pw}",
                file.display()
            ));
        }
    }
    for (what, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        if let Some(pw) = generated_password_in(bytes) {
            problems.push(format!("run {what}: the generated admin password {pw}"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// `check` against a broker whose URL carries a password: a fake Redis that refuses every
/// command, so the celery checks fail with evidence; the password is in no output.
#[test]
fn check_never_shows_the_broker_password() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { break };
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = s.read(&mut buf) {
                    if n == 0
                        || s.write_all(b"-WRONGPASS invalid username-password pair\r\n")
                            .is_err()
                    {
                        break;
                    }
                }
            });
        }
    });
    let password = "plantBrokerPw6Y2k";
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    let broker = format!("redis://:{password}@127.0.0.1:{port}/1");
    let out = dify_conformance(&[
        "check",
        "--suite",
        "celery",
        "--broker-url",
        &broker,
        "--out",
        &out_dir.display().to_string(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let report = std::fs::read_to_string(out_dir.join("report.json")).unwrap();
    assert!(
        report.contains(&format!("redis://:***@127.0.0.1:{port}/1")),
        "the report names the broker, masked:\n{report}"
    );
    let mut problems = leaks("check stdout", &out.stdout, &[password]);
    problems.extend(leaks("check stderr", &out.stderr, &[password]));
    for file in files_under(&out_dir) {
        problems.extend(leaks(
            &file.display().to_string(),
            &std::fs::read(&file).unwrap(),
            &[password],
        ));
    }
    // Unreachable: the error line names the broker, masked.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port();
    drop(closed);
    let out = dify_conformance(&[
        "check",
        "--suite",
        "celery",
        "--broker-url",
        &format!("redis://:{password}@127.0.0.1:{closed_port}/1"),
        "--out",
        &out_dir.display().to_string(),
    ]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("redis://:***@127.0.0.1"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    problems.extend(leaks("unreachable stderr", &out.stderr, &[password]));
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
