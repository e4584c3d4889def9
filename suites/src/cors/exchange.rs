//! One CORS request and what came back, kept raw for evidence.

use crate::http::{client, describe_error};
use crate::target::Target;

/// A response's status and the headers CORS judgements read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Seen {
    /// `None`: no response (the error says why).
    pub status: Option<u16>,
    pub error: Option<String>,
    /// Lower-cased names, values as sent.
    pub headers: Vec<(String, String)>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn acao(&self) -> Option<&str> {
        self.header("access-control-allow-origin")
    }

    pub fn credentials(&self) -> bool {
        self.header("access-control-allow-credentials") == Some("true")
    }

    /// The comma-separated tokens of a header, lower-cased.
    pub fn tokens(&self, name: &str) -> Vec<String> {
        self.headers
            .iter()
            .filter(|(k, _)| k == name)
            .flat_map(|(_, v)| v.split(','))
            .map(|t| t.trim().to_ascii_lowercase())
            .filter(|t| !t.is_empty())
            .collect()
    }

    /// Evidence lines: the status and every CORS-relevant header.
    pub fn evidence(&self, request: &str) -> Vec<String> {
        let mut out = vec![request.to_string()];
        match (self.status, &self.error) {
            (Some(s), _) => out.push(format!("  HTTP {s}")),
            (None, Some(e)) => out.push(format!("  no response: {e}")),
            (None, None) => {}
        }
        for (k, v) in &self.headers {
            out.push(format!("  {k}: {v}"));
        }
        out
    }
}

/// `OPTIONS path` as a browser's preflight: `Origin`, the method and the headers it will send.
pub(crate) async fn preflight(
    target: &Target,
    path: &str,
    origin: &str,
    method: &str,
    headers: &[&str],
) -> Seen {
    let mut req = client(target)
        .request(reqwest::Method::OPTIONS, target.url(path))
        .header("Origin", origin)
        .header("Access-Control-Request-Method", method);
    if !headers.is_empty() {
        req = req.header("Access-Control-Request-Headers", headers.join(","));
    }
    send(req).await
}

/// A plain `GET path` with an `Origin`, as a browser's actual cross-origin request.
pub(crate) async fn get(target: &Target, path: &str, origin: &str) -> Seen {
    send(
        client(target)
            .get(target.url(path))
            .header("Origin", origin),
    )
    .await
}

async fn send(req: reqwest::RequestBuilder) -> Seen {
    match req.send().await {
        Ok(resp) => Seen {
            status: Some(resp.status().as_u16()),
            error: None,
            headers: resp
                .headers()
                .iter()
                .filter(|(k, _)| {
                    let k = k.as_str();
                    k.starts_with("access-control-") || k == "vary" || k == "location"
                })
                .map(|(k, v)| {
                    (
                        k.as_str().to_string(),
                        v.to_str().unwrap_or("<non-ascii>").to_string(),
                    )
                })
                .collect(),
        },
        Err(e) => Seen {
            status: None,
            error: Some(describe_error(&e)),
            headers: Vec::new(),
        },
    }
}
