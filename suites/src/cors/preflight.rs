//! `cors.<blueprint>-preflight`: a browser's preflight from the origin it runs at succeeds:
//! 2xx, not redirected (browsers refuse a redirected preflight, issue #4575 in research §10),
//! the origin allowed as the blueprint needs it, the method and headers covered.

use super::exchange::Seen;
use super::policy::Blueprint;
use crate::outcome::Severity;
use crate::suite::{Check, Suite};

pub(crate) const CONSOLE: Check = Check {
    id: "cors.console-preflight",
    suite: Suite::Cors,
    severity: Severity::Major,
    title: "a preflight to the console API (/console/api) from the console's origin is allowed with credentials",
};
pub(crate) const WEB: Check = Check {
    id: "cors.web-preflight",
    suite: Suite::Cors,
    severity: Severity::Major,
    title: "a preflight to the web app API (/api, incl. the embed's /api/chat-messages) from the web app's origin is allowed",
};
pub(crate) const SERVICE: Check = Check {
    id: "cors.service-preflight",
    suite: Suite::Cors,
    severity: Severity::Major,
    title: "a preflight to the service API (/v1) with Authorization is allowed from any origin",
};
pub(crate) const FILES: Check = Check {
    id: "cors.files-preflight",
    suite: Suite::Cors,
    severity: Severity::Major,
    title: "a preflight to file previews (/files) is allowed from any origin",
};
pub(crate) const TRIGGERS: Check = Check {
    id: "cors.triggers-preflight",
    suite: Suite::Cors,
    severity: Severity::Minor,
    title: "a preflight to trigger webhooks (/triggers) is allowed from any origin",
};

/// Methods a browser sends without asking (Fetch standard's CORS-safelisted methods).
const SAFELISTED: &[&str] = &["GET", "HEAD", "POST"];

