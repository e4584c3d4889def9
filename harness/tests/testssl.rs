//! The ssl suite next to testssl.sh (Debian's package) on the stand-in's TLS cells: the default
//! HTTPS cell, the certbot cell, and the known-bad legacy, expired and wrong-host cells. While
//! each stack is up, testssl.sh scans the same nginx endpoint; both must agree on the protocols
//! offered, expiry, hostname and chain. The side-by-side rows are printed (and kept under
//! nextest's target tmpdir) for the record.
//!
//! The known-bad missing-certificate cell has no TLS endpoint to compare (nginx never starts; see
//! `conformance.rs`).

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};

use harness::deployment::bundled;
use harness::report::CellStatus;
use harness::report::CheckResult;
use harness::runner::{LiveCell, WhileUp};
use rstest::rstest;
use suites::{Status, Suite};

/// What testssl.sh said, reduced to the four questions both tools answer.
#[derive(Debug, Default, Clone)]
struct Scan {
    /// Versions offered, in the ssl suite's names (`TLSv1` .. `TLSv1.3`).
    protocols: Vec<String>,
    /// `cert_expirationStatus`, e.g. `>= 60 days` or `expired`.
    expiry: String,
    /// `cert_trust`, e.g. `Ok via SAN` or `certificate does not match supplied URI`.
    hostname: String,
    /// `cert_chain_of_trust`, e.g. `passed.` or `failed (chain incomplete).`.
    chain: String,
}

fn testssl_scan(live: &LiveCell, dir: &Path) -> Result<Scan, String> {
    let tls = live.tls.as_ref().ok_or("the cell serves no HTTPS")?;
    let port = tls.addr.rsplit_once(':').map(|(_, p)| p).unwrap_or("443");
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, &tls.roots_pem).map_err(|e| e.to_string())?;
    let json = dir.join("testssl.json");
    let _ = std::fs::remove_file(&json);
    // The name the certificate is for, dialled at the published port: the same question the
    // ssl suite asks (server name `localhost`, address 127.0.0.1).
    let out = Command::new("testssl")
        .args([
            "--quiet",
            "--color",
            "0",
            "--warnings",
            "off",
            "--fast",
            "-p",
            "-S",
        ])
        .arg("--ip")
        .arg("127.0.0.1")
        .arg("--add-ca")
        .arg(&ca)
        .arg("--jsonfile")
        .arg(&json)
        .arg(format!("https://{}:{port}", tls.server_name))
        .output()
        .map_err(|e| format!("running testssl: {e}"))?;
    let text = std::fs::read_to_string(&json).map_err(|e| {
        format!(
            "testssl wrote no JSON ({e}); its output:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    // A run cut short leaves the array open.
    let items: Vec<serde_json::Value> = serde_json::from_str(text.trim())
        .or_else(|_| serde_json::from_str(&format!("{}]", text.trim().trim_end_matches(','))))
        .map_err(|e| format!("testssl's JSON: {e}"))?;
    let finding: BTreeMap<String, String> = items
        .iter()
        .filter_map(|i| {
            Some((
                i.get("id")?.as_str()?.to_string(),
                i.get("finding")?.as_str()?.to_string(),
            ))
        })
        .collect();
    let protocols = [
        ("TLS1", "TLSv1"),
        ("TLS1_1", "TLSv1.1"),
        ("TLS1_2", "TLSv1.2"),
        ("TLS1_3", "TLSv1.3"),
    ]
    .iter()
    .filter(|(id, _)| finding.get(*id).is_some_and(|f| f.starts_with("offered")))
    .map(|(_, name)| name.to_string())
    .collect();
    let get = |id: &str| finding.get(id).cloned().unwrap_or_else(|| "?".into());
    Ok(Scan {
        protocols,
        expiry: get("cert_expirationStatus"),
        hostname: get("cert_trust"),
        chain: get("cert_chain_of_trust"),
    })
}

fn outcome<'a>(outcomes: &'a [CheckResult], id: &str) -> &'a CheckResult {
    outcomes
        .iter()
        .find(|o| o.id == id)
        .unwrap_or_else(|| panic!("no {id} outcome"))
}

