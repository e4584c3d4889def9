//! Keeps secrets out of reports, logs and errors: the value of every secret `.env` key and every
//! URL password is replaced by `***` before text leaves the harness.
//!
//! Evidence must stay true, so only real secrets are masked. Dify's `.env.example` has
//! secret-looking keys whose values are not secrets (`WEAVIATE_AUTHENTICATION_APIKEY_ENABLED=true`,
//! `TIDB_PUBLIC_KEY=dify`, `NGINX_SSL_CERT_KEY_FILENAME=dify.key`, research §13); masking those
//! everywhere turned `Access-Control-Allow-Credentials: true` into `***`. So a value is a secret
//! only when its key names a secret (as a whole word, not `KEYWORD_...`), it is long enough and
//! not a flag or number, and no non-secret key has the same value; and it is masked only as a
//! whole token, never inside a longer word.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

/// Words of a key name (split on `_`) that mark its value as a secret.
const SECRET_WORDS: &[&str] = &[
    "PASSWORD",
    "PASSWD",
    "PWD",
    "SECRET",
    "KEY",
    "KEYS",
    "APIKEY",
    "TOKEN",
    "TOKENS",
    "CREDENTIAL",
    "CREDENTIALS",
    "DSN",
];
/// Words that make a secret-looking key name something else: a file name, a switch, a length.
const NOT_SECRET_WORDS: &[&str] = &[
    "FILENAME", "FILE", "PATH", "DIR", "ENABLED", "ENABLE", "TYPE", "PREFIX", "EXPIRE", "MINUTES",
    "DAYS", "HOURS", "SECONDS", "LENGTH", "SIZE", "PUBLIC", "HEADER", "MODE", "VERSION",
];
/// Shorter values are too likely to be ordinary words of evidence ("admin", "dify").
const MIN_LEN: usize = 6;
/// What the masked value reads as.
pub const MASK: &str = "***";

#[derive(Clone, Debug, Default)]
pub struct Redactor {
    /// Longest first, so a secret containing another is masked whole.
    secrets: Vec<String>,
}

/// Whether a key's value is a secret, judged from the key name alone.
pub fn is_secret_key(key: &str) -> bool {
    let upper = key.to_ascii_uppercase();
    let words: Vec<&str> = upper.split(['_', '-', '.']).collect();
    words.iter().any(|w| SECRET_WORDS.contains(w))
        && !words.iter().any(|w| NOT_SECRET_WORDS.contains(w))
}

/// Values that are flags, numbers or too short to be anyone's secret.
fn could_be_secret(value: &str) -> bool {
    let v = value.trim();
    let lower = v.to_ascii_lowercase();
    v.chars().count() >= MIN_LEN
        && !matches!(
            lower.as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off" | "none" | "null"
        )
        && !v.chars().all(|c| c.is_ascii_digit() || c == '.')
        && !v.contains("://")
}

impl Redactor {
    /// Collects the secrets of an environment: values of secret keys and passwords in URLs.
    pub fn from_env<'a>(env: impl IntoIterator<Item = (&'a String, &'a String)>) -> Self {
        let env: Vec<(&String, &String)> = env.into_iter().collect();
        // A value that some non-secret key also has is public (e.g. a user name that doubles
        // as a default password): masking it would falsify ordinary evidence.
        let public: BTreeSet<&str> = env
            .iter()
            .filter(|(k, _)| !is_secret_key(k))
            .map(|(_, v)| v.trim())
            .collect();
        let mut secrets = BTreeSet::new();
        for (key, value) in &env {
            if is_secret_key(key) && could_be_secret(value) && !public.contains(value.trim()) {
                secrets.insert(value.trim().to_string());
            }
            for url in urls_in(value) {
                secrets.extend(url.password);
                // A DSN under a secret key may carry its secret as the user (Sentry's key).
                if is_secret_key(key)
                    && let Some(user) = url.user.filter(|u| could_be_secret(u))
                {
                    secrets.insert(user);
                }
            }
        }
        Self::with_secrets(secrets)
    }

    /// A redactor for these exact values (e.g. credentials the harness generated itself).
    pub fn with_secrets(secrets: impl IntoIterator<Item = String>) -> Self {
        let mut secrets: Vec<String> = secrets.into_iter().filter(|s| !s.is_empty()).collect();
        secrets.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        secrets.dedup();
        Self { secrets }
    }

    /// This redactor plus the secrets of `other`.
    pub fn merged(&self, other: &Redactor) -> Self {
        Self::with_secrets(self.secrets.iter().chain(&other.secrets).cloned())
    }

    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = replace_whole(&out, s);
            }
        }
        out
    }

    pub fn redact_map(&self, map: &mut BTreeMap<String, Vec<String>>) {
        for lines in map.values_mut() {
            for line in lines.iter_mut() {
                *line = self.redact(line);
            }
        }
    }

    /// How many distinct secrets it masks (for tests and `plan --explain`).
    pub fn len(&self) -> usize {
        self.secrets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }
}

