//! Keeps secrets out of reports, logs and errors: every value of a secret-looking `.env` key
//! and every URL password is replaced by `***` before text leaves the harness.

use std::collections::BTreeMap;

/// Key name parts that mark a secret.
const SECRET_MARKERS: &[&str] = &["PASSWORD", "SECRET", "KEY", "TOKEN", "CREDENTIAL"];
/// Shorter values are too likely to collide with ordinary text ("true", "1").
const MIN_LEN: usize = 4;

#[derive(Clone, Debug, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    /// Collects the secrets of an environment: secret-looking keys and passwords in URLs.
    pub fn from_env<'a>(env: impl IntoIterator<Item = (&'a String, &'a String)>) -> Self {
        let mut secrets = Vec::new();
        for (key, value) in env {
            let upper = key.to_ascii_uppercase();
            if SECRET_MARKERS.iter().any(|m| upper.contains(m)) && value.len() >= MIN_LEN {
                secrets.push(value.clone());
            }
            if let Some(pw) = url_password(value) {
                secrets.push(pw);
            }
        }
        // Longest first, so a secret containing another is masked whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Self { secrets }
    }

    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), "***");
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
}

fn url_password(value: &str) -> Option<String> {
    let rest = &value[value.find("://")? + 3..];
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let userinfo = &authority[..authority.rfind('@')?];
    let (_, pw) = userinfo.split_once(':')?;
    (pw.len() >= MIN_LEN).then(|| pw.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_secret_keys_and_url_passwords() {
        let env: BTreeMap<String, String> = [
            ("DB_PASSWORD", "difyai123456"),
            ("SECRET_KEY", "sk-9f8e7d"),
            ("CELERY_BROKER_URL", "redis://:brokerpw@redis:6379/1"),
            ("VECTOR_STORE", "pgvector"),
            ("API_KEY", "no"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let r = Redactor::from_env(&env);
        assert_eq!(
            r.redact("auth difyai123456 / sk-9f8e7d / redis://:brokerpw@redis on pgvector: no"),
            "auth *** / *** / redis://:***@redis on pgvector: no"
        );
    }
}
