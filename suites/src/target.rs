//! What the checks talk to: a deployment described by its endpoints, never by containers.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::Url;

use crate::secret::{Secret, redact_url};

/// Origin the console web is assumed to run at when the deployment does not say
/// (`CONSOLE_WEB_URL` empty means same-origin behind nginx).
pub const DEFAULT_CONSOLE_ORIGIN: &str = "http://console.dify-conformance.test";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TargetError {
    #[error("{what} `{value}` is not a valid URL: {reason}")]
    InvalidUrl {
        what: &'static str,
        value: String,
        reason: String,
    },
    #[error("{what} `{value}` must use {expected}")]
    WrongScheme {
        what: &'static str,
        value: String,
        expected: &'static str,
    },
}

/// A TLS endpoint and what it should present.
#[derive(Clone, Debug)]
pub struct TlsEndpoint {
    /// `host:port` to connect to.
    pub addr: String,
    /// Name sent as SNI and checked against the certificate.
    pub server_name: String,
    /// PEM of the CA certificate(s) to trust.
    pub roots_pem: Vec<u8>,
    /// DER of the leaf certificate the server must present, when the caller made it.
    pub expected_leaf_der: Option<Vec<u8>>,
}

/// The Celery broker URL (`redis://:password@host:port/db`); its password never prints.
#[derive(Clone, PartialEq, Eq)]
pub struct BrokerUrl(Secret);

impl BrokerUrl {
    pub fn parse(value: &str) -> Result<Self, TargetError> {
        let url = Url::parse(value).map_err(|e| TargetError::InvalidUrl {
            what: "broker URL",
            value: redact_url(value),
            reason: e.to_string(),
        })?;
        if url.scheme() != "redis" && url.scheme() != "rediss" {
            return Err(TargetError::WrongScheme {
                what: "broker URL",
                value: redact_url(value),
                expected: "redis:// or rediss://",
            });
        }
        Ok(Self(Secret::new(value)))
    }

    /// The URL with its password, for the client that connects.
    pub fn expose(&self) -> &str {
        self.0.expose()
    }

    /// The Redis database number (the URL path), 0 when absent.
    pub fn db(&self) -> i64 {
        Url::parse(self.0.expose())
            .ok()
            .and_then(|u| u.path().trim_start_matches('/').parse().ok())
            .unwrap_or(0)
    }
}

impl std::fmt::Debug for BrokerUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&redact_url(self.0.expose()))
    }
}

impl std::fmt::Display for BrokerUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&redact_url(self.0.expose()))
    }
}

/// The deployment's settings as its api sees them (`.env` keys after compose interpolation):
/// CORS lists, console and app URLs, `VECTOR_STORE`, cookie domain. Checks read what they judge
/// against from here; values under secret-looking keys never leave it in an outcome.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Settings(BTreeMap<String, String>);

impl Settings {
    pub fn new(values: BTreeMap<String, String>) -> Self {
        Self(values)
    }

    /// The value of `key`, `None` when the deployment does not set it.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// The value of `key` when set and not empty.
    pub fn non_empty(&self, key: &str) -> Option<&str> {
        self.get(key).filter(|v| !v.trim().is_empty())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The console administrator the checks log in as (set up by `api.setup` on a fresh stack).
#[derive(Clone, Debug)]
pub struct Admin {
    pub email: String,
    pub name: String,
    pub password: Secret,
}

/// What a check may observe beyond HTTP, supplied by whoever knows where the deployment runs
/// (the harness, for stacks it started). Futures are boxed so the trait stays object safe.
pub trait Inspector: Send + Sync + std::fmt::Debug {
    /// Where the uploaded file `file_id`, whose content holds `word`, landed in the deployment's
    /// storage (a path or bucket key per line), or why that cannot be seen. Dify keys a stored
    /// file by a uuid of its own, not the upload's id, hence the word.
    fn locate_upload<'a>(
        &'a self,
        file_id: &'a str,
        word: &'a str,
    ) -> BoxFuture<'a, Result<Vec<String>, String>>;

    /// Speaks the configured vector store's own protocol from the api's networks with the
    /// api's settings; `Ok` lines say what answered, `Err` why it did not.
    fn probe_vector_store(&self) -> BoxFuture<'_, Result<Vec<String>, String>>;
}

/// A boxed future, as [`Inspector`] returns.
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// How many messages may wait in one queue once the flows finish, unless the caller says
/// otherwise ([`Target::with_backlog_limit`]). A drained deployment holds none; ten leaves room
/// for beat's once-a-minute schedules (on by default in Dify) queued behind a busy worker that
/// runs one task at a time (`-c 1`, prefetch 1), and is passed within ten minutes by a queue no
/// worker drains (one message per beat tick).
pub const DEFAULT_BACKLOG_LIMIT: u64 = 10;

/// The queues a Dify release's api publishes to and its worker must consume, from the release
/// facts (`matrices/releases/*.toml`); Dify's entrypoint swaps `workflow` for three queues when
/// `EDITION=CLOUD`, hence two lists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpectedQueues {
    /// The release line, e.g. `1.13`.
    pub release: String,
    /// The self-hosted edition's list (Dify's default, `EDITION=SELF_HOSTED`).
    pub self_hosted: Vec<String>,
    /// The list under `EDITION=CLOUD`.
    pub cloud: Vec<String>,
    /// Where the lists come from, for the evidence (file, Dify source and commit).
    pub source: String,
}