/// Replaces each occurrence of `secret` that is not part of a longer word.
fn replace_whole(text: &str, secret: &str) -> String {
    let is_word = |c: char| c.is_ascii_alphanumeric();
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(secret) {
        let before = rest[..at].chars().next_back();
        let after = rest[at + secret.len()..].chars().next();
        let starts_inside = secret.starts_with(is_word) && before.is_some_and(is_word);
        let ends_inside = secret.ends_with(is_word) && after.is_some_and(is_word);
        out.push_str(&rest[..at]);
        if starts_inside || ends_inside {
            out.push_str(secret);
        } else {
            out.push_str(MASK);
        }
        rest = &rest[at + secret.len()..];
    }
    out.push_str(rest);
    out
}

/// The user info of a URL found in a value.
#[derive(Debug, PartialEq)]
struct UserInfo {
    user: Option<String>,
    /// As written and, when it is percent-encoded, decoded too (logs may show either).
    password: Vec<String>,
}

/// The user info of every URL in `value` (a list such as `a://x:p@h,b://y:q@k` has several).
fn urls_in(value: &str) -> Vec<UserInfo> {
    let mut out = Vec::new();
    let mut rest = value;
    while let Some(at) = rest.find("://") {
        rest = &rest[at + 3..];
        let end = rest
            .find(['/', '?', '#', ',', ' ', '"', '\''])
            .unwrap_or(rest.len());
        let authority = &rest[..end];
        let Some(at_sign) = authority.rfind('@') else {
            continue;
        };
        let userinfo = &authority[..at_sign];
        let (user, pw) = match userinfo.split_once(':') {
            Some((u, p)) => (u, Some(p)),
            None => (userinfo, None),
        };
        let mut password = Vec::new();
        if let Some(pw) = pw.filter(|p| !p.is_empty()) {
            password.push(pw.to_string());
            let decoded = percent_decode(pw);
            if decoded != pw {
                password.push(decoded);
            }
        }
        out.push(UserInfo {
            user: (!user.is_empty()).then(|| user.to_string()),
            password,
        });
    }
    out
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Every secret this process has learnt (each cell's `.env`, the credentials it generated, the
/// matrix's values): the last line of defence for what leaves at the edges (errors, progress),
/// where the text was not built from one cell's redacted report.
static KNOWN: Mutex<Option<Redactor>> = Mutex::new(None);

/// Adds `r`'s secrets to those [`redact_known`] masks.
pub fn remember(r: &Redactor) {
    if r.is_empty() {
        return;
    }
    let mut known = KNOWN.lock().unwrap_or_else(|p| p.into_inner());
    *known = Some(match known.as_ref() {
        Some(k) => k.merged(r),
        None => r.clone(),
    });
}

/// `text` with every secret this process has learnt masked.
pub fn redact_known(text: &str) -> String {
    match KNOWN.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
        Some(r) => r.redact(text),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn redactor(pairs: &[(&str, &str)]) -> Redactor {
        let env: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Redactor::from_env(&env)
    }

    #[test]
    fn masks_secret_keys_and_url_passwords() {
        let r = redactor(&[
            ("DB_PASSWORD", "difyai123456"),
            ("SECRET_KEY", "sk-9f8e7d"),
            ("CELERY_BROKER_URL", "redis://:brokerpw@redis:6379/1"),
            ("VECTOR_STORE", "pgvector"),
            ("API_KEY", "no"),
        ]);
        assert_eq!(
            r.redact("auth difyai123456 / sk-9f8e7d / redis://:brokerpw@redis on pgvector: no"),
            "auth *** / *** / redis://:***@redis on pgvector: no"
        );
    }

    /// The values Dify 1.13.3's `.env.example` keeps under secret-looking keys that are not
    /// secrets (research §13), and evidence that must survive them unchanged.
    #[test]
    fn leaves_difys_non_secret_values_alone() {
        let r = redactor(&[
            ("WEAVIATE_AUTHENTICATION_APIKEY_ENABLED", "true"),
            ("TIDB_PUBLIC_KEY", "dify"),
            ("NGINX_SSL_CERT_KEY_FILENAME", "dify.key"),
            ("ACCESS_TOKEN_EXPIRE_MINUTES", "60"),
            ("KEYWORD_DATA_SOURCE_TYPE", "database"),
            ("OPENSEARCH_PASSWORD", "admin"),
            ("INIT_PASSWORD", ""),
            ("MILVUS_USER", "root"),
            ("ORACLE_USER", "dify_user"),
            ("ORACLE_PASSWORD", "dify_user"),
        ]);
        assert!(r.is_empty(), "{r:?}");
        let evidence = "Access-Control-Allow-Credentials: true\n\
                        Access-Control-Allow-Origin: http://console.dify-conformance.test\n\
                        ssl_certificate /etc/ssl/dify.key; keyword table in database; admin@x";
        assert_eq!(r.redact(evidence), evidence);
    }

    #[rstest]
    #[case::whole("pw difyai123456.", "pw ***.")]
    #[case::in_url("redis://:difyai123456@redis", "redis://:***@redis")]
    #[case::json("{\"password\":\"difyai123456\"}", "{\"password\":\"***\"}")]
    #[case::inside_a_longer_word("xdifyai123456 difyai1234567", "xdifyai123456 difyai1234567")]
    #[case::twice("difyai123456 difyai123456", "*** ***")]
    fn masks_whole_values_only(#[case] text: &str, #[case] want: &str) {
        let r = redactor(&[("DB_PASSWORD", "difyai123456")]);
        assert_eq!(r.redact(text), want);
    }

    #[rstest]
    #[case("SECRET_KEY", true)]
    #[case("REDIS_PASSWORD", true)]
    #[case("WEAVIATE_API_KEY", true)]
    #[case("WEAVIATE_AUTHENTICATION_APIKEY_ALLOWED_KEYS", true)]
    #[case("SENTRY_DSN", true)]
    #[case("AZURE_BLOB_ACCOUNT_KEY", true)]
    #[case("KEYWORD_DATA_SOURCE_TYPE", false)]
    #[case("NGINX_SSL_CERT_KEY_FILENAME", false)]
    #[case("ACCESS_TOKEN_EXPIRE_MINUTES", false)]
    #[case("TIDB_PUBLIC_KEY", false)]
    #[case("VECTOR_STORE", false)]
    fn names_secret_keys(#[case] key: &str, #[case] secret: bool) {
        assert_eq!(is_secret_key(key), secret, "{key}");
    }

    #[test]
    fn masks_every_url_password_dsn_keys_and_encoded_passwords() {
        let r = redactor(&[
            (
                "SQLALCHEMY_DATABASE_URI",
                "postgresql://dify:pg%40secret9@db:5432/dify",
            ),
            (
                "CELERY_SENTINELS",
                "redis://:first-pw1@s1:26379,redis://:second-pw2@s2:26379",
            ),
            ("SENTRY_DSN", "https://a1b2c3d4e5f6@o1.ingest.sentry.io/5"),
            ("APP_URL", "https://user@example.test/"),
        ]);
        assert_eq!(
            r.redact(
                "pg%40secret9 pg@secret9 first-pw1 second-pw2 https://a1b2c3d4e5f6@o1 user@example"
            ),
            "*** *** *** *** https://***@o1 user@example"
        );
    }

    #[test]
    fn known_secrets_are_masked_at_the_edges() {
        remember(&Redactor::with_secrets(["edge-secret-4711".to_string()]));
        assert_eq!(
            redact_known("error near edge-secret-4711"),
            "error near ***"
        );
    }

    #[test]
    fn the_longer_of_two_overlapping_secrets_is_masked_whole() {
        let r = Redactor::with_secrets(["abcdef12".to_string(), "abcdef12345678".to_string()]);
        assert_eq!(r.redact("x abcdef12345678 y abcdef12"), "x *** y ***");
    }
}
