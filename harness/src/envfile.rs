//! A `.env` file as an ordered document: comments, blank lines and line endings survive, so a
//! rendered `.env` is the example with only the cell's keys changed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

#[derive(Clone, Debug, PartialEq)]
enum Line {
    /// A comment or blank line, kept verbatim (with its line ending).
    Other(String),
    /// `KEY=value`, kept verbatim until the key is set.
    Entry { key: String, raw: String },
}

/// An ordered `.env` document.
#[derive(Clone, Debug, PartialEq)]
pub struct EnvDocument {
    path: PathBuf,
    lines: Vec<Line>,
}

impl EnvDocument {
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            what: "env file",
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(path, &text)
    }

    /// Parses `text`; `path` is only used to name the file in errors.
    pub fn parse(path: &Path, text: &str) -> Result<Self> {
        let mut lines = Vec::new();
        for (index, raw) in text.split_inclusive('\n').enumerate() {
            let content = raw.trim_end_matches(['\n', '\r']);
            let trimmed = content.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                lines.push(Line::Other(raw.to_string()));
                continue;
            }
            let syntax = |message: String| Error::EnvSyntax {
                file: path.to_path_buf(),
                line: index + 1,
                message,
            };
            let body = trimmed.strip_prefix("export ").unwrap_or(trimmed);
            let Some((key, value)) = body.split_once('=') else {
                return Err(syntax(format!(
                    "expected KEY=VALUE, found `{}`",
                    shorten(&mask_secret_line(content))
                )));
            };
            let key = key.trim_end();
            if !is_valid_key(key) {
                return Err(syntax(format!(
                    "`{}` is not a valid variable name (letters, digits and _; not starting with a digit)",
                    shorten(key)
                )));
            }
            let value = value.trim_start();
            let unterminated = match value.chars().next() {
                Some('"') => unquote_double(&value[1..]).is_none().then_some('"'),
                Some('\'') => (!value[1..].contains('\'')).then_some('\''),
                _ => None,
            };
            if let Some(q) = unterminated {
                return Err(syntax(format!("unterminated {q}-quoted value of {key}")));
            }
            lines.push(Line::Entry {
                key: key.to_string(),
                raw: raw.to_string(),
            });
        }
        Ok(Self {
            path: path.to_path_buf(),
            lines,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The keys in file order (a key set twice appears twice; compose takes the last).
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.lines.iter().filter_map(|l| match l {
            Line::Entry { key, .. } => Some(key.as_str()),
            Line::Other(_) => None,
        })
    }

    pub fn contains(&self, key: &str) -> bool {
        self.keys().any(|k| k == key)
    }

    /// The literal value of `key` (quotes removed, inline comment dropped), no interpolation.
    pub fn get(&self, key: &str) -> Option<String> {
        self.lines.iter().rev().find_map(|l| match l {
            Line::Entry { key: k, raw } if k == key => Some(value_of(raw)),
            _ => None,
        })
    }

    /// Every key with its literal value; the last assignment wins, as in compose.
    pub fn values(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for line in &self.lines {
            if let Line::Entry { key, raw } = line {
                out.insert(key.clone(), value_of(raw));
            }
        }
        out
    }

    /// Sets `key` on its last line, or appends it. Other lines are untouched.
    pub fn set(&mut self, key: &str, value: &str) {
        let ending = self.line_ending();
        let new_line = |old_ending: &str| format!("{key}={}{old_ending}", quote(value));
        if let Some(line) = self
            .lines
            .iter_mut()
            .rev()
            .find(|l| matches!(l, Line::Entry { key: k, .. } if k == key))
        {
            if let Line::Entry { raw, .. } = line {
                let old_ending = &raw[raw.trim_end_matches(['\n', '\r']).len()..];
                let old_ending = if old_ending.is_empty() {
                    ""
                } else {
                    old_ending
                };
                *raw = new_line(old_ending);
            }
            return;
        }
        // Appending: make sure the previous last line is terminated first.
        if let Some(last) = self.lines.last_mut() {
            let raw = match last {
                Line::Other(raw) | Line::Entry { raw, .. } => raw,
            };
            if !raw.ends_with('\n') {
                raw.push_str(&ending);
            }
        }
        self.lines.push(Line::Entry {
            key: key.to_string(),
            raw: new_line(&ending),
        });
    }

    pub fn render(&self) -> String {
        self.lines
            .iter()
            .map(|l| match l {
                Line::Other(raw) | Line::Entry { raw, .. } => raw.as_str(),
            })
            .collect()
    }

    fn line_ending(&self) -> String {
        let crlf = self.lines.iter().any(|l| match l {
            Line::Other(raw) | Line::Entry { raw, .. } => raw.ends_with("\r\n"),
        });
        if crlf { "\r\n".into() } else { "\n".into() }
    }
}

fn is_valid_key(key: &str) -> bool {
    let mut chars = key.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-')
}

/// The value part of an entry line as compose reads it.
fn value_of(raw: &str) -> String {
    let content = raw.trim_end_matches(['\n', '\r']).trim_start();
    let body = content.strip_prefix("export ").unwrap_or(content);
    let value = body
        .split_once('=')
        .map(|(_, v)| v)
        .unwrap_or("")
        .trim_start();
    match value.chars().next() {
        Some('"') => unquote_double(&value[1..]).unwrap_or_default(),
        Some('\'') => {
            let inner = &value[1..];
            inner[..inner.find('\'').unwrap_or(inner.len())].to_string()
        }
        _ => {
            // An unquoted value ends at ` #` (an inline comment), as in compose.
            let end = value.find(" #").unwrap_or(value.len());
            value[..end].trim_end().to_string()
        }
    }
}