/// The versions `ssl.protocols` saw accepted, from its `accepted` fact.
fn accepted(o: &CheckResult) -> Vec<String> {
    o.facts
        .get("accepted")
        .map(|a| {
            a.split([' ', ','])
                .filter(|v| v.starts_with("TLSv"))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn verdict(o: &CheckResult) -> String {
    let got: String = o.got.chars().take(70).collect();
    format!("{} ({got})", o.status)
}

#[rstest]
#[case::default("matrices/smoke.toml")]
#[case::certbot("fixtures/matrices/https-certbot.toml")]
#[case::legacy("fixtures/matrices/broken-tls-legacy.toml")]
#[case::expired("fixtures/matrices/broken-tls-expired.toml")]
#[case::wrong_host("fixtures/matrices/broken-tls-wrong-host.toml")]
#[tokio::test(flavor = "multi_thread")]
async fn the_ssl_suite_agrees_with_testssl(#[case] matrix: &str) {
    let Some(engine) = common::engine_or_skip(matrix).await else {
        return;
    };
    if Command::new("testssl").arg("--version").output().is_err() {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "CI=true and testssl is missing; ci/setup installs it"
        );
        eprintln!("{matrix}: skipped, testssl is not installed (ci/setup installs it)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let scans: Arc<Mutex<Vec<Result<Scan, String>>>> = Arc::default();
    let hook = {
        let scans = scans.clone();
        let dir = dir.path().to_path_buf();
        WhileUp(Arc::new(move |live: LiveCell| {
            let scans = scans.clone();
            let dir = dir.clone();
            Box::pin(async move {
                let scan = tokio::task::spawn_blocking(move || testssl_scan(&live, &dir))
                    .await
                    .unwrap_or_else(|e| Err(e.to_string()));
                scans.lock().unwrap().push(scan);
            })
        }))
    };
    let report = common::run_cell(
        &engine,
        &bundled::root().join(matrix),
        "pgvector.opendal",
        vec![Suite::Ssl],
        Some(hook),
    )
    .await;
    assert_ne!(
        report.status,
        CellStatus::Error,
        "{matrix}: {:?}",
        report.reason
    );
    let scan = scans
        .lock()
        .unwrap()
        .pop()
        .expect("the stack was up: testssl ran")
        .unwrap_or_else(|e| panic!("{matrix}: {e}"));
    let checks = &report.checks;
    let (protocols, expiry, hostname, chain) = (
        outcome(checks, "ssl.protocols"),
        outcome(checks, "ssl.expiry"),
        outcome(checks, "ssl.hostname"),
        outcome(checks, "ssl.chain"),
    );
    let row = format!(
        "| {matrix} | {} | {} | {} | {} | {} | {} | {} | {} |",
        scan.protocols.join(" "),
        accepted(protocols).join(" "),
        scan.expiry,
        verdict(expiry),
        scan.hostname,
        verdict(hostname),
        scan.chain,
        verdict(chain),
    );
    eprintln!(
        "| matrix | testssl: offered | ssl.protocols: accepted | testssl: expiry | ssl.expiry | testssl: trust | ssl.hostname | testssl: chain | ssl.chain |\n|---|---|---|---|---|---|---|---|---|\n{row}"
    );
    let kept = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("testssl-{}.md", matrix.replace(['/', '.'], "-")));
    let _ = std::fs::write(kept, format!("{row}\n"));

    assert_eq!(accepted(protocols), scan.protocols, "protocols: {row}");
    assert_eq!(
        scan.expiry.contains("expired"),
        expiry.status == Status::Failed && expiry.got.contains("expired"),
        "expiry: {row}"
    );
    assert_eq!(
        scan.hostname.starts_with("Ok"),
        hostname.status == Status::Passed,
        "hostname: {row}"
    );
    // testssl's chain of trust also fails an expired leaf; the ssl suite judges expiry on
    // its own (ssl.expiry) and the chain by who signed what.
    let testssl_chain_ok = scan.chain.starts_with("passed")
        || (scan.chain.contains("expired") && expiry.status == Status::Failed);
    assert_eq!(
        testssl_chain_ok,
        chain.status == Status::Passed,
        "chain: {row}"
    );
}
