//! The values a deployment's release accepts for VECTOR_STORE and STORAGE_TYPE, and where they
//! came from. In order of preference:
//!
//! 1. the deployment's api image, when it is on the engine: its own `VectorType` enum and
//!    `STORAGE_TYPE` Literal, printed by a short python program in a throwaway container, so a
//!    patched or forked Dify plans right too;
//! 2. the release facts (`matrices/releases/*.toml`) whose `api_images` match the api image,
//!    read from Dify's source of that release;
//! 3. a guess from the deployment's `.env.example` (and the split layout's
//!    `envs/**/*.env.example`): the "Supported values" comment, the "only available when
//!    VECTOR_STORE is `x`" comments and the keys of each section. The comments name some values
//!    differently from the enum (`tidb` for `tidb_vector`); those are mapped.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::envfile::EnvDocument;
use crate::error::{Error, Result, line_of, read_toml, toml_files};
use crate::recipe::Axis;

/// Facts of one Dify release line, read from Dify's source at one commit.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Release {
    /// e.g. `1.13`.
    pub name: String,
    /// Image references of the api service that identify the release (`*` matches any text).
    pub api_images: Vec<String>,
    /// The tag the facts were read at, e.g. `1.13.3`.
    pub tag: String,
    /// The commit of that tag: every fact in the file was read there.
    pub commit: String,
    /// `VectorType` of `api/core/rag/datasource/vdb/vector_type.py`.
    pub vector_stores: Vec<String>,
    /// The `STORAGE_TYPE` Literal of `api/configs/middleware/__init__.py`.
    pub storage_types: Vec<String>,
    /// `api/docker/entrypoint.sh`: the queues a worker consumes when CELERY_QUEUES is unset.
    pub worker_queues: Vec<String>,
    pub database: Database,
    /// VECTOR_STORE value -> compose profile, where the profile has another name.
    #[serde(default)]
    pub profiles: BTreeMap<String, String>,
    /// `docker/docker-compose.yaml`: service -> its compose profiles.
    pub services: BTreeMap<String, Vec<String>>,
    /// `api/docker/entrypoint.sh` with `EDITION=CLOUD`, where the facts say.
    #[serde(default)]
    pub cloud_worker_queues: Option<Vec<String>>,
    #[serde(skip)]
    pub path: PathBuf,
}

impl Release {
    /// What `celery.queues` expects of a deployment of this release: the worker queues of
    /// Dify's entrypoint (the self-hosted list, and the cloud one where the facts have it).
    pub fn expected_queues(&self) -> suites::ExpectedQueues {
        suites::ExpectedQueues {
            release: self.name.clone(),
            self_hosted: self.worker_queues.clone(),
            cloud: self
                .cloud_worker_queues
                .clone()
                .unwrap_or_else(|| self.worker_queues.clone()),
            source: format!(
                "release facts {}: api/docker/entrypoint.sh at {} ({})",
                self.path.file_name().map_or_else(
                    || self.path.display().to_string(),
                    |f| f.to_string_lossy().into()
                ),
                self.tag,
                &self.commit[..self.commit.len().min(12)]
            ),
        }
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

/// Where Dify keeps its own database in a release's compose file.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Database {
    /// `db` (one always-on service) or `db_postgres`/`db_mysql`.
    pub services: Vec<String>,
    /// The compose profiles (DB_TYPE) that select them; empty: always on.
    pub profiles: Vec<String>,
}

/// Every release facts file in `dir`, checked.
pub fn load_releases(dir: &Path) -> Result<Vec<Release>> {
    toml_files(dir)
        .into_iter()
        .map(|path| {
            let (mut release, text): (Release, String) = read_toml(&path, "release facts")?;
            release.path = path;
            release.check(&text)?;
            Ok(release)
        })
        .collect()
}

impl Release {
    fn check(&self, text: &str) -> Result<()> {
        let error = |near: &str, message: String| Error::Data {
            file: self.path.clone(),
            line: text
                .find(&format!("\n{near}"))
                .map(|o| o + 1)
                .or_else(|| text.find(near))
                .map(|o| line_of(text, o)),
            message,
        };
        if self.commit.len() != 40 || !self.commit.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(error(
                "commit",
                format!(
                    "commit `{}`: expected the 40 hex digits of the commit the facts were read at",
                    self.commit
                ),
            ));
        }
        for (key, values) in [
            ("vector_stores", &self.vector_stores),
            ("storage_types", &self.storage_types),
            ("api_images", &self.api_images),
        ] {
            if values.is_empty() {
                return Err(error(key, format!("`{key}` lists nothing")));
            }
        }
        let defined: BTreeSet<&str> = self
            .services
            .values()
            .flatten()
            .map(String::as_str)
            .collect();
        for (value, profile) in &self.profiles {
            if !self.vector_stores.contains(value) {
                return Err(error(
                    &format!("{value} ="),
                    format!(
                        "profiles.{value}: `{value}` is not one of this release's vector_stores"
                    ),
                ));
            }
            if !defined.contains(profile.as_str()) {
                return Err(error(
                    &format!("{value} ="),
                    format!(
                        "profiles.{value} = `{profile}`: no service of this release has that profile"
                    ),
                ));
            }
        }
        for service in &self.database.services {
            if !self.services.contains_key(service) {
                return Err(error(
                    "[database]",
                    format!("database service `{service}` is not one of this release's services"),
                ));
            }
        }
        Ok(())
    }

