//! Recipes: what a VECTOR_STORE or STORAGE_TYPE value needs to run inside a compose stack,
//! as data (`matrices/recipes/<axis>/<value>.toml`), never as code.
//!
//! A recipe says whether the value runs here (`runs = "local"`) or needs an account somewhere
//! (`runs = "external"`, with the keys a user must supply), the `.env` keys to set, environment
//! the app services need that Dify's compose does not pass through from `.env`, networks the app
//! services must join, extra services (an S3 emulator, a bucket-creating job) and which of them
//! the app services wait for.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result, line_of, read_toml, toml_files};

/// An axis of the matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Axis {
    VectorStore,
    StorageType,
}

impl Axis {
    pub const ALL: [Axis; 2] = [Axis::VectorStore, Axis::StorageType];

    /// The `.env` key the axis sets.
    pub fn env_key(self) -> &'static str {
        match self {
            Axis::VectorStore => "VECTOR_STORE",
            Axis::StorageType => "STORAGE_TYPE",
        }
    }

    /// The name used in matrix files and recipe folders.
    pub fn name(self) -> &'static str {
        match self {
            Axis::VectorStore => "vector_store",
            Axis::StorageType => "storage_type",
        }
    }
}

/// Where a value can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Runs {
    /// Inside the stack: a compose profile or a service the recipe adds.
    Local,
    /// Against a cloud service; needs credentials the user supplies.
    External,
    /// Dify's compose has a service for it, but its image needs a licence no public registry
    /// grants (`licence` says which and why).
    Licensed,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    #[serde(default)]
    pub description: String,
    pub runs: Runs,
    /// External values: the `.env` keys a user must supply for the value to work.
    #[serde(default)]
    pub needs: Vec<String>,
    /// Licensed values: what licence the image needs.
    #[serde(default)]
    pub licence: Option<String>,
    /// `.env` keys the cell sets.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Environment added to the app services (those Dify gives its shared env: api, worker,
    /// worker_beat) for keys its compose file does not pass through from `.env`.
    #[serde(default)]
    pub service_env: BTreeMap<String, String>,
    /// Networks the app services join (e.g. `milvus`, on which Dify's milvus lives alone).
    #[serde(default)]
    pub networks: Vec<String>,
    /// Extra compose services, in compose syntax.
    #[serde(default)]
    pub services: BTreeMap<String, toml::Value>,
    /// Services the app services wait for: name -> compose `depends_on` condition.
    #[serde(default)]
    pub wait_for: BTreeMap<String, String>,
    /// How to look at the value's server from where the api runs (see [`RecipeProbe`]).
    #[serde(default)]
    pub probe: Option<RecipeProbe>,
    #[serde(skip)]
    pub path: PathBuf,
}

/// A Python script run with the api's image, environment and networks (so with exactly the
/// settings and reach the api has). For a vector store it speaks the store's own protocol and
/// prints what answered; for a storage type it gets an uploaded file's id as `sys.argv[1]` and
/// prints one line per place that file is stored. A non-zero exit means "did not answer".
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RecipeProbe {
    pub python: String,
}

/// All recipes, by axis and value.
#[derive(Clone, Debug, Default)]
pub struct RecipeBook {
    recipes: BTreeMap<(Axis, String), Recipe>,
}

const CONDITIONS: &[&str] = &[
    "service_started",
    "service_healthy",
    "service_completed_successfully",
];

impl RecipeBook {
    /// Reads `dir/vector_store/*.toml` and `dir/storage_type/*.toml`.
    pub fn load(dir: &Path) -> Result<Self> {
        let mut recipes = BTreeMap::new();
        for axis in Axis::ALL {
            for path in toml_files(&dir.join(axis.name())) {
                let value = path
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let recipe = Self::load_one(&path)?;
                recipes.insert((axis, value), recipe);
            }
        }
        Ok(Self { recipes })
    }

    fn load_one(path: &Path) -> Result<Recipe> {
        let (mut recipe, text): (Recipe, String) = read_toml(path, "recipe")?;
        let error = |line: Option<usize>, message: String| Error::Data {
            file: path.to_path_buf(),
            line,
            message,
        };
        let line_of_text = |needle: &str| text.find(needle).map(|o| line_of(&text, o));
        for (service, condition) in &recipe.wait_for {
            if !CONDITIONS.contains(&condition.as_str()) {
                return Err(error(
                    line_of_text(condition),
                    format!(
                        "wait_for.{service} = `{condition}`: expected one of {}",
                        CONDITIONS.join(", ")
                    ),
                ));
            }
        }
        if recipe.runs == Runs::External && recipe.needs.is_empty() {
            return Err(error(
                line_of_text("runs"),
                "an external recipe must list the keys it `needs`".into(),
            ));
        }
        if (recipe.runs == Runs::Licensed) != recipe.licence.is_some() {
            return Err(error(
                line_of_text("runs"),
                "`licence` (what licence the image needs) goes with `runs = \"licensed\"`, and only with it".into(),
            ));
        }
        recipe.path = path.to_path_buf();
        Ok(recipe)
    }

