//! `dify-conformance check`: the suites against a deployment the harness did not start.
//!
//! The target is built from flags and, optionally, the deployment's `.env` (the settings the
//! checks judge against). It is read-only unless `--allow-writes`: checks that would write
//! (setup, uploads, datasets, keys) are skipped with the reason, and with writes allowed they
//! remove what they created. The administrator's password only ever comes from the environment
//! (`DIFY_ADMIN_PASSWORD`), never a flag that would land in shell history or a report.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use suites::{Admin, BrokerUrl, Secret, Settings, Suite, Target, TlsEndpoint};
use tokio::time::Instant;

use crate::envfile::EnvDocument;
use crate::error::{Error, Result};
use crate::interpolate::interpolate;
use crate::redact::Redactor;
use crate::report::{CellReport, Environment, MatrixInfo, Meta, Report, RunInfo, Timings};
use crate::values::{load_releases, release_for_version};

/// The environment variable the administrator's password is read from.
pub const PASSWORD_ENV: &str = "DIFY_ADMIN_PASSWORD";
/// The system's CA bundle (Debian's path), trusted when no `--ca-file` is given.
const SYSTEM_ROOTS: &str = "/etc/ssl/certs/ca-certificates.crt";
/// How long a target may take to accept a TCP connection before it counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// What `check` was asked to do.
#[derive(Clone, Debug, Default)]
pub struct CheckRequest {
    pub base_url: Option<String>,
    pub suites: Vec<Suite>,
    pub env_file: Option<PathBuf>,
    pub broker_url: Option<String>,
    pub console_origin: Option<String>,
    pub allow_writes: bool,
    pub admin_email: Option<String>,
    /// The password, read from [`PASSWORD_ENV`] by the caller.
    pub admin_password: Option<Secret>,
    pub ca_file: Option<PathBuf>,
    pub server_name: Option<String>,
    pub index_timeout: Duration,
    /// Where checks keep files next to the report (the browser's screenshot).
    pub artifacts_dir: Option<PathBuf>,
}

/// Suites that need nothing but the broker.
fn needs_http(suite: Suite) -> bool {
    suite != Suite::Celery
}

/// The deployment's settings from an `.env` file, `${VAR}` references resolved against itself.
pub fn read_settings(path: &Path) -> Result<BTreeMap<String, String>> {
    let doc = EnvDocument::load(path)?;
    let raw = doc.values();
    let lookup = |k: &str| raw.get(k).cloned();
    Ok(raw
        .iter()
        .map(|(k, v)| (k.clone(), interpolate(v, &lookup)))
        .collect())
}

fn bad(message: impl Into<String>) -> Error {
    Error::BadInput(message.into())
}