    pub fn matches(&self, api_image: &str) -> bool {
        self.api_images.iter().any(|p| glob(p, api_image))
    }
}

/// Where the value sets came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// Read from the api image itself.
    ApiImage,
    /// The release facts matching the api image.
    ReleaseFacts,
    /// A guess from `.env.example`.
    EnvExample,
}

/// The value sets of a deployment and how they were found, for `plan` to say.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ValueSets {
    pub vector_stores: Vec<String>,
    pub storage_types: Vec<String>,
    /// The release whose facts matched the api image, if one did.
    pub release: Option<String>,
    pub origin: Origin,
    /// One sentence: where the values came from (and why not from a better source).
    pub source: String,
    /// VECTOR_STORE value -> compose profile where they differ (the matched release's facts).
    pub profiles: BTreeMap<String, String>,
}

/// What reading the api image gave.
#[derive(Clone, Debug, PartialEq)]
pub enum ImageValues {
    /// No api image named, or no engine to look in.
    Unavailable(String),
    /// The engine does not have the image.
    NotOnEngine,
    Read {
        vector_stores: Vec<String>,
        storage_types: Vec<String>,
    },
    /// The image is there but the program failed (not a Dify api image, or an unknown layout).
    Failed(String),
}

impl ValueSets {
    pub fn get(&self, axis: Axis) -> &[String] {
        match axis {
            Axis::VectorStore => &self.vector_stores,
            Axis::StorageType => &self.storage_types,
        }
    }

    /// The compose profile that runs VECTOR_STORE=`value`'s store (whether or not the compose
    /// file defines it).
    pub fn profile_for<'a>(&'a self, value: &'a str) -> &'a str {
        self.profiles.get(value).map_or(value, String::as_str)
    }

    /// The value sets of a deployment whose api runs `api_image`: from the image where it could
    /// be read, else the matching release facts, else a guess from the `.env.example` files.
    pub fn resolve(
        examples: &[&EnvDocument],
        api_image: Option<&str>,
        image: &ImageValues,
        releases: &[Release],
    ) -> Self {
        let release = api_image.and_then(|img| releases.iter().find(|r| r.matches(img)));
        let profiles = release.map(|r| r.profiles.clone()).unwrap_or_default();
        let image_name = api_image.unwrap_or("(none)");
        let why_not_image = match image {
            ImageValues::Unavailable(why) => why.clone(),
            ImageValues::NotOnEngine => format!("the api image {image_name} is not on the engine"),
            ImageValues::Failed(why) => {
                format!("the api image {image_name} could not be read: {why}")
            }
            ImageValues::Read {
                vector_stores,
                storage_types,
            } => {
                return Self {
                    vector_stores: vector_stores.clone(),
                    storage_types: storage_types.clone(),
                    release: release.map(|r| r.name.clone()),
                    origin: Origin::ApiImage,
                    source: format!(
                        "the api image {image_name} (its VectorType and STORAGE_TYPE, read in a throwaway container)"
                    ),
                    profiles,
                };
            }
        };
        match release {
            Some(r) => Self {
                vector_stores: r.vector_stores.clone(),
                storage_types: r.storage_types.clone(),
                release: Some(r.name.clone()),
                origin: Origin::ReleaseFacts,
                source: format!(
                    "release {} facts ({}, read at Dify {} {}); {why_not_image}",
                    r.name,
                    r.path.display(),
                    r.tag,
                    &r.commit[..12.min(r.commit.len())]
                ),
                profiles,
            },
            None => {
                let (vector_stores, storage_types) = guess(examples);
                let first = examples.first().map(|e| e.path().display().to_string());
                Self {
                    vector_stores,
                    storage_types,
                    release: None,
                    origin: Origin::EnvExample,
                    source: format!(
                        "a GUESS from the comments, sections and keys of {} (no release facts match the api image {image_name}, and {why_not_image}); it may miss values or list wrong ones",
                        first.unwrap_or_else(|| "no .env.example".into())
                    ),
                    profiles,
                }
            }
        }
    }
}

