//! `dify-conformance check` against a deployment the harness did not start: a prepared workspace
//! brought up with plain `docker compose up -d`, checked read-only, then with `--allow-writes`,
//! after which nothing the checks made is left (datasets, API keys, stored files).

mod common;

use std::path::Path;
use std::time::Duration;

use harness::deployment::{Deployment, bundled};
use harness::engine::Engine;
use harness::images::ImageMap;
use harness::matrix::{Matrix, select};
use harness::workspace::Workspace;
use serde_json::Value;
use tokio::time::Instant;

const PASSWORD: &str = "Check-admin-2026";
const EMAIL: &str = "operator@dify-conformance.test";

/// A stack brought up by hand, taken down (with its workspace) when dropped.
struct Running {
    ws: Workspace,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = compose(
            &self.ws,
            &["down", "--volumes", "--remove-orphans", "--timeout", "2"],
        );
        let _ = self.ws.remove();
    }
}

fn compose(ws: &Workspace, args: &[&str]) -> std::process::Output {
    let mut cmd = std::process::Command::new("docker");
    cmd.current_dir(&ws.dir)
        .args(["compose", "--project-name", &ws.project]);
    for f in &ws.cli.files {
        cmd.arg("-f").arg(f);
    }
    cmd.args(args).envs(&ws.cli.env);
    cmd.output().expect("docker compose runs")
}

async fn host_port(engine: &Engine, project: &str, service: &str, port: u16) -> u16 {
    let states = engine
        .containers(harness::labels::COMPOSE_PROJECT, project)
        .await
        .unwrap();
    *states
        .iter()
        .find(|s| s.service == service)
        .and_then(|s| s.ports.get(&format!("{port}/tcp")))
        .unwrap_or_else(|| panic!("{service} publishes no {port}"))
}

