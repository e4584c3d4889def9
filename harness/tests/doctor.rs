//! `doctor`: one line per finding, each problem with the command that fixes it; exit 0 when all
//! is good, 1 when something needs fixing, 3 without an engine.

mod common;

use std::process::{Command, Output};

use harness::deployment::bundled;
use harness::labels;

fn doctor(args: &[&str], docker_host: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dify-conformance"));
    cmd.arg("doctor").args(args).current_dir(bundled::root());
    if let Some(h) = docker_host {
        cmd.env("DOCKER_HOST", h);
    }
    cmd.output().unwrap()
}

/// Every problem line is followed by the command that fixes it.
fn assert_each_problem_has_a_fix(text: &str) {
    let lines: Vec<&str> = text.lines().collect();
    for (i, l) in lines.iter().enumerate() {
        if l.starts_with("PROBLEM") {
            assert!(
                lines
                    .get(i + 1)
                    .is_some_and(|n| n.trim_start().starts_with("fix: ")),
                "no fix after {l:?}:\n{text}"
            );
        }
    }
}

/// What varies by machine: sizes, the compose version, paths.
fn masked(text: &str) -> String {
    let mut out = text.replace(&bundled::root().display().to_string(), "<repo>");
    out = out.replace(&std::env::temp_dir().display().to_string(), "<tmp>");
    let words: Vec<String> = out
        .split_inclusive([' ', '\n', '(', ','])
        .map(|w| {
            let core = w.trim_end_matches([' ', '\n', '(', ',']);
            let tail = &w[core.len()..];
            let approx = if core.starts_with('~') { "~" } else { "" };
            let core = core.trim_start_matches('~');
            let looks_numeric = core.chars().next().is_some_and(|c| c.is_ascii_digit())
                && core
                    .chars()
                    .all(|c| c.is_ascii_digit() || c == '.' || c == '-');
            if looks_numeric {
                format!("{approx}<n>{tail}")
            } else {
                w.to_string()
            }
        })
        .collect();
    // Whether killed runs left workspaces here depends on what else ran on this machine.
    words
        .concat()
        .lines()
        .filter(|l| !l.contains("reap (once the engine answers)"))
        .map(|l| {
            if l.contains("workspace dir(s) of killed runs")
                || l.contains("no workspace dirs of killed runs")
            {
                "<leftover workspaces line>"
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

#[test]
fn without_an_engine_it_says_so_checks_the_rest_and_exits_3() {
    let out = doctor(&[], Some("unix:///nonexistent/docker.sock"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_each_problem_has_a_fix(&stdout);
    insta::assert_snapshot!("doctor_without_an_engine", masked(&stdout));
}

#[test]
fn names_an_entrypoint_without_its_exec_bit_and_the_chmod_that_fixes_it() {
    let docker = bundled::root().join("fixtures/bad-input/entrypoint-not-executable/docker");
    let d = docker.display().to_string();
    let out = doctor(
        &["--deployment", &d, "--allow-unknown-values"],
        Some("unix:///nonexistent/docker.sock"),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stdout}");
    let script = docker.join("pgvector/docker-entrypoint.sh");
    assert!(
        stdout.contains(&format!(
            "PROBLEM  service pgvector runs {} as its entrypoint, but it is not executable",
            script.display()
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("fix: chmod +x {}\n", script.display())),
        "{stdout}"
    );
}

/// On this machine (after ci/setup): the engine, compose and the smoke cell's images are fine;
/// a leftover of a killed run, planted here, is named with `reap` as the fix.
#[tokio::test(flavor = "multi_thread")]
async fn on_an_engine_it_checks_images_and_finds_leftovers() {
    let Some(engine) = common::engine_or_skip("doctor").await else {
        return;
    };
    let run = format!("doctor{}", std::process::id());
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    // A pid above the kernel's maximum never runs: the owner is dead.
    let owner = format!("{}:4194399:1", hostname.trim());
    let made = Command::new("docker")
        .args(["network", "create"])
        .args(["--label", &format!("{}=true", labels::MANAGED)])
        .args(["--label", &format!("{}={run}", labels::RUN)])
        .args(["--label", &format!("{}={owner}", labels::OWNER)])
        .arg(format!("dc-{run}-leftover"))
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );

    let out = doctor(&[], None);
    let stdout = String::from_utf8_lossy(&out.stdout);
    engine.sweep(labels::RUN, &run).await;

    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert_each_problem_has_a_fix(&stdout);
    let line = |start: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(start))
            .unwrap_or_else(|| panic!("no line starting {start:?}:\n{stdout}"))
            .to_string()
    };
    assert!(line("ok       Docker engine ").contains(" answers at "));
    line("ok       docker compose ");
    line("ok       images: all ");
    assert!(
        line("info     the image map (").contains("nginx:latest -> dify-conformance/nginx:local"),
        "{stdout}"
    );
    let leftovers = line("PROBLEM  leftovers of killed runs");
    assert!(leftovers.contains(&run), "{leftovers}");
    assert!(stdout.contains("fix: dify-conformance reap"), "{stdout}");
    assert!(engine.count(labels::RUN, &run).await.unwrap() == Default::default());
}