/// `.env.example` comments that name a value differently from Dify's enum: comment name ->
/// enum name (`VectorType.TIDB_VECTOR` is `tidb_vector`; one comment misspells
/// `alibabacloud_mysql`).
pub const COMMENT_NAMES: &[(&str, &str)] = &[
    ("tidb", "tidb_vector"),
    ("alibabcloud_mysql", "alibabacloud_mysql"),
];

/// Key prefixes of `.env.example`'s storage sections -> the STORAGE_TYPE value they configure.
const STORAGE_KEYS: &[(&str, &str)] = &[
    ("OPENDAL_", "opendal"),
    ("STORAGE_LOCAL_PATH", "local"),
    ("S3_", "s3"),
    ("AZURE_BLOB_", "azure-blob"),
    ("GOOGLE_STORAGE_", "google-storage"),
    ("ALIYUN_OSS_", "aliyun-oss"),
    ("TENCENT_COS_", "tencent-cos"),
    ("OCI_", "oci-storage"),
    ("HUAWEI_OBS_", "huawei-obs"),
    ("VOLCENGINE_TOS_", "volcengine-tos"),
    ("BAIDU_OBS_", "baidu-obs"),
    ("SUPABASE_", "supabase"),
    ("CLICKZETTA_VOLUME_", "clickzetta-volume"),
];

/// Key prefixes of `.env.example`'s vector-store sections -> the VECTOR_STORE value. Longer
/// prefixes first where one contains another (`CLICKZETTA_VOLUME_` is storage, `TIDB_ON_QDRANT_`
/// is not `TIDB_VECTOR_`).
const VECTOR_KEYS: &[(&str, &str)] = &[
    ("WEAVIATE_", "weaviate"),
    ("OCEANBASE_", "oceanbase"),
    ("SEEKDB_", "seekdb"),
    ("QDRANT_", "qdrant"),
    ("MILVUS_", "milvus"),
    ("MYSCALE_", "myscale"),
    ("COUCHBASE_", "couchbase"),
    ("PGVECTOR_", "pgvector"),
    ("PGVECTO_RS_", "pgvecto-rs"),
    ("VASTBASE_", "vastbase"),
    ("CHROMA_", "chroma"),
    ("OPENSEARCH_", "opensearch"),
    ("ORACLE_", "oracle"),
    ("ELASTICSEARCH_", "elasticsearch"),
    ("OPENGAUSS_", "opengauss"),
    ("MATRIXONE_", "matrixone"),
    ("IRIS_", "iris"),
    ("TIDB_VECTOR_", "tidb_vector"),
    ("TIDB_ON_QDRANT_", "tidb_on_qdrant"),
    ("RELYT_", "relyt"),
    ("ANALYTICDB_", "analyticdb"),
    ("TENCENT_VECTOR_DB_", "tencent"),
    ("BAIDU_VECTOR_DB_", "baidu"),
    ("VIKINGDB_", "vikingdb"),
    ("LINDORM_", "lindorm"),
    ("HUAWEI_CLOUD_", "huawei_cloud"),
    ("UPSTASH_VECTOR_", "upstash"),
    ("TABLESTORE_", "tablestore"),
    ("CLICKZETTA_", "clickzetta"),
    ("ALIBABACLOUD_MYSQL_", "alibabacloud_mysql"),
    ("HOLOGRES_", "hologres"),
];

/// The enum name of a value as a comment spells it.
pub fn enum_name(comment_name: &str) -> &str {
    COMMENT_NAMES
        .iter()
        .find(|(c, _)| *c == comment_name)
        .map_or(comment_name, |(_, e)| e)
}