/// `Ok(summary)` when a browser would go on with the request, else `Err(reason)`.
pub(crate) fn judge(blueprint: &Blueprint, origin: &str, seen: &Seen) -> Result<String, String> {
    let Some(status) = seen.status else {
        return Err(format!(
            "no response: {}",
            seen.error.as_deref().unwrap_or("unknown error")
        ));
    };
    if (300..400).contains(&status) {
        return Err(format!(
            "HTTP {status} to {}: a redirect, which browsers refuse for a preflight",
            seen.header("location").unwrap_or("nowhere")
        ));
    }
    let unknown_resource = status == 404 && blueprint.needs_resource;
    if !(200..300).contains(&status) && !unknown_resource {
        return Err(format!("HTTP {status}"));
    }
    match seen.acao() {
        None => {
            return Err(format!(
                "no Access-Control-Allow-Origin: origin {origin} is not allowed"
            ));
        }
        Some("*") if blueprint.credentials => {
            return Err(
                "Access-Control-Allow-Origin: * (browsers drop credentialed responses with a wildcard)"
                    .into(),
            );
        }
        Some("*") => {}
        Some(o) if o != origin => {
            return Err(format!("Access-Control-Allow-Origin: {o}, not {origin}"));
        }
        Some(_) => {}
    }
    if blueprint.credentials && !seen.credentials() {
        return Err(format!(
            "origin allowed but Access-Control-Allow-Credentials is {} (cookies will not be sent)",
            seen.header("access-control-allow-credentials")
                .unwrap_or("absent")
        ));
    }
    let methods = seen.tokens("access-control-allow-methods");
    let method = blueprint.method.to_ascii_lowercase();
    // `*` counts as a wildcard only without credentials (Fetch standard).
    let any_method = methods.iter().any(|m| m == "*") && !blueprint.credentials;
    let method_ok =
        SAFELISTED.contains(&blueprint.method) || methods.contains(&method) || any_method;
    if !method_ok {
        return Err(format!(
            "method {} not in Access-Control-Allow-Methods",
            blueprint.method
        ));
    }
    let allowed = seen.tokens("access-control-allow-headers");
    let wildcard = allowed.iter().any(|h| h == "*") && !blueprint.credentials;
    let missing: Vec<&str> = blueprint
        .headers
        .iter()
        .copied()
        // `*` never covers Authorization (Fetch standard).
        .filter(|h| {
            let listed = allowed.iter().any(|a| a == h);
            let by_wildcard = wildcard && *h != "authorization";
            !(listed || by_wildcard)
        })
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "Access-Control-Allow-Headers lacks {}",
            missing.join(", ")
        ));
    }
    Ok(format!(
        "HTTP {status}, origin allowed{}",
        if blueprint.credentials {
            " with credentials"
        } else {
            ""
        }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cors::policy::BLUEPRINTS;
    use rstest::rstest;

    const ORIGIN: &str = "http://console.example";

    fn seen(status: u16, headers: &[(&str, &str)]) -> Seen {
        Seen {
            status: Some(status),
            error: None,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    /// What Dify 1.13.3 answered (research §13) for the console and web blueprints.
    fn credentialed_ok(origin: &str) -> Seen {
        seen(
            200,
            &[
                ("access-control-allow-origin", origin),
                ("access-control-allow-credentials", "true"),
                (
                    "access-control-allow-headers",
                    "authorization, content-type, x-app-code, x-app-passport, x-csrf-token",
                ),
                (
                    "access-control-allow-methods",
                    "DELETE, GET, OPTIONS, PATCH, POST, PUT",
                ),
                ("vary", "Origin"),
            ],
        )
    }

    #[rstest]
    #[case::console_ok(0, credentialed_ok(ORIGIN), Ok(()))]
    #[case::web_ok(1, credentialed_ok(ORIGIN), Ok(()))]
    #[case::console_not_allowed(0, seen(200, &[]), Err("is not allowed"))]
    #[case::console_wildcard(0, seen(200, &[("access-control-allow-origin", "*"), ("access-control-allow-credentials", "true")]), Err("wildcard"))]
    #[case::console_other_origin(
        0,
        credentialed_ok("http://elsewhere.example"),
        Err("not http://console.example")
    )]
    #[case::console_no_credentials(0, seen(200, &[("access-control-allow-origin", ORIGIN), ("access-control-allow-headers", "authorization, content-type, x-app-code, x-app-passport, x-csrf-token")]), Err("Credentials is absent"))]
    #[case::console_redirect(0, seen(308, &[("location", "/console/api/setup/")]), Err("redirect"))]
    #[case::console_error(0, seen(500, &[]), Err("HTTP 500"))]
    #[case::console_csrf_missing(0, seen(200, &[("access-control-allow-origin", ORIGIN), ("access-control-allow-credentials", "true"), ("access-control-allow-headers", "content-type, authorization")]), Err("lacks x-csrf-token, x-app-code, x-app-passport"))]
    #[case::service_wildcard_ok(3, seen(200, &[("access-control-allow-origin", "*"), ("access-control-allow-headers", "authorization, content-type")]), Ok(()))]
    #[case::service_star_headers_not_authorization(3, seen(200, &[("access-control-allow-origin", "*"), ("access-control-allow-headers", "*")]), Err("lacks authorization"))]
    #[case::files_echo_ok(4, seen(200, &[("access-control-allow-origin", ORIGIN), ("access-control-allow-headers", "content-type, x-csrf-token")]), Ok(()))]
    #[case::files_no_csrf(4, seen(200, &[("access-control-allow-origin", ORIGIN), ("access-control-allow-headers", "content-type")]), Err("lacks x-csrf-token"))]
    #[case::triggers_ok(5, seen(200, &[("access-control-allow-origin", ORIGIN), ("access-control-allow-headers", "authorization, content-type, x-app-code")]), Ok(()))]
    // An unknown webhook is the lookup's 404: the CORS headers still decide.
    #[case::triggers_404_with_cors(5, seen(404, &[("access-control-allow-origin", ORIGIN), ("access-control-allow-headers", "authorization, content-type, x-app-code")]), Ok(()))]
    #[case::triggers_404_without_cors(5, seen(404, &[]), Err("is not allowed"))]
    #[case::console_404(0, seen(404, &[("access-control-allow-origin", ORIGIN)]), Err("HTTP 404"))]
    fn judges_a_preflight_per_blueprint(
        #[case] blueprint: usize,
        #[case] seen: Seen,
        #[case] want: Result<(), &str>,
    ) {
        let got = judge(&BLUEPRINTS[blueprint], ORIGIN, &seen);
        match (want, got) {
            (Ok(()), Ok(_)) => {}
            (Err(part), Err(reason)) => assert!(reason.contains(part), "{reason}"),
            (want, got) => panic!("{}: want {want:?}, got {got:?}", BLUEPRINTS[blueprint].name),
        }
    }
}