/// The text of a double-quoted value up to its closing quote, with `\\`, `\"` and `\n`
/// unescaped; `None` when the quote is never closed.
fn unquote_double(inner: &str) -> Option<String> {
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => match chars.next() {
                Some('n') => out.push('\n'),
                Some(e @ ('"' | '\\')) => out.push(e),
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => return None,
            },
            c => out.push(c),
        }
    }
    None
}

/// Quotes a value only when compose would otherwise read it differently.
fn quote(value: &str) -> String {
    let plain = !value.is_empty()
        && !value.contains([' ', '#', '"', '\'', '\n', '\\', '\t'])
        && !value.starts_with(char::is_whitespace);
    if plain || value.is_empty() {
        value.to_string()
    } else if !value.contains('\'') && !value.contains('\n') {
        format!("'{value}'")
    } else {
        format!(
            "\"{}\"",
            value
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n")
        )
    }
}

/// A broken line that starts with a secret key (`DB_PASSWORD difyai123456`) is shown with its
/// value masked: the error is printed, and may land in a CI log.
fn mask_secret_line(content: &str) -> String {
    let trimmed = content.trim_start();
    let first = trimmed
        .split(|c: char| c.is_whitespace() || c == ':')
        .next()
        .unwrap_or("");
    if crate::redact::is_secret_key(first) && trimmed.len() > first.len() {
        format!("{first} {}", crate::redact::MASK)
    } else {
        content.to_string()
    }
}

fn shorten(text: &str) -> String {
    if text.chars().count() > 60 {
        format!("{}…", text.chars().take(60).collect::<String>())
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn doc(text: &str) -> EnvDocument {
        EnvDocument::parse(Path::new(".env.example"), text).unwrap()
    }

    #[test]
    fn reads_values_like_compose() {
        let d = doc("# c\nA=1\nB = two # note\nexport C=\"x y\"\nD='$E'\nE=\nA=last\n");
        assert_eq!(d.get("A").as_deref(), Some("last"));
        assert_eq!(d.get("B").as_deref(), Some("two"));
        assert_eq!(d.get("C").as_deref(), Some("x y"));
        assert_eq!(d.get("D").as_deref(), Some("$E"));
        assert_eq!(d.get("E").as_deref(), Some(""));
        assert_eq!(d.get("F"), None);
    }

    #[test]
    fn set_touches_only_its_line_and_keeps_crlf() {
        let mut d = doc("# head\r\nVECTOR_STORE=weaviate\r\n# tail\r\n");
        d.set("VECTOR_STORE", "pgvector");
        d.set("NEW", "a b");
        assert_eq!(
            d.render(),
            "# head\r\nVECTOR_STORE=pgvector\r\n# tail\r\nNEW='a b'\r\n"
        );
    }

    #[test]
    fn appends_after_an_unterminated_last_line() {
        let mut d = doc("A=1");
        d.set("B", "2");
        assert_eq!(d.render(), "A=1\nB=2\n");
    }

    #[test]
    fn broken_lines_name_file_and_line() {
        let err = EnvDocument::parse(Path::new("x/.env.example"), "A=1\n\njust words\n")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "x/.env.example:3: expected KEY=VALUE, found `just words`"
        );
        let err = EnvDocument::parse(Path::new("e"), "1A=2\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("e:1: `1A` is not a valid variable name"),
            "{err}"
        );
        let err = EnvDocument::parse(Path::new("e"), "A=\"open\n")
            .unwrap_err()
            .to_string();
        assert_eq!(err, "e:1: unterminated \"-quoted value of A");
    }

    fn line() -> impl Strategy<Value = String> {
        prop_oneof![
            "#[ -~]{0,30}".prop_map(|s| s),
            Just(String::new()),
            ("[A-Z_][A-Z0-9_]{0,12}", "[ -~&&[^'\"#\\\\]]{0,20}")
                .prop_map(|(k, v)| format!("{k}={}", v.trim_start())),
        ]
    }

    proptest! {
        #[test]
        fn round_trips_byte_exact(lines in prop::collection::vec(line(), 0..30), crlf: bool, last_nl: bool) {
            let nl = if crlf { "\r\n" } else { "\n" };
            let mut text = lines.join(nl);
            if last_nl && !text.is_empty() { text.push_str(nl); }
            let d = doc(&text);
            prop_assert_eq!(d.render(), text);
        }

        #[test]
        fn set_lands_on_its_key_only(
            lines in prop::collection::vec(line(), 1..30),
            value in "[ -~]{0,20}",
            pick: prop::sample::Index,
        ) {
            let text = lines.join("\n") + "\n";
            let d = doc(&text);
            let keys: Vec<String> = d.keys().map(str::to_owned).collect();
            prop_assume!(!keys.is_empty());
            let key = keys[pick.index(keys.len())].clone();
            let mut changed = d.clone();
            changed.set(&key, &value);
            prop_assert_eq!(changed.get(&key).unwrap(), value.clone());
            let before: Vec<&str> = text.split_inclusive('\n').collect();
            let rendered = changed.render();
            let after: Vec<&str> = rendered.split_inclusive('\n').collect();
            prop_assert_eq!(before.len(), after.len());
            let last_line_of_key = before
                .iter()
                .rposition(|l| l.split_once('=').map(|(k, _)| k.trim()) == Some(key.as_str()) && !l.starts_with('#'))
                .unwrap();
            for (i, (b, a)) in before.iter().zip(&after).enumerate() {
                if i != last_line_of_key {
                    prop_assert_eq!(b, a);
                }
            }
        }
    }
}
