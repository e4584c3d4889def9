//! Teardown is certain: Ctrl-C tears the stack down before exiting, and what a killed run
//! leaves behind is reaped. Both start a real stack through the binary.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use harness::engine::Engine;
use harness::workspace;

#[expect(
    clippy::zombie_processes,
    reason = "the caller waits for the returned child"
)]
/// Starts `run` and returns once its stack is up (the readiness wait has begun), with its run id.
fn start_run(out: &std::path::Path) -> (Child, String, BufReader<std::process::ChildStderr>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dify-conformance"))
        .args(["run", "--out"])
        .arg(out)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut run_id = String::new();
    let mut line = String::new();
    loop {
        line.clear();
        if stderr.read_line(&mut line).unwrap_or(0) == 0 {
            let status = child.wait();
            panic!("run ended ({status:?}) before its stack was up");
        }
        if let Some(rest) = line.strip_prefix("run ") {
            run_id = rest.split(':').next().unwrap().to_string();
        }
        if line.contains("] readiness") {
            return (child, run_id, stderr);
        }
    }
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig} failed");
}

async fn leftovers(engine: &Engine, run_id: &str) -> bool {
    engine.managed_runs().await.unwrap().contains_key(run_id)
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_tears_the_stack_down_and_exits_130() {
    let Some(engine) = common::engine_or_skip("ctrl-c").await else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let (mut child, run_id, mut stderr) = start_run(out.path());
    assert!(leftovers(&engine, &run_id).await, "the stack should be up");
    signal(&child, "-INT");
    let status = child.wait().unwrap();
    let mut rest = String::new();
    let _ = std::io::Read::read_to_string(stderr.get_mut(), &mut rest);
    assert_eq!(status.code(), Some(130), "{rest}");
    assert!(rest.contains("interrupted"), "{rest}");
    assert!(
        !leftovers(&engine, &run_id).await,
        "Ctrl-C left labelled objects of run {run_id}"
    );
    assert!(
        workspace::run_workspaces(&run_id).is_empty(),
        "Ctrl-C left a workspace"
    );
    assert!(!out.path().join("report.json").exists(), "no half report");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_run_is_reaped() {
    let Some(engine) = common::engine_or_skip("reap").await else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let (mut child, run_id, _stderr) = start_run(out.path());
    signal(&child, "-KILL");
    child.wait().unwrap();
    assert!(
        leftovers(&engine, &run_id).await,
        "SIGKILL cannot tear down; the stack stays"
    );
    let reap = Command::new(env!("CARGO_BIN_EXE_dify-conformance"))
        .arg("reap")
        .output()
        .unwrap();
    assert!(
        reap.status.success(),
        "{}",
        String::from_utf8_lossy(&reap.stderr)
    );
    assert!(
        !leftovers(&engine, &run_id).await,
        "reap left objects of run {run_id}"
    );
    assert!(
        workspace::run_workspaces(&run_id).is_empty(),
        "reap left the workspace"
    );
}
