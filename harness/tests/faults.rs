//! Faults a user meets, each through the real binary on a real engine, and each ending with
//! nothing of its run left: no labelled container, network or volume, no workspace directory.
//! The phase a fault is injected in is read from the run's progress lines on stderr.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Instant;

use harness::labels;
use harness::workspace;

const BIN: &str = env!("CARGO_BIN_EXE_dify-conformance");

/// A `dify-conformance` process whose stderr lines arrive on a channel as they are written.
struct Run {
    child: Child,
    lines: mpsc::Receiver<(Instant, String)>,
    seen: Vec<String>,
    id: String,
}

impl Run {
    fn start(args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .env("CI", "true") // plain progress lines
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("  | {line}");
                if tx.send((Instant::now(), line)).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            lines,
            seen: Vec::new(),
            id: String::new(),
        }
    }

    /// Reads stderr until a line contains `needle`; panics if the process ends first.
    fn wait_for(&mut self, needle: &str) -> (Instant, String) {
        loop {
            let Ok((at, line)) = self.lines.recv() else {
                let status = self.child.wait();
                panic!(
                    "the run ended ({status:?}) before printing `{needle}`:\n{}",
                    self.seen.join("\n")
                );
            };
            if let Some(rest) = line.strip_prefix("run ")
                && let Some((id, _)) = rest.split_once(':')
            {
                self.id = id.to_string();
            }
            self.seen.push(line.clone());
            if line.contains(needle) {
                return (at, line);
            }
        }
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig} failed");
    }

    /// Waits for the exit; its code and all of stderr.
    fn finish(mut self) -> (Option<i32>, String) {
        let status = self.child.wait().unwrap();
        self.seen.extend(self.lines.iter().map(|(_, l)| l));
        (status.code(), self.seen.join("\n"))
    }
}

/// What the engine still holds of a run: containers, networks, volumes (by label).
fn objects_of(run_id: &str) -> Vec<String> {
    let filter = format!("label={}={run_id}", labels::RUN);
    let mut found = Vec::new();
    for (what, args) in [
        ("container", vec!["ps", "-a", "-q", "--filter", &filter]),
        ("network", vec!["network", "ls", "-q", "--filter", &filter]),
        ("volume", vec!["volume", "ls", "-q", "--filter", &filter]),
    ] {
        let out = Command::new("docker").args(&args).output().unwrap();
        assert!(out.status.success(), "docker {args:?} failed");
        found.extend(
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(|l| format!("{what} {l}")),
        );
    }
    found
}

/// The end every fault test asserts: nothing of the run on the engine or on disk.
fn assert_nothing_left(run_id: &str) {
    assert!(!run_id.is_empty(), "the run never printed its id");
    let left = objects_of(run_id);
    assert!(left.is_empty(), "run {run_id} left {left:?}");
    let dirs = workspace::run_workspaces(run_id);
    assert!(dirs.is_empty(), "run {run_id} left workspaces {dirs:?}");
}

/// A matrix file in `dir` with `body` after the pgvector x opendal axes.
fn matrix(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!(
            "description = \"fault test: {name}\"\n[axes]\nvector_store = [\"pgvector\"]\nstorage_type = [\"opendal\"]\n{body}"
        ),
    )
    .unwrap();
    path
}