/// The target the request describes; flags are validated here (exit 2 on bad ones).
pub async fn target(req: &CheckRequest) -> Result<(Target, Redactor, BTreeMap<String, String>)> {
    let suites = if req.suites.is_empty() {
        Suite::ALL.to_vec()
    } else {
        req.suites.clone()
    };
    if req.admin_email.is_some() != req.admin_password.is_some() {
        return Err(bad(format!(
            "--admin-email and the password in {PASSWORD_ENV} go together (one is missing)"
        )));
    }
    if let Some(email) = &req.admin_email
        && !email.contains('@')
    {
        return Err(bad(format!(
            "--admin-email `{email}` is not an email address"
        )));
    }
    let settings = match &req.env_file {
        Some(path) => read_settings(path)?,
        None => BTreeMap::new(),
    };
    let base = match (&req.base_url, suites.iter().any(|s| needs_http(*s))) {
        (Some(url), _) => url.clone(),
        (None, true) => {
            let names: Vec<&str> = suites
                .iter()
                .filter(|s| needs_http(**s))
                .map(|s| s.name())
                .collect();
            return Err(bad(format!(
                "--base-url is required for the {} suite(s) (only `--suite celery` runs on the broker alone)",
                names.join(", ")
            )));
        }
        // Celery only: the HTTP checks are not run; this URL is never contacted.
        (None, false) => "http://base-url-not-given.invalid".to_string(),
    };
    let mut target = Target::new(&base).map_err(|e| bad(format!("--base-url: {e}")))?;
    if req.base_url.is_some() {
        let url = target.base_url().clone();
        reachable(&url).await?;
    }

    let origin = req.console_origin.clone().or_else(|| {
        settings
            .get("CONSOLE_WEB_URL")
            .filter(|v| !v.is_empty())
            .and_then(|v| url::Url::parse(v).ok())
            .map(|u| u.origin().ascii_serialization())
    });
    if let Some(origin) = origin {
        let parsed = url::Url::parse(&origin)
            .map_err(|e| bad(format!("--console-origin `{origin}` is not a URL: {e}")))?;
        target = target.with_console_origin(parsed.origin().ascii_serialization());
    }

    let broker = match (&req.broker_url, settings.get("CELERY_BROKER_URL")) {
        (Some(url), _) => {
            let b = BrokerUrl::parse(url).map_err(|e| bad(format!("--broker-url: {e}")))?;
            let parsed = url::Url::parse(b.expose()).map_err(|e| bad(e.to_string()))?;
            reachable(&parsed).await?;
            Some(b)
        }
        // The .env's broker is usually a name inside the compose network; use it only when it
        // resolves and answers from here.
        (None, Some(url)) => match BrokerUrl::parse(url) {
            Ok(b) => {
                let parsed = url::Url::parse(b.expose()).ok();
                match parsed {
                    Some(p) if reachable(&p).await.is_ok() => Some(b),
                    _ => None,
                }
            }
            Err(_) => None,
        },
        (None, None) => None,
    };
    if suites.contains(&Suite::Celery)
        && broker.is_none()
        && req.broker_url.is_none()
        && req.base_url.is_none()
    {
        return Err(bad(
            "--suite celery needs --broker-url (or an --env-file whose CELERY_BROKER_URL answers from here)",
        ));
    }
    if let Some(b) = &broker {
        target = target.with_broker(b.clone());
        // The queues to expect come from the release the api says it is (X-Version).
        if req.base_url.is_some()
            && let Some(version) = reported_version(&target).await
            && let Ok(releases) = load_releases(&crate::deployment::bundled::releases())
            && let Some(release) = release_for_version(&version, &releases)
        {
            target = target.with_expected_queues(release.expected_queues());
        }
    }

    if target.base_url().scheme() == "https" {
        let url = target.base_url().clone();
        let host = url.host_str().unwrap_or_default().to_string();
        let port = url.port_or_known_default().unwrap_or(443);
        let roots_path = req
            .ca_file
            .clone()
            .unwrap_or_else(|| PathBuf::from(SYSTEM_ROOTS));
        let roots_pem = std::fs::read(&roots_path).map_err(|e| Error::Read {
            what: "CA file",
            path: roots_path.clone(),
            source: e,
        })?;
        let tls = TlsEndpoint {
            addr: format!("{host}:{port}"),
            server_name: req.server_name.clone().unwrap_or(host),
            roots_pem,
            expected_leaf_der: None,
        };
        // Every HTTP check goes through the same endpoint, trusting the same roots and
        // naming the same server as the ssl suite (a private CA is not only the ssl suite's).
        target = target
            .with_tls(tls.clone())
            .over_tls(&tls)
            .map_err(|e| bad(e.to_string()))?;
    } else if req.ca_file.is_some() || req.server_name.is_some() {
        return Err(bad(
            "--ca-file and --server-name need an https:// --base-url",
        ));
    }

    let mut secrets: Vec<String> = Vec::new();
    if let (Some(email), Some(password)) = (&req.admin_email, &req.admin_password) {
        if !email.contains('@') {
            return Err(bad(format!(
                "--admin-email `{email}` is not an email address"
            )));
        }
        secrets.push(password.expose().to_string());
        target = target.with_admin(Admin {
            email: email.clone(),
            name: email
                .split('@')
                .next()
                .unwrap_or("admin")
                .chars()
                .take(30)
                .collect(),
            password: password.clone(),
        });
    }
    if let Some(b) = &broker
        && let Some(pw) = url::Url::parse(b.expose())
            .ok()
            .and_then(|u| u.password().map(str::to_owned))
    {
        secrets.push(pw);
    }
    let redactor = Redactor::from_env(&settings).merged(&Redactor::with_secrets(secrets));
    crate::redact::remember(&redactor);
    let target = target
        .with_settings(Settings::new(settings.clone()))
        .with_writes(req.allow_writes)
        .with_index_timeout(req.index_timeout);
    let target = match &req.artifacts_dir {
        Some(dir) => target.with_artifacts_dir(dir),
        None => target,
    };
    Ok((target, redactor, settings))
}

