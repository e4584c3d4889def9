//! The values a deployment's release accepts for VECTOR_STORE and STORAGE_TYPE.
//!
//! Read from the deployment itself where it says (the "Supported values are `a`, `b`" comment
//! above the key in `.env.example`); per-release facts (`matrices/releases/*.toml`) complete or
//! correct that where the directory does not say or says wrong (Dify's comments list `tidb` for
//! the enum value `tidb_vector`, and no STORAGE_TYPE list at all).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::envfile::EnvDocument;
use crate::error::{Result, read_toml, toml_files};
use crate::recipe::Axis;

/// Facts of one Dify release line that its `docker/` directory does not state.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Release {
    /// e.g. `1.13`.
    pub name: String,
    /// Image references of the api service that identify the release (`*` matches any text).
    pub api_images: Vec<String>,
    pub vector_stores: Vec<String>,
    pub storage_types: Vec<String>,
    /// The queues the release's api publishes to (`[celery]`), when the facts say.
    #[serde(default)]
    pub celery: Option<CeleryFacts>,
    #[serde(skip)]
    pub path: PathBuf,
}

/// The `[celery]` table of a release facts file.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CeleryFacts {
    /// Where the lists were read (Dify file and commit), shown in the check's expectation.
    pub source: String,
    /// The worker queues of the self-hosted edition (Dify's default `EDITION`).
    pub queues: Vec<String>,
    /// The worker queues under `EDITION=CLOUD`.
    pub cloud_queues: Vec<String>,
}

impl Release {
    /// What `celery.queues` expects of a deployment of this release, if the facts say.
    pub fn expected_queues(&self) -> Option<suites::ExpectedQueues> {
        let c = self.celery.as_ref()?;
        Some(suites::ExpectedQueues {
            release: self.name.clone(),
            self_hosted: c.queues.clone(),
            cloud: c.cloud_queues.clone(),
            source: format!(
                "release facts {}: {}",
                self.path.file_name().map_or_else(
                    || self.path.display().to_string(),
                    |f| f.to_string_lossy().into()
                ),
                c.source
            ),
        })
    }
}

/// The release line of a version the api reports (`1.13.3`, `1.13.3+standin` -> `1.13`), for a
/// deployment known by its answers rather than its images (`check --base-url`).
pub fn release_for_version<'a>(version: &str, releases: &'a [Release]) -> Option<&'a Release> {
    let version = version.trim();
    releases.iter().find(|r| {
        version
            .strip_prefix(r.name.as_str())
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '+', '-']))
    })
}

/// The release whose facts match the api image, if any.
pub fn release_for<'a>(api_image: Option<&str>, releases: &'a [Release]) -> Option<&'a Release> {
    let img = api_image?;
    releases
        .iter()
        .find(|r| r.api_images.iter().any(|p| glob(p, img)))
}

/// Every release facts file in `dir`.
pub fn load_releases(dir: &Path) -> Result<Vec<Release>> {
    toml_files(dir)
        .into_iter()
        .map(|path| {
            let (mut release, _): (Release, String) = read_toml(&path, "release facts")?;
            release.path = path;
            Ok(release)
        })
        .collect()
}

/// Where a value set came from, for `plan` to say.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ValueSets {
    pub vector_stores: Vec<String>,
    pub storage_types: Vec<String>,
    /// The release whose facts applied, if one matched the api image.
    pub release: Option<String>,
    pub source: String,
}

impl ValueSets {
    pub fn get(&self, axis: Axis) -> &[String] {
        match axis {
            Axis::VectorStore => &self.vector_stores,
            Axis::StorageType => &self.storage_types,
        }
    }

    /// The value sets of a deployment whose api runs `api_image`.
    pub fn read(example: &EnvDocument, api_image: Option<&str>, releases: &[Release]) -> Self {
        let release = release_for(api_image, releases);
        let from_comments = |key: &str| supported_values(example, key);
        match release {
            Some(r) => Self {
                vector_stores: r.vector_stores.clone(),
                storage_types: r.storage_types.clone(),
                release: Some(r.name.clone()),
                source: format!("release {} facts ({})", r.name, r.path.display()),
            },
            None => {
                let with_current = |key: &str| {
                    let mut values = from_comments(key);
                    if let Some(v) = example.get(key).filter(|v| !v.is_empty())
                        && !values.contains(&v)
                    {
                        values.push(v);
                    }
                    values
                };
                Self {
                    vector_stores: with_current("VECTOR_STORE"),
                    storage_types: with_current("STORAGE_TYPE"),
                    release: None,
                    source: format!(
                        "the comments of {} (no release facts match the api image {})",
                        example.path().display(),
                        api_image.unwrap_or("(none)")
                    ),
                }
            }
        }
    }
}

