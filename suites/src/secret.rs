//! Secrets that must never reach a report, a log line or an error message.

use std::fmt;

/// A value that is shown as `***` by `Debug` and `Display`; read it with [`Secret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The real value, for the one place that has to send it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// A URL with its password (and a user that looks like a token) replaced by `***`.
///
/// Works on text that does not parse as a URL too: anything between `://` and the last `@`
/// of the authority is masked.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            let masked = match userinfo.split_once(':') {
                Some((user, _)) => format!("{user}:***"),
                None => "***".to_string(),
            };
            format!(
                "{}://{}@{}{}",
                &url[..scheme_end],
                masked,
                &authority[at + 1..],
                &rest[authority_end..]
            )
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("redis://:difyai123456@redis:6379/1", "redis://:***@redis:6379/1")]
    #[case("redis://user:pw@h:1/0", "redis://user:***@h:1/0")]
    #[case("redis://token@h", "redis://***@h")]
    #[case(
        "http://127.0.0.1:8080/console/api",
        "http://127.0.0.1:8080/console/api"
    )]
    #[case("not a url", "not a url")]
    #[case("redis://:p@ss@h:1/0", "redis://:***@h:1/0")]
    fn masks_userinfo(#[case] input: &str, #[case] want: &str) {
        assert_eq!(redact_url(input), want);
    }

    #[test]
    fn secret_never_formats_its_value() {
        let s = Secret::new("difyai123456");
        assert_eq!(format!("{s} {s:?}"), "*** ***");
        assert_eq!(s.expose(), "difyai123456");
    }
}
