//! One test per smoke cell on the bundled stand-in deployment, plus known-bad cells that must
//! fail the right check. Each brings up the full compose stack on the real engine.

mod common;

use harness::catalog::Catalog;
use harness::deployment::{Deployment, bundled};
use harness::engine::Engine;
use harness::matrix::Matrix;
use harness::report::{CellReport, CellStatus};
use rstest::rstest;
use suites::{Status, Suite};

/// Findings Dify's shipped defaults give on every cell until a policy accepts them: the `*`
/// CORS lists reflect any origin with credentials (research §5), nginx sends no HSTS and
/// answers plain HTTP without a redirect (research §4), and HTTPS turned on as Dify's
/// instructions say leaves the console URLs as they were, so the login cookies are not Secure
/// (research §5, §13 step 5).
const DEFAULT_FINDINGS: &[&str] = &[
    "cors.reflection",
    "ssl.hsts",
    "ssl.http-redirect",
    "ssl.cookie-secure",
];

/// The failed checks of a report that are not Dify's default findings.
fn unexpected_failures(report: &CellReport) -> Vec<&str> {
    report
        .failed_checks()
        .map(|o| o.id.as_str())
        .filter(|c| !DEFAULT_FINDINGS.contains(c))
        .collect()
}

/// The same, for the edge suites only (web, cors, ssl): what an edge cell is about.
fn unexpected_edge_failures(report: &CellReport) -> Vec<&str> {
    unexpected_failures(report)
        .into_iter()
        .filter(|c| ["web.", "cors.", "ssl."].iter().any(|p| c.starts_with(p)))
        .collect()
}

/// Every default finding is reported, with evidence.
fn assert_default_findings(report: &CellReport) {
    for id in DEFAULT_FINDINGS {
        let o = report
            .checks
            .iter()
            .find(|o| o.id == *id)
            .unwrap_or_else(|| panic!("no {id} outcome:\n{}", explain(report)));
        assert_eq!(o.status, Status::Failed, "{o}");
        assert!(!o.evidence.is_empty(), "{o}");
    }
}

/// The cells of `matrices/smoke.toml`; a test below keeps the two in step.
const SMOKE_CELLS: &[&str] = &["pgvector.opendal"];

async fn run_cell(engine: &Engine, matrix: &std::path::Path, id: &str) -> CellReport {
    common::run_cell(engine, matrix, id, Suite::ALL.to_vec(), None).await
}

/// Every check's verdict, failures with their full evidence.
fn explain(report: &CellReport) -> String {
    let mut text = format!(
        "cell {} {}{}\n",
        report.id,
        report.status.label(),
        report
            .reason
            .as_deref()
            .map(|r| format!(": {r}"))
            .unwrap_or_default()
    );
    for o in &report.checks {
        text.push_str(&format!("  {o}\n"));
    }
    for (service, lines) in &report.logs {
        text.push_str(&format!("  --- last logs of {service}\n"));
        for l in lines.iter().rev().take(15).rev() {
            text.push_str(&format!("  {l}\n"));
        }
    }
    text
}

#[rstest]
#[case::pgvector_opendal("pgvector.opendal")]
#[tokio::test(flavor = "multi_thread")]
async fn smoke_cell_passes_every_suite(#[case] id: &str) {
    let Some(engine) = common::engine_or_skip(id).await else {
        return;
    };
    let report = run_cell(&engine, &bundled::smoke_matrix(), id).await;
    let checks: Vec<&str> = report.checks.iter().map(|o| o.id.as_str()).collect();
    let expected: Vec<&str> = Suite::ALL
        .iter()
        .flat_map(|s| s.checks().iter().map(|c| c.id))
        .collect();
    assert_eq!(checks, expected, "{}", explain(&report));
    assert_eq!(
        unexpected_failures(&report),
        Vec::<&str>::new(),
        "{}",
        explain(&report)
    );
    assert_default_findings(&report);
    // Skipped only where the default cell has nothing to judge.
    let skipped: Vec<&str> = report
        .checks
        .iter()
        .filter(|o| o.status == Status::Skipped)
        .map(|o| o.id.as_str())
        .collect();
    assert_eq!(
        skipped,
        [
            "cors.disallowed-origin",
            "cors.origin-bypass",
            "ssl.certbot-path"
        ],
        "{}",
        explain(&report)
    );
    let shot = report
        .checks
        .iter()
        .find(|o| o.id == "web.browser")
        .and_then(|o| o.facts.get("screenshot"))
        .expect("web.browser keeps a screenshot");
    let png = std::fs::read(shot).unwrap();
    assert_eq!(&png[..4], b"\x89PNG", "{shot}");
    eprintln!("screenshot: {shot}");
    // Wall time each suite added to the cell, for the record.
    for o in report
        .checks
        .iter()
        .filter(|o| o.facts.contains_key("suite_ms"))
    {
        eprintln!("suite {}: {} ms", o.suite, o.facts["suite_ms"]);
    }
}

