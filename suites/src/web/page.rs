//! Reading what a Dify page carries: Next.js markers, asset references, `<body>` data
//! attributes. Plain string scanning: the pages are server-rendered shells.

/// Markers of a Next.js page: static chunks, and the App Router's flight payload or the
/// Pages Router's data script.
pub(crate) const STATIC_MARKER: &str = "/_next/static/";
pub(crate) const ROUTER_MARKERS: &[&str] = &["self.__next_f", "__NEXT_DATA__"];

/// Which Next.js markers a page lacks (empty: it is a Next.js page).
pub(crate) fn missing_markers(body: &str) -> Vec<&'static str> {
    let mut missing = Vec::new();
    if !body.contains(STATIC_MARKER) {
        missing.push(STATIC_MARKER);
    }
    if !ROUTER_MARKERS.iter().any(|m| body.contains(m)) {
        missing.push("self.__next_f or __NEXT_DATA__");
    }
    missing
}

/// The values of `src="…"` and `href="…"` attributes that point under `/_next/static/`.
pub(crate) fn static_assets(body: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attr in ["src=\"", "href=\""] {
        let mut rest = body;
        while let Some(i) = rest.find(attr) {
            rest = &rest[i + attr.len()..];
            let Some(end) = rest.find('"') else { break };
            let value = &rest[..end];
            if value.contains(STATIC_MARKER) && !out.iter().any(|v| v == value) {
                out.push(value.to_string());
            }
            rest = &rest[end..];
        }
    }
    out
}

/// The value of a `data-*` attribute on `<body>`, HTML entities of `&`, `"`, `<`, `>` decoded.
pub(crate) fn body_attribute(body: &str, name: &str) -> Option<String> {
    let start = body.find("<body")?;
    let tag_end = body[start..].find('>')? + start;
    let tag = &body[start..tag_end];
    let needle = format!(" {name}=\"");
    let i = tag.find(&needle)? + needle.len();
    let end = tag[i..].find('"')? + i;
    Some(
        tag[i..end]
            .replace("&quot;", "\"")
            .replace("&#34;", "\"")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&#x27;", "'")
            .replace("&#39;", "'")
            .replace("&amp;", "&"),
    )
}

/// The content type an asset must be served with, from its extension.
pub(crate) fn expected_type(path: &str) -> Option<&'static [&'static str]> {
    let path = path.split(['?', '#']).next().unwrap_or(path);
    let ext = path.rsplit('.').next()?;
    Some(match ext {
        "js" | "mjs" => &["application/javascript", "text/javascript"],
        "css" => &["text/css"],
        "woff2" => &["font/woff2", "application/font-woff2"],
        "woff" => &["font/woff", "application/font-woff"],
        "svg" => &["image/svg+xml"],
        "png" => &["image/png"],
        "json" => &["application/json"],
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    const PAGE: &str = r#"<html><head><link rel="stylesheet" href="/_next/static/css/a.css"><script src="/_next/static/chunks/b.js" async=""></script><link rel="icon" href="/favicon.ico"></head><body class="h-full" data-api-prefix="https://api.example/console/api" data-public-api-prefix="/api?x=1&amp;y=2"><script>(self.__next_f=self.__next_f||[]).push([0])</script></body></html>"#;

    #[test]
    fn finds_assets_and_body_attributes() {
        assert_eq!(
            static_assets(PAGE),
            ["/_next/static/chunks/b.js", "/_next/static/css/a.css"]
        );
        assert_eq!(
            body_attribute(PAGE, "data-api-prefix").as_deref(),
            Some("https://api.example/console/api")
        );
        assert_eq!(
            body_attribute(PAGE, "data-public-api-prefix").as_deref(),
            Some("/api?x=1&y=2")
        );
        assert_eq!(body_attribute(PAGE, "data-nope"), None);
        assert!(missing_markers(PAGE).is_empty());
    }

    #[rstest]
    #[case::welcome("<h1>Welcome to nginx!</h1>", 2)]
    #[case::pages_router(
        "<script src=\"/_next/static/x.js\"></script><script id=\"__NEXT_DATA__\">",
        0
    )]
    #[case::chunks_only("<script src=\"/_next/static/x.js\"></script>", 1)]
    fn finds_missing_markers(#[case] body: &str, #[case] missing: usize) {
        assert_eq!(missing_markers(body).len(), missing);
    }

    #[rstest]
    #[case("/_next/static/chunks/a.js", Some("application/javascript"))]
    #[case("/_next/static/css/a.css?v=1", Some("text/css"))]
    #[case("/_next/static/media/f.woff2", Some("font/woff2"))]
    #[case("/_next/static/x.bin", None)]
    fn knows_asset_types(#[case] path: &str, #[case] first: Option<&str>) {
        assert_eq!(expected_type(path).map(|t| t[0]), first);
    }
}