/// A copy of the stand-in deployment with `edit` applied to its compose file.
fn deployment_with(dir: &Path, edit: impl Fn(String) -> String) -> PathBuf {
    let from = harness::deployment::bundled::deployment();
    let to = dir.join("docker");
    copy_dir(&from, &to);
    let compose = to.join("docker-compose.yaml");
    let text = std::fs::read_to_string(&compose).unwrap();
    let edited = edit(text.clone());
    assert_ne!(text, edited, "the edit changed nothing");
    std::fs::write(&compose, edited).unwrap();
    to
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

fn report(out: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(out.join("report.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// A signal in a phase: the run tears down, exits 128+signal, writes no report.
fn interrupt_in(phase: &str, sig: &str, code: i32) {
    let out = tempfile::tempdir().unwrap();
    let mut run = Run::start(&["run", "--out", out.path().to_str().unwrap()], &[]);
    run.wait_for(&format!("] {phase}"));
    run.signal(sig);
    let id = run.id.clone();
    let (status, stderr) = run.finish();
    assert_eq!(status, Some(code), "{stderr}");
    assert!(stderr.contains("interrupted by SIG"), "{stderr}");
    assert!(!out.path().join("report.json").exists(), "a half report");
    let leftovers: Vec<_> = std::fs::read_dir(out.path()).unwrap().flatten().collect();
    assert!(leftovers.is_empty(), "--out holds {leftovers:?}");
    assert_nothing_left(&id);
}

#[tokio::test(flavor = "multi_thread")]
async fn sigint_during_start_up_tears_down_and_exits_130() {
    if common::engine_or_skip("sigint start-up").await.is_none() {
        return;
    }
    interrupt_in("starting", "-INT", 130);
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_during_start_up_tears_down_and_exits_143() {
    if common::engine_or_skip("sigterm start-up").await.is_none() {
        return;
    }
    interrupt_in("starting", "-TERM", 143);
}

#[tokio::test(flavor = "multi_thread")]
async fn sigint_during_checks_tears_down_and_exits_130() {
    if common::engine_or_skip("sigint checks").await.is_none() {
        return;
    }
    interrupt_in("checking", "-INT", 130);
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_during_checks_tears_down_and_exits_143() {
    if common::engine_or_skip("sigterm checks").await.is_none() {
        return;
    }
    interrupt_in("checking", "-TERM", 143);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_run_is_reaped_by_the_next_run() {
    if common::engine_or_skip("sigkill").await.is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let mut run = Run::start(&["run", "--out", out.to_str().unwrap()], &[]);
    run.wait_for("] readiness");
    run.signal("-KILL");
    let id = run.id.clone();
    let (status, _) = run.finish();
    assert_eq!(status, None, "killed by a signal");
    assert!(!objects_of(&id).is_empty(), "SIGKILL cannot tear down");
    // The next run reaps before it starts anything; its one cell is excluded, so it ends there.
    let quiet = matrix(
        dir.path(),
        "excluded",
        "[[cells]]\nvector_store = \"pgvector\"\nexclude = \"nothing to run\"\n",
    );
    let mut next = Run::start(
        &[
            "run",
            "--matrix",
            quiet.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        &[],
    );
    next.wait_for("reaped leftovers of killed run(s)");
    let (status, stderr) = next.finish();
    assert_eq!(status, Some(0), "{stderr}");
    assert!(stderr.contains(&id), "the reap names run {id}: {stderr}");
    assert_nothing_left(&id);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_service_killed_mid_check_ends_its_cell_and_the_next_cell_runs() {
    if common::engine_or_skip("killed service").await.is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let two = dir.path().join("two.toml");
    std::fs::write(
        &two,
        "description = \"two cells\"\n[axes]\nvector_store = [\"pgvector\"]\nstorage_type = [\"opendal\", \"local\"]\n",
    )
    .unwrap();
    let mut run = Run::start(
        &[
            "run",
            "--matrix",
            two.to_str().unwrap(),
            "--jobs",
            "1",
            "--out",
            out.to_str().unwrap(),
        ],
        &[],
    );
    run.wait_for("[pgvector.opendal] checking");
    // The checks take seconds; the kill lands within milliseconds of the line.
    let project = workspace::project_name(&run.id, "pgvector.opendal");
    let killed = Command::new("sh")
        .args([
            "-c",
            &format!(
                "docker kill $(docker ps -q --filter label=com.docker.compose.project={project} --filter label=com.docker.compose.service=api)"
            ),
        ])
        .status()
        .unwrap();
    assert!(killed.success());
    let (_, ended) = run.wait_for("[pgvector.opendal] error in");
    assert!(
        ended.contains(": checks: service api ") && ended.contains("while the checks ran"),
        "{ended}"
    );
    // The next cell runs; it need not finish for that to be shown.
    run.wait_for("[pgvector.local] starting");
    run.signal("-INT");
    let id = run.id.clone();
    let (status, stderr) = run.finish();
    assert_eq!(status, Some(130), "{stderr}");
    assert_nothing_left(&id);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cell_that_never_becomes_ready_times_out_with_its_logs_saved() {
    if common::engine_or_skip("never ready").await.is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    // The api listens where neither nginx nor its healthcheck looks: up, never ready.
    let m = matrix(
        dir.path(),
        "never-ready",
        "[cell]\ntimeouts = { ready = 20 }\n[cell.service_env.api]\nDIFY_PORT = \"5999\"\n",
    );
    let mut run = Run::start(
        &[
            "run",
            "--matrix",
            m.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        &[],
    );
    run.wait_for("] readiness");
    let id = run.id.clone();
    let (status, stderr) = run.finish();
    assert_eq!(status, Some(1), "{stderr}");
    let report = report(&out);
    let cell = &report["cells"][0];
    let reason = cell["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("readiness: not ready within its time-out") && reason.contains("api"),
        "{reason}"
    );
    let api_log = cell["log_files"]["api"]
        .as_str()
        .expect("api's log is saved");
    let text = std::fs::read_to_string(out.join(api_log)).unwrap();
    assert!(!text.trim().is_empty(), "the api's whole log is empty");
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains(&format!("[api]({api_log})")), "{md}");
    assert_nothing_left(&id);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_service_never_healthy_ends_at_its_own_healthcheck_time_out() {
    if common::engine_or_skip("never healthy").await.is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    // A probe that always fails, given up after 2 s + 3 x 1 s, in a cell allowed 600 s.
    let deployment = deployment_with(dir.path(), |compose| {
        compose.replace(
            "test: [\"CMD\", \"curl\", \"-f\", \"http://localhost:5001/health\"]\n      interval: 5s\n      timeout: 5s\n      retries: 36\n      start_period: 30s",
            "test: [\"CMD\", \"curl\", \"-f\", \"http://localhost:5001/no-such-health\"]\n      interval: 1s\n      timeout: 1s\n      retries: 3\n      start_period: 2s",
        )
    });
    let mut run = Run::start(
        &[
            "run",
            "--deployment",
            deployment.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        &[],
    );
    run.wait_for("] starting");
    let id = run.id.clone();
    let (status, stderr) = run.finish();
    assert_eq!(status, Some(1), "{stderr}");
    let cell = &report(&out)["cells"][0];
    let reason = cell["reason"].as_str().unwrap();
    assert!(reason.contains("service api is unhealthy"), "{reason}");
    assert!(cell["log_files"]["api"].is_string(), "{cell:#}");
    assert_nothing_left(&id);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_loop_ends_the_cell_with_its_exit_code_and_logs() {
    if common::engine_or_skip("crash loop").await.is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let m =
        harness::deployment::bundled::root().join("fixtures/matrices/broken-storage-endpoint.toml");
    let mut run = Run::start(
        &[
            "run",
            "--matrix",
            m.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        &[],
    );
    run.wait_for("run ");
    // The engine's own record of the first failing exit of any container of the run.
    let events = Command::new("docker")
        .args([
            "events",
            "--filter",
            &format!("label={}={}", labels::RUN, run.id),
            "--filter",
            "event=die",
            "--format",
            "{{.TimeNano}} {{index .Actor.Attributes \"exitCode\"}}",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (verdict_at, _) = run.wait_for("[pgvector.s3] verdict: error");
    let verdict_wall = std::time::SystemTime::now() - verdict_at.elapsed();
    let id = run.id.clone();
    let (status, stderr) = run.finish();
    let mut events = events;
    let _ = events.kill();
    let died = events.wait_with_output().unwrap();
    assert_eq!(status, Some(1), "{stderr}");
    let cell = &report(&out)["cells"][0];
    let reason = cell["reason"].as_str().unwrap();
    assert!(
        reason.contains("exit code")
            && (reason.contains("crash loop") || reason.contains("exited")),
        "{reason}"
    );
    let service = cell["log_files"]
        .as_object()
        .map(|m| m.keys().cloned().collect::<Vec<_>>())
        .unwrap_or_default();
    assert!(service.iter().any(|s| s == "api"), "{cell:#}");
    assert!(
        cell["logs"].as_object().is_some_and(|l| !l.is_empty()),
        "log lines in the report: {cell:#}"
    );
    // Measured, not asserted (speed is for ci/bench): first exit to verdict.
    if let Some(first) = String::from_utf8_lossy(&died.stdout)
        .lines()
        // A one-shot job's exit 0 is not a failure.
        .filter_map(|l| l.split_once(' ').filter(|(_, code)| code.trim() != "0"))
        .filter_map(|(t, _)| t.trim().parse::<u128>().ok())
        .min()
    {
        let verdict = verdict_wall
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        eprintln!(
            "crash loop: verdict {:.1} s after the first failing exit",
            verdict.saturating_sub(first) as f64 / 1e9
        );
    }
    assert_nothing_left(&id);
}

#[tokio::test(flavor = "multi_thread")]
async fn compose_failing_to_start_ends_the_cell_with_compose_words() {
    if common::engine_or_skip("compose fails").await.is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    // An image no registry has; --pull makes compose try it (without, the cell is "not run").
    let deployment = deployment_with(dir.path(), |compose| {
        compose.replace(
            "image: dify-conformance/standin-web:local",
            "image: dify-conformance/no-such-image:local",
        )
    });
    let mut run = Run::start(
        &[
            "run",
            "--deployment",
            deployment.to_str().unwrap(),
            "--pull",
            "--out",
            out.to_str().unwrap(),
        ],
        &[],
    );
    run.wait_for("] starting");
    let id = run.id.clone();
    let (status, stderr) = run.finish();
    assert_eq!(status, Some(1), "{stderr}");
    let reason = report(&out)["cells"][0]["reason"]
        .as_str()
        .unwrap()
        .to_string();
    // Compose names the service whose image it could not pull.
    assert!(
        reason.starts_with("compose up: docker compose up failed") && reason.contains("web"),
        "{reason}"
    );
    assert_nothing_left(&id);
}

#[test]
fn an_unwritable_out_is_refused_before_any_stack_starts() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    // Root may write anywhere permission bits forbid; a path under a file cannot be made.
    for out in [file.clone(), file.join("reports")] {
        let run = Run::start(&["run", "--out", out.to_str().unwrap()], &[]);
        let (status, stderr) = run.finish();
        assert_eq!(status, Some(2), "{stderr}");
        assert!(
            stderr.contains(&format!("--out {}", out.display())),
            "{stderr}"
        );
        assert!(!stderr.contains("run "), "nothing started: {stderr}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn keep_on_failure_leaves_the_stack_until_reap_removes_it() {
    if common::engine_or_skip("keep on failure").await.is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let m = matrix(
        dir.path(),
        "never-ready",
        "[cell]\ntimeouts = { ready = 5 }\n[cell.service_env.api]\nDIFY_PORT = \"5999\"\n",
    );
    let mut run = Run::start(
        &[
            "run",
            "--matrix",
            m.to_str().unwrap(),
            "--keep-on-failure",
            "--out",
            out.to_str().unwrap(),
        ],
        &[],
    );
    run.wait_for("kept for debugging");
    let id = run.id.clone();
    let (status, stderr) = run.finish();
    assert_eq!(status, Some(1), "{stderr}");
    assert!(stderr.contains("docker compose -p dc-"), "{stderr}");
    assert!(
        stderr.contains(&format!("dify-conformance reap --run {id}")),
        "{stderr}"
    );
    assert!(!objects_of(&id).is_empty(), "the stack is kept");
    assert_eq!(
        workspace::run_workspaces(&id).len(),
        1,
        "the workspace is kept"
    );
    // A later run's own reaping leaves a kept stack alone.
    let quiet = matrix(
        dir.path(),
        "excluded",
        "[[cells]]\nvector_store = \"pgvector\"\nexclude = \"nothing to run\"\n",
    );
    let next = Run::start(
        &[
            "run",
            "--matrix",
            quiet.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        &[],
    );
    let (status, stderr) = next.finish();
    assert_eq!(status, Some(0), "{stderr}");
    assert!(
        !objects_of(&id).is_empty(),
        "a later run reaped a kept stack"
    );
    let reap = Command::new(BIN)
        .args(["reap", "--run", &id])
        .output()
        .unwrap();
    assert!(
        reap.status.success(),
        "{}",
        String::from_utf8_lossy(&reap.stderr)
    );
    assert_nothing_left(&id);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_reaper_says_which_network_it_could_not_remove_and_why() {
    if common::engine_or_skip("reaper network").await.is_none() {
        return;
    }
    let run_id = format!("f{}", &uuid_like()[..7]);
    let network = format!("dc-{run_id}-held");
    let holder = format!("dc-{run_id}-holder");
    let ok = |args: &[&str]| {
        let out = Command::new("docker").args(args).output().unwrap();
        assert!(
            out.status.success(),
            "docker {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    ok(&[
        "network",
        "create",
        "--label",
        &format!("{}=true", labels::MANAGED),
        "--label",
        &format!("{}={run_id}", labels::RUN),
        &network,
    ]);
    // Unlabelled, so the sweep cannot remove it and the network stays in use.
    ok(&[
        "run",
        "-d",
        "--name",
        &holder,
        "--network",
        &network,
        "dify-conformance/busybox:local",
        "sleep",
        "600",
    ]);
    let reap = Command::new(BIN)
        .args(["reap", "--run", &run_id])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&reap.stderr).to_string();
    ok(&["rm", "-f", &holder]);
    assert_eq!(reap.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains(&format!("could not remove network {network}"))
            && stderr.contains("active endpoints")
            && stderr.contains(&holder),
        "{stderr}"
    );
    let again = Command::new(BIN)
        .args(["reap", "--run", &run_id])
        .output()
        .unwrap();
    assert!(again.status.success());
    assert_nothing_left(&run_id);
}

fn uuid_like() -> String {
    format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
            ^ u128::from(std::process::id())
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn an_engine_gone_under_a_run_is_an_infrastructure_error() {
    let Some(engine) = common::engine_or_skip("engine gone").await else {
        return;
    };
    drop(engine);
    // The harness reaches the engine through a socket this test owns; closing it is, for the
    // harness, the engine restarting under it (the shared engine itself is not touched).
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("engine.sock");
    let listener = tokio::net::UnixListener::bind(&socket).unwrap();
    let proxy = tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        while let Ok((mut client, _)) = listener.accept().await {
            conns.spawn(async move {
                if let Ok(mut engine) =
                    tokio::net::UnixStream::connect("/var/run/docker.sock").await
                {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut engine).await;
                }
            });
        }
    });
    let out = dir.path().join("out");
    let host = format!("unix://{}", socket.display());
    let mut run = Run::start(
        &["run", "--out", out.to_str().unwrap()],
        &[("DOCKER_HOST", host.as_str())],
    );
    run.wait_for("] readiness");
    proxy.abort(); // drops the listener and every connection
    let _ = proxy.await;
    std::fs::remove_file(&socket).unwrap();
    let id = run.id.clone();
    let (status, stderr) = run.finish();
    assert_eq!(status, Some(3), "{stderr}");
    assert!(
        stderr.contains("the Docker engine stopped answering"),
        "{stderr}"
    );
    assert!(!out.join("report.json").exists());
    // What it could not remove is reaped once the engine answers again.
    let reap = Command::new(BIN).arg("reap").output().unwrap();
    assert!(
        reap.status.success(),
        "{}",
        String::from_utf8_lossy(&reap.stderr)
    );
    assert_nothing_left(&id);
}

/// A tmpfs of `mib` MiB mounted at `dir`, unmounted on drop; `None` where this process may not
/// mount (outside CI the test is then skipped; under CI=true that is a failure).
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(dir: &Path, mib: u32) -> Option<Self> {
        std::fs::create_dir_all(dir).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true and a tmpfs cannot be mounted at {}",
                dir.display()
            );
            eprintln!("full disk: skipped, cannot mount a tmpfs here");
            return None;
        }
        Some(Self(dir.to_path_buf()))
    }

    /// Writes until the file system is full.
    fn fill(&self) {
        let _ = std::fs::write(self.0.join("filler"), vec![0u8; 64 << 20]);
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_is_refused_before_any_stack_starts() {
    let dir = tempfile::tempdir().unwrap();
    // --out on a file system with 1 MiB.
    let Some(small) = SmallDisk::mount(&dir.path().join("small"), 1) else {
        return;
    };
    let out = small.0.join("reports");
    let run = Run::start(&["run", "--out", out.to_str().unwrap()], &[]);
    let (status, stderr) = run.finish();
    assert_eq!(status, Some(3), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{}: 1 MiB free, the run needs at least",
            out.display()
        )) && stderr.contains("the report files and saved logs")
            && stderr.contains("choose another --out"),
        "{stderr}"
    );
    assert!(
        !stderr.lines().any(|l| l.starts_with("run ")),
        "nothing started: {stderr}"
    );
    assert!(!out.join("report.json").exists());
    // The workspaces' file system (TMPDIR) full.
    let full = SmallDisk::mount(&dir.path().join("full"), 8).unwrap();
    full.fill();
    let out = dir.path().join("out");
    let run = Run::start(
        &["run", "--out", out.to_str().unwrap()],
        &[("TMPDIR", full.0.to_str().unwrap())],
    );
    let (status, stderr) = run.finish();
    assert_eq!(status, Some(3), "{stderr}");
    assert!(
        stderr.contains(&format!("{}: 0 MiB free", full.0.display()))
            && stderr.contains("for the workspaces")
            && stderr.contains("point TMPDIR elsewhere"),
        "{stderr}"
    );
    assert!(
        !stderr.lines().any(|l| l.starts_with("run ")),
        "nothing started: {stderr}"
    );
    assert!(!out.join("report.json").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn host_ports_the_deployment_fixes_may_be_taken() {
    if common::engine_or_skip("host port taken").await.is_none() {
        return;
    }
    // Dify's nginx publishes EXPOSE_NGINX_PORT on every interface; on an operator's machine that
    // port is often taken. The cell's stack publishes on ports of its own instead.
    let held = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let port = held.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let m = matrix(
        dir.path(),
        "port-taken",
        &format!("[cell]\nenv = {{ EXPOSE_NGINX_PORT = \"{port}\" }}\n"),
    );
    let mut run = Run::start(
        &[
            "run",
            "--matrix",
            m.to_str().unwrap(),
            "--suite",
            "api",
            "--out",
            out.to_str().unwrap(),
        ],
        &[],
    );
    run.wait_for("run ");
    let id = run.id.clone();
    let (status, stderr) = run.finish();
    assert_eq!(status, Some(0), "{stderr}");
    let cell = &report(&out)["cells"][0];
    assert_eq!(cell["status"], "passed", "{cell:#}");
    assert_eq!(cell["env"]["EXPOSE_NGINX_PORT"], port.to_string());
    drop(held);
    assert_nothing_left(&id);
}

/// An IPv4 address of this host that is not loopback (`hostname -I` lists them).
fn host_address() -> String {
    let out = Command::new("hostname").arg("-I").output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .find(|a| {
            a.parse::<std::net::Ipv4Addr>()
                .is_ok_and(|ip| !ip.is_loopback())
        })
        .expect("this host has a non-loopback IPv4 address")
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_remote_engine_is_reached_on_its_host_not_loopback() {
    if common::engine_or_skip("remote engine").await.is_none() {
        return;
    }
    // The engine's API over TCP on a non-loopback address of this host: for the harness, an
    // engine elsewhere. Ports it publishes on 127.0.0.1 would be out of reach at that address.
    let host = host_address();
    let listener = tokio::net::TcpListener::bind(format!("{host}:0"))
        .await
        .unwrap();
    let api = listener.local_addr().unwrap();
    let proxy = tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        while let Ok((mut client, _)) = listener.accept().await {
            conns.spawn(async move {
                if let Ok(mut engine) =
                    tokio::net::UnixStream::connect("/var/run/docker.sock").await
                {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut engine).await;
                }
            });
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let docker_host = format!("tcp://{api}");
    let mut run = Run::start(
        &[
            "run",
            "--suite",
            "api",
            "--suite",
            "celery",
            "--out",
            out.to_str().unwrap(),
        ],
        &[("DOCKER_HOST", docker_host.as_str())],
    );
    run.wait_for("run ");
    let id = run.id.clone();
    let (status, stderr) = run.finish();
    proxy.abort();
    assert_eq!(status, Some(0), "{stderr}");
    let cell = &report(&out)["cells"][0];
    assert_eq!(cell["status"], "passed", "{cell:#}");
    let urls: Vec<&str> = cell["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["url"].as_str())
        .collect();
    assert!(!urls.is_empty(), "{cell:#}");
    for url in urls {
        let at = url::Url::parse(url).unwrap();
        assert_eq!(at.host_str(), Some(host.as_str()), "{url}");
    }
    assert_nothing_left(&id);
}