/// The guessed VECTOR_STORE and STORAGE_TYPE values of `.env.example` files: the "Supported
/// values" comment above each key, values named in "when VECTOR_STORE is `x`" and
/// "STORAGE_TYPE=x" comments, the value each key's prefix configures, and the key's own value.
pub fn guess(examples: &[&EnvDocument]) -> (Vec<String>, Vec<String>) {
    let mut vectors = Ordered::default();
    let mut storages = Ordered::default();
    for doc in examples {
        for v in supported_values(doc, "VECTOR_STORE") {
            vectors.push(enum_name(&v));
        }
        for v in supported_values(doc, "STORAGE_TYPE") {
            storages.push(&v);
        }
    }
    for doc in examples {
        let text = doc.render();
        for line in text.lines().map(str::trim) {
            if let Some(comment) = line.strip_prefix('#') {
                for (key, set) in [
                    ("VECTOR_STORE", &mut vectors),
                    ("STORAGE_TYPE", &mut storages),
                ] {
                    for v in named_in_comment(comment, key) {
                        set.push(enum_name(&v));
                    }
                }
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            let key = key.trim();
            match key {
                "VECTOR_STORE" if !value.trim().is_empty() => vectors.push(value.trim()),
                "STORAGE_TYPE" if !value.trim().is_empty() => storages.push(value.trim()),
                _ => {
                    if let Some((_, v)) = STORAGE_KEYS.iter().find(|(p, _)| key.starts_with(p)) {
                        storages.push(v);
                    } else if let Some((_, v)) =
                        VECTOR_KEYS.iter().find(|(p, _)| key.starts_with(p))
                    {
                        vectors.push(v);
                    }
                }
            }
        }
    }
    (vectors.0, storages.0)
}

/// Values a comment names for `key`: "when VECTOR_STORE is `x`", "set STORAGE_TYPE=x".
fn named_in_comment(comment: &str, key: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (at, _) in comment.match_indices(key) {
        let rest = &comment[at + key.len()..];
        let value = if let Some(v) = rest.strip_prefix('=') {
            v.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
                .next()
        } else if let Some(v) = rest.trim_start().strip_prefix("is `") {
            v.split('`').next()
        } else {
            None
        };
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            out.push(v.to_string());
        }
    }
    out
}

#[derive(Default)]
struct Ordered(Vec<String>);

