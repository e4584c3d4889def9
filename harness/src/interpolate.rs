//! Compose-style variable interpolation (`$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`),
//! for the few values the harness must resolve itself, such as `COMPOSE_PROFILES`.
//! Everything else is resolved by `docker compose config`, the source of truth.

/// Resolves `text` with `lookup`; an unknown variable becomes empty, as in compose.
pub fn interpolate(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(stripped) = after.strip_prefix('$') {
            out.push('$');
            rest = stripped;
        } else if let Some(body) = after.strip_prefix('{') {
            let Some(end) = body.find('}') else {
                out.push_str(&rest[pos..]);
                return out;
            };
            let expr = &body[..end];
            out.push_str(&resolve(expr, lookup));
            rest = &body[end + 1..];
        } else {
            let len = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            if len == 0 {
                out.push('$');
            } else {
                out.push_str(&lookup(&after[..len]).unwrap_or_default());
            }
            rest = &after[len..];
        }
    }
    out.push_str(rest);
    out
}

fn resolve(expr: &str, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    if let Some((name, default)) = expr.split_once(":-") {
        return lookup(name)
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| interpolate(default, lookup));
    }
    if let Some((name, default)) = expr.split_once('-') {
        return lookup(name).unwrap_or_else(|| interpolate(default, lookup));
    }
    lookup(expr).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn env(name: &str) -> Option<String> {
        match name {
            "VECTOR_STORE" => Some("pgvector".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[rstest]
    #[case(
        "${VECTOR_STORE:-weaviate},${DB_TYPE:-postgresql}",
        "pgvector,postgresql"
    )]
    #[case("${EMPTY:-d}", "d")]
    #[case("${EMPTY-d}", "")]
    #[case("${MISSING-d}", "d")]
    #[case("$VECTOR_STORE/x", "pgvector/x")]
    #[case("$$VECTOR_STORE", "$VECTOR_STORE")]
    #[case("${UNCLOSED", "${UNCLOSED")]
    #[case("a$", "a$")]
    fn resolves_like_compose(#[case] text: &str, #[case] want: &str) {
        assert_eq!(interpolate(text, &env), want);
    }
}
