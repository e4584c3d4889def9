//! Judgements over every blueprint's answers to the origin classes: allowed origins echoed
//! exactly, others refused, credentials where Dify means them, no reflection, `Vary: Origin`,
//! exposed headers, no look-alike bypass.

use super::exchange::Seen;
use super::policy::{Blueprint, Origins};
use crate::outcome::Severity;
use crate::suite::{Check, Suite};

pub(crate) const ALLOWED: Check = Check {
    id: "cors.allowed-origin",
    suite: Suite::Cors,
    severity: Severity::Major,
    title: "an origin the settings allow is echoed exactly in Access-Control-Allow-Origin",
};
pub(crate) const DISALLOWED: Check = Check {
    id: "cors.disallowed-origin",
    suite: Suite::Cors,
    severity: Severity::Major,
    title: "an origin outside an explicit CORS list gets no Access-Control-Allow-Origin",
};
pub(crate) const CREDENTIALS: Check = Check {
    id: "cors.credentials",
    suite: Suite::Cors,
    severity: Severity::Major,
    title: "credentials are allowed on the console and web APIs and nowhere else",
};
pub(crate) const REFLECTION: Check = Check {
    id: "cors.reflection",
    suite: Suite::Cors,
    severity: Severity::Major,
    title: "no API echoes an arbitrary origin together with Access-Control-Allow-Credentials: true",
};
pub(crate) const VARY: Check = Check {
    id: "cors.vary-origin",
    suite: Suite::Cors,
    severity: Severity::Minor,
    title: "a response whose Access-Control-Allow-Origin depends on the origin says Vary: Origin",
};
pub(crate) const EXPOSED: Check = Check {
    id: "cors.exposed-headers",
    suite: Suite::Cors,
    severity: Severity::Minor,
    title: "API responses expose X-Version, X-Env and X-Trace-Id to scripts",
};
pub(crate) const BYPASS: Check = Check {
    id: "cors.origin-bypass",
    suite: Suite::Cors,
    severity: Severity::Major,
    title: "null, look-alike and other-scheme variants of an allowed origin are not allowed",
};

/// The headers every Dify blueprint exposes (research §5).
pub(crate) const EXPOSE: &[&str] = &["x-version", "x-env", "x-trace-id"];

/// `Some(reason)` when an allowed origin is not answered as the blueprint needs.
pub(crate) fn allowed(blueprint: &Blueprint, origin: &str, seen: &Seen) -> Option<String> {
    match seen.acao() {
        Some(o) if o == origin => None,
        Some("*") if !blueprint.credentials => None,
        Some(o) => Some(format!(
            "{}: allowed origin {origin} answered with {o}",
            blueprint.name
        )),
        None => Some(format!(
            "{}: allowed origin {origin} got no Access-Control-Allow-Origin (HTTP {})",
            blueprint.name,
            seen.status
                .map(|s| s.to_string())
                .unwrap_or_else(|| "-".into())
        )),
    }
}

/// `Some(reason)` when an origin that must be refused is allowed anyway.
pub(crate) fn refused(blueprint: &Blueprint, origin: &str, seen: &Seen) -> Option<String> {
    seen.acao().map(|o| {
        format!(
            "{}: {origin} allowed (Access-Control-Allow-Origin: {o}{})",
            blueprint.name,
            if seen.credentials() {
                ", credentials"
            } else {
                ""
            }
        )
    })
}

/// `Some(reason)` when credentials are not as Dify means them for this blueprint.
pub(crate) fn credentials(blueprint: &Blueprint, seen: &Seen) -> Option<String> {
    seen.acao()?;
    match (blueprint.credentials, seen.credentials()) {
        (true, false) => Some(format!(
            "{}: no Access-Control-Allow-Credentials: true",
            blueprint.name
        )),
        (false, true) => Some(format!(
            "{}: Access-Control-Allow-Credentials: true where Dify sets none",
            blueprint.name
        )),
        _ => None,
    }
}

