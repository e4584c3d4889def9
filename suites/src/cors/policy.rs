//! What Dify configures per blueprint (research §5, `api/extensions/ext_blueprints.py`) and
//! the origins a check sends, derived from the deployment's settings.

use crate::suite::Check;
use crate::target::Target;

/// A Dify API blueprint as its CORS set-up sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Blueprint {
    pub name: &'static str,
    /// A route the blueprint serves (CORS headers come only from a matched route).
    pub path: &'static str,
    /// The method and headers a browser client of this blueprint asks for.
    pub method: &'static str,
    pub headers: &'static [&'static str],
    /// The `.env` key with the allowed origins; `None`: every origin (flask-cors' default).
    pub origins_key: Option<&'static str>,
    /// Whether Dify sets `supports_credentials` (cookies) on it.
    pub credentials: bool,
    /// The route answers only for a resource the check cannot create (a webhook): its 404
    /// is the lookup's, not CORS', so the status is reported and the CORS headers judged.
    pub needs_resource: bool,
    pub preflight_check: &'static Check,
}

/// Headers Dify's front end sends (research §5: `X-App-Code`, `X-App-Passport`, `X-CSRF-Token`).
const FRONT_END: &[&str] = &[
    "content-type",
    "authorization",
    "x-csrf-token",
    "x-app-code",
    "x-app-passport",
];

pub(crate) const BLUEPRINTS: &[Blueprint] = &[
    Blueprint {
        name: "console",
        path: "/console/api/setup",
        method: "POST",
        headers: FRONT_END,
        origins_key: Some("CONSOLE_CORS_ALLOW_ORIGINS"),
        credentials: true,
        needs_resource: false,
        preflight_check: &super::preflight::CONSOLE,
    },
    Blueprint {
        name: "web",
        path: "/api/system-features",
        method: "POST",
        headers: FRONT_END,
        origins_key: Some("WEB_API_CORS_ALLOW_ORIGINS"),
        credentials: true,
        needs_resource: false,
        preflight_check: &super::preflight::WEB,
    },
    // The embed resources are declared without the `/api` prefix, so on 1.13.3 the web
    // blueprint's `/*` rule answers them, credentials included (research §13).
    Blueprint {
        name: "web embed",
        path: "/api/chat-messages",
        method: "POST",
        headers: &["content-type", "x-app-code"],
        origins_key: Some("WEB_API_CORS_ALLOW_ORIGINS"),
        credentials: true,
        needs_resource: false,
        preflight_check: &super::preflight::WEB,
    },
    Blueprint {
        name: "service",
        path: "/v1/datasets",
        method: "POST",
        headers: &["content-type", "authorization"],
        origins_key: None,
        credentials: false,
        needs_resource: false,
        preflight_check: &super::preflight::SERVICE,
    },
    // A uuid that names no file: the route matches, so CORS answers (a path that is not a
    // uuid is a 404 without CORS headers, research §13).
    Blueprint {
        name: "files",
        path: "/files/00000000-0000-4000-8000-000000000000/file-preview",
        method: "GET",
        headers: &["content-type", "x-csrf-token"],
        origins_key: None,
        credentials: false,
        needs_resource: false,
        preflight_check: &super::preflight::FILES,
    },
    Blueprint {
        name: "triggers",
        path: "/triggers/webhook/dify-conformance",
        method: "POST",
        headers: &["content-type", "authorization", "x-app-code"],
        origins_key: None,
        credentials: false,
        needs_resource: true,
        preflight_check: &super::preflight::TRIGGERS,
    },
];

/// Which origins a blueprint allows, as far as the settings tell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Origins {
    /// `*` or flask-cors' default: every origin.
    Any,
    /// An explicit, comma-separated list.
    List(Vec<String>),
    /// The settings are not known (`check` without `--env-file`).
    Unknown,
}

impl Origins {
    pub fn of(blueprint: &Blueprint, target: &Target) -> Self {
        let Some(key) = blueprint.origins_key else {
            return Origins::Any;
        };
        let settings = target.settings();
        if settings.is_empty() {
            return Origins::Unknown;
        }
        // The console falls back to CONSOLE_WEB_URL only when its key is absent (research §5);
        // compose's default for both keys is `*`.
        let value = match settings.get(key) {
            Some(v) => v.to_string(),
            None if key == "CONSOLE_CORS_ALLOW_ORIGINS" => settings
                .non_empty("CONSOLE_WEB_URL")
                .unwrap_or("*")
                .to_string(),
            None => "*".to_string(),
        };
        let list: Vec<String> = value
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        if list.is_empty() || list.iter().any(|o| o == "*") {
            Origins::Any
        } else {
            Origins::List(list)
        }
    }
}