    pub fn get(&self, axis: Axis, value: &str) -> Option<&Recipe> {
        self.recipes.get(&(axis, value.to_string()))
    }

    pub fn values(&self, axis: Axis) -> impl Iterator<Item = &str> {
        self.recipes
            .keys()
            .filter(move |(a, _)| *a == axis)
            .map(|(_, v)| v.as_str())
    }
}

/// The recipes of one cell combined: what the workspace applies.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CellRecipe {
    pub env: BTreeMap<String, String>,
    pub service_env: BTreeMap<String, String>,
    pub networks: BTreeSet<String>,
    pub services: BTreeMap<String, serde_json::Value>,
    pub wait_for: BTreeMap<String, String>,
}

impl CellRecipe {
    /// Combines recipes; two recipes setting one key or service differently is an error.
    pub fn combine<'a>(recipes: impl IntoIterator<Item = &'a Recipe>) -> Result<Self> {
        let mut cell = CellRecipe::default();
        for r in recipes {
            let services = r
                .services
                .iter()
                .map(|(name, def)| {
                    serde_json::to_value(def)
                        .map(|json| (name.clone(), json))
                        .map_err(|e| {
                            Error::BadInput(format!("{}: service {name}: {e}", r.path.display()))
                        })
                })
                .collect::<Result<Vec<_>>>()?;
            merge(&mut cell.env, r.env.clone(), ".env key", r)?;
            merge(
                &mut cell.service_env,
                r.service_env.clone(),
                "service environment key",
                r,
            )?;
            merge(&mut cell.services, services, "service", r)?;
            merge(&mut cell.wait_for, r.wait_for.clone(), "wait_for", r)?;
            cell.networks.extend(r.networks.iter().cloned());
        }
        Ok(cell)
    }
}

/// Adds `from` to `into`; a key another recipe set to something else is an error.
fn merge<V: PartialEq>(
    into: &mut BTreeMap<String, V>,
    from: impl IntoIterator<Item = (String, V)>,
    what: &str,
    recipe: &Recipe,
) -> Result<()> {
    for (key, value) in from {
        if into.get(&key).is_some_and(|old| *old != value) {
            return Err(Error::BadInput(format!(
                "{}: {what} `{key}` is also set, differently, by another recipe of the cell",
                recipe.path.display()
            )));
        }
        into.insert(key, value);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, rel: &str, text: &str) {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    #[test]
    fn loads_and_combines() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "storage_type/s3.toml",
            "runs = \"local\"\n[env]\nS3_ENDPOINT = \"http://s3:5000\"\n[service_env]\nS3_ADDRESS_STYLE = \"path\"\n\
             [services.s3]\nimage = \"motoserver/moto:latest\"\ncommand = [\"-p\", \"5000\"]\n\
             [wait_for]\ns3 = \"service_healthy\"\n",
        );
        write(
            dir.path(),
            "vector_store/milvus.toml",
            "runs = \"local\"\nnetworks = [\"milvus\"]\n[env]\nMILVUS_URI = \"http://milvus-standalone:19530\"\n",
        );
        write(
            dir.path(),
            "vector_store/upstash.toml",
            "runs = \"external\"\nneeds = [\"UPSTASH_VECTOR_URL\", \"UPSTASH_VECTOR_TOKEN\"]\n",
        );
        let book = RecipeBook::load(dir.path()).unwrap();
        assert_eq!(
            book.values(Axis::VectorStore).collect::<Vec<_>>(),
            ["milvus", "upstash"]
        );
        let cell = CellRecipe::combine([
            book.get(Axis::VectorStore, "milvus").unwrap(),
            book.get(Axis::StorageType, "s3").unwrap(),
        ])
        .unwrap();
        assert_eq!(cell.env.len(), 2);
        assert_eq!(cell.networks, BTreeSet::from(["milvus".to_string()]));
        assert_eq!(cell.services["s3"]["command"][1], "5000");
        assert_eq!(cell.wait_for["s3"], "service_healthy");
    }

    #[test]
    fn bad_recipes_name_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "vector_store/x.toml", "runs = \"external\"\n");
        let err = RecipeBook::load(dir.path()).unwrap_err().to_string();
        assert!(
            err.ends_with("x.toml:1: an external recipe must list the keys it `needs`"),
            "{err}"
        );
        write(
            dir.path(),
            "vector_store/x.toml",
            "runs = \"local\"\n[wait_for]\ns3 = \"healthy\"\n",
        );
        let err = RecipeBook::load(dir.path()).unwrap_err().to_string();
        assert!(err.ends_with("x.toml:3: wait_for.s3 = `healthy`: expected one of service_started, service_healthy, service_completed_successfully"), "{err}");
        write(dir.path(), "vector_store/x.toml", "runs = \"sometimes\"\n");
        let err = RecipeBook::load(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("x.toml:1: unknown variant `sometimes`"),
            "{err}"
        );
    }
}