/// Polls until the console API answers through nginx with X-Version (the stack is up).
async fn wait_for_api(base: &str) {
    let deadline = Instant::now() + Duration::from_secs(300);
    suites::ensure_crypto_provider();
    let http = reqwest::Client::new();
    loop {
        if let Ok(r) = http.get(format!("{base}/console/api/setup")).send().await
            && r.headers().contains_key("x-version")
        {
            return;
        }
        assert!(Instant::now() < deadline, "{base} did not come up");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Waits until a Celery worker answers a ping: a running deployment, as an operator checks it,
/// has its workers consuming (`compose up -d` returns before they do).
async fn wait_for_worker(broker: &suites::BrokerUrl) {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        match suites::clients::celery_control::ping(broker, Duration::from_secs(1)).await {
            Ok(replies) if !replies.is_empty() => return,
            // Nobody answered within the ping's own second: ask again.
            Ok(_) => {}
            // The broker refused: it answers again in a moment.
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
        assert!(
            Instant::now() < deadline,
            "no Celery worker answered a ping"
        );
    }
}

async fn check(args: &[String], password: Option<&str>) -> (i32, Value, String) {
    let out_dir = tempfile::tempdir().unwrap();
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_dify-conformance"));
    cmd.arg("check")
        .args(args)
        .arg("--out")
        .arg(out_dir.path())
        .env_remove(harness::check::PASSWORD_ENV);
    if let Some(p) = password {
        cmd.env(harness::check::PASSWORD_ENV, p);
    }
    let out = cmd.output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let report = std::fs::read_to_string(out_dir.path().join("report.json"))
        .unwrap_or_else(|_| panic!("no report.json; stderr:\n{stderr}"));
    assert!(
        !report.contains(PASSWORD),
        "the password leaked into report.json"
    );
    assert!(!stderr.contains(PASSWORD), "the password leaked to stderr");
    (
        out.status.code().unwrap_or(-1),
        serde_json::from_str(&report).unwrap(),
        stderr,
    )
}

fn statuses(report: &Value) -> Vec<(String, String)> {
    report["cells"][0]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["id"].as_str().unwrap().to_string(),
                o["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn status_of(report: &Value, id: &str) -> String {
    statuses(report)
        .into_iter()
        .find(|(c, _)| c == id)
        .map(|(_, s)| s)
        .unwrap_or_else(|| panic!("no {id}"))
}

/// Logs in with the suites' own client and counts what the checks could have left.
async fn leftovers(base: &str, ws: &Workspace, engine: &Engine) -> Vec<String> {
    let target = suites::Target::new(base).unwrap();
    let (_, session) =
        suites::clients::console::Session::login(&target, EMAIL, &suites::Secret::new(PASSWORD))
            .await
            .unwrap();
    let session = session.expect("the administrator the check set up can log in");
    let mut left = Vec::new();
    for (path, pointer) in [
        ("/console/api/datasets?page=1&limit=100", "/data"),
        ("/console/api/datasets/api-keys", "/items"),
    ] {
        let a = session
            .call(reqwest::Method::GET, path, None)
            .await
            .unwrap();
        let n = a
            .field(pointer)
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        if n > 0 {
            left.push(format!("{path}: {n}"));
        }
    }
    // Stored files: the dataset's deletion removes them through the worker, so wait for it.
    let api = engine
        .containers(harness::labels::COMPOSE_PROJECT, &ws.project)
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.service == "api")
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, out) = engine
            .exec(
                &api.id,
                &[
                    "sh",
                    "-c",
                    "find /app/api/storage/upload_files -type f 2>/dev/null",
                ],
            )
            .await
            .unwrap();
        let files: Vec<&str> = out.lines().filter(|l| !l.trim().is_empty()).collect();
        if files.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            left.push(format!("stored files: {files:?}"));
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    left
}

#[tokio::test(flavor = "multi_thread")]
async fn check_reads_a_running_deployment_and_with_writes_leaves_nothing_behind() {
    let Some(engine) = common::engine_or_skip("check").await else {
        return;
    };
    let deployment = Deployment::open(&bundled::deployment()).unwrap();
    let catalog = harness::catalog::Catalog::load(deployment).await.unwrap();
    let matrix = Matrix::load(&bundled::smoke_matrix()).unwrap();
    let cells = matrix
        .expand(Some(&catalog.sets), &catalog.recipes)
        .unwrap();
    let cell = select(&cells, &["pgvector.opendal".to_string()])
        .unwrap()
        .remove(0);
    let images = ImageMap::load(&bundled::image_map())
        .unwrap()
        .present_on(&engine)
        .await;
    let run_id = format!("check{}", &uuid::Uuid::new_v4().simple().to_string()[..6]);
    let ws = Workspace::prepare(
        &catalog.deployment,
        &cell,
        &run_id,
        &images,
        &catalog.recipes,
    )
    .await
    .unwrap();
    let up = compose(&ws, &["up", "-d"]);
    let running = Running { ws };
    assert!(
        up.status.success(),
        "docker compose up: {}",
        String::from_utf8_lossy(&up.stderr)
    );
    let ws = &running.ws;
    let http = host_port(&engine, &ws.project, "nginx", ws.access.http_port).await;
    let broker_access = ws.access.broker.as_ref().unwrap();
    let redis = host_port(
        &engine,
        &ws.project,
        &broker_access.service,
        broker_access.port,
    )
    .await;
    let broker = broker_access.url_via("127.0.0.1", redis).unwrap();
    let base = format!("http://127.0.0.1:{http}");
    wait_for_api(&base).await;
    wait_for_worker(&broker).await;
    let env_file = ws.dir.join(".env");
    let common_args = |extra: &[&str]| -> Vec<String> {
        let mut args = vec![
            "--base-url".to_string(),
            base.clone(),
            "--env-file".into(),
            env_file.display().to_string(),
            "--broker-url".into(),
            broker.expose().to_string(),
            // Dify's shipped defaults (the CORS reflection of `*`) are accepted there.
            "--policy".into(),
            bundled::root()
                .join("matrices/release-policy.toml")
                .display()
                .to_string(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    };

    // Read-only: nothing that writes runs; what runs passes.
    let (code, report, stderr) = check(&common_args(&[]), None).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(report["cells"][0]["id"], format!("127.0.0.1:{http}"));
    assert_eq!(status_of(&report, "api.version"), "passed", "{stderr}");
    assert_eq!(
        status_of(&report, "api.auth-required"),
        "passed",
        "{stderr}"
    );
    assert_eq!(status_of(&report, "celery.queues"), "passed", "{stderr}");
    for writer in ["api.setup", "api.upload", "api.service-key"] {
        assert_eq!(status_of(&report, writer), "skipped", "{writer}: {stderr}");
    }
    assert!(stderr.contains("--allow-writes"), "{stderr}");
    assert!(
        !Path::new(&ws.dir)
            .join("volumes/app/storage/upload_files")
            .exists()
    );

    // With writes: the whole journey, then everything it made is removed again.
    let args = common_args(&["--allow-writes", "--admin-email", EMAIL]);
    let (code, report, stderr) = check(&args, Some(PASSWORD)).await;
    assert_eq!(code, 0, "{stderr}");
    for id in [
        "api.setup",
        "api.login",
        "api.csrf",
        "api.upload",
        "api.dataset-index",
        "api.hit-test",
        "api.retrieval-setting",
        "api.service-key",
        "celery.round-trip",
    ] {
        assert_eq!(status_of(&report, id), "passed", "{id}: {stderr}");
    }
    assert!(
        report["cells"][0]["teardown_errors"]
            .as_array()
            .is_none_or(Vec::is_empty)
    );
    let left = leftovers(&base, ws, &engine).await;
    assert!(left.is_empty(), "the checks left data behind: {left:?}");
}