#[tokio::test]
async fn smoke_cases_match_the_smoke_matrix() {
    let matrix = Matrix::load(&bundled::smoke_matrix()).unwrap();
    let catalog = Catalog::load(Deployment::open(&bundled::deployment()).unwrap())
        .await
        .unwrap();
    let cells = matrix
        .expand(Some(&catalog.sets), &catalog.recipes)
        .unwrap();
    let ids: Vec<&str> = cells.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, SMOKE_CELLS, "add an rstest case per smoke cell");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_foreign_cors_origin_fails_the_cors_check_only() {
    let Some(engine) = common::engine_or_skip("broken-cors").await else {
        return;
    };
    let matrix = bundled::root().join("fixtures/matrices/broken-cors.toml");
    let report = run_cell(&engine, &matrix, "pgvector.opendal").await;
    assert_eq!(report.status, CellStatus::Failed, "{}", explain(&report));
    // flask-cors sends `Vary: Origin` only when more than one origin can match, so a
    // one-origin list leaves the console's answers without it: a finding of its own.
    assert_eq!(
        unexpected_edge_failures(&report),
        ["cors.console-preflight", "cors.vary-origin"],
        "{}",
        explain(&report)
    );
    let cors = report
        .failed_checks()
        .find(|o| o.id == "cors.console-preflight")
        .unwrap();
    assert!(cors.got.contains("is not allowed"), "{cors}");
    assert!(
        cors.url.as_deref().unwrap().ends_with("/console/api/setup"),
        "{cors}"
    );
    assert!(
        cors.evidence
            .iter()
            .any(|e| e.trim_start().starts_with("HTTP ")),
        "{cors}"
    );
    // The console's list is explicit now: only the web API's `*` still reflects.
    let reflection = report
        .failed_checks()
        .find(|o| o.id == "cors.reflection")
        .unwrap();
    assert!(reflection.got.contains("web:"), "{reflection}");
    assert!(!reflection.got.contains("console:"), "{reflection}");
    assert!(!report.logs.is_empty(), "a failed cell keeps its logs");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_s3_endpoint_ends_the_cell_early_with_the_service_logs() {
    let Some(engine) = common::engine_or_skip("broken-storage-endpoint").await else {
        return;
    };
    let matrix = bundled::root().join("fixtures/matrices/broken-storage-endpoint.toml");
    let report = run_cell(&engine, &matrix, "pgvector.s3").await;
    assert_eq!(report.status, CellStatus::Error, "{}", explain(&report));
    let reason = report.reason.as_deref().unwrap_or_default();
    // Ended by what the engine saw (an exit or a crash loop), not by the cell's timeout.
    assert!(
        reason.contains("service api") || reason.contains("service worker"),
        "{}",
        explain(&report)
    );
    assert!(!reason.contains("timeout"), "{}", explain(&report));
    let logs: Vec<&String> = report.logs.values().flatten().collect();
    assert!(
        logs.iter().any(|l| l.contains("no-such-s3-endpoint")),
        "the failing service's log names the host it could not reach:\n{}",
        explain(&report)
    );
}

/// Known-bad edge cells: each fails the check that catches it (besides Dify's default
/// findings), with evidence.
#[rstest]
#[case::tls_legacy("broken-tls-legacy.toml", &["ssl.protocols"], "deprecated TLSv1 TLSv1.1 accepted")]
#[case::tls_expired("broken-tls-expired.toml", &["ssl.expiry"], "expired")]
#[case::tls_wrong_host("broken-tls-wrong-host.toml", &["ssl.hostname"], "matches none")]
#[case::console_api_url(
    "broken-console-api-url.toml",
    &["web.api-prefix", "web.browser"],
    "localhost:5001"
)]
#[tokio::test(flavor = "multi_thread")]
async fn a_known_bad_edge_cell_fails_the_check_that_catches_it(
    #[case] matrix: &str,
    #[case] failing: &[&str],
    #[case] got: &str,
) {
    let Some(engine) = common::engine_or_skip(matrix).await else {
        return;
    };
    let path = bundled::root().join("fixtures/matrices").join(matrix);
    let report = run_cell(&engine, &path, "pgvector.opendal").await;
    assert_eq!(report.status, CellStatus::Failed, "{}", explain(&report));
    assert_eq!(
        unexpected_edge_failures(&report),
        failing,
        "{}",
        explain(&report)
    );
    for o in report
        .failed_checks()
        .filter(|o| failing.contains(&o.id.as_str()))
    {
        assert!(o.got.contains(got), "{o}");
        assert!(!o.evidence.is_empty(), "{o}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_certbot_cell_serves_the_live_certificate() {
    let Some(engine) = common::engine_or_skip("https-certbot").await else {
        return;
    };
    let path = bundled::root().join("fixtures/matrices/https-certbot.toml");
    let report = run_cell(&engine, &path, "pgvector.opendal").await;
    assert_eq!(
        unexpected_edge_failures(&report),
        Vec::<&str>::new(),
        "{}",
        explain(&report)
    );
    let certbot = report
        .checks
        .iter()
        .find(|o| o.id == "ssl.certbot-path")
        .unwrap();
    assert_eq!(certbot.status, Status::Passed, "{certbot}");
    assert!(certbot.got.contains("dify.example"), "{certbot}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_certificate_ends_the_cell_early_with_nginx_log() {
    let Some(engine) = common::engine_or_skip("broken-tls-missing-cert").await else {
        return;
    };
    let path = bundled::root().join("fixtures/matrices/broken-tls-missing-cert.toml");
    let report = run_cell(&engine, &path, "pgvector.opendal").await;
    assert_eq!(report.status, CellStatus::Error, "{}", explain(&report));
    let reason = report.reason.as_deref().unwrap_or_default();
    assert!(reason.contains("nginx"), "{}", explain(&report));
    assert!(!reason.contains("timeout"), "{}", explain(&report));
    let nginx_logs = report.logs.get("nginx").cloned().unwrap_or_default();
    assert!(
        nginx_logs.iter().any(|l| l.contains("dify.crt")),
        "nginx's log names the missing file:\n{}",
        explain(&report)
    );
}

/// The checks that failed, in report order, besides Dify's default findings.
fn failed(report: &CellReport) -> Vec<&str> {
    unexpected_failures(report)
}

fn outcome<'a>(report: &'a CellReport, id: &str) -> &'a harness::report::CheckResult {
    report
        .checks
        .iter()
        .find(|o| o.id == id)
        .unwrap_or_else(|| panic!("no {id} in\n{}", explain(report)))
}

/// Known-bad cells as users make them: each must fail the checks that catch it, with evidence a
/// maintainer can act on, and nothing else.
#[rstest]
#[case::unreachable_vector_store(
    "broken-vector-store",
    &["api.vector-store"],
    &[],
    "api.vector-store",
    "no-such-vector-store"
)]
#[case::worker_without_indexing_queues(
    "broken-worker-queues",
    &["api.dataset-index", "celery.queues"],
    &[],
    "api.dataset-index",
    "priority_dataset"
)]
#[case::worker_reads_another_storage(
    "broken-worker-storage",
    &["api.dataset-index"],
    &[],
    "api.dataset-index",
    "error"
)]
// The same URLs also point the web's API prefix at an https origin that is not there: the web
// checks catch that side of the mistake. Over HTTPS the same cookies are right: Secure, with
// the `__Host-` prefix (ssl.cookie-secure passes, unlike on the default cell).
#[case::cookies_for_the_wrong_scheme(
    "broken-cookie-scheme",
    &["api.login", "web.api-prefix", "web.browser"],
    &["ssl.cookie-secure"],
    "api.login",
    "served over http"
)]
#[tokio::test(flavor = "multi_thread")]
async fn a_known_bad_cell_fails_exactly_the_checks_that_catch_it(
    #[case] fixture: &str,
    #[case] want_failed: &[&str],
    #[case] want_passed: &[&str],
    #[case] evidence_of: &str,
    #[case] evidence: &str,
) {
    let Some(engine) = common::engine_or_skip(fixture).await else {
        return;
    };
    let matrix = bundled::root().join(format!("fixtures/matrices/{fixture}.toml"));
    let report = run_cell(&engine, &matrix, "pgvector.opendal").await;
    assert_eq!(report.status, CellStatus::Failed, "{}", explain(&report));
    let mut got = failed(&report);
    got.sort_unstable();
    assert_eq!(got, want_failed, "{}", explain(&report));
    let o = outcome(&report, evidence_of);
    let text = format!("{} {}", o.got, o.evidence.join(" "));
    assert!(text.contains(evidence), "{o:?}");
    for id in want_passed {
        let o = outcome(&report, id);
        assert_eq!(o.status, Status::Passed, "{o:?}");
    }
}
