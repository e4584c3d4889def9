//! `report.html` in a real browser: headless Chromium opens the page of the known-bad full run
//! (no network: the page must stand alone), runs its script, and shows the grid and a cell.
//! The screenshot lands in `target/report-html/`; with `DIFY_CONFORMANCE_UPDATE_DOCS=1` it
//! also replaces `docs/report-html.png`, the one the README shows.

use std::path::{Path, PathBuf};
use std::process::Command;

use harness::deployment::bundled;
use harness::policy::Policy;
use harness::report::{Format, PolicyView, Report};

/// The Chromium binary, or `None` to skip. Under `CI=true` a missing browser fails the test.
fn chromium() -> Option<PathBuf> {
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        if let Ok(out) = Command::new("sh")
            .args(["-c", &format!("command -v {name}")])
            .output()
            && out.status.success()
        {
            return Some(PathBuf::from(
                String::from_utf8_lossy(&out.stdout).trim().to_string(),
            ));
        }
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true and no Chromium; ci/setup installs Debian's chromium"
    );
    eprintln!("skipped: no chromium on PATH");
    None
}

fn headless(browser: &Path, profile: &Path) -> Command {
    let mut cmd = Command::new(browser);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--hide-scrollbars",
        // Nothing may be fetched: the proxy goes nowhere, so an external asset would fail.
        "--proxy-server=127.0.0.1:9",
        "--proxy-bypass-list=<-loopback>",
    ]);
    cmd.arg(format!("--user-data-dir={}", profile.display()));
    cmd
}

fn page() -> (tempfile::TempDir, PathBuf) {
    let report =
        Report::load(&bundled::root().join("fixtures/reports/full-known-bad.json")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.html");
    // As `run` writes it: the release policy's view marks Dify's accepted defaults, so the
    // known-bad cells stand out. A fixed day keeps the acceptances in force.
    let policy = Policy::load(&bundled::root().join("matrices/release-policy.toml")).unwrap();
    let verdict = harness::gate::evaluate(&report, &policy, time::macros::date!(2026 - 12 - 02));
    let view = PolicyView::of(&verdict, "release-policy.toml");
    std::fs::write(&path, report.render_judged(Format::Html, Some(&view))).unwrap();
    (dir, path)
}

#[test]
fn the_page_opens_a_cell_from_its_url_with_checks_evidence_and_logs() {
    let Some(browser) = chromium() else { return };
    let (dir, path) = page();
    let out = headless(&browser, &dir.path().join("profile"))
        .args(["--virtual-time-budget=2000", "--dump-dom"])
        .arg(format!("file://{}#cell=pgvector.local", path.display()))
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The script ran: the cell named in the URL is shown, the others are not, its square is
    // selected, and the hint is gone.
    let article = |id: &str| {
        let start = dom
            .find(&format!("<article class=\"cell\" id=\"cell-{id}\""))
            .unwrap();
        &dom[start..start + dom[start..].find('>').unwrap()]
    };
    assert!(
        !article("pgvector.local").contains("hidden"),
        "{}",
        article("pgvector.local")
    );
    assert!(article("pgvector.opendal").contains("hidden"));
    assert!(
        dom.contains("class=\"sq failed selected\""),
        "the square is marked"
    );
    assert!(dom.contains("<p id=\"hint\" hidden=\"\">"));
    let shown = &dom[dom.find("id=\"cell-pgvector.local\"").unwrap()..];
    let shown = &shown[..shown.find("</article>").unwrap()];
    assert!(shown.contains("cors.console-preflight"), "its checks");
    assert!(shown.contains("class=\"evidence\""), "their evidence");
    assert!(shown.contains("log lines of"), "the service logs");
}

#[test]
fn screenshot_shows_the_grid_with_the_failing_cells() {
    let Some(browser) = chromium() else { return };
    let (dir, path) = page();
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-html");
    std::fs::create_dir_all(&shots).unwrap();
    let png = shots.join("report-html.png");
    let _ = std::fs::remove_file(&png);
    let out = headless(&browser, &dir.path().join("profile"))
        .args([
            "--virtual-time-budget=2000",
            "--window-size=1280,1100",
            &format!("--screenshot={}", png.display()),
        ])
        .arg(format!("file://{}#cell=pgvector.local", path.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "a PNG");
    let (w, h) = (
        u32::from_be_bytes(bytes[16..20].try_into().unwrap()),
        u32::from_be_bytes(bytes[20..24].try_into().unwrap()),
    );
    assert_eq!((w, h), (1280, 1100));
    // A blank page compresses to almost nothing; the grid and a cell's tables do not.
    assert!(
        bytes.len() > 30_000,
        "only {} bytes: a blank page?",
        bytes.len()
    );
    if std::env::var("DIFY_CONFORMANCE_UPDATE_DOCS").as_deref() == Ok("1") {
        std::fs::copy(&png, bundled::root().join("docs/report-html.png")).unwrap();
    }
}