impl ExpectedQueues {
    /// The list for the deployment's `EDITION` (`CLOUD`, else self-hosted, Dify's default).
    pub fn for_edition(&self, edition: Option<&str>) -> &[String] {
        match edition.map(str::trim) {
            Some("CLOUD") => &self.cloud,
            _ => &self.self_hosted,
        }
    }
}

/// A Dify deployment as the checks see it.
#[derive(Clone, Debug)]
pub struct Target {
    base_url: Url,
    console_origin: String,
    tls: Option<TlsEndpoint>,
    broker: Option<BrokerUrl>,
    request_timeout: Duration,
    settings: Settings,
    certbot_leaf_der: Option<Vec<u8>>,
    artifacts_dir: Option<std::path::PathBuf>,
    writes: bool,
    fresh: bool,
    admin: Option<Admin>,
    index_timeout: Duration,
    inspector: Option<std::sync::Arc<dyn Inspector>>,
    expected_queues: Option<ExpectedQueues>,
    backlog_limit: u64,
    /// Set by [`Target::over_tls`]: the HTTP client trusts these roots and dials this address.
    https_via: Option<TlsEndpoint>,
}

impl Target {
    /// A target whose nginx answers at `base_url` (e.g. `http://127.0.0.1:8080`).
    pub fn new(base_url: &str) -> Result<Self, TargetError> {
        let url = Url::parse(base_url).map_err(|e| TargetError::InvalidUrl {
            what: "base URL",
            value: redact_url(base_url),
            reason: e.to_string(),
        })?;
        if url.scheme() != "http" && url.scheme() != "https" {
            return Err(TargetError::WrongScheme {
                what: "base URL",
                value: redact_url(base_url),
                expected: "http:// or https://",
            });
        }
        if url.host_str().is_none() {
            return Err(TargetError::InvalidUrl {
                what: "base URL",
                value: base_url.to_string(),
                reason: "it has no host".into(),
            });
        }
        Ok(Self {
            base_url: url,
            console_origin: DEFAULT_CONSOLE_ORIGIN.to_string(),
            tls: None,
            broker: None,
            request_timeout: Duration::from_secs(15),
            settings: Settings::default(),
            certbot_leaf_der: None,
            artifacts_dir: None,
            writes: false,
            fresh: false,
            admin: None,
            index_timeout: Duration::from_secs(120),
            inspector: None,
            expected_queues: None,
            backlog_limit: DEFAULT_BACKLOG_LIMIT,
            https_via: None,
        })
    }

    /// The same deployment reached through its TLS endpoint: base URL
    /// `https://<server name>:<port>`, requests dialled to the endpoint's address, the
    /// certificate verified against its roots (the system's when it names none). How a check
    /// sees what a browser on HTTPS sees, e.g. the cookies login sets.
    pub fn over_tls(&self, tls: &TlsEndpoint) -> Result<Self, TargetError> {
        let port =
            tls.addr
                .rsplit_once(':')
                .map(|(_, p)| p)
                .ok_or_else(|| TargetError::InvalidUrl {
                    what: "TLS endpoint",
                    value: tls.addr.clone(),
                    reason: "it has no port".into(),
                })?;
        let host = if tls.server_name.contains(':') {
            format!("[{}]", tls.server_name)
        } else {
            tls.server_name.clone()
        };
        let mut https = self.clone();
        https.base_url = Url::parse(&format!("https://{host}:{port}/")).map_err(|e| {
            TargetError::InvalidUrl {
                what: "TLS endpoint",
                value: tls.addr.clone(),
                reason: e.to_string(),
            }
        })?;
        https.https_via = Some(tls.clone());
        Ok(https)
    }

    /// The endpoint [`Target::over_tls`] chose, for the HTTP client.
    pub(crate) fn https_via(&self) -> Option<&TlsEndpoint> {
        self.https_via.as_ref()
    }

    /// The origin the console web runs at; console API CORS must allow it.
    pub fn with_console_origin(mut self, origin: impl Into<String>) -> Self {
        self.console_origin = origin.into();
        self
    }

    pub fn with_tls(mut self, tls: TlsEndpoint) -> Self {
        self.tls = Some(tls);
        self
    }

    pub fn with_broker(mut self, broker: BrokerUrl) -> Self {
        self.broker = Some(broker);
        self
    }

    /// What the deployment is configured with (empty when unknown, e.g. `check` without
    /// `--env-file`: checks then judge only what needs no setting).
    pub fn with_settings(mut self, settings: Settings) -> Self {
        self.settings = settings;
        self
    }

