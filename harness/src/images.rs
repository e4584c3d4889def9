//! The image map (`fixtures/images.toml`): upstream image -> local image.
//!
//! Our CI cannot pull, our users can. The same code path serves both: an entry applies to a
//! cell only when its local image exists on the engine, so on a machine with Dify's real images
//! and none of ours nothing is substituted.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result, line_of, parse_toml};

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ImageMap {
    pub path: Option<PathBuf>,
    entries: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImageMapFile {
    images: BTreeMap<String, String>,
}

impl ImageMap {
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            what: "image map",
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(path, &text)
    }

    /// Parses `text`; `path` names the file in errors.
    pub fn parse(path: &Path, text: &str) -> Result<Self> {
        let file: ImageMapFile = parse_toml(path, text)?;
        if let Some((from, _)) = file.images.iter().find(|(_, to)| to.trim().is_empty()) {
            return Err(Error::Data {
                file: path.to_path_buf(),
                line: text.find(from.as_str()).map(|o| line_of(text, o)),
                message: format!("`{from}` maps to an empty image name"),
            });
        }
        Ok(Self {
            path: Some(path.to_path_buf()),
            entries: file.images,
        })
    }

    pub fn from_entries(entries: impl IntoIterator<Item = (String, String)>) -> Self {
        Self {
            path: None,
            entries: entries.into_iter().collect(),
        }
    }

    /// The local image for `upstream`, if the map has one.
    pub fn local_for(&self, upstream: &str) -> Option<&str> {
        self.entries
            .get(upstream)
            .or_else(|| self.entries.get(&normalize(upstream)))
            .map(String::as_str)
    }

    pub fn entries(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(a, b)| (a.as_str(), b.as_str()))
    }

    /// Keeps only entries whose local image `exists`.
    pub fn retain_present(&mut self, exists: impl Fn(&str) -> bool) {
        self.entries.retain(|_, local| exists(local));
    }

    /// The entries whose local image the engine has: what a run applies.
    pub async fn present_on(&self, engine: &crate::engine::Engine) -> Self {
        let mut present = Vec::new();
        for local in self.entries.values() {
            if engine.image_exists(local).await {
                present.push(local.clone());
            }
        }
        let mut map = self.clone();
        map.retain_present(|l| present.iter().any(|p| p == l));
        map
    }
}

/// The `service (image)` entries of `images` (service -> image) whose image the engine lacks.
/// `known` remembers answers across cells.
pub async fn missing_on(
    engine: &crate::engine::Engine,
    images: &BTreeMap<String, String>,
    known: &mut BTreeMap<String, bool>,
) -> Vec<String> {
    let mut missing = Vec::new();
    for (service, image) in images {
        let here = match known.get(image) {
            Some(h) => *h,
            None => {
                let h = engine.image_exists(image).await;
                known.insert(image.clone(), h);
                h
            }
        };
        if !here {
            missing.push(format!("{service} ({image})"));
        }
    }
    missing
}

/// Why a cell whose images are missing does not run: `plan` and `run` say it alike.
pub fn not_runnable_here(missing: &[String]) -> String {
    format!(
        "no local image for {} (pass --pull to let compose pull)",
        missing.join(", ")
    )
}

/// `docker.io/library/nginx:latest` and `nginx` name the same image.
fn normalize(image: &str) -> String {
    let name = image
        .strip_prefix("docker.io/")
        .unwrap_or(image)
        .strip_prefix("library/")
        .unwrap_or(image.strip_prefix("docker.io/").unwrap_or(image));
    if name
        .rsplit('/')
        .next()
        .is_some_and(|last| last.contains(':'))
        || name.contains('@')
    {
        name.to_string()
    } else {
        format!("{name}:latest")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_entries_by_normalized_name() {
        let m = ImageMap::from_entries([
            ("nginx:latest".to_string(), "local/nginx:1".to_string()),
            ("redis:6-alpine".to_string(), "local/redis:1".to_string()),
        ]);
        assert_eq!(m.local_for("nginx"), Some("local/nginx:1"));
        assert_eq!(
            m.local_for("docker.io/library/nginx:latest"),
            Some("local/nginx:1")
        );
        assert_eq!(m.local_for("redis:6-alpine"), Some("local/redis:1"));
        assert_eq!(m.local_for("redis:7"), None);
    }

    #[test]
    fn bad_map_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("images.toml");
        std::fs::write(&p, "[images]\n\"nginx:latest\" = 3\n").unwrap();
        let err = ImageMap::load(&p).unwrap_err().to_string();
        assert!(err.contains("images.toml:2: invalid type"), "{err}");
    }
}
