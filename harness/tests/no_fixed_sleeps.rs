//! No fixed sleeps: every wait in the Rust sources and the ci/ scripts observes something. A
//! sleep is allowed only inside a polling loop that asks something each round, listed below
//! with what it observes; an unlisted sleep, or a listed one that is gone, fails.

use std::path::{Path, PathBuf};

/// (file, text on the sleep's line, what the loop observes).
const ALLOWED: &[(&str, &str, &str)] = &[
    (
        "harness/src/compose.rs",
        "tokio::time::sleep(std::time::Duration::from_millis(20))",
        "teardown re-reads /proc each round until the killed `compose up` processes are gone",
    ),
    (
        "harness/src/stack.rs",
        "tokio::time::sleep(POLL).await;\n",
        "the up watch re-reads the containers' states each round; readiness also asks nginx again",
    ),
    (
        "suites/src/api/dataset.rs",
        "tokio::time::sleep(POLL)",
        "api.dataset-index reads the document's indexing status each round",
    ),
    (
        "harness/tests/celery.rs",
        "tokio::time::sleep(Duration::from_millis(500))",
        "waits until every named worker answered a ping",
    ),
    (
        "harness/tests/check.rs",
        "tokio::time::sleep(Duration::from_millis(500))",
        "wait_for_api asks /console/api/setup each round, wait_for_worker pings the workers, stored_files lists the storage each round",
    ),
    (
        "ci/setup",
        "sleep 0.5",
        "waits until `docker info` answers after starting dockerd",
    ),
    (
        "ci/bench",
        "sleep 0.2",
        "reads the harness's VmHWM until the process is gone",
    ),
    (
        "ci/bench.d/plain.sh",
        "sleep 0.5",
        "the plain script the bench compares with polls the console API, the web and a worker ping",
    ),
    (
        "ci/testssl-compare",
        "sleep 0.1",
        "waits until the test server's port accepts a connection",
    ),
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            if p.file_name()
                .is_some_and(|n| n == "target" || n == "snapshots")
            {
                continue;
            }
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// Whether `line` calls a sleep: `sleep(` in Rust (tokio's, std's, an imported one), a
/// `sleep N` command in shell.
fn sleeps(path: &Path, line: &str) -> bool {
    let code = line.trim_start();
    if path.extension().is_some_and(|e| e == "rs") {
        if code.starts_with("//") {
            return false;
        }
        code.match_indices("sleep(")
            .any(|(i, _)| i == 0 || !code[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_'))
    } else {
        if code.starts_with('#') {
            return false;
        }
        code.split(|c: char| c.is_whitespace() || ";&|(`".contains(c))
            .collect::<Vec<_>>()
            .windows(2)
            .any(|w| w[0] == "sleep" && !w[1].is_empty())
    }
}

/// A loop opens within the lines before (or on the same line, as `until …; do sleep …; done`):
/// the sleep paces a polling loop, it is not a pause.
fn in_a_loop(lines: &[&str], at: usize) -> bool {
    lines[at.saturating_sub(80)..=at].iter().any(|l| {
        let l = l.trim_start();
        l.starts_with("loop {")
            || l.contains("= loop {")
            || l.starts_with("while ")
            || l.starts_with("for ")
            || l.starts_with("until ")
            || l.contains("; do")
            || l.contains(" do ")
    })
}

#[test]
fn every_sleep_is_an_allowlisted_polling_loop() {
    let root = root();
    let mut all = Vec::new();
    for dir in [
        "harness/src",
        "harness/tests",
        "harness/examples",
        "suites/src",
        "suites/tests",
        "ci",
    ] {
        files(&root.join(dir), &mut all);
    }
    let mut used = vec![0usize; ALLOWED.len()];
    let mut unlisted = Vec::new();
    for path in &all {
        let Ok(text) = std::fs::read_to_string(path) else {
            continue; // not text
        };
        let rel = path
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .to_string();
        if rel == "harness/tests/no_fixed_sleeps.rs" {
            continue; // its own allowlist and examples
        }
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            if !sleeps(path, line) {
                continue;
            }
            let with_newline = format!("{line}\n");
            match ALLOWED
                .iter()
                .position(|(f, needle, _)| *f == rel && with_newline.contains(needle))
            {
                Some(k) => {
                    used[k] += 1;
                    assert!(
                        in_a_loop(&lines, i),
                        "{rel}:{}: an allowlisted sleep outside a polling loop: {line}",
                        i + 1
                    );
                }
                None => unlisted.push(format!("{rel}:{}: {}", i + 1, line.trim())),
            }
        }
    }
    assert!(
        unlisted.is_empty(),
        "fixed sleeps; wait for what can be observed instead, or allowlist a polling loop with what it observes:\n{}",
        unlisted.join("\n")
    );
    let stale: Vec<_> = ALLOWED
        .iter()
        .zip(&used)
        .filter(|(_, n)| **n == 0)
        .map(|((f, needle, _), _)| format!("{f}: {needle}"))
        .collect();
    assert!(
        stale.is_empty(),
        "allowlisted sleeps that no longer exist: {stale:?}"
    );
}

#[test]
fn the_scan_sees_sleeps_in_every_form() {
    let rs = Path::new("x.rs");
    let sh = Path::new("x");
    assert!(sleeps(rs, "        tokio::time::sleep(POLL).await;"));
    assert!(sleeps(rs, "std::thread::sleep(Duration::from_secs(1));"));
    assert!(sleeps(rs, "sleep(d).await"));
    assert!(!sleeps(rs, "tokio::time::sleep_until(deadline).await"));
    assert!(!sleeps(rs, "// tokio::time::sleep(POLL)"));
    assert!(!sleeps(rs, "fn no_sleep() {}"));
    assert!(sleeps(sh, "  sleep 5"));
    assert!(sleeps(sh, "until x; do sleep 0.5; done"));
    assert!(sleeps(sh, "(sleep 3; kill $pid) &"));
    assert!(!sleeps(sh, "# sleep 5"));
    assert!(!sleeps(sh, "echo no-sleep here"));
    assert!(in_a_loop(&["loop {", "  x", "  sleep"], 2));
    assert!(!in_a_loop(&["let x = 1;", "sleep"], 1));
}