/// `Some(reason)` when a foreign origin is echoed with credentials: any site can then read
/// the API with the user's cookies. flask-cors with `*` and credentials does exactly this.
pub(crate) fn reflection(
    blueprint: &Blueprint,
    policy: &Origins,
    origin: &str,
    seen: &Seen,
) -> Option<String> {
    (seen.acao() == Some(origin) && seen.credentials()).then(|| {
        let why = match (policy, blueprint.origins_key) {
            (Origins::Any, Some(key)) => format!(" ({key} allows `*`)"),
            _ => String::new(),
        };
        format!("{}: {origin} echoed with credentials{why}", blueprint.name)
    })
}

/// `Some(reason)` when ACAO depends on the origin but `Vary` does not say so (caches would
/// serve one origin's answer to another).
pub(crate) fn vary(blueprint: &Blueprint, seen: &Seen) -> Option<String> {
    let acao = seen.acao()?;
    if acao == "*"
        || seen
            .tokens("vary")
            .iter()
            .any(|v| v == "origin" || v == "*")
    {
        return None;
    }
    Some(format!(
        "{}: Access-Control-Allow-Origin: {acao} without Vary: Origin",
        blueprint.name
    ))
}

/// `Some(reason)` when an actual response does not expose Dify's headers.
pub(crate) fn exposed(blueprint: &Blueprint, seen: &Seen) -> Option<String> {
    seen.acao()?;
    let got = seen.tokens("access-control-expose-headers");
    let missing: Vec<&str> = EXPOSE
        .iter()
        .copied()
        .filter(|h| !got.iter().any(|g| g == h || g == "*"))
        .collect();
    (!missing.is_empty()).then(|| {
        format!(
            "{}: Access-Control-Expose-Headers lacks {}",
            blueprint.name,
            missing.join(", ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cors::policy::{BLUEPRINTS, FOREIGN};
    use rstest::rstest;

    const LISTED: &str = "https://console.example";

    fn seen(headers: &[(&str, &str)]) -> Seen {
        Seen {
            status: Some(200),
            error: None,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn echo(origin: &str, creds: bool) -> Seen {
        let mut h = vec![
            ("access-control-allow-origin", origin),
            ("vary", "Origin"),
            (
                "access-control-expose-headers",
                "X-Env, X-Trace-Id, X-Version",
            ),
        ];
        if creds {
            h.push(("access-control-allow-credentials", "true"));
        }
        seen(&h)
    }

    // Per blueprint (index into BLUEPRINTS) and origin class: listed, foreign, look-alikes.
    #[rstest]
    #[case::console_listed_echoed(0, LISTED, echo(LISTED, true), None)]
    #[case::console_listed_star(0, LISTED, seen(&[("access-control-allow-origin", "*")]), Some("answered with *"))]
    #[case::console_listed_missing(0, LISTED, seen(&[]), Some("got no Access-Control-Allow-Origin"))]
    #[case::service_any_star(3, LISTED, seen(&[("access-control-allow-origin", "*")]), None)]
    #[case::files_any_echoed(4, LISTED, echo(LISTED, false), None)]
    fn judges_allowed_origins(
        #[case] b: usize,
        #[case] origin: &str,
        #[case] seen: Seen,
        #[case] want: Option<&str>,
    ) {
        let got = allowed(&BLUEPRINTS[b], origin, &seen);
        assert_eq!(got.is_some(), want.is_some(), "{got:?}");
        if let (Some(g), Some(w)) = (got, want) {
            assert!(g.contains(w), "{g}");
        }
    }

    #[rstest]
    #[case::foreign_refused(0, FOREIGN, seen(&[]), false)]
    #[case::foreign_echoed(0, FOREIGN, echo(FOREIGN, true), true)]
    #[case::null_echoed(1, "null", echo("null", true), true)]
    #[case::prefix_refused(0, "https://console.example.evil.test", seen(&[]), false)]
    #[case::suffix_echoed(
        1,
        "https://evilconsole.example",
        echo("https://evilconsole.example", false),
        true
    )]
    #[case::scheme_refused(0, "http://console.example", seen(&[]), false)]
    fn judges_origins_that_must_be_refused(
        #[case] b: usize,
        #[case] origin: &str,
        #[case] seen: Seen,
        #[case] leaked: bool,
    ) {
        assert_eq!(refused(&BLUEPRINTS[b], origin, &seen).is_some(), leaked);
    }

    #[rstest]
    #[case::console_with(0, echo(LISTED, true), false)]
    #[case::console_without(0, echo(LISTED, false), true)]
    #[case::web_without(1, echo(LISTED, false), true)]
    #[case::service_without(3, echo(LISTED, false), false)]
    #[case::service_with(3, echo(LISTED, true), true)]
    #[case::files_with(4, echo(LISTED, true), true)]
    #[case::triggers_with(5, echo(LISTED, true), true)]
    #[case::refused_is_not_judged(0, seen(&[]), false)]
    fn judges_credentials_per_blueprint(#[case] b: usize, #[case] seen: Seen, #[case] bad: bool) {
        assert_eq!(credentials(&BLUEPRINTS[b], &seen).is_some(), bad);
    }

    #[rstest]
    #[case::star_default(
        0,
        Origins::Any,
        echo(FOREIGN, true),
        Some("CONSOLE_CORS_ALLOW_ORIGINS allows `*`")
    )]
    #[case::web_star(
        1,
        Origins::Any,
        echo(FOREIGN, true),
        Some("WEB_API_CORS_ALLOW_ORIGINS")
    )]
    #[case::echo_without_credentials(3, Origins::Any, echo(FOREIGN, false), None)]
    #[case::wildcard_with_credentials(0, Origins::Any, seen(&[("access-control-allow-origin", "*"), ("access-control-allow-credentials", "true")]), None)]
    #[case::list_refuses(0, Origins::List(vec![LISTED.into()]), seen(&[]), None)]
    #[case::list_reflects_anyway(0, Origins::List(vec![LISTED.into()]), echo(FOREIGN, true), Some("echoed with credentials"))]
    fn judges_reflection(
        #[case] b: usize,
        #[case] policy: Origins,
        #[case] seen: Seen,
        #[case] want: Option<&str>,
    ) {
        let got = reflection(&BLUEPRINTS[b], &policy, FOREIGN, &seen);
        assert_eq!(got.is_some(), want.is_some(), "{got:?}");
        if let (Some(g), Some(w)) = (got, want) {
            assert!(g.contains(w), "{g}");
        }
    }

    #[rstest]
    #[case::echo_with_vary(echo(LISTED, true), false)]
    #[case::echo_without_vary(seen(&[("access-control-allow-origin", LISTED)]), true)]
    #[case::vary_list(seen(&[("access-control-allow-origin", LISTED), ("vary", "Accept-Encoding, Origin")]), false)]
    #[case::star_needs_none(seen(&[("access-control-allow-origin", "*")]), false)]
    #[case::nothing(seen(&[]), false)]
    fn judges_vary(#[case] seen: Seen, #[case] bad: bool) {
        assert_eq!(vary(&BLUEPRINTS[0], &seen).is_some(), bad);
    }

    #[rstest]
    #[case::all(echo(LISTED, true), None)]
    #[case::none(seen(&[("access-control-allow-origin", LISTED)]), Some("x-version, x-env, x-trace-id"))]
    #[case::some(seen(&[("access-control-allow-origin", LISTED), ("access-control-expose-headers", "X-Version")]), Some("x-env, x-trace-id"))]
    fn judges_exposed_headers(#[case] seen: Seen, #[case] want: Option<&str>) {
        let got = exposed(&BLUEPRINTS[0], &seen);
        assert_eq!(
            got.as_deref().map(|g| g.split("lacks ").nth(1).unwrap()),
            want
        );
    }
}
