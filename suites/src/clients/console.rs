//! Dify's console API as a browser uses it: cookies set by login, the CSRF double submit.
//!
//! Since Dify 1.9.2 the console's tokens live only in cookies (`access_token`,
//! `refresh_token`, `csrf_token`, prefixed `__Host-` when secure and no `COOKIE_DOMAIN`), and
//! every `@login_required` call needs the `X-CSRF-Token` header equal to the csrf cookie
//! (research §5). Since 1.11.1 login takes the password base64-encoded (§0.1). This client keeps
//! the cookies it was given, sends them back like a browser, and records the raw `Set-Cookie`
//! attributes so a check can judge them.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use reqwest::{Method, RequestBuilder, Response};
use serde_json::{Value, json};

use crate::http::{client, describe_error};
use crate::secret::Secret;
use crate::target::Target;

/// The three console cookies, without the `__Host-` prefix.
pub const ACCESS_TOKEN: &str = "access_token";
pub const REFRESH_TOKEN: &str = "refresh_token";
pub const CSRF_TOKEN: &str = "csrf_token";
/// The prefix Dify adds when cookies are Secure and `COOKIE_DOMAIN` is empty (`libs/token.py`).
pub const HOST_PREFIX: &str = "__Host-";
/// The CSRF header (`HEADER_NAME_CSRF_TOKEN`).
pub const CSRF_HEADER: &str = "X-CSRF-Token";

/// One `Set-Cookie` header, parsed. The value is a secret (it is a token).
#[derive(Clone, PartialEq, Eq)]
pub struct SetCookie {
    pub name: String,
    pub value: Secret,
    pub http_only: bool,
    pub secure: bool,
    pub same_site: Option<String>,
    pub path: Option<String>,
    pub domain: Option<String>,
    pub max_age: Option<i64>,
}

impl SetCookie {
    /// Parses a `Set-Cookie` header value; `None` when it has no `name=value` pair.
    pub fn parse(header: &str) -> Option<Self> {
        let mut parts = header.split(';');
        let (name, value) = parts.next()?.split_once('=')?;
        let name = name.trim();
        if name.is_empty() {
            return None;
        }
        let mut cookie = SetCookie {
            name: name.to_string(),
            value: Secret::new(value.trim().trim_matches('"')),
            http_only: false,
            secure: false,
            same_site: None,
            path: None,
            domain: None,
            max_age: None,
        };
        for attr in parts {
            let (key, val) = match attr.split_once('=') {
                Some((k, v)) => (k.trim(), Some(v.trim())),
                None => (attr.trim(), None),
            };
            match key.to_ascii_lowercase().as_str() {
                "httponly" => cookie.http_only = true,
                "secure" => cookie.secure = true,
                "samesite" => cookie.same_site = val.map(str::to_owned),
                "path" => cookie.path = val.map(str::to_owned),
                "domain" => cookie.domain = val.map(str::to_owned),
                "max-age" => cookie.max_age = val.and_then(|v| v.parse().ok()),
                _ => {}
            }
        }
        Some(cookie)
    }

    /// The name without the `__Host-` prefix.
    pub fn base_name(&self) -> &str {
        self.name.strip_prefix(HOST_PREFIX).unwrap_or(&self.name)
    }

    /// Attributes only, for evidence: `csrf_token; Path=/; SameSite=Lax; Max-Age=3600`.
    pub fn describe(&self) -> String {
        let mut text = format!("{}=<{} chars>", self.name, self.value.expose().len());
        if let Some(p) = &self.path {
            text.push_str(&format!("; Path={p}"));
        }
        if let Some(d) = &self.domain {
            text.push_str(&format!("; Domain={d}"));
        }
        if let Some(m) = self.max_age {
            text.push_str(&format!("; Max-Age={m}"));
        }
        if self.http_only {
            text.push_str("; HttpOnly");
        }
        if self.secure {
            text.push_str("; Secure");
        }
        if let Some(s) = &self.same_site {
            text.push_str(&format!("; SameSite={s}"));
        }
        text
    }
}

impl fmt::Debug for SetCookie {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

/// The `Set-Cookie` headers of a response, parsed.
pub fn set_cookies(resp: &Response) -> Vec<SetCookie> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(SetCookie::parse)
        .collect()
}

/// An HTTP exchange reduced to what evidence needs: status, a JSON body if any, raw text.
#[derive(Clone, Debug)]
pub struct Answer {
    pub status: u16,
    pub json: Option<Value>,
    pub text: String,
    pub set_cookies: Vec<SetCookie>,
    pub method: Method,
    pub path: String,
}

impl Answer {
    /// Dify's error `code` (`{"code": ..., "message": ...}`), if the body has one.
    pub fn code(&self) -> Option<&str> {
        self.json.as_ref()?.get("code")?.as_str()
    }

    pub fn message(&self) -> Option<&str> {
        self.json.as_ref()?.get("message")?.as_str()
    }

    pub fn field(&self, pointer: &str) -> Option<&Value> {
        self.json.as_ref()?.pointer(pointer)
    }

    pub fn str_field(&self, pointer: &str) -> Option<&str> {
        self.field(pointer)?.as_str()
    }