impl Ordered {
    fn push(&mut self, v: &str) {
        if !self.0.iter().any(|x| x == v) {
            self.0.push(v.to_string());
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
    let mut values = Ordered::default();
    for line in &block[first..] {
        for v in line.split('`').skip(1).step_by(2) {
            values.push(v.trim());
        }
    }
    values.0
}

/// The python program run in the api image: prints one marked JSON line with the
/// `VectorType` values and the `STORAGE_TYPE` Literal's arguments, from the modules Dify
/// defines them in (`api/core/rag/datasource/vdb/vector_type.py`,
/// `api/configs/middleware/__init__.py`; 0.15 to 1.15 alike).
pub const IMAGE_PROGRAM: &str = r#"
import json, typing, importlib
from core.rag.datasource.vdb.vector_type import VectorType
m = importlib.import_module("configs.middleware")
lit = None
for o in list(vars(m).values()):
    if isinstance(o, type):
        f = getattr(o, "model_fields", {}).get("STORAGE_TYPE")
        a = f.annotation if f is not None else getattr(o, "__annotations__", {}).get("STORAGE_TYPE")
        if a is not None and typing.get_args(a):
            lit = a
            break
if lit is None:
    raise SystemExit("no STORAGE_TYPE Literal in configs.middleware")
print("DIFY-CONFORMANCE-VALUES " + json.dumps({"vector_stores": [v.value for v in VectorType], "storage_types": [str(a) for a in typing.get_args(lit)]}))
"#;

const IMAGE_MARKER: &str = "DIFY-CONFORMANCE-VALUES ";

/// Reads the image program's output; anything else is a reason the image could not be read.
pub fn parse_image_output(exit_code: i64, output: &str) -> ImageValues {
    #[derive(Deserialize)]
    struct Printed {
        vector_stores: Vec<String>,
        storage_types: Vec<String>,
    }
    let printed = output
        .lines()
        .find_map(|l| l.trim().strip_prefix(IMAGE_MARKER.trim_end()))
        .map(|json| serde_json::from_str::<Printed>(json.trim()));
    match printed {
        Some(Ok(p))
            if exit_code == 0 && !p.vector_stores.is_empty() && !p.storage_types.is_empty() =>
        {
            ImageValues::Read {
                vector_stores: p.vector_stores,
                storage_types: p.storage_types,
            }
        }
        Some(Ok(_)) if exit_code == 0 => {
            ImageValues::Failed("it printed an empty value set".into())
        }
        Some(Err(e)) => ImageValues::Failed(format!("its output is not the expected JSON ({e})")),
        _ => {
            let last = output
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("(no output)");
            ImageValues::Failed(format!("python exited {exit_code}: {}", last.trim()))
        }
    }
}

/// How long the image program may take (container start plus importing Dify's config).
const IMAGE_TIMEOUT: Duration = Duration::from_secs(90);

/// Reads the value sets from `api_image` when the engine has it.
pub async fn read_from_image(api_image: Option<&str>) -> ImageValues {
    let Some(image) = api_image else {
        return ImageValues::Unavailable("the deployment names no api image".into());
    };
    let engine = match crate::engine::Engine::connect().await {
        Ok(engine) => engine,
        Err(e) => return ImageValues::Unavailable(format!("no engine to read {image} from ({e})")),
    };
    if !engine.image_exists(image).await {
        return ImageValues::NotOnEngine;
    }
    // Labelled like a run's objects, so the reaper removes it if this process dies mid-read.
    let labels = crate::labels::for_cell(
        &format!("values-{}", uuid::Uuid::new_v4().simple()),
        "values",
    );
    match engine
        .run_once(
            image,
            &["python3", "-c", IMAGE_PROGRAM],
            &labels,
            IMAGE_TIMEOUT,
        )
        .await
    {
        Ok((code, output)) => parse_image_output(code, &output),
        Err(e) => ImageValues::Failed(e),
    }
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
    use rstest::rstest;

    fn doc(text: &str) -> EnvDocument {
        EnvDocument::parse(Path::new(".env.example"), text).unwrap()
    }

    #[test]
    fn reads_supported_values_from_the_comment_above_the_key() {
        let d = doc(
            "# The type of vector store to use.\n# Supported values are `weaviate`, `qdrant`,\n# `milvus`, `tidb`.\nVECTOR_STORE=weaviate\n",
        );
        assert_eq!(
            supported_values(&d, "VECTOR_STORE"),
            ["weaviate", "qdrant", "milvus", "tidb"]
        );
        assert!(supported_values(&d, "STORAGE_TYPE").is_empty());
    }

    /// The comment forms seen across releases' `.env.example` (0.15 to 1.15), reduced.
    #[rstest]
    // 0.15: one line, the enum's own name for TiDB.
    #[case::v0_15(
        "# Supported values are `weaviate`, `qdrant`, `tidb_vector`, `oceanbase`.\nVECTOR_STORE=weaviate\n",
        &["weaviate", "qdrant", "tidb_vector", "oceanbase"]
    )]
    // 1.5 to 1.13: `tidb` for tidb_vector, and no space after some commas.
    #[case::v1_5(
        "# Supported values are `weaviate`, `tablestore`,`vastbase`,`tidb`,`tidb_on_qdrant`, `matrixone`.\nVECTOR_STORE=weaviate\n",
        &["weaviate", "tablestore", "vastbase", "tidb_vector", "tidb_on_qdrant", "matrixone"]
    )]
    // 1.10 to 1.12: a section comment misspells alibabacloud_mysql; keys name other stores.
    #[case::v1_10(
        "# Supported values are `weaviate`.\nVECTOR_STORE=weaviate\n\n# AlibabaCloud MySQL configuration, only available when VECTOR_STORE is `alibabcloud_mysql`\nALIBABACLOUD_MYSQL_HOST=127.0.0.1\n# Lindorm\nLINDORM_URL=http://localhost:30070\nUPSTASH_VECTOR_URL=\n",
        &["weaviate", "alibabacloud_mysql", "lindorm", "upstash"]
    )]
    // 1.15: no comment at all; the split layout's files name stores by their keys.
    #[case::v1_15(
        "# Storage and default vector store\nSTORAGE_TYPE=opendal\nVECTOR_STORE=weaviate\nWEAVIATE_ENDPOINT=http://weaviate:8080\nPGVECTOR_HOST=pgvector\nTIDB_ON_QDRANT_URL=\nTIDB_VECTOR_HOST=tidb\n",
        &["weaviate", "pgvector", "tidb_on_qdrant", "tidb_vector"]
    )]
    fn guesses_vector_stores_from_each_comment_form(#[case] text: &str, #[case] expected: &[&str]) {
        let (vectors, _) = guess(&[&doc(text)]);
        assert_eq!(vectors, expected);
    }

    #[test]
    fn guesses_storage_types_from_sections_and_keys() {
        // The storage part of a 1.13 `.env.example`, reduced: no list of values anywhere.
        let d = doc(
            "# The type of storage to use for storing user files.\nSTORAGE_TYPE=opendal\n\
             OPENDAL_SCHEME=fs\n\
             # To use ClickZetta Volume as storage backend, set STORAGE_TYPE=clickzetta-volume\n\
             CLICKZETTA_VOLUME_TYPE=user\n\
             # S3 Configuration\nS3_ENDPOINT=\nS3_BUCKET_NAME=difyai\n\
             ARCHIVE_STORAGE_ENABLED=false\n\
             # Azure Blob Configuration\nAZURE_BLOB_ACCOUNT_NAME=difyai\n\
             GOOGLE_STORAGE_BUCKET_NAME=x\nALIYUN_OSS_BUCKET_NAME=x\nTENCENT_COS_BUCKET_NAME=x\n\
             OCI_ENDPOINT=x\nHUAWEI_OBS_BUCKET_NAME=x\nVOLCENGINE_TOS_BUCKET_NAME=x\n\
             BAIDU_OBS_BUCKET_NAME=x\nSUPABASE_BUCKET_NAME=x\n\
             # ClickZetta is also a vector store\nCLICKZETTA_USERNAME=\n",
        );
        let (vectors, storages) = guess(&[&d]);
        assert_eq!(
            storages,
            [
                "opendal",
                "clickzetta-volume",
                "s3",
                "azure-blob",
                "google-storage",
                "aliyun-oss",
                "tencent-cos",
                "oci-storage",
                "huawei-obs",
                "volcengine-tos",
                "baidu-obs",
                "supabase"
            ]
        );
        assert_eq!(vectors, ["clickzetta"]);
    }

    #[rstest]
    #[case("tidb", "tidb_vector")]
    #[case("alibabcloud_mysql", "alibabacloud_mysql")]
    #[case("tidb_on_qdrant", "tidb_on_qdrant")]
    #[case("weaviate", "weaviate")]
    fn comment_names_map_to_enum_names(#[case] comment: &str, #[case] enum_value: &str) {
        assert_eq!(enum_name(comment), enum_value);
    }

    fn release() -> Release {
        Release {
            name: "1.13".into(),
            api_images: vec!["langgenius/dify-api:1.13.*".into()],
            tag: "1.13.3".into(),
            commit: "59639ca9b2".repeat(4),
            vector_stores: vec!["weaviate".into(), "tidb_vector".into()],
            storage_types: vec!["opendal".into(), "s3".into()],
            worker_queues: vec!["dataset".into()],
            database: Database {
                services: vec!["db".into()],
                profiles: vec![],
            },
            profiles: BTreeMap::from([("tidb_vector".into(), "tidb".into())]),
            services: BTreeMap::from([("db".into(), vec![]), ("tidb".into(), vec!["tidb".into()])]),
            cloud_worker_queues: None,
            path: PathBuf::from("matrices/releases/1.13.toml"),
        }
    }

    #[test]
    fn the_image_wins_then_release_facts_then_the_guess() {
        let d = doc("VECTOR_STORE=weaviate\nSTORAGE_TYPE=opendal\n");
        let r = release();
        let from_image = ImageValues::Read {
            vector_stores: vec!["weaviate".into(), "patched".into()],
            storage_types: vec!["opendal".into()],
        };
        let sets = ValueSets::resolve(
            &[&d],
            Some("langgenius/dify-api:1.13.3"),
            &from_image,
            std::slice::from_ref(&r),
        );
        assert_eq!(sets.origin, Origin::ApiImage);
        assert_eq!(sets.vector_stores, ["weaviate", "patched"]);
        assert_eq!(sets.release.as_deref(), Some("1.13"));
        assert!(
            sets.source.contains("api image langgenius/dify-api:1.13.3"),
            "{}",
            sets.source
        );

        let sets = ValueSets::resolve(
            &[&d],
            Some("langgenius/dify-api:1.13.3"),
            &ImageValues::NotOnEngine,
            std::slice::from_ref(&r),
        );
        assert_eq!(sets.origin, Origin::ReleaseFacts);
        assert_eq!(sets.vector_stores, ["weaviate", "tidb_vector"]);
        assert_eq!(sets.profile_for("tidb_vector"), "tidb");
        assert_eq!(sets.profile_for("weaviate"), "weaviate");
        assert!(
            sets.source.contains("is not on the engine"),
            "{}",
            sets.source
        );

        let sets = ValueSets::resolve(
            &[&d],
            Some("langgenius/dify-api:1.10.1"),
            &ImageValues::Failed("python exited 1".into()),
            &[r],
        );
        assert_eq!(sets.origin, Origin::EnvExample);
        assert_eq!(sets.vector_stores, ["weaviate"]);
        assert_eq!(sets.storage_types, ["opendal"]);
        assert!(sets.source.starts_with("a GUESS"), "{}", sets.source);
        assert!(sets.source.contains("could not be read: python exited 1"));
    }

    #[rstest]
    #[case::read(0, "warning: x\nDIFY-CONFORMANCE-VALUES {\"vector_stores\": [\"a\"], \"storage_types\": [\"b\"]}\n", Ok(()))]
    #[case::import_error(
        1,
        "Traceback...\nModuleNotFoundError: No module named 'core'\n",
        Err("python exited 1: ModuleNotFoundError: No module named 'core'")
    )]
    #[case::empty(
        0,
        "DIFY-CONFORMANCE-VALUES {\"vector_stores\": [], \"storage_types\": [\"b\"]}\n",
        Err("it printed an empty value set")
    )]
    fn image_output_is_read_or_explained(
        #[case] code: i64,
        #[case] output: &str,
        #[case] expected: std::result::Result<(), &str>,
    ) {
        match (parse_image_output(code, output), expected) {
            (ImageValues::Read { vector_stores, .. }, Ok(())) => assert_eq!(vector_stores, ["a"]),
            (ImageValues::Failed(why), Err(e)) => assert_eq!(why, e),
            (got, _) => panic!("{got:?}"),
        }
    }

    #[test]
    fn bad_release_facts_name_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let good =
            std::fs::read_to_string(crate::deployment::bundled::releases().join("0.15.toml"))
                .unwrap();
        std::fs::write(dir.path().join("a.toml"), &good).unwrap();
        assert_eq!(
            load_releases(dir.path()).unwrap()[0].profiles["tidb_vector"],
            "tidb"
        );
        std::fs::write(
            dir.path().join("a.toml"),
            good.replace("tidb_vector = \"tidb\"", "tidb_vector = \"tidb-x\""),
        )
        .unwrap();
        let err = load_releases(dir.path()).unwrap_err().to_string();
        assert!(
            err.ends_with(
                "profiles.tidb_vector = `tidb-x`: no service of this release has that profile"
            ),
            "{err}"
        );
        std::fs::write(
            dir.path().join("a.toml"),
            good.replace("commit = \"4b938ab", "commit = \"zz"),
        )
        .unwrap();
        let err = load_releases(dir.path()).unwrap_err().to_string();
        assert!(err.contains("a.toml:6: commit `zz"), "{err}");
    }

    #[test]
    fn bundled_releases_name_the_worker_queues_per_edition() {
        let releases = load_releases(&crate::deployment::bundled::releases()).unwrap();
        let r113 = releases.iter().find(|r| r.name == "1.13").unwrap();
        let q = r113.expected_queues();
        assert_eq!(q.self_hosted.len(), 19, "research §13: 19 queues");
        assert!(
            q.source
                .starts_with("release facts 1.13.toml: api/docker/entrypoint.sh at 1.13.3"),
            "{}",
            q.source
        );
        // Dify's entrypoint: EDITION=CLOUD swaps `workflow` for three queues, nothing else.
        for r in releases.iter().filter(|r| r.cloud_worker_queues.is_some()) {
            let q = r.expected_queues();
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
        assert_eq!(name("1.1.3"), Some("1.1"));
        assert_eq!(name("0.6.9"), None);
        assert_eq!(name("1.130.0"), None);
        assert_eq!(name(""), None);
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
        assert!(!glob(
            "langgenius/dify-api:1.1.*",
            "langgenius/dify-api:1.10.1"
        ));
        assert!(glob("*standin-api*", "dify-conformance/standin-api:local"));
    }
}