/// The version the api reports in `X-Version` on its setup endpoint (no login needed).
async fn reported_version(target: &Target) -> Option<String> {
    suites::ensure_crypto_provider();
    let http = reqwest::Client::builder()
        .timeout(CONNECT_TIMEOUT)
        .build()
        .ok()?;
    let resp = http
        .get(target.url("/console/api/setup"))
        .send()
        .await
        .ok()?;
    resp.headers()
        .get("x-version")?
        .to_str()
        .ok()
        .map(str::to_owned)
}

/// Fails with an infrastructure error (exit 3) when nothing accepts a TCP connection at `url`.
async fn reachable(url: &url::Url) -> Result<()> {
    let host = url.host_str().unwrap_or_default();
    let port = url.port_or_known_default().unwrap_or(80);
    let shown = suites::redact_url(url.as_str());
    let addr = format!("{host}:{port}");
    match tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(&addr)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(Error::Unreachable {
            target: shown,
            reason: e.to_string(),
        }),
        Err(_) => Err(Error::Unreachable {
            target: shown,
            reason: format!("no TCP answer within {CONNECT_TIMEOUT:?}"),
        }),
    }
}

/// Runs the suites against the request's target and builds the report (one cell, named after
/// the target).
pub async fn run(req: &CheckRequest) -> Result<Report> {
    let (target, redactor, settings) = target(req).await?;
    let suites = if req.suites.is_empty() {
        Suite::ALL.to_vec()
    } else {
        req.suites.clone()
    };
    let started = SystemTime::now();
    let clock = Instant::now();
    let run = suites::run_suites(&target, &suites).await;
    let checks_ms = ms(clock.elapsed());
    let name = match &req.base_url {
        Some(_) => {
            let u = target.base_url();
            format!(
                "{}:{}",
                u.host_str().unwrap_or("?"),
                u.port_or_known_default().unwrap_or(0)
            )
        }
        None => target.broker().map(|b| b.to_string()).unwrap_or_default(),
    };
    let axis = |k: &str| {
        settings
            .get(k)
            .filter(|v| !v.is_empty())
            .cloned()
            .unwrap_or_else(|| "unknown".into())
    };
    let mut cell = CellReport::new(&name, &axis("VECTOR_STORE"), &axis("STORAGE_TYPE"), true);
    cell.record_outcomes(run.outcomes);
    cell.duration_ms = checks_ms;
    cell.timings = Timings {
        checks_ms,
        ..Timings::default()
    };
    cell.teardown_errors = run
        .leftovers
        .iter()
        .map(|l| format!("left by the checks: {l}"))
        .collect();
    crate::runner::redact_report(&mut cell, &redactor);
    let meta = Meta {
        run: RunInfo {
            id: crate::runner::new_run_id(),
            started_at: crate::runner::rfc3339(started),
            finished_at: crate::runner::rfc3339(SystemTime::now()),
            duration_ms: ms(clock.elapsed()),
            shard: None,
            merged_from: Vec::new(),
        },
        environment: Environment {
            engine: "not used (check)".into(),
            compose: "not used (check)".into(),
        },
        deployment: redactor.redact(target.base_url().as_str()),
        matrix: MatrixInfo {
            name: format!("check {name}"),
            path: String::new(),
            cells: vec![name.clone()],
        },
    };
    Ok(Report::new(meta, vec![cell]))
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(base: Option<&str>) -> CheckRequest {
        CheckRequest {
            base_url: base.map(str::to_owned),
            index_timeout: Duration::from_secs(5),
            ..CheckRequest::default()
        }
    }

    #[tokio::test]
    async fn http_suites_need_a_base_url() {
        let err = target(&req(None)).await.unwrap_err();
        assert_eq!(err.exit_code(), crate::error::exit::BAD_INPUT);
        assert!(err.to_string().contains("--base-url is required"), "{err}");
    }

    #[tokio::test]
    async fn an_unreachable_target_is_an_infrastructure_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let err = target(&req(Some(&format!("http://127.0.0.1:{port}"))))
            .await
            .unwrap_err();
        assert_eq!(err.exit_code(), crate::error::exit::INFRASTRUCTURE, "{err}");
    }

    #[tokio::test]
    async fn email_and_password_go_together() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut r = req(Some(&format!("http://127.0.0.1:{port}")));
        r.admin_email = Some("a@b.test".into());
        let err = target(&r).await.unwrap_err();
        assert!(err.to_string().contains(PASSWORD_ENV), "{err}");
    }
}