    /// `POST /console/api/login -> HTTP 401 {"code":"...","message":"..."}` for evidence.
    pub fn line(&self) -> String {
        format!(
            "{} {} -> HTTP {} {}",
            self.method,
            self.path,
            self.status,
            crate::api::truncate_for_evidence(&self.text, 160)
        )
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Sends `req` and reads the whole answer; `path` is for evidence.
pub async fn exchange(req: RequestBuilder, method: Method, path: &str) -> Result<Answer, String> {
    let resp = req
        .send()
        .await
        .map_err(|e| format!("{method} {path}: no response: {}", describe_error(&e)))?;
    let status = resp.status().as_u16();
    let set_cookies = set_cookies(&resp);
    let text = resp
        .text()
        .await
        .map_err(|e| format!("{method} {path}: HTTP {status}, body unreadable: {e}"))?;
    let json = serde_json::from_str(&text).ok();
    Ok(Answer {
        status,
        json,
        text,
        set_cookies,
        method,
        path: path.to_string(),
    })
}

/// A logged-in console session: the cookies login set, sent back on every call.
#[derive(Clone)]
pub struct Session {
    http: reqwest::Client,
    base: Target,
    cookies: Vec<SetCookie>,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("cookies", &self.cookies)
            .finish()
    }
}

/// What to send as the CSRF header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Csrf {
    /// The csrf cookie's value, as Dify's front end sends it.
    Matching,
    /// No header.
    Missing,
    /// A header that does not match the cookie.
    Wrong,
}

impl Session {
    /// `POST /console/api/login` with the password base64-encoded; the answer either way.
    pub async fn login(
        target: &Target,
        email: &str,
        password: &Secret,
    ) -> Result<(Answer, Option<Session>), String> {
        let http = client(target);
        let path = "/console/api/login";
        let body = json!({
            "email": email,
            "password": BASE64.encode(password.expose()),
            "remember_me": false,
        });
        let answer = exchange(http.post(target.url(path)).json(&body), Method::POST, path).await?;
        let session = (answer.status == 200 && !answer.set_cookies.is_empty()).then(|| Session {
            http,
            base: target.clone(),
            cookies: answer.set_cookies.clone(),
        });
        Ok((answer, session))
    }

    pub fn cookies(&self) -> &[SetCookie] {
        &self.cookies
    }

    fn cookie(&self, base_name: &str) -> Option<&SetCookie> {
        self.cookies.iter().find(|c| c.base_name() == base_name)
    }

    /// A request with the session's cookies and the chosen CSRF header.
    pub fn request(&self, method: Method, path: &str, csrf: Csrf) -> RequestBuilder {
        let cookie_header = self
            .cookies
            .iter()
            .map(|c| format!("{}={}", c.name, c.value.expose()))
            .collect::<Vec<_>>()
            .join("; ");
        let mut req = self
            .http
            .request(method, self.base.url(path))
            .header("Cookie", cookie_header);
        let csrf_value = self
            .cookie(CSRF_TOKEN)
            .map(|c| c.value.expose().to_string());
        match (csrf, csrf_value) {
            (Csrf::Matching, Some(v)) => req = req.header(CSRF_HEADER, v),
            (Csrf::Wrong, Some(v)) => {
                // Same shape as a real token, one character changed: a test of the comparison.
                let mut wrong: Vec<char> = v.chars().collect();
                if let Some(last) = wrong.last_mut() {
                    *last = if *last == 'A' { 'B' } else { 'A' };
                }
                req = req.header(CSRF_HEADER, wrong.into_iter().collect::<String>());
            }
            _ => {}
        }
        req
    }

    /// A call as Dify's front end makes it (cookies and the matching CSRF header).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Answer, String> {
        self.call_within(method, path, body, self.base.request_timeout())
            .await
    }

    /// [`Session::call`] with its own time-out, for calls that do real work on the server (a
    /// first keyword search loads the tokenizer's dictionary).
    pub async fn call_within(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        timeout: std::time::Duration,
    ) -> Result<Answer, String> {
        let mut req = self
            .request(method.clone(), path, Csrf::Matching)
            .timeout(timeout);
        if let Some(b) = body {
            req = req.json(b);
        }
        exchange(req, method, path).await
    }

    /// Multipart upload of one text file, as the console's dataset upload does.
    pub async fn upload_text(&self, name: &str, content: &str) -> Result<Answer, String> {
        let path = "/console/api/files/upload";
        let part = reqwest::multipart::Part::text(content.to_string())
            .file_name(name.to_string())
            .mime_str("text/plain")
            .map_err(|e| format!("building the upload: {e}"))?;
        let form = reqwest::multipart::Form::new()
            .part("file", part)
            .text("source", "datasets");
        let req = self
            .request(Method::POST, path, Csrf::Matching)
            .multipart(form);
        exchange(req, Method::POST, path).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(
        "access_token=eyJ.a.b; Expires=Thu, 01 Jan 2026 00:00:00 GMT; Max-Age=3600; HttpOnly; Path=/; SameSite=Lax",
        "access_token",
        true,
        false,
        Some("Lax"),
        Some(3600)
    )]
    #[case(
        "__Host-csrf_token=eyJ.c.d; Max-Age=3600; Secure; Path=/; SameSite=Lax",
        "csrf_token",
        false,
        true,
        Some("Lax"),
        Some(3600)
    )]
    #[case(
        "refresh_token=\"abc\"; httponly; secure",
        "refresh_token",
        true,
        true,
        None,
        None
    )]
    fn parses_set_cookie(
        #[case] header: &str,
        #[case] base: &str,
        #[case] http_only: bool,
        #[case] secure: bool,
        #[case] same_site: Option<&str>,
        #[case] max_age: Option<i64>,
    ) {
        let c = SetCookie::parse(header).unwrap();
        assert_eq!(c.base_name(), base);
        assert_eq!(c.http_only, http_only);
        assert_eq!(c.secure, secure);
        assert_eq!(c.same_site.as_deref(), same_site);
        assert_eq!(c.max_age, max_age);
        assert!(!c.describe().contains("eyJ"), "{}", c.describe());
    }

    #[test]
    fn rejects_headers_without_a_pair() {
        assert!(SetCookie::parse("HttpOnly").is_none());
        assert!(SetCookie::parse("=v; Path=/").is_none());
    }
}