    /// The certificate the operator put under certbot's live directory for `CERTBOT_DOMAIN`
    /// (DER): nginx must serve this one rather than the one in `nginx/ssl`.
    pub fn with_certbot_leaf(mut self, der: Vec<u8>) -> Self {
        self.certbot_leaf_der = Some(der);
        self
    }

    /// Where checks keep files a report links to (the browser's screenshot).
    pub fn with_artifacts_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.artifacts_dir = Some(dir.into());
        self
    }

    pub fn certbot_leaf_der(&self) -> Option<&[u8]> {
        self.certbot_leaf_der.as_deref()
    }

    pub fn artifacts_dir(&self) -> Option<&std::path::Path> {
        self.artifacts_dir.as_deref()
    }

    /// Let checks that write (setup, uploads, datasets, keys) run; they clean up after
    /// themselves. Off by default: a deployment somebody runs is only read.
    pub fn with_writes(mut self, allowed: bool) -> Self {
        self.writes = allowed;
        self
    }

    /// The stack was started empty for this run (so it must not be set up yet).
    pub fn with_fresh_stack(mut self, fresh: bool) -> Self {
        self.fresh = fresh;
        self
    }

    pub fn is_fresh(&self) -> bool {
        self.fresh
    }

    pub fn with_admin(mut self, admin: Admin) -> Self {
        self.admin = Some(admin);
        self
    }

    /// How long a document may take to reach `completed`.
    pub fn with_index_timeout(mut self, timeout: Duration) -> Self {
        self.index_timeout = timeout;
        self
    }

    pub fn with_inspector(mut self, inspector: std::sync::Arc<dyn Inspector>) -> Self {
        self.inspector = Some(inspector);
        self
    }

    pub fn writes_allowed(&self) -> bool {
        self.writes
    }

    pub fn admin(&self) -> Option<&Admin> {
        self.admin.as_ref()
    }

    pub fn index_timeout(&self) -> Duration {
        self.index_timeout
    }

    pub fn inspector(&self) -> Option<&dyn Inspector> {
        self.inspector.as_deref()
    }

    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// The queues the deployment's release publishes to (none when the release is unknown:
    /// `celery.queues` then judges only the indexing queues).
    pub fn with_expected_queues(mut self, queues: ExpectedQueues) -> Self {
        self.expected_queues = Some(queues);
        self
    }

    /// How many waiting messages one queue may hold once the flows finish
    /// (default [`DEFAULT_BACKLOG_LIMIT`]).
    pub fn with_backlog_limit(mut self, limit: u64) -> Self {
        self.backlog_limit = limit;
        self
    }

    /// `path` (starting with `/`) joined onto the base URL, keeping any base path prefix.
    pub fn url(&self, path: &str) -> String {
        let base = self.base_url.as_str().trim_end_matches('/');
        format!("{base}{path}")
    }

    pub fn base_url(&self) -> &Url {
        &self.base_url
    }

    pub fn console_origin(&self) -> &str {
        &self.console_origin
    }

    pub fn tls(&self) -> Option<&TlsEndpoint> {
        self.tls.as_ref()
    }

    pub fn broker(&self) -> Option<&BrokerUrl> {
        self.broker.as_ref()
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    pub fn expected_queues(&self) -> Option<&ExpectedQueues> {
        self.expected_queues.as_ref()
    }

    pub fn backlog_limit(&self) -> u64 {
        self.backlog_limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_paths_onto_base() {
        let t = Target::new("http://127.0.0.1:8080/").unwrap();
        assert_eq!(
            t.url("/console/api/setup"),
            "http://127.0.0.1:8080/console/api/setup"
        );
        let t = Target::new("https://dify.example/prefix").unwrap();
        assert_eq!(t.url("/v1/"), "https://dify.example/prefix/v1/");
    }

    #[test]
    fn rejects_bad_base_urls() {
        assert!(matches!(
            Target::new("localhost:80"),
            Err(TargetError::WrongScheme { .. }) | Err(TargetError::InvalidUrl { .. })
        ));
        assert!(matches!(
            Target::new("ftp://x"),
            Err(TargetError::WrongScheme { .. })
        ));
        assert!(matches!(
            Target::new("not a url"),
            Err(TargetError::InvalidUrl { .. })
        ));
    }

    #[test]
    fn broker_url_hides_password_and_reads_db() {
        let b = BrokerUrl::parse("redis://:difyai123456@127.0.0.1:6379/1").unwrap();
        assert_eq!(b.db(), 1);
        assert_eq!(b.to_string(), "redis://:***@127.0.0.1:6379/1");
        assert_eq!(format!("{b:?}"), "redis://:***@127.0.0.1:6379/1");
        let err = BrokerUrl::parse("amqp://guest:secret@rabbit//").unwrap_err();
        assert!(!err.to_string().contains("secret"), "{err}");
    }
}