/// The backticked values of a "Supported values are `a`, `b`" comment just above `key`.
pub fn supported_values(example: &EnvDocument, key: &str) -> Vec<String> {
    let text = example.render();
    let lines: Vec<&str> = text.lines().collect();
    let Some(at) = lines
        .iter()
        .rposition(|l| l.trim_start().starts_with(&format!("{key}=")))
    else {
        return Vec::new();
    };
    // The comment block right above the key; the list starts at its "supported" line and may
    // continue on the following comment lines.
    let start = lines[..at]
        .iter()
        .rposition(|l| !l.trim_start().starts_with('#'))
        .map_or(0, |i| i + 1);
    let block = &lines[start..at];
    let Some(first) = block
        .iter()
        .position(|l| l.to_ascii_lowercase().contains("supported"))
    else {
        return Vec::new();
    };
    let mut seen = BTreeSet::new();
    let mut values = Vec::new();
    for line in &block[first..] {
        for v in line.split('`').skip(1).step_by(2) {
            if seen.insert(v.to_string()) {
                values.push(v.to_string());
            }
        }
    }
    values
}

fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, tail)) => {
            text.len() >= head.len()
                && text.starts_with(head)
                && glob_rest(tail, &text[head.len()..])
        }
    }
}

fn glob_rest(pattern: &str, text: &str) -> bool {
    if pattern.is_empty() {
        return true;
    }
    (0..=text.len()).any(|i| text.is_char_boundary(i) && glob(pattern, &text[i..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_supported_values_from_the_comment_above_the_key() {
        let doc = EnvDocument::parse(
            Path::new(".env.example"),
            "# The type of vector store to use.\n# Supported values are `weaviate`, `qdrant`,\n# `milvus`, `tidb`.\nVECTOR_STORE=weaviate\n",
        )
        .unwrap();
        assert_eq!(
            supported_values(&doc, "VECTOR_STORE"),
            ["weaviate", "qdrant", "milvus", "tidb"]
        );
        assert!(supported_values(&doc, "STORAGE_TYPE").is_empty());
    }

    #[test]
    fn release_facts_win_when_the_api_image_matches() {
        let doc = EnvDocument::parse(
            Path::new("e"),
            "VECTOR_STORE=weaviate\nSTORAGE_TYPE=opendal\n",
        )
        .unwrap();
        let release = Release {
            name: "1.13".into(),
            api_images: vec!["langgenius/dify-api:1.13.*".into()],
            vector_stores: vec!["weaviate".into(), "tidb_vector".into()],
            storage_types: vec!["opendal".into(), "s3".into()],
            celery: None,
            path: PathBuf::from("matrices/releases/1.13.toml"),
        };
        let sets = ValueSets::read(
            &doc,
            Some("langgenius/dify-api:1.13.3"),
            std::slice::from_ref(&release),
        );
        assert_eq!(sets.release.as_deref(), Some("1.13"));
        assert_eq!(sets.vector_stores, ["weaviate", "tidb_vector"]);
        let sets = ValueSets::read(&doc, Some("langgenius/dify-api:1.10.1"), &[release]);
        assert_eq!(sets.release, None);
        assert_eq!(sets.vector_stores, ["weaviate"]);
        assert_eq!(sets.storage_types, ["opendal"]);
    }

    #[test]
    fn bundled_releases_name_the_worker_queues_per_edition() {
        let releases = load_releases(&crate::deployment::bundled::releases()).unwrap();
        let r113 = releases.iter().find(|r| r.name == "1.13").unwrap();
        let q = r113.expected_queues().unwrap();
        assert_eq!(q.self_hosted.len(), 19, "research §13: 19 queues");
        assert!(
            q.source.starts_with("release facts 1.13.toml: "),
            "{}",
            q.source
        );
        // Dify's entrypoint: EDITION=CLOUD swaps `workflow` for three queues, nothing else.
        for r in releases.iter().filter(|r| r.celery.is_some()) {
            let q = r.expected_queues().unwrap();
            let cloud: BTreeSet<&str> = q.cloud.iter().map(String::as_str).collect();
            let mut swapped: BTreeSet<&str> = q
                .self_hosted
                .iter()
                .map(String::as_str)
                .filter(|q| *q != "workflow")
                .collect();
            swapped.extend(["workflow_professional", "workflow_team", "workflow_sandbox"]);
            assert_eq!(cloud, swapped, "{}", r.path.display());
        }
    }

    #[test]
    fn finds_the_release_line_of_a_reported_version() {
        let releases = load_releases(&crate::deployment::bundled::releases()).unwrap();
        let name = |v: &str| release_for_version(v, &releases).map(|r| r.name.as_str());
        assert_eq!(name("1.13.3"), Some("1.13"));
        assert_eq!(name("1.13.3+standin"), Some("1.13"));
        assert_eq!(name("1.15.0"), Some("1.15"));
        assert_eq!(name("1.1.3"), None);
        assert_eq!(name("1.130.0"), None);
        assert_eq!(name(""), None);
    }

    #[test]
    fn the_celery_table_rejects_unknown_keys() {
        let err = toml::from_str::<Release>(
            "name = \"x\"\napi_images = []\nvector_stores = []\nstorage_types = []\n\
             [celery]\nsource = \"s\"\nqueues = []\ncloud_queues = []\nqueus = []\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("queus"), "{err}");
    }

    #[test]
    fn globs() {
        assert!(glob(
            "langgenius/dify-api:1.13.*",
            "langgenius/dify-api:1.13.3"
        ));
        assert!(!glob(
            "langgenius/dify-api:1.13.*",
            "langgenius/dify-api:1.1.3"
        ));
        assert!(glob("*standin-api*", "dify-conformance/standin-api:local"));
    }
}