/// The origin a browser calls a blueprint from: the console web for the console and the
/// blueprints every client uses, the web app's (`APP_WEB_URL`, else the console's) for `/api`.
pub(crate) fn home_origin(blueprint: &Blueprint, target: &Target) -> String {
    if blueprint.origins_key == Some("WEB_API_CORS_ALLOW_ORIGINS")
        && let Some(o) = target
            .settings()
            .non_empty("APP_WEB_URL")
            .and_then(origin_of)
    {
        return o;
    }
    target.console_origin().to_string()
}

/// Scheme, host and port of a URL, as a browser sends it in `Origin`.
pub(crate) fn origin_of(url: &str) -> Option<String> {
    let u = reqwest::Url::parse(url).ok()?;
    Some(u.origin().ascii_serialization()).filter(|o| o != "null")
}

/// An origin no deployment allows on purpose.
pub(crate) const FOREIGN: &str = "https://evil.dify-conformance.test";

/// The classic bypasses of an allowed origin: what a sloppy matcher lets through.
pub(crate) fn lookalikes(allowed: &str) -> Vec<(&'static str, String)> {
    let mut out = vec![("null origin", "null".to_string())];
    if let Ok(u) = reqwest::Url::parse(allowed)
        && let Some(host) = u.host_str()
    {
        let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
        let scheme = u.scheme();
        // The allowed origin as a prefix: `https://dify.example.evil.test`.
        out.push((
            "prefix look-alike",
            format!("{scheme}://{host}.evil.test{port}"),
        ));
        // The allowed host as a suffix: `https://evildify.example`.
        out.push(("suffix look-alike", format!("{scheme}://evil{host}{port}")));
        let other = if scheme == "https" { "http" } else { "https" };
        out.push(("other scheme", format!("{other}://{host}{port}")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::Settings;
    use rstest::rstest;

    fn target(pairs: &[(&str, &str)]) -> Target {
        Target::new("http://127.0.0.1:1")
            .unwrap()
            .with_settings(Settings::new(
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ))
    }

    #[rstest]
    #[case::star(&[("CONSOLE_CORS_ALLOW_ORIGINS", "*")], 0, Origins::Any)]
    #[case::list(&[("CONSOLE_CORS_ALLOW_ORIGINS", "https://a.example, https://b.example")], 0,
        Origins::List(vec!["https://a.example".into(), "https://b.example".into()]))]
    #[case::star_in_list(&[("CONSOLE_CORS_ALLOW_ORIGINS", "https://a.example,*")], 0, Origins::Any)]
    #[case::console_falls_back_to_web_url(&[("CONSOLE_WEB_URL", "https://c.example")], 0,
        Origins::List(vec!["https://c.example".into()]))]
    #[case::console_empty_key_wins_over_web_url(&[("CONSOLE_CORS_ALLOW_ORIGINS", ""), ("CONSOLE_WEB_URL", "https://c.example")], 0, Origins::Any)]
    #[case::web_default(&[("X", "1")], 1, Origins::Any)]
    #[case::web_list(&[("WEB_API_CORS_ALLOW_ORIGINS", "https://w.example")], 1,
        Origins::List(vec!["https://w.example".into()]))]
    #[case::service_ignores_lists(&[("WEB_API_CORS_ALLOW_ORIGINS", "https://w.example")], 3, Origins::Any)]
    #[case::unknown(&[], 0, Origins::Unknown)]
    fn reads_origins_per_blueprint(
        #[case] pairs: &[(&str, &str)],
        #[case] blueprint: usize,
        #[case] want: Origins,
    ) {
        assert_eq!(Origins::of(&BLUEPRINTS[blueprint], &target(pairs)), want);
    }

    #[test]
    fn lookalikes_keep_port_and_swap_scheme() {
        let l = lookalikes("https://dify.example:8443");
        let origins: Vec<&str> = l.iter().map(|(_, o)| o.as_str()).collect();
        assert_eq!(
            origins,
            [
                "null",
                "https://dify.example.evil.test:8443",
                "https://evildify.example:8443",
                "http://dify.example:8443"
            ]
        );
    }

    #[test]
    fn web_home_origin_is_the_web_apps() {
        let t = target(&[("APP_WEB_URL", "https://apps.example/chat")]);
        assert_eq!(home_origin(&BLUEPRINTS[1], &t), "https://apps.example");
        assert_eq!(
            home_origin(&BLUEPRINTS[0], &t),
            crate::DEFAULT_CONSOLE_ORIGIN
        );
    }
}
